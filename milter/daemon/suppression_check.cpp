// suppression_check: see suppression_check.hpp. Called from milter.cpp's RCPT TO callback on libmilter's
// threads, and from daemon.cpp when a config is loaded.
#include "daemon/suppression_check.hpp"

#include "presend/daemon_metrics.hpp"

#include <spdlog/spdlog.h>

namespace presend::daemon {

namespace {

std::string describe_config(const SuppressionConfig& config) {
    if (config.backend == "redis") return config.redis.describe();
    return config.backend + ":" + config.path.string();
}

// "hard_bounce" → "hard-bounce": the words read better in a reply a person sees.
std::string reply_word(SuppressionReason reason) {
    std::string word(to_string(reason));
    for (char& c : word)
        if (c == '_') c = '-';
    return word;
}

} // namespace

std::string bracketed(std::string_view rcpt) {
    if (!rcpt.empty() && rcpt.front() == '<') return std::string(rcpt);
    return "<" + std::string(rcpt) + ">";
}

RcptAnswer store_error_answer(std::string_view rcpt, std::string_view error, Action on_error, Mode mode,
                              StoreErrorLog& errors, std::string_view metric_store, std::string_view what,
                              RcptVerdict::Check check) {
    // Enforce answers on_error. Dry-run never refuses a recipient for a store, so an unanswered lookup cannot
    // change what happens to it: accepted, and recorded with what enforce would have done.
    RcptAnswer answer;
    RcptVerdict verdict;
    verdict.check = check;
    verdict.rcpt = std::string(rcpt);
    verdict.would_action = on_error;
    verdict.action = mode == Mode::enforce ? on_error : Action::accept;
    verdict.store_error = std::string(error);
    daemon_metrics().store_error(metric_store);
    errors.failed(rcpt, error, verdict.action, StoreErrorLog::Clock::now());
    if (verdict.action == Action::tempfail) {
        answer.code = "451";
        answer.xcode = "4.3.0";
        answer.text = bracketed(rcpt) + ": " + std::string(what) + " unavailable, try again later";
    }
    answer.verdict = std::move(verdict);
    return answer;
}

std::string suppressed_reply(std::string_view rcpt, const SuppressionEntry& entry) {
    const std::string date = format_utc(entry.created).substr(0, 10); // "2026-05-01"
    return bracketed(rcpt) + ": recipient suppressed (" + reply_word(entry.reason) + " since " + date + ")";
}

bool LineLimiter::admit(Clock::time_point now, std::size_t& held) {
    if (now < m_next) {
        ++m_held;
        return false;
    }
    held = m_held;
    m_held = 0;
    m_next = now + m_interval;
    return true;
}

void LineLimiter::reset(Clock::time_point now) {
    m_next = now;
    m_held = 0;
}

void StoreErrorLog::failed(std::string_view rcpt, std::string_view error, Action answer,
                           Clock::time_point now) {
    std::lock_guard lock(m_mutex);
    m_failing = true;
    ++m_total;
    m_last_error = std::string(error);
    std::size_t held = 0;
    if (!m_lines.admit(now, held)) return;
    if (held > 0)
        spdlog::error("{} {}: {} more lookups failed in the last {} s; recipients got {}", m_kind, m_store, held,
                      std::chrono::duration_cast<std::chrono::seconds>(k_interval).count(),
                      to_string(answer));
    spdlog::error("{} {}: lookup of <{}> failed: {}; answering {} (further failures are "
                  "summed up every {} s)",
                  m_kind, m_store, rcpt, error, to_string(answer),
                  std::chrono::duration_cast<std::chrono::seconds>(k_interval).count());
}

void StoreErrorLog::answered(Clock::time_point now) {
    if (!m_failing) return;
    std::lock_guard lock(m_mutex);
    if (!m_failing) return;
    spdlog::info("{} {}: answering again after {} failed lookups (last error: {})", m_kind, m_store, m_total,
                 m_last_error);
    m_failing = false;
    m_total = 0;
    m_lines.reset(now); // the next failure is news again
}

SuppressionCheck::SuppressionCheck(SuppressionConfig config)
    : m_config(std::move(config)), m_describe(describe_config(m_config)), m_errors("suppression store", m_describe) {}

void SuppressionCheck::open() {
    try {
        store();
        spdlog::info("suppression list: {}, on store error {}", m_describe,
                     to_string(m_config.on_store_error));
    } catch (const std::exception& e) {
        spdlog::error("suppression list: {}; recipients get {} until it opens (tried again every {} s)",
                      e.what(), to_string(m_config.on_store_error),
                      std::chrono::duration_cast<std::chrono::seconds>(k_reopen_interval).count());
    }
}

std::shared_ptr<const SuppressionStore> SuppressionCheck::store() {
    std::lock_guard lock(m_mutex);
    if (m_store) return m_store;
    const auto now = Clock::now();
    if (now < m_next_open) throw StoreError(m_open_error);
    try {
        m_store = open_suppression_store(m_config);
        if (!m_store) throw StoreError("backend none has no store");
        return m_store;
    } catch (const std::exception& e) {
        m_open_error = "cannot open " + m_describe + ": " + e.what();
        m_next_open = now + k_reopen_interval;
        throw StoreError(m_open_error);
    }
}

RcptAnswer SuppressionCheck::check(std::string_view rcpt, std::string_view tenant, Mode mode) {
    RcptAnswer answer;
    std::optional<SuppressionEntry> entry;
    try {
        entry = store()->find(rcpt, tenant);
        m_errors.answered(Clock::now());
    } catch (const StoreError& e) {
        return store_error_answer(rcpt, e.what(), m_config.on_store_error, mode, m_errors, m_config.backend,
                                  "suppression list", RcptVerdict::Check::suppression);
    }
    if (!entry) return answer;

    RcptVerdict verdict;
    verdict.rcpt = std::string(rcpt);
    verdict.would_action = Action::reject;
    verdict.action = mode == Mode::enforce ? Action::reject : Action::accept;
    verdict.entry = entry->address_or_domain;
    verdict.domain_entry = entry->is_domain;
    verdict.reason = std::string(to_string(entry->reason));
    verdict.scope = entry->scope;
    verdict.since = entry->created;
    if (verdict.action == Action::reject) {
        answer.code = "550";
        answer.xcode = "5.7.1";
        answer.text = suppressed_reply(rcpt, *entry);
    }
    answer.verdict = std::move(verdict);
    return answer;
}

} // namespace presend::daemon
