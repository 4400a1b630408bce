// suppression_redis: the SuppressionStore a fleet of MTAs shares. One Redis string per entry,
//   presend:sup:<scope>:<key> = {"reason":"hard_bounce","source":"...","created":1732688400,"expires":...}
// with a Redis TTL for entries that expire. find() is one MGET of up to four keys, one round trip.
// Connections come from a small pool, each used by one thread at a time. Every connect and command is bounded
// by redis_timeout_ms; after a failure the pool is dropped and, for k_reconnect_backoff, calls fail at once
// instead of each waiting out a timeout against a dead server. Needs Redis 2.6.12 or later (SET ... EX).
#include "engine/suppression_backends.hpp"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <mutex>
#include <tuple>
#include <unordered_set>

namespace presend::detail {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view k_key_prefix = "presend:sup:";
// While Redis is failing, one caller per this interval tries to reconnect; the others get StoreError at once.
constexpr auto k_reconnect_backoff = std::chrono::milliseconds(500);
// Idle connections kept for the next caller: about one per concurrent SMTP session (libmilter runs one thread
// per MTA connection). More concurrent callers than this connect and disconnect; Redis serves thousands.
constexpr std::size_t k_max_idle_connections = 64;
// add_batch pipelines this many GETs, then the SETs they call for: bounded memory, few round trips.
constexpr std::size_t k_pipeline_chunk = 1000;
// Keys asked for per SCAN call: large enough for few round trips, small enough for Redis to answer in ~1 ms.
constexpr int k_scan_count = 1000;

using ContextPtr = std::unique_ptr<redisContext, decltype(&redisFree)>;
using ReplyPtr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

std::string entry_key(std::string_view scope, std::string_view key) {
    std::string out;
    out.reserve(k_key_prefix.size() + scope.size() + 1 + key.size());
    out.append(k_key_prefix).append(scope).append(1, ':').append(key);
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
    auto rest = redis_key.substr(k_key_prefix.size());
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

timeval to_timeval(int ms) {
    timeval tv{};
    tv.tv_sec = ms / 1000;
    tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
    return tv;
}

std::string read_password(const std::filesystem::path& file) {
    if (file.empty()) return {};
    std::ifstream in(file);
    if (!in) throw StoreError("redis: cannot read password file " + file.string());
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
        line.pop_back();
    return line;
}

class RedisStore final : public SuppressionStore {
  public:
    explicit RedisStore(const SuppressionConfig& config)
        : m_host(config.redis_host), m_port(config.redis_port), m_db(config.redis_db),
          m_timeout_ms(std::max(1, config.redis_timeout_ms)),
          m_password(read_password(config.redis_password_file)) {
        // hiredis uses write(2): a Redis that closed the connection must cost an error, not the process.
        struct sigaction current {};
        if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
            std::signal(SIGPIPE, SIG_IGN);
    }

    std::string describe() const override {
        return "redis://" + m_host + ":" + std::to_string(m_port) + "/" + std::to_string(m_db);
    }

  protected:
    std::optional<SuppressionEntry> do_find(const Probe& probe, std::int64_t now) const override {
        std::vector<std::string> args{"MGET", entry_key("", probe.address)};
        if (!probe.tenant.empty()) args.push_back(entry_key(probe.tenant, probe.address));
        args.push_back(entry_key("", probe.domain));
        if (!probe.tenant.empty()) args.push_back(entry_key(probe.tenant, probe.domain));
        Lease lease(*this);
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
        Lease lease(*this);
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
        Lease lease(*this);
        const auto reply = lease.command({"DEL", entry_key(scope, key)});
        if (reply->type != REDIS_REPLY_INTEGER) lease.protocol_error("DEL");
        return reply->integer > 0;
    }

    // SCAN until limit keys are found (or the keyspace is walked), then their values. With a limit this is
    // the first entries Redis happens to return, sorted; not the alphabetically first of the whole list.
    std::vector<SuppressionEntry> do_list(const std::optional<std::string>& scope, std::size_t limit,
                                          std::int64_t now) const override {
        Lease lease(*this);
        const auto keys =
            scan(lease, scope ? entry_key(*scope, "*") : std::string(k_key_prefix) + "*", limit);
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
        Lease lease(*this);
        return scan(lease, std::string(k_key_prefix) + "*", 0).size();
    }

  private:
    std::string prefix() const { return "redis " + m_host + ":" + std::to_string(m_port) + ": "; }

    ContextPtr connect() const {
        ContextPtr context(redisConnectWithTimeout(m_host.c_str(), m_port, to_timeval(m_timeout_ms)),
                           redisFree);
        if (!context) throw StoreError(prefix() + "cannot allocate a connection");
        if (context->err)
            throw StoreError(prefix() + "connect: " +
                             (context->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EINPROGRESS)
                                  ? "timed out after " + std::to_string(m_timeout_ms) + " ms"
                                  : std::string(context->errstr)));
        if (redisSetTimeout(context.get(), to_timeval(m_timeout_ms)) != REDIS_OK)
            throw StoreError(prefix() + "cannot set the command timeout");
        redisEnableKeepAlive(context.get());
        return context;
    }

    // Connects, authenticates and selects the database; throws StoreError.
    ContextPtr open_connection() const {
        auto context = connect();
        auto setup = [&](std::vector<std::string> args) {
            const auto reply = run(context.get(), args);
            if (reply->type == REDIS_REPLY_ERROR)
                throw StoreError(prefix() + args[0] + ": " + std::string(reply->str, reply->len));
        };
        if (!m_password.empty()) setup({"AUTH", m_password});
        if (m_db != 0) setup({"SELECT", std::to_string(m_db)});
        return context;
    }

    // One command on a connection; throws StoreError on I/O failure (the connection is then unusable).
    ReplyPtr run(redisContext* context, const std::vector<std::string>& args) const {
        append(context, args);
        return read_reply(context, args[0]);
    }

    void append(redisContext* context, const std::vector<std::string>& args) const {
        std::vector<const char*> argv;
        std::vector<std::size_t> lengths;
        for (const auto& a : args) {
            argv.push_back(a.data());
            lengths.push_back(a.size());
        }
        if (redisAppendCommandArgv(context, static_cast<int>(args.size()), argv.data(), lengths.data()) !=
            REDIS_OK)
            throw StoreError(prefix() + args[0] + ": " + context->errstr);
    }

    ReplyPtr read_reply(redisContext* context, const std::string& command) const {
        void* raw = nullptr;
        if (redisGetReply(context, &raw) != REDIS_OK || !raw) {
            const bool timed_out = context->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
            throw StoreError(prefix() + command + ": " +
                             (timed_out
                                  ? "no answer within " + std::to_string(m_timeout_ms) + " ms"
                                  : std::string(context->errstr[0] ? context->errstr : "connection lost")));
        }
        return ReplyPtr(static_cast<redisReply*>(raw), freeReplyObject);
    }

    // Marks Redis as failing: idle connections go (after a restart they are all dead), and for a while
    // callers without a connection fail at once.
    void note_failure(const std::string& message) const {
        std::lock_guard lock(m_mutex);
        m_idle.clear();
        m_retry_after = Clock::now() + k_reconnect_backoff;
        m_last_error = message;
    }

    class Lease {
      public:
        explicit Lease(const RedisStore& store) : m_store(store) {
            {
                std::lock_guard lock(store.m_mutex);
                if (!store.m_idle.empty()) {
                    m_context = std::move(store.m_idle.back());
                    store.m_idle.pop_back();
                    return;
                }
                const auto now = Clock::now();
                if (now < store.m_retry_after) {
                    const auto wait =
                        std::chrono::duration_cast<std::chrono::milliseconds>(store.m_retry_after - now);
                    throw StoreError(store.m_last_error + " (next connection attempt in " +
                                     std::to_string(wait.count()) + " ms)");
                }
            }
            try {
                m_context = store.open_connection();
            } catch (const StoreError& e) {
                store.note_failure(e.what());
                throw;
            }
        }
        ~Lease() {
            if (!m_context || m_broken) return;
            std::lock_guard lock(m_store.m_mutex);
            if (m_store.m_idle.size() < k_max_idle_connections)
                m_store.m_idle.push_back(std::move(m_context));
        }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;

        // Runs f; an I/O failure marks this connection dead and Redis failing.
        template <class F> auto guarded(F&& f) {
            try {
                return f();
            } catch (const StoreError& e) {
                m_broken = true;
                m_store.note_failure(e.what());
                throw;
            }
        }

        // A reply of any type but ERROR (those throw, the connection stays usable).
        ReplyPtr command(const std::vector<std::string>& args) {
            ReplyPtr reply = guarded([&] { return m_store.run(m_context.get(), args); });
            check_error(*reply, args[0]);
            return reply;
        }

        // All commands written, then all replies read: one round trip for the lot.
        std::vector<ReplyPtr> pipeline(const std::vector<std::vector<std::string>>& commands) {
            std::vector<ReplyPtr> replies;
            if (commands.empty()) return replies;
            guarded([&] {
                for (const auto& args : commands)
                    m_store.append(m_context.get(), args);
                for (const auto& args : commands)
                    replies.push_back(m_store.read_reply(m_context.get(), args[0]));
                return 0;
            });
            for (std::size_t i = 0; i < replies.size(); ++i)
                check_error(*replies[i], commands[i][0]);
            return replies;
        }

        [[noreturn]] void protocol_error(const std::string& command) {
            m_broken = true; // out of step with the server: never reuse
            throw StoreError(m_store.prefix() + command + ": unexpected reply");
        }

      private:
        void check_error(const redisReply& reply, const std::string& command) const {
            if (reply.type == REDIS_REPLY_ERROR)
                throw StoreError(m_store.prefix() + command + ": " + std::string(reply.str, reply.len));
        }

        const RedisStore& m_store;
        ContextPtr m_context{nullptr, redisFree};
        bool m_broken = false;
    };

    // Keys matching pattern; stops once limit are found (0: the whole keyspace). SCAN may return a key twice.
    std::vector<std::string> scan(Lease& lease, const std::string& pattern, std::size_t limit) const {
        std::unordered_set<std::string> seen;
        std::vector<std::string> keys;
        std::string cursor = "0";
        do {
            const auto reply =
                lease.command({"SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(k_scan_count)});
            if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
                reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY)
                lease.protocol_error("SCAN");
            cursor.assign(reply->element[0]->str, reply->element[0]->len);
            const redisReply* batch = reply->element[1];
            for (std::size_t i = 0; i < batch->elements; ++i) {
                std::string key(batch->element[i]->str, batch->element[i]->len);
                if (seen.insert(key).second) keys.push_back(std::move(key));
                if (limit && keys.size() >= limit) return keys;
            }
        } while (cursor != "0");
        return keys;
    }

    std::string m_host;
    int m_port;
    int m_db;
    int m_timeout_ms;
    std::string m_password;

    mutable std::mutex m_mutex; // guards the four below, never held during I/O
    mutable std::vector<ContextPtr> m_idle;
    mutable Clock::time_point m_retry_after{};
    mutable std::string m_last_error;
};

} // namespace

std::unique_ptr<SuppressionStore> open_redis_suppression_store(const SuppressionConfig& config) {
    return std::make_unique<RedisStore>(config);
}

} // namespace presend::detail
