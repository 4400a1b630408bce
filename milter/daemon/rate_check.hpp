// rate_check: the milter's RCPT TO question to the volume guard, and the answer it gives the client. A
// RateStoreHandle holds the store (and, for the memory store, the thread that writes its state file) across
// reloads while the store settings are unchanged, so a reload never resets the counters; a RateCheck is built
// per config load (daemon.cpp) with that config's limits, shared by every session; thread-safe. A store that
// cannot answer gives on_store_error, logged rate-limited (StoreErrorLog), never one line per recipient;
// so are the recipients over a limit (log_limited).
#pragma once

#include "daemon/suppression_check.hpp"
#include "presend/feedback.hpp"
#include "presend/rates.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace presend::daemon {

// The store of one `rates:` store setting, and the feedback back-off whose groups the state file lists.
class RateStoreHandle {
  public:
    // How often at most the memory store's state file is written: `presend rates` is read by people.
    static constexpr auto k_state_interval = std::chrono::seconds(1);

    // Opens the store (never throws: a store that cannot be opened makes every check a store error) and,
    // for the memory store, takes back the counts of the state file (stale buckets dropped) and starts the
    // state file writer. now: the time the saved counts are refilled to (tests set it).
    explicit RateStoreHandle(const RatesConfig& config, RateClock::time_point now = RateClock::now());
    ~RateStoreHandle();
    RateStoreHandle(const RateStoreHandle&) = delete;
    RateStoreHandle& operator=(const RateStoreHandle&) = delete;

    // Null when the store could not be opened; open_error() says why.
    std::shared_ptr<RateStore> store() const { return m_store; }
    const std::string& open_error() const { return m_open_error; }
    const RatesConfig& config() const { return m_config; }
    const std::string& describe() const { return m_describe; }
    StoreErrorLog& errors() { return m_errors; }

    // The feedback follower's back-off (null: none), whose groups in back-off the state file lists with
    // why. Set by daemon.cpp on start and on every reload; read by the writer thread, never on the RCPT path.
    void set_backoff(std::shared_ptr<const Backoff> backoff);
    std::vector<BackoffEntry> backoff(RateClock::time_point now) const;
    // The log line of a recipient over a limit, at most one per k_limited_interval: a tenant pushing past its
    // rate gets 451s by the hundred a minute, and a line each would bury the log (the decision log has every
    // one). The line that goes out says how many were held back before it.
    void log_limited(std::string_view queue_id, const RcptVerdict& verdict,
                     LineLimiter::Clock::time_point now = LineLimiter::Clock::now());
    static constexpr auto k_limited_interval = StoreErrorLog::k_interval;

    // Writes the state file now: the writer thread's job, and the worker's at a clean stop. False when it
    // failed. Serialised: the two never write the same temporary file at once.
    bool write_state(RateClock::time_point now);

  private:
    void writer_loop();
    void restore_state(RateClock::time_point now);

    const RatesConfig m_config;
    std::shared_ptr<RateStore> m_store;
    std::string m_open_error;
    const std::string m_describe;
    StoreErrorLog m_errors;

    mutable std::mutex m_backoff_mutex;
    std::shared_ptr<const Backoff> m_backoff;

    std::mutex m_limited_mutex; // taken only for a recipient over a limit, never on a check that passes
    LineLimiter m_limited{k_limited_interval};
    std::mutex m_write_mutex;  // one write_state() at a time
    std::mutex m_writer_mutex; // guards m_stop for the condition variable
    std::condition_variable m_wake;
    bool m_stop = false;
    std::uint64_t m_written_version = ~std::uint64_t{0};
    std::string m_written_backoff; // the back-off part last written, as JSON: a change is written too
    bool m_write_failing = false;
    std::thread m_writer;
};

class RateCheck {
  public:
    // handle: the store, kept by the caller across reloads. backoff: the factor provider (none: 1.0).
    RateCheck(RatesConfig config, std::shared_ptr<RateStoreHandle> handle, BackoffProvider backoff = {});

    // Takes a token for rcpt of tenant ("" = none) from every bucket that applies, all or none. Over a limit
    // enforce answers 451 4.7.1 naming the tenant, the group and the rate; dry-run accepts and records
    // would_tempfail. A store that cannot answer gives on_store_error in enforce (451 4.3.0 or accept),
    // accept in dry-run, recorded either way. Never throws StoreError.
    RcptAnswer check(std::string_view rcpt, std::string_view tenant, Mode mode,
                     RateClock::time_point now = RateClock::now());

    const std::shared_ptr<RateStoreHandle>& handle() const { return m_handle; }
    const RateLimiter* limiter() const { return m_limiter.get(); }

  private:
    std::shared_ptr<RateStoreHandle> m_handle;
    std::unique_ptr<RateLimiter> m_limiter; // null while the store cannot be opened
    RatesConfig m_config;
    std::string m_metric_store; // the store label of presend_store_errors_total: "rates-memory", "rates-redis"
};

// "<user@example.com>: sending rate for acme to microsoft exceeded (60/minute), try again later"; a warm-up
// cap says "daily warm-up volume", and for a sending_ip schedule "this server" instead of the tenant.
std::string rate_limited_reply(std::string_view rcpt, const RateDecision& decision);

} // namespace presend::daemon
