// test_report: `presend report` over the two-day fixture log in tests/fixtures/decisions: a gzip'd day of
// dry-run (decisions.jsonl.2.gz, 2026-11-26), a rotated dry-run morning with malformed lines
// (decisions.jsonl.1) and an enforce afternoon (decisions.jsonl, 2026-11-27), 29 decisions in all.
// The numbers asserted here were counted from the fixtures by hand and by an independent script.
#include "engine/report.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdlib.h>

namespace fs = std::filesystem;
using namespace presend::report;
using presend::test::TempDir;

namespace {

const std::string k_dir = PRESEND_FIXTURES_DIR "/decisions/";
const std::string k_day1_gz = k_dir + "decisions.jsonl.2.gz";
const std::string k_morning = k_dir + "decisions.jsonl.1";
const std::string k_afternoon = k_dir + "decisions.jsonl";

Report aggregate(const std::vector<std::string>& files, Options options = {}) {
    Aggregator aggregator(options);
    for (const auto& file : files)
        read_log(file, aggregator);
    return aggregator.finish(files);
}

Report whole_log(Options options = {}) {
    return aggregate({k_day1_gz, k_morning, k_afternoon}, options);
}

TimeMs at(const char* text) {
    const auto t = parse_rfc3339(text);
    REQUIRE(t);
    return *t;
}

std::uint64_t count_of(const std::vector<std::pair<std::string, std::uint64_t>>& table,
                       const std::string& key) {
    for (const auto& [name, n] : table)
        if (name == key) return n;
    return 0;
}

const RuleStats& rule(const Report& report, const std::string& id) {
    const auto it = std::find_if(report.rules.begin(), report.rules.end(),
                                 [&](const RuleStats& r) { return r.rule == id; });
    REQUIRE(it != report.rules.end());
    return *it;
}

const KeyCounts& key(const Ranking& ranking, const std::string& name) {
    const auto it = std::find_if(ranking.top.begin(), ranking.top.end(),
                                 [&](const KeyCounts& k) { return k.key == name; });
    REQUIRE(it != ranking.top.end());
    return *it;
}

const HourCounts& hour(const Report& report, const char* start) {
    const TimeMs t = at(start);
    const auto it = std::find_if(report.hourly.begin(), report.hourly.end(),
                                 [&](const HourCounts& h) { return h.hour == t; });
    REQUIRE(it != report.hourly.end());
    return *it;
}

// A decision line at 2026-11-27T06:00:00Z: `rest` is the rest of the object after its time.
std::string at_six(const std::string& rest) {
    return R"({"time":"2026-11-27T06:00:00Z",)" + rest;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

} // namespace

TEST_CASE("two days of plain, rotated and gzip'd logs: totals by verdict taken and would-be") {
    const Report r = whole_log();
    CHECK(r.lines == 33);
    CHECK(r.messages == 29);
    CHECK(r.malformed == 4);
    CHECK(r.out_of_range == 0);
    CHECK(r.would_block == 15);
    REQUIRE(r.first);
    CHECK(format_time(*r.first) == "2026-11-26T08:05:01.120Z");
    CHECK(format_time(*r.last) == "2026-11-27T23:59:59Z");

    CHECK(r.modes.at("dry-run") == 22);
    CHECK(r.modes.at("enforce") == 7);

    CHECK(count_of(r.actions, "accept") == 21); // dry-run delivers: only enforce and on_error act
    CHECK(count_of(r.actions, "tag") == 3);
    CHECK(count_of(r.actions, "tempfail") == 1);
    CHECK(count_of(r.actions, "reject") == 2);
    CHECK(count_of(r.actions, "quarantine") == 1);
    CHECK(count_of(r.actions, "discard") == 1);

    CHECK(count_of(r.would_actions, "accept") == 11);
    CHECK(count_of(r.would_actions, "tag") == 3);
    CHECK(count_of(r.would_actions, "quarantine") == 4);
    CHECK(count_of(r.would_actions, "tempfail") == 1);
    CHECK(count_of(r.would_actions, "reject") == 9);
    CHECK(count_of(r.would_actions, "discard") == 1);
    // Mildest first, as the verdicts are ordered.
    REQUIRE(r.would_actions.size() == 6);
    CHECK(r.would_actions.front().first == "accept");
    CHECK(r.would_actions.back().first == "discard");
}

TEST_CASE("per rule: messages hit, would-block messages and monitor hits") {
    const Report r = whole_log();
    REQUIRE(r.rules.size() == 9);

    CHECK(rule(r, "list-unsubscribe-missing").messages == 6);
    CHECK(rule(r, "list-unsubscribe-missing").would_block == 6);
    CHECK(rule(r, "spam-phrases").messages == 5);
    CHECK(rule(r, "spam-phrases").would_block == 3); // twice it only tagged
    CHECK(rule(r, "list-unsubscribe-post-missing").would_block == 2);
    CHECK(rule(r, "message-id-missing").would_block == 2);
    CHECK(rule(r, "known-spam-trap").would_block == 1); // discard blocks too
    CHECK(rule(r, "from-no-display-name").messages == 3);
    CHECK(rule(r, "from-no-display-name").would_block == 0);
    CHECK(rule(r, "subject-shouting").messages == 1);

    SECTION("a rule hitting two targets of one message counts that message once") {
        CHECK(rule(r, "url-shortener").messages == 4);
        CHECK(rule(r, "url-shortener").would_block == 4);
    }
    SECTION("a monitor hit never counts as blocking, even in a message that is blocked") {
        const RuleStats& no_id = rule(r, "message-id-missing");
        REQUIRE(no_id.examples.size() == 2);
        CHECK(no_id.examples[0].message_id.empty()); // the queue id is what finds it
        CHECK(no_id.examples[0].queue_id == "4Q0407AB11Z");

        const RuleStats& trial = rule(r, "trial-link-domain");
        CHECK(trial.messages == 4);
        CHECK(trial.monitor == 4);
        CHECK(trial.would_block == 0);
    }
    SECTION("ordered by would-block, then messages, then id") {
        CHECK(r.rules[0].rule == "list-unsubscribe-missing");
        CHECK(r.rules[1].rule == "url-shortener");
        CHECK(r.rules[2].rule == "spam-phrases");
        CHECK(r.rules[3].rule == "list-unsubscribe-post-missing");
        CHECK(r.rules[4].rule == "message-id-missing");
        CHECK(r.rules.back().rule == "subject-shouting");
    }
}

TEST_CASE("tenants and sender domains, a missing or empty tenant as (none)") {
    const Report r = whole_log();
    REQUIRE(r.tenants.top.size() == 4);
    CHECK(r.tenants.top[0].key == "acme");
    CHECK(r.tenants.top[0].counts.messages == 13);
    CHECK(r.tenants.top[0].counts.would_block == 8);
    CHECK(key(r.tenants, "globex").counts.messages == 8);
    CHECK(key(r.tenants, "globex").counts.would_block == 4);
    CHECK(key(r.tenants, "initech").counts.messages == 5);
    CHECK(key(r.tenants, "initech").counts.would_block == 2);
    CHECK(key(r.tenants, "(none)").counts.messages == 3);
    CHECK(key(r.tenants, "(none)").counts.would_block == 1);
    CHECK(r.tenants.others.messages == 0);

    REQUIRE(r.sender_domains.top.size() == 5);
    // "Bounce+4@News.Acme.Example" is the same domain as "bounce+1@news.acme.example".
    CHECK(key(r.sender_domains, "news.acme.example").counts.messages == 13);
    CHECK(key(r.sender_domains, "globex.example").counts.messages == 8);
    CHECK(key(r.sender_domains, "initech.example").counts.messages == 5);
    CHECK(key(r.sender_domains, "other.example").counts.would_block == 1);
    CHECK(key(r.sender_domains, "(null sender)").counts.messages == 1);

    SECTION("past the top N the rest fold into others") {
        Options options;
        options.top = 2;
        const Report few = whole_log(options);
        REQUIRE(few.sender_domains.top.size() == 2);
        CHECK(few.sender_domains.others_keys == 3);
        CHECK(few.sender_domains.others.messages == 8); // 5 + 2 + 1
        CHECK(few.sender_domains.others.would_block == 3);
    }
}

TEST_CASE("the hourly timeline covers every hour from the first message to the last") {
    const Report r = whole_log();
    // 2026-11-26 08:00 to 2026-11-27 23:00: 16 + 24 hours.
    REQUIRE(r.hourly.size() == 40);
    CHECK(format_time(r.hourly.front().hour) == "2026-11-26T08:00:00Z");
    CHECK(format_time(r.hourly.back().hour) == "2026-11-27T23:00:00Z");
    CHECK(hour(r, "2026-11-26T08:00:00Z").counts.messages == 3);
    CHECK(hour(r, "2026-11-26T08:00:00Z").counts.would_block == 2);
    CHECK(hour(r, "2026-11-26T23:00:00Z").counts.would_block == 2); // 23:59:59.999 is still 23h
    CHECK(hour(r, "2026-11-26T11:00:00Z").counts.messages == 0);    // empty hours are listed
    CHECK(hour(r, "2026-11-27T06:00:00Z").counts.messages == 2);
    CHECK(hour(r, "2026-11-27T12:00:00Z").counts.would_block == 1);
    std::uint64_t sum = 0, blocked = 0;
    for (const auto& h : r.hourly) {
        sum += h.counts.messages;
        blocked += h.counts.would_block;
    }
    CHECK(sum == r.messages);
    CHECK(blocked == r.would_block);
}

TEST_CASE("the time window includes --since and excludes --until") {
    Options day2;
    day2.since = at("2026-11-27T00:00:00Z");
    const Report r2 = whole_log(day2);
    CHECK(r2.messages == 15);
    CHECK(r2.out_of_range == 14);
    CHECK(r2.would_block == 8);
    CHECK(format_time(*r2.first) == "2026-11-27T00:00:00Z"); // on the bound: counted

    Options day1;
    day1.until = at("2026-11-27T00:00:00Z");
    const Report r1 = whole_log(day1);
    CHECK(r1.messages == 14);
    CHECK(r1.would_block == 7);
    CHECK(rule(r1, "list-unsubscribe-missing").messages == 3);

    Options afternoon;
    afternoon.since = at("2026-11-27T12:00:00Z");
    afternoon.until = at("2026-11-27T23:59:59Z");
    const Report ra = whole_log(afternoon);
    CHECK(ra.messages == 6); // 23:59:59 is the until bound: left out
    CHECK(ra.modes.size() == 1);
    CHECK(ra.modes.at("enforce") == 6);
    CHECK(ra.malformed == 4); // malformed lines are counted whatever the filter
}

TEST_CASE("a gzip'd rotated log reads like a plain one") {
    const Report r = aggregate({k_day1_gz});
    CHECK(r.lines == 14);
    CHECK(r.messages == 14);
    CHECK(r.malformed == 0);
    CHECK(r.would_block == 7);
    CHECK(count_of(r.would_actions, "reject") == 4);
    CHECK(r.read_errors.empty());

    SECTION("a gzip file cut short keeps the lines before the cut and records the error") {
        TempDir tmp;
        const std::string gz = slurp(k_day1_gz);
        const std::string cut = (tmp.path() / "cut.jsonl.gz").string();
        std::ofstream(cut, std::ios::binary) << gz.substr(0, gz.size() - 20);
        const Report partial = aggregate({cut});
        REQUIRE(partial.read_errors.size() == 1);
        CHECK(partial.read_errors[0].find("cut.jsonl.gz") != std::string::npos);
        CHECK(partial.messages >= 10);
        CHECK(partial.messages + partial.malformed <= 14);
    }
}

TEST_CASE("malformed lines are counted and located, never fatal") {
    const Report r = whole_log();
    REQUIRE(r.malformed_examples.size() == 4);
    CHECK(r.malformed_examples[0].file == k_morning);
    CHECK(r.malformed_examples[0].line == 3); // truncated write
    CHECK(r.malformed_examples[0].reason.find("invalid JSON") != std::string::npos);
    CHECK(r.malformed_examples[1].line == 7); // line 5 is blank: skipped, yet counted in line numbers
    CHECK(r.malformed_examples[1].reason == "not a JSON object");
    CHECK(r.malformed_examples[2].line == 10);
    CHECK(r.malformed_examples[2].reason.find("RFC 3339") != std::string::npos);
    CHECK(r.malformed_examples[3].file == k_afternoon);
    CHECK(r.malformed_examples[3].line == 4);
    CHECK(r.malformed_examples[3].reason == "no time");

    SECTION("line by line") {
        Aggregator a{Options{}};
        a.add_line(at_six(R"("action":"accept","would_action":"accept","hits":[],"x":{"y":[1,{"z":null}]}})"),
                   "t", 1);
        a.add_line(at_six(R"("action":"accept","would_action":"reject","hits":{"rule":"r"}})"), "t", 2);
        a.add_line(at_six(R"("action":"accept","would_action":"reject","hits":[{"target":"subject"}]})"), "t",
                   3);
        a.add_line(at_six(R"("action":"accept","hits":[]})"), "t", 4);
        a.add_line(R"({"time":1764223200,"action":"accept","would_action":"accept"})", "t", 5);
        a.add_line(at_six(R"("action":"accept","would_action":"accept"} trailing)"), "t", 6);
        a.add_line("   ", "t", 7);
        a.add_line(at_six(R"("action":"accept","would_action":"accept","mode":7,"tenant":null})"), "t", 8);
        const Report lines = a.finish({"t"});
        CHECK(lines.lines == 7);
        // 1 (unknown nested keys ignored) and 8 (odd types of optional keys ignored)
        CHECK(lines.messages == 2);
        REQUIRE(lines.malformed == 5);
        REQUIRE(lines.malformed_examples.size() == 5);
        CHECK(lines.malformed_examples[0].reason == "hits is not an array");
        CHECK(lines.malformed_examples[1].reason == "a hit has no rule");
        CHECK(lines.malformed_examples[2].reason == "no would_action");
        CHECK(lines.malformed_examples[3].reason == "time has the wrong type");
        CHECK(lines.malformed_examples[4].reason.find("invalid JSON") != std::string::npos);
    }
    SECTION("a line past the length limit, and a last line without its newline") {
        TempDir tmp;
        const std::string path = (tmp.path() / "odd.jsonl").string();
        {
            std::ofstream out(path, std::ios::binary);
            out << std::string(3 << 20, 'x') << "\n";
            out << R"({"time":"2026-11-27T06:00:00Z","action":"accept","would_action":"accept","hits":[]})"
                << "\r\n";
            out << R"({"time":"2026-11-27T07:00:00Z","action":"accept","would_action":"accept","hits":[]})";
        }
        const Report odd = aggregate({path});
        CHECK(odd.messages == 2);
        REQUIRE(odd.malformed == 1);
        CHECK(odd.malformed_examples[0].line == 1);
        CHECK(odd.malformed_examples[0].reason.find("longer than") != std::string::npos);
    }
}

TEST_CASE("latency p50 and p99 from latency_us where present") {
    const Report r = whole_log();
    REQUIRE(r.latency);
    CHECK(r.latency->samples == 28); // one line has no latency_us
    CHECK(r.latency->p50_us == Approx(1100).epsilon(0.01));
    CHECK(r.latency->p99_us == 50000);
    CHECK(r.latency->max_us == 50000);

    Aggregator a{Options{}};
    for (int i = 1; i <= 1000; ++i)
        a.add_line(
            R"({"time":"2026-11-27T06:00:00Z","action":"accept","would_action":"accept","latency_us":)" +
                std::to_string(i * 100) + "}",
            "t", static_cast<std::uint64_t>(i));
    const Report spread = a.finish({"t"});
    REQUIRE(spread.latency);
    CHECK(spread.latency->p50_us == Approx(50000).epsilon(0.01));
    CHECK(spread.latency->p99_us == Approx(99000).epsilon(0.01));
}

TEST_CASE("examples per rule: blocking messages first, --examples N of them") {
    Options two;
    two.examples = 2;
    const Report r = whole_log(two);
    const RuleStats& missing = rule(r, "list-unsubscribe-missing");
    REQUIRE(missing.examples.size() == 2);
    CHECK(missing.examples[0].message_id == "<20261101.0013@news.acme.example>");
    CHECK(missing.examples[0].queue_id == "4Q0037AB01Z");
    CHECK(missing.examples[0].would_block);

    const RuleStats& spam = rule(r, "spam-phrases");
    REQUIRE(spam.examples.size() == 2);
    CHECK(spam.examples[0].would_block);
    CHECK(spam.examples[1].would_block); // a later blocked message wins over an earlier tagged one

    const RuleStats& no_id = rule(r, "message-id-missing");
    REQUIRE(no_id.examples.size() == 2);
    CHECK(no_id.examples[0].message_id.empty()); // the queue id is what finds it
    CHECK(no_id.examples[0].queue_id == "4Q0407AB11Z");

    const RuleStats& trial = rule(r, "trial-link-domain");
    REQUIRE(trial.examples.size() == 2);
    CHECK_FALSE(trial.examples[0].would_block);

    Options none;
    none.examples = 0;
    CHECK(rule(whole_log(none), "spam-phrases").examples.empty());
}

TEST_CASE("time arguments: RFC 3339, dates, spans back from now") {
    CHECK(*parse_rfc3339("2026-11-27T06:13:08.270Z") == 1795759988270);
    CHECK(format_time(*parse_rfc3339("2026-11-27T06:13:08.270Z")) == "2026-11-27T06:13:08.270Z");
    CHECK(*parse_rfc3339("1970-01-01T00:00:00Z") == 0);
    CHECK(*parse_rfc3339("2026-11-27T07:13:08.270+01:00") == *parse_rfc3339("2026-11-27T06:13:08.270Z"));
    CHECK(*parse_rfc3339("2026-11-27T06:13:08.270123Z") == *parse_rfc3339("2026-11-27T06:13:08.270Z"));
    CHECK(*parse_rfc3339("2024-02-29T00:00:00Z") - *parse_rfc3339("2024-02-28T00:00:00Z") == 86400000);
    CHECK_FALSE(parse_rfc3339("2026-11-27")); // a log line needs a time of day
    CHECK_FALSE(parse_rfc3339("2026-02-30T00:00:00Z"));
    CHECK_FALSE(parse_rfc3339("2026-11-27T24:00:00Z"));
    CHECK_FALSE(parse_rfc3339("yesterday"));

    const TimeMs now = *parse_rfc3339("2026-11-27T12:00:00Z");
    CHECK(format_time(*parse_time_arg("2026-11-27", now)) == "2026-11-27T00:00:00Z");
    CHECK(format_time(*parse_time_arg("2026-11-27T06:00", now)) == "2026-11-27T06:00:00Z");
    CHECK(format_time(*parse_time_arg("24h", now)) == "2026-11-26T12:00:00Z");
    CHECK(format_time(*parse_time_arg("7d", now)) == "2026-11-20T12:00:00Z");
    CHECK(format_time(*parse_time_arg("90m", now)) == "2026-11-27T10:30:00Z");
    CHECK(format_time(*parse_time_arg("2w", now)) == "2026-11-13T12:00:00Z");
    CHECK(*parse_time_arg("now", now) == now);
    CHECK_FALSE(parse_time_arg("yesterday", now));
    CHECK_FALSE(parse_time_arg("7x", now));
    CHECK_FALSE(parse_time_arg("h", now));
    CHECK_FALSE(parse_time_arg("2026-13-01", now));
}

TEST_CASE("text report: aligned, within 100 columns, control characters neutralised") {
    const std::string text = render_text(whole_log());
    std::istringstream lines(text);
    std::size_t longest = 0;
    for (std::string line; std::getline(lines, line);) {
        std::size_t width = 0;
        for (unsigned char c : line)
            width += (c & 0xC0) != 0x80;
        longest = std::max(longest, width);
    }
    CHECK(longest <= 100);
    CHECK(text.find("messages 29, would block 15 (51.7%)") != std::string::npos);
    CHECK(text.find("list-unsubscribe-missing") != std::string::npos);
    CHECK(text.find(k_morning + ":3: invalid JSON") != std::string::npos);
    CHECK(text.find("2026-11-26 08:00") != std::string::npos); // hourly: the span is under 48 hours
    CHECK(text.find("(no Message-ID)  queue 4Q0407AB11Z") != std::string::npos);

    Aggregator a{Options{}};
    a.add_line(at_six(R"("action":"accept","would_action":"reject","message_id":"<\u001b[31mred@x>",)"
                      R"("hits":[{"rule":"r"}]})"),
               "t", 1);
    const std::string hostile = render_text(a.finish({"t"}));
    CHECK(hostile.find('\x1b') == std::string::npos);
    CHECK(hostile.find("<?[31mred@x>") != std::string::npos);
}

TEST_CASE("JSON report: one object with the documented keys") {
    const auto j = nlohmann::json::parse(render_json(whole_log()));
    for (const char* k : {"report_version", "inputs", "filter", "range", "lines", "malformed_examples",
                          "read_errors", "modes", "actions", "would_actions", "would_block", "rules",
                          "tenants", "sender_domains", "hourly", "latency_us", "capped"})
        CHECK(j.contains(k));
    CHECK(j["lines"]["messages"] == 29);
    CHECK(j["lines"]["malformed"] == 4);
    CHECK(j["would_actions"]["reject"] == 9);
    CHECK(j["range"]["first"] == "2026-11-26T08:05:01.120Z");
    CHECK(j["filter"]["since"].is_null());
    CHECK(j["rules"][0]["rule"] == "list-unsubscribe-missing");
    CHECK(j["rules"][0]["would_block"] == 6);
    CHECK(j["rules"][0]["examples"].size() == 3);
    CHECK(j["tenants"]["top"][0]["key"] == "acme");
    CHECK(j["sender_domains"]["others"]["messages"] == 0);
    CHECK(j["hourly"].size() == 40);
    CHECK(j["hourly"][0]["hour"] == "2026-11-26T08:00:00Z");
    CHECK(j["latency_us"]["p99"] == 50000);
}

TEST_CASE("HTML report: one self-contained page, everything from the log escaped") {
    const std::string html = render_html(whole_log());
    CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(html.find("<title>presend report: 2026-11-26 to 2026-11-27</title>") != std::string::npos);
    CHECK(html.find("id=\"verdict-chart\"") != std::string::npos);
    CHECK(html.find("id=\"timeline-chart\"") != std::string::npos);
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg")); // the SVG namespace, no fetch
    CHECK(html.find("https://") == std::string::npos);
    CHECK(html.find("&lt;promo&amp;&quot;deal&quot;@globex.example&gt;") != std::string::npos);
    CHECK(html.find("<promo&") == std::string::npos);

    Aggregator a{Options{}};
    a.add_line(at_six(R"("action":"accept","would_action":"reject","tenant":"<script>alert(1)</script>",)"
                      R"("hits":[{"rule":"<img src=x onerror=alert(1)>"}]})"),
               "t", 1);
    const std::string hostile = render_html(a.finish({"t"}));
    CHECK(hostile.find("<script") == std::string::npos);
    CHECK(hostile.find("<img") == std::string::npos);
    CHECK(hostile.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
}

TEST_CASE("an empty log gives an empty report, not an error") {
    TempDir tmp;
    const std::string path = (tmp.path() / "empty.jsonl").string();
    std::ofstream(path).close();
    const Report r = aggregate({path});
    CHECK(r.messages == 0);
    CHECK_FALSE(r.first);
    CHECK(r.hourly.empty());
    CHECK_FALSE(r.latency);
    CHECK(render_text(r).find("no messages") != std::string::npos);
    CHECK(nlohmann::json::parse(render_json(r))["range"]["first"].is_null());
    CHECK(render_html(r).find("</html>") != std::string::npos);
    CHECK_THROWS_WITH(aggregate({(tmp.path() / "absent.jsonl").string()}), Catch::Contains("absent.jsonl"));
}

TEST_CASE("suppressed recipients: refused, would be refused, and store errors, in every format") {
    Aggregator a{Options{}};
    a.add_line(at_six(R"("action":"accept","would_action":"accept","hits":[],"mode":"enforce",)"
                      R"("suppressed":[{"rcpt":"a@x.example","reason":"hard_bounce","domain_entry":false,)"
                      R"("result":"reject"},{"rcpt":"b@x.example","result":"reject"}]})"),
               "t", 1);
    a.add_line(at_six(R"("action":"accept","would_action":"accept","hits":[],"mode":"dry-run",)"
                      R"("suppressed":[{"result":"would_reject","rcpt":"c@x.example"}],)"
                      R"("suppression_errors":[{"rcpt":"d@x.example","error":"down","result":"accept"}]})"),
               "t", 2);
    a.add_line(
        at_six(R"("action":"tempfail","would_action":"tempfail","hits":[],"notes":["ended-before-eom"],)"
               R"("suppression_errors":[{"rcpt":"e@x.example","error":"down","result":"tempfail"}]})"),
        "t", 3);
    const Report r = a.finish({"t"});
    CHECK(r.messages == 3);
    CHECK(r.malformed == 0);
    CHECK(r.suppressed == 3);
    CHECK(r.suppressed_refused == 2);
    CHECK(r.suppression_errors == 2);

    CHECK_THAT(render_text(r), Catch::Contains("suppressed recipients 3 (refused 2, would be refused 1), "
                                               "suppression store errors 2"));
    const auto j = nlohmann::json::parse(render_json(r));
    CHECK(j["suppressed_recipients"]["total"] == 3);
    CHECK(j["suppressed_recipients"]["refused"] == 2);
    CHECK(j["suppressed_recipients"]["would_refuse"] == 1);
    CHECK(j["suppressed_recipients"]["store_errors"] == 2);
    CHECK_THAT(render_html(r), Catch::Contains("id=\"total-suppressed\""));

    // A log from before the suppression list: no line about it in the text report.
    CHECK(render_text(whole_log()).find("suppressed recipients") == std::string::npos);
}

TEST_CASE("message classes and attestation bases, and old logs without them") {
    Aggregator a{Options{}};
    const std::string ok = R"("action":"accept","would_action":"accept","hits":[],"mode":"enforce",)";
    a.add_line(at_six(ok + R"("class":"bulk","attestation":{"tenant":"acme","list":"l1","basis":"double-opt-in"}})"),
               "t", 1);
    a.add_line(at_six(ok + R"("class":"bulk","attestation":{"basis":"double-opt-in","list":"l2"}})"), "t", 2);
    a.add_line(at_six(ok + R"("class":"bulk","attestation":{"list":"l3","basis":"customer-relationship"}})"), "t",
               3);
    a.add_line(at_six(R"("action":"reject","would_action":"reject","hits":[{"rule":"consent-missing"}],)"
                      R"("class":"bulk"})"),
               "t", 4);
    a.add_line(at_six(ok + R"("class":"transactional","attestation":null})"), "t", 5);
    const Report r = a.finish({"t"});
    REQUIRE(r.malformed == 0);
    CHECK(key(r.classes, "bulk").counts.messages == 4);
    CHECK(key(r.classes, "bulk").counts.would_block == 1);
    CHECK(key(r.classes, "transactional").counts.messages == 1);
    CHECK(key(r.attestation_bases, "double-opt-in").counts.messages == 2);
    CHECK(key(r.attestation_bases, "customer-relationship").counts.messages == 1);
    CHECK(key(r.attestation_bases, "(no attestation)").counts.messages == 2);
    CHECK(key(r.attestation_bases, "(no attestation)").counts.would_block == 1);

    const std::string text = render_text(r);
    CHECK_THAT(text, Catch::Contains("CLASS"));
    CHECK_THAT(text, Catch::Contains("ATTESTATION BASIS"));
    const auto j = nlohmann::json::parse(render_json(r));
    CHECK(j["classes"]["top"][0]["key"] == "bulk");
    CHECK(j["attestation_bases"]["top"].size() == 3);
    CHECK_THAT(render_html(r), Catch::Contains("id=\"attestation-bases\""));

    // The fixture log predates both: JSON says "(none)", the text and HTML reports leave the tables out.
    const Report old = whole_log();
    CHECK(key(old.classes, "(none)").counts.messages == old.messages);
    CHECK(render_text(old).find("ATTESTATION BASIS") == std::string::npos);
    CHECK(render_html(old).find("id=\"classes\"") == std::string::npos);
}
