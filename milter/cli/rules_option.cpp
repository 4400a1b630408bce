// rules_option: see rules_option.hpp.
#include "cli/rules_option.hpp"

#include <fstream>
#include <ostream>
#include <sstream>

namespace presend::cli {

void add_rules_option(CLI::App& command, std::string& rules_dir) {
    command.add_option("--rules", rules_dir, "Rules directory (default: the shipped rules)")
        ->check(CLI::ExistingDirectory);
}

std::shared_ptr<const RuleSet> load_rules_or_report(const std::string& rules_dir, std::ostream& err,
                                                    bool show_warnings) {
    const auto result = load_rules(rules_dir.empty() ? default_rules_dir() : std::filesystem::path(rules_dir));
    for (const auto& d : result.diagnostics)
        if (!d.warning || show_warnings) err << d.str() << "\n";
    return result.rules;
}

void add_config_option(CLI::App& command, std::string& config_file) {
    command.add_option("-c,--config", config_file, "Config file (YAML) whose limits, tenants, keys and rules_dir apply")
        ->check(CLI::ExistingFile);
}

std::optional<Config> load_config_or_report(const std::string& config_file, std::ostream& err) {
    if (config_file.empty()) return Config{};
    try {
        return load_config(config_file);
    } catch (const ConfigError& e) {
        err << e.what() << "\n";
        return std::nullopt;
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot read file");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

} // namespace presend::cli
