// tenant: the customers of a sending platform as presend.yaml names them (`tenants:`), and which one a
// message belongs to. Parsed by load_config() (engine/tenant_config.cpp); select_tenant()
// (engine/tenant.cpp) runs once per message at end of message, in the daemon and in `presend check`.
// Plain data and pure functions: standard library only.
#pragma once

#include "presend/attestation.hpp"
#include "presend/envelope.hpp"
#include "presend/message.hpp"
#include "presend/ruleset.hpp"
#include "presend/verdict.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace presend {

// An IPv4 or IPv6 address or CIDR block: "192.0.2.0/24", "2001:db8::/32", "127.0.0.1".
struct AddressRange {
    bool v6 = false;
    std::array<unsigned char, 16> bytes{}; // network order; IPv4 uses the first 4
    unsigned prefix = 0;                   // bits that must match
};

// False for anything but an address with an optional /prefix within the family's width. Host bits
// set beyond the prefix are refused too: "192.0.2.1/24" is more likely a typo than a network.
bool parse_address_range(std::string_view text, AddressRange& out, std::string& reason);
// An IPv4-mapped IPv6 client ("::ffff:192.0.2.1", how a dual-stack socket reports IPv4) matches IPv4 ranges.
bool address_in_range(std::string_view address, const AddressRange& range);

// A domain pattern: "acme.example" (exactly that domain) or "*.acme.example" (any subdomain of it, not
// acme.example itself). Stored lowercase.
bool domain_matches(std::string_view domain, std::string_view pattern);

struct HeaderSelector {
    std::string name;   // e.g. X-Platform-Tenant
    std::string value;  // compared exactly, after trimming blanks
    bool strip = false; // strip_header: the milter removes every header of this name before relay
};

// Any one selector matching selects the tenant. An empty list never matches.
struct TenantSelectors {
    std::vector<std::string> auth_users;        // SMTP AUTH login, Postfix {auth_authen}; exact
    std::vector<AddressRange> client_addrs;     // the SMTP client's address
    std::vector<std::string> mail_from_domains; // envelope sender domain patterns (domain_matches)
    std::optional<HeaderSelector> header;       // a header the platform sets on the tenant's mail
};

struct Tenant {
    std::string id; // valid_tenant_id(); the t= of its attestation tokens
    SourcePos pos;  // where presend.yaml defines it
    TenantSelectors selectors;

    std::optional<Mode> mode;                         // unset: the global mode
    std::optional<MessageClass> message_class;        // unset: Config::default_class
    std::optional<std::vector<std::string>> rulesets; // rule file stems; unset: every rule file
    // Domains (domain_matches patterns) the envelope sender and From may use; empty: not checked.
    std::vector<std::string> allowed_sender_domains;
    // Shared bounce domains: an envelope sender here need not align with the From domain.
    std::vector<std::string> bounce_domains;

    std::vector<SecretKey> keys; // key_file, then previous_key_file; empty: attestation off
    std::vector<std::string> allowed_bases{k_known_bases.begin(), k_known_bases.end()};
    bool require_domain = true; // tokens must carry d=
};

// The global `attestation:` section.
struct AttestationSettings {
    std::string header{k_attestation_header};
    std::int64_t max_skew = k_default_attestation_skew_s; // seconds iat may lie ahead of our clock
    bool strip = false;                                   // remove the header before relay, once judged
};

// The first tenant (in file order) one of whose selectors matches, or nullptr. headers may be null
// (before the headers are known); then header selectors never match. A header selector needs exactly
// one header of its name: a second one is something the client added.
const Tenant* select_tenant(const std::vector<Tenant>& tenants, const Envelope& envelope,
                            const ParsedMessage* headers);

// The tenant of that id, or nullptr.
const Tenant* find_tenant(const std::vector<Tenant>& tenants, std::string_view id);

// "presend.yaml:12:5: tenant 'acme': rulesets: no rule file '10-bulk-header' in /etc/presend/rules" for
// the first rulesets entry that names no file of rules, or "" when all do. The rules directory is only
// known once the rules are loaded, so this runs beside load_rules(), not in load_config().
std::string check_tenant_rulesets(const std::vector<Tenant>& tenants, const RuleSet& rules);

// The domain of an address, lowercase: "Bob@Acme.Example" → "acme.example"; "" without '@'.
std::string address_domain(std::string_view address);

} // namespace presend
