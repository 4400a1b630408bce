// suppression_redis: the SuppressionStore a fleet of MTAs shares. One Redis string per entry,
//   presend:sup:<scope>:<key> = {"reason":"hard_bounce","source":"...","created":1732688400,"expires":...}
// with a Redis TTL for entries that expire. find() is one MGET of up to four keys, one round trip.
// Connections, timeouts and reconnecting are engine/redis_client.cpp's. Needs Redis 2.6.12 or later (SET ... EX).
#include "engine/redis_client.hpp"
#include "engine/suppression_backends.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <tuple>

namespace presend::detail {

namespace {

constexpr std::string_view k_suppression_key_prefix = "presend:sup:";
// add_batch pipelines this many GETs, then the SETs they call for: bounded memory, few round trips.
constexpr std::size_t k_pipeline_chunk = 1000;

std::string entry_key(std::string_view scope, std::string_view key) {
    std::string out;
    out.reserve(k_suppression_key_prefix.size() + scope.size() + 1 + key.size());
    out.append(k_suppression_key_prefix).append(scope).append(1, ':').append(key);
    return out;
}

std::string entry_value(const SuppressionEntry& entry) {
    nlohmann::json value{
        {"reason", to_string(entry.reason)}, {"source", entry.source}, {"created", entry.created}};
    if (entry.expires) value["expires"] = *entry.expires;
    return value.dump();
}

// A value someone else wrote under our prefix still suppresses: a list errs towards not mailing.
SuppressionEntry parse_entry(std::string_view redis_key, std::string_view value) {
    SuppressionEntry entry;
    auto rest = redis_key.substr(k_suppression_key_prefix.size());
    const auto colon = rest.find(':'); // scopes never contain ':' (valid_suppression_scope)
    entry.scope = std::string(rest.substr(0, colon));
    entry.address_or_domain =
        colon == std::string_view::npos ? std::string() : std::string(rest.substr(colon + 1));
    entry.is_domain = entry.address_or_domain.find('@') == std::string::npos;
    const auto json = nlohmann::json::parse(value, nullptr, false);
    if (!json.is_object()) {
        entry.source = "unreadable value in Redis";
        return entry;
    }
    entry.reason = parse_suppression_reason(json.value("reason", "")).value_or(SuppressionReason::manual);
    entry.source = json.value("source", "");
    entry.created = json.value("created", std::int64_t{0});
    if (json.contains("expires") && json["expires"].is_number_integer())
        entry.expires = json["expires"].get<std::int64_t>();
    return entry;
}

bool live(const SuppressionEntry& entry, std::int64_t now) {
    return !entry.expires || *entry.expires > now;
}

// Same content as far as a re-import is concerned: created is kept from the first time.
bool same_content(const SuppressionEntry& a, const SuppressionEntry& b) {
    return a.reason == b.reason && a.source == b.source && a.expires == b.expires;
}

class RedisStore final : public SuppressionStore {
  public:
    explicit RedisStore(const SuppressionConfig& config) : m_client(config.redis) {}

    std::string describe() const override { return m_client.settings().describe(); }

  protected:
    std::optional<SuppressionEntry> do_find(const Probe& probe, std::int64_t now) const override {
        std::vector<std::string> args{"MGET", entry_key("", probe.address)};
        if (!probe.tenant.empty()) args.push_back(entry_key(probe.tenant, probe.address));
        args.push_back(entry_key("", probe.domain));
        if (!probe.tenant.empty()) args.push_back(entry_key(probe.tenant, probe.domain));
        Lease lease(m_client);
        const auto reply = lease.command(args);
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != args.size() - 1)
            lease.protocol_error("MGET");
        for (std::size_t i = 0; i < reply->elements; ++i) {
            const redisReply* value = reply->element[i];
            if (value->type != REDIS_REPLY_STRING) continue; // nil: no such key
            auto entry = parse_entry(args[i + 1], std::string_view(value->str, value->len));
            if (live(entry, now)) return entry; // Redis drops expired keys itself; this covers clock skew
        }
        return std::nullopt;
    }

    AddOutcome do_add(const SuppressionEntry& entry, std::int64_t now) override {
        const auto result = do_add_batch({entry}, now, {});
        return result.added     ? AddOutcome::added
               : result.updated ? AddOutcome::updated
                                : AddOutcome::unchanged;
    }

    // Per chunk: one pipeline of GETs, then one pipeline of SETs for the entries that are new or changed.
    // Not atomic across keys: two imports racing on one key end with the later write; a list needs no more.
    BatchResult do_add_batch(const std::vector<SuppressionEntry>& entries, std::int64_t now,
                             const BatchProgress& progress) override {
        BatchResult result;
        Lease lease(m_client);
        for (std::size_t begin = 0; begin < entries.size(); begin += k_pipeline_chunk) {
            const std::size_t end = std::min(entries.size(), begin + k_pipeline_chunk);
            std::vector<std::vector<std::string>> gets;
            for (std::size_t i = begin; i < end; ++i)
                gets.push_back({"GET", entry_key(entries[i].scope, entries[i].address_or_domain)});
            const auto old = lease.pipeline(gets);

            std::vector<std::vector<std::string>> sets;
            for (std::size_t i = begin; i < end; ++i) {
                SuppressionEntry entry = entries[i];
                const redisReply* reply = old[i - begin].get();
                bool present = false;
                if (reply->type == REDIS_REPLY_STRING) {
                    const auto existing =
                        parse_entry(gets[i - begin][1], std::string_view(reply->str, reply->len));
                    present = live(existing, now);
                    if (present && same_content(existing, entry)) {
                        ++result.unchanged;
                        continue;
                    }
                    if (present) entry.created = existing.created;
                } else if (reply->type != REDIS_REPLY_NIL) {
                    lease.protocol_error("GET");
                }
                ++(present ? result.updated : result.added);
                std::vector<std::string> set{"SET", gets[i - begin][1], entry_value(entry)};
                if (entry.expires) {
                    set.push_back("EX");
                    set.push_back(std::to_string(std::max<std::int64_t>(1, *entry.expires - now)));
                }
                sets.push_back(std::move(set));
            }
            for (const auto& reply : lease.pipeline(sets))
                if (reply->type != REDIS_REPLY_STATUS) lease.protocol_error("SET");
            if (progress) progress(end);
        }
        return result;
    }

    bool do_remove(const std::string& key, const std::string& scope) override {
        Lease lease(m_client);
        const auto reply = lease.command({"DEL", entry_key(scope, key)});
        if (reply->type != REDIS_REPLY_INTEGER) lease.protocol_error("DEL");
        return reply->integer > 0;
    }

    // SCAN until limit keys are found (or the keyspace is walked), then their values. With a limit this is
    // the first entries Redis happens to return, sorted; not the alphabetically first of the whole list.
    std::vector<SuppressionEntry> do_list(const std::optional<std::string>& scope, std::size_t limit,
                                          std::int64_t now) const override {
        Lease lease(m_client);
        const auto keys =
            lease.scan(scope ? entry_key(*scope, "*") : std::string(k_suppression_key_prefix) + "*", limit);
        std::vector<SuppressionEntry> out;
        for (std::size_t begin = 0; begin < keys.size(); begin += k_pipeline_chunk) {
            std::vector<std::string> mget{"MGET"};
            const std::size_t end = std::min(keys.size(), begin + k_pipeline_chunk);
            mget.insert(mget.end(), keys.begin() + static_cast<std::ptrdiff_t>(begin),
                        keys.begin() + static_cast<std::ptrdiff_t>(end));
            const auto reply = lease.command(mget);
            if (reply->type != REDIS_REPLY_ARRAY || reply->elements != end - begin)
                lease.protocol_error("MGET");
            for (std::size_t i = 0; i < reply->elements; ++i) {
                const redisReply* value = reply->element[i];
                if (value->type != REDIS_REPLY_STRING) continue; // expired or removed since the SCAN
                auto entry = parse_entry(keys[begin + i], std::string_view(value->str, value->len));
                if (live(entry, now)) out.push_back(std::move(entry));
            }
        }
        std::sort(out.begin(), out.end(), [](const SuppressionEntry& a, const SuppressionEntry& b) {
            return std::tie(a.scope, a.address_or_domain) < std::tie(b.scope, b.address_or_domain);
        });
        return out;
    }

    // A walk of the whole keyspace (SCAN): for the CLI and the benchmark, not for the mail path.
    std::size_t do_count(std::int64_t) const override {
        Lease lease(m_client);
        return lease.scan(std::string(k_suppression_key_prefix) + "*", 0).size();
    }

  private:
    using Lease = RedisClient::Lease;

    RedisClient m_client;
};

} // namespace

std::unique_ptr<SuppressionStore> open_redis_suppression_store(const SuppressionConfig& config) {
    return std::make_unique<RedisStore>(config);
}

} // namespace presend::detail
