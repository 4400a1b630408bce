// feedback_config: the `feedback:` section of presend.yaml → FeedbackConfig. Called by load_config()
// (engine/config.cpp); `presend feedback replay --config` reads only that section with
// load_feedback_config(). Errors are ConfigError "file:line:column: message", a bad signature regex too.
#pragma once

#include "presend/config.hpp"
#include "presend/feedback.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>

namespace presend {

// node is the value of the `feedback:` key:
//   feedback:
//     log: /var/log/mail.log        # the Postfix log to follow; absent or "": no follower
//     threshold: 5                  # throttle events within window that start a back-off
//     window: 10m
//     curve: [0.5, 0.25, 0.1]       # factors, decreasing, each in (0, 1)
//     hold: 30m
//     recover_every: 15m
//     recover_factor: 1.5           # > 1
//     signatures: [{name: acme-slow-down, regex: "4\\.7\\.1 .*slow down"}]
//     default_signatures: true
// Destination groups are `rates:`'s (rates_config.hpp); a `groups:` key here is an error that says so.
// Durations: "90s", "10m", "2h", "1d" or seconds. Unknown keys are errors, with a suggestion.
FeedbackConfig parse_feedback_config(const YAML::Node& node, const std::string& file);

// The `feedback:` section of a whole presend.yaml; other top-level keys are not checked here. A file
// without the section gives the defaults.
FeedbackConfig load_feedback_config(const std::filesystem::path& file);

} // namespace presend
