// decision_log: one JSON line per judged message: who sent what, which rules hit, what was done.
// The milter writes a line at every EOM from many threads; `presend report` and auditors read it.
// A line is one write(2) under one mutex on an O_APPEND file, so lines never interleave.
// reopen() (SIGUSR1) follows logrotate's rename; "-" is stdout, "" turns the log off.
#pragma once

#include "presend/envelope.hpp"
#include "presend/feedback.hpp"
#include "presend/verdict.hpp"

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace presend {

// The decision record: time, queue_id, client_addr, auth_user, mail_from, rcpt_count, message_id, hits,
// score, action (taken), would_action, result, mode, notes, rules_version, latency_us (from EOM start),
// and total_us (from MAIL FROM) when given; tenant, class and attestation {tenant, list, basis} when the
// verdict has them; suppressed (recipients the suppression list refused or would refuse: rcpt, entry,
// domain_entry, reason, scope, since, result) and suppression_errors (recipients the store could not
// check: rcpt, error, result) when there are any; likewise rate_limited (recipients over a sending rate: rcpt,
// tenant, group, limit, scope, rate, result) and rate_errors (the rate store could not answer).
// result is the action taken in enforce; in dry-run "accept" or "would_<action>".
//
// Appended to out as one line, "\n" included, with time as its time. The keys come in alphabetical order,
// and strings, numbers and invalid UTF-8 (each bad sequence one U+FFFD) are written byte for byte as
// nlohmann::json's dump wrote them when the line was built as a json object (engine/json_out.hpp).
void append_decision_line(std::string& out, std::chrono::system_clock::time_point time,
                          const Envelope& envelope, std::string_view message_id, const Verdict& verdict,
                          std::chrono::microseconds latency, std::string_view rules_version,
                          std::optional<std::chrono::microseconds> total = std::nullopt);

// The same record, timed now, as a json object: the line parsed back, for readers that want one.
nlohmann::json decision_json(const Envelope& envelope, const std::string& message_id, const Verdict& verdict,
                             std::chrono::microseconds latency, std::string_view rules_version,
                             std::optional<std::chrono::microseconds> total = std::nullopt);

// A destination group's back-off changed (engine/feedback_backoff.cpp): an event line in the same log,
// told from decisions by its "event" key: time (of the change), event "backoff", group, change (enter,
// down, up, clear), factor, previous, signature, events, since, last_event, sample. `presend report`
// reads these as back-off episodes and never counts them as messages.
nlohmann::json backoff_event_json(const BackoffChange& change);

// "2024-05-01T12:00:00.123Z"
std::string rfc3339_utc_ms(std::chrono::system_clock::time_point when);
void append_rfc3339_utc_ms(std::string& out, std::chrono::system_clock::time_point when);

class DecisionLog {
  public:
    // Opens path for appending (created 0640). Throws std::system_error when it cannot.
    explicit DecisionLog(std::string path = "");
    ~DecisionLog();
    DecisionLog(const DecisionLog&) = delete;
    DecisionLog& operator=(const DecisionLog&) = delete;

    // Appends entry as one line. Never throws: a full disk must not fail mail. False when the
    // log is off or the write failed (the first failure of a run of them is logged as a warning).
    bool write(const nlohmann::json& entry) noexcept;
    // Appends the decision record of a message, timed now (append_decision_line), formatted in a buffer
    // that each thread reuses: the daemon writes one per message. Never throws, as write().
    bool write_decision(const Envelope& envelope, std::string_view message_id, const Verdict& verdict,
                        std::chrono::microseconds latency, std::string_view rules_version,
                        std::optional<std::chrono::microseconds> total = std::nullopt) noexcept;

    // Opens the path again (after logrotate renamed the file), or a new path. When the new file cannot
    // be opened the old one stays in use and false is returned, errno saying why; nothing is logged.
    bool reopen();
    bool reopen(const std::string& path);

    std::string path() const;
    bool enabled() const;

  private:
    bool write_line(std::string_view line) noexcept;

    mutable std::mutex m_mutex;
    std::string m_path;
    int m_fd = -1;          // -1 when off; 1 for "-" (never closed)
    bool m_failing = false; // a write failed and that was logged; the next success is logged too
};

} // namespace presend
