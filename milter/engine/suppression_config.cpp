// suppression_config: see suppression_config.hpp. Also parse_store_spec(), the --store form of the same.
#include "engine/suppression_config.hpp"

#include "engine/yaml_util.hpp"

#include <charconv>

namespace presend {

namespace {

using yaml::fail;

std::string string_value(const std::string& file, const YAML::Node& node, const char* key) {
    auto value = yaml::as_string(node);
    if (!value || value->empty()) fail(file, node, std::string(key) + ": expected a non-empty string");
    return *value;
}

int int_value(const std::string& file, const YAML::Node& node, const char* key, long long min,
              long long max) {
    auto value = yaml::as_integer(node);
    if (!value || *value < min || *value > max)
        fail(file, node,
             std::string(key) + ": expected a whole number from " + std::to_string(min) + " to " +
                 std::to_string(max));
    return static_cast<int>(*value);
}

constexpr long long k_max_timeout_ms = 10000; // longer than this, Postfix's own milter timeouts fire first

} // namespace

SuppressionConfig parse_suppression_config(const YAML::Node& node, const std::string& file) {
    SuppressionConfig config;
    if (!node || node.IsNull()) return config;
    if (!node.IsMap()) fail(file, node, "suppression: expected a mapping");
    auto report = [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); };
    yaml::check_keys(node, {"backend", "path", "redis", "on_error"}, report);

    config.backend = "sqlite"; // writing the section at all asks for a list; sqlite needs nothing else
    if (auto n = node["backend"]) {
        config.backend = string_value(file, n, "backend");
        if (config.backend != "sqlite" && config.backend != "redis" && config.backend != "none")
            fail(file, n, "backend: expected sqlite, redis or none");
    }
    if (auto n = node["path"]) {
        std::filesystem::path path = string_value(file, n, "path");
        config.path = path.is_relative() ? std::filesystem::path(file).parent_path() / path : path;
    }
    if (auto redis = node["redis"]) {
        if (!redis.IsMap()) fail(file, redis, "redis: expected a mapping");
        yaml::check_keys(redis, {"host", "port", "db", "timeout_ms", "password_file"}, report);
        if (auto n = redis["host"]) config.redis_host = string_value(file, n, "host");
        if (auto n = redis["port"]) config.redis_port = int_value(file, n, "port", 1, 65535);
        if (auto n = redis["db"]) config.redis_db = int_value(file, n, "db", 0, 1000000);
        if (auto n = redis["timeout_ms"])
            config.redis_timeout_ms = int_value(file, n, "timeout_ms", 1, k_max_timeout_ms);
        if (auto n = redis["password_file"]) {
            std::filesystem::path path = string_value(file, n, "password_file");
            config.redis_password_file =
                path.is_relative() ? std::filesystem::path(file).parent_path() / path : path;
        }
    }
    if (auto n = node["on_error"]) {
        const auto action = parse_action(string_value(file, n, "on_error"));
        if (!action || (*action != Action::tempfail && *action != Action::accept))
            fail(file, n, "on_error: expected tempfail or accept");
        config.on_store_error = *action;
    }
    return config;
}

SuppressionConfig load_suppression_config(const std::filesystem::path& path) {
    return parse_suppression_config(yaml::load_config_section(path.string(), "suppression"), path.string());
}

SuppressionConfig parse_store_spec(std::string_view spec) {
    SuppressionConfig config;
    const auto bad = [&](const std::string& why) {
        return std::invalid_argument("store '" + std::string(spec) + "': " + why +
                                     " (expected sqlite:PATH or redis://HOST[:PORT][/DB])");
    };
    if (spec.rfind("sqlite:", 0) == 0) {
        auto path = spec.substr(7);
        if (path.rfind("//", 0) == 0) path.remove_prefix(2); // sqlite:///var/lib/... as a URL
        if (path.empty()) throw bad("no path");
        config.backend = "sqlite";
        config.path = std::string(path);
        return config;
    }
    if (spec.rfind("redis://", 0) == 0) {
        auto rest = spec.substr(8);
        config.backend = "redis";
        if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
            const auto db = rest.substr(slash + 1);
            if (!db.empty()) {
                const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), config.redis_db);
                if (ec != std::errc() || end != db.data() + db.size() || config.redis_db < 0)
                    throw bad("bad db number");
            }
            rest = rest.substr(0, slash);
        }
        if (rest.find('@') != std::string_view::npos)
            throw bad(
                "no passwords in the store spec (they show in ps); use redis.password_file in --config");
        std::string_view host = rest;
        std::string_view port;
        if (!rest.empty() && rest.front() == '[') { // [::1]:6379
            const auto close = rest.find(']');
            if (close == std::string_view::npos) throw bad("unclosed [");
            host = rest.substr(1, close - 1);
            if (close + 1 < rest.size()) {
                if (rest[close + 1] != ':') throw bad("expected :PORT after ]");
                port = rest.substr(close + 2);
            }
        } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
            host = rest.substr(0, colon);
            port = rest.substr(colon + 1);
        }
        if (!host.empty()) config.redis_host = std::string(host);
        if (!port.empty()) {
            const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), config.redis_port);
            if (ec != std::errc() || end != port.data() + port.size() || config.redis_port < 1 ||
                config.redis_port > 65535)
                throw bad("bad port");
        }
        return config;
    }
    throw bad("unknown kind");
}

} // namespace presend
