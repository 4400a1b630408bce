// store_config: the keys every store section of presend.yaml shares (`suppression:`, `rates:`): the Redis
// server and what a recipient gets when the store cannot answer. Called by suppression_config.cpp and
// rates_config.cpp. Errors are ConfigError "file:line:column: message".
#pragma once

#include "presend/store.hpp"
#include "presend/verdict.hpp"

#include <yaml-cpp/yaml.h>

#include <string>

namespace presend {

// node is the value of a `redis:` key: {host, port, db, timeout_ms, password_file}; the rest keep their
// defaults. A relative password_file is relative to the config file.
RedisSettings parse_redis_settings(const YAML::Node& node, const std::string& file);

// node is the value of an `on_error:` key: tempfail or accept.
Action parse_store_on_error(const YAML::Node& node, const std::string& file);

} // namespace presend
