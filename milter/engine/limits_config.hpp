// limits_config: the `limits:` section of presend.yaml → Limits. Called by load_config(). Every key has
// a default (presend/limits.hpp); a value outside its range is refused with file:line:column, so a typo
// cannot switch a limit off or make every message pass one.
#pragma once

#include "presend/limits.hpp"

#include <yaml-cpp/yaml.h>

#include <string>

namespace presend {

// node is the value of the `limits:` key:
//   limits:
//     max_message_bytes: 32M   # sizes in bytes or with K, M, G
//     on_oversize: accept
//     max_headers: 1000
//     ...
//     on_limit: tempfail       # accept, tag, quarantine, tempfail or reject
// Errors are ConfigError "file:line:column: message".
Limits parse_limits_config(const YAML::Node& node, const std::string& file);

} // namespace presend
