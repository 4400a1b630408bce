// file_trust: see file_trust.hpp. POSIX only (the attestation fuzzer builds it too).
#include "engine/file_trust.hpp"

#include <cstdio>
#include <unistd.h>

namespace presend {

std::string untrusted_reason(const struct stat& st, GroupWrite group_write) {
    const uid_t me = ::geteuid();
    if (st.st_uid != 0 && st.st_uid != me)
        return "owned by uid " + std::to_string(st.st_uid) + "; it must belong to root or to uid " +
               std::to_string(me) + ", which presend runs as";
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    if (st.st_mode & S_IWOTH) return std::string("writable by other users (mode ") + mode + "); chmod o-w";
    if (group_write == GroupWrite::refused && (st.st_mode & S_IWGRP))
        return std::string("writable by its group (mode ") + mode + "); chmod g-w";
    return {};
}

} // namespace presend
