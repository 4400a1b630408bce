// privileges: see privileges.hpp. Runs in the supervisor before it forks and in the worker before
// libmilter starts its threads; getpwnam() and getgrnam() are called only then.
#include "daemon/privileges.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <stdexcept>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace presend::daemon {

namespace {

std::string errno_text() {
    return std::strerror(errno);
}

// getpwnam() and getgrnam() leave errno 0 for a name that is not there, or set one of these (by NSS module).
std::string lookup_failure(const char* what) {
    const bool absent = errno == 0 || errno == ENOENT || errno == ESRCH || errno == EBADF || errno == EPERM;
    return absent ? std::string("no such ") + what : errno_text();
}

gid_t group_id(const std::string& key, const std::string& name) {
    errno = 0;
    const group* gr = ::getgrnam(name.c_str());
    if (!gr) throw std::runtime_error(key + " " + name + ": " + lookup_failure("group"));
    return gr->gr_gid;
}

// "unix:/run/presend/presend.sock" → "/run/presend/presend.sock"; "" for inet sockets.
std::string unix_socket_path(const std::string& spec) {
    for (const std::string_view prefix : {"unix:", "local:"})
        if (spec.rfind(prefix, 0) == 0) return spec.substr(prefix.size());
    return {};
}

} // namespace

std::optional<RunAs> resolve_run_as(const Config& config) {
    if (config.user.empty()) {
        if (!config.group.empty()) throw std::runtime_error("group " + config.group + ": set user as well");
        return std::nullopt;
    }
    errno = 0;
    const passwd* pw = ::getpwnam(config.user.c_str());
    if (!pw) throw std::runtime_error("user " + config.user + ": " + lookup_failure("user"));
    RunAs who{config.user, pw->pw_uid, pw->pw_gid};
    if (!config.group.empty()) who.gid = group_id("group", config.group);
    if (::geteuid() == who.uid && ::getegid() == who.gid) return std::nullopt; // e.g. systemd's User=
    if (::geteuid() != 0)
        throw std::runtime_error("user " + config.user + ": presend runs as uid " +
                                 std::to_string(::geteuid()) + " and only root can switch to uid " +
                                 std::to_string(who.uid) + "; start it as root or as " + config.user);
    return who;
}

void drop_privileges(const RunAs& who) {
    if (::initgroups(who.user.c_str(), who.gid) != 0)
        throw std::runtime_error("cannot set the groups of user " + who.user + ": " + errno_text());
    if (::setgid(who.gid) != 0)
        throw std::runtime_error("cannot set gid " + std::to_string(who.gid) + ": " + errno_text());
    if (::setuid(who.uid) != 0)
        throw std::runtime_error("cannot set uid " + std::to_string(who.uid) + ": " + errno_text());

    // From root, setuid() sets the real, effective and saved IDs alike; check rather than trust it,
    // because a saved uid of 0 would let any code in this process become root again.
    uid_t ruid = 0, euid = 0, suid = 0;
    gid_t rgid = 0, egid = 0, sgid = 0;
    if (::getresuid(&ruid, &euid, &suid) != 0 || ::getresgid(&rgid, &egid, &sgid) != 0)
        throw std::runtime_error("cannot read back the process identity: " + errno_text());
    if (ruid != who.uid || euid != who.uid || suid != who.uid || rgid != who.gid || egid != who.gid ||
        sgid != who.gid)
        throw std::runtime_error("identity after dropping privileges is not uid " + std::to_string(who.uid) +
                                 " gid " + std::to_string(who.gid) + " throughout");
    if (who.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0))
        throw std::runtime_error("could become root again after dropping privileges to " + who.user);
}

void apply_socket_permissions(const Config& config) {
    const std::string path = unix_socket_path(config.socket);
    if (path.empty()) {
        if (config.socket_mode != 0 || !config.socket_group.empty())
            spdlog::warn("socket_mode and socket_group apply to unix: sockets only; ignored for {}",
                         config.socket);
        return;
    }
    if (!config.socket_group.empty()) {
        const gid_t gid = group_id("socket_group", config.socket_group);
        if (::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0)
            throw std::runtime_error("socket_group " + config.socket_group + ": cannot chgrp " + path + ": " +
                                     errno_text() + " (presend must run as root or be a member of " +
                                     config.socket_group + ")");
    }
    if (config.socket_mode != 0 && ::chmod(path.c_str(), static_cast<mode_t>(config.socket_mode)) != 0)
        throw std::runtime_error("socket_mode: cannot chmod " + path + ": " + errno_text());
}

void warn_if_root(const Config& config) {
    if (::geteuid() == 0 && config.user.empty())
        spdlog::warn(
            "running as root with no user to switch to: set user: presend (or --user) so that a flaw "
            "in reading hostile mail cannot act as root");
}

} // namespace presend::daemon
