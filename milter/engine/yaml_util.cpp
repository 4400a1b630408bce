// yaml_util: see yaml_util.hpp.
#include "engine/yaml_util.hpp"

#include "presend/config.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>

namespace presend::yaml {

SourcePos position(const std::string& file, const YAML::Node& node) {
    const auto mark = node.Mark();
    if (mark.is_null()) return {file, 0, 0};
    return {file, mark.line + 1, mark.column + 1};
}

namespace {
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                              std::tolower(static_cast<unsigned char>(b[j - 1]));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}
} // namespace

std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
    constexpr std::size_t k_max_distance = 3; // further than this, a suggestion misleads more than it helps
    std::string best;
    std::size_t best_distance = k_max_distance + 1;
    for (auto c : candidates) {
        // "malformed" → "malformed-mime": a truncated name is as likely a slip as a typo.
        const auto d = word.size() >= 4 && c.substr(0, word.size()) == word ? 1 : edit_distance(word, c);
        if (d < best_distance) {
            best_distance = d;
            best = c;
        }
    }
    return best;
}

YAML::Node load_config_file(const std::string& file) {
    // A directory opens as a stream and fails only in the middle of reading, with the C++ library's words.
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec))
        throw ConfigError(file + ": is a directory, not a config file");
    std::ifstream in(file);
    if (!in) throw ConfigError(file + ": cannot read config file");
    try {
        return YAML::Load(in);
    } catch (const YAML::ParserException& e) {
        throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                          ": YAML syntax error: " + e.msg);
    }
}

void check_section(const YAML::Node& node, const std::string& file, std::string_view section,
                   std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) fail(file, node, std::string(section) + ": expected a mapping");
    check_keys(node, allowed, [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); });
}

YAML::Node load_config_section(const std::string& file, const std::string& key) {
    const YAML::Node root = load_config_file(file);
    if (root.IsNull()) return root;
    if (!root.IsMap()) fail(file, root, "expected a mapping of settings at the top level");
    return root[key];
}

void fail(const std::string& file, const YAML::Node& node, const std::string& message) {
    const auto pos = position(file, node);
    throw ConfigError(pos.file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": " +
                      message);
}

std::string string_value(const std::string& file, const YAML::Node& node, std::string_view key) {
    auto value = as_string(node);
    if (!value) fail(file, node, std::string(key) + ": expected a string");
    return *value;
}

std::string nonempty_string(const std::string& file, const YAML::Node& node, std::string_view key) {
    auto value = as_string(node);
    if (!value || value->empty()) fail(file, node, std::string(key) + ": expected a non-empty string");
    return *value;
}

long long bounded_integer(const std::string& file, const YAML::Node& node, std::string_view key, long long min,
                          long long max) {
    auto value = as_integer(node);
    if (!value || *value < min || *value > max)
        fail(file, node,
             std::string(key) + ": expected a whole number from " + std::to_string(min) + " to " +
                 std::to_string(max));
    return *value;
}

std::filesystem::path config_path(const std::string& file, const YAML::Node& node, std::string_view key) {
    std::filesystem::path path = nonempty_string(file, node, key);
    return path.is_relative() ? std::filesystem::path(file).parent_path() / path : path;
}

std::optional<std::string> as_string(const YAML::Node& node) {
    if (!node.IsDefined() || !node.IsScalar()) return std::nullopt; // a missing key is not an error here
    return node.Scalar();
}

std::optional<double> as_number(const YAML::Node& node) {
    if (!node.IsDefined() || !node.IsScalar()) return std::nullopt; // a missing key is not an error here
    try {
        // .nan and .inf are YAML numbers, but a NaN score never reaches a threshold and an infinite one
        // outweighs every other rule: no setting or score means either.
        const double value = node.as<double>();
        if (!std::isfinite(value)) return std::nullopt;
        return value;
    } catch (const YAML::Exception&) {
        return std::nullopt;
    }
}

std::optional<long long> as_integer(const YAML::Node& node) {
    if (!node.IsDefined() || !node.IsScalar()) return std::nullopt; // a missing key is not an error here
    try {
        return node.as<long long>();
    } catch (const YAML::Exception&) {
        return std::nullopt;
    }
}

std::optional<bool> as_bool(const YAML::Node& node) {
    if (!node.IsDefined() || !node.IsScalar()) return std::nullopt; // a missing key is not an error here
    try {
        return node.as<bool>();
    } catch (const YAML::Exception&) {
        return std::nullopt;
    }
}

} // namespace presend::yaml
