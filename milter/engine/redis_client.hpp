// redis_client: connections to the Redis server a fleet of MTAs shares, for the stores that live there
// (suppression_redis.cpp, rates_redis.cpp). A small pool of connections, each used by one thread at a time
// (Lease). Every connect and command is bounded by RedisSettings::timeout_ms; after a failure the pool is
// dropped and, for k_reconnect_backoff, leases fail at once instead of each waiting out a timeout against a
// dead server. Failures throw StoreError naming the server, never hang.
#pragma once

#include "presend/store.hpp"

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace presend::detail {

using RedisReplyPtr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

class RedisClient {
  public:
    using Clock = std::chrono::steady_clock;
    // While Redis is failing, one caller per this interval tries to reconnect; the others fail at once.
    static constexpr auto k_reconnect_backoff = std::chrono::milliseconds(500);
    // Idle connections kept for the next caller: about one per concurrent SMTP session (libmilter runs one
    // thread per MTA connection). More concurrent callers than this connect and disconnect; Redis serves
    // thousands.
    static constexpr std::size_t k_max_idle_connections = 64;

    // Reads the password file now: throws StoreError when it cannot. Connects lazily.
    explicit RedisClient(const RedisSettings& settings);
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    const RedisSettings& settings() const { return m_settings; }

    // One connection for the life of the lease, back to the pool afterwards unless it broke.
    class Lease {
      public:
        explicit Lease(const RedisClient& client); // throws StoreError when no connection can be had
        ~Lease();
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;

        // A reply of any type but ERROR (those throw StoreError; the connection stays usable).
        RedisReplyPtr command(const std::vector<std::string>& args);
        // All commands written, then all replies read: one round trip for the lot.
        std::vector<RedisReplyPtr> pipeline(const std::vector<std::vector<std::string>>& commands);
        // The reply, ERROR included (for callers that handle one, like EVALSHA's NOSCRIPT).
        RedisReplyPtr raw_command(const std::vector<std::string>& args);
        // Keys matching pattern (SCAN, a walk of the keyspace: for the CLI, never the mail path); stops once
        // limit are found (0: all). A key SCAN returns twice is listed once.
        std::vector<std::string> scan(const std::string& pattern, std::size_t limit);
        // The server answered something the caller did not expect: this connection is out of step.
        [[noreturn]] void protocol_error(const std::string& command);
        // StoreError "redis HOST:PORT: COMMAND: TEXT" for an ERROR reply.
        [[noreturn]] void reply_error(const redisReply& reply, const std::string& command) const;

      private:
        template <class F> auto guarded(F&& f);
        void check_error(const redisReply& reply, const std::string& command) const;

        const RedisClient& m_client;
        std::unique_ptr<redisContext, decltype(&redisFree)> m_context{nullptr, redisFree};
        bool m_broken = false;
    };

  private:
    using ContextPtr = std::unique_ptr<redisContext, decltype(&redisFree)>;

    std::string prefix() const;
    ContextPtr connect() const;
    ContextPtr open_connection() const;
    RedisReplyPtr run(redisContext* context, const std::vector<std::string>& args) const;
    void append(redisContext* context, const std::vector<std::string>& args) const;
    RedisReplyPtr read_reply(redisContext* context, const std::string& command) const;
    void note_failure(const std::string& message) const;

    const RedisSettings m_settings;
    const std::string m_password;

    mutable std::mutex m_mutex; // guards the three below, never held during I/O
    mutable std::vector<ContextPtr> m_idle;
    mutable Clock::time_point m_retry_after{};
    mutable std::string m_last_error;
};

} // namespace presend::detail
