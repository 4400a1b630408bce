// tenant_checks: the checks a tenant's config asks for, whose failures become facts that the shipped
// rules in rules/40-consent.yaml act on: the consent attestation (consent.cpp) and the sender domains
// (sender_auth.cpp). Called by message_context() once per message; pure functions of their inputs.
#pragma once

#include "presend/envelope.hpp"
#include "presend/message.hpp"
#include "presend/tenant.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace presend {

// A failed check: the fact (= the rule id that acts on it), the header it judged, and why.
struct TenantFact {
    std::string fact;
    std::string target;
    std::string detail;
};

struct ConsentOutcome {
    std::optional<TenantFact> failure;      // consent-missing, consent-malformed, ...
    std::optional<Attestation> attestation; // the token, when it verified
};

// Verifies the tenant's attestation header (docs/attestation.md): none is consent-missing, more than
// one consent-malformed, one is judged by verify_attestation() against the From domain. The tenant
// must have a key. now unset: the clock.
ConsentOutcome check_consent(const Tenant& tenant, const AttestationSettings& settings,
                             const ParsedMessage& message, std::optional<std::int64_t> now);

// Envelope sender and From domains against the tenant's allowed_sender_domains, and the From domain's
// alignment with the envelope sender's: sender-domain-not-allowed, from-not-aligned. Nothing when the
// tenant lists no allowed domains.
std::vector<TenantFact> check_sender_domains(const Tenant& tenant, const Envelope& envelope,
                                             const ParsedMessage& message);

// The domain of the message's single From mailbox, lowercase; empty when From is missing, repeated or
// not one mailbox (a token bound to a domain then fails, as it should).
std::string from_domain(const ParsedMessage& message);

} // namespace presend
