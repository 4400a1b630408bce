// consent: the tenant's X-Consent-Attestation header → a consent-* fact or the verified token.
// See tenant_checks.hpp and docs/attestation.md. Keys stay in the pinned Config; only spans pass here.
#include "engine/tenant_checks.hpp"

namespace presend {

ConsentOutcome check_consent(const Tenant& tenant, const AttestationSettings& settings,
                             const ParsedMessage& message, std::optional<std::int64_t> now) {
    ConsentOutcome outcome;
    const std::string target = "header:" + settings.header;
    const std::size_t count = message.header_count(settings.header);
    if (count == 0) {
        outcome.failure = TenantFact{std::string(rule_id(AttestationStatus::missing)), target,
                                     "no " + settings.header + " header"};
        return outcome;
    }
    if (count > 1) {
        // Two tokens are never both judged: which one counts would be the sender's choice.
        outcome.failure = TenantFact{std::string(rule_id(AttestationStatus::malformed)), target,
                                     "repeated header (" + std::to_string(count) + " of them)"};
        return outcome;
    }
    AttestationPolicy policy;
    policy.tenant = tenant.id;
    for (const auto& key : tenant.keys)
        policy.keys.push_back(key.bytes());
    policy.allowed_bases = tenant.allowed_bases;
    policy.now = now;
    policy.max_skew = settings.max_skew;
    policy.sender_domain = from_domain(message);
    policy.require_domain = tenant.require_domain;
    // raw_value: a token is ASCII; an RFC 2047 encoded word in it is malformed, not something to decode.
    AttestationResult result = verify_attestation(message.header(settings.header)->raw_value, policy);
    if (result.ok())
        outcome.attestation = std::move(result.attestation);
    else
        outcome.failure = TenantFact{std::string(rule_id(result.status)), target, std::move(result.reason)};
    return outcome;
}

} // namespace presend
