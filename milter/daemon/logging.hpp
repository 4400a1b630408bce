// logging: the daemon's log through spdlog, to stderr (time, pid and level on each line) or to syslog
// (ident "presend", facility mail, the pid per message). Called by the supervisor at start and by a
// restarted worker; a reload changes only the level (spdlog::set_level), the target at the next start.
#pragma once

#include <string>

namespace presend::daemon {

// Installs the default logger. target: "stderr" or "syslog"; level: trace, debug, info, warn, error.
// Throws spdlog::spdlog_ex when the logger cannot be built.
void setup_logging(const std::string& target, const std::string& level);

} // namespace presend::daemon
