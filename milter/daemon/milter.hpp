// milter: the libmilter adapter. One Session per MTA connection; callbacks fill its Envelope and
// MessageBuilder, RCPT TO asks the suppression list (suppression_check), then the volume guard (rate_check)
// about each recipient, EOM evaluates
// with the State pinned at MAIL FROM and applies the Verdict with smfi_* calls.
// Called by libmilter's threads only (daemon.cpp registers it). No exception crosses into libmilter:
// every callback answers with Config::on_error's status instead, and says why in the log.
#pragma once

#include "daemon/rate_check.hpp"
#include "daemon/suppression_check.hpp"
#include "presend/config.hpp"
#include "presend/ruleset.hpp"

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace presend {
class DecisionLog;
}

namespace presend::daemon {

// The config and rules of one (re)load. Immutable; a reload builds a new one and swaps it in whole.
struct State {
    Config config;
    std::shared_ptr<const RuleSet> rules;
    // The RCPT TO lookup of config.suppression; null for backend none. Shared with the next State when a
    // reload leaves the section unchanged, so the store is not reopened for a rules change.
    std::shared_ptr<SuppressionCheck> suppression;
    // The volume guard of config.rates, after the suppression list; null for backend none. Its store handle
    // is shared with the next State while the store settings are unchanged, so a reload keeps the counts.
    std::shared_ptr<RateCheck> rates;
    // The destination groups' back-off from Postfix's log (daemon/feedback_follower.cpp), for the rate
    // limiter's factor(); null when no log is followed. Kept across reloads that leave `feedback:` as it was.
    std::shared_ptr<const Backoff> backoff;
};

class StateStore {
  public:
    explicit StateStore(std::shared_ptr<const State> initial) : m_state(std::move(initial)) {}

    std::shared_ptr<const State> current() const {
        std::lock_guard lock(m_mutex);
        return m_state;
    }
    void replace(std::shared_ptr<const State> next) {
        std::lock_guard lock(m_mutex);
        m_state.swap(next);
        // the old State is released outside the lock (when next goes out of scope), or later by the
        // last message that pinned it
    }

  private:
    mutable std::mutex m_mutex;
    std::shared_ptr<const State> m_state;
};

// Names a step ("connect", "MAIL FROM", "RCPT TO", "header", "end of headers", "body", "end of message")
// whose callbacks all throw, so that tests can show what the MTA is answered when a step fails, the no-reply
// ones included. Read once by milter_register(); unset in production.
inline constexpr const char* k_fault_step_env = "PRESEND_FAULT_STEP";

// smfi_register() with presend's callbacks. store and decisions must outlive smfi_main().
// False when libmilter refuses the registration, or k_fault_step_env names no step.
bool milter_register(StateStore& store, DecisionLog& decisions);

// Messages between the start of EOM and their reply. The worker waits for them to finish before it exits.
std::size_t milter_messages_in_flight();

// Text for smfi_setreply(): printable ASCII (others become '?'), CR/LF/TAB become one space, '%' doubled
// (libmilter's escape), at most k_max_reply_text characters before doubling. Empty input stays empty.
std::string sanitize_reply(std::string_view text);

} // namespace presend::daemon
