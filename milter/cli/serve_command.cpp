// serve_command: `presend serve`, the milter daemon in the foreground (daemon/daemon.cpp does the work).
// Flags override the config file, on start and on every reload; without --config the embedded defaults
// apply. Values are checked here so a typo fails with a usage message, before anything is loaded.
#include "cli/commands.hpp"

#include "daemon/daemon.hpp"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace presend::cli {

namespace {

struct ServeFlags {
    std::string config;
    std::string socket;
    std::string rules;
    std::string mode;
    std::string decision_log;
    std::string log_level;
    std::string user;
};

// libmilter's connection spec: the forms Postfix's smtpd_milters can name too.
std::string check_socket(const std::string& spec) {
    const auto starts = [&](std::string_view prefix) { return spec.rfind(prefix, 0) == 0; };
    if (starts("unix:/") || starts("local:/")) {
        // libmilter only says it cannot listen; a missing directory is the usual reason, and a typo.
        const auto dir = std::filesystem::path(spec.substr(spec.find(':') + 1)).parent_path();
        std::error_code ec;
        if (!std::filesystem::is_directory(dir, ec))
            return "no directory " + dir.string() + " for the socket '" + spec + "'";
        return {};
    }
    if (starts("inet:") || starts("inet6:")) {
        const auto rest = spec.substr(spec.find(':') + 1);
        const auto at = rest.find('@');
        const auto port = rest.substr(0, at);
        if (!port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
            std::stoi(port) > 0 && std::stoi(port) < 65536 &&
            (at == std::string::npos || at + 1 < rest.size()))
            return {};
    }
    return "expected inet:PORT@HOST, inet6:PORT@HOST or unix:/path, got '" + spec + "'";
}

} // namespace

void add_serve_command(CLI::App& app, int* exit_code) {
    auto* serve = app.add_subcommand("serve", "Run the milter in the foreground");
    serve->footer("Signals: SIGHUP reloads config and rules (a bad reload keeps the running rules),\n"
                  "SIGUSR1 reopens the decision log (logrotate), SIGTERM or SIGINT stops.\n"
                  "Exit status: 0 stopped, 1 the worker kept failing, 2 bad config, rules or socket.");
    auto flags = std::make_shared<ServeFlags>();

    auto* config =
        serve->add_option("-c,--config", flags->config, "Config file (YAML); without it the defaults apply")
            ->check(CLI::ExistingFile);
    auto* socket =
        serve
            ->add_option("-s,--socket", flags->socket,
                         "Where to listen: inet:PORT@HOST or unix:/path (default inet:10029@127.0.0.1)")
            ->check(CLI::Validator(check_socket, "SOCKET"));
    auto* rules =
        serve->add_option("-r,--rules", flags->rules, "Rules directory (default: the shipped rules)")
            ->check(CLI::ExistingDirectory);
    auto* mode =
        serve->add_option("-m,--mode", flags->mode, "enforce applies verdicts, dry-run only logs them")
            ->check(CLI::IsMember({"enforce", "dry-run"}));
    auto* decision_log = serve->add_option("--decision-log", flags->decision_log,
                                           "Decision log file, - for stdout, \"\" for none (default -)");
    auto* log_level = serve->add_option("--log-level", flags->log_level, "Daemon log level (default info)")
                          ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

    auto* user =
        serve->add_option("-u,--user", flags->user,
                          "Started as root, become this user once the socket is bound (config: user)");

    serve->callback([=] {
        daemon::DaemonOptions options;
        if (config->count()) options.config_file = flags->config;
        if (socket->count()) options.socket = flags->socket;
        if (rules->count()) options.rules_dir = flags->rules;
        if (mode->count()) options.mode = parse_mode(flags->mode);
        if (decision_log->count()) options.decision_log = flags->decision_log;
        if (log_level->count()) options.log_level = flags->log_level;
        if (user->count()) options.user = flags->user;
        try {
            *exit_code = daemon::run_daemon(options);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "presend serve: %s\n", e.what());
            *exit_code = daemon::k_exit_failure;
        }
    });
}

} // namespace presend::cli
