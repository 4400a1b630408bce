// suppression_import: bulk sources of suppression entries for `presend suppress import`: CSV files and
// Postfix delivery logs (syslog and maillog_file/postlog lines of Postfix 3.x). Parsing only: the CLI hands
// the entries to SuppressionStore::add_batch. A bad line is reported with its number and skipped; it never
// stops the import. Entries come out normalised and valid, so add_batch will not refuse them.
#pragma once

#include "presend/suppression.hpp"

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace presend {

struct ImportDefaults {
    SuppressionReason reason = SuppressionReason::manual; // CSV rows that name none
    std::string source; // CSV rows that name none ("csv" if empty); replaces the postfix source
    std::string scope;  // rows that name none: "" global
    std::optional<std::int64_t> expires; // rows that name none: never
    std::int64_t now = 0;                // for created, expiry checks and the year of syslog time stamps
    // postfix-log: also import 5.7.x bounces. Off by default: X.7 is security or policy (spam, DMARC, a
    // blocklisted IP), the receiver refusing the sender, not a dead address; importing those after one bad
    // day would suppress a list's healthy recipients.
    bool include_policy_bounces = false;
};

struct ImportIssue {
    std::size_t line = 0;
    std::string message;
};

struct ImportResult {
    std::vector<SuppressionEntry> entries; // in input order; repeats are left for add_batch (last one wins)
    std::vector<ImportIssue> bad;          // every bad line; the CLI decides how many to print
    std::size_t lines = 0;
    std::size_t ignored = 0;        // blank, comment, and log lines that are no hard bounce
    std::size_t expired = 0;        // rows whose expiry has already passed
    std::size_t policy_bounces = 0; // postfix-log: 5.7.x bounces left out (include_policy_bounces)
    std::size_t notifications = 0;  // postfix-log: bounces of Postfix's own non-delivery notices (from=<>)
};

using LineProgress = std::function<void(std::size_t lines_read)>;

// CSV (RFC 4180 quoting, one record per line). The first line names the columns, in any order:
//   address,reason,source,created,expires,scope
// address (an address, or a domain as "example.com" / "@example.com") is required; the others may be left out
// or empty: reason → defaults.reason, source → defaults.source, created → now (an update keeps the stored
// one), expires → defaults.expires, scope → defaults.scope. Times: unix seconds, 2025-01-31,
// 2025-01-31T10:00:00Z or 2025-01-31T10:00:00+01:00. Lines starting with '#' are comments.
ImportResult parse_suppression_csv(std::istream& in, const ImportDefaults& defaults,
                                   const LineProgress& progress = {});

// Postfix delivery records: a line with "QUEUEID: to=<rcpt>, ..., dsn=5.x.x, status=bounced" gives a
// hard_bounce entry for rcpt, created at the line's time. deferred, sent, expired, 4.x.x: never.
ImportResult parse_postfix_log(std::istream& in, const ImportDefaults& defaults,
                               const LineProgress& progress = {});

// One delivery record of a Postfix log line, or nullopt for any other line.
struct PostfixDelivery {
    std::string queue_id;
    std::string recipient; // as logged, without the angle brackets
    std::string dsn;       // "5.1.1"; empty when the line has none
    std::string status;    // "bounced", "deferred", "sent", ...
    std::optional<std::int64_t> time;
};
// now gives the year of a syslog time stamp ("Nov 27 06:30:07"): this year, or last year if that is in the
// future.
std::optional<PostfixDelivery> parse_postfix_delivery(std::string_view line, std::int64_t now);
// The time stamp a syslog or postlog line starts with: RFC 3339 ("2026-11-27T10:00:01.123456+00:00") or
// traditional ("Nov 27 10:00:01", local time, the year as parse_postfix_delivery() guesses it).
std::optional<std::int64_t> parse_log_time(std::string_view line, std::int64_t now);

// "30d", "12h", "90m", "45s", "2w", "3600" (seconds) → seconds; nullopt for anything else or zero.
std::optional<std::int64_t> parse_duration(std::string_view text);
// Unix seconds, "2025-01-31" (UTC midnight), "2025-01-31T10:00:00Z", "2025-01-31T10:00:00.5+01:00".
std::optional<std::int64_t> parse_time(std::string_view text);

} // namespace presend
