// privileges: who the worker runs as, and who may connect to its socket. The supervisor calls
// resolve_run_as() at start so an unknown user fails before any fork; the worker applies the socket's
// mode and group and drops to the configured user after libmilter has bound the socket and the decision
// log is open (so a root-only directory or port still works), before it reads any mail.
#pragma once

#include "presend/config.hpp"

#include <optional>
#include <string>
#include <sys/types.h>

namespace presend::daemon {

struct RunAs {
    std::string user;
    uid_t uid = 0;
    gid_t gid = 0;
};

// The identity config.user / config.group name, or nullopt when there is nothing to change (no user
// set, or already running as it). Throws std::runtime_error for an unknown user or group, or when a
// process that is not root is asked to become someone else.
std::optional<RunAs> resolve_run_as(const Config& config);

// Supplementary groups of the user, then group, then user; then proves the process cannot get root
// back. Throws std::runtime_error; the worker must not serve after a failure.
void drop_privileges(const RunAs& who);

// chmod / chgrp of a unix: socket to socket_mode / socket_group; nothing for inet sockets or when
// neither is set. Throws std::runtime_error naming the socket and the fix.
void apply_socket_permissions(const Config& config);

// One warning when presend runs as root and has no user to become: it parses hostile input.
void warn_if_root(const Config& config);

} // namespace presend::daemon
