// metrics_config: the `metrics:` section of presend.yaml → MetricsConfig. Called by load_config().
// A listen address off the loopback interface is refused unless allow_remote says so: the page names
// rules and tenants, which are the platform's business, not the network's.
#pragma once

#include "presend/config.hpp"

#include <yaml-cpp/yaml.h>

#include <string>

namespace presend {

// node is the value of the `metrics:` key:
//   metrics:
//     listen: "127.0.0.1:9129"   # IP:PORT or [IPv6]:PORT; "" or absent: no endpoint
//     allow_remote: false        # true to allow an address that is not loopback
// Errors are ConfigError "file:line:column: message".
MetricsConfig parse_metrics_config(const YAML::Node& node, const std::string& file);

} // namespace presend
