// rates_state: the memory store's counters as a file, so `presend rates` can show what the daemon counts.
// The daemon (daemon/rate_check.cpp) writes it at most once a second when a count changed, and once more at a
// clean stop: a new file renamed over the old one, so a reader never sees half a file. The command reads it,
// and so does the daemon at start, to take the counts back (a restart must not refill every bucket); for the
// Redis store the command reads Redis instead and builds the same JSON. Format (docs/rates.md):
//   {"written": "2026-11-27T10:00:00.000Z", "store": "memory",
//    "buckets": [{"key", "limit", "tenant", "group", "tokens", "used", "burst", "rate_per_ms", "updated",
//                 "updated_ms", "expires_ms"}],
//    "backoff": [{"group", "factor", "since", "signature", "events", "step", "steps", "last_event",
//                 "next_recovery", "sample"}]}
#pragma once

#include "presend/rates.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace presend {

// A bucket key split into its parts: "tenant=*,group=microsoft,per=minute|acme|microsoft" → limit
// "tenant=*,group=microsoft,per=minute", tenant "acme", group "microsoft"; a warm-up day's key
// "warmup:tenant=newco|2026-11-27" → limit "warmup:tenant=newco", day "2026-11-27".
struct BucketKey {
    std::string limit;
    std::string tenant;
    std::string group;
    std::string day;
};
BucketKey parse_bucket_key(std::string_view key);

nlohmann::json rates_state_json(const std::vector<BucketState>& buckets, const std::vector<BackoffEntry>& backoff,
                                 std::string_view store, RateClock::time_point now);

// Writes json to path.tmp, then renames it over path. Throws std::runtime_error naming the file and why.
void write_rates_state(const std::filesystem::path& path, const nlohmann::json& json);

// The buckets of a state file, as the memory store restores them; entries without their numbers are skipped.
std::vector<BucketState> rates_state_buckets(const nlohmann::json& state);

// Throws std::runtime_error when the file cannot be read or is not a state file.
nlohmann::json read_rates_state(const std::filesystem::path& path);

} // namespace presend
