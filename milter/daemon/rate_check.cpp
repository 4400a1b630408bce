// rate_check: see rate_check.hpp. Called from milter.cpp's RCPT TO callback on libmilter's threads, and from
// daemon.cpp when a config is loaded.
#include "daemon/rate_check.hpp"

#include "engine/rates_state.hpp"
#include "presend/daemon_metrics.hpp"

#include <spdlog/spdlog.h>

namespace presend::daemon {

namespace {

std::string describe_config(const RatesConfig& config) {
    return config.backend == "redis" ? config.redis.describe() : config.backend;
}

} // namespace

std::string rate_limited_reply(std::string_view rcpt, const RateDecision& decision) {
    if (decision.scope == "warmup") {
        const bool server = decision.limit.starts_with("warmup:sending_ip=");
        return bracketed(rcpt) + ": daily warm-up volume for " + (server ? "this server" : decision.tenant) +
               " exceeded (" + decision.rate + "), try again later";
    }
    return bracketed(rcpt) + ": sending rate for " + decision.tenant + " to " + decision.group + " exceeded (" +
           decision.rate + "), try again later";
}

RateStoreHandle::RateStoreHandle(const RatesConfig& config, RateClock::time_point now)
    : m_config(config), m_describe(describe_config(config)), m_errors("rate store", m_describe) {
    try {
        m_store = open_rate_store(config);
        spdlog::info("rates: store {}, {} limits, {} warm-up schedules, on store error {}", m_describe,
                     config.limits.size(), config.warmup.size(), to_string(config.on_store_error));
    } catch (const std::exception& e) {
        m_open_error = "cannot open rate store " + m_describe + ": " + e.what();
        spdlog::error("rates: {}; recipients get {} until a reload opens it", m_open_error,
                      to_string(config.on_store_error));
    }
    if (m_store && config.backend == "memory" && !config.state_file.empty()) {
        restore_state(now);
        m_writer = std::thread([this] { writer_loop(); });
    }
}

void RateStoreHandle::restore_state(RateClock::time_point now) {
    std::error_code error;
    if (!std::filesystem::exists(m_config.state_file, error)) return; // a first start
    try {
        const auto saved = rates_state_buckets(read_rates_state(m_config.state_file));
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
        const auto kept = m_store->restore(saved, now_ms);
        spdlog::info("rates: {} buckets in use taken back from {} ({} full again or over, dropped)", kept,
                     m_config.state_file.string(), saved.size() - kept);
    } catch (const std::exception& e) {
        // Counting goes on from full buckets: a lost state file costs one burst, not mail.
        spdlog::warn("rates: cannot take the counts back from the state file: {}; every bucket starts full",
                     e.what());
    }
}

RateStoreHandle::~RateStoreHandle() {
    {
        std::lock_guard lock(m_writer_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    if (m_writer.joinable()) m_writer.join();
}

void RateStoreHandle::log_limited(std::string_view queue_id, const RcptVerdict& r, LineLimiter::Clock::time_point now) {
    std::size_t held = 0;
    {
        std::lock_guard lock(m_limited_mutex);
        if (!m_limited.admit(now, held)) return;
    }
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(k_limited_interval).count();
    spdlog::info("{}: <{}> over {} ({}) for tenant {} to {}; {}{}", queue_id, r.rcpt, r.rate_limit, r.rate, r.rate_tenant,
                 r.rate_group, r.action == Action::tempfail ? "deferred" : "not deferred (dry-run or the sendmail command)",
                 held == 0 ? std::string()
                           : " (and " + std::to_string(held) + " more recipients over a limit in the last " +
                                 std::to_string(seconds) + " s, not logged one by one)");
}

void RateStoreHandle::set_backoff(std::shared_ptr<const Backoff> backoff) {
    std::lock_guard lock(m_backoff_mutex);
    m_backoff = std::move(backoff);
}

std::vector<BackoffEntry> RateStoreHandle::backoff(RateClock::time_point now) const {
    std::shared_ptr<const Backoff> current;
    {
        std::lock_guard lock(m_backoff_mutex);
        current = m_backoff;
    }
    std::vector<BackoffEntry> out;
    if (!current) return out;
    const auto steps = current->settings().curve.size();
    for (const auto& g : current->snapshot(now))
        out.push_back({g.group, g.factor, g.why.since, g.why.signature, g.why.events, g.step + 1, steps,
                       g.why.last_event, g.next_recovery, g.why.sample});
    return out;
}

bool RateStoreHandle::write_state(RateClock::time_point now) {
    if (!m_store) return false;
    std::lock_guard write(m_write_mutex);
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    try {
        write_rates_state(m_config.state_file,
                          rates_state_json(m_store->buckets(now_ms), backoff(now), m_describe, now));
        if (m_write_failing) spdlog::info("rates: state file {} written again", m_config.state_file.string());
        m_write_failing = false;
        return true;
    } catch (const std::exception& e) {
        // One line per run of failures: `presend rates` goes stale, mail is not affected.
        if (!m_write_failing) spdlog::warn("rates: cannot write the state file: {}", e.what());
        m_write_failing = true;
        return false;
    }
}

void RateStoreHandle::writer_loop() {
    std::unique_lock lock(m_writer_mutex);
    while (!m_stop) {
        m_wake.wait_for(lock, k_state_interval, [&] { return m_stop; });
        if (m_stop) break;
        // Written when something was counted or a back-off changed, not every second of an idle day.
        const auto now = RateClock::now();
        const auto version = m_store->version();
        auto slowed = rates_state_json({}, backoff(now), m_describe, now)["backoff"].dump();
        if (version == m_written_version && slowed == m_written_backoff) continue;
        lock.unlock();
        if (write_state(now)) {
            m_written_version = version;
            m_written_backoff = std::move(slowed);
        }
        lock.lock();
    }
}

RateCheck::RateCheck(RatesConfig config, std::shared_ptr<RateStoreHandle> handle, BackoffProvider backoff)
    : m_handle(std::move(handle)), m_config(std::move(config)), m_metric_store("rates-" + m_config.backend) {
    if (m_handle->store())
        m_limiter = std::make_unique<RateLimiter>(m_config, m_handle->store(), std::move(backoff));
}

RcptAnswer RateCheck::check(std::string_view rcpt, std::string_view tenant, Mode mode, RateClock::time_point now) {
    RateDecision decision;
    try {
        if (!m_limiter) throw StoreError(m_handle->open_error());
        decision = m_limiter->check(tenant, rcpt, now);
        m_handle->errors().answered(StoreErrorLog::Clock::now());
    } catch (const StoreError& e) {
        return store_error_answer(rcpt, e.what(), m_config.on_store_error, mode, m_handle->errors(), m_metric_store,
                                  "sending rate check", RcptVerdict::Check::rates);
    }
    daemon_metrics().rate_check(decision.group);
    RcptAnswer answer;
    if (decision.allowed) return answer;

    daemon_metrics().rate_limited(decision.scope, decision.group);
    RcptVerdict verdict;
    verdict.check = RcptVerdict::Check::rates;
    verdict.rcpt = std::string(rcpt);
    verdict.would_action = Action::tempfail;
    verdict.action = mode == Mode::enforce ? Action::tempfail : Action::accept;
    verdict.rate_tenant = decision.tenant;
    verdict.rate_group = decision.group;
    verdict.rate_limit = decision.limit;
    verdict.rate_scope = decision.scope;
    verdict.rate = decision.rate;
    if (verdict.action == Action::tempfail) {
        answer.code = "451";
        answer.xcode = "4.7.1";
        answer.text = rate_limited_reply(rcpt, decision);
    }
    answer.verdict = std::move(verdict);
    return answer;
}

} // namespace presend::daemon
