// redis_client: see redis_client.hpp. Needs Redis 2.6.12 or later.
#include "engine/redis_client.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <unordered_set>

namespace presend::detail {

namespace {

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

RedisSettings with_sane_timeout(RedisSettings settings) {
    settings.timeout_ms = std::max(1, settings.timeout_ms);
    return settings;
}

} // namespace

RedisClient::RedisClient(const RedisSettings& settings)
    : m_settings(with_sane_timeout(settings)), m_password(read_password(settings.password_file)) {
    // hiredis uses write(2): a Redis that closed the connection must cost an error, not the process.
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
        std::signal(SIGPIPE, SIG_IGN);
}

std::string RedisClient::prefix() const {
    return "redis " + m_settings.host + ":" + std::to_string(m_settings.port) + ": ";
}

RedisClient::ContextPtr RedisClient::connect() const {
    ContextPtr context(
        redisConnectWithTimeout(m_settings.host.c_str(), m_settings.port, to_timeval(m_settings.timeout_ms)),
        redisFree);
    if (!context) throw StoreError(prefix() + "cannot allocate a connection");
    if (context->err)
        throw StoreError(prefix() + "connect: " +
                         (context->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EINPROGRESS)
                              ? "timed out after " + std::to_string(m_settings.timeout_ms) + " ms"
                              : std::string(context->errstr)));
    if (redisSetTimeout(context.get(), to_timeval(m_settings.timeout_ms)) != REDIS_OK)
        throw StoreError(prefix() + "cannot set the command timeout");
    redisEnableKeepAlive(context.get());
    return context;
}

// Connects, authenticates and selects the database; throws StoreError.
RedisClient::ContextPtr RedisClient::open_connection() const {
    auto context = connect();
    auto setup = [&](std::vector<std::string> args) {
        const auto reply = run(context.get(), args);
        if (reply->type == REDIS_REPLY_ERROR)
            throw StoreError(prefix() + args[0] + ": " + std::string(reply->str, reply->len));
    };
    if (!m_password.empty()) setup({"AUTH", m_password});
    if (m_settings.db != 0) setup({"SELECT", std::to_string(m_settings.db)});
    return context;
}

// One command on a connection; throws StoreError on I/O failure (the connection is then unusable).
RedisReplyPtr RedisClient::run(redisContext* context, const std::vector<std::string>& args) const {
    append(context, args);
    return read_reply(context, args[0]);
}

void RedisClient::append(redisContext* context, const std::vector<std::string>& args) const {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
    }
    if (redisAppendCommandArgv(context, static_cast<int>(args.size()), argv.data(), lengths.data()) != REDIS_OK)
        throw StoreError(prefix() + args[0] + ": " + context->errstr);
}

RedisReplyPtr RedisClient::read_reply(redisContext* context, const std::string& command) const {
    void* raw = nullptr;
    if (redisGetReply(context, &raw) != REDIS_OK || !raw) {
        const bool timed_out = context->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
        throw StoreError(prefix() + command + ": " +
                         (timed_out ? "no answer within " + std::to_string(m_settings.timeout_ms) + " ms"
                                    : std::string(context->errstr[0] ? context->errstr : "connection lost")));
    }
    return RedisReplyPtr(static_cast<redisReply*>(raw), freeReplyObject);
}

// Marks Redis as failing: idle connections go (after a restart they are all dead), and for a while callers
// without a connection fail at once.
void RedisClient::note_failure(const std::string& message) const {
    std::lock_guard lock(m_mutex);
    m_idle.clear();
    m_retry_after = Clock::now() + k_reconnect_backoff;
    m_last_error = message;
}

RedisClient::Lease::Lease(const RedisClient& client) : m_client(client) {
    {
        std::lock_guard lock(client.m_mutex);
        if (!client.m_idle.empty()) {
            m_context = std::move(client.m_idle.back());
            client.m_idle.pop_back();
            return;
        }
        const auto now = Clock::now();
        if (now < client.m_retry_after) {
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(client.m_retry_after - now);
            throw StoreError(client.m_last_error + " (next connection attempt in " +
                             std::to_string(wait.count()) + " ms)");
        }
        // While Redis is failing this caller is the one that tries; the others keep failing at once until its
        // lease ends well (a hung server would otherwise hold every caller of the moment for a timeout).
        if (!client.m_last_error.empty()) client.m_retry_after = now + k_reconnect_backoff;
    }
    try {
        m_context = client.open_connection();
    } catch (const StoreError& e) {
        client.note_failure(e.what());
        throw;
    }
}

RedisClient::Lease::~Lease() {
    if (!m_context || m_broken) return;
    std::lock_guard lock(m_client.m_mutex);
    // Answered: Redis is no longer failing, and every caller may connect again.
    m_client.m_last_error.clear();
    m_client.m_retry_after = {};
    if (m_client.m_idle.size() < k_max_idle_connections) m_client.m_idle.push_back(std::move(m_context));
}

// Runs f; an I/O failure marks this connection dead and Redis failing.
template <class F> auto RedisClient::Lease::guarded(F&& f) {
    try {
        return f();
    } catch (const StoreError& e) {
        m_broken = true;
        m_client.note_failure(e.what());
        throw;
    }
}

RedisReplyPtr RedisClient::Lease::raw_command(const std::vector<std::string>& args) {
    return guarded([&] { return m_client.run(m_context.get(), args); });
}

RedisReplyPtr RedisClient::Lease::command(const std::vector<std::string>& args) {
    RedisReplyPtr reply = raw_command(args);
    check_error(*reply, args[0]);
    return reply;
}

std::vector<RedisReplyPtr> RedisClient::Lease::pipeline(const std::vector<std::vector<std::string>>& commands) {
    std::vector<RedisReplyPtr> replies;
    if (commands.empty()) return replies;
    guarded([&] {
        for (const auto& args : commands)
            m_client.append(m_context.get(), args);
        for (const auto& args : commands)
            replies.push_back(m_client.read_reply(m_context.get(), args[0]));
        return 0;
    });
    for (std::size_t i = 0; i < replies.size(); ++i)
        check_error(*replies[i], commands[i][0]);
    return replies;
}

std::vector<std::string> RedisClient::Lease::scan(const std::string& pattern, std::size_t limit) {
    // Keys asked for per SCAN call: large enough for few round trips, small enough for Redis to answer in ~1 ms.
    constexpr int k_scan_count = 1000;
    std::unordered_set<std::string> seen;
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
        const auto reply = command({"SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(k_scan_count)});
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY)
            protocol_error("SCAN");
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

void RedisClient::Lease::protocol_error(const std::string& command) {
    m_broken = true; // out of step with the server: never reuse
    throw StoreError(m_client.prefix() + command + ": unexpected reply");
}

void RedisClient::Lease::reply_error(const redisReply& reply, const std::string& command) const {
    throw StoreError(m_client.prefix() + command + ": " + std::string(reply.str, reply.len));
}

void RedisClient::Lease::check_error(const redisReply& reply, const std::string& command) const {
    if (reply.type == REDIS_REPLY_ERROR) reply_error(reply, command);
}

} // namespace presend::detail
