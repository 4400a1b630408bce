// yaml_util: shared helpers for the YAML readers (config.cpp, rule_loader.cpp): positions, key checks
// with "did you mean" suggestions, typed scalars. Every error carries the node's file:line:column.
#pragma once

#include "presend/ruleset.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace presend::yaml {

SourcePos position(const std::string& file, const YAML::Node& node);

// The closest of candidates to word within edit distance 3, or empty.
std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates);

// Calls report(key node, message) for every key of map not in allowed, and for every key given twice:
// yaml-cpp keeps both and a lookup finds only the first, so a second `rules:` list or `score:` would be
// dropped without a word.
template <class Report>
void check_keys(const YAML::Node& map, std::initializer_list<std::string_view> allowed, Report&& report) {
    std::vector<std::string_view> known(allowed);
    std::vector<std::pair<std::string, YAML::Mark>> seen;
    for (const auto& kv : map) {
        const auto key = kv.first.as<std::string>("");
        const auto first =
            std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == key; });
        if (first != seen.end()) {
            report(kv.first, "key '" + key + "' given twice (first at line " +
                                 std::to_string(first->second.line + 1) + "); only the first would be read");
            continue;
        }
        seen.emplace_back(key, kv.first.Mark());
        bool ok = false;
        for (auto k : known)
            ok = ok || k == key;
        if (ok) continue;
        auto hint = suggest(key, known);
        report(kv.first,
               "unknown key '" + key + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
}

// A config section (the value of `section:`) must be a mapping of only the allowed keys; throws ConfigError
// "file:line:column: ..." naming the first that is not, with a suggestion.
void check_section(const YAML::Node& node, const std::string& file, std::string_view section,
                   std::initializer_list<std::string_view> allowed);

// Reads a YAML config file whole. Throws ConfigError "FILE: cannot read config file", "FILE: is a directory"
// or "file:line:column: YAML syntax error: ...". An empty file gives a null node.
YAML::Node load_config_file(const std::string& file);

// The value of one top-level key of a whole config file, for the commands that read only their own
// section (`presend suppress --config`, `presend feedback replay --config`); a null node when the file
// is empty or lacks the key. The other keys are load_config()'s business and are not checked here.
YAML::Node load_config_section(const std::string& file, const std::string& key);

// Throws ConfigError "file:line:column: message" at node: the config readers' one way to fail.
[[noreturn]] void fail(const std::string& file, const YAML::Node& node, const std::string& message);

// Typed values of a config key that fail() with "KEY: expected ..." when the value does not fit.
std::string string_value(const std::string& file, const YAML::Node& node, std::string_view key);
std::string nonempty_string(const std::string& file, const YAML::Node& node, std::string_view key);
long long bounded_integer(const std::string& file, const YAML::Node& node, std::string_view key, long long min,
                          long long max);
// A path as written; a relative one is relative to the config file's directory.
std::filesystem::path config_path(const std::string& file, const YAML::Node& node, std::string_view key);

// Scalar conversions that return nullopt instead of throwing; as_number refuses .nan and .inf.
std::optional<std::string> as_string(const YAML::Node& node);
std::optional<double> as_number(const YAML::Node& node);
std::optional<long long> as_integer(const YAML::Node& node);
std::optional<bool> as_bool(const YAML::Node& node);

} // namespace presend::yaml
