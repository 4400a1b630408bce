// suppression_config: see suppression_config.hpp. Also parse_store_spec(), the --store form of the same.
#include "engine/suppression_config.hpp"

#include "engine/store_config.hpp"
#include "engine/yaml_util.hpp"

#include <charconv>

namespace presend {

using yaml::fail;

SuppressionConfig parse_suppression_config(const YAML::Node& node, const std::string& file) {
    SuppressionConfig config;
    if (!node || node.IsNull()) return config;
    if (!node.IsMap()) fail(file, node, "suppression: expected a mapping");
    auto report = [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); };
    yaml::check_keys(node, {"backend", "path", "redis", "on_error"}, report);

    config.backend = "sqlite"; // writing the section at all asks for a list; sqlite needs nothing else
    if (auto n = node["backend"]) {
        config.backend = yaml::nonempty_string(file, n, "backend");
        if (config.backend != "sqlite" && config.backend != "redis" && config.backend != "none")
            fail(file, n, "backend: expected sqlite, redis or none");
    }
    if (auto n = node["path"]) config.path = yaml::config_path(file, n, "path");
    if (auto n = node["redis"]) config.redis = parse_redis_settings(n, file);
    if (auto n = node["on_error"]) config.on_store_error = parse_store_on_error(n, file);
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
                const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), config.redis.db);
                if (ec != std::errc() || end != db.data() + db.size() || config.redis.db < 0)
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
        if (!host.empty()) config.redis.host = std::string(host);
        if (!port.empty()) {
            const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), config.redis.port);
            if (ec != std::errc() || end != port.data() + port.size() || config.redis.port < 1 ||
                config.redis.port > 65535)
                throw bad("bad port");
        }
        return config;
    }
    throw bad("unknown kind");
}

} // namespace presend
