// rates_redis: the RateStore a fleet of MTAs shares. One Redis hash per bucket,
//   presend:rate:<key> = {t: tokens, ts: unix ms of the last take, b: burst, r: refill per ms}
// with a PEXPIRE of the time it takes to fill again (or the end of a warm-up day). One Lua script refills,
// checks and takes every bucket of a recipient atomically (Redis runs a script alone), so two MTAs can never
// both take the last token. `now` comes from the client: the script is deterministic and the tests control
// time; MTAs of a fleet keep their clocks in step with NTP, and a bucket never refills backwards.
// EVALSHA first, EVAL when the server does not know the script (after a restart or SCRIPT FLUSH).
// Connections, timeouts and reconnecting are engine/redis_client.cpp's. Needs Redis 4 (HSET with pairs);
// every key of a recipient must be on one server (no Redis Cluster).
#include "engine/rates_backends.hpp"
#include "engine/redis_client.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace presend::detail {

namespace {

constexpr std::string_view k_rate_key_prefix = "presend:rate:";

// KEYS[i]: bucket i. ARGV[1]: now (unix ms); then per bucket: refill per ms, burst, TTL in ms.
// Returns {index of the first bucket without a token (0-based; #KEYS when all were taken), tokens left...}.
constexpr const char* k_take_script = R"lua(
local now = tonumber(ARGV[1])
local n = #KEYS
local tokens, stamps = {}, {}
local blocked = n
for i = 1, n do
  local rate, burst = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local held = redis.call('HMGET', KEYS[i], 't', 'ts')
  local t, ts = tonumber(held[1]), tonumber(held[2])
  if t == nil or ts == nil then
    t, ts = burst, now
  elseif now > ts then
    t = t + (now - ts) * rate
  end
  if t > burst then t = burst end
  tokens[i], stamps[i] = t, math.max(now, ts)
  if t < 1 and blocked == n then blocked = i - 1 end
end
if blocked == n then
  for i = 1, n do
    tokens[i] = tokens[i] - 1
    redis.call('HSET', KEYS[i], 't', tostring(tokens[i]), 'ts', string.format('%d', stamps[i]),
               'b', ARGV[3 * i], 'r', ARGV[3 * i - 1])
    redis.call('PEXPIRE', KEYS[i], ARGV[3 * i + 1])
  end
end
local out = {blocked}
for i = 1, n do out[i + 1] = tostring(tokens[i]) end
return out
)lua";

std::string sha1_hex(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr) != 1) return {};
    std::string hex;
    char buf[3];
    for (unsigned int i = 0; i < size; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", digest[i]);
        hex += buf;
    }
    return hex;
}

// Redis numbers as the script wrote them ("59.5", "1e-05"); nullopt for anything else.
std::optional<double> number(const redisReply* reply) {
    if (!reply || reply->type != REDIS_REPLY_STRING) return std::nullopt;
    double value = 0;
    const char* end = reply->str + reply->len;
    const auto [ptr, ec] = std::from_chars(reply->str, end, value);
    if (ec != std::errc() || ptr != end) return std::nullopt;
    return value;
}

std::string ms_text(double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    return buf;
}

class RedisRateStore final : public RateStore {
  public:
    explicit RedisRateStore(const RedisSettings& settings)
        : m_client(settings), m_sha(sha1_hex(k_take_script)) {}

    std::size_t take(std::span<const BucketSpec> specs, std::int64_t now_ms, std::span<double> left) override {
        std::vector<std::string> args{"EVALSHA", m_sha, std::to_string(specs.size())};
        args.reserve(3 + specs.size() * 4 + 1);
        for (const auto& spec : specs)
            args.push_back(std::string(k_rate_key_prefix) + spec.key);
        args.push_back(std::to_string(now_ms));
        for (const auto& spec : specs) {
            args.push_back(ms_text(spec.rate_per_ms));
            args.push_back(ms_text(spec.burst));
            args.push_back(std::to_string(std::max<std::int64_t>(1, spec.ttl_ms)));
        }
        RedisClient::Lease lease(m_client);
        auto reply = lease.raw_command(args);
        if (reply->type == REDIS_REPLY_ERROR && std::string_view(reply->str, reply->len).starts_with("NOSCRIPT")) {
            args[0] = "EVAL";
            args[1] = k_take_script; // EVAL also caches it for the next EVALSHA
            reply = lease.raw_command(args);
        }
        if (reply->type == REDIS_REPLY_ERROR) lease.reply_error(*reply, args[0]);
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != specs.size() + 1 ||
            reply->element[0]->type != REDIS_REPLY_INTEGER)
            lease.protocol_error(args[0]);
        for (std::size_t i = 0; i < specs.size(); ++i) {
            const auto tokens = number(reply->element[i + 1]);
            if (!tokens) lease.protocol_error(args[0]);
            left[i] = *tokens;
        }
        const auto blocked = reply->element[0]->integer;
        return blocked < 0 ? std::size_t{0} : std::min(specs.size(), static_cast<std::size_t>(blocked));
    }

    // A walk of the keyspace (SCAN), then one pipelined HMGET per bucket: for `presend rates`, never the mail
    // path.
    std::vector<BucketState> buckets(std::int64_t now_ms) const override {
        RedisClient::Lease lease(m_client);
        const auto keys = lease.scan(std::string(k_rate_key_prefix) + "*", 0);

        std::vector<std::vector<std::string>> commands;
        for (const auto& key : keys)
            commands.push_back({"HMGET", key, "t", "ts", "b", "r"});
        const auto replies = lease.pipeline(commands);
        std::vector<BucketState> out;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const redisReply* r = replies[i].get();
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) lease.protocol_error("HMGET");
            const auto t = number(r->element[0]), ts = number(r->element[1]), b = number(r->element[2]),
                       rate = number(r->element[3]);
            if (!t || !ts || !b || !rate) continue; // expired since the SCAN, or not ours
            BucketState state;
            state.key = keys[i].substr(k_rate_key_prefix.size());
            state.burst = *b;
            state.rate_per_ms = *rate;
            state.updated_ms = static_cast<std::int64_t>(*ts);
            const double elapsed = std::max(0.0, static_cast<double>(now_ms) - *ts);
            state.tokens = std::min(*b, *t + elapsed * *rate);
            out.push_back(std::move(state));
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
        return out;
    }

    std::uint64_t version() const override { return 0; } // Redis is read directly: no state file
    std::string describe() const override { return m_client.settings().describe(); }

  private:
    RedisClient m_client;
    const std::string m_sha;
};

} // namespace

std::shared_ptr<RateStore> open_redis_rate_store(const RedisSettings& settings) {
    return std::make_shared<RedisRateStore>(settings);
}

} // namespace presend::detail
