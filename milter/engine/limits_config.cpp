// limits_config: see limits_config.hpp.
#include "engine/limits_config.hpp"

#include "engine/yaml_util.hpp"

#include <cctype>

namespace presend {

namespace {

using yaml::fail;

// "33554432", "32M", "512k", "1G"
std::size_t size_value(const std::string& file, const YAML::Node& node, const char* key) {
    const auto text = yaml::as_string(node).value_or("");
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
        ++digits;
    const auto suffix = text.substr(digits);
    std::size_t scale = 0;
    if (suffix.empty())
        scale = 1;
    else if (suffix == "k" || suffix == "K")
        scale = 1u << 10;
    else if (suffix == "m" || suffix == "M")
        scale = 1u << 20;
    else if (suffix == "g" || suffix == "G")
        scale = 1u << 30;
    if (digits == 0 || digits > 12 || scale == 0)
        fail(file, node, std::string(key) + ": expected a size in bytes, e.g. 33554432 or 32M");
    const std::size_t value = std::stoull(text.substr(0, digits)) * scale;
    // Below this no real header block fits, nor a header line of the 998 octets RFC 5322 allows.
    constexpr std::size_t k_min_bytes = 1024;
    if (value < k_min_bytes) fail(file, node, std::string(key) + ": must be at least 1K");
    return value;
}

std::size_t count_value(const std::string& file, const YAML::Node& node, const char* key, long long min,
                        long long max) {
    const auto value = yaml::as_integer(node);
    if (!value || *value < min || *value > max)
        fail(file, node,
             std::string(key) + ": expected a whole number from " + std::to_string(min) + " to " +
                 std::to_string(max));
    return static_cast<std::size_t>(*value);
}

// discard is refused: a message presend could not read whole must never vanish without a trace.
Action least_action(const std::string& file, const YAML::Node& node, const char* key) {
    const auto action = parse_action(yaml::as_string(node).value_or(""));
    if (!action || *action == Action::discard)
        fail(file, node, std::string(key) + ": expected accept, tag, quarantine, tempfail or reject");
    return *action;
}

// Ceilings that catch typos; each is far above what mail needs.
constexpr long long k_max_count = 1'000'000;
// GMime itself stops descending at 1,024 levels (GMIME_CRIT_NESTING_OVERFLOW).
constexpr long long k_max_mime_depth = 1000;
// Postfix's milter_content_timeout (300 s by default) would give up on presend first.
constexpr long long k_max_time_budget_ms = 300'000;

} // namespace

Limits parse_limits_config(const YAML::Node& node, const std::string& file) {
    Limits limits;
    if (node.IsNull()) return limits;
    if (!node.IsMap()) fail(file, node, "limits: expected a mapping");
    yaml::check_keys(node,
                     {"max_message_bytes", "on_oversize", "max_headers", "max_header_line", "max_mime_depth",
                      "max_mime_parts", "max_decoded_bytes", "max_urls", "time_budget_ms", "on_limit"},
                     [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); });
    if (auto n = node["max_message_bytes"])
        limits.max_message_bytes = size_value(file, n, "max_message_bytes");
    if (auto n = node["on_oversize"]) limits.on_oversize = least_action(file, n, "on_oversize");
    if (auto n = node["max_headers"])
        limits.max_headers = count_value(file, n, "max_headers", 1, k_max_count);
    if (auto n = node["max_header_line"]) limits.max_header_line = size_value(file, n, "max_header_line");
    if (auto n = node["max_mime_depth"])
        limits.max_mime_depth = count_value(file, n, "max_mime_depth", 1, k_max_mime_depth);
    if (auto n = node["max_mime_parts"])
        limits.max_mime_parts = count_value(file, n, "max_mime_parts", 1, k_max_count);
    if (auto n = node["max_decoded_bytes"])
        limits.max_decoded_bytes = size_value(file, n, "max_decoded_bytes");
    if (auto n = node["max_urls"]) limits.max_urls = count_value(file, n, "max_urls", 1, k_max_count);
    if (auto n = node["time_budget_ms"])
        limits.time_budget_ms = count_value(file, n, "time_budget_ms", 1, k_max_time_budget_ms);
    if (auto n = node["on_limit"]) limits.on_limit = least_action(file, n, "on_limit");
    return limits;
}

} // namespace presend
