// rules_fixture: writes YAML rule files into a fresh temporary directory for a test, and builds
// ParsedMessages by hand so rule tests do not depend on the MIME parser.
#pragma once

#include "presend/config.hpp"
#include "presend/engine.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace presend::test {

class TempDir {
  public:
    TempDir() {
        std::random_device rd;
        m_path = std::filesystem::temp_directory_path() / ("presend-test-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(m_path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path write(const std::string& name, const std::string& text) const {
        const auto file = m_path / name;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream(file, std::ios::binary) << text;
        return file;
    }

  private:
    std::filesystem::path m_path;
};

inline ParsedMessage message_with(std::initializer_list<std::pair<std::string, std::string>> headers,
                                  std::string text = {}, std::string html = {}) {
    ParsedMessage m;
    for (const auto& [name, value] : headers) m.headers.push_back({name, value, value});
    if (!text.empty()) m.parts.push_back({"text/plain", std::move(text), {}});
    if (!html.empty()) m.parts.push_back({"text/html", std::move(html), {}});
    return m;
}

// The SQLite suppression store's config, its file in dir.
inline SuppressionConfig sqlite_config(const TempDir& dir) {
    SuppressionConfig config;
    config.backend = "sqlite";
    config.path = dir.path() / "suppression.db";
    return config;
}

// The ConfigError text load_config() gives for yaml written as DIR/presend.yaml, or "no error".
inline std::string config_error(const TempDir& dir, const std::string& yaml) {
    const auto file = dir.write("presend.yaml", yaml);
    try {
        load_config(file);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

inline bool has_fact(const ParsedMessage& m, std::string_view fact) {
    return m.facts.count(std::string(fact)) > 0;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Every diagnostic of a load, one per line, as lint prints them.
inline std::string all_diagnostics(const LoadResult& result) {
    std::string out;
    for (const auto& d : result.diagnostics)
        out += d.str() + "\n";
    return out;
}

// The diagnostics of loading dir as lint prints them, or "loaded" when the rules load without an error.
inline std::string load_errors(const TempDir& dir) {
    const auto result = load_rules(dir.path());
    return result.ok() ? "loaded" : all_diagnostics(result);
}

inline std::vector<std::string> hit_ids(const std::vector<Hit>& hits) {
    std::vector<std::string> ids;
    for (const auto& h : hits) ids.push_back(h.rule);
    return ids;
}

} // namespace presend::test
