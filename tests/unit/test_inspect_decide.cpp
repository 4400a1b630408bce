// Rules over a message: each rule kind fires when it should and only then; the verdict follows the
// strictest action, the score thresholds, monitor mode and dry-run.
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

using namespace presend;
using presend::test::hit_ids;
using presend::test::message_with;
using presend::test::TempDir;

namespace {
std::shared_ptr<const RuleSet> rules_from(const TempDir& dir, const std::string& yaml) {
    dir.write("r.yaml", yaml);
    auto result = load_rules(dir.path());
    std::string text;
    for (const auto& d : result.diagnostics)
        text += d.str() + "\n";
    INFO(text);
    REQUIRE(result.ok());
    return result.rules;
}
} // namespace

TEST_CASE("header_absent and header_present fire on the header's absence or presence, case-insensitively") {
    TempDir dir;
    auto rules = rules_from(dir, R"(rules:
  - {id: no-lu, description: x, header_absent: List-Unsubscribe, action: reject}
  - {id: has-x, description: x, header_present: X-Mailer, score: 1}
)");
    CHECK(hit_ids(inspect(*rules, message_with({{"list-unsubscribe", "<mailto:u@x.example>"}}), {})).empty());
    CHECK(hit_ids(inspect(*rules, message_with({{"x-mailer", "bulk 1.0"}}), {})) ==
          std::vector<std::string>{"no-lu", "has-x"});
}

TEST_CASE("header_matches and regex targets match decoded values with Hyperscan") {
    TempDir dir;
    auto rules = rules_from(dir, R"(rules:
  - id: hold
    description: x
    header_matches: {name: Subject, regex: "HOLD[0-9]+"}
    action: quarantine
  - id: caps
    description: x
    regex: "free money"
    flags: i
    target: body
    score: 2
  - id: subject-bang
    description: x
    regex: "!!!"
    target: subject
    score: 1
)");
    const auto hits =
        inspect(*rules, message_with({{"Subject", "Order HOLD42 now!!!"}}, "Get FREE MONEY today"), {});
    CHECK(hit_ids(hits) == std::vector<std::string>{"hold", "caps", "subject-bang"});
    CHECK(hits[0].target == "header:Subject");
    CHECK_THAT(hits[1].detail, Catch::Contains("FREE MONEY"));
    CHECK(hit_ids(inspect(*rules, message_with({{"Subject", "hold42"}}, "free monkeys"), {})).empty());
}

TEST_CASE("phrases are case-insensitive whole words, counted as distinct phrases") {
    TempDir dir;
    auto rules = rules_from(dir, R"(rules:
  - id: spam
    description: x
    phrases: ["act now", "winner", "100% free"]
    min_count: 2
    score: 5
  - id: one
    description: x
    phrases: ["winner"]
    score: 1
)");
    CHECK(hit_ids(inspect(*rules, message_with({}, "ACT NOW, you are a Winner"), {})) ==
          std::vector<std::string>{"spam", "one"});
    // one distinct phrase, however often, is below min_count 2
    CHECK(hit_ids(inspect(*rules, message_with({}, "winner winner winner"), {})) ==
          std::vector<std::string>{"one"});
    // word boundaries: "winners" and "react now" are other words
    CHECK(hit_ids(inspect(*rules, message_with({}, "winners react nowhere"), {})).empty());
    CHECK(hit_ids(inspect(*rules, message_with({}, "it is 100% free and a winner"), {})) ==
          std::vector<std::string>{"spam", "one"});
}

TEST_CASE("regex min_count needs that many matches") {
    TempDir dir;
    auto rules = rules_from(dir, R"(rules:
  - {id: links, description: x, regex: "https://", target: body, min_count: 3, score: 1}
)");
    CHECK(hit_ids(inspect(*rules, message_with({}, "https://a https://b"), {})).empty());
    CHECK(hit_ids(inspect(*rules, message_with({}, "https://a https://b https://c"), {})) ==
          std::vector<std::string>{"links"});
}

TEST_CASE("text, html, url and url_domain targets look only where they say") {
    TempDir dir;
    auto rules = rules_from(dir, R"(rules:
  - {id: in-text, description: x, regex: "pricing", target: text, score: 1}
  - {id: in-html, description: x, regex: "pricing", target: html, score: 1}
  - {id: short, description: x, phrases: ["bit.ly"], target: url_domain, score: 1}
  - {id: ip-url, description: x, regex: "^https?://[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+", target: url, score: 1}
)");
    auto m = message_with({}, "", "see our pricing");
    m.parts.back().links = {{"https://bit.ly/x", "here"}, {"http://192.0.2.1/login", "login"}};
    CHECK(hit_ids(inspect(*rules, m, {})) == std::vector<std::string>{"in-html", "short", "ip-url"});
}

TEST_CASE("url_domain is a link's host or a mailto's domain, lower-cased") {
    TempDir dir;
    auto rules = rules_from(dir, R"(rules:
  - {id: d, description: x, regex: "^(sub\\.example\\.com|shop\\.example|\\[2001:db8::1\\]:443|lists\\.example\\.org|b\\.example)$", target: url_domain, score: 1}
  - {id: any, description: x, regex: "^", target: url_domain, score: 1}
)");
    // Each link alone: which of the rules fire for it.
    const auto fired = [&](const std::string& href) {
        auto m = message_with({}, "", "x");
        m.parts.back().links = {{href, "here"}};
        return hit_ids(inspect(*rules, m, {}));
    };
    const std::vector<std::string> both{"d", "any"}, some{"any"}, none{};
    CHECK(fired("https://User:pw@Sub.Example.COM:8443/Path?q=1#f") == both);
    CHECK(fired("HTTP://shop.example?x") == both);
    CHECK(fired("https://[2001:DB8::1]:443/") == both); // a literal keeps its brackets and port
    CHECK(fired("mailto:Unsub@Lists.Example.ORG?subject=stop") == both);
    CHECK(fired("mailto:x?cc=a@B.example") == both); // the '?' before the '@': to the end
    CHECK(fired("https://sub.example.com.evil.test/") == some);
    CHECK(fired("mailto:nobody") == none);
    CHECK(fired("/relative/path") == none);
    CHECK(fired("javascript:void(0)") == none);
}

TEST_CASE("all, any and not combine other rules' results") {
    TempDir dir;
    auto rules = rules_from(dir, R"(rules:
  - {id: bulk, description: x, header_present: List-Id, mode: monitor}
  - {id: no-footer, description: x, header_absent: X-Footer, mode: monitor}
  - {id: bulk-without-footer, description: x, all: [bulk, no-footer], action: reject}
  - {id: either, description: x, any: [bulk, no-footer], score: 1}
  - {id: transactional, description: x, not: bulk, score: 0.5}
)");
    CHECK(hit_ids(inspect(*rules, message_with({{"List-Id", "<n.example>"}}), {})) ==
          std::vector<std::string>{"bulk", "no-footer", "bulk-without-footer", "either"});
    CHECK(hit_ids(inspect(*rules, message_with({{"List-Id", "<n.example>"}, {"X-Footer", "1"}}), {})) ==
          std::vector<std::string>{"bulk", "either"});
    CHECK(hit_ids(inspect(*rules, message_with({{"X-Footer", "1"}}), {})) ==
          std::vector<std::string>{"transactional"});
}

TEST_CASE("the strictest rule action wins and its reply is used") {
    TempDir dir;
    auto rules = rules_from(dir, R"(rules:
  - {id: t, description: x, header_absent: A, action: tag}
  - {id: r, description: x, header_absent: B, action: reject, reply: "no B header"}
  - {id: q, description: x, header_absent: C, action: quarantine}
)");
    const auto verdict = decide(*rules, inspect(*rules, message_with({}), {}), Mode::enforce);
    CHECK(verdict.action == Action::reject);
    CHECK(verdict.would_action == Action::reject);
    CHECK(verdict.reply == "no B header");
}

TEST_CASE("score thresholds map the total score to an action") {
    TempDir dir;
    auto rules = rules_from(dir, R"(policy:
  thresholds: {tag: 2, quarantine: 5, reject: 9}
rules:
  - {id: a, description: x, header_absent: A, score: 2}
  - {id: b, description: x, header_absent: B, score: 3}
  - {id: c, description: x, header_absent: C, score: 4}
)");
    auto m = message_with({{"B", "1"}, {"C", "1"}});
    CHECK(decide(*rules, inspect(*rules, m, {}), Mode::enforce).action == Action::tag);
    m = message_with({{"C", "1"}});
    CHECK(decide(*rules, inspect(*rules, m, {}), Mode::enforce).action == Action::quarantine);
    const auto verdict = decide(*rules, inspect(*rules, message_with({}), {}), Mode::enforce);
    CHECK(verdict.action == Action::reject);
    CHECK(verdict.score == Approx(9));
    CHECK_THAT(verdict.reply, Catch::Contains("scored 9.0"));
}

TEST_CASE("a monitor rule is recorded but never acts nor scores") {
    TempDir dir;
    auto rules = rules_from(dir, R"(policy:
  thresholds: {reject: 1}
rules:
  - {id: trial, description: x, header_absent: A, action: reject, score: 5, mode: monitor}
)");
    const auto verdict = decide(*rules, inspect(*rules, message_with({}), {}), Mode::enforce);
    REQUIRE(verdict.hits.size() == 1);
    CHECK(verdict.hits[0].monitor);
    CHECK(verdict.action == Action::accept);
    CHECK(verdict.score == 0);
}

TEST_CASE("dry-run never rejects, records would_action") {
    TempDir dir;
    auto rules = rules_from(dir, "rules:\n  - {id: r, description: x, header_absent: A, action: reject}\n");
    const auto verdict = decide(*rules, inspect(*rules, message_with({}), {}), Mode::dry_run);
    CHECK(verdict.action == Action::accept);
    CHECK(verdict.would_action == Action::reject);
    CHECK(verdict.mode == Mode::dry_run);
}

TEST_CASE("footer rules look only at the end of the last text and HTML parts; absent fires when missing") {
    TempDir dir;
    auto rules = rules_from(dir, R"(rules:
  - {id: no-unsub, description: x, regex: "unsubscribe", flags: i, target: footer, absent: true, action: reject}
)");
    const std::string filler(3000, 'x');
    // the word in the footer satisfies the rule
    CHECK(
        hit_ids(inspect(*rules, message_with({}, "Hello " + filler + " Unsubscribe: https://u.example"), {}))
            .empty());
    // buried at the top of a long message it does not
    const auto hits = inspect(*rules, message_with({}, "Unsubscribe here " + filler + " bye"), {});
    REQUIRE(hit_ids(hits) == std::vector<std::string>{"no-unsub"});
    CHECK(hits[0].detail == "not found in footer");
    // no text at all: no footer
    CHECK(hit_ids(inspect(*rules, message_with({}), {})) == std::vector<std::string>{"no-unsub"});
    // the HTML part's footer counts too
    CHECK(hit_ids(inspect(*rules, message_with({}, "plain without it", "<p>unsubscribe</p>"), {})).empty());
}

TEST_CASE("fact rules fire on what the parser found wrong with the message") {
    TempDir dir;
    auto rules = rules_from(dir, "rules:\n  - {id: broken-mime, description: x, fact: malformed-mime, score: 2}\n");
    auto m = message_with({});
    CHECK(hit_ids(inspect(*rules, m, {})).empty());
    m.facts.insert("malformed-mime");
    CHECK(hit_ids(inspect(*rules, m, {})) == std::vector<std::string>{"broken-mime"});
    dir.write("r.yaml", "rules:\n  - {id: f, description: x, fact: malformed, score: 2}\n");
    const auto result = load_rules(dir.path());
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.diagnostics[0].str(), Catch::Contains("unknown fact 'malformed' (did you mean 'malformed-mime'?)"));
}

TEST_CASE("a message whose body was not read: rules that need the body are not judged, nor what rests on them") {
    TempDir dir;
    auto rules = rules_from(dir, R"(rules:
  - {id: no-unsub, description: x, regex: "unsubscribe", flags: i, target: footer, absent: true, score: 6}
  - {id: no-address, description: x, regex: "street", flags: i, target: footer, absent: true, score: 6}
  - {id: no-footer, description: x, all: [no-unsub, no-address], action: reject}
  - {id: spam-word, description: x, regex: "free money", flags: i, target: body, score: 5}
  - {id: clean, description: x, not: spam-word, score: 0.5}
  - {id: bulk-or-spam, description: x, any: [spam-word, bulk], score: 0.25}
  - {id: link-mismatch, description: x, check: link-domain-mismatch, score: 1}
  - {id: honest-links, description: x, not: link-mismatch, score: 0.5}
  - {id: bulk, description: x, header_present: List-Id, score: 1}
  - {id: no-date, description: x, header_absent: Date, score: 1}
  - {id: subject-shouts, description: x, regex: "!!!", target: subject, score: 1}
  - {id: subject-no-brand, description: x, regex: "acme", flags: i, target: subject, absent: true, score: 1}
  - {id: too-big, description: x, fact: oversize, score: 1}
)");
    ParsedMessage m = message_with({{"List-Id", "<n.example>"}, {"Subject", "Sale!!!"}});
    // Read whole, an empty body misses its footer and has no spam: every rule is judged.
    CHECK(hit_ids(inspect(*rules, m, {})) ==
          std::vector<std::string>{"no-unsub", "no-address", "no-footer", "clean", "bulk", "bulk-or-spam",
                                   "honest-links", "no-date", "subject-shouts", "subject-no-brand"});
    // Headers only: the body rules and the compositions they decide are left out; header rules, subject
    // rules, the composition a header rule decides, and the oversize fact are judged as before.
    m.body_read = false;
    m.facts.insert("oversize");
    CHECK(hit_ids(inspect(*rules, m, {})) ==
          std::vector<std::string>{"bulk", "bulk-or-spam", "no-date", "subject-shouts", "subject-no-brand",
                                   "too-big"});
}

TEST_CASE("parse_headers_only: the header block of a multipart gives its headers, no body and no malformed-mime") {
    const std::string headers = "From: \"Acme\" <news@acme.example>\r\n"
                                "Subject: Weekly\r\n"
                                "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
                                "\r\n";
    ParsedMessage m;
    parse_headers_only(headers, m);
    CHECK_FALSE(m.body_read);
    CHECK(m.facts == std::set<std::string>{"oversize"});
    REQUIRE(m.header("Subject") != nullptr);
    CHECK(m.header("Subject")->value == "Weekly");
    CHECK(m.parts.empty());
    // The same bytes read as a whole message: a multipart with no parts is malformed, and the body counts.
    parse_message(headers, m);
    CHECK(m.body_read);
    CHECK(m.facts.count("malformed-mime") == 1);
    CHECK(m.facts.count("oversize") == 0);
}
