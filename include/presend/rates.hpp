// rates: the volume guard. Smooths what each tenant sends and what goes to each big mailbox provider, counted
// per recipient at RCPT TO, before the receiver throttles or blocks the server itself. A RateLimiter maps the
// recipient's domain to a destination group, collects the token buckets that apply (limits by tenant, by
// group, by tenant × group, and warm-up daily caps) and takes one token from each, all or none, in a
// RateStore: memory (one MTA, engine/rates_memory.cpp) or Redis (a fleet, engine/rates_redis.cpp).
// Called by daemon/rate_check.cpp and `presend rates`. Every decision takes `now`, so tests control time.
// Standard library only. See docs/rates.md.
#pragma once

#include "presend/store.hpp"
#include "presend/verdict.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace presend {

using RateClock = std::chrono::system_clock;

constexpr std::string_view k_other_group = "other"; // the group of a domain no group names
constexpr std::string_view k_rates_no_tenant = "-"; // the tenant of mail no tenant selects
// Buckets one recipient may need: a few limits per scope and window plus two warm-up caps. More than this
// is a config error: each costs a store operation on every recipient.
constexpr std::size_t k_max_buckets_per_recipient = 32;

// Lets maps keyed by std::string be searched with a string_view, without building a string per lookup.
struct TransparentStringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, TransparentStringHash, std::equal_to<>>;

// The one table of destination groups, owned by `rates:` and used by the volume guard and the feedback module.
// Recipient domain → group: exact domains ("outlook.com") and suffixes ("*.outlook.com": any subdomain, not the
// domain itself); an exact entry wins, then the longest suffix. Relay host → group: the suffixes of the MX
// hosts a group's receivers answer from ("protection.outlook.com": that host and every host below it), with
// which the feedback module classifies a Postfix log line that names no recipient, or a domain hosted at a
// provider (Microsoft 365, Google Workspace); the longest suffix wins.
class DestinationGroups {
  public:
    // Adds or replaces one mapping. pattern is lower-case ASCII, as validated by rates_config.cpp.
    void add(std::string_view pattern, std::string_view group);
    // Adds or replaces one MX host suffix ("protection.outlook.com"), lower-case ASCII.
    void add_mx(std::string_view suffix, std::string_view group);
    // The group of domain (any case, a trailing dot ignored); k_other_group when none names it.
    std::string_view group_of(std::string_view domain) const;
    // The group whose MX suffix matches host (any case, a trailing dot ignored); "" when none does.
    std::string_view group_of_mx(std::string_view host) const;
    // Every group named, sorted, k_other_group included.
    std::vector<std::string> names() const;
    // (pattern, group) pairs, sorted by group then pattern: for `presend rates` and the docs.
    std::vector<std::pair<std::string, std::string>> entries() const;
    // (MX suffix, group) pairs, sorted the same way.
    std::vector<std::pair<std::string, std::string>> mx_entries() const;
    bool operator==(const DestinationGroups&) const = default;

  private:
    StringMap<std::string> m_exact;
    StringMap<std::string> m_suffix; // ".outlook.com" → group
    StringMap<std::string> m_mx;     // ".protection.outlook.com" → group
};

// The shipped groups: microsoft, google, yahoo, apple with their national variants and MX hosts
// (docs/rates.md).
DestinationGroups default_destination_groups();

// One limit: rate tokens per window, at most burst at once, one token per recipient. tenant and group say
// which buckets it keeps: "" = not scoped by it, "*" = one bucket per tenant (group), else that one only.
struct RateLimit {
    std::string tenant;
    std::string group;
    std::chrono::milliseconds per{60000};
    std::string per_text = "minute"; // as written: "minute", "hour", "day", "10s"
    double rate = 0;
    double burst = 0; // 0 in config means = rate

    // "tenant=*,group=microsoft,per=minute": names the limit in logs, replies of `presend rates` and keys.
    std::string id() const;
    bool operator==(const RateLimit&) const = default;
};

// A warm-up schedule: daily caps that grow from start until the curve ends, after which there is none.
// Day n (UTC, counted from start) gets days[n]; past the list, when factor is set, the previous cap times
// factor (starting at first when there is no list) until max is reached: the curve ends on the first day
// whose cap would reach max. A day before start gets day 0's cap.
struct WarmupSchedule {
    std::string tenant;     // a tenant id ("-": mail of no tenant); empty for a sending_ip schedule
    std::string sending_ip; // set: every recipient through this presend instance counts
    std::chrono::sys_days start{};
    std::vector<double> days;
    double first = 0;
    double factor = 0; // 0: no geometric part
    double max = 0;

    // The cap in force on day today; nullopt once the curve has ended.
    std::optional<double> cap_on(std::chrono::sys_days today) const;
    // "tenant=acme" or "sending_ip=192.0.2.10"
    std::string id() const;
    bool operator==(const WarmupSchedule&) const = default;
};

struct RatesConfig {
    std::string backend = "none"; // memory | redis | none; a `rates:` section without one means memory
    RedisSettings redis;
    Action on_store_error = Action::tempfail; // what a recipient gets when the store cannot answer
    // The memory store's counters, written by the daemon for `presend rates` at most once a second.
    std::filesystem::path state_file = "/var/lib/presend/rates.state";
    DestinationGroups groups = default_destination_groups();
    std::vector<RateLimit> limits;
    std::vector<WarmupSchedule> warmup;
    // The memory store's bound: past it, idle buckets are dropped; with none idle, a new bucket is a store
    // error (on_error), so memory use stays bounded whatever the traffic.
    std::size_t max_buckets = 262144;

    // Whether the store must be reopened (the limiter is rebuilt on every reload regardless).
    bool same_store(const RatesConfig& other) const {
        return backend == other.backend && redis == other.redis && max_buckets == other.max_buckets;
    }
    bool operator==(const RatesConfig&) const = default;
};

// One bucket a recipient needs: its key and its shape at the moment of the check.
struct BucketSpec {
    std::string key;         // "tenant=*,per=minute|acme" (RateLimiter::bucket keys, docs/rates.md)
    double rate_per_ms = 0;  // refill; 0 for a warm-up day
    double burst = 0;        // capacity
    std::int64_t ttl_ms = 0; // after this long untouched the bucket is full again (or its day is over)
};

// A bucket as the store holds it, refilled to now.
struct BucketState {
    std::string key;
    double tokens = 0;
    double burst = 0;
    double rate_per_ms = 0;
    std::int64_t updated_ms = 0; // unix milliseconds of the last take
    std::int64_t expires_ms = 0; // when it is full again (or its day is over) and may go; 0: not known
};

// Where the buckets live. Thread-safe. take() never blocks longer than the store's timeout; a store that
// cannot answer throws StoreError.
class RateStore {
  public:
    virtual ~RateStore() = default;
    RateStore() = default;
    RateStore(const RateStore&) = delete;
    RateStore& operator=(const RateStore&) = delete;

    // Refills every bucket to now_ms, then takes one token from each when every one has at least one, and
    // none otherwise. Returns the index of the first bucket without a token, or buckets.size() when all
    // were taken. left (same size as buckets) gets each bucket's tokens after the call.
    virtual std::size_t take(std::span<const BucketSpec> buckets, std::int64_t now_ms,
                             std::span<double> left) = 0;
    // Every bucket held, refilled to now_ms, sorted by key (for `presend rates`).
    virtual std::vector<BucketState> buckets(std::int64_t now_ms) const = 0;
    // Counts changes: the daemon writes the memory store's state file only when this moved.
    virtual std::uint64_t version() const = 0;
    // Takes back buckets an earlier run saved (the memory store's state file), so a restart does not refill
    // them: those expired by now_ms, or full again, are dropped. Returns how many were kept. The Redis store
    // keeps its own buckets and takes none.
    virtual std::size_t restore(std::span<const BucketState> buckets, std::int64_t now_ms) {
        (void)buckets;
        (void)now_ms;
        return 0;
    }
    virtual std::string describe() const = 0;
};

// Opens the configured store; nullptr for backend none. Redis connects lazily (a Redis that is down makes
// checks fail with StoreError, not the open); throws StoreError for an unreadable password file.
std::shared_ptr<RateStore> open_rate_store(const RatesConfig& config);

// The back-off hook: a factor in (0,1] per destination group that scales that group's rates and bursts on
// this MTA (the Postfix log feedback supplies it). Values outside are clamped (see RateLimiter).
using BackoffProvider = std::function<double(std::string_view group, RateClock::time_point now)>;

// A back-off in force, as `presend rates` shows it: the group, its factor, since when, and why (the
// feedback module's Backoff::snapshot(), daemon/rate_check.cpp).
struct BackoffEntry {
    std::string group;
    double factor = 1.0;
    RateClock::time_point since{};
    std::string signature;  // of the throttle event that completed the last burst
    std::size_t events = 0; // throttle events in the window when it did
    std::size_t step = 0;   // 1-based step of the curve reached
    std::size_t steps = 0;  // steps in the curve
    RateClock::time_point last_event{};
    RateClock::time_point next_recovery{}; // when the factor next grows, if no throttle event comes first
    std::string sample;                    // that event's log line, recipient local parts masked
};

// What happened to one recipient.
struct RateDecision {
    bool allowed = true;
    std::string tenant; // "-" for none
    std::string group;
    // When refused: what refused it.
    std::string limit;  // RateLimit::id() or "warmup:" + WarmupSchedule::id()
    std::string scope;  // tenant, group, tenant-group, warmup
    std::string rate;   // "60/minute", "200/day": the rate in force (back-off applied)
};

// The warm-up cap and the back-off factor in force, for `presend rates`.
struct WarmupToday {
    std::string id;
    std::int64_t day = 0; // days since start
    std::optional<double> cap;
};

class RateLimiter {
  public:
    // Factors below this are raised to it: a group is slowed, never stopped (a stop is a suppression).
    static constexpr double k_min_factor = 0.01;

    RateLimiter(RatesConfig config, std::shared_ptr<RateStore> store, BackoffProvider backoff = {});

    // The decision for one recipient of tenant ("" = none) at now. Throws StoreError.
    RateDecision check(std::string_view tenant, std::string_view rcpt, RateClock::time_point now) const;

    // The buckets check() would use, without taking anything (tests, `presend rates`).
    std::vector<BucketSpec> buckets_for(std::string_view tenant, std::string_view group,
                                        RateClock::time_point now) const;
    // The back-off factor in force for group, clamped to [k_min_factor, 1].
    double factor(std::string_view group, RateClock::time_point now) const;
    std::vector<WarmupToday> warmup_today(RateClock::time_point now) const;

    const RatesConfig& config() const { return m_config; }
    RateStore& store() const { return *m_store; }

  private:
    // What a bucket of check() stands for, to name it in a refusal.
    struct Source {
        const RateLimit* limit = nullptr;
        const WarmupSchedule* warmup = nullptr;
        double rate = 0; // in force, back-off applied
    };
    void collect(std::string_view tenant, std::string_view group, RateClock::time_point now,
                 std::vector<BucketSpec>& out, std::vector<Source>* sources) const;

    RatesConfig m_config;
    std::shared_ptr<RateStore> m_store;
    BackoffProvider m_backoff;
    // Limits by their tenant selector, so a recipient looks at the few that can apply.
    StringMap<std::vector<std::size_t>> m_by_tenant;
    std::vector<std::size_t> m_any_tenant; // tenant "*"
    std::vector<std::size_t> m_no_tenant;  // not scoped by tenant
    StringMap<std::vector<std::size_t>> m_warmup_by_tenant;
    std::vector<std::size_t> m_warmup_ip;
    std::vector<std::string> m_limit_ids; // RateLimit::id() of m_config.limits[i]
};

// The domain of an address ("User@Outlook.COM." → "outlook.com"); "" when there is none.
std::string recipient_domain(std::string_view rcpt);

// "60/minute", "2.5/10s"
std::string format_rate(double rate, std::string_view per_text);

} // namespace presend
