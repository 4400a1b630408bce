// feedback_follower: see feedback_follower.hpp.
#include "daemon/feedback_follower.hpp"

#include "daemon/log_tail.hpp"
#include "presend/daemon_metrics.hpp"

#include <spdlog/spdlog.h>

namespace presend::daemon {

FeedbackFollower::FeedbackFollower(DecisionLog& decisions) : m_decisions(decisions) {}

FeedbackFollower::~FeedbackFollower() {
    stop();
}

void FeedbackFollower::apply(const FeedbackConfig& config, const DestinationGroups& groups) {
    if (m_config && *m_config == config && m_groups == groups) return; // unchanged: the state goes on
    stop();
    if (m_backoff) // the old state is dropped: its groups are no longer slowed
        for (const auto& g : m_backoff->snapshot(std::chrono::system_clock::now()))
            daemon_metrics().backoff_factor(g.group, 1.0);
    m_config = config;
    m_groups = groups;
    if (config.log.empty()) {
        std::lock_guard lock(m_mutex);
        m_backoff.reset();
        m_factors.reset();
        return;
    }
    auto backoff = std::make_shared<Backoff>(config.backoff);
    auto factors = std::make_shared<BackoffFactors>(groups.names());
    // The named groups show their 1.0 from the first scrape, so a dashboard has every line from the start.
    for (const auto& name : groups.names())
        if (name != k_other_group) daemon_metrics().backoff_factor(name, 1.0);
    {
        std::lock_guard lock(m_mutex);
        m_backoff = backoff;
        m_factors = factors;
        m_stopping = false;
    }
    m_thread = std::thread([this, config, groups, backoff, factors] { run(config, groups, backoff, factors); });
}

std::shared_ptr<const Backoff> FeedbackFollower::backoff() const {
    std::lock_guard lock(m_mutex);
    return m_backoff;
}

std::shared_ptr<const BackoffFactors> FeedbackFollower::factors() const {
    std::lock_guard lock(m_mutex);
    return m_factors;
}

void FeedbackFollower::stop() {
    if (!m_thread.joinable()) return;
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_all();
    m_thread.join();
}

void FeedbackFollower::emit(const BackoffChange& change, BackoffFactors& factors) {
    factors.set(change.group, change.to); // first: the rate limiter slows down before the log says so
    const bool slower = change.kind == BackoffChange::Kind::enter || change.kind == BackoffChange::Kind::down;
    if (slower)
        spdlog::warn("back-off: {}", describe(change));
    else
        spdlog::info("back-off: {}", describe(change));
    daemon_metrics().backoff_factor(change.group, change.to);
    m_decisions.write(backoff_event_json(change));
}

void FeedbackFollower::run(FeedbackConfig config, DestinationGroups groups, std::shared_ptr<Backoff> backoff,
                           std::shared_ptr<BackoffFactors> factors) {
    try {
        const SignatureSet signatures = SignatureSet::from_config(config);
        LogTail tail(config.log);
        spdlog::info("feedback: following {} ({} signatures, back-off at {} events in {} s)", config.log,
                     signatures.size(), config.backoff.threshold, config.backoff.window.count());
        std::unique_lock lock(m_mutex);
        while (!m_stopping) {
            lock.unlock();
            bool more = false;
            const auto lines = tail.poll(k_read_budget, &more);
            if (tail.event() == "missing")
                spdlog::warn("feedback: {} does not exist (yet); following it once it does", config.log);
            else if (!tail.event().empty())
                spdlog::info("feedback: {} {}; reading on", config.log, tail.event());
            // A line is dated by its own time stamp when that is within k_max_log_skew of now (so a
            // burst read late, after a stall or at start-up, keeps its real spacing), else when read.
            const auto now = std::chrono::system_clock::now();
            for (const auto& change : backoff->advance(now))
                emit(change, *factors);
            for (const auto& line : lines) {
                std::optional<DeliveryReport> report;
                try {
                    report = parse_delivery_report(line, signatures, now);
                } catch (const std::exception& e) { // std::regex can give up on a pathological line
                    spdlog::debug("feedback: line skipped: {}", e.what());
                    continue;
                }
                if (!report || !report->throttling) continue;
                const std::string group = group_of(*report, groups);
                if (group.empty()) continue;
                report->time = followed_line_time(report->time, now);
                const auto recorded = backoff->record(group, *report, line);
                if (recorded.counted) daemon_metrics().throttle_event(group, report->signature);
                if (recorded.change) emit(*recorded.change, *factors);
            }
            lock.lock();
            if (!more) m_wake.wait_for(lock, k_poll_interval, [this] { return m_stopping; });
        }
    } catch (const std::exception& e) {
        spdlog::error("feedback: stopped following {}: {}", config.log, e.what());
    }
}

} // namespace presend::daemon
