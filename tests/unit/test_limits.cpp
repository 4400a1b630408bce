// Limits: each limit of presend.yaml's limits: section, passed by a message generated here, gives its fact,
// keeps what was read before it, and raises the verdict to at least on_limit; the limits section of the
// config reads every key and refuses bad values with file:line:column.
#include "presend/config.hpp"
#include "presend/daemon_metrics.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>

using namespace presend;
using presend::test::has_fact;
using presend::test::TempDir;

namespace {

bool noted(const Verdict& v, std::string_view note) {
    return std::find(v.notes.begin(), v.notes.end(), note) != v.notes.end();
}

// A rule set whose only rule never fires, so a verdict comes from the limits alone.
std::shared_ptr<const RuleSet> quiet_rules(const TempDir& dir) {
    dir.write("r.yaml", "rules:\n  - {id: never, description: x, header_present: X-Never-Sent, score: 1}\n");
    auto result = load_rules(dir.path());
    REQUIRE(result.ok());
    return result.rules;
}

const std::string k_head = "From: News <news@example.com>\r\nTo: a@example.net\r\nSubject: Limits\r\n"
                           "Message-ID: <1@example.com>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\n";

std::string with_headers(std::size_t extra) {
    std::string raw = k_head;
    for (std::size_t i = 0; i < extra; ++i)
        raw += "X-Filler-" + std::to_string(i) + ": value " + std::to_string(i) + "\r\n";
    return raw + "\r\nbody\r\n";
}

// One Subject of about `bytes` bytes, folded every 900 bytes as a mailer would; "é" (2 bytes) throughout so a
// cut can land inside a character.
std::string with_long_subject(std::size_t bytes) {
    std::string value;
    std::size_t line = 0;
    while (value.size() < bytes) {
        value += "caf\xC3\xA9 ";
        line += 6;
        if (line >= 900) {
            value += "\r\n ";
            line = 0;
        }
    }
    return "From: news@example.com\r\nSubject: " + value + "\r\n\r\nbody\r\n";
}

std::string nested(std::size_t depth) {
    std::string raw = "From: news@example.com\r\nMIME-Version: 1.0\r\n";
    for (std::size_t i = 0; i < depth; ++i)
        raw += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "\"\r\n\r\n--b" +
               std::to_string(i) + "\r\n";
    raw += "Content-Type: text/plain\r\n\r\ninnermost\r\n";
    for (std::size_t i = depth; i-- > 0;)
        raw += "--b" + std::to_string(i) + "--\r\n";
    return raw;
}

std::string with_parts(std::size_t parts, const std::string& type, const std::string& body) {
    std::string raw = "From: news@example.com\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n";
    for (std::size_t i = 0; i < parts; ++i)
        raw += "--p\r\nContent-Type: " + type + "; charset=utf-8\r\n\r\n" + body + " " + std::to_string(i) +
               "\r\n";
    return raw + "--p--\r\n";
}

std::string base64(std::string_view in) {
    static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve(in.size() * 4 / 3 + in.size() / 57 * 2 + 8);
    std::size_t line = 0;
    for (std::size_t i = 0; i < in.size(); i += 3) {
        const auto byte = [&](std::size_t k) {
            return k < in.size() ? static_cast<unsigned char>(in[k]) : 0u;
        };
        const unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
        out += k_alphabet[v >> 18 & 63];
        out += k_alphabet[v >> 12 & 63];
        out += i + 1 < in.size() ? k_alphabet[v >> 6 & 63] : '=';
        out += i + 2 < in.size() ? k_alphabet[v & 63] : '=';
        if (++line == 19) {
            out += "\r\n";
            line = 0;
        }
    }
    return out + "\r\n";
}

std::string links_text(std::size_t from, std::size_t count) {
    std::string text;
    for (std::size_t i = from; i < from + count; ++i)
        text += "https://example.com/p/" + std::to_string(i) + "\r\n";
    return text;
}

std::size_t link_count(const ParsedMessage& m) {
    std::size_t n = 0;
    for (const auto& part : m.parts)
        n += part.links.size();
    return n;
}

} // namespace

TEST_CASE("a message inside every limit carries no limit fact and keeps its verdict") {
    TempDir dir;
    const auto rules = quiet_rules(dir);
    const Verdict v = evaluate(*rules, {}, with_headers(20), Mode::enforce);
    CHECK(v.would_action == Action::accept);
    CHECK(limits_passed(v.notes).empty());
    CHECK_FALSE(noted(v, "limit-exceeded"));
}

TEST_CASE("1,001 headers pass max_headers: the first 1,000 are judged, the verdict is at least on_limit") {
    TempDir dir;
    const auto rules = quiet_rules(dir);
    const std::string raw = with_headers(1001 - 5);
    const ParsedMessage m = parse_message(raw);
    CHECK(has_fact(m, "too-many-headers"));
    CHECK(has_fact(m, "limit-exceeded"));
    REQUIRE(m.headers.size() == 1000);
    CHECK(m.headers.front().name == "From");
    CHECK(m.headers.back().name == "X-Filler-994");
    CHECK_FALSE(has_fact(parse_message(with_headers(1000 - 5)), "too-many-headers"));

    const Verdict v = evaluate(*rules, {}, raw, Mode::enforce);
    CHECK(v.would_action == Action::tempfail); // the default on_limit
    CHECK(v.action == Action::tempfail);
    CHECK(v.reply == "Message exceeds an outbound compliance inspection limit (max_headers)");
    REQUIRE(limits_passed(v.notes).size() == 1);
    CHECK(limits_passed(v.notes)[0].key == "max_headers");
}

TEST_CASE("a 70 KiB header passes max_header_line: its value is cut at 64 KiB on a character boundary") {
    const ParsedMessage m = parse_message(with_long_subject(70 * 1024));
    CHECK(has_fact(m, "header-too-long"));
    CHECK_FALSE(has_fact(m, "bad-charset")); // the cut left valid UTF-8
    const Header* subject = m.header("Subject");
    REQUIRE(subject != nullptr);
    CHECK(subject->raw_value.size() + std::string("Subject:").size() <= 64 * 1024);
    CHECK(subject->raw_value.size() > 60 * 1024);
    CHECK(subject->value.rfind("caf\xC3\xA9", 0) == 0);

    const ParsedMessage fits = parse_message(with_long_subject(60 * 1024));
    CHECK_FALSE(has_fact(fits, "header-too-long"));
    CHECK_FALSE(has_fact(fits, "limit-exceeded"));
}

TEST_CASE("40-deep nesting passes max_mime_depth (32): the innermost text is not read") {
    TempDir dir;
    const auto rules = quiet_rules(dir);
    const std::string raw = nested(40);
    const ParsedMessage m = parse_message(raw);
    CHECK(has_fact(m, "mime-too-deep"));
    CHECK(has_fact(m, "limit-exceeded"));
    CHECK(m.parts.empty());
    const ParsedMessage shallow = parse_message(nested(20));
    CHECK_FALSE(has_fact(shallow, "mime-too-deep"));
    REQUIRE(shallow.parts.size() == 1);
    CHECK(shallow.parts[0].text.rfind("innermost", 0) == 0);

    Limits limits;
    limits.on_limit = Action::quarantine;
    const Verdict v = evaluate(*rules, {}, raw, Mode::enforce, limits);
    CHECK(v.would_action == Action::quarantine);
    CHECK(v.action == Action::quarantine);
}

TEST_CASE("600 parts pass max_mime_parts (500): the first ones are read, the rest are not") {
    TempDir dir;
    const auto rules = quiet_rules(dir);
    const std::string raw = with_parts(600, "text/plain", "part");
    const ParsedMessage m = parse_message(raw);
    CHECK(has_fact(m, "too-many-parts"));
    CHECK(m.parts.size() == 499); // the multipart itself is the first of the 500
    CHECK(m.parts.front().text.rfind("part 0", 0) == 0);

    const Verdict v = evaluate(*rules, {}, raw, Mode::dry_run);
    CHECK(v.would_action == Action::tempfail);
    CHECK(v.action == Action::accept); // dry-run applies nothing
}

TEST_CASE(
    "a big base64 part passes max_decoded_bytes: 16 MiB is kept and the parts after it are not decoded") {
    TempDir dir;
    const auto rules = quiet_rules(dir);
    const std::string text(17u << 20, 'x');
    const std::string raw = "From: news@example.com\r\nMIME-Version: 1.0\r\n"
                            "Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n"
                            "--p\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
                            base64(text) +
                            "--p\r\nContent-Type: text/plain\r\n\r\nafter the cap\r\n--p--\r\n";
    const ParsedMessage m = parse_message(raw);
    CHECK(has_fact(m, "decoded-too-large"));
    CHECK_FALSE(has_fact(m, "malformed-mime"));
    REQUIRE(m.parts.size() == 1);
    CHECK(m.parts[0].text.size() == 16u << 20);

    Limits small;
    small.max_decoded_bytes = 1u << 20;
    const Verdict v = evaluate(*rules, {}, raw, Mode::enforce, small);
    CHECK(noted(v, "decoded-too-large"));
    CHECK(v.would_action == Action::tempfail);
}

TEST_CASE("a cut inside a UTF-8 character leaves valid UTF-8 and no bad-charset fact") {
    Limits limits;
    limits.max_decoded_bytes = 1024;
    std::string body;
    while (body.size() < 2048)
        body += "\xE2\x82\xAC"; // €, 3 bytes: 1024 is not a multiple of 3
    const ParsedMessage m = parse_message(
        "From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n", limits);
    CHECK(has_fact(m, "decoded-too-large"));
    CHECK_FALSE(has_fact(m, "bad-charset"));
    REQUIRE(m.parts.size() == 1);
    CHECK(m.parts[0].text.size() == 1023);
}

TEST_CASE("3,000 links pass max_urls (2,000): the first 2,000 in MIME order are kept, over all parts") {
    TempDir dir;
    const auto rules = quiet_rules(dir);
    std::string html = "<p>";
    for (std::size_t i = 0; i < 1500; ++i)
        html += "<a href=\"https://example.com/h/" + std::to_string(i) + "\">offer " + std::to_string(i) +
                "</a> ";
    const std::string raw = "From: news@example.com\r\nMIME-Version: 1.0\r\n"
                            "Content-Type: multipart/alternative; boundary=\"p\"\r\n\r\n"
                            "--p\r\nContent-Type: text/plain\r\n\r\n" +
                            links_text(0, 1500) + "--p\r\nContent-Type: text/html\r\n\r\n" + html +
                            "</p>\r\n--p--\r\n";
    const ParsedMessage m = parse_message(raw);
    CHECK(has_fact(m, "too-many-urls"));
    CHECK(link_count(m) == 2000);
    REQUIRE(m.parts.size() == 2);
    CHECK(m.parts[0].links.size() == 1500);
    CHECK(m.parts[1].links.size() == 500);
    CHECK(m.parts[1].links.back().href == "https://example.com/h/499");
    CHECK(m.parts[1].text.find("offer 1499") != std::string::npos); // the text is all there

    const ParsedMessage plain = parse_message("From: a@example.com\r\n\r\n" + links_text(0, 3000));
    CHECK(has_fact(plain, "too-many-urls"));
    CHECK(link_count(plain) == 2000);
    CHECK_FALSE(
        has_fact(parse_message("From: a@example.com\r\n\r\n" + links_text(0, 2000)), "too-many-urls"));

    const Verdict v = evaluate(*rules, {}, raw, Mode::enforce);
    CHECK(v.would_action == Action::tempfail);
}

TEST_CASE("a time budget of 1 ms stops a heavy message between parts with a defined verdict") {
    TempDir dir;
    const auto rules = quiet_rules(dir);
    std::string html = "<div>";
    for (int i = 0; i < 40; ++i)
        html += "<p>paragraph <b>" + std::to_string(i) + "</b> <a href=\"https://example.com/\">link</a></p>";
    const std::string raw = with_parts(300, "text/html", html + "</div>"); // 850 KB of HTML in 300 parts
    Limits limits;
    limits.time_budget_ms = 1;
    const auto start = std::chrono::steady_clock::now();
    const ParsedMessage m = parse_message(raw, limits);
    CHECK(has_fact(m, "time-budget-exceeded"));
    CHECK(has_fact(m, "limit-exceeded"));
    CHECK(m.parts.size() < 300); // stopped before the end
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

    const Verdict v = evaluate(*rules, {}, raw, Mode::enforce, limits);
    CHECK(noted(v, "time-budget-exceeded"));
    CHECK(v.would_action == Action::tempfail);
    CHECK(v.action == Action::tempfail);
    CHECK(v.reply == "Message exceeds an outbound compliance inspection limit (time_budget_ms)");
    // A budget that suffices reads the whole message (a minute: a loaded test machine must not matter).
    limits.time_budget_ms = 60'000;
    const ParsedMessage whole = parse_message(raw, limits);
    CHECK(whole.parts.size() == 300);
    CHECK_FALSE(has_fact(whole, "time-budget-exceeded"));
}

TEST_CASE(
    "apply_limits: inspection past the budget is noted; the rules count up to tempfail on a partial read") {
    Verdict slow;
    slow.mode = Mode::enforce;
    Limits limits;
    limits.time_budget_ms = 50;
    CHECK(apply_limits(slow, limits, std::chrono::milliseconds(49)).empty());
    CHECK(slow.would_action == Action::accept);
    const auto passed = apply_limits(slow, limits, std::chrono::milliseconds(51));
    REQUIRE(passed.size() == 1);
    CHECK(passed[0].fact == "time-budget-exceeded");
    CHECK(noted(slow, "limit-exceeded"));
    CHECK(slow.action == Action::tempfail);

    Verdict held;
    held.mode = Mode::enforce;
    held.action = held.would_action = Action::quarantine;
    held.reply = "held by a rule";
    held.notes = {"too-many-urls", "limit-exceeded"};
    limits.on_limit = Action::tag;
    CHECK(apply_limits(held, limits, {}).size() == 1);
    CHECK(held.action == Action::quarantine); // stricter than on_limit and no refusal: it stands
    CHECK(held.reply == "held by a rule");

    // A refusal on a partial read is held back to tempfail; on_limit: reject still refuses.
    Verdict rejected;
    rejected.mode = Mode::enforce;
    rejected.action = rejected.would_action = Action::reject;
    rejected.reply = "Bulk mail must carry a List-Unsubscribe header";
    rejected.notes = {"too-many-parts", "limit-exceeded"};
    limits.on_limit = Action::accept;
    Verdict rejected_too = rejected;
    apply_limits(rejected, limits, {});
    CHECK(rejected.action == Action::tempfail);
    CHECK(rejected.reply == "Message exceeds an outbound compliance inspection limit (max_mime_parts)");
    limits.on_limit = Action::reject;
    apply_limits(rejected_too, limits, {});
    CHECK(rejected_too.action == Action::reject);
    CHECK(rejected_too.reply == "Bulk mail must carry a List-Unsubscribe header");

    Verdict dropped;
    dropped.mode = Mode::dry_run;
    dropped.would_action = Action::discard;
    dropped.notes = {"mime-too-deep", "limit-exceeded"};
    limits.on_limit = Action::tempfail;
    apply_limits(dropped, limits, {});
    CHECK(dropped.would_action == Action::tempfail);
    CHECK(dropped.action == Action::accept); // dry-run applies nothing

    Verdict tagged;
    tagged.mode = Mode::enforce;
    tagged.notes = {"header-too-long", "too-many-headers", "limit-exceeded"};
    limits.on_limit = Action::tag;
    const auto both = apply_limits(tagged, limits, {});
    REQUIRE(both.size() == 2);
    CHECK(both[0].key == "max_headers"); // in the order of presend.yaml
    CHECK(both[1].key == "max_header_line");
    CHECK(tagged.action == Action::tag);
}

TEST_CASE("limits: every key is read from presend.yaml") {
    TempDir dir;
    const auto file = dir.write("presend.yaml", R"(limits:
  max_message_bytes: 8M
  on_oversize: tag
  max_headers: 200
  max_header_line: 8K
  max_mime_depth: 10
  max_mime_parts: 100
  max_decoded_bytes: 4M
  max_urls: 300
  time_budget_ms: 500
  on_limit: quarantine
)");
    const Limits limits = load_config(file).limits;
    CHECK(limits.max_message_bytes == 8u << 20);
    CHECK(limits.on_oversize == Action::tag);
    CHECK(limits.max_headers == 200);
    CHECK(limits.max_header_line == 8u << 10);
    CHECK(limits.max_mime_depth == 10);
    CHECK(limits.max_mime_parts == 100);
    CHECK(limits.max_decoded_bytes == 4u << 20);
    CHECK(limits.max_urls == 300);
    CHECK(limits.time_budget_ms == 500);
    CHECK(limits.on_limit == Action::quarantine);
}

TEST_CASE("limits: the defaults hold without the section and with an empty one") {
    TempDir dir;
    for (const char* yaml : {"mode: dry-run\n", "limits:\n"}) {
        const Limits limits = load_config(dir.write("presend.yaml", yaml)).limits;
        CHECK(limits.max_message_bytes == 32u << 20);
        CHECK(limits.on_oversize == Action::accept);
        CHECK(limits.max_headers == 1000);
        CHECK(limits.max_header_line == 64u << 10);
        CHECK(limits.max_mime_depth == 32);
        CHECK(limits.max_mime_parts == 500);
        CHECK(limits.max_decoded_bytes == 16u << 20);
        CHECK(limits.max_urls == 2000);
        CHECK(limits.time_budget_ms == 2000);
        CHECK(limits.on_limit == Action::tempfail);
    }
}

TEST_CASE("limits: the shipped presend.yaml states every limit at its default") {
    const Limits shipped = load_config(PRESEND_FIXTURES_DIR "/../../contrib/presend.yaml").limits;
    const Limits defaults;
    for (const auto& limit : k_limit_facts) {
        INFO(limit.key);
        CHECK(shipped.*limit.value == defaults.*limit.value);
    }
    CHECK(shipped.max_message_bytes == defaults.max_message_bytes);
    CHECK(shipped.on_oversize == defaults.on_oversize);
    CHECK(shipped.on_limit == defaults.on_limit);
}

TEST_CASE("limits: bad values are refused with file:line:column") {
    TempDir dir;
    auto error_of = [&](const std::string& yaml) {
        try {
            load_config(dir.write("presend.yaml", yaml));
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::pair<const char*, const char*> cases[] = {
        {"limits:\n  max_headers: 0\n",
         "presend.yaml:2:16: max_headers: expected a whole number from 1 to 1000000"},
        {"limits:\n  max_urls: many\n", "presend.yaml:2:13: max_urls: expected a whole number from 1"},
        {"limits:\n  max_mime_depth: 5000\n",
         "presend.yaml:2:19: max_mime_depth: expected a whole number from 1 to 1000"},
        {"limits:\n  max_mime_parts: -1\n", "presend.yaml:2:19: max_mime_parts: expected a whole number"},
        {"limits:\n  time_budget_ms: 0\n",
         "presend.yaml:2:19: time_budget_ms: expected a whole number from 1 to 300000"},
        {"limits:\n  max_header_line: 100\n", "presend.yaml:2:20: max_header_line: must be at least 1K"},
        {"limits:\n  max_decoded_bytes: 16Q\n",
         "presend.yaml:2:22: max_decoded_bytes: expected a size in bytes"},
        {"limits:\n  on_limit: discard\n",
         "presend.yaml:2:13: on_limit: expected accept, tag, quarantine, tempfail or reject"},
        {"limits:\n  on_oversize: drop\n",
         "presend.yaml:2:16: on_oversize: expected accept, tag, quarantine"},
        {"limits:\n  max_url: 10\n", "presend.yaml:2:3: unknown key 'max_url' (did you mean 'max_urls'?)"},
        {"limits: [1, 2]\n", "presend.yaml:1:9: limits: expected a mapping"},
    };
    for (const auto& [yaml, expected] : cases) {
        INFO(yaml);
        CHECK_THAT(error_of(yaml), Catch::Contains(expected));
    }
}

TEST_CASE("rules may name the limit facts; lint knows them and suggests the nearest") {
    TempDir dir;
    dir.write("r.yaml", R"(rules:
  - {id: urls, description: x, fact: too-many-urls, score: 1}
  - {id: any-limit, description: x, fact: limit-exceeded, score: 1}
  - {id: slow, description: x, fact: time-budget-exceeded, score: 1}
)");
    const auto ok = load_rules(dir.path());
    CHECK(ok.ok());
    const std::string raw = "From: a@example.com\r\n\r\n" + links_text(0, 2001);
    CHECK(test::hit_ids(inspect(*ok.rules, parse_message(raw), {})) ==
          std::vector<std::string>{"urls", "any-limit"});

    dir.write("r.yaml", "rules:\n  - {id: typo, description: x, fact: too-many-url, score: 1}\n");
    const auto bad = load_rules(dir.path());
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.diagnostics.at(0).str(),
               Catch::Contains("unknown fact 'too-many-url' (did you mean 'too-many-urls'?)"));
}

TEST_CASE("daemon metrics: presend_limits_exceeded_total counts by limit key, every key from zero") {
    DaemonMetrics m;
    m.limit_exceeded("max_urls");
    m.limit_exceeded("max_urls");
    const auto text = m.render();
    CHECK_THAT(text, Catch::Contains("presend_limits_exceeded_total{limit=\"max_urls\"} 2\n"));
    for (const auto& limit : k_limit_facts)
        if (limit.key != "max_urls")
            CHECK_THAT(text, Catch::Contains("presend_limits_exceeded_total{limit=\"" +
                                             std::string(limit.key) + "\"} 0\n"));
}
