// lint_command: `presend lint [--rules DIR] [--config FILE]` validates a rules directory (and the config)
// the way a reload would, printing every error and warning with file:line:column and the rule id. Exit 1
// on any error. Says when attestation is off, so consent rules that can never fire are no surprise.
#include "cli/commands.hpp"
#include "cli/rules_option.hpp"

#include <iostream>
#include <set>

namespace presend::cli {

void add_lint_command(CLI::App& app, int* exit_code) {
    auto* command = app.add_subcommand("lint", "Validate rule files: syntax, unknown keys, ids, regexes");
    auto rules_dir = std::make_shared<std::string>();
    auto config_file = std::make_shared<std::string>();
    add_rules_option(*command, *rules_dir);
    add_config_option(*command, *config_file);
    command->footer(
        "Exit status: 0 the rules load (warnings allowed); 1 an error in the rules or the config.");
    command->callback([rules_dir, config_file, exit_code] {
        const auto config = load_config_or_report(*config_file, std::cerr);
        if (!config) {
            *exit_code = 1;
            return;
        }
        const auto dir = !rules_dir->empty()          ? std::filesystem::path(*rules_dir)
                         : !config->rules_dir.empty() ? config->rules_dir
                                                      : default_rules_dir();
        const auto result = load_rules(dir);
        std::size_t errors = 0;
        std::size_t warnings = 0;
        for (const auto& d : result.diagnostics) {
            std::cerr << d.str() << "\n";
            ++(d.warning ? warnings : errors);
        }
        if (!result.ok()) {
            std::cerr << dir.string() << ": " << errors << " error(s), " << warnings << " warning(s)\n";
            *exit_code = 1;
            return;
        }
        if (auto error = check_tenant_rulesets(config->tenants, *result.rules); !error.empty()) {
            std::cerr << error << "\n";
            *exit_code = 1;
            return;
        }
        if (!config->attestation_enabled())
            std::cout << "notice: consent attestation is off: no tenant has a key_file"
                      << (config_file->empty() ? " (no --config given)" : "") << "\n";
        std::set<std::string> files;
        std::size_t examples = 0;
        for (const auto& rule : result.rules->rules) {
            files.insert(rule.pos.file);
            examples += rule.examples.size();
        }
        std::cout << dir.string() << ": ok: " << result.rules->rules.size() << " rules in " << files.size()
                  << " files, " << examples << " examples, " << warnings << " warning(s), version "
                  << result.rules->version << "\n";
    });
}

} // namespace presend::cli
