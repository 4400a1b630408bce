// feedback_config: see feedback_config.hpp.
#include "engine/feedback_config.hpp"

#include "engine/suppression_import.hpp"
#include "engine/yaml_util.hpp"

#include <algorithm>
#include <cstdint>
#include <cctype>
#include <regex>

namespace presend {

namespace {

using yaml::fail;

// Limits of the keys, each with its reason.
constexpr long long k_max_threshold = 100000;        // past this a "burst" is the provider's normal day
constexpr std::int64_t k_max_span_s = 7 * 86400;     // a week: longer windows and holds outlive the cause
constexpr std::size_t k_max_curve_steps = 10;        // more steps than this cannot be told apart
constexpr double k_min_factor = 0.001;               // below this a group is stopped, which is not slowing
constexpr double k_max_recover_factor = 10;          // more is a jump, not a recovery
constexpr std::size_t k_max_signatures = 200;        // each is a regex tried on every deferral
constexpr std::size_t k_max_name_chars = 64;         // names are metric labels

std::chrono::seconds duration_value(const std::string& file, const YAML::Node& node, const char* key) {
    const auto value = parse_duration(yaml::string_value(file, node, key));
    if (!value || *value > k_max_span_s)
        fail(file, node, std::string(key) + ": expected a duration from 1s to 7d, such as 90s, 10m or 2h");
    return std::chrono::seconds(*value);
}

// Names are metric label values and log words: letters, digits, '.', '_' and '-'.
bool valid_name(std::string_view name) {
    return !name.empty() && name.size() <= k_max_name_chars &&
           std::all_of(name.begin(), name.end(), [](unsigned char c) {
               return std::isalnum(c) || c == '.' || c == '_' || c == '-';
           });
}

std::vector<double> curve_value(const std::string& file, const YAML::Node& node) {
    if (!node.IsSequence() || node.size() == 0 || node.size() > k_max_curve_steps)
        fail(file, node, "curve: expected a list of 1 to 10 factors, such as [0.5, 0.25, 0.1]");
    std::vector<double> curve;
    for (const auto& item : node) {
        const auto f = yaml::as_number(item);
        if (!f || *f < k_min_factor || *f >= 1.0)
            fail(file, item, "curve: expected a factor from 0.001 to below 1");
        if (!curve.empty() && *f >= curve.back())
            fail(file, item, "curve: each step must slow the group more than the one before");
        curve.push_back(*f);
    }
    return curve;
}

std::vector<ThrottleSignature> signatures_value(const std::string& file, const YAML::Node& node) {
    if (!node.IsSequence() || node.size() > k_max_signatures)
        fail(file, node, "signatures: expected a list of {name, regex} (at most 200)");
    auto report = [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); };
    std::vector<ThrottleSignature> out;
    for (const auto& item : node) {
        if (!item.IsMap()) fail(file, item, "signatures: expected {name: ..., regex: ...}");
        yaml::check_keys(item, {"name", "regex"}, report);
        if (!item["name"] || !item["regex"]) fail(file, item, "signatures: each needs a name and a regex");
        ThrottleSignature s{yaml::string_value(file, item["name"], "name"), yaml::string_value(file, item["regex"], "regex")};
        if (!valid_name(s.name))
            fail(file, item["name"], "name: expected 1 to 64 of A-Z a-z 0-9 . _ -");
        for (const auto& other : out)
            if (other.name == s.name) fail(file, item["name"], "name: '" + s.name + "' is used twice");
        if (s.regex.empty()) fail(file, item["regex"], "regex: expected a pattern");
        try {
            std::regex(s.regex, std::regex::ECMAScript | std::regex::icase);
        } catch (const std::regex_error& e) {
            fail(file, item["regex"], "regex: bad pattern for signature '" + s.name + "': " + e.what());
        }
        out.push_back(std::move(s));
    }
    return out;
}

} // namespace

FeedbackConfig parse_feedback_config(const YAML::Node& node, const std::string& file) {
    FeedbackConfig config;
    if (!node || node.IsNull()) return config;
    yaml::check_section(node, file, "feedback",
                        {"log", "threshold", "window", "curve", "hold", "recover_every", "recover_factor",
                         "signatures", "default_signatures", "groups"});
    BackoffSettings& b = config.backoff;
    if (auto n = node["log"]) {
        std::filesystem::path path = yaml::string_value(file, n, "log");
        config.log = path.empty() || path.is_absolute() ? path.string()
                                                        : (std::filesystem::path(file).parent_path() / path).string();
    }
    if (auto n = node["threshold"]) {
        const auto value = yaml::as_integer(n);
        if (!value || *value < 1 || *value > k_max_threshold)
            fail(file, n, "threshold: expected a whole number from 1 to 100000");
        b.threshold = static_cast<std::size_t>(*value);
    }
    if (auto n = node["window"]) b.window = duration_value(file, n, "window");
    if (auto n = node["curve"]) b.curve = curve_value(file, n);
    if (auto n = node["hold"]) b.hold = duration_value(file, n, "hold");
    if (auto n = node["recover_every"]) b.recover_every = duration_value(file, n, "recover_every");
    if (auto n = node["recover_factor"]) {
        const auto value = yaml::as_number(n);
        if (!value || *value <= 1.0 || *value > k_max_recover_factor)
            fail(file, n, "recover_factor: expected a number above 1 and at most 10, such as 1.5");
        b.recover_factor = *value;
    }
    if (auto n = node["signatures"]) config.signatures = signatures_value(file, n);
    if (auto n = node["default_signatures"]) {
        const auto value = yaml::as_bool(n);
        if (!value) fail(file, n, "default_signatures: expected true or false");
        config.default_signatures = *value;
    }
    if (!config.default_signatures && config.signatures.empty())
        fail(file, node, "feedback: default_signatures is false and no signatures are given: nothing would count");
    // Destination groups are `rates:`'s, one table for both sections; this key was never in a release.
    if (auto n = node["groups"])
        fail(file, n,
             "groups: destination groups are set under rates: groups: (with mx: for relay host suffixes), one "
             "table for the volume guard and the feedback back-off; see docs/rates.md");
    return config;
}

FeedbackConfig load_feedback_config(const std::filesystem::path& path) {
    return parse_feedback_config(yaml::load_config_section(path.string(), "feedback"), path.string());
}

} // namespace presend
