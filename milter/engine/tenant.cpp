// tenant: which tenant a message belongs to (select_tenant), and the address and domain matching its
// selectors use. See presend/tenant.hpp. Pure functions; called once per message.
#include "presend/tenant.hpp"
#include "engine/ascii.hpp"

#include "presend/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace presend {

namespace {

// inet_pton into range.bytes; false when text is neither family.
bool parse_address(std::string_view text, AddressRange& range) {
    constexpr std::size_t k_max_address_text = 64; // INET6_ADDRSTRLEN is 46: longer is not an address
    if (text.empty() || text.size() > k_max_address_text) return false;
    const std::string copy(text);
    range.bytes = {};
    if (inet_pton(AF_INET, copy.c_str(), range.bytes.data()) == 1) {
        range.v6 = false;
        return true;
    }
    if (inet_pton(AF_INET6, copy.c_str(), range.bytes.data()) == 1) {
        range.v6 = true;
        return true;
    }
    return false;
}

bool prefix_equal(const std::array<unsigned char, 16>& a, const unsigned char* b, unsigned prefix) {
    const unsigned whole = prefix / 8;
    if (!std::equal(a.begin(), a.begin() + whole, b)) return false;
    const unsigned rest = prefix % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

} // namespace

bool parse_address_range(std::string_view text, AddressRange& out, std::string& reason) {
    const auto slash = text.find('/');
    AddressRange range;
    if (!parse_address(text.substr(0, slash), range)) {
        reason = "not an IPv4 or IPv6 address";
        return false;
    }
    const unsigned width = range.v6 ? 128 : 32;
    range.prefix = width;
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        unsigned prefix = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || prefix > width) {
            reason = "prefix length must be a number from 0 to " + std::to_string(width);
            return false;
        }
        range.prefix = prefix;
    }
    for (unsigned bit = range.prefix; bit < width; ++bit)
        if (range.bytes[bit / 8] & (0x80 >> (bit % 8))) {
            reason = "address has bits set beyond the /" + std::to_string(range.prefix) + " prefix";
            return false;
        }
    out = range;
    return true;
}

bool address_in_range(std::string_view address, const AddressRange& range) {
    AddressRange client;
    if (!parse_address(address, client)) return false;
    if (client.v6 && !range.v6) {
        // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket.
        static constexpr std::array<unsigned char, 12> k_mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!std::equal(k_mapped.begin(), k_mapped.end(), client.bytes.begin())) return false;
        return prefix_equal(range.bytes, client.bytes.data() + 12, range.prefix);
    }
    if (client.v6 != range.v6) return false;
    return prefix_equal(range.bytes, client.bytes.data(), range.prefix);
}

bool domain_matches(std::string_view domain, std::string_view pattern) {
    if (domain.empty()) return false;
    if (pattern.substr(0, 2) == "*.") {
        const auto suffix = pattern.substr(1); // ".acme.example"
        return domain.size() > suffix.size() && iequals(domain.substr(domain.size() - suffix.size()), suffix);
    }
    return iequals(domain, pattern);
}

std::string address_domain(std::string_view address) {
    const auto at = address.rfind('@');
    if (at == std::string_view::npos) return {};
    std::string domain(address.substr(at + 1));
    for (auto& c : domain)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return domain;
}

const Tenant* select_tenant(const std::vector<Tenant>& tenants, const Envelope& envelope,
                            const ParsedMessage* headers) {
    const std::string sender_domain = address_domain(envelope.mail_from);
    for (const auto& tenant : tenants) {
        const auto& s = tenant.selectors;
        if (!envelope.auth_user.empty() &&
            std::find(s.auth_users.begin(), s.auth_users.end(), envelope.auth_user) != s.auth_users.end())
            return &tenant;
        for (const auto& range : s.client_addrs)
            if (address_in_range(envelope.client_addr, range)) return &tenant;
        for (const auto& pattern : s.mail_from_domains)
            if (domain_matches(sender_domain, pattern)) return &tenant;
        if (s.header && headers && headers->header_count(s.header->name) == 1 &&
            ascii::trim_wsp(headers->header(s.header->name)->raw_value) == s.header->value)
            return &tenant;
    }
    return nullptr;
}

const Tenant* find_tenant(const std::vector<Tenant>& tenants, std::string_view id) {
    for (const auto& tenant : tenants)
        if (tenant.id == id) return &tenant;
    return nullptr;
}

std::string check_tenant_rulesets(const std::vector<Tenant>& tenants, const RuleSet& rules) {
    for (const auto& tenant : tenants) {
        if (!tenant.rulesets) continue;
        for (const auto& name : *tenant.rulesets)
            if (std::none_of(rules.rules.begin(), rules.rules.end(),
                             [&](const Rule& r) { return r.ruleset == name; }))
                return tenant.pos.file + ":" + std::to_string(tenant.pos.line) + ":" +
                       std::to_string(tenant.pos.column) + ": tenant '" + tenant.id +
                       "': rulesets: no rule file '" + name + "' in " + rules.dir.string();
    }
    return {};
}

bool Config::attestation_enabled() const {
    return std::any_of(tenants.begin(), tenants.end(), [](const Tenant& t) { return !t.keys.empty(); });
}

} // namespace presend
