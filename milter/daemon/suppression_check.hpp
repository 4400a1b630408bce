// suppression_check: the milter's RCPT TO question to the suppression list, and the answer it gives the
// client. One SuppressionCheck per config load (daemon.cpp builds it, a reload keeps it while the
// `suppression:` section is unchanged), shared by every session; thread-safe. A store that cannot be opened
// never stops the daemon: its recipients get on_store_error, and opening is tried again at most every
// k_reopen_interval. Store errors are logged rate-limited (see StoreErrorLog), never one line per recipient.
#pragma once

#include "presend/suppression.hpp"
#include "presend/verdict.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace presend::daemon {

// What a recipient gets. verdict is empty for a recipient that is not suppressed: it passes unrecorded.
struct RcptAnswer {
    std::optional<RcptVerdict> verdict;
    // For smfi_setreply when verdict->action is reject or tempfail.
    const char* code = "";
    const char* xcode = "";
    std::string text;
};

// At most one log line per interval for a line that can come once per recipient: the lines held back in
// between are counted, and the next line that goes out says how many. Not thread-safe: its owner locks.
class LineLimiter {
  public:
    using Clock = std::chrono::steady_clock;
    explicit LineLimiter(Clock::duration interval) : m_interval(interval) {}
    // Whether a line goes out at now; when it does, held gets how many were held back since the last one.
    bool admit(Clock::time_point now, std::size_t& held);
    // The next line goes out whatever the time.
    void reset(Clock::time_point now);

  private:
    const Clock::duration m_interval;
    Clock::time_point m_next{};
    std::size_t m_held = 0;
};

// The first store error of a burst is logged at once, the rest are counted and summed up in one line per
// k_interval; the first lookup that works again logs that the store is back and how many failed. Shared by
// the suppression list and the rate counters (rate_check.cpp); kind names which in every line.
class StoreErrorLog {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr auto k_interval = std::chrono::seconds(10); // a dead Redis under load: 6 lines a minute

    // kind: "suppression store", "rate store"; store: "redis://127.0.0.1:6379/0"
    StoreErrorLog(std::string kind, std::string store) : m_kind(std::move(kind)), m_store(std::move(store)) {}
    void failed(std::string_view rcpt, std::string_view error, Action answer, Clock::time_point now);
    void answered(Clock::time_point now);

  private:
    const std::string m_kind;
    const std::string m_store;
    std::atomic<bool> m_failing{false}; // read without the mutex on every lookup that works
    std::mutex m_mutex;
    LineLimiter m_lines{k_interval};
    std::size_t m_total = 0; // failures since the store last answered
    std::string m_last_error;
};

class SuppressionCheck {
  public:
    using Clock = StoreErrorLog::Clock;
    // How often a store that failed to open is tried again: opening SQLite or reading a password file is
    // cheap, but not something to repeat for every recipient of a busy queue.
    static constexpr auto k_reopen_interval = std::chrono::seconds(5);

    explicit SuppressionCheck(SuppressionConfig config);
    SuppressionCheck(const SuppressionCheck&) = delete;
    SuppressionCheck& operator=(const SuppressionCheck&) = delete;

    // Opens the store now, so the log says at start (or reload) whether the list is usable. Never throws.
    void open();

    // Looks rcpt up (as the MTA gave it; the store normalises) for tenant ("" = the global entries only).
    // In enforce a suppressed recipient gets 550 5.7.1; in dry-run it is accepted and recorded. A store that
    // cannot answer within its timeout gives on_store_error in enforce (451 4.3.0 or accept) and accept in
    // dry-run, recorded either way. Never throws StoreError.
    RcptAnswer check(std::string_view rcpt, std::string_view tenant, Mode mode);

    const SuppressionConfig& config() const { return m_config; }
    // "sqlite:/var/lib/presend/suppression.db" or "redis://127.0.0.1:6379/0"
    const std::string& describe() const { return m_describe; }

  private:
    std::shared_ptr<const SuppressionStore> store(); // throws StoreError while it cannot be opened

    const SuppressionConfig m_config;
    const std::string m_describe;
    StoreErrorLog m_errors;
    std::mutex m_mutex; // guards the three below; held while opening, so one thread opens and the rest wait
    std::shared_ptr<const SuppressionStore> m_store;
    std::string m_open_error;
    Clock::time_point m_next_open{};
};

// "<user@example.com>" whether or not the MTA gave the brackets.
std::string bracketed(std::string_view rcpt);

// The answer for a recipient a store could not check: on_error in enforce (451 4.3.0 "<rcpt>: WHAT
// unavailable, try again later" for tempfail), accept in dry-run, recorded as a store error, counted in the
// metrics under metric_store and logged through errors. Shared by the suppression list and the rate check.
RcptAnswer store_error_answer(std::string_view rcpt, std::string_view error, Action on_error, Mode mode,
                              StoreErrorLog& errors, std::string_view metric_store, std::string_view what,
                              RcptVerdict::Check check);

// "<user@example.com>: recipient suppressed (hard-bounce since 2026-05-01)": the reason and the date the
// client's postmaster needs, never the entry's source or scope (internal to the platform).
std::string suppressed_reply(std::string_view rcpt, const SuppressionEntry& entry);

} // namespace presend::daemon
