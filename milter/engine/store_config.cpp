// store_config: see store_config.hpp.
#include "engine/store_config.hpp"

#include "engine/yaml_util.hpp"

namespace presend {

namespace {
constexpr long long k_max_timeout_ms = 10000; // longer than this, Postfix's own milter timeouts fire first
}

RedisSettings parse_redis_settings(const YAML::Node& node, const std::string& file) {
    using yaml::bounded_integer;
    RedisSettings redis;
    if (!node.IsMap()) yaml::fail(file, node, "redis: expected a mapping");
    yaml::check_keys(node, {"host", "port", "db", "timeout_ms", "password_file"},
                     [&](const YAML::Node& key, const std::string& message) { yaml::fail(file, key, message); });
    if (auto n = node["host"]) redis.host = yaml::nonempty_string(file, n, "host");
    if (auto n = node["port"]) redis.port = static_cast<int>(bounded_integer(file, n, "port", 1, 65535));
    if (auto n = node["db"]) redis.db = static_cast<int>(bounded_integer(file, n, "db", 0, 1000000));
    if (auto n = node["timeout_ms"])
        redis.timeout_ms = static_cast<int>(bounded_integer(file, n, "timeout_ms", 1, k_max_timeout_ms));
    if (auto n = node["password_file"]) redis.password_file = yaml::config_path(file, n, "password_file");
    return redis;
}

Action parse_store_on_error(const YAML::Node& node, const std::string& file) {
    const auto action = parse_action(yaml::nonempty_string(file, node, "on_error"));
    if (!action || (*action != Action::tempfail && *action != Action::accept))
        yaml::fail(file, node, "on_error: expected tempfail or accept");
    return *action;
}

} // namespace presend
