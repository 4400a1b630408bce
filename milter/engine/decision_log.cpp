// decision_log: Verdict → JSON record, and the append-only file it is written to.
// See presend/decision_log.hpp. Called from every milter thread at EOM; never throws from write().
#include "presend/decision_log.hpp"

#include "presend/suppression.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <system_error>
#include <unistd.h>

namespace presend {

namespace {

constexpr mode_t k_log_file_mode = 0640; // the log names senders and recipients: not world-readable
constexpr int k_stdout_fd = 1;

// Scores are sums of rule scores written with one decimal; rounding keeps 0.1 + 0.2 from printing
// as 0.30000000000000004. Back-off factors are rounded the same way.
double rounded_score(double score) {
    return std::round(score * 1000.0) / 1000.0;
}

// What happened to the message (or a recipient): the action taken, or in dry-run what would have happened.
// A dry-run message can still be acted on when the filter failed (on_error); that is what happened then.
std::string result_of(Mode mode, Action action, Action would_action) {
    if (mode == Mode::enforce || action != Action::accept) return std::string(to_string(action));
    if (would_action == Action::accept) return "accept";
    return "would_" + std::string(to_string(would_action));
}

// The recipients the suppression list or the volume guard refused or would refuse, and those a store could not
// check; each key only when it has entries, so the lines of the many messages that met neither stay as they
// were.
void add_rcpt_verdicts(nlohmann::json& entry, const Verdict& verdict) {
    auto suppressed = nlohmann::json::array();
    auto errors = nlohmann::json::array();
    auto rate_limited = nlohmann::json::array();
    auto rate_errors = nlohmann::json::array();
    for (const auto& r : verdict.rcpts) {
        const std::string result = result_of(verdict.mode, r.action, r.would_action);
        const bool rates = r.check == RcptVerdict::Check::rates;
        if (!r.store_error.empty())
            (rates ? rate_errors : errors).push_back({{"rcpt", r.rcpt}, {"error", r.store_error}, {"result", result}});
        else if (rates)
            rate_limited.push_back({{"rcpt", r.rcpt},
                                    {"tenant", r.rate_tenant},
                                    {"group", r.rate_group},
                                    {"limit", r.rate_limit},
                                    {"scope", r.rate_scope},
                                    {"rate", r.rate},
                                    {"result", result}});
        else
            suppressed.push_back({{"rcpt", r.rcpt},
                                  {"entry", r.entry},
                                  {"domain_entry", r.domain_entry},
                                  {"reason", r.reason},
                                  {"scope", r.scope},
                                  {"since", format_utc(r.since)},
                                  {"result", result}});
    }
    if (!suppressed.empty()) entry["suppressed"] = std::move(suppressed);
    if (!errors.empty()) entry["suppression_errors"] = std::move(errors);
    if (!rate_limited.empty()) entry["rate_limited"] = std::move(rate_limited);
    if (!rate_errors.empty()) entry["rate_errors"] = std::move(rate_errors);
}

// Opens path for the log; -1 with errno set on failure. "-" is stdout, "" is off (also -1, errno 0).
int open_log(const std::string& path) {
    errno = 0;
    if (path.empty()) return -1;
    if (path == "-") return k_stdout_fd;
    int fd;
    do {
        fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, k_log_file_mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

void close_log(int fd) {
    if (fd >= 0 && fd != k_stdout_fd) ::close(fd);
}

} // namespace

std::string rfc3339_utc_ms(std::chrono::system_clock::time_point when) {
    using namespace std::chrono;
    const auto ms = duration_cast<milliseconds>(when.time_since_epoch());
    const std::time_t seconds = static_cast<std::time_t>(floor<std::chrono::seconds>(ms).count());
    const int millis = static_cast<int>(ms.count() - static_cast<long long>(seconds) * 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[96]; // room for any int the compiler can imagine in each field
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    return buf;
}

nlohmann::json decision_json(const Envelope& envelope, const std::string& message_id, const Verdict& verdict,
                             std::chrono::microseconds latency, std::string_view rules_version,
                             std::optional<std::chrono::microseconds> total) {
    auto hits = nlohmann::json::array();
    for (const auto& hit : verdict.hits)
        hits.push_back({{"rule", hit.rule},
                        {"target", hit.target},
                        {"detail", hit.detail},
                        {"score", rounded_score(hit.score)},
                        {"monitor", hit.monitor}});

    nlohmann::json entry = {
        {"time", rfc3339_utc_ms(std::chrono::system_clock::now())},
        {"queue_id", envelope.queue_id},
        {"client_addr", envelope.client_addr},
        {"auth_user", envelope.auth_user},
        {"mail_from", envelope.mail_from},
        {"rcpt_count", envelope.rcpts.size()},
        {"message_id", message_id},
        {"hits", std::move(hits)},
        {"score", rounded_score(verdict.score)},
        {"action", to_string(verdict.action)},
        {"would_action", to_string(verdict.would_action)},
        {"result", result_of(verdict.mode, verdict.action, verdict.would_action)},
        {"mode", verdict.mode == Mode::enforce ? "enforce" : "dry-run"},
        {"notes", verdict.notes},
        {"rules_version", rules_version},
        {"latency_us", latency.count()},
    };
    if (total) entry["total_us"] = total->count();
    if (!verdict.tenant.empty()) entry["tenant"] = verdict.tenant;
    if (verdict.message_class) entry["class"] = to_string(*verdict.message_class);
    if (verdict.consent)
        entry["attestation"] = {{"tenant", verdict.consent->tenant},
                                {"list", verdict.consent->list},
                                {"basis", verdict.consent->basis}};
    add_rcpt_verdicts(entry, verdict);
    return entry;
}

nlohmann::json backoff_event_json(const BackoffChange& change) {
    // Factors rounded like scores: 0.375, not 0.37500000000000006.
    return {{"time", rfc3339_utc_ms(change.at)},
            {"event", "backoff"},
            {"group", change.group},
            {"change", to_string(change.kind)},
            {"factor", rounded_score(change.to)},
            {"previous", rounded_score(change.from)},
            {"signature", change.why.signature},
            {"events", change.why.events},
            {"since", rfc3339_utc_ms(change.why.since)},
            {"last_event", rfc3339_utc_ms(change.why.last_event)},
            {"sample", change.why.sample}};
}

DecisionLog::DecisionLog(std::string path) : m_path(std::move(path)) {
    m_fd = open_log(m_path);
    if (m_fd < 0 && !m_path.empty())
        throw std::system_error(errno, std::generic_category(), "decision log " + m_path);
}

DecisionLog::~DecisionLog() {
    close_log(m_fd);
}

bool DecisionLog::write(const nlohmann::json& entry) noexcept {
    try {
        // Rule details quote message text, which need not be UTF-8: replace rather than throw.
        std::string line = entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        line += '\n';
        return write_line(line);
    } catch (const std::exception& e) {
        spdlog::warn("decision log: cannot format entry: {}", e.what());
        return false;
    }
}

bool DecisionLog::write_line(std::string_view line) noexcept {
    std::lock_guard lock(m_mutex);
    if (m_fd < 0) return false;
    std::size_t done = 0;
    while (done < line.size()) {
        // One write(2) per line in the normal case; the loop only finishes a short write (disk full,
        // signal), still under the mutex so no other line gets in between.
        const ssize_t n = ::write(m_fd, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            if (!m_failing) {
                m_failing = true;
                spdlog::warn("decision log {}: write failed: {}; lines are lost until it recovers", m_path,
                             std::generic_category().message(err));
            }
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    if (m_failing) {
        m_failing = false;
        spdlog::info("decision log {}: writing again", m_path);
    }
    return true;
}

bool DecisionLog::reopen() {
    std::string path;
    {
        std::lock_guard lock(m_mutex);
        path = m_path;
    }
    return reopen(path);
}

bool DecisionLog::reopen(const std::string& path) {
    // Open outside the lock: a slow filesystem must not stall the writers.
    const int fd = open_log(path);
    if (fd < 0 && !path.empty()) return false; // errno says why
    int old;
    {
        std::lock_guard lock(m_mutex);
        old = m_fd;
        m_fd = fd;
        m_path = path;
        m_failing = false;
    }
    close_log(old);
    return true;
}

std::string DecisionLog::path() const {
    std::lock_guard lock(m_mutex);
    return m_path;
}

bool DecisionLog::enabled() const {
    std::lock_guard lock(m_mutex);
    return m_fd >= 0;
}

} // namespace presend
