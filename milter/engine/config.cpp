// config: presend.yaml → Config. Called at daemon start and on reload; a bad file never half-applies:
// either the whole Config is returned or ConfigError names the first problem with file:line:column.
#include "presend/config.hpp"

#include "engine/feedback_config.hpp"
#include "engine/limits_config.hpp"
#include "engine/metrics_config.hpp"
#include "engine/rates_config.hpp"
#include "engine/suppression_config.hpp"
#include "engine/tenant_config.hpp"
#include "engine/yaml_util.hpp"


namespace presend {

namespace {

using yaml::fail;

// What a message presend failed on may get. Not tag, quarantine or discard: a message that was not judged
// is either kept with the client, let through, or refused, and an operator picks which.
Action on_error_value(const std::string& file, const YAML::Node& node) {
    const auto action = parse_action(yaml::string_value(file, node, "on_error"));
    if (!action || (*action != Action::tempfail && *action != Action::accept && *action != Action::reject))
        fail(file, node, "on_error: expected tempfail, accept or reject");
    return *action;
}

} // namespace

Config load_config(const std::filesystem::path& path) {
    const std::string file = path.string();
    const YAML::Node root = yaml::load_config_file(file);
    Config config;
    if (root.IsNull()) return config; // an empty file means all defaults
    if (!root.IsMap()) fail(file, root, "expected a mapping of settings at the top level");

    yaml::check_keys(root,
                     {"socket", "socket_mode", "socket_group", "user", "group", "mode", "rules_dir",
                      "cache_dir", "decision_log", "on_error", "dry_run_tag", "limits", "log", "milter",
                      "metrics", "suppression", "rates", "feedback", "default_class", "attestation", "tenants"},
                     [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); });

    if (auto n = root["socket"]) {
        config.socket = yaml::string_value(file, n, "socket");
        if (config.socket.rfind("inet:", 0) != 0 && config.socket.rfind("unix:", 0) != 0 &&
            config.socket.rfind("local:", 0) != 0 && config.socket.rfind("inet6:", 0) != 0)
            fail(file, n, "socket: expected inet:PORT@HOST, inet6:PORT@HOST or unix:/path");
    }
    if (auto n = root["socket_mode"]) {
        // Octal as written ("0660"): YAML would read an unquoted 0660 as decimal or octal by version.
        const auto text = yaml::string_value(file, n, "socket_mode");
        const auto digits = text.find_first_not_of("01234567");
        const unsigned long mode = digits == std::string::npos && !text.empty() && text.size() <= 4
                                       ? std::stoul(text, nullptr, 8)
                                       : 010000;
        if (mode > 0777 || (mode & 0600) != 0600)
            fail(file, n,
                 "socket_mode: expected an octal mode from 0600 to 0777 such as 0660 (presend must keep "
                 "read and write on its own socket)");
        config.socket_mode = static_cast<unsigned>(mode);
    }
    // Names only; whether they exist is checked when the daemon starts (daemon/privileges.cpp).
    const std::pair<const char*, std::string*> names[] = {
        {"socket_group", &config.socket_group}, {"user", &config.user}, {"group", &config.group}};
    for (const auto& [key, out] : names) {
        auto n = root[key];
        if (!n) continue;
        *out = yaml::string_value(file, n, key);
        if (out->empty() || out->find_first_of(" \t:/") != std::string::npos)
            fail(file, n, std::string(key) + ": expected a user or group name");
    }
    if (auto n = root["mode"]) {
        auto mode = parse_mode(yaml::string_value(file, n, "mode"));
        if (!mode) fail(file, n, "mode: expected enforce or dry-run");
        config.mode = *mode;
    }
    if (auto n = root["rules_dir"]) {
        std::filesystem::path dir = yaml::string_value(file, n, "rules_dir");
        config.rules_dir = dir.is_relative() ? path.parent_path() / dir : dir;
    }
    if (auto n = root["cache_dir"]) {
        std::filesystem::path dir = yaml::string_value(file, n, "cache_dir");
        config.cache_dir = dir.empty() || dir.is_absolute() ? dir : path.parent_path() / dir;
    }
    if (auto n = root["decision_log"]) config.decision_log = yaml::string_value(file, n, "decision_log");
    if (auto n = root["on_error"]) config.on_error = on_error_value(file, n);
    if (auto n = root["dry_run_tag"]) {
        auto value = yaml::as_bool(n);
        if (!value) fail(file, n, "dry_run_tag: expected true or false");
        config.dry_run_tag = *value;
    }
    if (auto n = root["limits"]) config.limits = parse_limits_config(n, file);
    if (auto log = root["log"]) {
        if (!log.IsMap()) fail(file, log, "log: expected a mapping");
        yaml::check_keys(log, {"level", "target"}, [&](const YAML::Node& key, const std::string& message) {
            fail(file, key, message);
        });
        if (auto n = log["level"]) {
            config.log_level = yaml::string_value(file, n, "level");
            static const std::vector<std::string_view> levels{"trace", "debug", "info", "warn", "error"};
            bool ok = false;
            for (auto l : levels)
                ok = ok || l == config.log_level;
            if (!ok) fail(file, n, "level: expected trace, debug, info, warn or error");
        }
        if (auto n = log["target"]) {
            config.log_target = yaml::string_value(file, n, "target");
            if (config.log_target != "stderr" && config.log_target != "syslog")
                fail(file, n, "target: expected stderr or syslog");
        }
    }
    if (auto milter = root["milter"]) {
        if (!milter.IsMap()) fail(file, milter, "milter: expected a mapping");
        yaml::check_keys(milter, {"timeout"}, [&](const YAML::Node& key, const std::string& message) {
            fail(file, key, message);
        });
        if (auto n = milter["timeout"]) {
            auto value = yaml::as_integer(n);
            constexpr long long k_max_timeout_s = 3600; // Postfix gives up on a milter long before this
            if (!value || *value < 1 || *value > k_max_timeout_s)
                fail(file, n, "timeout: expected seconds between 1 and 3600");
            config.milter_timeout_s = static_cast<int>(*value);
        }
    }
    if (auto n = root["metrics"]) config.metrics = parse_metrics_config(n, file);
    if (auto n = root["suppression"]) config.suppression = parse_suppression_config(n, file);
    if (auto n = root["feedback"]) config.feedback = parse_feedback_config(n, file);
    parse_tenant_config(root, file, config);
    if (auto n = root["rates"]) config.rates = parse_rates_config(n, file, config.tenants); // names tenants
    return config;
}

} // namespace presend
