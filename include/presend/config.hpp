// config: the daemon's settings from presend.yaml, with embedded defaults for every key.
// Loaded at start and on SIGHUP by the daemon; command-line flags override it (cli/serve_command.cpp).
#pragma once

#include "presend/feedback.hpp"
#include "presend/limits.hpp"
#include "presend/rates.hpp"
#include "presend/suppression.hpp"
#include "presend/tenant.hpp"
#include "presend/verdict.hpp"

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace presend {

// The Prometheus endpoint (daemon/metrics_server.cpp). Off unless `metrics: {listen: ...}` names an address.
struct MetricsConfig {
    std::string listen; // as written, "127.0.0.1:9129" or "[::1]:9129"; "" turns the endpoint off
    std::string host;   // the IP address part of listen, brackets removed
    int port = 0;
    bool allow_remote = false; // a non-loopback listen address must be asked for explicitly
};

struct Config {
    std::string socket = "inet:10029@127.0.0.1"; // libmilter connection spec
    // A unix: socket's permissions, so Postfix (another user) can connect. 0 and "": as created.
    unsigned socket_mode = 0;
    std::string socket_group;
    // Started as root, the worker becomes this user (and group; default: the user's primary group) once
    // the socket is bound and the decision log is open. "": it keeps the identity it was started with.
    std::string user;
    std::string group;
    Mode mode = Mode::dry_run;                    // new installs watch before they block
    std::filesystem::path rules_dir;              // empty: the shipped rules (default_rules_dir())
    // Compiled pattern databases, so a restart with unchanged rules skips compiling. "" disables;
    // a directory others can write to is ignored (see LoadOptions).
    std::filesystem::path cache_dir = "/var/cache/presend";
    std::string decision_log = "-";               // file path, "-" for stdout, "" for none
    Action on_error = Action::tempfail;           // internal error on a message: the client retries
    bool dry_run_tag = false;                     // in dry-run, add X-Presend-* headers with the would-be verdict

    Limits limits; // per message: size, headers, MIME structure, decoded text, links, time

    std::string log_level = "info"; // trace, debug, info, warn, error
    std::string log_target = "stderr"; // stderr | syslog
    int milter_timeout_s = 300;        // libmilter I/O timeout with the MTA
    MetricsConfig metrics;

    // The list of recipients refused at RCPT TO (docs/suppression.md); backend "none" without the section.
    SuppressionConfig suppression;

    // The volume guard at RCPT TO (docs/rates.md); backend "none" without the section.
    RatesConfig rates;
    // Following Postfix's log for throttling replies, and the back-off they cause (docs/feedback.md).
    FeedbackConfig feedback;

    // Tenants (docs/tenants.md): who a message belongs to, its class, and the consent attestation it needs.
    MessageClass default_class = MessageClass::bulk; // of a message no tenant selects
    AttestationSettings attestation;
    std::vector<Tenant> tenants; // in file order: the first match owns a message

    // Attestation is on when some tenant has a key: without one no token can be verified.
    bool attestation_enabled() const;
};

// A config file error, already formatted as "file:line:column: message".
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Reads a YAML config file on top of the defaults. Unknown keys and bad values throw ConfigError.
Config load_config(const std::filesystem::path& file);

} // namespace presend
