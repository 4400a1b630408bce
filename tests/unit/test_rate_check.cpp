// test_rate_check: the milter's RCPT TO answer from the volume guard in enforce and dry-run, the reply texts,
// a store that cannot answer (on_error), the back-offs in force with why in the state file, and the state file
// `presend rates` reads. The integration test rates.sh drives the same through Postfix.
#include "daemon/rate_check.hpp"
#include "engine/rates_config.hpp"
#include "engine/rates_state.hpp"
#include "presend/config.hpp"
#include "redis_fixture.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <sstream>
#include <thread>

using namespace presend;
using namespace std::chrono_literals;
using presend::daemon::LineLimiter;
using presend::daemon::RateCheck;
using presend::daemon::RateStoreHandle;
using presend::test::TempDir;

namespace {

const RateClock::time_point k_start = std::chrono::sys_days(std::chrono::year(2026) / 11 / 27) + 10h;

RatesConfig rates(const TempDir& dir, const std::string& section) {
    auto config = load_config(dir.write("presend.yaml", "tenants:\n"
                                                        "  - id: acme\n"
                                                        "    selectors: {auth_user: [acme]}\n"
                                                        "rates:\n"
                                                        "  state_file: rates.state\n" +
                                                            section))
                      .rates;
    return config;
}

} // namespace

TEST_CASE("enforce: past a limit 451 4.7.1 names the tenant, the group and the rate") {
    TempDir dir;
    const auto config = rates(dir, "  limits:\n    - {tenant: \"*\", group: microsoft, rate: 60, per: minute}\n");
    auto handle = std::make_shared<RateStoreHandle>(config);
    RateCheck check(config, handle);
    for (int i = 0; i < 60; ++i)
        CHECK_FALSE(check.check("a@outlook.com", "acme", Mode::enforce, k_start).verdict);
    const auto refused = check.check("<b@hotmail.com>", "acme", Mode::enforce, k_start);
    REQUIRE(refused.verdict);
    CHECK(refused.verdict->check == RcptVerdict::Check::rates);
    CHECK(refused.verdict->action == Action::tempfail);
    CHECK(refused.verdict->would_action == Action::tempfail);
    CHECK(refused.verdict->rate_group == "microsoft");
    CHECK(refused.verdict->rate_scope == "tenant-group");
    CHECK(std::string(refused.code) == "451");
    CHECK(std::string(refused.xcode) == "4.7.1");
    CHECK(refused.text == "<b@hotmail.com>: sending rate for acme to microsoft exceeded (60/minute), try again later");

    SECTION("dry-run accepts and records would_tempfail") {
        const auto recorded = check.check("c@outlook.com", "acme", Mode::dry_run, k_start);
        REQUIRE(recorded.verdict);
        CHECK(recorded.verdict->action == Action::accept);
        CHECK(recorded.verdict->would_action == Action::tempfail);
        CHECK(recorded.text.empty());
    }
    SECTION("a reload keeps the counts: a new RateCheck over the same handle") {
        RateCheck reloaded(config, handle);
        CHECK(reloaded.check("c@outlook.com", "acme", Mode::enforce, k_start).verdict);
        CHECK_FALSE(reloaded.check("c@outlook.com", "acme", Mode::enforce, k_start + 1s).verdict);
    }
}

TEST_CASE("warm-up replies say daily warm-up volume, and this server for a sending_ip schedule") {
    RateDecision decision;
    decision.tenant = "newco";
    decision.group = "google";
    decision.scope = "warmup";
    decision.limit = "warmup:tenant=newco";
    decision.rate = "500/day";
    CHECK(daemon::rate_limited_reply("x@gmail.com", decision) ==
          "<x@gmail.com>: daily warm-up volume for newco exceeded (500/day), try again later");
    decision.limit = "warmup:sending_ip=192.0.2.10";
    CHECK(daemon::rate_limited_reply("x@gmail.com", decision) ==
          "<x@gmail.com>: daily warm-up volume for this server exceeded (500/day), try again later");
}

TEST_CASE("a Redis that is down: on_error in enforce, accept in dry-run, recorded as a store error") {
    TempDir dir;
    auto config = rates(dir, "  backend: redis\n  redis: {port: " + std::to_string(test::free_loopback_port()) +
                                 ", timeout_ms: 100}\n  limits:\n    - {group: google, rate: 5}\n");
    auto handle = std::make_shared<RateStoreHandle>(config);
    RateCheck check(config, handle);
    const auto tempfail = check.check("x@gmail.com", "", Mode::enforce, k_start);
    REQUIRE(tempfail.verdict);
    CHECK(tempfail.verdict->action == Action::tempfail);
    CHECK_FALSE(tempfail.verdict->store_error.empty());
    CHECK(std::string(tempfail.xcode) == "4.3.0");
    CHECK(tempfail.text == "<x@gmail.com>: sending rate check unavailable, try again later");
    const auto dry = check.check("x@gmail.com", "", Mode::dry_run, k_start);
    REQUIRE(dry.verdict);
    CHECK(dry.verdict->action == Action::accept);

    config.on_store_error = Action::accept;
    RateCheck accepting(config, handle);
    const auto accepted = accepting.check("x@gmail.com", "", Mode::enforce, k_start);
    REQUIRE(accepted.verdict);
    CHECK(accepted.verdict->action == Action::accept);
}

TEST_CASE("the state file holds the buckets in use and each back-off with why, and presend rates reads it") {
    TempDir dir;
    const auto config = rates(dir, "  limits:\n    - {group: microsoft, rate: 10, per: minute}\n");
    auto handle = std::make_shared<RateStoreHandle>(config);
    BackoffSettings settings; // threshold 5, curve 0.5 0.25 0.1, hold 30 min, then every 15 min
    auto backoff = std::make_shared<Backoff>(settings);
    for (int i = 0; i < 5; ++i) {
        DeliveryReport event;
        event.time = k_start - 5s + std::chrono::seconds(i);
        event.queue_id = "Q" + std::to_string(i);
        event.throttling = true;
        event.signature = "microsoft-ip-reputation";
        backoff->record("microsoft", event, "postfix/smtp[1]: Q: to=<john@hotmail.com>, dsn=4.7.650, status=deferred");
    }
    handle->set_backoff(backoff);
    RateCheck check(config, handle, [backoff](std::string_view group, RateClock::time_point now) {
        return backoff->factor(group, now);
    });
    for (int i = 0; i < 3; ++i)
        check.check("x@outlook.com", "acme", Mode::enforce, k_start);
    REQUIRE(handle->write_state(k_start));
    const auto state = read_rates_state(dir.path() / "rates.state");
    REQUIRE(state["buckets"].size() == 1);
    const auto& bucket = state["buckets"][0];
    CHECK(bucket["limit"] == "group=microsoft,per=minute");
    CHECK(bucket["group"] == "microsoft");
    CHECK(bucket["burst"] == 5.0); // 10 × 0.5
    CHECK(bucket["used"] == 3.0);
    REQUIRE(state["backoff"].size() == 1);
    const auto& b = state["backoff"][0];
    CHECK(b["group"] == "microsoft");
    CHECK(b["factor"] == 0.5);
    CHECK(b["since"] == "2026-11-27T09:59:59.000Z");
    CHECK(b["signature"] == "microsoft-ip-reputation");
    CHECK(b["events"] == 5);
    CHECK(b["step"] == 1);
    CHECK(b["steps"] == 3);
    CHECK(b["last_event"] == "2026-11-27T09:59:59.000Z");
    CHECK(b["next_recovery"] == "2026-11-27T10:44:59.000Z"); // the 30 min hold, then 15 min
    CHECK(b["sample"] == "postfix/smtp[1]: Q: to=<***@hotmail.com>, dsn=4.7.650, status=deferred");

    SECTION("a group that is no longer backing off leaves the list") {
        handle->set_backoff(nullptr);
        REQUIRE(handle->write_state(k_start));
        CHECK(read_rates_state(dir.path() / "rates.state")["backoff"].empty());
    }
    CHECK_FALSE(std::filesystem::exists(dir.path() / "rates.state.tmp"));

    const auto key = parse_bucket_key("tenant=*,group=google,per=10s|acme|google");
    CHECK(key.limit == "tenant=*,group=google,per=10s");
    CHECK(key.tenant == "acme");
    CHECK(key.group == "google");
    const auto day = parse_bucket_key("warmup:tenant=newco|2026-11-27");
    CHECK(day.limit == "warmup:tenant=newco");
    CHECK(day.tenant == "newco");
    CHECK(day.day == "2026-11-27");
}

TEST_CASE("rate checks on many threads read the published back-off factor while it changes", "[concurrency]") {
    TempDir dir;
    const auto config = rates(dir, "  limits:\n    - {group: microsoft, rate: 100, per: day}\n");
    auto handle = std::make_shared<RateStoreHandle>(config);
    auto factors = std::make_shared<BackoffFactors>(config.groups.names());
    RateCheck check(config, handle, [factors](std::string_view group, RateClock::time_point) {
        return factors->get(group);
    });
    std::atomic<int> allowed{0};
    std::atomic<bool> stop{false};
    std::thread follower([&] {
        for (int i = 0; !stop; ++i)
            factors->set("microsoft", i % 2 ? 0.5 : 1.0);
    });
    std::vector<std::thread> sessions;
    for (int t = 0; t < 8; ++t)
        sessions.emplace_back([&] {
            for (int i = 0; i < 500; ++i)
                allowed += !check.check("x@outlook.com", "acme", Mode::enforce, k_start).verdict;
        });
    for (auto& t : sessions)
        t.join();
    stop = true;
    follower.join();
    // At one instant, no refill: at most the full burst, at least the halved one.
    const int passed = allowed.load();
    CHECK(passed <= 100);
    CHECK(passed >= 50);
}

TEST_CASE("memory store counts survive a restart through the state file; stale buckets are dropped") {
    TempDir dir;
    const auto config = rates(dir, "  limits:\n"
                                   "    - {tenant: \"*\", group: google, rate: 3, per: hour}\n"
                                   "    - {group: apple, rate: 1, per: 10s}\n");
    {
        auto handle = std::make_shared<RateStoreHandle>(config, k_start);
        RateCheck check(config, handle);
        for (int i = 0; i < 3; ++i)
            CHECK_FALSE(check.check("x@gmail.com", "acme", Mode::enforce, k_start).verdict);
        CHECK_FALSE(check.check("x@icloud.com", "acme", Mode::enforce, k_start).verdict);
        REQUIRE(handle->write_state(k_start)); // what the writer does within a second, and the worker at a stop
    } // the worker goes: its buckets with it
    const auto state = read_rates_state(dir.path() / "rates.state");
    REQUIRE(state["buckets"].size() == 2);
    CHECK(state["buckets"][0]["expires_ms"].get<std::int64_t>() > state["buckets"][0]["updated_ms"].get<std::int64_t>());

    SECTION("a restart a minute later: the google bucket is still empty, the apple one full again") {
        const auto now = k_start + 1min;
        auto handle = std::make_shared<RateStoreHandle>(config, now);
        RateCheck check(config, handle);
        const auto held = handle->store()->buckets(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       now.time_since_epoch())
                                                       .count());
        REQUIRE(held.size() == 1); // the apple bucket refilled in 10 s: dropped, as if never taken
        CHECK(held[0].key == "tenant=*,group=google,per=hour|acme|google");
        CHECK(held[0].tokens == Approx(0.05)); // a minute of 3 an hour
        CHECK(check.check("y@gmail.com", "acme", Mode::enforce, now).verdict);
        CHECK_FALSE(check.check("y@icloud.com", "acme", Mode::enforce, now).verdict);
    }
    SECTION("what is taken back: the buckets not yet full again") {
        auto handle = std::make_shared<RateStoreHandle>(config, k_start + 2h);
        const auto saved = rates_state_buckets(state);
        REQUIRE(saved.size() == 2);
        const auto ms = [](RateClock::time_point t) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
        };
        CHECK(handle->store()->buckets(ms(k_start + 2h)).empty()); // both were full again at the start
        CHECK(handle->store()->restore(saved, ms(k_start + 5s)) == 2);
        CHECK(handle->store()->restore(saved, ms(k_start + 1min)) == 1);
        CHECK(handle->store()->restore(saved, ms(k_start + 2h)) == 0);
    }
    SECTION("a state file that cannot be read: every bucket starts full, counting goes on") {
        dir.write("rates.state", "{not json");
        auto handle = std::make_shared<RateStoreHandle>(config, k_start + 1min);
        RateCheck check(config, handle);
        CHECK_FALSE(check.check("y@gmail.com", "acme", Mode::enforce, k_start + 1min).verdict);
    }
}

TEST_CASE("recipients over a limit are logged at most once per 10 s, saying how many were held back") {
    LineLimiter lines(10s);
    const auto t0 = LineLimiter::Clock::time_point{} + 1h;
    std::size_t held = 99;
    CHECK(lines.admit(t0, held));
    CHECK(held == 0);
    CHECK_FALSE(lines.admit(t0 + 1s, held));
    CHECK_FALSE(lines.admit(t0 + 9s, held));
    CHECK(lines.admit(t0 + 10s, held));
    CHECK(held == 2);

    struct CapturedLog {
        std::ostringstream out;
        std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();
        CapturedLog() {
            auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
            logger->set_level(spdlog::level::info);
            logger->set_pattern("%v");
            spdlog::set_default_logger(logger);
        }
        ~CapturedLog() { spdlog::set_default_logger(saved); }
    } captured;
    TempDir dir;
    const auto config = rates(dir, "  limits:\n    - {tenant: \"*\", group: google, rate: 2, per: 10s}\n");
    RateStoreHandle handle(config, k_start);
    RcptVerdict r;
    r.check = RcptVerdict::Check::rates;
    r.rcpt = "c@gmail.com";
    r.rate_limit = "tenant=*,group=google,per=10s";
    r.rate = "2/10s";
    r.rate_tenant = "acme";
    r.rate_group = "google";
    r.action = Action::tempfail;
    for (int i = 0; i < 200; ++i) // a minute of 200 refusals
        handle.log_limited("1A2B3C", r, t0 + std::chrono::milliseconds(300 * i));
    std::vector<std::string> logged;
    std::istringstream in(captured.out.str());
    for (std::string line; std::getline(in, line);)
        if (line.find(" over ") != std::string::npos) logged.push_back(line);
    REQUIRE(logged.size() == 6); // at 0, 10.2, 20.4, 30.6, 40.8 and 51 s
    CHECK(logged[0] == "1A2B3C: <c@gmail.com> over tenant=*,group=google,per=10s (2/10s) for tenant acme to google; "
                       "deferred");
    CHECK(logged[1] == "1A2B3C: <c@gmail.com> over tenant=*,group=google,per=10s (2/10s) for tenant acme to google; "
                       "deferred (and 33 more recipients over a limit in the last 10 s, not logged one by one)");
}
