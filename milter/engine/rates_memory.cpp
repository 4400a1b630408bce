// rates_memory: the RateStore of one MTA, and open_rate_store(). Buckets live in k_shards hash maps, each
// under its own mutex, so concurrent SMTP sessions of different tenants rarely wait for each other. A take()
// locks the shards of its buckets in ascending order (never two orders, so never a deadlock) and holds them
// while it checks and takes, which makes all-or-none atomic. Bounded: at most max_buckets buckets; a full
// shard first drops its idle buckets (full again, or a warm-up day that is over), and when none is idle a new
// bucket is a StoreError, which the daemon answers with on_error.
#include "engine/rates_backends.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>

namespace presend {

namespace detail {

namespace {

// Enough shards that 2 to 16 cores seldom meet on one mutex; few enough that a sweep of all is cheap.
constexpr std::size_t k_shards = 16;

struct Bucket {
    double tokens = 0;
    double burst = 0;
    double rate_per_ms = 0;
    std::int64_t updated_ms = 0;
    std::int64_t expires_ms = 0;
};

// The tokens of a bucket refilled to now. A clock that went back refills nothing.
double refilled(const Bucket& bucket, double burst, double rate_per_ms, std::int64_t now_ms) {
    const auto elapsed = static_cast<double>(std::max<std::int64_t>(0, now_ms - bucket.updated_ms));
    return std::min(burst, bucket.tokens + elapsed * rate_per_ms);
}

class MemoryRateStore final : public RateStore {
  public:
    explicit MemoryRateStore(std::size_t max_buckets)
        : m_max_per_shard(std::max<std::size_t>(1, max_buckets / k_shards)) {}

    std::size_t take(std::span<const BucketSpec> specs, std::int64_t now_ms, std::span<double> left) override {
        if (specs.size() > k_max_buckets_per_recipient)
            throw StoreError("a recipient needs " + std::to_string(specs.size()) + " buckets, more than " +
                             std::to_string(k_max_buckets_per_recipient));
        std::array<std::size_t, k_max_buckets_per_recipient> shard_of{};
        std::uint32_t wanted = 0; // one bit per shard
        for (std::size_t i = 0; i < specs.size(); ++i) {
            shard_of[i] = std::hash<std::string_view>{}(specs[i].key) % k_shards;
            wanted |= 1u << shard_of[i];
        }
        std::array<std::unique_lock<std::mutex>, k_shards> locks;
        for (std::size_t s = 0; s < k_shards; ++s)
            if (wanted & (1u << s)) locks[s] = std::unique_lock(m_shards[s].mutex);

        std::size_t blocked = specs.size();
        for (std::size_t i = 0; i < specs.size(); ++i) {
            const auto& spec = specs[i];
            auto& map = m_shards[shard_of[i]].buckets;
            const auto it = map.find(std::string_view(spec.key));
            left[i] = it == map.end() || it->second.expires_ms <= now_ms
                          ? spec.burst
                          : refilled(it->second, spec.burst, spec.rate_per_ms, now_ms);
            if (left[i] < 1 && blocked == specs.size()) blocked = i;
        }
        if (blocked < specs.size()) return blocked;

        for (std::size_t i = 0; i < specs.size(); ++i) {
            const auto& spec = specs[i];
            auto& map = m_shards[shard_of[i]].buckets;
            auto it = map.find(std::string_view(spec.key));
            if (it == map.end()) {
                make_room(map, now_ms);
                it = map.emplace(spec.key, Bucket{}).first;
            }
            Bucket& bucket = it->second;
            left[i] -= 1;
            bucket.tokens = left[i];
            bucket.burst = spec.burst;
            bucket.rate_per_ms = spec.rate_per_ms;
            bucket.updated_ms = std::max(bucket.updated_ms, now_ms);
            bucket.expires_ms = now_ms + spec.ttl_ms;
        }
        ++m_version;
        return specs.size();
    }

    std::vector<BucketState> buckets(std::int64_t now_ms) const override {
        std::vector<BucketState> out;
        for (const auto& shard : m_shards) {
            std::lock_guard lock(shard.mutex);
            for (const auto& [key, bucket] : shard.buckets) {
                if (bucket.expires_ms <= now_ms) continue;
                out.push_back({key, refilled(bucket, bucket.burst, bucket.rate_per_ms, now_ms), bucket.burst,
                               bucket.rate_per_ms, bucket.updated_ms, bucket.expires_ms});
            }
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
        return out;
    }

    std::size_t restore(std::span<const BucketState> saved, std::int64_t now_ms) override {
        std::size_t kept = 0;
        for (const auto& s : saved) {
            if (s.key.empty() || s.expires_ms <= now_ms || !(s.burst >= 1) || !(s.tokens >= 0)) continue;
            Bucket bucket{s.tokens, s.burst, s.rate_per_ms, s.updated_ms, s.expires_ms};
            if (refilled(bucket, s.burst, s.rate_per_ms, now_ms) >= s.burst) continue; // full: as if absent
            auto& shard = m_shards[std::hash<std::string_view>{}(s.key) % k_shards];
            std::lock_guard lock(shard.mutex);
            if (shard.buckets.size() >= m_max_per_shard) continue; // a smaller max_buckets than the last run
            shard.buckets.insert_or_assign(s.key, bucket);
            ++kept;
        }
        return kept;
    }

    std::uint64_t version() const override { return m_version.load(); }
    std::string describe() const override { return "memory"; }

  private:
    using Map = StringMap<Bucket>;

    // Called with the shard locked, before an insert. Throws StoreError when every bucket is in use; the
    // recipient gets on_error, and the buckets already held keep counting.
    void make_room(Map& map, std::int64_t now_ms) {
        if (map.size() < m_max_per_shard) return;
        std::erase_if(map, [&](const auto& kv) { return kv.second.expires_ms <= now_ms; });
        if (map.size() < m_max_per_shard) return;
        throw StoreError("memory rate store full: " + std::to_string(m_max_per_shard * k_shards) +
                         " buckets in use, none idle (rates.max_buckets)");
    }

    struct Shard {
        mutable std::mutex mutex;
        Map buckets;
    };
    const std::size_t m_max_per_shard;
    std::array<Shard, k_shards> m_shards;
    std::atomic<std::uint64_t> m_version{0};
};

} // namespace

std::shared_ptr<RateStore> open_memory_rate_store(std::size_t max_buckets) {
    return std::make_shared<MemoryRateStore>(max_buckets);
}

} // namespace detail

std::shared_ptr<RateStore> open_rate_store(const RatesConfig& config) {
    if (config.backend == "memory") return detail::open_memory_rate_store(config.max_buckets);
    if (config.backend == "redis") return detail::open_redis_rate_store(config.redis);
    return nullptr;
}

} // namespace presend
