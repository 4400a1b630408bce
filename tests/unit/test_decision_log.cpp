// test_decision_log: the JSON record of a decision in both modes, and the log file it goes to
// (whole lines under concurrent writers, reopen after logrotate's rename).
#include "presend/decision_log.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <stdlib.h>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using presend::Action;
using presend::DecisionLog;
using presend::Mode;
using presend::Verdict;
using presend::test::TempDir;

namespace {

std::vector<std::string> read_lines(const fs::path& file) {
    std::ifstream in(file);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

presend::Envelope sample_envelope() {
    presend::Envelope envelope;
    envelope.queue_id = "4Xyz1A2B3C";
    envelope.client_addr = "192.0.2.10";
    envelope.auth_user = "newsletter";
    envelope.mail_from = "news@example.com";
    envelope.rcpts = {"a@example.net", "b@example.net"};
    return envelope;
}

Verdict sample_verdict(Mode mode) {
    Verdict verdict;
    verdict.mode = mode;
    verdict.would_action = Action::reject;
    verdict.action = mode == Mode::enforce ? Action::reject : Action::accept;
    verdict.score = 0.1 + 0.2 + 7.0;
    verdict.reply = "No unsubscribe link";
    presend::Hit hit;
    hit.rule = "list-unsubscribe-missing";
    hit.target = "header:List-Unsubscribe";
    hit.detail = "missing";
    hit.score = 7.0;
    hit.action = Action::reject;
    verdict.hits.push_back(hit);
    presend::Hit trial = hit;
    trial.rule = "trial-rule";
    trial.monitor = true;
    trial.score = 0.3;
    verdict.hits.push_back(trial);
    verdict.notes = {"malformed-mime"};
    return verdict;
}

} // namespace

TEST_CASE("the decision record has exactly the documented keys") {
    const auto entry =
        presend::decision_json(sample_envelope(), "<id@example.com>", sample_verdict(Mode::enforce),
                               std::chrono::microseconds{1234}, "abc123");
    std::set<std::string> keys;
    for (const auto& item : entry.items())
        keys.insert(item.key());
    const std::set<std::string> expected{"time",      "queue_id",   "client_addr",   "auth_user",
                                         "mail_from", "rcpt_count", "message_id",    "hits",
                                         "score",     "action",     "would_action",  "result",
                                         "mode",      "notes",      "rules_version", "latency_us"};
    CHECK(keys == expected);

    const auto with_total =
        presend::decision_json(sample_envelope(), "", sample_verdict(Mode::enforce),
                               std::chrono::microseconds{5}, "v", std::chrono::microseconds{99});
    CHECK(with_total.at("total_us") == 99);
}

TEST_CASE("enforce: the record names the action taken") {
    const auto entry =
        presend::decision_json(sample_envelope(), "<id@example.com>", sample_verdict(Mode::enforce),
                               std::chrono::microseconds{1234}, "abc123");
    CHECK(entry.at("queue_id") == "4Xyz1A2B3C");
    CHECK(entry.at("client_addr") == "192.0.2.10");
    CHECK(entry.at("auth_user") == "newsletter");
    CHECK(entry.at("mail_from") == "news@example.com");
    CHECK(entry.at("rcpt_count") == 2);
    CHECK(entry.at("message_id") == "<id@example.com>");
    CHECK(entry.at("action") == "reject");
    CHECK(entry.at("would_action") == "reject");
    CHECK(entry.at("result") == "reject");
    CHECK(entry.at("mode") == "enforce");
    CHECK(entry.at("score") == 7.3); // 0.1 + 0.2 + 7.0 rounded, not 7.300000000000001
    CHECK(entry.at("notes") == nlohmann::json::array({"malformed-mime"}));
    CHECK(entry.at("rules_version") == "abc123");
    CHECK(entry.at("latency_us") == 1234);

    const auto& hits = entry.at("hits");
    REQUIRE(hits.size() == 2);
    CHECK(hits[0].at("rule") == "list-unsubscribe-missing");
    CHECK(hits[0].at("target") == "header:List-Unsubscribe");
    CHECK(hits[0].at("detail") == "missing");
    CHECK(hits[0].at("score") == 7.0);
    CHECK(hits[0].at("monitor") == false);
    CHECK(hits[1].at("rule") == "trial-rule");
    CHECK(hits[1].at("monitor") == true);
}

TEST_CASE("dry-run never rejects, logs would_reject") {
    const auto entry = presend::decision_json(sample_envelope(), "", sample_verdict(Mode::dry_run),
                                              std::chrono::microseconds{10}, "abc123");
    CHECK(entry.at("action") == "accept");
    CHECK(entry.at("would_action") == "reject");
    CHECK(entry.at("result") == "would_reject");
    CHECK(entry.at("mode") == "dry-run");

    Verdict tempfail = sample_verdict(Mode::dry_run);
    tempfail.would_action = Action::tempfail;
    CHECK(presend::decision_json({}, "", tempfail, {}, "").at("result") == "would_tempfail");

    Verdict clean;
    clean.mode = Mode::dry_run;
    CHECK(presend::decision_json({}, "", clean, {}, "").at("result") == "accept");
}

TEST_CASE("dry-run: an action really taken (on_error) is the result, not a would_") {
    Verdict failed;
    failed.mode = Mode::dry_run;
    failed.action = Action::tempfail;
    failed.notes = {"internal-error"};
    CHECK(presend::decision_json({}, "", failed, {}, "").at("result") == "tempfail");
}

TEST_CASE("the time is RFC 3339 UTC with milliseconds") {
    const auto entry = presend::decision_json({}, "", Verdict{}, {}, "");
    const std::string time = entry.at("time");
    CHECK(std::regex_match(time, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));

    using namespace std::chrono;
    const system_clock::time_point when{seconds{1714564800} + milliseconds{7}}; // 2024-05-01 12:00:00.007
    CHECK(presend::rfc3339_utc_ms(when) == "2024-05-01T12:00:00.007Z");
}

TEST_CASE("a detail that is not UTF-8 is still written as one valid JSON line") {
    TempDir dir;
    const auto file = dir.path() / "decisions.log";
    DecisionLog log(file.string());
    Verdict verdict = sample_verdict(Mode::enforce);
    verdict.hits[0].detail = std::string("caf\xe9 \xff\xfe", 7);
    CHECK(log.write(presend::decision_json({}, "", verdict, {}, "v")));
    const auto lines = read_lines(file);
    REQUIRE(lines.size() == 1);
    CHECK_NOTHROW(nlohmann::json::parse(lines[0]));
}

TEST_CASE("lines from many threads never interleave", "[concurrency]") {
    TempDir dir;
    const auto file = dir.path() / "decisions.log";
    DecisionLog log(file.string());
    constexpr int k_threads = 8;
    constexpr int k_lines = 200;
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t)
        threads.emplace_back([&log, t] {
            for (int i = 0; i < k_lines; ++i) {
                // Lines of different lengths, some larger than a pipe buffer, so a torn write would show.
                nlohmann::json entry = {
                    {"thread", t}, {"i", i}, {"pad", std::string(100 + (i * 97) % 9000, 'x')}};
                log.write(entry);
            }
        });
    for (auto& thread : threads)
        thread.join();

    const auto lines = read_lines(file);
    REQUIRE(lines.size() == static_cast<std::size_t>(k_threads * k_lines));
    std::set<std::pair<int, int>> seen;
    for (const auto& line : lines) {
        const auto entry = nlohmann::json::parse(line); // throws, and fails the test, on a torn line
        seen.insert({entry.at("thread").get<int>(), entry.at("i").get<int>()});
    }
    CHECK(seen.size() == static_cast<std::size_t>(k_threads * k_lines));
}

TEST_CASE("reopen after logrotate's rename writes to a new file") {
    TempDir dir;
    const auto file = dir.path() / "decisions.log";
    const auto rotated = dir.path() / "decisions.log.1";
    DecisionLog log(file.string());
    log.write({{"n", 1}});
    fs::rename(file, rotated);
    log.write({{"n", 2}}); // still the old file, as with any daemon until it is told
    REQUIRE(log.reopen());
    log.write({{"n", 3}});

    const auto old_lines = read_lines(rotated);
    const auto new_lines = read_lines(file);
    REQUIRE(old_lines.size() == 2);
    REQUIRE(new_lines.size() == 1);
    CHECK(nlohmann::json::parse(new_lines[0]).at("n") == 3);
}

TEST_CASE("a reopen that cannot open keeps the old file") {
    TempDir dir;
    const auto file = dir.path() / "decisions.log";
    DecisionLog log(file.string());
    CHECK_FALSE(log.reopen((dir.path() / "missing-dir" / "x.log").string()));
    CHECK(log.path() == file.string());
    CHECK(log.write({{"n", 1}}));
    CHECK(read_lines(file).size() == 1);
}

TEST_CASE("an empty path turns the log off; an unopenable one throws") {
    DecisionLog off("");
    CHECK_FALSE(off.enabled());
    CHECK_FALSE(off.write({{"n", 1}}));
    CHECK_THROWS_AS(DecisionLog("/nonexistent-dir/decisions.log"), std::system_error);
}

TEST_CASE("recipients the suppression list answered are recorded, refused or would-be, and store errors") {
    Verdict verdict = sample_verdict(Mode::enforce);
    presend::RcptVerdict refused;
    refused.rcpt = "Gone@Example.net";
    refused.action = refused.would_action = Action::reject;
    refused.entry = "gone@example.net";
    refused.reason = "hard_bounce";
    refused.since = 1777593600; // 2026-05-01T00:00:00Z
    presend::RcptVerdict unchecked;
    unchecked.rcpt = "c@example.net";
    unchecked.action = unchecked.would_action = Action::tempfail;
    unchecked.store_error = "redis 127.0.0.1:6379: connect: Connection refused";
    verdict.rcpts = {refused, unchecked};
    const auto entry =
        presend::decision_json(sample_envelope(), "", verdict, std::chrono::microseconds{1}, "v");
    REQUIRE(entry.at("suppressed").size() == 1);
    const auto& s = entry.at("suppressed")[0];
    CHECK(s.at("rcpt") == "Gone@Example.net");
    CHECK(s.at("entry") == "gone@example.net");
    CHECK(s.at("domain_entry") == false);
    CHECK(s.at("reason") == "hard_bounce");
    CHECK(s.at("scope") == "");
    CHECK(s.at("since") == "2026-05-01T00:00:00Z");
    CHECK(s.at("result") == "reject");
    REQUIRE(entry.at("suppression_errors").size() == 1);
    CHECK(entry.at("suppression_errors")[0].at("rcpt") == "c@example.net");
    CHECK(entry.at("suppression_errors")[0].at("result") == "tempfail");
    CHECK(entry.at("suppression_errors")[0].at("error") == unchecked.store_error);

    Verdict dry = sample_verdict(Mode::dry_run);
    refused.action = Action::accept; // dry-run: accepted, would have been refused
    refused.domain_entry = true;
    refused.entry = "example.net";
    refused.scope = "shop-42";
    dry.rcpts = {refused};
    const auto dry_entry =
        presend::decision_json(sample_envelope(), "", dry, std::chrono::microseconds{1}, "v");
    CHECK(dry_entry.at("suppressed")[0].at("result") == "would_reject");
    CHECK(dry_entry.at("suppressed")[0].at("domain_entry") == true);
    CHECK(dry_entry.at("suppressed")[0].at("scope") == "shop-42");
    CHECK_FALSE(dry_entry.contains("suppression_errors"));
}
