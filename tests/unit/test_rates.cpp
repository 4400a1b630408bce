// Volume guard: destination groups, token buckets under a controlled clock (refill, burst, windows,
// all-or-none), warm-up day by day, back-off factors, config errors with file:line:column, and the same
// scenarios against the memory store and a real redis-server on a free loopback port (skipped with a warning
// when redis-server is not installed).
#include "engine/rates_backends.hpp"
#include "engine/rates_config.hpp"
#include "presend/config.hpp"
#include "presend/rates.hpp"
#include "redis_fixture.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace presend;
using presend::test::RedisServer;
using presend::test::TempDir;
using namespace std::chrono_literals;

namespace {

// 2026-11-27T10:00:00Z: every test starts here and moves the clock by hand.
const RateClock::time_point k_t0 = std::chrono::sys_days(std::chrono::year(2026) / 11 / 27) + 10h;

std::string yaml_with_tenants(const std::string& rates) {
    return "tenants:\n"
           "  - id: acme\n"
           "    selectors: {auth_user: [acme]}\n"
           "  - id: newco\n"
           "    selectors: {auth_user: [newco]}\n" +
           rates;
}

RatesConfig rates_from(const std::string& yaml) {
    TempDir dir;
    return load_config(dir.write("presend.yaml", yaml_with_tenants(yaml))).rates;
}

std::string config_error(const std::string& yaml) {
    TempDir dir;
    const auto file = dir.write("presend.yaml", yaml_with_tenants(yaml));
    try {
        load_config(file);
    } catch (const ConfigError& e) {
        std::string message = e.what();
        const auto at = message.find("presend.yaml:");
        return at == std::string::npos ? message : message.substr(at);
    }
    return "no error";
}

// A store of the given kind with whatever it needs alive.
struct StoreFixture {
    TempDir dir;
    std::unique_ptr<RedisServer> redis;
    std::shared_ptr<RateStore> store;
};

std::unique_ptr<StoreFixture> make_store(const std::string& kind) {
    auto f = std::make_unique<StoreFixture>();
    if (kind == "redis") {
        if (!RedisServer::available()) {
            WARN("redis-server is not installed: Redis rate store tests skipped");
            return nullptr;
        }
        f->redis = std::make_unique<RedisServer>(f->dir.path());
        RedisSettings settings;
        settings.port = f->redis->port();
        f->store = detail::open_redis_rate_store(settings);
    } else {
        f->store = detail::open_memory_rate_store(100000);
    }
    return f;
}

// How many of n recipients at time now pass.
int passed(const RateLimiter& limiter, std::string_view tenant, std::string_view rcpt, int n,
           RateClock::time_point now) {
    int ok = 0;
    for (int i = 0; i < n; ++i)
        ok += limiter.check(tenant, rcpt, now).allowed ? 1 : 0;
    return ok;
}

double tokens_of(const RateStore& store, std::string_view key, RateClock::time_point now) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    for (const auto& bucket : store.buckets(ms))
        if (bucket.key == key) return bucket.tokens;
    return -1;
}

} // namespace

TEST_CASE("destination groups: shipped providers, national variants, suffixes, other") {
    const auto groups = default_destination_groups();
    CHECK(groups.group_of("outlook.com") == "microsoft");
    CHECK(groups.group_of("Hotmail.CO.UK.") == "microsoft");
    CHECK(groups.group_of("outlook.de") == "microsoft");
    CHECK(groups.group_of("gmail.com") == "google");
    CHECK(groups.group_of("googlemail.com") == "google");
    CHECK(groups.group_of("aol.com") == "yahoo");
    CHECK(groups.group_of("yahoo.co.uk") == "yahoo");
    CHECK(groups.group_of("me.com") == "apple");
    CHECK(groups.group_of("example.org") == k_other_group);
    CHECK(groups.group_of("") == k_other_group);
    CHECK(recipient_domain("<User@Outlook.COM.>") == "outlook.com");
    CHECK(recipient_domain("postmaster") == "");

    DestinationGroups custom;
    custom.add("*.example.net", "corp");
    custom.add("mail.example.net", "special");
    custom.add("*.eu.example.net", "corp-eu");
    CHECK(custom.group_of("a.example.net") == "corp");
    CHECK(custom.group_of("example.net") == k_other_group); // *.suffix is subdomains only
    CHECK(custom.group_of("mail.example.net") == "special"); // exact wins
    CHECK(custom.group_of("x.eu.example.net") == "corp-eu"); // longest suffix wins
}

TEST_CASE("destination groups: MX host suffixes name the group a relay serves") {
    const auto groups = default_destination_groups();
    CHECK(groups.group_of_mx("hotmail-com.olc.protection.outlook.com") == "microsoft");
    CHECK(groups.group_of_mx("gmail-smtp-in.l.google.com.") == "google");
    CHECK(groups.group_of_mx("MTA6.am0.YahooDNS.net") == "yahoo");
    CHECK(groups.group_of_mx("mx01.mail.icloud.com") == "apple");
    CHECK(groups.group_of_mx("protection.outlook.com") == "microsoft"); // the suffix's own host
    CHECK(groups.group_of_mx("notprotection.outlook.com").empty());     // a label boundary, not a string end
    CHECK(groups.group_of_mx("mx.example.org").empty());
    CHECK(groups.group_of_mx("").empty());
    CHECK(groups.group_of("verizon.net") == "yahoo"); // mailboxes Yahoo hosts

    DestinationGroups custom;
    custom.add_mx("example.net", "corp");
    custom.add_mx("eu.example.net", "corp-eu");
    CHECK(custom.group_of_mx("mx.eu.example.net") == "corp-eu"); // longest suffix wins
    CHECK(custom.group_of_mx("mx.example.net") == "corp");
    CHECK(custom.group_of("mx.example.net") == k_other_group); // relays are not recipient domains
    CHECK(custom.names() == std::vector<std::string>{"corp", "corp-eu", "other"});
    CHECK(custom.mx_entries() == std::vector<std::pair<std::string, std::string>>{{"example.net", "corp"},
                                                                                 {"eu.example.net", "corp-eu"}});
}

TEST_CASE("rates config: groups add to the shipped ones and may replace a domain's group") {
    const auto config = rates_from("rates:\n"
                                   "  groups:\n"
                                   "    corp: [example.com, \"*.example.net\"]\n"
                                   "    google: [hotmail.com]\n"
                                   "  limits:\n"
                                   "    - {group: corp, rate: 5, per: 10s}\n");
    CHECK(config.backend == "memory");
    CHECK(config.groups.group_of("example.com") == "corp");
    CHECK(config.groups.group_of("x.example.net") == "corp");
    CHECK(config.groups.group_of("hotmail.com") == "google");
    CHECK(config.groups.group_of("outlook.com") == "microsoft");
    REQUIRE(config.limits.size() == 1);
    CHECK(config.limits[0].per == 10s);
    CHECK(config.limits[0].burst == 5); // default burst = rate
    CHECK(config.limits[0].id() == "group=corp,per=10s");

    const auto hosted = rates_from("rates:\n"
                                   "  groups:\n"
                                   "    acme: {domains: [acme.example, \"*.acme.example\"], mx: [mx.acme.example]}\n"
                                   "    relay-only: {mx: [relay.example]}\n"
                                   "  limits:\n"
                                   "    - {group: relay-only, rate: 1}\n");
    CHECK(hosted.groups.group_of("eu.acme.example") == "acme");
    CHECK(hosted.groups.group_of_mx("in.mx.acme.example") == "acme");
    CHECK(hosted.groups.group_of_mx("Relay.Example") == "relay-only");
    CHECK(hosted.groups.group_of_mx("gmail-smtp-in.l.google.com") == "google");

    const auto bare = rates_from("rates:\n  default_groups: false\n");
    CHECK(bare.groups.group_of("outlook.com") == k_other_group);
    CHECK(rates_from("").backend == "none");
}

TEST_CASE("rate windows: named and counted") {
    CHECK(parse_rate_window("minute") == 60s);
    CHECK(parse_rate_window("hour") == 1h);
    CHECK(parse_rate_window("day") == 24h);
    CHECK(parse_rate_window("10s") == 10s);
    CHECK(parse_rate_window("5m") == 5min);
    CHECK(parse_rate_window("2h") == 2h);
    CHECK(parse_rate_window("1d") == 24h);
    CHECK_FALSE(parse_rate_window("0s"));
    CHECK_FALSE(parse_rate_window("10"));
    CHECK_FALSE(parse_rate_window("s"));
    CHECK_FALSE(parse_rate_window("10x"));
    CHECK_FALSE(parse_rate_window("fortnight"));
}

TEST_CASE("rates config errors name file:line:column") {
    CHECK(config_error("rates:\n  limits:\n    - {group: microsft, rate: 5}\n") ==
          "presend.yaml:8:15: group: 'microsft' is not a destination group (did you mean 'microsoft'?); \"*\" "
          "means each group");
    CHECK(config_error("rates:\n  limits:\n    - {tenant: acmee, rate: 5}\n") ==
          "presend.yaml:8:16: tenant: 'acmee' is not a tenant of tenants: (did you mean 'acme'?); \"*\" means "
          "each tenant, \"-\" mail of no tenant");
    CHECK(config_error("rates:\n  limits:\n    - {rate: 5}\n") ==
          "presend.yaml:8:7: a limit needs tenant:, group: or both (which buckets it keeps)");
    CHECK(config_error("rates:\n  limits:\n    - {group: google, rate: 0}\n") ==
          "presend.yaml:8:29: rate: expected a number above 0");
    CHECK(config_error("rates:\n  limits:\n    - {group: google, rate: 5, per: fortnight}\n") ==
          "presend.yaml:8:37: per: expected minute, hour, day, or a count and unit such as 10s, 5m, 2h, up "
          "to 7d");
    CHECK(config_error("rates:\n  limits:\n    - {group: google, rate: 5, burst: 0.5}\n") ==
          "presend.yaml:8:39: burst: expected 1 or more (one recipient takes one token)");
    CHECK(config_error("rates:\n  limits:\n    - {group: google, rate: 5}\n    - {group: google, rate: 9}\n") ==
          "presend.yaml:9:7: limit group=google,per=minute is already given above; one rate per scope and window");
    CHECK(config_error("rates:\n  limts: []\n") == "presend.yaml:7:3: unknown key 'limts' (did you mean 'limits'?)");
    CHECK(config_error("rates:\n  backend: sqlite\n") == "presend.yaml:7:12: backend: expected memory, redis or none");
    CHECK(config_error("rates:\n  groups: {corp: [Example.com]}\n") ==
          "presend.yaml:7:19: group 'corp': 'Example.com' is not a lower-case domain or *.domain");
    CHECK(config_error("rates:\n  groups: {corp: {mx: [\"*.example.com\"]}}\n") ==
          "presend.yaml:7:24: group 'corp': mx: '*.example.com' is not a lower-case host suffix (it covers the "
          "hosts below it: no *.)");
    CHECK(config_error("rates:\n  groups: {corp: {domain: [example.com]}}\n") ==
          "presend.yaml:7:19: unknown key 'domain' (did you mean 'domains'?)");
    CHECK(config_error("rates:\n  groups: {a: {mx: [mx.example.com]}, b: {mx: [mx.example.com]}}\n") ==
          "presend.yaml:7:48: group 'b': mx: 'mx.example.com' is already in a group above");
    CHECK(config_error("rates:\n  warmup:\n    - {tenant: newco, start: 2026-02-30, days: [5]}\n") ==
          "presend.yaml:8:30: start: '2026-02-30' is not a calendar date");
    CHECK(config_error("rates:\n  warmup:\n    - {tenant: newco, start: 2026-11-01, first: 5, factor: 2}\n") ==
          "presend.yaml:8:60: factor: needs max: (the cap at which warm-up ends)");
    CHECK(config_error("rates:\n  warmup:\n    - {start: 2026-11-01, days: [5]}\n") ==
          "presend.yaml:8:7: a warmup entry needs exactly one of tenant: and sending_ip:");
    CHECK(config_error("rates:\n  warmup:\n    - {tenant: newco, start: 2026-11-01, first: 1, factor: 1.01, "
                       "max: 1000000}\n") ==
          "presend.yaml:8:60: factor: the curve would take more than 366 days to reach max");
    CHECK(config_error("rates:\n  on_error: reject\n") == "presend.yaml:7:13: on_error: expected tempfail or accept");
}

TEST_CASE("warm-up: the daily cap follows the list, then the factor, and ends at max") {
    WarmupSchedule schedule;
    schedule.tenant = "newco";
    schedule.start = std::chrono::sys_days(std::chrono::year(2026) / 11 / 20);
    schedule.days = {50, 100};
    schedule.factor = 2;
    schedule.max = 1000;
    const auto day = [&](int n) { return schedule.cap_on(schedule.start + std::chrono::days(n)); };
    CHECK(day(-3) == 50.0); // before start: day 0's cap
    CHECK(day(0) == 50.0);
    CHECK(day(1) == 100.0);
    CHECK(day(2) == 200.0);
    CHECK(day(3) == 400.0);
    CHECK(day(4) == 800.0);
    CHECK_FALSE(day(5)); // 1600 would reach max: the curve is over
    CHECK_FALSE(day(400));

    WarmupSchedule listed;
    listed.start = schedule.start;
    listed.days = {10, 20};
    CHECK(listed.cap_on(listed.start + std::chrono::days(1)) == 20.0);
    CHECK_FALSE(listed.cap_on(listed.start + std::chrono::days(2))); // no factor: the list is the curve

    WarmupSchedule geometric;
    geometric.start = schedule.start;
    geometric.first = 1000;
    geometric.factor = 1.5;
    geometric.max = 5000;
    CHECK(geometric.cap_on(geometric.start) == 1000.0);
    CHECK(geometric.cap_on(geometric.start + std::chrono::days(3)) == 3375.0);
    CHECK_FALSE(geometric.cap_on(geometric.start + std::chrono::days(4))); // 5062 >= max
}

TEST_CASE("rate limiter, both stores: refill, burst, windows, all-or-none, tenants, warm-up, back-off") {
    const std::string kind = GENERATE(as<std::string>{}, "memory", "redis");
    INFO("store: " << kind);
    auto f = make_store(kind);
    if (!f) return;

    SECTION("a group bucket lets burst through at once, then refills at rate per window") {
        const auto config = rates_from("rates:\n  limits:\n    - {group: microsoft, rate: 60, per: minute}\n");
        RateLimiter limiter(config, f->store);
        CHECK(passed(limiter, "acme", "a@outlook.com", 70, k_t0) == 60);
        const auto refused = limiter.check("acme", "b@hotmail.com", k_t0);
        CHECK_FALSE(refused.allowed);
        CHECK(refused.group == "microsoft");
        CHECK(refused.scope == "group");
        CHECK(refused.rate == "60/minute");
        CHECK(refused.limit == "group=microsoft,per=minute");
        CHECK(passed(limiter, "acme", "a@outlook.com", 5, k_t0 + 1s) == 1);   // one token a second
        CHECK(passed(limiter, "acme", "a@outlook.com", 5, k_t0 + 3500ms) == 2); // 2.5 more: two whole ones
        CHECK(passed(limiter, "acme", "a@gmail.com", 5, k_t0) == 5);            // another group: no limit
        CHECK(passed(limiter, "acme", "a@outlook.com", 100, k_t0 + 10min) == 60); // never more than burst
    }
    SECTION("burst below rate: a short window with a small capacity") {
        const auto config =
            rates_from("rates:\n  limits:\n    - {tenant: acme, rate: 10, per: 10s, burst: 3}\n");
        RateLimiter limiter(config, f->store);
        CHECK(passed(limiter, "acme", "x@example.org", 5, k_t0) == 3);
        CHECK(passed(limiter, "acme", "x@example.org", 5, k_t0 + 1s) == 1);
        CHECK(passed(limiter, "newco", "x@example.org", 5, k_t0) == 5); // the limit names acme only
        const auto refused = limiter.check("acme", "x@example.org", k_t0 + 1s);
        CHECK(refused.scope == "tenant");
        CHECK(refused.rate == "10/10s");
    }
    SECTION("tenant * gives each tenant its own bucket; no tenant is \"-\"") {
        const auto config = rates_from("rates:\n  limits:\n    - {tenant: \"*\", rate: 2, per: hour}\n");
        RateLimiter limiter(config, f->store);
        CHECK(passed(limiter, "acme", "x@example.org", 5, k_t0) == 2);
        CHECK(passed(limiter, "newco", "x@example.org", 5, k_t0) == 2);
        CHECK(passed(limiter, "", "x@example.org", 5, k_t0) == 2);
        CHECK(limiter.check("", "x@example.org", k_t0).tenant == "-");
        CHECK(tokens_of(*f->store, "tenant=*,per=hour|-|", k_t0) == Approx(0));
    }
    SECTION("all or none: a recipient refused by one bucket takes nothing from the others") {
        const auto config = rates_from("rates:\n  limits:\n"
                                       "    - {tenant: acme, rate: 100, per: minute}\n"
                                       "    - {tenant: acme, group: google, rate: 2, per: minute}\n");
        RateLimiter limiter(config, f->store);
        CHECK(passed(limiter, "acme", "x@gmail.com", 5, k_t0) == 2);
        CHECK(tokens_of(*f->store, "tenant=acme,per=minute|acme|", k_t0) == Approx(98));
        const auto refused = limiter.check("acme", "x@gmail.com", k_t0);
        CHECK(refused.scope == "tenant-group");
        CHECK(refused.rate == "2/minute");
        CHECK(passed(limiter, "acme", "x@example.org", 1, k_t0) == 1);
        CHECK(tokens_of(*f->store, "tenant=acme,per=minute|acme|", k_t0) == Approx(97));
    }
    SECTION("warm-up: a tenant's daily cap, day by day, and none once the curve ends") {
        const auto config = rates_from("rates:\n  warmup:\n"
                                       "    - {tenant: newco, start: 2026-11-27, days: [3, 5], factor: 2, max: 12}\n");
        RateLimiter limiter(config, f->store);
        CHECK(passed(limiter, "newco", "x@gmail.com", 10, k_t0) == 3);
        const auto refused = limiter.check("newco", "x@gmail.com", k_t0 + 1h);
        CHECK(refused.scope == "warmup");
        CHECK(refused.rate == "3/day");
        CHECK(refused.limit == "warmup:tenant=newco");
        CHECK(passed(limiter, "newco", "x@gmail.com", 10, k_t0 + 15h) == 5);  // day 1, just after midnight
        CHECK(passed(limiter, "newco", "x@gmail.com", 20, k_t0 + 39h) == 10); // day 2: 5 × 2
        CHECK(passed(limiter, "newco", "x@gmail.com", 20, k_t0 + 63h) == 20); // day 3: 20 >= max, no cap
        CHECK(passed(limiter, "acme", "x@gmail.com", 20, k_t0) == 20);        // another tenant: no schedule
    }
    SECTION("warm-up of the sending IP counts every recipient through this instance") {
        const auto config = rates_from("rates:\n  warmup:\n"
                                       "    - {sending_ip: 192.0.2.10, start: 2026-11-26, first: 2, factor: 2, max: 100}\n");
        RateLimiter limiter(config, f->store);
        CHECK(passed(limiter, "acme", "x@gmail.com", 3, k_t0) == 3); // day 1: 4
        CHECK(passed(limiter, "", "x@example.org", 3, k_t0) == 1);
        const auto today = limiter.warmup_today(k_t0);
        REQUIRE(today.size() == 1);
        CHECK(today[0].id == "sending_ip=192.0.2.10");
        CHECK(today[0].day == 1);
        CHECK(today[0].cap == 4.0);
    }
    SECTION("a back-off factor scales the group's rate and burst, and only group-scoped limits") {
        const auto config = rates_from("rates:\n  limits:\n"
                                       "    - {group: microsoft, rate: 10, per: minute}\n"
                                       "    - {tenant: acme, rate: 4, per: minute}\n");
        RateLimiter limiter(config, f->store, [](std::string_view group, RateClock::time_point) {
            return group == "microsoft" ? 0.5 : 1.0;
        });
        CHECK(limiter.factor("microsoft", k_t0) == 0.5);
        CHECK(limiter.factor("google", k_t0) == 1.0);
        CHECK(passed(limiter, "newco", "x@outlook.com", 10, k_t0) == 5);
        CHECK(limiter.check("newco", "x@outlook.com", k_t0).rate == "5/minute");
        CHECK(passed(limiter, "acme", "x@gmail.com", 10, k_t0) == 4); // tenant-only: not scaled
    }
}

TEST_CASE("back-off factors are clamped: never above 1, never below k_min_factor") {
    const auto config = rates_from("rates:\n  limits:\n    - {group: google, rate: 100, per: minute}\n");
    double value = 7;
    RateLimiter limiter(config, detail::open_memory_rate_store(4096),
                        [&](std::string_view, RateClock::time_point) { return value; });
    CHECK(limiter.factor("google", k_t0) == 1.0);
    value = 0;
    CHECK(limiter.factor("google", k_t0) == RateLimiter::k_min_factor);
    value = std::nan("");
    CHECK(limiter.factor("google", k_t0) == 1.0);
    value = 0.001;
    // burst 100 × 0.01 = 1: one recipient, slowed but never stopped
    CHECK(passed(limiter, "acme", "x@gmail.com", 3, k_t0) == 1);
}

TEST_CASE("the memory store is bounded: idle buckets make room, busy ones are a store error") {
    const auto config = rates_from("rates:\n  limits:\n    - {tenant: \"*\", rate: 1, per: 10s}\n");
    RateLimiter limiter(config, detail::open_memory_rate_store(16)); // one bucket per shard
    int refused_for_room = 0;
    for (int i = 0; i < 200; ++i) {
        try {
            limiter.check("t" + std::to_string(i), "x@example.org", k_t0);
        } catch (const StoreError& e) {
            CHECK(std::string(e.what()).find("memory rate store full") != std::string::npos);
            ++refused_for_room;
        }
    }
    CHECK(refused_for_room > 0);
    // Eleven seconds later every bucket is full again, so idle: a new tenant gets room.
    CHECK_NOTHROW(limiter.check("newcomer", "x@example.org", k_t0 + 11s));
}

TEST_CASE("eight threads on one bucket take exactly its burst", "[concurrency]") {
    const auto config = rates_from("rates:\n  limits:\n    - {group: google, rate: 500, per: hour}\n");
    RateLimiter limiter(config, detail::open_memory_rate_store(4096));
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] { ok += passed(limiter, "acme", "x@gmail.com", 100, k_t0); });
    for (auto& t : threads)
        t.join();
    CHECK(ok == 500);
}

TEST_CASE("a Redis rate store that is down fails fast with StoreError") {
    RedisSettings settings;
    settings.port = presend::test::free_loopback_port();
    settings.timeout_ms = 100;
    const auto config = rates_from("rates:\n  limits:\n    - {group: google, rate: 5}\n");
    RateLimiter limiter(config, detail::open_redis_rate_store(settings));
    CHECK_THROWS_AS(limiter.check("acme", "x@gmail.com", k_t0), StoreError);
    CHECK_NOTHROW(limiter.check("acme", "x@example.org", k_t0)); // no bucket applies: no store call
}

TEST_CASE("a fleet: two MTAs sharing one Redis take from the same buckets, atomically") {
    if (!RedisServer::available()) {
        WARN("redis-server is not installed: Redis fleet test skipped");
        return;
    }
    TempDir dir;
    RedisServer redis(dir.path());
    RedisSettings settings;
    settings.port = redis.port();
    const auto config = rates_from("rates:\n  backend: redis\n  limits:\n    - {group: microsoft, rate: 100, per: hour}\n");
    RateLimiter mta1(config, detail::open_redis_rate_store(settings));
    RateLimiter mta2(config, detail::open_redis_rate_store(settings));
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] { ok += passed(t % 2 ? mta1 : mta2, "acme", "x@outlook.com", 40, k_t0); });
    for (auto& t : threads)
        t.join();
    CHECK(ok == 100); // 160 asked for, the fleet-wide burst let through
    CHECK_FALSE(mta1.check("acme", "x@outlook.com", k_t0).allowed);
    CHECK_FALSE(mta2.check("acme", "x@live.com", k_t0).allowed);

    SECTION("after SCRIPT FLUSH (or a Redis restart) EVALSHA falls back to EVAL") {
        redisContext* c = redisConnect("127.0.0.1", redis.port());
        REQUIRE(c);
        freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
        redisFree(c);
        CHECK(mta1.check("acme", "x@outlook.com", k_t0 + 36s).allowed); // one token back after 36 s
        CHECK_FALSE(mta2.check("acme", "x@outlook.com", k_t0 + 36s).allowed);
    }
}
