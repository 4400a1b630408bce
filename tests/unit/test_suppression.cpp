// Suppression list: the same behaviour tests against both stores (SQLite in a temporary directory, Redis as a
// real redis-server on a free loopback port; skipped with a warning when redis-server is not installed), then
// what only one store has (SQLite files, Redis failures), the CSV and Postfix-log importers, and the config.
#include "engine/suppression_config.hpp"
#include "engine/suppression_import.hpp"
#include "presend/suppression.hpp"
#include "redis_fixture.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

using namespace presend;
using presend::test::free_loopback_port;
using presend::test::RedisServer;
using presend::test::sqlite_config;
using presend::test::TempDir;
using Clock = std::chrono::steady_clock;

namespace {

// One store under test with whatever it needs alive.
struct SuppressionFixture {
    std::string kind;
    TempDir dir;
    std::unique_ptr<RedisServer> redis;
    SuppressionConfig config;
    std::unique_ptr<SuppressionStore> store;
};

std::unique_ptr<SuppressionFixture> make_fixture(const std::string& kind) {
    auto f = std::make_unique<SuppressionFixture>();
    f->kind = kind;
    if (kind == "redis") {
        if (!RedisServer::available()) {
            WARN("redis-server is not installed: Redis store tests skipped");
            return nullptr;
        }
        f->redis = std::make_unique<RedisServer>(f->dir.path());
        f->config.backend = "redis";
        f->config.redis.port = f->redis->port();
    } else {
        f->config = sqlite_config(f->dir);
    }
    f->store = open_suppression_store(f->config);
    REQUIRE(f->store);
    return f;
}

SuppressionEntry entry(std::string key, SuppressionReason reason = SuppressionReason::hard_bounce,
                       std::string scope = "", std::optional<std::int64_t> expires = std::nullopt) {
    SuppressionEntry e;
    e.address_or_domain = std::move(key);
    e.reason = reason;
    e.source = "test";
    e.scope = std::move(scope);
    e.expires = expires;
    return e;
}

std::string fixture_path(const std::string& name) {
    return std::string(PRESEND_FIXTURES_DIR) + "/postfix/" + name;
}

ImportResult import_log(const std::string& name, ImportDefaults defaults = {}) {
    if (defaults.now == 0) defaults.now = unix_now();
    std::ifstream in(fixture_path(name));
    REQUIRE(in);
    return parse_postfix_log(in, defaults);
}

std::set<std::string> keys_of(const std::vector<SuppressionEntry>& entries) {
    std::set<std::string> out;
    for (const auto& e : entries)
        out.insert(e.address_or_domain);
    return out;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// The entry for key once the store answers again (a resumed or restarted Redis), trying for up to 5 s.
std::optional<SuppressionEntry> find_once_back(const SuppressionStore& store, const std::string& key) {
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
        try {
            return store.find(key, "");
        } catch (const StoreError&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    return std::nullopt;
}

} // namespace

// ---- the same behaviour from both stores
// --------------------------------------------------------------------

TEST_CASE("a suppressed address is found, an unknown one is not, and remove lifts it") {
    const std::string kind = GENERATE(as<std::string>{}, "sqlite", "redis");
    CAPTURE(kind);
    auto f = make_fixture(kind);
    if (!f) return;
    auto& store = *f->store;

    CHECK_FALSE(store.find("john@example.com", ""));
    CHECK(store.add(entry("john@example.com")) == AddOutcome::added);
    const auto hit = store.find("john@example.com", "");
    REQUIRE(hit);
    CHECK(hit->address_or_domain == "john@example.com");
    CHECK_FALSE(hit->is_domain);
    CHECK(hit->reason == SuppressionReason::hard_bounce);
    CHECK(hit->source == "test");
    CHECK(hit->scope.empty());
    CHECK(hit->created > 0);
    CHECK_FALSE(hit->expires);
    CHECK_FALSE(store.find("jane@example.com", ""));
    CHECK(store.count() == 1);

    CHECK(store.remove("<John@Example.com>", ""));
    CHECK_FALSE(store.find("john@example.com", ""));
    CHECK_FALSE(store.remove("john@example.com", ""));
    CHECK(store.count() == 0);
}

TEST_CASE("lookups ignore case, angle brackets and blanks; keys are stored normalised") {
    const std::string kind = GENERATE(as<std::string>{}, "sqlite", "redis");
    CAPTURE(kind);
    auto f = make_fixture(kind);
    if (!f) return;
    auto& store = *f->store;

    store.add(entry("  <John.Doe@Example.COM.> "));
    const auto listed = store.list(std::nullopt, 0);
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].address_or_domain == "john.doe@example.com");
    for (const char* rcpt : {"john.doe@example.com", "<JOHN.DOE@EXAMPLE.COM>", " John.Doe@example.com ",
                             "john.doe@example.com."})
        CHECK(store.find(rcpt, ""));
    CHECK_FALSE(store.find("john.doe+news@example.com", "")); // sub-addresses are the provider's business
    CHECK_FALSE(store.find("johndoe@example.com", ""));
    CHECK_FALSE(store.find("<>", ""));      // the null sender is never a recipient to suppress
    CHECK_FALSE(store.find("garbage", "")); // not an address: Postfix answers those
}

TEST_CASE("a domain entry suppresses every address at that domain, not its subdomains") {
    const std::string kind = GENERATE(as<std::string>{}, "sqlite", "redis");
    CAPTURE(kind);
    auto f = make_fixture(kind);
    if (!f) return;
    auto& store = *f->store;

    CHECK(store.add(entry("@Closed.Example", SuppressionReason::manual)) == AddOutcome::added);
    const auto hit = store.find("anyone@closed.example", "");
    REQUIRE(hit);
    CHECK(hit->is_domain);
    CHECK(hit->address_or_domain == "closed.example");
    CHECK(store.find("Other@CLOSED.example", ""));
    CHECK_FALSE(store.find("anyone@sub.closed.example", ""));
    CHECK_FALSE(store.find("closed.example@elsewhere.example", ""));

    // The exact address wins over its domain: its reason is the one reported.
    store.add(entry("someone@closed.example", SuppressionReason::complaint));
    CHECK(store.find("someone@closed.example", "")->reason == SuppressionReason::complaint);
    CHECK(store.remove("closed.example", ""));
    CHECK_FALSE(store.find("anyone@closed.example", ""));
}

TEST_CASE("tenant entries apply to that tenant only; global entries apply to every tenant") {
    const std::string kind = GENERATE(as<std::string>{}, "sqlite", "redis");
    CAPTURE(kind);
    auto f = make_fixture(kind);
    if (!f) return;
    auto& store = *f->store;

    store.add(entry("global@example.com", SuppressionReason::hard_bounce));
    store.add(entry("mine@example.com", SuppressionReason::unsubscribe, "tenant-a"));
    store.add(entry("tenant-domain.example", SuppressionReason::manual, "tenant-a"));

    CHECK(store.find("global@example.com", ""));
    CHECK(store.find("global@example.com", "tenant-a"));
    CHECK(store.find("global@example.com", "tenant-b"));

    const auto mine = store.find("mine@example.com", "tenant-a");
    REQUIRE(mine);
    CHECK(mine->scope == "tenant-a");
    CHECK(mine->reason == SuppressionReason::unsubscribe);
    CHECK_FALSE(store.find("mine@example.com", "tenant-b"));
    CHECK_FALSE(store.find("mine@example.com", ""));
    CHECK(store.find("x@tenant-domain.example", "tenant-a"));
    CHECK_FALSE(store.find("x@tenant-domain.example", "tenant-b"));

    // Global before the tenant's own when both exist.
    store.add(entry("both@example.com", SuppressionReason::unsubscribe, "tenant-a"));
    store.add(entry("both@example.com", SuppressionReason::hard_bounce, ""));
    CHECK(store.find("both@example.com", "tenant-a")->scope.empty());

    // Removing is per scope.
    CHECK_FALSE(store.remove("mine@example.com", ""));
    CHECK(store.remove("mine@example.com", "tenant-a"));
    CHECK_FALSE(store.find("mine@example.com", "tenant-a"));

    // A tenant id that can never be stored meets the global list only.
    CHECK(store.find("global@example.com", "bad tenant:id"));
    CHECK_THROWS_AS(store.add(entry("x@example.com", SuppressionReason::manual, "bad:tenant")),
                    std::invalid_argument);
}

TEST_CASE("expired entries never match, are not listed or counted, and re-adding one counts as added") {
    const std::string kind = GENERATE(as<std::string>{}, "sqlite", "redis");
    CAPTURE(kind);
    auto f = make_fixture(kind);
    if (!f) return;
    auto& store = *f->store;
    const auto now = unix_now();

    store.add(entry("temp@example.com", SuppressionReason::unsubscribe, "", now + 100));
    store.add(entry("forever@example.com"));
    const auto hit = store.find_at("temp@example.com", "", now + 99);
    REQUIRE(hit);
    CHECK(hit->expires == now + 100);
    CHECK_FALSE(store.find_at("temp@example.com", "", now + 100));
    CHECK_FALSE(store.find_at("temp@example.com", "", now + 1000));
    CHECK(store.find_at("forever@example.com", "", now + 1000000));

    // An entry already past its expiry is refused rather than stored dead.
    CHECK_THROWS_AS(store.add(entry("late@example.com", SuppressionReason::manual, "", now - 1)),
                    std::invalid_argument);
    CHECK_FALSE(store.find("late@example.com", ""));
    CHECK(store.count() == 2);
}

TEST_CASE("add reports added, updated (keeping the first created time) and unchanged") {
    const std::string kind = GENERATE(as<std::string>{}, "sqlite", "redis");
    CAPTURE(kind);
    auto f = make_fixture(kind);
    if (!f) return;
    auto& store = *f->store;

    auto first = entry("user@example.com", SuppressionReason::hard_bounce);
    first.created = 1700000000;
    CHECK(store.add(first) == AddOutcome::added);
    auto again = first;
    again.created = 1800000000; // only the created time differs: nothing to change
    CHECK(store.add(again) == AddOutcome::unchanged);
    auto changed = first;
    changed.reason = SuppressionReason::complaint;
    changed.source = "feedback loop";
    changed.created = 1800000000;
    CHECK(store.add(changed) == AddOutcome::updated);
    const auto hit = store.find("user@example.com", "");
    REQUIRE(hit);
    CHECK(hit->reason == SuppressionReason::complaint);
    CHECK(hit->source == "feedback loop");
    CHECK(hit->created == 1700000000);
    CHECK(store.count() == 1);
}

TEST_CASE("add_batch: a re-import adds nothing new, and a key repeated in one batch counts once") {
    const std::string kind = GENERATE(as<std::string>{}, "sqlite", "redis");
    CAPTURE(kind);
    auto f = make_fixture(kind);
    if (!f) return;
    auto& store = *f->store;

    std::vector<SuppressionEntry> batch;
    for (int i = 0; i < 2500; ++i)
        batch.push_back(entry("user" + std::to_string(i) + "@example.com"));
    batch.push_back(entry("USER7@example.com", SuppressionReason::complaint)); // repeat: the last one wins
    std::size_t last_progress = 0;
    const auto first = store.add_batch(batch, [&](std::size_t done) { last_progress = done; });
    CHECK(first.added == 2500);
    CHECK(first.updated == 0);
    CHECK(first.unchanged == 0);
    CHECK(first.duplicates == 1);
    CHECK(last_progress == 2500);
    CHECK(store.find("user7@example.com", "")->reason == SuppressionReason::complaint);
    CHECK(store.count() == 2500);

    const auto second = store.add_batch(batch);
    CHECK(second.added == 0);
    CHECK(second.updated == 0);
    CHECK(second.unchanged == 2500);
    CHECK(second.duplicates == 1);

    batch.back().reason = SuppressionReason::unsubscribe;
    const auto third = store.add_batch(batch);
    CHECK(third.updated == 1);
    CHECK(third.unchanged == 2499);

    // One bad entry refuses the whole batch before anything is written.
    std::vector<SuppressionEntry> bad{entry("fresh@example.com"), entry("not an address")};
    CHECK_THROWS_AS(store.add_batch(bad), std::invalid_argument);
    CHECK_FALSE(store.find("fresh@example.com", ""));
}

TEST_CASE("list filters by scope, orders by scope then key, and stops at the limit") {
    const std::string kind = GENERATE(as<std::string>{}, "sqlite", "redis");
    CAPTURE(kind);
    auto f = make_fixture(kind);
    if (!f) return;
    auto& store = *f->store;

    store.add(entry("b@example.com"));
    store.add(entry("a@example.com"));
    store.add(entry("c@example.com", SuppressionReason::manual, "t1"));
    store.add(entry("example.net", SuppressionReason::manual, "t1"));
    const auto now = unix_now();
    store.add(entry("soon@example.com", SuppressionReason::manual, "", now + 100));

    const auto all = store.list(std::nullopt, 0);
    REQUIRE(all.size() == 5);
    CHECK(all[0].address_or_domain == "a@example.com");
    CHECK(all[1].address_or_domain == "b@example.com");
    CHECK(all[3].scope == "t1");
    CHECK(all[3].address_or_domain == "c@example.com");
    CHECK(all[4].is_domain);

    CHECK(keys_of(store.list(std::string(""), 0)) ==
          std::set<std::string>{"a@example.com", "b@example.com", "soon@example.com"});
    CHECK(keys_of(store.list(std::string("t1"), 0)) == std::set<std::string>{"c@example.com", "example.net"});
    CHECK(store.list(std::string("nobody"), 0).empty());
    CHECK(store.list(std::nullopt, 2).size() == 2);
    CHECK_THROWS_AS(store.list(std::string("bad tenant"), 0), std::invalid_argument);
}

TEST_CASE("imported Postfix logs and CSV files are idempotent through a store") {
    const std::string kind = GENERATE(as<std::string>{}, "sqlite", "redis");
    CAPTURE(kind);
    auto f = make_fixture(kind);
    if (!f) return;
    auto& store = *f->store;

    for (const char* file : {"postlog.log", "syslog-rfc3339.log", "syslog-traditional.log"}) {
        CAPTURE(file);
        const auto parsed = import_log(file);
        const auto first = store.add_batch(parsed.entries);
        CHECK(first.added > 0);
        const auto again = store.add_batch(import_log(file).entries);
        CHECK(again.added == 0);
        CHECK(again.updated == 0);
        CHECK(again.unchanged == first.added + first.updated);
    }
    CHECK(store.find("John.Doe@example.com", ""));
    CHECK(store.find("first@example.com", ""));

    ImportDefaults defaults;
    defaults.now = unix_now();
    std::istringstream csv1("address,reason\nnew@example.com,complaint\n@blocked.example,manual\n");
    const auto parsed = parse_suppression_csv(csv1, defaults);
    CHECK(store.add_batch(parsed.entries).added == 2);
    defaults.now += 60; // a later run: the created time differs, nothing else
    std::istringstream csv2("address,reason\nnew@example.com,complaint\n@blocked.example,manual\n");
    const auto again = store.add_batch(parse_suppression_csv(csv2, defaults).entries);
    CHECK(again.added == 0);
    CHECK(again.unchanged == 2);
}

// ---- SQLite only
// --------------------------------------------------------------------------------------------

TEST_CASE("sqlite: the list survives reopening; a file that is not a presend database is refused") {
    TempDir dir;
    SuppressionConfig config = sqlite_config(dir);
    open_suppression_store(config)->add(entry("kept@example.com"));
    CHECK(open_suppression_store(config)->find("kept@example.com", ""));
    CHECK(std::filesystem::exists(dir.path() / "suppression.db"));

    config.path =
        dir.write("other.db", "this is not a database, just text that is long enough to be read as one");
    CHECK_THROWS_AS(open_suppression_store(config), StoreError);
    config.path = dir.path() / "no-such-dir" / "suppression.db";
    CHECK_THROWS_AS(open_suppression_store(config), StoreError);
}

TEST_CASE("sqlite: lookups from several threads stay right while a batch is written", "[concurrency]") {
    TempDir dir;
    const SuppressionConfig config = sqlite_config(dir);
    auto store = open_suppression_store(config);
    store->add(entry("always@example.com"));

    std::atomic<bool> stop{false};
    std::atomic<int> wrong{0};
    std::atomic<long> lookups{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t)
        readers.emplace_back([&] {
            while (!stop) {
                if (!store->find("always@example.com", "t")) ++wrong;
                if (store->find("never@example.com", "t")) ++wrong;
                lookups += 2;
            }
        });
    std::vector<SuppressionEntry> batch;
    for (int i = 0; i < 5000; ++i)
        batch.push_back(entry("bulk" + std::to_string(i) + "@example.com"));
    CHECK(store->add_batch(batch).added == 5000);
    stop = true;
    for (auto& r : readers)
        r.join();
    CHECK(wrong == 0);
    CHECK(lookups > 0);
    CHECK(store->find("bulk4999@example.com", ""));
}

TEST_CASE("sqlite: lookups see a change made by another process (the CLI) within 100 ms") {
    TempDir dir;
    const SuppressionConfig config = sqlite_config(dir);
    auto daemon = open_suppression_store(config);
    auto cli = open_suppression_store(config);        // its own connections, as another process would have
    CHECK_FALSE(daemon->find("new@example.com", "")); // the daemon's connection now holds a read snapshot
    cli->add(entry("new@example.com"));
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    CHECK(daemon->find("new@example.com", ""));
    cli->remove("new@example.com", "");
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    CHECK_FALSE(daemon->find("new@example.com", ""));
    // Writes through the same store are seen at once: a write ends that connection's snapshot.
    daemon->add(entry("own@example.com"));
    CHECK(daemon->find("own@example.com", ""));
}

TEST_CASE("sqlite: a removed file fails lookups, never answers from the unlinked one; a new file is read") {
    TempDir dir;
    const SuppressionConfig config = sqlite_config(dir);
    auto daemon = open_suppression_store(config);
    daemon->add(entry("old@example.com"));
    CHECK(daemon->find("old@example.com", "")); // a pooled connection now holds the file open
    const auto wait_file_check = [] { std::this_thread::sleep_for(std::chrono::milliseconds(1100)); };

    for (const char* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(config.path.string() + suffix);
    wait_file_check();
    CHECK_THROWS_WITH(daemon->find("old@example.com", ""), Catch::Contains("the file is gone"));
    CHECK_FALSE(std::filesystem::exists(config.path)); // a lookup never makes the file again

    SuppressionConfig aside = config;
    aside.path = dir.path() / "rebuilt.db";
    open_suppression_store(aside)->add(entry("new@example.com"));
    std::filesystem::rename(aside.path, config.path);
    wait_file_check();
    CHECK(daemon->find("new@example.com", ""));
    CHECK_FALSE(daemon->find("old@example.com", ""));
}

// ---- Redis only
// ---------------------------------------------------------------------------------------------

TEST_CASE(
    "redis: killed mid-run, the next lookup fails fast with StoreError; after a restart the store works") {
    auto f = make_fixture("redis");
    if (!f) return;
    auto& store = *f->store;
    store.add(entry("before@example.com"));
    REQUIRE(store.find("before@example.com", ""));

    f->redis->kill();
    auto start = Clock::now();
    CHECK_THROWS_AS(store.find("before@example.com", ""), StoreError);
    CHECK(seconds_since(start) < 2.0);
    start = Clock::now(); // while Redis is down, calls fail at once instead of waiting out a timeout each
    for (int i = 0; i < 20; ++i)
        CHECK_THROWS_AS(store.find("before@example.com", "t"), StoreError);
    CHECK(seconds_since(start) < 2.0);

    f->redis->start(); // same port, empty: --save ''
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    bool reconnected = false;
    while (!reconnected && Clock::now() < deadline) {
        try {
            store.add(entry("after@example.com"));
            reconnected = true;
        } catch (const StoreError&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    REQUIRE(reconnected);
    CHECK(store.find("after@example.com", ""));
    CHECK_FALSE(store.find("before@example.com", ""));
}

TEST_CASE("redis: a stalled server makes lookups fail within the timeout, never hang") {
    auto f = make_fixture("redis");
    if (!f) return;
    auto& store = *f->store;
    store.add(entry("x@example.com"));
    f->redis->pause(); // SIGSTOP: the kernel still accepts connections, nothing answers
    auto start = Clock::now();
    CHECK_THROWS_AS(store.find("x@example.com", ""), StoreError);
    const double first = seconds_since(start);
    CHECK(first >= 0.15); // it did wait for the answer (timeout 200 ms)...
    CHECK(first < 2.0);   // ...and no longer
    f->redis->resume();
    CHECK(find_once_back(store, "x@example.com"));
}

TEST_CASE("redis: while a stalled server fails, one lookup at a time waits on it, the others fail at once") {
    auto f = make_fixture("redis");
    if (!f) return;
    auto& store = *f->store;
    store.add(entry("x@example.com"));
    f->redis->pause();
    CHECK_THROWS_AS(store.find("x@example.com", ""), StoreError); // waits out the timeout: Redis is failing
    std::this_thread::sleep_for(std::chrono::milliseconds(700));  // past the 500 ms without attempts
    std::atomic<int> waited{0};
    std::vector<std::thread> lookups;
    for (int i = 0; i < 8; ++i)
        lookups.emplace_back([&] {
            const auto start = Clock::now();
            CHECK_THROWS_AS(store.find("x@example.com", ""), StoreError);
            if (seconds_since(start) >= 0.1)
                ++waited; // the timeout is 200 ms; failing at once takes microseconds
        });
    for (auto& t : lookups)
        t.join();
    CHECK(waited == 1);
    f->redis->resume();
    CHECK(find_once_back(store, "x@example.com"));
}

TEST_CASE("redis: a Redis that is down at open does not fail the open, only the lookups") {
    SuppressionConfig config;
    config.backend = "redis";
    config.redis.port = free_loopback_port(); // nothing listens there
    auto store = open_suppression_store(config);
    REQUIRE(store);
    const auto start = Clock::now();
    CHECK_THROWS_AS(store->find("a@example.com", ""), StoreError);
    CHECK(seconds_since(start) < 2.0);
    CHECK(store->describe() == "redis://127.0.0.1:" + std::to_string(config.redis.port) + "/0");
}

TEST_CASE("redis: entries live under presend:sup:<scope>:<key>, expiring ones with a Redis TTL") {
    auto f = make_fixture("redis");
    if (!f) return;
    const auto now = unix_now();
    f->store->add(entry("ttl@example.com", SuppressionReason::unsubscribe, "t1", now + 3600));
    f->store->add(entry("perm@example.com"));

    redisContext* c = redisConnectWithTimeout("127.0.0.1", f->redis->port(), timeval{1, 0});
    REQUIRE((c && !c->err));
    auto ttl_of = [&](const char* key) {
        auto* reply = static_cast<redisReply*>(redisCommand(c, "TTL %s", key));
        REQUIRE(reply);
        const long long ttl = reply->integer;
        freeReplyObject(reply);
        return ttl;
    };
    const auto ttl = ttl_of("presend:sup:t1:ttl@example.com");
    CHECK(ttl > 3500);
    CHECK(ttl <= 3600);
    CHECK(ttl_of("presend:sup::perm@example.com") == -1); // no expiry
    redisFree(c);
}

// ---- importers
// ----------------------------------------------------------------------------------------------

TEST_CASE(
    "postfix-log: status=bounced with a 5.x.x dsn become hard bounces; deferred, sent and 4.x.x never") {
    const auto postlog = import_log("postlog.log");
    CHECK(keys_of(postlog.entries) ==
          std::set<std::string>{"john.doe@example.com", "gone.user@gmail.com", "someone@outlook.com",
                                "nobody@no-such-domain.example", "jane@internal.example"});
    CHECK(postlog.bad.empty());
    CHECK(postlog.lines == 29);
    for (const auto& e : postlog.entries) {
        CHECK(e.reason == SuppressionReason::hard_bounce);
        CHECK(e.scope.empty());
        CHECK_FALSE(e.expires);
    }
    CHECK(postlog.entries[0].source == "postfix dsn=5.1.1 queue=16D4FA7235A");

    const auto rfc3339 = import_log("syslog-rfc3339.log");
    CHECK(keys_of(rfc3339.entries) ==
          std::set<std::string>{"unknown.user@hotmail.com", "\"odd local\"@example.com"});

    const auto traditional = import_log("syslog-traditional.log");
    CHECK(keys_of(traditional.entries) ==
          std::set<std::string>{"first@example.com", "olduser@mx3.example.net", "blocked@spamtrap.example"});
    CHECK(traditional.entries.size() == 4); // first@example.com bounced twice: add_batch keeps the last
}

TEST_CASE("postfix-log: policy bounces (5.7.x) are left out unless asked for, and so are bounced notices") {
    auto result = import_log("postlog.log");
    CHECK(result.policy_bounces == 1);
    CHECK(result.notifications == 1); // from=<>: our own sender's address bounced, not a list member
    CHECK(keys_of(result.entries).count("reader@yahoo.com") == 0);
    CHECK(keys_of(result.entries).count("news@sender.example.net") == 0);

    ImportDefaults with_policy;
    with_policy.include_policy_bounces = true;
    with_policy.scope = "tenant-a";
    with_policy.source = "march cleanup";
    result = import_log("postlog.log", with_policy);
    CHECK(keys_of(result.entries).count("reader@yahoo.com") == 1);
    CHECK(result.policy_bounces == 0);
    for (const auto& e : result.entries) {
        CHECK(e.scope == "tenant-a");
        CHECK(e.source == "march cleanup");
    }
}

TEST_CASE("postfix-log: bad lines are reported with their numbers and do not stop the import") {
    const auto result = import_log("malformed.log");
    CHECK(keys_of(result.entries) == std::set<std::string>{"good@example.com", "also-good@example.com"});
    REQUIRE(result.bad.size() == 3);
    CHECK(result.bad[0].line == 2);
    CHECK_THAT(result.bad[0].message, Catch::Contains("dsn"));
    CHECK(result.bad[1].line == 3);
    CHECK_THAT(result.bad[1].message, Catch::Contains("not an address"));
    CHECK(result.bad[2].line == 4);
    CHECK(result.ignored == 1); // the line that is not from Postfix at all
}

TEST_CASE(
    "postfix-log: RFC 3339 time stamps are exact; syslog ones get this year, or last year if in the future") {
    const auto rfc3339 = import_log("syslog-rfc3339.log");
    for (const auto& e : rfc3339.entries) {
        if (e.address_or_domain == "unknown.user@hotmail.com")
            CHECK(e.created == *parse_time("2024-11-27T06:15:03Z"));
        if (e.address_or_domain == "\"odd local\"@example.com")
            CHECK(e.created == *parse_time("2024-11-27T07:20:11Z"));
    }
    const auto now = unix_now();
    for (const auto& e : import_log("syslog-traditional.log").entries) {
        CHECK(e.created <= now + 86400);
        CHECK(e.created > now - 367 * 86400);
    }
    const auto d =
        parse_postfix_delivery("Nov 27 06:30:08 mx1 postfix/smtp[1]: ABC: to=<a@b.example>, relay=none, "
                               "dsn=5.1.1, status=bounced (x)",
                               now);
    REQUIRE(d);
    CHECK(d->queue_id == "ABC");
    CHECK(d->recipient == "a@b.example");
    CHECK(d->dsn == "5.1.1");
    CHECK(d->status == "bounced");
    CHECK(d->time);
    CHECK_FALSE(parse_postfix_delivery("Nov 27 06:30:08 mx1 postfix/smtpd[1]: connect from x[1.2.3.4]", now));
}

TEST_CASE("csv: the header names the columns in any order; empty fields take the defaults; quotes work") {
    ImportDefaults defaults;
    defaults.now = 1750000000;
    defaults.reason = SuppressionReason::unsubscribe;
    defaults.scope = "tenant-x";
    std::istringstream in("\xEF\xBB\xBF"
                          "scope,address,reason,source,created,expires\r\n"
                          "# exported from the ESP on 2025-06-01\n"
                          ",a@example.com,,,,\n"
                          "t2,B@Example.com,complaint,\"fbl, yahoo\",2025-01-31,2030-01-01T00:00:00Z\n"
                          "\n"
                          ",@closed.example,manual,legal,1700000000,\n"
                          ",\"c@example.com\",hard-bounce\n");
    const auto result = parse_suppression_csv(in, defaults);
    CHECK(result.bad.empty());
    REQUIRE(result.entries.size() == 4);
    const auto& a = result.entries[0];
    CHECK(a.address_or_domain == "a@example.com");
    CHECK(a.reason == SuppressionReason::unsubscribe);
    CHECK(a.scope == "tenant-x");
    CHECK(a.source == "csv");
    CHECK(a.created == 1750000000);
    CHECK_FALSE(a.expires);
    const auto& b = result.entries[1];
    CHECK(b.address_or_domain == "b@example.com");
    CHECK(b.reason == SuppressionReason::complaint);
    CHECK(b.source == "fbl, yahoo");
    CHECK(b.scope == "t2");
    CHECK(b.created == *parse_time("2025-01-31T00:00:00Z"));
    CHECK(b.expires == *parse_time("2030-01-01T00:00:00Z"));
    CHECK(result.entries[2].is_domain);
    CHECK(result.entries[2].address_or_domain == "closed.example");
    CHECK(result.entries[2].created == 1700000000);
    CHECK(result.entries[3].reason == SuppressionReason::hard_bounce); // fewer fields: the rest are empty
    CHECK(result.ignored == 2);
}

TEST_CASE(
    "csv: bad rows are reported by line number and the good rows still import; expired rows are skipped") {
    ImportDefaults defaults;
    defaults.now = 1750000000;
    std::istringstream in("address,reason,expires\n"
                          "ok@example.com,manual,\n"
                          "not an address,manual,\n"
                          "x@example.com,angry,\n"
                          "y@example.com,manual,next tuesday\n"
                          "\"unterminated@example.com,manual,\n"
                          "z@example.com,manual,1600000000\n"
                          "w@example.com,manual,,extra\n"
                          "last@example.com\n");
    const auto result = parse_suppression_csv(in, defaults);
    CHECK(keys_of(result.entries) == std::set<std::string>{"ok@example.com", "last@example.com"});
    REQUIRE(result.bad.size() == 5);
    CHECK(result.bad[0].line == 3);
    CHECK(result.bad[1].line == 4);
    CHECK_THAT(result.bad[1].message, Catch::Contains("angry"));
    CHECK(result.bad[2].line == 5);
    CHECK(result.bad[3].line == 6);
    CHECK(result.bad[4].line == 8);
    CHECK(result.expired == 1);

    std::istringstream no_address("email,reason\na@example.com,manual\n");
    const auto header = parse_suppression_csv(no_address, defaults);
    REQUIRE(header.bad.size() == 1);
    CHECK(header.bad[0].line == 1);
    CHECK_THAT(header.bad[0].message, Catch::Contains("email"));
    CHECK(header.entries.empty());
}

TEST_CASE("normalisation: addresses, domains, tenant ids, durations and times") {
    CHECK(normalize_address(" <Jane.Doe@Example.COM> ") == "jane.doe@example.com");
    CHECK(normalize_address("user+tag@example.com.") == "user+tag@example.com");
    CHECK(normalize_address("\"two words\"@example.com") == "\"two words\"@example.com");
    CHECK_FALSE(normalize_address("two words@example.com"));
    CHECK_FALSE(normalize_address("@example.com"));
    CHECK_FALSE(normalize_address("user@"));
    CHECK_FALSE(normalize_address("user@exa mple.com"));
    CHECK_FALSE(normalize_address("user@example..com"));
    CHECK_FALSE(normalize_address(std::string(400, 'a') + "@example.com"));
    CHECK(normalize_address("Ünïcode@Exämple.COM") == "Ünïcode@exämple.com"); // UTF-8 bytes kept as they are
    CHECK(normalize_suppression_key("@Example.COM")->key == "example.com");
    CHECK(normalize_suppression_key("Example.COM")->is_domain);
    CHECK_FALSE(normalize_suppression_key("@"));

    CHECK(valid_suppression_scope(""));
    CHECK(valid_suppression_scope("tenant-a.prod@platform"));
    CHECK_FALSE(valid_suppression_scope("a:b"));
    CHECK_FALSE(valid_suppression_scope("a*"));
    CHECK_FALSE(valid_suppression_scope(std::string(129, 'a')));

    CHECK(parse_duration("30d") == 30 * 86400);
    CHECK(parse_duration("12h") == 12 * 3600);
    CHECK(parse_duration("2w") == 14 * 86400);
    CHECK(parse_duration("90") == 90);
    CHECK_FALSE(parse_duration("0d"));
    CHECK_FALSE(parse_duration("soon"));
    CHECK(parse_time("1700000000") == 1700000000);
    CHECK(parse_time("2024-11-27") == 1732665600);
    CHECK(parse_time("2024-11-27T06:30:07Z") == 1732689007);
    CHECK(parse_time("2024-11-27T07:30:07+01:00") == 1732689007);
    CHECK_FALSE(parse_time("27/11/2024"));

    CHECK(parse_suppression_reason("Hard-Bounce") == SuppressionReason::hard_bounce);
    CHECK_FALSE(parse_suppression_reason("bounce"));
    SuppressionEntry e = entry("x@example.com");
    e.created = 1732689007;
    CHECK(explain(e) ==
          "hard_bounce (address entry, global, since 2024-11-27T06:30:07Z, expires never, source \"test\")");
}

// ---- config
// ------------------------------------------------------------------------------------------------

TEST_CASE("suppression config: every key, defaults, and file:line:column errors with suggestions") {
    TempDir dir;
    const auto file = dir.write("presend.yaml", R"(mode: enforce
suppression:
  backend: redis
  path: lists/suppression.db
  redis: {host: redis.internal, port: 6380, db: 2, timeout_ms: 150, password_file: redis.pass}
  on_error: accept
)");
    const auto config = load_suppression_config(file);
    CHECK(config.backend == "redis");
    CHECK(config.path == dir.path() / "lists/suppression.db");
    CHECK(config.redis.host == "redis.internal");
    CHECK(config.redis.port == 6380);
    CHECK(config.redis.db == 2);
    CHECK(config.redis.timeout_ms == 150);
    CHECK(config.redis.password_file == dir.path() / "redis.pass");
    CHECK(config.on_store_error == Action::accept);

    CHECK(load_suppression_config(dir.write("none.yaml", "mode: enforce\n")).backend == "none");
    const auto defaults = load_suppression_config(dir.write("min.yaml", "suppression: {}\n"));
    CHECK(defaults.backend == "sqlite");
    CHECK(defaults.path == "/var/lib/presend/suppression.db");
    CHECK(defaults.redis.timeout_ms == 200);
    CHECK(defaults.on_store_error == Action::tempfail);

    auto error_of = [&](const std::string& yaml) {
        try {
            load_suppression_config(dir.write("bad.yaml", yaml));
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK_THAT(error_of("suppression:\n  backend: sqlite\n  bakend: redis\n"),
               Catch::Contains("bad.yaml:3:3: unknown key 'bakend' (did you mean 'backend'?)"));
    CHECK_THAT(error_of("suppression:\n  backend: memcached\n"),
               Catch::Contains("bad.yaml:2:12: backend: expected sqlite, redis or none"));
    CHECK_THAT(error_of("suppression:\n  redis: {port: 70000}\n"),
               Catch::Contains("port: expected a whole number"));
    CHECK_THAT(error_of("suppression:\n  redis: {timeout: 5}\n"),
               Catch::Contains("did you mean 'timeout_ms'?"));
    CHECK_THAT(error_of("suppression:\n  on_error: reject\n"),
               Catch::Contains("on_error: expected tempfail or accept"));
    CHECK_THAT(error_of("suppression: [sqlite]\n"),
               Catch::Contains("bad.yaml:1:14: suppression: expected a mapping"));
}

TEST_CASE("store specs: sqlite:PATH and redis://HOST[:PORT][/DB]") {
    const auto sqlite = parse_store_spec("sqlite:/tmp/x.db");
    CHECK(sqlite.backend == "sqlite");
    CHECK(sqlite.path == "/tmp/x.db");
    CHECK(parse_store_spec("sqlite:///var/lib/presend/s.db").path == "/var/lib/presend/s.db");
    const auto redis = parse_store_spec("redis://10.0.0.5:6380/3");
    CHECK(redis.backend == "redis");
    CHECK(redis.redis.host == "10.0.0.5");
    CHECK(redis.redis.port == 6380);
    CHECK(redis.redis.db == 3);
    CHECK(parse_store_spec("redis://").redis.host == "127.0.0.1");
    CHECK(parse_store_spec("redis://[::1]:7000").redis.host == "::1");
    CHECK_THROWS_AS(parse_store_spec("redis://:secret@host"), std::invalid_argument);
    CHECK_THROWS_AS(parse_store_spec("redis://host:port"), std::invalid_argument);
    CHECK_THROWS_AS(parse_store_spec("mysql://x"), std::invalid_argument);
    CHECK_THROWS_AS(parse_store_spec("sqlite:"), std::invalid_argument);
}
