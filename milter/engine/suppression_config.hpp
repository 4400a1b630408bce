// suppression_config: the `suppression:` section of presend.yaml → SuppressionConfig. load_config()
// (engine/config.cpp) calls parse_suppression_config() for the section; `presend suppress --config` reads
// only that section with load_suppression_config(). Errors are ConfigError "file:line:column: message".
#pragma once

#include "presend/config.hpp"
#include "presend/suppression.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>

namespace presend {

// node is the value of the `suppression:` key:
//   suppression:
//     backend: sqlite              # sqlite | redis | none; default sqlite when the section is present
//     path: /var/lib/presend/suppression.db   # relative paths are relative to the config file
//     redis: {host: 127.0.0.1, port: 6379, db: 0, timeout_ms: 200, password_file: /etc/presend/redis.pass}
//     on_error: tempfail           # tempfail | accept: what a recipient gets when the store cannot answer
// Unknown keys are errors, with a suggestion.
SuppressionConfig parse_suppression_config(const YAML::Node& node, const std::string& file);

// The `suppression:` section of a whole presend.yaml; other top-level keys are load_config()'s business and
// are not checked here. A file without the section gives backend "none".
SuppressionConfig load_suppression_config(const std::filesystem::path& file);

} // namespace presend
