// commands: the subcommands of the presend executable, each added to the CLI11 app by its own file.
// run_cli() (cli/cli.cpp) is all main() calls.
#pragma once

#include <CLI/CLI.hpp>

namespace presend::cli {

int run_cli(int argc, char** argv);

// Each add_* registers a subcommand; the callback stores its exit code in *exit_code.
void add_serve_command(CLI::App& app, int* exit_code);
void add_check_command(CLI::App& app, int* exit_code);
void add_lint_command(CLI::App& app, int* exit_code);
void add_test_command(CLI::App& app, int* exit_code);
void add_bench_command(CLI::App& app, int* exit_code);
void add_report_command(CLI::App& app, int* exit_code);
void add_suppress_command(CLI::App& app, int* exit_code);
void add_attest_command(CLI::App& app, int* exit_code);
void add_rates_command(CLI::App& app, int* exit_code);
void add_feedback_command(CLI::App& app, int* exit_code);

} // namespace presend::cli
