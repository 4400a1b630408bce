// sender_auth: may this tenant send as these domains? The envelope sender and From domains must be among
// the tenant's allowed_sender_domains, and the From domain must share its registrable domain with the
// envelope sender's (DMARC's relaxed alignment), unless the envelope uses one of the tenant's
// bounce_domains. See tenant_checks.hpp.
#include "engine/tenant_checks.hpp"

#include "engine/header_checks.hpp"

#include <algorithm>

namespace presend {

namespace {

bool listed(std::string_view domain, const std::vector<std::string>& patterns) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& pattern) { return domain_matches(domain, pattern); });
}

} // namespace

std::string from_domain(const ParsedMessage& message) {
    if (message.header_count("From") != 1) return {};
    Mailbox mailbox;
    std::string reason;
    if (!parse_single_mailbox(message.header("From")->value, mailbox, reason)) return {};
    return address_domain(mailbox.address);
}

std::vector<TenantFact> check_sender_domains(const Tenant& tenant, const Envelope& envelope,
                                             const ParsedMessage& message) {
    std::vector<TenantFact> facts;
    if (tenant.allowed_sender_domains.empty()) return facts;
    const auto& allowed = tenant.allowed_sender_domains;
    // The null sender (bounces, DSNs) has no domain to judge.
    const std::string envelope_domain = address_domain(envelope.mail_from);
    const bool bounce_domain = listed(envelope_domain, tenant.bounce_domains);
    if (!envelope.mail_from.empty() && !bounce_domain && !listed(envelope_domain, allowed))
        facts.push_back(
            {"sender-domain-not-allowed", "envelope",
             "envelope sender domain '" + envelope_domain + "' is not allowed for tenant " + tenant.id});
    const std::string from = from_domain(message);
    if (from.empty()) {
        if (facts.empty())
            facts.push_back({"sender-domain-not-allowed", "header:From", "From is not a single mailbox"});
        return facts;
    }
    if (!listed(from, allowed) && facts.empty())
        facts.push_back({"sender-domain-not-allowed", "header:From",
                         "From domain '" + from + "' is not allowed for tenant " + tenant.id});
    if (!envelope.mail_from.empty() && !bounce_domain &&
        registrable_domain(from) != registrable_domain(envelope_domain))
        facts.push_back({"from-not-aligned", "header:From",
                         "From domain '" + from + "' does not align with envelope sender domain '" +
                             envelope_domain + "'"});
    return facts;
}

} // namespace presend
