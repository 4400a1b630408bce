// cli: the presend command line. Each subcommand lives in its own file and registers itself here.
// Exit codes: 0 ok, 1 a check found problems (lint errors, failing examples), 2 usage or I/O error.
#include "cli/commands.hpp"

#include "engine/yaml_util.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>
#include <string_view>
#include <vector>

namespace presend::cli {

namespace {

// CLI11 answers a mistyped command (or an option before any command) with "A subcommand is required";
// this names the word and the command it is closest to. Empty when first is a command or a global flag.
std::string unknown_command(CLI::App& app, const std::string& first) {
    if (first == "-h" || first == "--help" || first == "--version") return {};
    std::vector<std::string_view> names;
    for (const auto* command : app.get_subcommands([](CLI::App*) { return true; }))
        names.push_back(command->get_name());
    if (std::find(names.begin(), names.end(), first) != names.end()) return {};
    std::string list;
    for (auto name : names)
        list += (list.empty() ? "" : ", ") + std::string(name);
    if (first.rfind('-', 0) == 0)
        return "unknown option '" + first + "' before the command; commands: " + list;
    const auto hint = yaml::suggest(first, names);
    return "unknown command '" + first + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
           "; commands: " + list;
}

} // namespace

int run_cli(int argc, char** argv) {
    CLI::App app{"presend: outbound compliance milter for Postfix", "presend"};
    app.set_version_flag("--version", std::string("presend ") + PRESEND_VERSION);
    app.require_subcommand(1);
    app.fallthrough(false);
    int exit_code = 0;
    add_serve_command(app, &exit_code);
    add_check_command(app, &exit_code);
    add_lint_command(app, &exit_code);
    add_test_command(app, &exit_code);
    add_bench_command(app, &exit_code);
    add_report_command(app, &exit_code);
    add_suppress_command(app, &exit_code);
    add_attest_command(app, &exit_code);
    add_rates_command(app, &exit_code);
    add_feedback_command(app, &exit_code);
    if (argc > 1) {
        if (auto error = unknown_command(app, argv[1]); !error.empty()) {
            std::cerr << "presend: " << error << "\nRun with --help for more information.\n";
            return 2;
        }
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "presend: " << e.what() << "\n";
        return 2;
    }
    return exit_code;
}

} // namespace presend::cli
