// feedback: Postfix log lines → throttle events (each shipped signature, and the deferrals and bounces
// that must not count), the back-off curve under a controlled clock, and the feedback: config section.
#include "engine/report.hpp"
#include "presend/config.hpp"
#include "presend/decision_log.hpp"
#include "presend/feedback.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <thread>

using namespace presend;
using namespace std::chrono_literals;
using presend::test::TempDir;

namespace {

std::vector<std::string> fixture_lines(const std::string& name) {
    std::ifstream in(std::string(PRESEND_FIXTURES_DIR) + "/postfix-logs/" + name);
    REQUIRE(in);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

// The fixture logs are from late November; a clock in that year reads their syslog stamps.
SystemTime fixture_now() {
    return SystemTime(std::chrono::seconds(1796000000)); // 2026-11-30
}

const SignatureSet& shipped() {
    static const SignatureSet set(default_throttle_signatures());
    return set;
}

DeliveryReport report_of(const std::string& line) {
    auto report = parse_delivery_report(line, shipped(), fixture_now());
    REQUIRE(report);
    return *report;
}

SystemTime at(int minutes, int seconds = 0) {
    return SystemTime(std::chrono::seconds(1795773600)) + std::chrono::minutes(minutes) +
           std::chrono::seconds(seconds); // 2026-11-27T10:00:00Z
}

DeliveryReport event(SystemTime when, std::string queue_id) {
    DeliveryReport e;
    e.time = when;
    e.queue_id = std::move(queue_id);
    e.throttling = true;
    e.signature = "microsoft-ip-reputation";
    return e;
}

BackoffSettings test_settings() {
    BackoffSettings s;
    s.threshold = 3;
    s.window = 5min;
    s.curve = {0.5, 0.25, 0.1};
    s.hold = 10min;
    s.recover_every = 5min;
    s.recover_factor = 2;
    return s;
}

} // namespace

TEST_CASE("each shipped signature names the throttling reply it matches") {
    const auto lines = fixture_lines("signatures.log");
    const std::vector<std::pair<std::size_t, std::string>> expected = {
        {0, "microsoft-ip-reputation"}, {1, "microsoft-ip-reputation"}, // 4.7.651 shares the IP family
        {2, "microsoft-server-busy"},   {3, "yahoo-tss04"},
        {4, "yahoo-tss04"},             {5, "gmail-unsolicited-rate"},
        {6, "gmail-recipient-rate"},    {7, "generic-rate-limit"},
        {8, "generic-too-many-connections"},
    };
    for (const auto& [index, signature] : expected) {
        INFO(lines[index]);
        const auto r = report_of(lines[index]);
        CHECK(r.throttling);
        CHECK(r.signature == signature);
    }
}

TEST_CASE("a throttling delivery line gives recipient domain, relay, dsn, time and reply") {
    const auto r = report_of(fixture_lines("signatures.log")[0]);
    CHECK(r.queue_id == "4C2D1A7E01");
    CHECK(r.recipient == "alice@hotmail.com");
    CHECK(r.domain == "hotmail.com");
    CHECK(r.relay == "hotmail-com.olc.protection.outlook.com[52.101.68.6]:25");
    CHECK(r.relay_host == "hotmail-com.olc.protection.outlook.com");
    CHECK(r.dsn == "4.7.650");
    CHECK(r.status == "deferred");
    CHECK(r.reply.rfind("451 4.7.650 The mail server [198.51.100.20] has been temporarily rate limited", 0) == 0);
    CHECK(r.reply.find("in reply to") == std::string::npos);
    REQUIRE(r.time);
}

TEST_CASE("a connection-level line gives the relay host and the reply, no recipient") {
    const auto r = report_of(fixture_lines("signatures.log")[3]);
    CHECK(r.queue_id == "8C1D3C0A20");
    CHECK(r.recipient.empty());
    CHECK(r.relay_host == "mta6.am0.yahoodns.net");
    CHECK(r.dsn == "4.7.0");
    CHECK(r.reply.rfind("421 4.7.0 [TSS04]", 0) == 0);
    const auto nameless = report_of(fixture_lines("signatures.log")[8]);
    CHECK(nameless.queue_id == "9A3B5D7F24");
    CHECK(nameless.relay_host == "mx1.isp.example.net");
}

TEST_CASE("multi-line replies are joined so a signature's words meet") {
    const auto r = report_of(fixture_lines("signatures.log")[5]);
    CHECK(r.reply.find("unusual rate of unsolicited mail") != std::string::npos);
    CHECK(r.reply.find("421-4.7.28") == std::string::npos);
    CHECK(r.reply.rfind("421 4.7.28 [198.51.100.20", 0) == 0);
    CHECK(r.dsn == "4.7.28");
}

TEST_CASE("full mailboxes, refused connections, DNS failures, bounces and repeats never count") {
    const auto lines = fixture_lines("signatures.log");
    for (std::size_t i : {9u, 10u, 11u, 12u, 13u, 14u, 15u}) {
        INFO(lines[i]);
        const auto r = parse_delivery_report(lines[i], shipped(), fixture_now());
        REQUIRE(r);
        CHECK_FALSE(r->throttling);
    }
    // A 5xx bounce that mentions a rate limit is a bounce: permanent, nothing to slow down for.
    CHECK(report_of(lines[12]).status == "bounced");
    // Lines that report no answer from a server are not delivery reports at all.
    for (std::size_t i : {16u, 17u}) {
        INFO(lines[i]);
        CHECK_FALSE(parse_delivery_report(lines[i], shipped(), fixture_now()));
    }
    CHECK_FALSE(parse_delivery_report("", shipped(), fixture_now()));
    CHECK_FALSE(parse_delivery_report("Nov 27 10:00:01 mx1 postfix/smtp[1]: ABC: to=<trunc", shipped(),
                                      fixture_now()));
}

TEST_CASE("both syslog time stamp forms are read") {
    const auto rfc = report_of(fixture_lines("microsoft-throttle.log")[4]);
    REQUIRE(rfc.time);
    CHECK(*rfc.time == at(0, 5));
    const auto traditional = report_of(fixture_lines("signatures.log")[0]);
    REQUIRE(traditional.time);
    CHECK(*traditional.time > at(-24 * 60));
    CHECK(*traditional.time < at(24 * 60));
}

TEST_CASE("a followed line is dated by its own time stamp within 10 minutes of now, else when read") {
    const SystemTime read = at(30);
    CHECK(followed_line_time(at(25), read) == at(25));       // read late: its own time
    CHECK(followed_line_time(at(30, 5), read) == at(30, 5)); // a clock a little ahead
    CHECK(followed_line_time(at(20), read) == at(20));       // the bound itself
    CHECK(followed_line_time(at(19, 59), read) == read);     // older: another zone, a wrong clock
    CHECK(followed_line_time(at(41), read) == read);         // ahead by more
    CHECK(followed_line_time(std::nullopt, read) == read);
    // A real line read a minute, then an hour, after its stamp.
    const auto line = fixture_lines("signatures.log")[0];
    const auto report = report_of(line);
    REQUIRE(report.time);
    CHECK(followed_line_time(report.time, *report.time + 1min) == *report.time);
    CHECK(followed_line_time(report.time, *report.time + 1h) == *report.time + 1h);
}

TEST_CASE("groups come from the recipient domain, else from the relay, else the domain itself") {
    const auto groups = default_destination_groups(); // the rates: table, shipped
    const auto lines = fixture_lines("signatures.log");
    CHECK(group_of(report_of(lines[0]), groups) == "microsoft");
    CHECK(group_of(report_of(lines[3]), groups) == "yahoo");   // connection level: by relay
    CHECK(group_of(report_of(lines[4]), groups) == "yahoo");   // relay=none: by domain
    CHECK(group_of(report_of(lines[6]), groups) == "google");  // googlemail.com
    CHECK(group_of(report_of(lines[7]), groups) == "mail.example.de");
    CHECK(group_of(report_of(lines[8]), groups).empty());      // no recipient, unknown relay
    DeliveryReport hosted;
    hosted.domain = "customer.example";
    hosted.relay_host = "customer-example.mail.protection.outlook.com";
    CHECK(group_of(hosted, groups) == "microsoft");
    // A config's own groups: its domains first, then its mx: suffixes.
    TempDir dir;
    const auto config = load_config(dir.write("presend.yaml", R"(rates:
  backend: none
  groups:
    ms-consumer: [hotmail.com]
    acme: {domains: [acme.example], mx: [mx.acme-hosting.example]}
)"));
    CHECK(group_of(report_of(lines[0]), config.rates.groups) == "ms-consumer");
    DeliveryReport at_acme;
    at_acme.relay_host = "in2.MX.acme-hosting.example.";
    CHECK(group_of(at_acme, config.rates.groups) == "acme");
    at_acme.domain = "customer.example";
    CHECK(group_of(at_acme, config.rates.groups) == "acme"); // hosted there
}

TEST_CASE("config signatures are tried first; shipped ones can be switched off") {
    FeedbackConfig config;
    config.signatures = {{"acme-slow-down", "4\\.7\\.1 .*slow down"}};
    const auto with_defaults = SignatureSet::from_config(config);
    CHECK(with_defaults.match("450 4.7.1 Please slow down, rate limit") == "acme-slow-down");
    CHECK(with_defaults.match("421 4.7.0 [TSS04] Messages from x temporarily deferred") == "yahoo-tss04");
    config.default_signatures = false;
    const auto own = SignatureSet::from_config(config);
    CHECK(own.size() == 1);
    CHECK_FALSE(own.match("421 4.7.0 [TSS04] Messages from x temporarily deferred"));
}

TEST_CASE("sample lines mask recipient local parts and are cut") {
    const auto masked = mask_log_line(fixture_lines("signatures.log")[0]);
    CHECK(masked.find("alice") == std::string::npos);
    CHECK(masked.find("to=<***@hotmail.com>") != std::string::npos);
    CHECK(masked.size() <= k_max_sample_chars);
    CHECK(mask_log_line("from=<bounces+1@news.example.net>, size=1") == "from=<***@news.example.net>, size=1");
    CHECK(mask_log_line("to=<>") == "to=<>");
    CHECK(mask_log_line(std::string(1000, 'x')).size() == k_max_sample_chars);
    CHECK(mask_log_line(std::string(298, 'x') + "\xc3\xa9xx") == std::string(298, 'x') + "\xc3\xa9");
    CHECK(mask_log_line(std::string(299, 'x') + "\xc3\xa9") == std::string(299, 'x'));
}

TEST_CASE("back-off engages at the threshold within the window, not below it") {
    Backoff backoff(test_settings());
    CHECK_FALSE(backoff.record("microsoft", event(at(0), "A"), "line").change);
    CHECK_FALSE(backoff.record("microsoft", event(at(1), "B"), "line").change);
    CHECK(backoff.factor("microsoft", at(1)) == 1.0);
    // A third event outside the window of the first two does not make a burst; three within it do.
    CHECK_FALSE(backoff.record("microsoft", event(at(6, 30), "C"), "line").change);
    CHECK_FALSE(backoff.record("microsoft", event(at(7), "D"), "line").change);
    const auto r = backoff.record("microsoft", event(at(7, 10), "E"), "to=<x@hotmail.com> line");
    REQUIRE(r.change);
    CHECK(r.change->kind == BackoffChange::Kind::enter);
    CHECK(r.change->from == 1.0);
    CHECK(r.change->to == 0.5);
    CHECK(r.change->why.events == 3);
    CHECK(r.change->why.signature == "microsoft-ip-reputation");
    CHECK(r.change->why.since == at(7, 10));
    CHECK(r.change->why.sample == "to=<***@hotmail.com> line");
    CHECK(backoff.factor("microsoft", at(7, 10)) == 0.5);
    CHECK(backoff.factor("google", at(7, 10)) == 1.0);
}

TEST_CASE("the same message deferred for several recipients counts once") {
    Backoff backoff(test_settings());
    CHECK(backoff.record("microsoft", event(at(0), "A"), "").counted);
    CHECK_FALSE(backoff.record("microsoft", event(at(0, 1), "A"), "").counted);
    CHECK_FALSE(backoff.record("microsoft", event(at(0, 2), "A"), "").change);
    CHECK(backoff.factor("microsoft", at(1)) == 1.0);
    // Retried later, it is a new answer.
    CHECK(backoff.record("microsoft", event(at(2), "A"), "").counted);
}

TEST_CASE("each further burst steps one down the curve, and the last step holds") {
    Backoff backoff(test_settings());
    auto burst = [&](int minute, const std::string& tag) {
        std::optional<BackoffChange> last;
        for (int i = 0; i < 3; ++i)
            if (auto r = backoff.record("microsoft", event(at(minute, i), tag + std::to_string(i)), "");
                r.change)
                last = r.change;
        return last;
    };
    REQUIRE(burst(0, "a"));
    const auto down = burst(1, "b");
    REQUIRE(down);
    CHECK(down->kind == BackoffChange::Kind::down);
    CHECK(down->from == 0.5);
    CHECK(down->to == 0.25);
    CHECK(down->why.since == at(0, 2));
    REQUIRE(burst(2, "c"));
    CHECK(backoff.factor("microsoft", at(2, 3)) == 0.1);
    CHECK_FALSE(burst(3, "d")); // already at the bottom: no change, the hold starts again
    CHECK(backoff.factor("microsoft", at(3, 2) + 10min - 1s) == 0.1);
}

TEST_CASE("after the hold the factor recovers step by step, then clears") {
    Backoff backoff(test_settings()); // hold 10 min, then ×2 every 5 min
    for (int i = 0; i < 3; ++i)
        backoff.record("microsoft", event(at(0, i), std::to_string(i)), "");
    const SystemTime entered = at(0, 2);
    for (int i = 0; i < 3; ++i)
        backoff.record("microsoft", event(at(1, i), "b" + std::to_string(i)), "");
    const SystemTime stepped = at(1, 2); // now 0.25
    CHECK(backoff.advance(stepped + 14min).empty());
    CHECK(backoff.factor("microsoft", stepped + 10min) == 0.25);        // held
    CHECK(backoff.factor("microsoft", stepped + 15min - 1s) == 0.25);   // the first step is due at hold + 5 min
    CHECK(backoff.factor("microsoft", stepped + 15min) == 0.5);
    auto changes = backoff.advance(stepped + 15min);
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].kind == BackoffChange::Kind::up);
    CHECK(changes[0].from == 0.25);
    CHECK(changes[0].to == 0.5);
    CHECK(changes[0].at == stepped + 15min);
    CHECK(changes[0].why.since == entered);
    REQUIRE(backoff.snapshot(stepped + 15min).size() == 1);
    changes = backoff.advance(stepped + 1h); // one more step to 1.0: cleared, reported at its own time
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].kind == BackoffChange::Kind::clear);
    CHECK(changes[0].to == 1.0);
    CHECK(changes[0].at == stepped + 20min);
    CHECK(backoff.factor("microsoft", stepped + 1h) == 1.0);
    CHECK(backoff.snapshot(stepped + 1h).empty());
    CHECK(backoff.advance(stepped + 2h).empty());
}

TEST_CASE("an event during recovery restarts it from the factor reached") {
    Backoff backoff(test_settings());
    for (int i = 0; i < 3; ++i)
        backoff.record("microsoft", event(at(0, i), std::to_string(i)), "");
    const SystemTime entered = at(0, 2); // 0.5, hold to +10 min
    CHECK(backoff.factor("microsoft", entered + 16min) == 1.0); // 0.5 → 1.0 at +15 min
    backoff.advance(entered + 12min);
    // One event at +12 min (below the threshold): no step down, but no recovery for 5 min from it.
    CHECK_FALSE(backoff.record("microsoft", event(entered + 12min, "late"), "").change);
    CHECK(backoff.factor("microsoft", entered + 16min) == 0.5);
    CHECK(backoff.factor("microsoft", entered + 17min) == 1.0);
}

TEST_CASE("a burst after a partial recovery goes to the first step below the factor reached") {
    auto settings = test_settings();
    settings.recover_factor = 1.5;
    Backoff backoff(settings);
    for (int i = 0; i < 3; ++i)
        backoff.record("microsoft", event(at(0, i), std::to_string(i)), "");
    const SystemTime entered = at(0, 2);
    CHECK(backoff.factor("microsoft", entered + 15min) == 0.75);
    backoff.advance(entered + 15min);
    std::optional<BackoffChange> change;
    for (int i = 0; i < 3; ++i)
        if (auto r = backoff.record("microsoft", event(entered + 15min + std::chrono::seconds(i), "r" + std::to_string(i)), "");
            r.change)
            change = r.change;
    REQUIRE(change);
    CHECK(change->from == 0.75);
    CHECK(change->to == 0.5);
}

TEST_CASE("factor() is safe to ask from many threads while events come in", "[concurrency]") {
    Backoff backoff(test_settings());
    std::atomic<bool> bad{false};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t)
        readers.emplace_back([&] {
            for (int i = 0; i < 20000; ++i) {
                const double f = backoff.factor("microsoft", at(i % 60));
                if (!(f > 0 && f <= 1.0)) bad = true;
            }
        });
    for (int i = 0; i < 2000; ++i) {
        backoff.record("microsoft", event(at(i % 60), std::to_string(i)), "line");
        backoff.advance(at(i % 60));
    }
    for (auto& t : readers)
        t.join();
    CHECK_FALSE(bad);
}

TEST_CASE("published factors: the rates groups start at 1, a change is read at once, other groups read 1") {
    BackoffFactors factors(default_destination_groups().names());
    CHECK(factors.get("microsoft") == 1.0);
    factors.set("microsoft", 0.25);
    CHECK(factors.get("microsoft") == 0.25);
    CHECK(factors.get("google") == 1.0);
    factors.set("mail.example.de", 0.5); // a group named after a domain: no limit is scoped to it
    CHECK(factors.get("mail.example.de") == 1.0);
}

TEST_CASE("published factors are read without a lock while the follower publishes", "[concurrency]") {
    BackoffFactors factors(default_destination_groups().names());
    std::atomic<bool> bad{false};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t)
        readers.emplace_back([&] {
            for (int i = 0; i < 200000; ++i) {
                const double f = factors.get(i % 2 ? "microsoft" : "google");
                if (f != 1.0 && f != 0.5 && f != 0.25) bad = true;
            }
        });
    for (int i = 0; i < 20000; ++i)
        factors.set("microsoft", i % 3 == 0 ? 1.0 : i % 3 == 1 ? 0.5 : 0.25);
    for (auto& t : readers)
        t.join();
    CHECK_FALSE(bad);
}

TEST_CASE("a recorded Microsoft throttling log engages back-off and recovers (replay)") {
    // The shipped curve: 5 events in 10 min, 0.5 → 0.25 → 0.1, hold 30 min, ×1.5 every 15 min.
    Backoff backoff(BackoffSettings{});
    const auto groups = default_destination_groups();
    std::vector<BackoffChange> changes;
    std::size_t throttled = 0;
    for (const auto& line : fixture_lines("microsoft-throttle.log")) {
        const auto r = parse_delivery_report(line, shipped(), fixture_now());
        if (!r || !r->time) continue;
        for (auto& c : backoff.advance(*r->time))
            changes.push_back(std::move(c));
        if (!r->throttling) continue;
        ++throttled;
        if (auto rec = backoff.record(group_of(*r, groups), *r, line); rec.change)
            changes.push_back(std::move(*rec.change));
    }
    CHECK(throttled == 11);
    REQUIRE(changes.size() == 6);
    CHECK(changes[0].kind == BackoffChange::Kind::enter);
    CHECK(changes[0].group == "microsoft");
    CHECK(changes[0].to == 0.5);
    CHECK(changes[0].at == at(4, 50));
    CHECK(changes[0].why.events == 5); // the message deferred for two recipients counted once
    CHECK(changes[1].kind == BackoffChange::Kind::down);
    CHECK(changes[1].to == 0.25);
    CHECK(changes[1].at == at(14));
    const double ups[] = {0.375, 0.5625, 0.84375};
    for (int i = 0; i < 3; ++i) {
        CHECK(changes[2 + i].kind == BackoffChange::Kind::up);
        CHECK(changes[2 + i].to == Approx(ups[i]));
        CHECK(changes[2 + i].at == at(59 + 15 * i));
    }
    CHECK(changes[5].kind == BackoffChange::Kind::clear);
    CHECK(changes[5].at == at(104));
    CHECK(changes[5].why.since == at(4, 50));
}

TEST_CASE("the feedback section: defaults, durations, curve and signatures") {
    TempDir dir;
    const auto defaults = load_config(dir.write("presend.yaml", "mode: dry-run\n")).feedback;
    CHECK(defaults.log.empty());
    CHECK(defaults.backoff == BackoffSettings{});
    const auto config = load_config(dir.write("presend.yaml", R"(feedback:
  log: /var/log/mail.log
  threshold: 3
  window: 90s
  curve: [0.6, 0.3]
  hold: 2m
  recover_every: 1h
  recover_factor: 2
  signatures:
    - {name: acme-slow-down, regex: "slow down"}
  default_signatures: false
)")).feedback;
    CHECK(config.log == "/var/log/mail.log");
    CHECK(config.backoff.threshold == 3);
    CHECK(config.backoff.window == 90s);
    CHECK(config.backoff.curve == std::vector<double>{0.6, 0.3});
    CHECK(config.backoff.hold == 2min);
    CHECK(config.backoff.recover_every == 1h);
    CHECK(config.backoff.recover_factor == 2);
    REQUIRE(config.signatures.size() == 1);
    CHECK_FALSE(config.default_signatures);
}

TEST_CASE("feedback config errors name file:line:column") {
    TempDir dir;
    const std::string file = (dir.path() / "presend.yaml").string();
    auto load = [&](const std::string& yaml) { return load_config(dir.write("presend.yaml", yaml)); };
    CHECK_THROWS_WITH(load("feedback:\n  signatures:\n    - {name: bad, regex: \"rate (limit\"}\n"),
                      Catch::StartsWith(file + ":3:26: regex: bad pattern for signature 'bad': "));
    CHECK_THROWS_WITH(load("feedback:\n  curve: [0.5, 0.6]\n"),
                      file + ":2:16: curve: each step must slow the group more than the one before");
    CHECK_THROWS_WITH(load("feedback:\n  curve: [1.5]\n"),
                      file + ":2:11: curve: expected a factor from 0.001 to below 1");
    CHECK_THROWS_WITH(load("feedback:\n  window: soon\n"),
                      file + ":2:11: window: expected a duration from 1s to 7d, such as 90s, 10m or 2h");
    CHECK_THROWS_WITH(load("feedback:\n  recover_factor: 1\n"),
                      file + ":2:19: recover_factor: expected a number above 1 and at most 10, such as 1.5");
    CHECK_THROWS_WITH(load("feedback:\n  treshold: 3\n"),
                      file + ":2:3: unknown key 'treshold' (did you mean 'threshold'?)");
    CHECK_THROWS_WITH(load("feedback:\n  default_signatures: false\n"),
                      file + ":2:3: feedback: default_signatures is false and no signatures are given: nothing "
                             "would count");
    // Destination groups are rates:'s; the key says where they went.
    CHECK_THROWS_WITH(load("feedback:\n  groups: {acme: [acme.example]}\n"),
                      file + ":2:11: groups: destination groups are set under rates: groups: (with mx: for relay "
                             "host suffixes), one table for the volume guard and the feedback back-off; see "
                             "docs/rates.md");
}

TEST_CASE("back-off event lines in a decision log become report episodes, never messages") {
    Backoff backoff(test_settings());
    std::vector<std::string> lines = {
        R"({"time":"2026-11-27T09:59:00.000Z","queue_id":"Q1","action":"accept","would_action":"accept","hits":[]})"};
    auto add = [&](const BackoffChange& c) { lines.push_back(backoff_event_json(c).dump()); };
    for (int i = 0; i < 3; ++i)
        if (auto r = backoff.record("microsoft", event(at(0, i), std::to_string(i)), "to=<a@hotmail.com> x");
            r.change)
            add(*r.change);
    for (int i = 0; i < 3; ++i)
        if (auto r = backoff.record("microsoft", event(at(1, i), "b" + std::to_string(i)), "y"); r.change)
            add(*r.change);
    for (const auto& c : backoff.advance(at(120)))
        add(c);
    for (int i = 0; i < 3; ++i)
        if (auto r = backoff.record("yahoo", event(at(130, i), "y" + std::to_string(i)), "z"); r.change)
            add(*r.change);
    REQUIRE(lines.size() == 1 + 2 + 2 + 1); // decision; enter, down; up, clear; yahoo enter

    report::Aggregator aggregator{report::Options{}};
    for (std::size_t i = 0; i < lines.size(); ++i)
        aggregator.add_line(lines[i], "decisions.jsonl", i + 1);
    const auto r = aggregator.finish({"decisions.jsonl"});
    CHECK(r.messages == 1);
    CHECK(r.malformed == 0);
    REQUIRE(r.backoff.size() == 2);
    CHECK(r.backoff[0].group == "microsoft");
    CHECK(report::format_time(r.backoff[0].start) == "2026-11-27T10:00:02Z");
    REQUIRE(r.backoff[0].end);
    CHECK(report::format_time(*r.backoff[0].end) == "2026-11-27T10:21:02Z");
    CHECK(r.backoff[0].lowest == 0.25);
    CHECK(r.backoff[0].signature == "microsoft-ip-reputation");
    CHECK(r.backoff[0].events == 3);
    CHECK(r.backoff[0].sample == "to=<***@hotmail.com> x");
    CHECK(r.backoff[1].group == "yahoo");
    CHECK_FALSE(r.backoff[1].end);
    const auto text = report::render_text(r);
    CHECK(text.find("BACK-OFF") != std::string::npos);
    CHECK(text.find("(still backing off)") != std::string::npos);
    const auto json = nlohmann::json::parse(report::render_json(r));
    CHECK(json["backoff"][0]["lowest_factor"] == 0.25);
    CHECK(json["backoff"][1]["end"].is_null());
    CHECK(report::render_html(r).find("id=\"backoff\"") != std::string::npos);
}
