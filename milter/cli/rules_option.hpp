// rules_option: the --rules DIR and --config FILE options shared by check, lint, test, and loading what
// they name with diagnostics printed the way lint prints them.
#pragma once

#include "presend/config.hpp"
#include "presend/ruleset.hpp"

#include <CLI/CLI.hpp>

#include <iosfwd>
#include <optional>
#include <string>

namespace presend::cli {

void add_rules_option(CLI::App& command, std::string& rules_dir);

// Loads rules_dir (or the shipped rules when empty); prints diagnostics to err. Null on errors.
std::shared_ptr<const RuleSet> load_rules_or_report(const std::string& rules_dir, std::ostream& err,
                                                    bool show_warnings);

// --config FILE: a presend.yaml whose limits, tenants, attestation keys and rules_dir apply, as in the daemon.
void add_config_option(CLI::App& command, std::string& config_file);

// The config of config_file, or the embedded defaults when it is empty; prints the error and returns
// nullopt when it does not load.
std::optional<Config> load_config_or_report(const std::string& config_file, std::ostream& err);

// Reads a whole file; throws std::runtime_error naming the file when it cannot.
std::string read_file(const std::string& path);

} // namespace presend::cli
