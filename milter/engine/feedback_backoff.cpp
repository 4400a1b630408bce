// feedback_backoff: the per-group back-off state behind Backoff::factor(). See presend/feedback.hpp.
// The factor is a pure function of the state and the time asked about, so factor() never changes state
// and a replay gives the same answers as the live follower; advance() only reports what time has done.
#include "presend/feedback.hpp"

#include "presend/decision_log.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>

namespace presend {

namespace {

// Recent queue ids per group, for k_same_message_window: a burst of deferrals of distinct messages
// is what matters, and this many is more than arrive within the window from one provider.
constexpr std::size_t k_max_recent_ids = 256;
// Recovery steps computed at most: the factor is back at 1.0 long before (0.01 × 1.05^95 > 1).
constexpr long long k_max_recovery_steps = 1000;

} // namespace

struct Backoff::Group {
    std::deque<SystemTime> window; // throttle events not yet part of a step down, oldest first
    std::deque<std::pair<std::string, SystemTime>> recent_ids;
    bool active = false;
    double low = 1.0;     // the factor at `start`, before any recovery step
    std::size_t step = 0; // curve index of the last step down
    SystemTime stepped{}; // the last step down: no recovery within hold of it
    SystemTime last_event{};
    long long reported_steps = 0; // recovery steps since `start` that advance() has reported
    BackoffReason why;

    // Recovery counts from the end of the hold or the last event, whichever is later.
    SystemTime start(const BackoffSettings& s) const { return std::max(stepped + s.hold, last_event); }
};

Backoff::Backoff(BackoffSettings settings) : m_settings(std::move(settings)) {
    if (m_settings.curve.empty()) m_settings.curve = BackoffSettings{}.curve;
    m_settings.threshold = std::max<std::size_t>(m_settings.threshold, 1);
    if (m_settings.recover_every.count() <= 0) m_settings.recover_every = std::chrono::seconds(1);
}

Backoff::~Backoff() = default;

namespace {

long long steps_since(SystemTime start, SystemTime now, std::chrono::seconds every) {
    if (now < start) return 0;
    return std::min<long long>(k_max_recovery_steps, (now - start) / every);
}

double recovered(double low, double recover_factor, long long steps) {
    double f = low;
    for (long long i = 0; i < steps && f < 1.0; ++i)
        f *= recover_factor;
    return std::min(f, 1.0);
}

} // namespace

double Backoff::factor_at(const Group& g, SystemTime now) const {
    if (!g.active) return 1.0;
    return recovered(g.low, m_settings.recover_factor,
                     steps_since(g.start(m_settings), now, m_settings.recover_every));
}

Backoff::Recorded Backoff::record(const std::string& group, const DeliveryReport& event, std::string_view line) {
    Recorded result;
    if (!event.time || group.empty()) return result;
    const SystemTime t = *event.time;
    std::lock_guard lock(m_mutex);
    auto it = m_groups.find(group);
    if (it == m_groups.end()) {
        if (m_groups.size() >= k_max_groups) {
            ++m_dropped;
            return result;
        }
        it = m_groups.emplace(group, std::make_unique<Group>()).first;
    }
    Group& g = *it->second;

    while (!g.recent_ids.empty() && g.recent_ids.front().second + k_same_message_window < t)
        g.recent_ids.pop_front();
    if (!event.queue_id.empty()) {
        for (const auto& [id, when] : g.recent_ids)
            if (id == event.queue_id) return result;
        if (g.recent_ids.size() == k_max_recent_ids) g.recent_ids.pop_front();
        g.recent_ids.emplace_back(event.queue_id, t);
    }
    result.counted = true;

    // The factor now, recovery included; an event restarts the recovery from there.
    double current = factor_at(g, t);
    if (g.active && current >= 1.0) { // recovered fully, but advance() was not asked yet
        g.active = false;
        current = 1.0;
    }
    if (g.active) {
        g.low = current;
        g.reported_steps = 0;
        g.why.last_event = t;
    }
    g.last_event = t;

    g.window.push_back(t);
    while (!g.window.empty() && g.window.front() + m_settings.window <= t)
        g.window.pop_front();
    if (g.window.size() < m_settings.threshold) return result;

    // A burst: one step down from where the factor is now (a group that recovered part way goes back to
    // the first step below it), or stay on the last step with the hold restarted.
    const auto& curve = m_settings.curve;
    std::size_t step = curve.size() - 1;
    for (std::size_t i = 0; i < curve.size(); ++i)
        if (curve[i] < current) {
            step = i;
            break;
        }
    const double next = std::min(curve[step], current);
    BackoffChange change;
    change.kind = g.active ? BackoffChange::Kind::down : BackoffChange::Kind::enter;
    change.group = group;
    change.from = current;
    change.to = next;
    change.at = t;
    if (!g.active) g.why.since = t;
    g.why.signature = event.signature;
    g.why.events = g.window.size();
    g.why.sample = mask_log_line(line);
    g.why.last_event = t;
    g.active = true;
    g.low = next;
    g.step = step;
    g.stepped = t;
    g.reported_steps = 0;
    g.window.clear();
    change.why = g.why;
    if (next < current) result.change = std::move(change);
    return result;
}

std::vector<BackoffChange> Backoff::advance(SystemTime now) {
    std::vector<BackoffChange> changes;
    std::lock_guard lock(m_mutex);
    for (auto it = m_groups.begin(); it != m_groups.end();) {
        Group& g = *it->second;
        if (g.active) {
            const SystemTime start = g.start(m_settings);
            const long long due = steps_since(start, now, m_settings.recover_every);
            for (long long k = g.reported_steps + 1; k <= due; ++k) {
                BackoffChange change;
                change.group = it->first;
                change.from = recovered(g.low, m_settings.recover_factor, k - 1);
                change.to = recovered(g.low, m_settings.recover_factor, k);
                change.at = start + k * m_settings.recover_every;
                change.kind = change.to >= 1.0 ? BackoffChange::Kind::clear : BackoffChange::Kind::up;
                change.why = g.why;
                changes.push_back(std::move(change));
                if (changes.back().to >= 1.0) {
                    g.active = false;
                    break;
                }
            }
            g.reported_steps = due;
        }
        while (!g.window.empty() && g.window.front() + m_settings.window <= now)
            g.window.pop_front();
        // A quiet group is forgotten, so the table holds only groups that are throttling or recovering.
        const bool quiet = !g.active && g.window.empty() &&
                           (g.recent_ids.empty() || g.recent_ids.back().second + k_same_message_window < now);
        it = quiet ? m_groups.erase(it) : std::next(it);
    }
    std::sort(changes.begin(), changes.end(),
              [](const BackoffChange& a, const BackoffChange& b) { return a.at < b.at; });
    return changes;
}

double Backoff::factor(std::string_view group, SystemTime now) const {
    std::lock_guard lock(m_mutex);
    const auto it = m_groups.find(group);
    return it == m_groups.end() ? 1.0 : factor_at(*it->second, now);
}

std::vector<GroupBackoff> Backoff::snapshot(SystemTime now) const {
    std::vector<GroupBackoff> out;
    std::lock_guard lock(m_mutex);
    for (const auto& [name, g] : m_groups) {
        if (!g->active || factor_at(*g, now) >= 1.0) continue;
        const SystemTime start = g->start(m_settings);
        const long long done = steps_since(start, now, m_settings.recover_every);
        out.push_back({name, factor_at(*g, now), g->step, g->why, start + (done + 1) * m_settings.recover_every});
    }
    return out;
}

BackoffFactors::BackoffFactors(const std::vector<std::string>& groups)
    : m_factors(std::make_unique<std::atomic<double>[]>(groups.size())) {
    for (std::size_t i = 0; i < groups.size(); ++i) {
        m_index.emplace(groups[i], i);
        m_factors[i].store(1.0, std::memory_order_relaxed);
    }
}

double BackoffFactors::get(std::string_view group) const {
    const auto it = m_index.find(group);
    // Relaxed: a factor is one number on its own; nothing else is published with it.
    return it == m_index.end() ? 1.0 : m_factors[it->second].load(std::memory_order_relaxed);
}

void BackoffFactors::set(std::string_view group, double factor) {
    if (const auto it = m_index.find(group); it != m_index.end())
        m_factors[it->second].store(factor, std::memory_order_relaxed);
}

std::string format_factor(double factor) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", factor);
    return buf;
}

std::string describe(const BackoffChange& c) {
    const std::string factors = "factor " + format_factor(c.from) + " → " + format_factor(c.to);
    const std::string since = "since " + rfc3339_utc_ms(c.why.since);
    switch (c.kind) {
    case BackoffChange::Kind::enter:
    case BackoffChange::Kind::down:
        return c.group + (c.kind == BackoffChange::Kind::enter ? " enters back-off: " : " backs off further: ") +
               factors + " (" + std::to_string(c.why.events) + " throttle events, signature " + c.why.signature +
               ", " + since + "); sample: " + c.why.sample;
    case BackoffChange::Kind::up:
        return c.group + " recovers: " + factors + " (no throttling since " + rfc3339_utc_ms(c.why.last_event) +
               "; back-off " + since + ")";
    case BackoffChange::Kind::clear:
        return c.group + " leaves back-off: " + factors + " (no throttling since " +
               rfc3339_utc_ms(c.why.last_event) + "; back-off " + since + ", signature " + c.why.signature + ")";
    }
    return c.group;
}

std::size_t Backoff::dropped_events() const {
    std::lock_guard lock(m_mutex);
    return m_dropped;
}

} // namespace presend
