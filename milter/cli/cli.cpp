// cli: the presend command line. Each subcommand lives in its own file and registers itself here.
// Exit codes: 0 ok, 1 a check found problems (lint errors, failing examples), 2 usage or I/O error.
#include "cli/commands.hpp"

#include <spdlog/spdlog.h>

#include <iostream>

namespace presend::cli {

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
