// Tenants in presend.yaml: every key read, errors with file:line:column, key files loaded at load time;
// select_tenant() by each selector, in file order, CIDR v4/v6, and no match.
#include "presend/config.hpp"
#include "presend/tenant.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace presend;
using presend::test::config_error;
using presend::test::TempDir;

namespace {

constexpr const char* k_key_hex = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

std::filesystem::path write_key(const TempDir& dir, const std::string& name, mode_t mode = 0600) {
    const auto file = dir.write(name, k_key_hex);
    REQUIRE(::chmod(file.c_str(), mode) == 0);
    return file;
}

Config config_of(const TempDir& dir, const std::string& yaml) {
    return load_config(dir.write("presend.yaml", yaml));
}

Envelope envelope(std::string mail_from, std::string client_addr = "", std::string auth_user = "") {
    Envelope e;
    e.mail_from = std::move(mail_from);
    e.client_addr = std::move(client_addr);
    e.auth_user = std::move(auth_user);
    return e;
}

std::string selected(const Config& config, const Envelope& e, const ParsedMessage* headers = nullptr) {
    const Tenant* tenant = select_tenant(config.tenants, e, headers);
    return tenant ? tenant->id : "(none)";
}

} // namespace

TEST_CASE("tenants: every key read, defaults where unset, key files relative to the config") {
    TempDir dir;
    write_key(dir, "acme.key");
    write_key(dir, "acme.key.1");
    const auto config = config_of(dir, R"(mode: enforce
default_class: transactional
attestation: {header: X-Consent, max_skew: 60, strip: true}
tenants:
  - id: acme
    selectors:
      auth_user: [acme-news, acme-alerts]
      client_addr: [192.0.2.0/24, "2001:db8::/32"]
      mail_from_domain: [bounce.acme.example, "*.acme.example"]
      header: {name: X-Platform-Tenant, value: acme, strip_header: true}
    mode: dry-run
    class: bulk
    rulesets: [10-bulk-headers, 40-consent]
    allowed_sender_domains: [acme.example, "*.acme.example"]
    bounce_domains: [bounces.platform.example]
    key_file: acme.key
    previous_key_file: acme.key.1
    allowed_bases: [double-opt-in]
    require_domain: false
  - id: shop
    selectors: {auth_user: shop}
)");
    CHECK(config.default_class == MessageClass::transactional);
    CHECK(config.attestation.header == "X-Consent");
    CHECK(config.attestation.max_skew == 60);
    CHECK(config.attestation.strip);
    REQUIRE(config.tenants.size() == 2);
    const Tenant& acme = config.tenants[0];
    CHECK(acme.id == "acme");
    CHECK(acme.pos.line == 5);
    CHECK(acme.selectors.auth_users == std::vector<std::string>{"acme-news", "acme-alerts"});
    CHECK(acme.selectors.client_addrs.size() == 2);
    CHECK(acme.selectors.mail_from_domains ==
          std::vector<std::string>{"bounce.acme.example", "*.acme.example"});
    REQUIRE(acme.selectors.header);
    CHECK(acme.selectors.header->name == "X-Platform-Tenant");
    CHECK(acme.selectors.header->strip);
    CHECK(acme.mode == Mode::dry_run);
    CHECK(acme.message_class == MessageClass::bulk);
    CHECK(acme.rulesets == std::vector<std::string>{"10-bulk-headers", "40-consent"});
    CHECK(acme.bounce_domains == std::vector<std::string>{"bounces.platform.example"});
    CHECK(acme.keys.size() == 2);
    CHECK(acme.keys[0].size() == 32);
    CHECK(acme.allowed_bases == std::vector<std::string>{"double-opt-in"});
    CHECK_FALSE(acme.require_domain);
    const Tenant& shop = config.tenants[1];
    CHECK_FALSE(shop.mode);
    CHECK_FALSE(shop.message_class);
    CHECK_FALSE(shop.rulesets);
    CHECK(shop.keys.empty());
    CHECK(shop.require_domain);
    CHECK(shop.allowed_bases.size() == k_known_bases.size());
    CHECK(config.attestation_enabled());
}

TEST_CASE("no tenants: attestation is off, bulk by default") {
    TempDir dir;
    const auto config = config_of(dir, "tenants: [{id: shop, selectors: {auth_user: shop}}]\n");
    CHECK_FALSE(config.attestation_enabled());
    CHECK(config.default_class == MessageClass::bulk);
    CHECK(config.attestation.header == "X-Consent-Attestation");
    CHECK_FALSE(Config{}.attestation_enabled());
}

TEST_CASE("tenant config errors name file:line:column, the tenant and the fix") {
    TempDir dir;
    const auto file = (dir.path() / "presend.yaml").string();
    CHECK(config_error(dir, "tenants:\n  - id: acme\n    selector: {auth_user: a}\n") ==
          file + ":3:5: tenant 'acme': unknown key 'selector' (did you mean 'selectors'?)");
    CHECK(config_error(dir, "tenants:\n  - id: Acme\n    selectors: {auth_user: a}\n")
              .starts_with(file + ":2:9: id: 'Acme' must be"));
    CHECK(config_error(dir, "tenants:\n  - id: a\n    selectors: {auth_user: a}\n  - id: a\n    selectors: "
                            "{auth_user: b}\n") ==
          file + ":4:9: duplicate tenant id 'a' (first defined at line 2)");
    CHECK(config_error(dir, "tenants:\n  - id: a\n    selectors: {client_addr: [192.0.2.0/33]}\n") ==
          file +
              ":3:31: tenant 'a': client_addr: '192.0.2.0/33': prefix length must be a number from 0 to 32");
    CHECK(config_error(dir, "tenants:\n  - id: a\n    selectors: {client_addr: 192.0.2.1/24}\n") ==
          file +
              ":3:30: tenant 'a': client_addr: '192.0.2.1/24': address has bits set beyond the /24 prefix");
    CHECK(config_error(dir, "tenants:\n  - id: a\n    selectors: {client_addr: example.com}\n")
              .find("not an IPv4 or IPv6 address") != std::string::npos);
    CHECK(config_error(dir, "tenants:\n  - id: a\n    selectors: {}\n").find("no selector") !=
          std::string::npos);
    CHECK(config_error(dir, "tenants:\n  - id: a\n").find("no 'selectors'") != std::string::npos);
    CHECK(config_error(dir, "tenants:\n  - id: a\n    selectors: {mail_from_domain: 'a..b'}\n")
              .find("'a..b' is not a domain") != std::string::npos);
    CHECK(config_error(dir, "tenants:\n  - id: a\n    selectors: {auth_user: a}\n    class: bulky\n") ==
          file + ":4:12: tenant 'a': class: expected bulk or transactional");
    CHECK(
        config_error(dir, "tenants:\n  - id: a\n    selectors: {auth_user: a}\n    allowed_bases: [Opt_In]\n")
            .find("'Opt_In' is not a basis") != std::string::npos);
    CHECK(config_error(dir,
                       "tenants:\n  - id: a\n    selectors: {auth_user: a}\n    rulesets: [rules/10.yaml]\n")
              .find("without directory or extension") != std::string::npos);
    CHECK(config_error(dir, "attestation: {max_skew: -1}\n") ==
          file + ":1:25: max_skew: expected seconds from 0 to 86400");
    CHECK(config_error(dir, "attestation: {headr: X}\n").find("did you mean 'header'?") != std::string::npos);
    CHECK(config_error(dir, "default_class: newsletter\n") ==
          file + ":1:16: default_class: expected bulk or transactional");
    CHECK(config_error(dir, "tenant: []\n").find("did you mean 'tenants'?") != std::string::npos);
}

TEST_CASE("key files are refused at load with the doc's reasons") {
    TempDir dir;
    const auto file = (dir.path() / "presend.yaml").string();
    const auto open_key = write_key(dir, "open.key", 0644);
    CHECK(config_error(dir,
                       "tenants:\n  - id: acme\n    selectors: {auth_user: a}\n    key_file: open.key\n") ==
          file + ":4:15: tenant 'acme': key file " + open_key.string() +
              ": readable or writable by other users (mode 0644); chmod 0600, or 0640 with a group only "
              "presend is in");
    CHECK(config_error(dir,
                       "tenants:\n  - id: acme\n    selectors: {auth_user: a}\n    key_file: missing.key\n")
              .find("missing.key: No such file or directory") != std::string::npos);
    const auto short_key = dir.write("short.key", "hex:0001\n");
    ::chmod(short_key.c_str(), 0600);
    CHECK(
        config_error(dir, "tenants:\n  - id: acme\n    selectors: {auth_user: a}\n    key_file: short.key\n")
            .find("the key is 2 bytes") != std::string::npos);
    write_key(dir, "ok.key");
    CHECK(config_error(
              dir, "tenants:\n  - id: acme\n    selectors: {auth_user: a}\n    previous_key_file: ok.key\n")
              .find("previous_key_file without key_file") != std::string::npos);
}

TEST_CASE("select_tenant: each selector, first match in file order, no match") {
    TempDir dir;
    const auto config = config_of(dir, R"(tenants:
  - id: by-auth
    selectors: {auth_user: [news-login]}
  - id: by-v4
    selectors: {client_addr: [192.0.2.0/24, 198.51.100.7]}
  - id: by-v6
    selectors: {client_addr: ["2001:db8:1::/48"]}
  - id: by-domain
    selectors: {mail_from_domain: [acme.example, "*.shop.example"]}
  - id: by-header
    selectors: {header: {name: X-Platform-Tenant, value: beta}}
  - id: catch-all-v4
    selectors: {client_addr: [0.0.0.0/0]}
)");
    SECTION("auth_user is exact") {
        CHECK(selected(config, envelope("", "", "news-login")) == "by-auth");
        CHECK(selected(config, envelope("", "", "news-login2")) == "(none)");
    }
    SECTION("client_addr: IPv4 CIDR and single address, IPv4-mapped IPv6") {
        CHECK(selected(config, envelope("", "192.0.2.200")) == "by-v4");
        CHECK(selected(config, envelope("", "198.51.100.7")) == "by-v4");
        CHECK(selected(config, envelope("", "::ffff:192.0.2.9")) == "by-v4");
        CHECK(selected(config, envelope("", "203.0.113.1")) == "catch-all-v4");
    }
    SECTION("client_addr: IPv6 CIDR; IPv6 never matches an IPv4 range") {
        CHECK(selected(config, envelope("", "2001:db8:1:ffff::1")) == "by-v6");
        CHECK(selected(config, envelope("", "2001:db8:2::1")) == "(none)");
    }
    SECTION("mail_from_domain: exact, case-insensitive, or *. for subdomains only") {
        CHECK(selected(config, envelope("bounce@ACME.example")) == "by-domain");
        CHECK(selected(config, envelope("bounce@news.acme.example")) == "(none)");
        CHECK(selected(config, envelope("bounce@eu.shop.example")) == "by-domain");
        CHECK(selected(config, envelope("bounce@shop.example")) == "(none)");
        CHECK(selected(config, envelope("")) == "(none)");
    }
    SECTION("header: exactly one header with that value, only when the headers are known") {
        const auto one = test::message_with({{"x-platform-tenant", " beta "}});
        const auto two = test::message_with({{"X-Platform-Tenant", "beta"}, {"X-Platform-Tenant", "beta"}});
        const auto other = test::message_with({{"X-Platform-Tenant", "gamma"}});
        CHECK(selected(config, envelope(""), &one) == "by-header");
        CHECK(selected(config, envelope("")) == "(none)");
        CHECK(selected(config, envelope(""), &two) == "(none)");
        CHECK(selected(config, envelope(""), &other) == "(none)");
    }
    SECTION("file order decides between two matching tenants") {
        CHECK(selected(config, envelope("x@acme.example", "192.0.2.1", "news-login")) == "by-auth");
        CHECK(selected(config, envelope("x@acme.example", "192.0.2.1")) == "by-v4");
        CHECK(selected(config, envelope("x@acme.example", "203.0.113.1")) == "by-domain");
    }
}

TEST_CASE("address ranges: parsing and matching") {
    AddressRange range;
    std::string reason;
    REQUIRE(parse_address_range("10.0.0.0/8", range, reason));
    CHECK(address_in_range("10.255.1.2", range));
    CHECK_FALSE(address_in_range("11.0.0.1", range));
    CHECK_FALSE(address_in_range("", range));
    CHECK_FALSE(address_in_range("not-an-ip", range));
    REQUIRE(parse_address_range("::1", range, reason));
    CHECK(range.prefix == 128);
    CHECK(address_in_range("::1", range));
    CHECK_FALSE(address_in_range("127.0.0.1", range));
    REQUIRE(parse_address_range("2001:db8::/29", range, reason));
    CHECK(address_in_range("2001:dbf:ffff::1", range));
    CHECK_FALSE(address_in_range("2001:dc0::1", range));
    CHECK_FALSE(parse_address_range("10.0.0.0/", range, reason));
    CHECK_FALSE(parse_address_range("10.0.0.0/8x", range, reason));
    CHECK_FALSE(parse_address_range("2001:db8::/129", range, reason));
}
