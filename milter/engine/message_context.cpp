// message_context: envelope + headers + config → MessageContext: the tenant (select_tenant), the class,
// and the facts of the tenant checks. See presend/engine.hpp. Once per message, before inspect().
#include "presend/engine.hpp"

#include "engine/tenant_checks.hpp"

#include <stdexcept>

namespace presend {

MessageContext message_context(const Config& config, const Envelope& envelope, const ParsedMessage& message,
                               const ContextOptions& options) {
    MessageContext context;
    const Tenant* tenant = nullptr;
    if (options.tenant) {
        tenant = find_tenant(config.tenants, *options.tenant);
        if (!tenant) throw std::invalid_argument("no tenant '" + *options.tenant + "' in the config");
    } else {
        tenant = select_tenant(config.tenants, envelope, &message);
    }
    context.message_class = options.message_class.value_or(
        tenant && tenant->message_class ? *tenant->message_class : config.default_class);
    if (!tenant) {
        // Not tenant mail: neither consent nor sender domains are judged. Worth a note when tenants exist.
        if (!config.tenants.empty()) context.notes.push_back("no-tenant");
        return context;
    }
    context.tenant = tenant->id;
    context.mode = tenant->mode;
    context.rulesets = tenant->rulesets;

    if (context.message_class == MessageClass::bulk && !tenant->keys.empty()) {
        ConsentOutcome consent = check_consent(*tenant, config.attestation, message, options.now);
        if (consent.failure)
            context.facts.emplace(consent.failure->fact,
                                  MessageContext::Fact{consent.failure->target, consent.failure->detail});
        if (consent.attestation)
            context.consent = ConsentRecord{consent.attestation->tenant, consent.attestation->list_id,
                                            consent.attestation->basis};
    }
    for (auto& fact : check_sender_domains(*tenant, envelope, message))
        context.facts.emplace(fact.fact,
                              MessageContext::Fact{std::move(fact.target), std::move(fact.detail)});
    return context;
}

} // namespace presend
