// rates_state: see rates_state.hpp.
#include "engine/rates_state.hpp"

#include "presend/decision_log.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace presend {

BucketKey parse_bucket_key(std::string_view key) {
    BucketKey out;
    const auto first = key.find('|');
    out.limit = std::string(key.substr(0, first));
    if (first == std::string_view::npos) return out;
    const auto rest = key.substr(first + 1);
    if (out.limit.starts_with("warmup:")) {
        out.day = std::string(rest);
        if (out.limit.starts_with("warmup:tenant=")) out.tenant = out.limit.substr(14);
        return out;
    }
    const auto second = rest.find('|');
    out.tenant = std::string(rest.substr(0, second));
    if (second != std::string_view::npos) out.group = std::string(rest.substr(second + 1));
    return out;
}

nlohmann::json rates_state_json(const std::vector<BucketState>& buckets, const std::vector<BackoffEntry>& backoff,
                                 std::string_view store, RateClock::time_point now) {
    auto list = nlohmann::json::array();
    for (const auto& b : buckets) {
        const auto key = parse_bucket_key(b.key);
        list.push_back({{"key", b.key},
                        {"limit", key.limit},
                        {"tenant", key.tenant},
                        {"group", key.group},
                        {"day", key.day},
                        {"tokens", b.tokens},
                        {"used", std::max(0.0, b.burst - b.tokens)},
                        {"burst", b.burst},
                        {"rate_per_ms", b.rate_per_ms},
                        {"updated", rfc3339_utc_ms(RateClock::time_point(std::chrono::milliseconds(b.updated_ms)))},
                        {"updated_ms", b.updated_ms},
                        {"expires_ms", b.expires_ms}});
    }
    auto factors = nlohmann::json::array();
    for (const auto& e : backoff)
        factors.push_back({{"group", e.group},
                           {"factor", e.factor},
                           {"since", rfc3339_utc_ms(e.since)},
                           {"signature", e.signature},
                           {"events", e.events},
                           {"step", e.step},
                           {"steps", e.steps},
                           {"last_event", rfc3339_utc_ms(e.last_event)},
                           {"next_recovery", rfc3339_utc_ms(e.next_recovery)},
                           {"sample", e.sample}});
    return {{"written", rfc3339_utc_ms(now)}, {"store", store}, {"buckets", list}, {"backoff", factors}};
}

void write_rates_state(const std::filesystem::path& path, const nlohmann::json& json) {
    const std::string text = json.dump() + "\n";
    const std::string tmp = path.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error(tmp + ": " + std::strerror(errno));
    std::size_t done = 0;
    while (done < text.size()) {
        const auto n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int error = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw std::runtime_error(tmp + ": " + std::strerror(error));
        }
        done += static_cast<std::size_t>(n);
    }
    // No fsync: the file is a view of counters that live in memory; after a crash a stale or empty view is
    // harmless, and an fsync a second would cost the disk more than the view is worth.
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int error = errno;
        ::unlink(tmp.c_str());
        throw std::runtime_error(path.string() + ": " + std::strerror(error));
    }
}

std::vector<BucketState> rates_state_buckets(const nlohmann::json& state) {
    std::vector<BucketState> out;
    for (const auto& b : state.value("buckets", nlohmann::json::array())) {
        // A line another version wrote without the numbers a restore needs is skipped, not guessed.
        const auto number = [&](const char* key) { return b.contains(key) && b[key].is_number(); };
        if (!b.is_object() || !b.contains("key") || !b["key"].is_string() || !number("tokens") || !number("burst") ||
            !number("rate_per_ms") || !number("updated_ms") || !number("expires_ms"))
            continue;
        out.push_back({b["key"].get<std::string>(), b["tokens"].get<double>(), b["burst"].get<double>(),
                       b["rate_per_ms"].get<double>(), b["updated_ms"].get<std::int64_t>(),
                       b["expires_ms"].get<std::int64_t>()});
    }
    return out;
}

nlohmann::json read_rates_state(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path.string() + ": cannot read the rates state file (" + std::strerror(errno) + ")");
    auto json = nlohmann::json::parse(in, nullptr, false);
    if (!json.is_object() || !json.contains("buckets") || !json["buckets"].is_array())
        throw std::runtime_error(path.string() + ": not a presend rates state file");
    return json;
}

} // namespace presend
