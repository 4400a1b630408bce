// tenant_config: the `tenants:`, `attestation:` and `default_class:` keys of presend.yaml → Config.
// Called by load_config() only. Key files are read here, at load: a key presend cannot use is a config
// error (start refused, or the old config kept on reload), never a surprise on the first message.
#pragma once

#include "presend/config.hpp"

#include <yaml-cpp/yaml.h>

#include <string>

namespace presend {

// Reads those keys of root (the whole file) into config; throws ConfigError "file:line:column: ...".
// Relative key file paths are relative to the config file's directory.
void parse_tenant_config(const YAML::Node& root, const std::string& file, Config& config);

} // namespace presend
