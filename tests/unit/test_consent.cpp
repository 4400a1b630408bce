// Tenant mail through the engine with the shipped rules: each consent attestation failure becomes its
// rule's hit and reply, a valid token passes and is recorded; message class and applies_to; a tenant's
// rulesets and mode; sender domain authorization and From alignment.
#include "presend/decision_log.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

using namespace presend;
using presend::test::hit_ids;
using presend::test::TempDir;

namespace {

constexpr std::int64_t k_now = 1790000000; // 2026-09-21: tokens are judged at this time

std::vector<unsigned char> key_bytes(unsigned char first) {
    std::vector<unsigned char> key(32);
    for (std::size_t i = 0; i < key.size(); ++i)
        key[i] = static_cast<unsigned char>(first + i);
    return key;
}

std::string hex(const std::vector<unsigned char>& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (auto b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::string read(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// The shipped rules and a config whose tenant acme (selected by its bounce domain) holds key 0x00.. and
// may send as acme-surveys.example, the From domain of rules/examples/compliant.eml.
struct TenantFixture {
    TempDir dir;
    Config config;
    std::shared_ptr<const RuleSet> rules;
    Envelope envelope;

    explicit TenantFixture(const std::string& extra_tenant_keys = "", const std::string& top = "") {
        for (const auto& [name, first] : {std::pair{"acme.key", 0x00}, std::pair{"old.key", 0x40}}) {
            const auto file =
                dir.write(name, "hex:" + hex(key_bytes(static_cast<unsigned char>(first))) + "\n");
            REQUIRE(::chmod(file.c_str(), 0600) == 0);
        }
        config = load_config(dir.write("presend.yaml", top + R"(tenants:
  - id: acme
    selectors: {mail_from_domain: [acme-surveys.example]}
    key_file: acme.key
    previous_key_file: old.key
    allowed_bases: [double-opt-in, verified]
    allowed_sender_domains: [acme-surveys.example, "*.acme-surveys.example"]
)" + extra_tenant_keys + R"(
  - id: other
    selectors: {mail_from_domain: [other.example]}
)"));
        auto result = load_rules(PRESEND_RULES_DIR);
        REQUIRE(result.ok());
        rules = result.rules;
        envelope.mail_from = "bounce@acme-surveys.example";
        envelope.client_addr = "192.0.2.1";
    }

    Attestation token() const {
        Attestation a;
        a.tenant = "acme";
        a.list_id = "surveys-2026";
        a.basis = "double-opt-in";
        a.domain = "mail.acme-surveys.example";
        a.issued_at = k_now - 3600;
        a.expires_at = k_now + 86400;
        return a;
    }

    std::string signed_header(const Attestation& a, unsigned char key_first = 0x00) const {
        return "X-Consent-Attestation: " + sign_attestation(a, key_bytes(key_first)) + "\r\n";
    }

    Verdict judge_raw(const std::string& headers_before, const std::string& file = "compliant.eml",
                      ContextOptions options = {}) const {
        const ParsedMessage message = parse_message(
            headers_before + read(std::filesystem::path(PRESEND_RULES_DIR) / "examples" / file));
        if (!options.now) options.now = k_now;
        return judge(*rules, message, envelope, message_context(config, envelope, message, options),
                     Mode::enforce);
    }
};

std::vector<std::string> ids_with_prefix(const Verdict& verdict, const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& id : hit_ids(verdict.hits))
        if (id.rfind(prefix, 0) == 0) out.push_back(id);
    return out;
}

const Hit* hit_of(const Verdict& verdict, const std::string& id) {
    for (const auto& hit : verdict.hits)
        if (hit.rule == id) return &hit;
    return nullptr;
}

// The verdict rejects with exactly this one rule and its reply from rules/40-consent.yaml.
void check_rejected_by(const Verdict& verdict, const std::string& id, const std::string& reply) {
    INFO("hits: " << Catch::Detail::stringify(hit_ids(verdict.hits)));
    CHECK(hit_ids(verdict.hits) == std::vector<std::string>{id});
    CHECK(verdict.would_action == Action::reject);
    CHECK(verdict.reply == reply);
    REQUIRE(hit_of(verdict, id));
    CHECK(hit_of(verdict, id)->target == "header:X-Consent-Attestation");
    CHECK_FALSE(verdict.consent);
}

} // namespace

TEST_CASE("a valid attestation passes, and the decision log records tenant, class and attestation") {
    TenantFixture f;
    const Verdict verdict = f.judge_raw(f.signed_header(f.token()));
    CHECK(verdict.hits.empty());
    CHECK(verdict.would_action == Action::accept);
    CHECK(verdict.tenant == "acme");
    CHECK(verdict.message_class == MessageClass::bulk);
    REQUIRE(verdict.consent);
    CHECK(verdict.consent->list == "surveys-2026");
    CHECK(verdict.consent->basis == "double-opt-in");
    const auto json = decision_json(f.envelope, "<id@x>", verdict, std::chrono::microseconds{5}, "v1");
    CHECK(json["tenant"] == "acme");
    CHECK(json["class"] == "bulk");
    CHECK(json["attestation"] ==
          nlohmann::json{{"tenant", "acme"}, {"list", "surveys-2026"}, {"basis", "double-opt-in"}});
}

TEST_CASE("a token under the previous key still verifies during a rotation") {
    TenantFixture f;
    CHECK(f.judge_raw(f.signed_header(f.token(), 0x40)).hits.empty());
}

TEST_CASE("each attestation failure becomes its rule, with the documented reply") {
    TenantFixture f;
    SECTION("missing") {
        const auto verdict = f.judge_raw("");
        check_rejected_by(
            verdict, "consent-missing",
            "Bulk mail from this account must carry a consent attestation (X-Consent-Attestation)");
        CHECK(verdict.hits[0].detail == "no X-Consent-Attestation header");
    }
    SECTION("repeated header is malformed") {
        const auto header = f.signed_header(f.token());
        const auto verdict = f.judge_raw(header + header);
        check_rejected_by(verdict, "consent-malformed", "The X-Consent-Attestation header is malformed");
        CHECK(verdict.hits[0].detail == "repeated header (2 of them)");
    }
    SECTION("malformed") {
        check_rejected_by(f.judge_raw("X-Consent-Attestation: v=1; t=acme\r\n"), "consent-malformed",
                          "The X-Consent-Attestation header is malformed");
    }
    SECTION("signed with another key") {
        check_rejected_by(f.judge_raw(f.signed_header(f.token(), 0x80)), "consent-bad-signature",
                          "The X-Consent-Attestation signature does not verify");
    }
    SECTION("altered after signing") {
        std::string header = f.signed_header(f.token());
        header.replace(header.find("double-opt-in"), 13, "verified");
        check_rejected_by(f.judge_raw(header), "consent-bad-signature",
                          "The X-Consent-Attestation signature does not verify");
    }
    SECTION("expired, and not yet valid") {
        auto old = f.token();
        old.issued_at = k_now - 7200;
        old.expires_at = k_now;
        check_rejected_by(f.judge_raw(f.signed_header(old)), "consent-expired",
                          "The X-Consent-Attestation token has expired or is not yet valid");
        auto future = f.token();
        future.issued_at = k_now + 301; // beyond the default max_skew of 300 s
        check_rejected_by(f.judge_raw(f.signed_header(future)), "consent-expired",
                          "The X-Consent-Attestation token has expired or is not yet valid");
        future.issued_at = k_now + 299;
        CHECK(f.judge_raw(f.signed_header(future)).hits.empty());
    }
    SECTION("another tenant's token") {
        auto other = f.token();
        other.tenant = "other";
        check_rejected_by(f.judge_raw(f.signed_header(other)), "consent-tenant-mismatch",
                          "The X-Consent-Attestation token belongs to another account");
    }
    SECTION("a basis the tenant may not use") {
        auto opt_in = f.token();
        opt_in.basis = "opt-in";
        check_rejected_by(f.judge_raw(f.signed_header(opt_in)), "consent-basis-not-allowed",
                          "The consent basis in X-Consent-Attestation is not accepted for this account");
    }
    SECTION("a token for another From domain, or without d= while the tenant requires it") {
        auto brand = f.token();
        brand.domain = "other-brand.example";
        check_rejected_by(f.judge_raw(f.signed_header(brand)), "consent-domain-mismatch",
                          "The X-Consent-Attestation token is not for this From domain");
        auto unbound = f.token();
        unbound.domain.clear();
        check_rejected_by(f.judge_raw(f.signed_header(unbound)), "consent-domain-mismatch",
                          "The X-Consent-Attestation token is not for this From domain");
    }
}

TEST_CASE("attestation settings: another header name and max_skew") {
    TenantFixture f("", "attestation: {header: X-Platform-Consent, max_skew: 0}\n");
    std::string header = f.signed_header(f.token());
    CHECK(ids_with_prefix(f.judge_raw(header), "consent-") == std::vector<std::string>{"consent-missing"});
    header.replace(0, std::string("X-Consent-Attestation").size(), "X-Platform-Consent");
    CHECK(f.judge_raw(header).hits.empty());
    auto ahead = f.token();
    ahead.issued_at = k_now + 1;
    std::string late = f.signed_header(ahead);
    late.replace(0, std::string("X-Consent-Attestation").size(), "X-Platform-Consent");
    CHECK(ids_with_prefix(f.judge_raw(late), "consent-") == std::vector<std::string>{"consent-expired"});
}

TEST_CASE("no tenant, no key, or transactional mail: consent is not checked") {
    TenantFixture f;
    SECTION("mail no tenant selects is accepted, with a no-tenant note") {
        f.envelope.mail_from = "bounce@unknown.example";
        const auto verdict = f.judge_raw("");
        CHECK(verdict.hits.empty());
        CHECK(verdict.tenant.empty());
        CHECK(std::find(verdict.notes.begin(), verdict.notes.end(), "no-tenant") != verdict.notes.end());
    }
    SECTION("a tenant without a key") {
        f.envelope.mail_from = "bounce@other.example";
        const auto verdict = f.judge_raw("");
        CHECK(verdict.tenant == "other");
        CHECK(ids_with_prefix(verdict, "consent-").empty());
    }
    SECTION("transactional, by option") {
        ContextOptions options;
        options.message_class = MessageClass::transactional;
        const auto verdict = f.judge_raw("", "compliant.eml", options);
        CHECK(verdict.hits.empty());
        CHECK(verdict.message_class == MessageClass::transactional);
    }
    SECTION("embedded defaults: the shipped rules accept a compliant message") {
        const ParsedMessage message =
            parse_message(read(std::filesystem::path(PRESEND_RULES_DIR) / "examples/compliant.eml"));
        const auto verdict = judge(*f.rules, message, f.envelope,
                                   message_context(Config{}, f.envelope, message), Mode::enforce);
        CHECK(verdict.hits.empty());
        CHECK(verdict.notes.empty());
    }
}

TEST_CASE("transactional mail skips the rules marked applies_to: bulk") {
    TenantFixture f("    class: transactional\n");
    // No List-Unsubscribe, no footer: a receipt. As bulk it is refused; as transactional it is not.
    const auto verdict = f.judge_raw("", "no-list-unsubscribe.eml");
    CHECK(verdict.message_class == MessageClass::transactional);
    CHECK(ids_with_prefix(verdict, "list-unsubscribe").empty());
    ContextOptions bulk;
    bulk.message_class = MessageClass::bulk;
    const auto as_bulk = ids_with_prefix(
        f.judge_raw(f.signed_header(f.token()), "no-list-unsubscribe.eml", bulk), "list-unsubscribe");
    REQUIRE_FALSE(as_bulk.empty());
    CHECK(as_bulk.front() == "list-unsubscribe-missing");
}

TEST_CASE("default_class: transactional applies to mail no tenant selects") {
    TenantFixture f("", "default_class: transactional\n");
    f.envelope.mail_from = "bounce@unknown.example";
    CHECK(f.judge_raw("", "no-list-unsubscribe.eml").hits.empty());
}

TEST_CASE("applies_to in the rule loader: bulk, transactional, all, and a clear error otherwise") {
    TempDir dir;
    dir.write("r.yaml", R"(rules:
  - {id: b, description: x, header_absent: X-A, score: 1, applies_to: bulk}
  - {id: t, description: x, header_absent: X-A, score: 1, applies_to: transactional}
  - {id: a, description: x, header_absent: X-A, score: 1, applies_to: all}
  - {id: n, description: x, header_absent: X-A, score: 1}
)");
    auto result = load_rules(dir.path());
    REQUIRE(result.ok());
    const auto message = test::message_with({});
    MessageContext context;
    CHECK(hit_ids(inspect(*result.rules, message, {}, context)) == std::vector<std::string>{"b", "a", "n"});
    context.message_class = MessageClass::transactional;
    CHECK(hit_ids(inspect(*result.rules, message, {}, context)) == std::vector<std::string>{"t", "a", "n"});
    CHECK(result.rules->find("b")->ruleset == "r");

    TempDir bad;
    bad.write("r.yaml",
              "rules:\n  - {id: b, description: x, header_absent: X-A, score: 1, applies_to: newsletters}\n");
    auto failed = load_rules(bad.path());
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.diagnostics.at(0).str() ==
          (bad.path() / "r.yaml").string() +
              ":2:71: rule 'b': applies_to: expected bulk, transactional or all");
}

TEST_CASE("a tenant's rulesets limit the rule files that apply and its mode overrides the global one") {
    TenantFixture f("    rulesets: [20-footer, 40-consent]\n    mode: dry-run\n");
    const auto verdict = f.judge_raw("", "no-list-unsubscribe.eml");
    CHECK(ids_with_prefix(verdict, "list-unsubscribe").empty()); // 10-bulk-headers does not apply
    CHECK(ids_with_prefix(verdict, "consent-") == std::vector<std::string>{"consent-missing"});
    CHECK(verdict.mode == Mode::dry_run);
    CHECK(verdict.action == Action::accept);
    CHECK(verdict.would_action == Action::reject);
    CHECK(check_tenant_rulesets(f.config.tenants, *f.rules).empty());
    TenantFixture typo("    rulesets: [10-bulk-header]\n");
    CHECK(check_tenant_rulesets(typo.config.tenants, *typo.rules)
              .find("tenant 'acme': rulesets: no rule file '10-bulk-header' in ") != std::string::npos);
}

TEST_CASE("sender authorization: allowed domains for envelope and From, and alignment") {
    TenantFixture f("    bounce_domains: [bounces.platform.example]\n");
    const std::string token = f.signed_header(f.token());
    SECTION("subdomain From aligned with the envelope's registrable domain passes") {
        CHECK(f.judge_raw(token).hits.empty());
    }
    SECTION("an envelope sender outside the allowed domains") {
        // Selected by client address this time, so the envelope domain can be anybody's.
        f.config.tenants[0].selectors.mail_from_domains.clear();
        AddressRange range;
        std::string reason;
        REQUIRE(parse_address_range("192.0.2.0/24", range, reason));
        f.config.tenants[0].selectors.client_addrs.push_back(range);
        f.envelope.mail_from = "bounce@elsewhere.example";
        const auto verdict = f.judge_raw(token);
        CHECK(ids_with_prefix(verdict, "sender-") == std::vector<std::string>{"sender-domain-not-allowed"});
        CHECK(ids_with_prefix(verdict, "from-") == std::vector<std::string>{"from-not-aligned"});
        CHECK(verdict.reply == "This account is not authorized to send mail for this sender domain");
        CHECK(hit_of(verdict, "sender-domain-not-allowed")->detail ==
              "envelope sender domain 'elsewhere.example' is not allowed for tenant acme");
    }
    SECTION("a From domain outside the allowed domains") {
        auto token_for = f.token();
        token_for.domain = "brand.example";
        const auto verdict = f.judge_raw("From: News <news@brand.example>\r\n" + f.signed_header(token_for));
        // Two From headers now: not a single mailbox, so the From domain is unknown.
        CHECK(ids_with_prefix(verdict, "sender-") == std::vector<std::string>{"sender-domain-not-allowed"});
        CHECK(hit_of(verdict, "sender-domain-not-allowed")->detail == "From is not a single mailbox");
    }
    SECTION("a shared bounce domain needs no alignment, but From must still be allowed") {
        f.envelope.mail_from = "b-123@bounces.platform.example";
        f.config.tenants[0].selectors.mail_from_domains = {"bounces.platform.example"};
        CHECK(f.judge_raw(token).hits.empty());
    }
    SECTION("the null sender is not judged") {
        f.config.tenants[0].selectors.mail_from_domains.clear();
        f.config.tenants[0].selectors.auth_users = {"acme"};
        f.envelope.mail_from.clear();
        f.envelope.auth_user = "acme";
        CHECK(f.judge_raw(token).hits.empty());
    }
}

TEST_CASE("sender authorization of the From domain alone") {
    TenantFixture f;
    f.config.tenants[0].allowed_sender_domains = {"acme-surveys.example"}; // no subdomains
    const auto verdict = f.judge_raw(f.signed_header(f.token()));
    CHECK(hit_ids(verdict.hits) == std::vector<std::string>{"sender-domain-not-allowed"});
    CHECK(verdict.hits[0].target == "header:From");
    CHECK(verdict.hits[0].detail == "From domain 'mail.acme-surveys.example' is not allowed for tenant acme");
}

TEST_CASE("from-not-aligned has its own reply") {
    TenantFixture f;
    f.config.tenants[0].allowed_sender_domains.push_back("other-bounce.example");
    f.config.tenants[0].selectors.mail_from_domains.push_back("other-bounce.example");
    f.envelope.mail_from = "b@other-bounce.example";
    const auto verdict = f.judge_raw(f.signed_header(f.token()));
    CHECK(hit_ids(verdict.hits) == std::vector<std::string>{"from-not-aligned"});
    CHECK(verdict.reply == "The From domain must align with the envelope sender domain (DMARC)");
}

TEST_CASE("an imposed tenant (presend check --tenant) must exist in the config") {
    TenantFixture f;
    f.envelope.mail_from = "bounce@unknown.example";
    ContextOptions options;
    options.tenant = "acme";
    CHECK(f.judge_raw("", "compliant.eml", options).tenant == "acme");
    options.tenant = "nobody";
    CHECK_THROWS_AS(f.judge_raw("", "compliant.eml", options), std::invalid_argument);
}

TEST_CASE("rule examples may give tenant facts and a message class; unknown ones are errors") {
    TempDir dir;
    dir.write("r.yaml", R"(rules:
  - id: c
    description: x
    fact: consent-expired
    action: reject
    examples:
      match: [{text: "Subject: x\n\nbody\n", facts: [consent-expired], class: transactional}]
)");
    auto result = load_rules(dir.path());
    REQUIRE(result.ok());
    const auto& example = result.rules->find("c")->examples.at(0);
    CHECK(example.facts == std::vector<std::string>{"consent-expired"});
    CHECK(example.message_class == MessageClass::transactional);
    CHECK(example.text == "Subject: x\n\nbody\n");

    TempDir bad;
    bad.write("r.yaml", R"(rules:
  - id: c
    description: x
    fact: consent-expired
    action: reject
    examples:
      match: [{text: "x", facts: [consent-expird], class: bulky, tenant: acme}]
)");
    auto failed = load_rules(bad.path());
    REQUIRE_FALSE(failed.ok());
    std::string all;
    for (const auto& d : failed.diagnostics)
        all += d.str() + "\n";
    CHECK(all.find("unknown key 'tenant'") != std::string::npos);
    CHECK(all.find("unknown fact 'consent-expird' (did you mean 'consent-expired'?)") != std::string::npos);
    CHECK(all.find("class: expected bulk or transactional") != std::string::npos);
}
