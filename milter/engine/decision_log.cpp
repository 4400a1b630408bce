// decision_log: Verdict → JSON record, and the append-only file it is written to.
// See presend/decision_log.hpp. Called from every milter thread at EOM; never throws from write().
#include "presend/decision_log.hpp"

#include "engine/civil_time.hpp"
#include "engine/json_out.hpp"
#include "presend/suppression.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
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

// What happened to the message (or a recipient), as a JSON string: the action taken, or in dry-run what
// would have happened. A dry-run message can still be acted on when the filter failed (on_error); that is
// what happened then. The names are plain ASCII: no escaping.
void append_result(std::string& out, Mode mode, Action action, Action would_action) {
    out += '"';
    if (mode == Mode::enforce || action != Action::accept)
        out += to_string(action);
    else if (would_action == Action::accept)
        out += "accept";
    else
        (out += "would_") += to_string(would_action);
    out += '"';
}

// Starts the value of key in the object or array being written: `,"key":`, without the comma for the
// first key. Keys are plain ASCII and must come in alphabetical order, as nlohmann::json's std::map
// writes them: the lines stay those of the json objects the log was once dumped from.
std::string& key(std::string& out, std::string_view name) {
    if (out.back() != '{') out += ',';
    out += '"';
    out += name;
    out += "\":";
    return out;
}

// Starts an element of an array.
std::string& element(std::string& out) {
    if (out.back() != '[') out += ',';
    return out;
}

void append_ascii(std::string& out, std::string_view name) { // a fixed word: action, mode, class
    out += '"';
    out += name;
    out += '"';
}

void append_hits(std::string& out, const Verdict& verdict) {
    out += '[';
    for (const auto& hit : verdict.hits) {
        element(out) += '{';
        json_out::append_string(key(out, "detail"), hit.detail);
        json_out::append_bool(key(out, "monitor"), hit.monitor);
        json_out::append_string(key(out, "rule"), hit.rule);
        json_out::append_number(key(out, "score"), rounded_score(hit.score));
        json_out::append_string(key(out, "target"), hit.target);
        out += '}';
    }
    out += ']';
}

// The recipients the suppression list or the volume guard refused or would refuse, and those a store could
// not check: one array per kind, each only when it has entries, so the lines of the many messages that met
// neither stay as they were. The kinds are named after their keys.
enum class RcptKind { rate_errors, rate_limited, suppressed, suppression_errors };

RcptKind kind_of(const RcptVerdict& r) {
    const bool rates = r.check == RcptVerdict::Check::rates;
    if (!r.store_error.empty()) return rates ? RcptKind::rate_errors : RcptKind::suppression_errors;
    return rates ? RcptKind::rate_limited : RcptKind::suppressed;
}

void append_rcpt_verdict(std::string& out, Mode mode, const RcptVerdict& r, RcptKind kind) {
    element(out) += '{';
    switch (kind) {
    case RcptKind::rate_errors:
    case RcptKind::suppression_errors:
        json_out::append_string(key(out, "error"), r.store_error);
        json_out::append_string(key(out, "rcpt"), r.rcpt);
        append_result(key(out, "result"), mode, r.action, r.would_action);
        break;
    case RcptKind::rate_limited:
        json_out::append_string(key(out, "group"), r.rate_group);
        json_out::append_string(key(out, "limit"), r.rate_limit);
        json_out::append_string(key(out, "rate"), r.rate);
        json_out::append_string(key(out, "rcpt"), r.rcpt);
        append_result(key(out, "result"), mode, r.action, r.would_action);
        json_out::append_string(key(out, "scope"), r.rate_scope);
        json_out::append_string(key(out, "tenant"), r.rate_tenant);
        break;
    case RcptKind::suppressed:
        json_out::append_bool(key(out, "domain_entry"), r.domain_entry);
        json_out::append_string(key(out, "entry"), r.entry);
        json_out::append_string(key(out, "rcpt"), r.rcpt);
        json_out::append_string(key(out, "reason"), r.reason);
        append_result(key(out, "result"), mode, r.action, r.would_action);
        json_out::append_string(key(out, "scope"), r.scope);
        json_out::append_string(key(out, "since"), format_utc(r.since));
        break;
    }
    out += '}';
}

void append_rcpt_verdicts(std::string& out, const Verdict& verdict, RcptKind kind, std::string_view name) {
    bool any = false;
    for (const auto& r : verdict.rcpts) {
        if (kind_of(r) != kind) continue;
        if (!any) key(out, name) += '[';
        any = true;
        append_rcpt_verdict(out, verdict.mode, r, kind);
    }
    if (any) out += ']';
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
    std::string out;
    append_rfc3339_utc_ms(out, when);
    return out;
}

void append_rfc3339_utc_ms(std::string& out, std::chrono::system_clock::time_point when) {
    using namespace std::chrono;
    const auto ms = duration_cast<milliseconds>(when.time_since_epoch()).count();
    constexpr std::int64_t k_day_ms = std::int64_t{24} * 60 * 60 * 1000;
    const std::int64_t days = (ms >= 0 ? ms : ms - (k_day_ms - 1)) / k_day_ms; // rounded down
    const std::int64_t in_day = ms - days * k_day_ms;
    const CivilDate date = civil_from_days(days);
    const auto hour = static_cast<int>(in_day / 3600000), minute = static_cast<int>(in_day / 60000 % 60),
               second = static_cast<int>(in_day / 1000 % 60), millis = static_cast<int>(in_day % 1000);
    if (date.year < 0 || date.year > 9999) { // no clock of a mail server; the same text, the slow way
        char buf[96];
        std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                      static_cast<long long>(date.year), date.month, date.day, hour, minute, second, millis);
        out += buf;
        return;
    }
    // The digits by hand: snprintf took a quarter of the time of a whole decision line.
    char text[] = "0000-00-00T00:00:00.000Z";
    const auto put = [&text](std::size_t at, std::int64_t value, int width) {
        for (auto i = static_cast<std::size_t>(width); i > 0; --i, value /= 10)
            text[at + i - 1] = static_cast<char>('0' + value % 10);
    };
    put(0, date.year, 4);
    put(5, date.month, 2);
    put(8, date.day, 2);
    put(11, hour, 2);
    put(14, minute, 2);
    put(17, second, 2);
    put(20, millis, 3);
    out.append(text, sizeof text - 1);
}

void append_decision_line(std::string& out, std::chrono::system_clock::time_point time,
                          const Envelope& envelope, std::string_view message_id, const Verdict& verdict,
                          std::chrono::microseconds latency, std::string_view rules_version,
                          std::optional<std::chrono::microseconds> total) {
    out += '{';
    append_ascii(key(out, "action"), to_string(verdict.action));
    if (verdict.consent) {
        key(out, "attestation") += '{';
        json_out::append_string(key(out, "basis"), verdict.consent->basis);
        json_out::append_string(key(out, "list"), verdict.consent->list);
        json_out::append_string(key(out, "tenant"), verdict.consent->tenant);
        out += '}';
    }
    json_out::append_string(key(out, "auth_user"), envelope.auth_user);
    if (verdict.message_class) append_ascii(key(out, "class"), to_string(*verdict.message_class));
    json_out::append_string(key(out, "client_addr"), envelope.client_addr);
    append_hits(key(out, "hits"), verdict);
    json_out::append_number(key(out, "latency_us"), std::int64_t{latency.count()});
    json_out::append_string(key(out, "mail_from"), envelope.mail_from);
    json_out::append_string(key(out, "message_id"), message_id);
    append_ascii(key(out, "mode"), verdict.mode == Mode::enforce ? "enforce" : "dry-run");
    key(out, "notes") += '[';
    for (const auto& note : verdict.notes)
        json_out::append_string(element(out), note);
    out += ']';
    json_out::append_string(key(out, "queue_id"), envelope.queue_id);
    append_rcpt_verdicts(out, verdict, RcptKind::rate_errors, "rate_errors");
    append_rcpt_verdicts(out, verdict, RcptKind::rate_limited, "rate_limited");
    json_out::append_number(key(out, "rcpt_count"), std::uint64_t{envelope.rcpts.size()});
    append_result(key(out, "result"), verdict.mode, verdict.action, verdict.would_action);
    json_out::append_string(key(out, "rules_version"), rules_version);
    json_out::append_number(key(out, "score"), rounded_score(verdict.score));
    append_rcpt_verdicts(out, verdict, RcptKind::suppressed, "suppressed");
    append_rcpt_verdicts(out, verdict, RcptKind::suppression_errors, "suppression_errors");
    if (!verdict.tenant.empty()) json_out::append_string(key(out, "tenant"), verdict.tenant);
    key(out, "time") += '"';
    append_rfc3339_utc_ms(out, time);
    out += '"';
    if (total) json_out::append_number(key(out, "total_us"), std::int64_t{total->count()});
    append_ascii(key(out, "would_action"), to_string(verdict.would_action));
    out += "}\n";
}

nlohmann::json decision_json(const Envelope& envelope, const std::string& message_id, const Verdict& verdict,
                             std::chrono::microseconds latency, std::string_view rules_version,
                             std::optional<std::chrono::microseconds> total) {
    std::string line;
    append_decision_line(line, std::chrono::system_clock::now(), envelope, message_id, verdict, latency,
                         rules_version, total);
    return nlohmann::json::parse(line);
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

bool DecisionLog::write_decision(const Envelope& envelope, std::string_view message_id,
                                 const Verdict& verdict, std::chrono::microseconds latency,
                                 std::string_view rules_version,
                                 std::optional<std::chrono::microseconds> total) noexcept {
    // One line of a message with a thousand refused recipients is a few hundred KB; the buffer of a thread
    // that wrote one does not keep that much for the rest of its life.
    constexpr std::size_t k_keep_line_capacity = 64 * 1024;
    thread_local std::string t_line;
    try {
        t_line.clear();
        append_decision_line(t_line, std::chrono::system_clock::now(), envelope, message_id, verdict, latency,
                             rules_version, total);
        const bool written = write_line(t_line);
        if (t_line.capacity() > k_keep_line_capacity) std::string().swap(t_line);
        return written;
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
