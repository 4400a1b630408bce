// tenant_config: see tenant_config.hpp. Every error names file:line:column and, inside a tenant, its id.
#include "engine/tenant_config.hpp"

#include "engine/yaml_util.hpp"

#include <algorithm>
#include <cctype>
#include <map>

namespace presend {

namespace {

using yaml::fail;

// More would be a list generated from a customer database: a job for a lookup table, not a file
// every message walks through.
constexpr std::size_t k_max_tenants = 10000;
constexpr long long k_max_skew_s = 86400; // a platform clock a day off is broken, not skewed

class TenantReader {
  public:
    explicit TenantReader(const std::string& file) : m_file(file) {}

    void read_attestation(const YAML::Node& node, AttestationSettings& out) const;
    Tenant read_tenant(const YAML::Node& node);

  private:
    [[noreturn]] void fail_at(const YAML::Node& node, const std::string& message) const {
        fail(m_file, node, m_prefix + message);
    }
    void check_keys(const YAML::Node& map, std::initializer_list<std::string_view> allowed) const {
        yaml::check_keys(map, allowed,
                         [&](const YAML::Node& key, const std::string& message) { fail_at(key, message); });
    }
    std::string text(const YAML::Node& node, const char* key) const {
        auto value = yaml::as_string(node);
        if (!value || value->empty()) fail_at(node, std::string(key) + ": expected a non-empty string");
        return *value;
    }
    bool flag(const YAML::Node& node, const char* key) const {
        auto value = yaml::as_bool(node);
        if (!value) fail_at(node, std::string(key) + ": expected true or false");
        return *value;
    }
    // A scalar or a list of scalars: the item nodes, for errors that point at the bad one.
    std::vector<YAML::Node> items(const YAML::Node& node, const char* key) const {
        std::vector<YAML::Node> out;
        if (node.IsScalar()) {
            out.push_back(node);
        } else if (node.IsSequence()) {
            for (const auto& item : node) {
                if (!item.IsScalar()) fail_at(item, std::string(key) + ": expected a string");
                out.push_back(item);
            }
        } else {
            fail_at(node, std::string(key) + ": expected a string or a list of strings");
        }
        return out;
    }
    std::vector<std::string> domain_patterns(const YAML::Node& node, const char* key) const;
    std::filesystem::path path_of(const YAML::Node& node, const char* key) const {
        std::filesystem::path path = text(node, key);
        return path.is_relative() ? std::filesystem::path(m_file).parent_path() / path : path;
    }
    void read_selectors(const YAML::Node& node, TenantSelectors& out) const;

    std::string m_file;
    std::string m_prefix;             // "tenant 'acme': " inside a tenant
    std::map<std::string, int> m_ids; // id → line, for duplicates
};

bool valid_header_name(std::string_view name) {
    // RFC 5322 field-name: printable ASCII except ':'.
    return !name.empty() && std::all_of(name.begin(), name.end(),
                                        [](unsigned char c) { return c > 32 && c < 127 && c != ':'; });
}

std::vector<std::string> TenantReader::domain_patterns(const YAML::Node& node, const char* key) const {
    std::vector<std::string> out;
    for (const auto& item : items(node, key)) {
        std::string pattern = item.Scalar();
        std::transform(pattern.begin(), pattern.end(), pattern.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        const std::string_view domain = std::string_view(pattern).substr(pattern.starts_with("*.") ? 2 : 0);
        if (!valid_domain(domain))
            fail_at(item, std::string(key) + ": '" + item.Scalar() +
                              "' is not a domain or *.domain (letters, digits, hyphens, dots)");
        out.push_back(std::move(pattern));
    }
    return out;
}

void TenantReader::read_attestation(const YAML::Node& node, AttestationSettings& out) const {
    if (!node.IsMap()) fail_at(node, "attestation: expected a mapping");
    check_keys(node, {"header", "max_skew", "strip"});
    if (auto n = node["header"]) {
        out.header = text(n, "header");
        if (!valid_header_name(out.header))
            fail_at(n, "header: expected a header name like X-Consent-Attestation");
    }
    if (auto n = node["max_skew"]) {
        auto value = yaml::as_integer(n);
        if (!value || *value < 0 || *value > k_max_skew_s)
            fail_at(n, "max_skew: expected seconds from 0 to " + std::to_string(k_max_skew_s));
        out.max_skew = *value;
    }
    if (auto n = node["strip"]) out.strip = flag(n, "strip");
}

void TenantReader::read_selectors(const YAML::Node& node, TenantSelectors& out) const {
    if (!node.IsMap())
        fail_at(node, "selectors: expected a mapping of auth_user, client_addr, mail_from_domain, header");
    check_keys(node, {"auth_user", "client_addr", "mail_from_domain", "header"});
    if (auto n = node["auth_user"])
        for (const auto& item : items(n, "auth_user")) {
            if (item.Scalar().empty()) fail_at(item, "auth_user: expected a login name");
            out.auth_users.push_back(item.Scalar());
        }
    if (auto n = node["client_addr"])
        for (const auto& item : items(n, "client_addr")) {
            AddressRange range;
            std::string reason;
            if (!parse_address_range(item.Scalar(), range, reason))
                fail_at(item, "client_addr: '" + item.Scalar() + "': " + reason);
            out.client_addrs.push_back(range);
        }
    if (auto n = node["mail_from_domain"]) out.mail_from_domains = domain_patterns(n, "mail_from_domain");
    if (auto n = node["header"]) {
        if (!n.IsMap()) fail_at(n, "header: expected {name: X-Platform-Tenant, value: acme}");
        check_keys(n, {"name", "value", "strip_header"});
        if (!n["name"] || !n["value"]) fail_at(n, "header: needs both 'name' and 'value'");
        HeaderSelector header;
        header.name = text(n["name"], "name");
        if (!valid_header_name(header.name))
            fail_at(n["name"], "name: expected a header name like X-Platform-Tenant");
        header.value = text(n["value"], "value");
        if (auto s = n["strip_header"]) header.strip = flag(s, "strip_header");
        out.header = std::move(header);
    }
    if (out.auth_users.empty() && out.client_addrs.empty() && out.mail_from_domains.empty() && !out.header)
        fail_at(
            node,
            "selectors: no selector; give at least one of auth_user, client_addr, mail_from_domain, header");
}

Tenant TenantReader::read_tenant(const YAML::Node& node) {
    m_prefix.clear();
    if (!node.IsMap()) fail_at(node, "each tenant must be a mapping with 'id' and 'selectors'");
    Tenant tenant;
    tenant.pos = yaml::position(m_file, node);
    auto id = node["id"];
    if (!id) fail_at(node, "tenant without an 'id'");
    tenant.id = text(id, "id");
    if (!valid_tenant_id(tenant.id))
        fail_at(id, "id: '" + tenant.id +
                        "' must be 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit");
    if (auto seen = m_ids.find(tenant.id); seen != m_ids.end())
        fail_at(id, "duplicate tenant id '" + tenant.id + "' (first defined at line " +
                        std::to_string(seen->second) + ")");
    m_ids.emplace(tenant.id, tenant.pos.line);
    m_prefix = "tenant '" + tenant.id + "': ";

    check_keys(node, {"id", "selectors", "mode", "class", "rulesets", "allowed_sender_domains",
                      "bounce_domains", "key_file", "previous_key_file", "allowed_bases", "require_domain"});
    auto selectors = node["selectors"];
    if (!selectors) fail_at(node, "no 'selectors': nothing would ever select this tenant");
    read_selectors(selectors, tenant.selectors);

    if (auto n = node["mode"]) {
        auto mode = parse_mode(text(n, "mode"));
        if (!mode) fail_at(n, "mode: expected enforce or dry-run");
        tenant.mode = mode;
    }
    if (auto n = node["class"]) {
        auto message_class = parse_message_class(text(n, "class"));
        if (!message_class) fail_at(n, "class: expected bulk or transactional");
        tenant.message_class = message_class;
    }
    if (auto n = node["rulesets"]) {
        std::vector<std::string> names;
        for (const auto& item : items(n, "rulesets")) {
            const auto& name = item.Scalar();
            if (name.empty() || name.find('/') != std::string::npos || name.ends_with(".yaml") ||
                name.ends_with(".yml"))
                fail_at(item, "rulesets: expected a rule file name without directory or extension, like "
                              "10-bulk-headers");
            names.push_back(name);
        }
        tenant.rulesets = std::move(names);
    }
    if (auto n = node["allowed_sender_domains"])
        tenant.allowed_sender_domains = domain_patterns(n, "allowed_sender_domains");
    if (auto n = node["bounce_domains"]) tenant.bounce_domains = domain_patterns(n, "bounce_domains");
    if (auto n = node["allowed_bases"]) {
        tenant.allowed_bases.clear();
        for (const auto& item : items(n, "allowed_bases")) {
            if (!valid_basis(item.Scalar()))
                fail_at(item, "allowed_bases: '" + item.Scalar() +
                                  "' is not a basis (1-32 of a-z, 0-9, '-', starting with a letter)");
            tenant.allowed_bases.push_back(item.Scalar());
        }
    }
    if (auto n = node["require_domain"]) tenant.require_domain = flag(n, "require_domain");
    if (node["previous_key_file"] && !node["key_file"])
        fail_at(node["previous_key_file"], "previous_key_file without key_file: the current key comes first");
    for (const char* key : {"key_file", "previous_key_file"})
        if (auto n = node[key]) {
            try {
                tenant.keys.push_back(load_key_file(path_of(n, key)));
            } catch (const KeyFileError& e) {
                fail_at(n, e.what());
            }
        }
    m_prefix.clear();
    return tenant;
}

} // namespace

void parse_tenant_config(const YAML::Node& root, const std::string& file, Config& config) {
    TenantReader reader(file);
    if (auto n = root["default_class"]) {
        auto message_class = parse_message_class(yaml::as_string(n).value_or(""));
        if (!message_class) fail(file, n, "default_class: expected bulk or transactional");
        config.default_class = *message_class;
    }
    if (auto n = root["attestation"]) reader.read_attestation(n, config.attestation);
    if (auto tenants = root["tenants"]) {
        if (tenants.IsNull()) return;
        if (!tenants.IsSequence()) fail(file, tenants, "tenants: expected a list of tenants");
        if (tenants.size() > k_max_tenants)
            fail(file, tenants, "tenants: more than " + std::to_string(k_max_tenants) + " tenants");
        for (const auto& node : tenants)
            config.tenants.push_back(reader.read_tenant(node));
    }
}

} // namespace presend
