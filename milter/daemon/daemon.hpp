// daemon: `presend serve`. A small supervisor process forks one worker that runs libmilter, because
// libmilter's own signal thread stops the milter on SIGHUP: the supervisor turns SIGHUP into SIGUSR2
// (reload) for the worker, forwards SIGUSR1 (reopen the decision log) and SIGTERM, and restarts a
// worker that dies, giving up after k_max_crashes in k_crash_window. The worker binds the socket, opens
// the decision log, then drops to config.user (privileges.hpp); the supervisor keeps its start identity
// so it can start a worker again. Called by cli/serve_command.cpp.
#pragma once

#include "presend/config.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace presend::daemon {

// Exit codes of run_daemon().
constexpr int k_exit_ok = 0;
constexpr int k_exit_failure = 1; // the worker kept crashing, or the supervisor could not fork
constexpr int k_exit_config = 2;  // bad config, rules, decision log or socket: retrying cannot help

// The config file and the command-line flags that override it, again on every reload.
struct DaemonOptions {
    std::optional<std::filesystem::path> config_file; // none: the embedded defaults (Config{})
    std::optional<std::string> socket;
    std::optional<std::filesystem::path> rules_dir;
    std::optional<Mode> mode;
    std::optional<std::string> decision_log;
    std::optional<std::string> log_level;
    std::optional<std::string> user;
};

// The config file (or Config{}) with the flags applied and an empty rules_dir resolved to
// default_rules_dir(). Throws ConfigError.
Config effective_config(const DaemonOptions& options);

// Runs in the foreground until SIGTERM or SIGINT. Returns one of the k_exit_* codes.
int run_daemon(const DaemonOptions& options);

} // namespace presend::daemon
