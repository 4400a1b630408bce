// test_attestation: consent attestation tokens: the grammar of docs/attestation.md, signatures pinned
// against `openssl dgst -mac HMAC`, every verification status, and the key file rules.
#include "presend/attestation.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdlib.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using presend::Attestation;
using presend::AttestationPolicy;
using presend::AttestationStatus;
using presend::ParseErrorCode;
using presend::test::TempDir;

namespace {

constexpr std::int64_t k_iat = 1714564800; // 2024-05-01T12:00:00Z
constexpr std::int64_t k_exp = 1717156800; // 30 days later

// 00 01 02 ... 1f: the key of the known-answer vectors.
std::vector<unsigned char> test_key() {
    std::vector<unsigned char> key(32);
    for (std::size_t i = 0; i < key.size(); ++i)
        key[i] = static_cast<unsigned char>(i);
    return key;
}

std::vector<unsigned char> other_key() {
    std::vector<unsigned char> key(32, 0xa5);
    return key;
}

Attestation sample(std::string domain = "acme.example") {
    Attestation a;
    a.tenant = "acme";
    a.list_id = "newsletter-2024";
    a.basis = "double-opt-in";
    a.domain = std::move(domain);
    a.issued_at = k_iat;
    a.expires_at = k_exp;
    return a;
}

struct TokenFixture {
    std::vector<unsigned char> key = test_key();
    AttestationPolicy policy;
    TokenFixture() {
        policy.tenant = "acme";
        policy.keys = {key};
        policy.now = k_iat + 100;
        policy.sender_domain = "acme.example";
    }
    std::string token(const Attestation& a = sample()) const { return presend::sign_attestation(a, key); }
    presend::AttestationResult verify(std::string_view header) const {
        return presend::verify_attestation(header, policy);
    }
};

// The value of field name= in a "name=value; ..." token.
std::string field_value(const std::string& token, const std::string& name) {
    const auto start = token.find(name + "=");
    REQUIRE(start != std::string::npos);
    const auto from = start + name.size() + 1;
    const auto end = token.find(';', from);
    return token.substr(from, end == std::string::npos ? std::string::npos : end - from);
}

std::string replace_field(const std::string& token, const std::string& name, const std::string& value) {
    const auto start = token.find(name + "=");
    REQUIRE(start != std::string::npos);
    const auto from = start + name.size() + 1;
    const auto end = token.find(';', from);
    return token.substr(0, from) + value + (end == std::string::npos ? "" : token.substr(end));
}

// The fixture's file, then the mode a key file test needs.
fs::path write_with_mode(const TempDir& dir, const std::string& name, const std::string& content, mode_t mode) {
    const fs::path file = dir.write(name, content);
    REQUIRE(::chmod(file.c_str(), mode) == 0);
    return file;
}

std::string key_text(const std::vector<unsigned char>& key) {
    return std::string(key.begin(), key.end());
}

std::string load_error(const fs::path& file) {
    try {
        presend::load_key_file(file);
    } catch (const presend::KeyFileError& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("HMAC-SHA256 signatures match openssl dgst (known answers)") {
    // Pinned with: printf '%s' "$canonical" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY
    // where KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f, and `-binary | basenc
    // --base64url` for sig=. → 359357bce60ba9fc99a0730b18d0caafcfd9a15842622e6deba7fc8732a73cb9
    const Attestation bound = sample();
    CHECK(presend::canonical_attestation(bound) ==
          "v=1;t=acme;l=newsletter-2024;b=double-opt-in;d=acme.example;iat=1714564800;exp=1717156800");
    CHECK(presend::sign_attestation(bound, test_key()) ==
          "v=1; t=acme; l=newsletter-2024; b=double-opt-in; d=acme.example; iat=1714564800; exp=1717156800; "
          "sig=NZNXvOYLqfyZoHMLGNDKr8_ZoVhCYi5t66f8hzKnPLk");

    // → 9dd4e03e99a697ffd0bbd65e0f3ac80e1bbc4d3c6bc520d1f8ee92e03b74d31f
    Attestation unbound;
    unbound.tenant = "shop-42";
    unbound.list_id = "list:weekly/deals";
    unbound.basis = "opt-in";
    unbound.issued_at = 1700000000;
    unbound.expires_at = 1702592000;
    CHECK(presend::canonical_attestation(unbound) ==
          "v=1;t=shop-42;l=list:weekly/deals;b=opt-in;iat=1700000000;exp=1702592000");
    const std::string token = presend::sign_attestation(unbound, test_key());
    CHECK(token == "v=1; t=shop-42; l=list:weekly/deals; b=opt-in; iat=1700000000; exp=1702592000; "
                   "sig=ndTgPpmml__Qu9ZeDzrIDhu8TTxrxSDR-O6S4Dt00x8");
    const auto parsed = presend::parse_attestation(token);
    REQUIRE(parsed);
    const std::vector<unsigned char> expected = {
        0x9d, 0xd4, 0xe0, 0x3e, 0x99, 0xa6, 0x97, 0xff, 0xd0, 0xbb, 0xd6, 0x5e, 0x0f, 0x3a, 0xc8, 0x0e,
        0x1b, 0xbc, 0x4d, 0x3c, 0x6b, 0xc5, 0x20, 0xd1, 0xf8, 0xee, 0x92, 0xe0, 0x3b, 0x74, 0xd3, 0x1f};
    CHECK(std::vector<unsigned char>(parsed->signature.begin(), parsed->signature.end()) == expected);
}

TEST_CASE("a signed token parses back to the fields it was made from") {
    const TokenFixture fx;
    for (const std::string domain : {"acme.example", ""}) {
        const auto parsed = presend::parse_attestation(fx.token(sample(domain)));
        REQUIRE(parsed);
        CHECK(parsed->version == 1);
        CHECK(parsed->tenant == "acme");
        CHECK(parsed->list_id == "newsletter-2024");
        CHECK(parsed->basis == "double-opt-in");
        CHECK(parsed->domain == domain);
        CHECK(parsed->issued_at == k_iat);
        CHECK(parsed->expires_at == k_exp);
        CHECK(presend::sign_attestation(*parsed, fx.key) == fx.token(sample(domain)));
    }
}

TEST_CASE("a valid token verifies, and the result carries the parsed token") {
    const TokenFixture fx;
    const auto result = fx.verify(fx.token());
    CHECK(result.status == AttestationStatus::ok);
    CHECK(result.ok());
    REQUIRE(result.attestation);
    CHECK(result.attestation->list_id == "newsletter-2024");
    CHECK(result.reason ==
          "tenant acme, list newsletter-2024, basis double-opt-in, expires 2024-05-31T12:00:00Z");
    CHECK(presend::rule_id(result.status).empty());
}

TEST_CASE("whitespace around fields is not part of the token") {
    const TokenFixture fx;
    const std::string sig = field_value(fx.token(), "sig");
    const std::string base =
        "t=acme;l=newsletter-2024;b=double-opt-in;d=acme.example;iat=1714564800;exp=1717156800";
    CHECK(fx.verify("v=1;" + base + ";sig=" + sig).ok());
    CHECK(fx.verify("  v=1 ;\tt=acme ;  l=newsletter-2024;b=double-opt-in;  d=acme.example;iat=1714564800;"
                    "exp=1717156800 ;\t sig=" +
                    sig + "  ")
              .ok());
}

TEST_CASE("an absent or blank header is missing") {
    const TokenFixture fx;
    for (const std::string value : {"", " ", "\t  "}) {
        const auto result = fx.verify(value);
        CHECK(result.status == AttestationStatus::missing);
        CHECK(presend::rule_id(result.status) == "consent-missing");
        CHECK_FALSE(result.attestation);
    }
}

TEST_CASE("malformed tokens are named by what is wrong with them") {
    const TokenFixture fx;
    const std::string good = fx.token();
    const std::string sig = field_value(good, "sig");
    struct Case {
        std::string name;
        std::string value;
        ParseErrorCode code;
    };
    const std::vector<Case> cases = {
        {"duplicate field", replace_field(good, "b", "double-opt-in; b=opt-in"),
         ParseErrorCode::duplicate_field},
        {"duplicate sig", good + "; sig=" + sig, ParseErrorCode::duplicate_field},
        {"missing v", good.substr(5), ParseErrorCode::missing_field},
        {"missing t", "v=1; l=newsletter-2024; b=double-opt-in; iat=1714564800; exp=1717156800; sig=" + sig,
         ParseErrorCode::missing_field},
        {"missing sig", good.substr(0, good.find("; sig=")), ParseErrorCode::missing_field},
        {"missing exp", "v=1; t=acme; l=newsletter-2024; b=double-opt-in; iat=1714564800; sig=" + sig,
         ParseErrorCode::missing_field},
        {"unknown field", replace_field(good, "b", "double-opt-in; x=1"), ParseErrorCode::unknown_field},
        {"field name case", replace_field(good, "v", "1; T=acme"), ParseErrorCode::unknown_field},
        {"out of order",
         "v=1; l=newsletter-2024; t=acme; b=double-opt-in; iat=1714564800; exp=1717156800; sig=" + sig,
         ParseErrorCode::out_of_order},
        {"sig not last",
         "v=1; t=acme; l=newsletter-2024; b=double-opt-in; sig=" + sig + "; iat=1714564800; exp=1717156800",
         ParseErrorCode::out_of_order},
        {"empty field", replace_field(good, "b", "double-opt-in;;"), ParseErrorCode::syntax},
        {"trailing semicolon", good + ";", ParseErrorCode::syntax},
        {"no equals sign", replace_field(good, "b", "double-opt-in; flag"), ParseErrorCode::syntax},
        {"space around =", replace_field(good, "v", "1; t =acme"), ParseErrorCode::unknown_field},
        {"bad base64 character", replace_field(good, "sig", "!" + sig.substr(1)), ParseErrorCode::bad_base64},
        {"standard base64 alphabet", replace_field(good, "sig", "+" + sig.substr(1)),
         ParseErrorCode::bad_base64},
        {"padded base64", replace_field(good, "sig", sig + "="), ParseErrorCode::bad_base64},
        {"short signature", replace_field(good, "sig", sig.substr(0, 42)), ParseErrorCode::bad_base64},
        {"long signature", replace_field(good, "sig", sig + "A"), ParseErrorCode::bad_base64},
        {"empty signature", replace_field(good, "sig", ""), ParseErrorCode::bad_base64},
        // 43 characters carry 258 bits; the 2 spare bits of the last one must be zero ('l' = 37 has one set).
        {"non-canonical last character", replace_field(good, "sig", sig.substr(0, 42) + "l"),
         ParseErrorCode::bad_base64},
        {"overlong", good + std::string(presend::k_max_attestation_bytes, ' '), ParseErrorCode::too_long},
        {"UTF-8", replace_field(good, "l", "newsl\xc3\xa9tter"), ParseErrorCode::not_ascii},
        {"NUL", replace_field(good, "l", std::string("news\0letter", 11)), ParseErrorCode::not_ascii},
        {"CRLF", replace_field(good, "b", "double-opt-in;\r\n d=acme.example"), ParseErrorCode::not_ascii},
        {"DEL", replace_field(good, "t", "ac\x7fme"), ParseErrorCode::not_ascii},
        {"version 2", replace_field(good, "v", "2"), ParseErrorCode::unsupported_version},
        {"version 01", replace_field(good, "v", "01"), ParseErrorCode::unsupported_version},
        {"version word", replace_field(good, "v", "one"), ParseErrorCode::bad_value},
        {"uppercase tenant", replace_field(good, "t", "Acme"), ParseErrorCode::bad_value},
        {"tenant with a space", replace_field(good, "t", "ac me"), ParseErrorCode::bad_value},
        {"empty tenant", replace_field(good, "t", ""), ParseErrorCode::bad_value},
        {"tenant of 65", replace_field(good, "t", std::string(65, 'a')), ParseErrorCode::bad_value},
        {"list id with =", replace_field(good, "l", "a=b"), ParseErrorCode::bad_value},
        {"list id of 129", replace_field(good, "l", std::string(129, 'L')), ParseErrorCode::bad_value},
        {"uppercase basis", replace_field(good, "b", "Opt-In"), ParseErrorCode::bad_value},
        {"basis starting with a digit", replace_field(good, "b", "1st"), ParseErrorCode::bad_value},
        {"domain with a trailing dot", replace_field(good, "d", "acme.example."), ParseErrorCode::bad_value},
        {"uppercase domain", replace_field(good, "d", "Acme.example"), ParseErrorCode::bad_value},
        {"domain label with leading hyphen", replace_field(good, "d", "-acme.example"),
         ParseErrorCode::bad_value},
        {"empty domain", replace_field(good, "d", ""), ParseErrorCode::bad_value},
        {"iat with a leading zero", replace_field(good, "iat", "01714564800"), ParseErrorCode::bad_value},
        {"negative iat", replace_field(good, "iat", "-1"), ParseErrorCode::bad_value},
        {"iat of 12 digits", replace_field(good, "iat", "171456480000"), ParseErrorCode::bad_value},
        {"exp with a plus sign", replace_field(good, "exp", "+1717156800"), ParseErrorCode::bad_value},
        {"exp before iat", replace_field(good, "exp", "1714564799"), ParseErrorCode::bad_times},
        {"exp equal to iat", replace_field(good, "exp", "1714564800"), ParseErrorCode::bad_times},
    };
    for (const auto& c : cases) {
        INFO(c.name << ": " << c.value);
        const auto parsed = presend::parse_attestation(c.value);
        REQUIRE_FALSE(parsed);
        CHECK(parsed.error().code == c.code);
        CHECK_FALSE(parsed.error().message.empty());
        const auto result = fx.verify(c.value);
        CHECK(result.status == AttestationStatus::malformed);
        CHECK(presend::rule_id(result.status) == "consent-malformed");
        CHECK(result.reason == parsed.error().message);
        CHECK(result.reason.find(sig.substr(0, 8)) == std::string::npos); // never echoes the signature
    }
}

TEST_CASE("the longest valid token fits the length limit and one header line") {
    Attestation a;
    a.tenant = std::string(64, 't');
    a.list_id = std::string(128, 'L');
    a.basis = "b" + std::string(31, 'x');
    a.domain = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
               std::string(61, 'd');
    a.issued_at = 99999999998;
    a.expires_at = 99999999999;
    const std::string token = presend::sign_attestation(a, test_key());
    CHECK(token.size() == 579);
    CHECK(token.size() + std::string("X-Consent-Attestation: ").size() <= 998); // RFC 5322 line limit
    CHECK(presend::parse_attestation(token));
    CHECK(presend::parse_attestation(token + std::string(presend::k_max_attestation_bytes - 579, ' ')));
}

TEST_CASE("one changed character in any field breaks the signature") {
    TokenFixture fx;
    const std::string good = fx.token();
    struct Change {
        std::string field;
        std::string value;
    };
    const std::vector<Change> changes = {
        {"t", "acmf"},         {"l", "newsletter-2025"}, {"b", "double-opt-io"},
        {"d", "acme.exampla"}, {"iat", "1714564801"},    {"exp", "1717156801"},
    };
    for (const auto& change : changes) {
        INFO("field " << change.field);
        const std::string forged = replace_field(good, change.field, change.value);
        REQUIRE(presend::parse_attestation(forged));
        AttestationPolicy policy = fx.policy;
        policy.tenant = change.field == "t" ? change.value : "acme"; // so the tenant check lets it through
        policy.sender_domain.reset();
        const auto result = presend::verify_attestation(forged, policy);
        CHECK(result.status == AttestationStatus::bad_signature);
        CHECK(presend::rule_id(result.status) == "consent-bad-signature");
    }
    // Dropping d= changes the signed text too.
    const std::string unbound = good.substr(0, good.find("; d=")) + good.substr(good.find("; iat="));
    CHECK(fx.verify(unbound).status == AttestationStatus::bad_signature);

    const std::string sig = field_value(good, "sig");
    for (const std::size_t at : {std::size_t{0}, std::size_t{21}, std::size_t{41}}) {
        std::string changed = sig;
        changed[at] = changed[at] == 'A' ? 'B' : 'A';
        INFO("signature character " << at);
        CHECK(fx.verify(replace_field(good, "sig", changed)).status == AttestationStatus::bad_signature);
    }
}

TEST_CASE("a token signed with another key does not verify; during a rotation either key does") {
    TokenFixture fx;
    const std::string foreign = presend::sign_attestation(sample(), other_key());
    const auto result = fx.verify(foreign);
    CHECK(result.status == AttestationStatus::bad_signature);
    CHECK(result.reason.find(field_value(foreign, "sig")) == std::string::npos);

    const auto second = other_key();
    fx.policy.keys = {fx.key, second};
    CHECK(fx.verify(foreign).ok());
    CHECK(fx.verify(fx.token()).ok());

    fx.policy.keys.clear();
    CHECK(fx.verify(fx.token()).status == AttestationStatus::bad_signature);
    const std::vector<unsigned char> short_key(16, 1);
    fx.policy.keys = {short_key};
    CHECK(fx.verify(fx.token()).status == AttestationStatus::bad_signature);
}

TEST_CASE("a token is valid from iat (less the skew) until just before exp") {
    TokenFixture fx;
    const std::string token = fx.token();
    fx.policy.now = k_exp - 1;
    CHECK(fx.verify(token).ok());
    fx.policy.now = k_exp;
    auto result = fx.verify(token);
    CHECK(result.status == AttestationStatus::expired);
    CHECK(presend::rule_id(result.status) == "consent-expired");
    CHECK(result.reason == "expired at 2024-05-31T12:00:00Z, 0 s ago");
    fx.policy.now = k_exp + 86400;
    CHECK(fx.verify(token).status == AttestationStatus::expired);

    fx.policy.now = k_iat - 300; // iat 300 s ahead of our clock: within the default skew
    CHECK(fx.verify(token).ok());
    fx.policy.now = k_iat - 301;
    result = fx.verify(token);
    CHECK(result.status == AttestationStatus::not_yet_valid);
    CHECK(presend::rule_id(result.status) == "consent-expired");
    CHECK(result.reason.find("301 s in the future") != std::string::npos);
    fx.policy.max_skew = 0;
    fx.policy.now = k_iat - 1;
    CHECK(fx.verify(token).status == AttestationStatus::not_yet_valid);
    fx.policy.now = k_iat;
    CHECK(fx.verify(token).ok());

    // Absurd clocks and skews are clamped, not overflowed.
    fx.policy.now = std::numeric_limits<std::int64_t>::min();
    fx.policy.max_skew = std::numeric_limits<std::int64_t>::max();
    CHECK(fx.verify(token).ok());
    fx.policy.now = std::numeric_limits<std::int64_t>::max();
    CHECK(fx.verify(token).status == AttestationStatus::expired);
}

TEST_CASE("without a given time the system clock judges") {
    TokenFixture fx;
    fx.policy.now.reset();
    CHECK(fx.verify(fx.token()).status == AttestationStatus::expired); // May 2024 is over
    Attestation fresh = sample();
    fresh.issued_at = std::time(nullptr) - 10;
    fresh.expires_at = fresh.issued_at + 3600;
    CHECK(fx.verify(fx.token(fresh)).ok());
}

TEST_CASE("a token of another tenant is a tenant mismatch") {
    TokenFixture fx;
    fx.policy.tenant = "globex";
    const auto result = fx.verify(fx.token());
    CHECK(result.status == AttestationStatus::tenant_mismatch);
    CHECK(presend::rule_id(result.status) == "consent-tenant-mismatch");
    CHECK(result.reason == "token is for tenant 'acme', the message is from tenant 'globex'");
}

TEST_CASE("a basis the tenant is not allowed fails; any well-formed basis can be allowed") {
    TokenFixture fx;
    const std::string token = fx.token();
    fx.policy.allowed_bases = {"verified", "existing-customer"};
    auto result = fx.verify(token);
    CHECK(result.status == AttestationStatus::basis_not_allowed);
    CHECK(presend::rule_id(result.status) == "consent-basis-not-allowed");
    CHECK(result.reason ==
          "basis 'double-opt-in' is not allowed for tenant 'acme' (allowed: verified, existing-customer)");
    fx.policy.allowed_bases.clear();
    CHECK(fx.verify(token).status == AttestationStatus::basis_not_allowed);

    Attestation custom = sample();
    custom.basis = "event-signup";
    fx.policy.allowed_bases = {"event-signup"};
    CHECK(fx.verify(fx.token(custom)).ok());
    fx.policy.allowed_bases = {presend::k_known_bases.begin(), presend::k_known_bases.end()};
    CHECK(fx.verify(fx.token(custom)).status == AttestationStatus::basis_not_allowed);
}

TEST_CASE("d= binds a token to the From domain") {
    TokenFixture fx;
    const std::string bound = fx.token();
    fx.policy.sender_domain = "ACME.Example";
    CHECK(fx.verify(bound).ok());
    fx.policy.sender_domain = "other.example";
    auto result = fx.verify(bound);
    CHECK(result.status == AttestationStatus::domain_mismatch);
    CHECK(presend::rule_id(result.status) == "consent-domain-mismatch");
    CHECK(result.reason == "token is for d=acme.example, the From domain is 'other.example'");
    fx.policy.sender_domain = "sub.acme.example";
    CHECK(fx.verify(bound).status == AttestationStatus::domain_mismatch);
    fx.policy.sender_domain = std::string(""); // From had no domain
    CHECK(fx.verify(bound).status == AttestationStatus::domain_mismatch);
    fx.policy.sender_domain = "\xff\x01 evil'";
    CHECK(fx.verify(bound).reason ==
          "token is for d=acme.example, the From domain is '\\xff\\x01 evil\\x27'");
    fx.policy.sender_domain.reset(); // offline: nothing to compare with
    CHECK(fx.verify(bound).ok());

    const std::string unbound = fx.token(sample(""));
    fx.policy.sender_domain = "other.example";
    CHECK(fx.verify(unbound).ok());
    fx.policy.require_domain = true;
    result = fx.verify(unbound);
    CHECK(result.status == AttestationStatus::domain_mismatch);
    CHECK(result.reason == "token has no d= and tenant 'acme' requires one");
}

TEST_CASE("claims are judged only once the signature holds") {
    TokenFixture fx;
    Attestation a = sample();
    a.basis = "opt-in";
    const std::string forged = presend::sign_attestation(a, other_key());
    fx.policy.allowed_bases = {"verified"};
    fx.policy.now = k_exp + 1;
    fx.policy.sender_domain = "other.example";
    CHECK(fx.verify(forged).status == AttestationStatus::bad_signature);
}

TEST_CASE("signatures are compared whole, in constant time") {
    const std::vector<unsigned char> a(32, 7);
    std::vector<unsigned char> b = a;
    CHECK(presend::signatures_equal(a, b));
    b.front() ^= 1;
    CHECK_FALSE(presend::signatures_equal(a, b));
    b = a;
    b.back() ^= 0x80;
    CHECK_FALSE(presend::signatures_equal(a, b));
    CHECK_FALSE(presend::signatures_equal(a, std::vector<unsigned char>(31, 7)));
    CHECK_FALSE(presend::signatures_equal(a, {}));
    CHECK(presend::signatures_equal(std::vector<unsigned char>{}, std::vector<unsigned char>{}));
}

TEST_CASE("base64url: RFC 4648 vectors, and one spelling per byte string") {
    const std::vector<std::pair<std::string, std::string>> vectors = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff\xbf", "-_-_"}};
    for (const auto& [plain, encoded] : vectors) {
        const std::vector<unsigned char> bytes(plain.begin(), plain.end());
        CHECK(presend::base64url_encode(bytes) == encoded);
        const auto decoded = presend::base64url_decode(encoded);
        REQUIRE(decoded);
        CHECK(*decoded == bytes);
    }
    for (const std::string bad : {"Zg==", "Zh", "Zm9", "Z", "Zm9v+", "Zm9v/", "Zm 9v", "Zm8="})
        CHECK_FALSE(presend::base64url_decode(bad));
    CHECK(presend::base64url_decode("Zm8")); // the canonical neighbour of "Zm9" decodes
}

TEST_CASE("signing refuses invalid fields and short keys") {
    const auto key = test_key();
    Attestation a = sample();
    CHECK_THROWS_AS(presend::sign_attestation(a, std::vector<unsigned char>(31, 1)), std::invalid_argument);
    a.tenant = "Acme; b=verified";
    CHECK_THROWS_AS(presend::sign_attestation(a, key), std::invalid_argument);
    a = sample();
    a.list_id = "";
    CHECK_THROWS_AS(presend::sign_attestation(a, key), std::invalid_argument);
    a = sample();
    a.expires_at = a.issued_at;
    CHECK_THROWS_AS(presend::sign_attestation(a, key), std::invalid_argument);
    a = sample();
    a.version = 2;
    CHECK_THROWS_AS(presend::sign_attestation(a, key), std::invalid_argument);
    a = sample("acme.example.");
    CHECK_THROWS_AS(presend::sign_attestation(a, key), std::invalid_argument);
}

TEST_CASE("rule ids of the statuses") {
    CHECK(presend::rule_id(AttestationStatus::missing) == "consent-missing");
    CHECK(presend::rule_id(AttestationStatus::malformed) == "consent-malformed");
    CHECK(presend::rule_id(AttestationStatus::bad_signature) == "consent-bad-signature");
    CHECK(presend::rule_id(AttestationStatus::expired) == "consent-expired");
    CHECK(presend::rule_id(AttestationStatus::not_yet_valid) == "consent-expired");
    CHECK(presend::rule_id(AttestationStatus::tenant_mismatch) == "consent-tenant-mismatch");
    CHECK(presend::rule_id(AttestationStatus::basis_not_allowed) == "consent-basis-not-allowed");
    CHECK(presend::rule_id(AttestationStatus::domain_mismatch) == "consent-domain-mismatch");
    CHECK(presend::to_string(AttestationStatus::not_yet_valid) == "not_yet_valid");
}

TEST_CASE("key files: raw, base64: and hex: forms") {
    const TempDir dir;
    const auto key = test_key();
    const auto raw = presend::load_key_file(write_with_mode(dir, "raw.key", key_text(key), 0600));
    CHECK(std::vector<unsigned char>(raw.bytes().begin(), raw.bytes().end()) == key);

    const auto b64 = presend::load_key_file(
        write_with_mode(dir, "b64.key", "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0640));
    CHECK(std::vector<unsigned char>(b64.bytes().begin(), b64.bytes().end()) == key);

    const auto hex = presend::load_key_file(write_with_mode(dir, 
        "hex.key", "hex:000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f\r\n", 0400));
    CHECK(std::vector<unsigned char>(hex.bytes().begin(), hex.bytes().end()) == key);

    // A raw key is every byte of the file, a trailing newline included.
    CHECK(presend::load_key_file(write_with_mode(dir, "nl.key", key_text(key) + "\n", 0600)).size() == 33);
}

TEST_CASE("key files others can read or change are refused") {
    const TempDir dir;
    const std::string key = key_text(test_key());
    CHECK(load_error(write_with_mode(dir, "world-readable.key", key, 0644))
              .find("readable or writable by other users (mode 0644)") != std::string::npos);
    CHECK(load_error(write_with_mode(dir, "world-writable.key", key, 0602)).find("(mode 0602)") != std::string::npos);
    CHECK(load_error(write_with_mode(dir, "group-writable.key", key, 0660)).find("writable by its group (mode 0660)") !=
          std::string::npos);
    CHECK(load_error(write_with_mode(dir, "ok.key", key, 0640)).empty());

    const fs::path foreign = write_with_mode(dir, "foreign.key", key, 0600);
    if (::geteuid() == 0) {
        REQUIRE(::chown(foreign.c_str(), 65534, 65534) == 0);
        const std::string why = load_error(foreign);
        CHECK(why.find("owned by uid 65534; it must belong to root or to uid 0") != std::string::npos);
    } else {
        WARN("not root: the owner check is only exercised as root");
    }
}

TEST_CASE("short, oversized, unreadable and non-file keys are refused without showing the key") {
    const TempDir dir;
    const std::string short_b64 = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==";
    std::string why = load_error(write_with_mode(dir, "short.key", short_b64, 0600));
    CHECK(why.find("the key is 31 bytes; at least 32 are needed") != std::string::npos);
    CHECK(why.find("AAECAwQF") == std::string::npos);
    CHECK(
        load_error(write_with_mode(dir, "bad-b64.key", "base64:not base64!", 0600)).find("not standard padded base64") !=
        std::string::npos);
    CHECK(load_error(write_with_mode(dir, "bad-hex.key", "hex:0g", 0600)).find("not an even number of hex digits") !=
          std::string::npos);
    CHECK(load_error(write_with_mode(dir, "empty.key", "", 0600)).find("the key is 0 bytes") != std::string::npos);
    CHECK(load_error(write_with_mode(dir, "big.key", std::string(5000, 'k'), 0600)).find("larger than 4096 bytes") !=
          std::string::npos);
    CHECK(load_error(dir.path() / "absent.key").find("No such file or directory") != std::string::npos);
    fs::create_directory(dir.path() / "subdir");
    ::chmod((dir.path() / "subdir").c_str(), 0700);
    CHECK(load_error(dir.path() / "subdir").find("not a regular file") != std::string::npos);
    REQUIRE(::mkfifo((dir.path() / "fifo").c_str(), 0600) == 0); // must be refused, not block on open
    CHECK(load_error(dir.path() / "fifo").find("not a regular file") != std::string::npos);
    why = load_error(dir.path() / "absent.key");
    CHECK(why.rfind("key file " + (dir.path() / "absent.key").string() + ": ", 0) == 0);
}

TEST_CASE("a loaded key signs and verifies like the bytes it holds") {
    const TempDir dir;
    const auto key = presend::load_key_file(write_with_mode(dir, "k", key_text(test_key()), 0600));
    AttestationPolicy policy;
    policy.tenant = "acme";
    policy.keys = {key.bytes()};
    policy.now = k_iat;
    CHECK(presend::verify_attestation(presend::sign_attestation(sample(), key.bytes()), policy).ok());
    presend::SecretKey copy = key;
    presend::SecretKey moved = std::move(copy);
    CHECK(moved.size() == 32);
    copy = moved;
    CHECK(copy.size() == 32);
}

TEST_CASE("no failure reason carries the signature, the expected signature or the key") {
    // The reason goes to the decision log, the daemon's log and `presend attest verify`: a signature
    // there would let anyone who reads logs replay or study tokens, a key would let them mint them.
    TokenFixture fx;
    const std::string good = fx.token();
    const std::string sig = field_value(good, "sig");
    // What a correct signature for a tampered token would be: never echoed as "expected ...".
    Attestation tampered = sample();
    tampered.basis = "opt-in";
    const std::string tampered_sig = field_value(fx.token(tampered), "sig");
    std::string key_hex;
    for (unsigned char byte : fx.key) {
        static const char digits[] = "0123456789abcdef";
        key_hex += digits[byte >> 4];
        key_hex += digits[byte & 0xf];
    }
    TokenFixture expired;
    expired.policy.now = k_exp + 10;
    TokenFixture other_tenant;
    other_tenant.policy.tenant = "globex";
    TokenFixture narrow;
    narrow.policy.allowed_bases = {"verified"};
    TokenFixture other_domain;
    other_domain.policy.sender_domain = "globex.example";

    const std::vector<std::pair<AttestationStatus, presend::AttestationResult>> failures{
        {AttestationStatus::bad_signature, fx.verify(replace_field(good, "b", "opt-in"))},
        {AttestationStatus::bad_signature, fx.verify(replace_field(good, "sig", tampered_sig))},
        {AttestationStatus::malformed, fx.verify(good + "; sig=" + sig)},
        {AttestationStatus::expired, expired.verify(good)},
        {AttestationStatus::tenant_mismatch, other_tenant.verify(good)},
        {AttestationStatus::basis_not_allowed, narrow.verify(good)},
        {AttestationStatus::domain_mismatch, other_domain.verify(good)},
    };
    for (const auto& [status, result] : failures) {
        INFO(presend::to_string(status) << ": " << result.reason);
        CHECK(result.status == status);
        CHECK_FALSE(result.reason.empty());
        CHECK(result.reason.find(sig) == std::string::npos);
        CHECK(result.reason.find(tampered_sig) == std::string::npos);
        CHECK(result.reason.find(key_hex) == std::string::npos);
    }
}
