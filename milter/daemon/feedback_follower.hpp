// feedback_follower: the worker's thread that follows Postfix's log (`feedback: {log: ...}`), turns
// throttling replies into throttle events and keeps the destination groups' Backoff, whose factor() the
// rate limiter reads from the milter threads. One log line, one decision-log event line and the
// presend_backoff_factor gauge for every back-off change; presend_throttle_events_total per event.
// Started by the worker after it dropped privileges (the log must be readable by `user:`, e.g. group adm),
// re-applied by the control thread on reload, stopped before the worker exits. It never touches a milter
// thread: reads are bounded (k_read_budget per turn) and it sleeps k_poll_interval when caught up.
#pragma once

#include "presend/decision_log.hpp"
#include "presend/feedback.hpp"
#include "presend/rates.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace presend::daemon {

// How often the log is looked at when caught up: throttling that takes minutes to matter is seen within
// this, and an idle follower costs a stat(2) per interval.
constexpr std::chrono::milliseconds k_poll_interval{250};
// Bytes read per turn: a busy MTA's minute of log; the loop goes on at once while there is more.
constexpr std::size_t k_read_budget = 1024 * 1024;

class FeedbackFollower {
  public:
    explicit FeedbackFollower(DecisionLog& decisions);
    ~FeedbackFollower();
    FeedbackFollower(const FeedbackFollower&) = delete;
    FeedbackFollower& operator=(const FeedbackFollower&) = delete;

    // At start and on every reload, with the `rates:` destination groups that classify the lines. The
    // same section and groups as before: nothing changes, the back-off state is kept. Different ones: the
    // thread is stopped and started again with a fresh Backoff (the old groups' gauges go back to 1).
    // log "": no thread.
    void apply(const FeedbackConfig& config, const DestinationGroups& groups);
    // The groups' back-off, for the state file (who and why); null when no log is followed.
    std::shared_ptr<const Backoff> backoff() const;
    // The factors the rate limiter reads, lock-free, published on every change; null when no log is followed.
    std::shared_ptr<const BackoffFactors> factors() const;
    // Stops the thread (joined within k_poll_interval plus one line's work).
    void stop();

  private:
    void run(FeedbackConfig config, DestinationGroups groups, std::shared_ptr<Backoff> backoff,
             std::shared_ptr<BackoffFactors> factors);
    void emit(const BackoffChange& change, BackoffFactors& factors);

    DecisionLog& m_decisions;
    std::optional<FeedbackConfig> m_config; // what the thread runs with; none before the first apply()
    DestinationGroups m_groups;
    std::shared_ptr<Backoff> m_backoff;
    std::shared_ptr<BackoffFactors> m_factors;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stopping = false;
    std::thread m_thread;
};

} // namespace presend::daemon
