// rules_option: the --rules DIR option shared by check, lint, test, and loading the rules it names
// with diagnostics printed the way lint prints them.
#pragma once

#include "presend/ruleset.hpp"

#include <CLI/CLI.hpp>

#include <iosfwd>
#include <string>

namespace presend::cli {

void add_rules_option(CLI::App& command, std::string& rules_dir);

// Loads rules_dir (or the shipped rules when empty); prints diagnostics to err. Null on errors.
std::shared_ptr<const RuleSet> load_rules_or_report(const std::string& rules_dir, std::ostream& err,
                                                    bool show_warnings);

// Reads a whole file; throws std::runtime_error naming the file when it cannot.
std::string read_file(const std::string& path);

} // namespace presend::cli
