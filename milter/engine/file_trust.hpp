// file_trust: may presend act on what this file or directory says? Rules decide what mail is refused and
// keys decide whose mail is trusted, so whoever can write them controls presend. Called by the rule
// loader (rules dir, rule and phrase files) and the key-file loader, on a stat() of what they read.
#pragma once

#include <string>
#include <sys/stat.h>

namespace presend {

enum class GroupWrite {
    allowed, // rules: a group of compliance officers may edit them
    refused, // secrets: only the owner writes them
};

// Why st must not be trusted, or "" when it may: it belongs to someone other than root or the effective
// user (who could change it behind presend's back), or others can write to it (or its group can, when
// group_write is refused). The reason names the owner or the mode and the fix.
std::string untrusted_reason(const struct stat& st, GroupWrite group_write);

} // namespace presend
