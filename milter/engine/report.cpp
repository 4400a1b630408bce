// report: decision log lines → Report → text, JSON or HTML. See report.hpp.
// Lines are parsed with a SAX handler that keeps only the keys a report needs, so no JSON tree is built
// per line; the log is read through zlib, which passes plain files through untouched.
#include "engine/report.hpp"
#include "engine/civil_time.hpp"
#include "presend/feedback.hpp"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

namespace presend::report {

namespace {

// Limits, each with its reason.
constexpr std::size_t k_max_distinct_keys = 100000; // per table (rules, tenants, domains): a platform has
                                                    // thousands; more is noise, counted under "others"
constexpr std::size_t k_max_problem_examples = 5;   // malformed lines located in the report; the rest counted
constexpr std::size_t k_max_line_bytes = 1 << 20;   // a decision line is ~1 KiB; longer is garbage, skipped
constexpr std::size_t k_read_chunk = 256 * 1024;    // zlib buffer and read size
constexpr std::uint64_t k_progress_every_lines = 16384;
constexpr std::int64_t k_max_timeline_hours = 24 * 400; // empty hours are filled in up to this span
constexpr std::size_t k_max_shown_chars = 200; // message ids and keys cut in the text and HTML output
constexpr std::size_t k_max_episodes = 10000;   // back-off episodes kept: years of a bad sender's log

constexpr TimeMs k_ms_per_hour = 3600 * 1000;
constexpr TimeMs k_ms_per_day = 24 * k_ms_per_hour;

// Verdict names from the mildest to the strictest, as presend::Action orders them.
constexpr std::array<std::string_view, 6> k_action_order = {"accept",   "tag",    "quarantine",
                                                            "tempfail", "reject", "discard"};

// ---- time ----------------------------------------------------------------------------------------------

bool leap_year(std::int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
    static constexpr unsigned k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap_year(y) ? 29 : k_days[m - 1];
}

// n decimal digits at text[pos]; false when they are not all digits.
bool read_digits(std::string_view text, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > text.size()) return false;
    int value = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (text[i] < '0' || text[i] > '9') return false;
        value = value * 10 + (text[i] - '0');
    }
    out = value;
    return true;
}

// YYYY-MM-DD, then optionally [T ]HH:MM[:SS[.frac]][Z|±HH:MM]; a missing zone is UTC.
std::optional<TimeMs> parse_time(std::string_view t, bool allow_date_only) {
    int year, month, day;
    if (!read_digits(t, 0, 4, year) || t.size() < 10 || t[4] != '-' || !read_digits(t, 5, 2, month) ||
        t[7] != '-' || !read_digits(t, 8, 2, day))
        return std::nullopt;
    if (month < 1 || month > 12 || day < 1 || static_cast<unsigned>(day) > days_in_month(year, month))
        return std::nullopt;
    TimeMs ms =
        days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * k_ms_per_day;
    if (t.size() == 10) return allow_date_only ? std::optional<TimeMs>(ms) : std::nullopt;
    if (t[10] != 'T' && t[10] != 't' && t[10] != ' ') return std::nullopt;
    int hour, minute, second = 0;
    if (!read_digits(t, 11, 2, hour) || t.size() < 16 || t[13] != ':' || !read_digits(t, 14, 2, minute))
        return std::nullopt;
    std::size_t i = 16;
    if (i < t.size() && t[i] == ':') {
        if (!read_digits(t, i + 1, 2, second)) return std::nullopt;
        i += 3;
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    second = std::min(second, 59); // a leap second is the last second of its minute here
    int millis = 0;
    if (i < t.size() && (t[i] == '.' || t[i] == ',')) {
        ++i;
        const std::size_t start = i;
        int scale = 100;
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
            millis += (t[i] - '0') * scale;
            scale /= 10;
            ++i;
        }
        if (i == start) return std::nullopt;
    }
    ms += ((hour * 60 + minute) * 60 + second) * 1000LL + millis;
    if (i == t.size()) return ms;
    if ((t[i] == 'Z' || t[i] == 'z') && i + 1 == t.size()) return ms;
    if (t[i] == '+' || t[i] == '-') {
        int oh, om;
        if (!read_digits(t, i + 1, 2, oh) || i + 3 >= t.size() || t[i + 3] != ':' ||
            !read_digits(t, i + 4, 2, om) || i + 6 != t.size() || oh > 23 || om > 59)
            return std::nullopt;
        const TimeMs offset = (oh * 60 + om) * 60 * 1000LL;
        return t[i] == '+' ? ms - offset : ms + offset;
    }
    return std::nullopt;
}

TimeMs floor_div(TimeMs a, TimeMs b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

// ---- one line ------------------------------------------------------------------------------------------

struct HitRecord {
    std::string rule;
    bool monitor = false;
    bool has_rule = false;
};

// The keys of one decision line that a report reads; reused from line to line to keep its buffers.
struct Record {
    std::optional<TimeMs> time;
    std::string queue_id, message_id, mail_from, tenant, action, would_action, mode;
    std::string message_class, basis; // "class", and "attestation"."basis" ("" without an attestation)
    bool has_action = false, has_would_action = false, has_mail_from = false;
    std::optional<double> latency_us;
    std::vector<HitRecord> hits;
    std::size_t hit_count = 0; // hits[0, hit_count) belong to this line
    // The suppression list at RCPT TO: recipients refused (result "reject") or that would have been, and
    // recipients it could not check.
    std::uint64_t suppressed = 0, suppressed_refused = 0, suppression_errors = 0;
    // The volume guard at RCPT TO: recipients over a rate (deferred: result "tempfail"), and store errors.
    std::uint64_t rate_limited = 0, rate_deferred = 0, rate_errors = 0;
    // An event line ("event": "backoff"), not a decision.
    std::string event, group, change, signature, sample;
    std::optional<double> factor, events;
    std::optional<TimeMs> since;

    void clear() {
        time.reset();
        queue_id.clear();
        message_id.clear();
        mail_from.clear();
        tenant.clear();
        message_class.clear();
        basis.clear();
        action.clear();
        would_action.clear();
        mode.clear();
        has_action = has_would_action = has_mail_from = false;
        latency_us.reset();
        hit_count = 0;
        suppressed = suppressed_refused = suppression_errors = 0;
        rate_limited = rate_deferred = rate_errors = 0;
        event.clear();
        group.clear();
        change.clear();
        signature.clear();
        sample.clear();
        factor.reset();
        events.reset();
        since.reset();
    }
};

enum class Field {
    other,
    time,
    queue_id,
    message_id,
    mail_from,
    tenant,
    message_class,
    attestation,
    action,
    would_action,
    mode,
    latency,
    hits,
    suppressed,
    suppression_errors,
    rate_limited,
    rate_errors,
    event,
    group,
    change,
    signature,
    sample,
    factor,
    events,
    since
};
enum class HitField { other, rule, monitor };
enum class Context { top, hits, hit, rcpts, rcpt, attestation, ignored };

Field field_of(std::string_view key) {
    static const std::array<std::pair<std::string_view, Field>, 24> k_fields = {{
        {"time", Field::time},
        {"queue_id", Field::queue_id},
        {"message_id", Field::message_id},
        {"mail_from", Field::mail_from},
        {"tenant", Field::tenant},
        {"class", Field::message_class},
        {"attestation", Field::attestation},
        {"action", Field::action},
        {"would_action", Field::would_action},
        {"mode", Field::mode},
        {"latency_us", Field::latency},
        {"hits", Field::hits},
        {"suppressed", Field::suppressed},
        {"suppression_errors", Field::suppression_errors},
        {"rate_limited", Field::rate_limited},
        {"rate_errors", Field::rate_errors},
        {"event", Field::event},
        {"group", Field::group},
        {"change", Field::change},
        {"signature", Field::signature},
        {"sample", Field::sample},
        {"factor", Field::factor},
        {"events", Field::events},
        {"since", Field::since},
    }};
    for (const auto& [name, field] : k_fields)
        if (name == key) return field;
    return Field::other;
}

std::string wrong_type(Field field) {
    switch (field) {
    case Field::time:
        return "time has the wrong type";
    case Field::action:
        return "action has the wrong type";
    case Field::would_action:
        return "would_action has the wrong type";
    case Field::hits:
        return "hits is not an array";
    default:
        return "a field has the wrong type";
    }
}

// nlohmann SAX handler filling a Record; stops at the first problem, which names why the line is no decision.
class LineParser {
public:
    using json = nlohmann::json;

    explicit LineParser(Record& record) : m_record(record) {}

    std::string problem;

    bool null() { return scalar_wrong_type(); }
    bool boolean(bool value) {
        if (in(Context::hit) && m_hit_field == HitField::monitor) {
            current_hit().monitor = value;
            return true;
        }
        return scalar_wrong_type();
    }
    bool number_integer(json::number_integer_t value) { return number(static_cast<double>(value)); }
    bool number_unsigned(json::number_unsigned_t value) { return number(static_cast<double>(value)); }
    bool number_float(json::number_float_t value, const json::string_t&) { return number(value); }
    bool string(json::string_t& value) {
        if (in(Context::rcpt)) {
            if (m_rcpt_kind == Field::suppressed && m_rcpt_result && value == "reject")
                ++m_record.suppressed_refused;
            if (m_rcpt_kind == Field::rate_limited && m_rcpt_result && value == "tempfail")
                ++m_record.rate_deferred;
            return true;
        }
        if (in(Context::attestation)) {
            if (m_attestation_basis) m_record.basis.assign(value);
            return true;
        }
        if (in(Context::hit)) {
            if (m_hit_field == HitField::rule) {
                current_hit().rule.assign(value);
                current_hit().has_rule = true;
            }
            return true;
        }
        if (!in(Context::top)) return scalar_wrong_type();
        switch (m_field) {
        case Field::time:
            m_record.time = parse_time(value, false);
            if (!m_record.time) return fail("time \"" + value.substr(0, 40) + "\" is not an RFC 3339 time");
            return true;
        case Field::queue_id:
            m_record.queue_id.assign(value);
            return true;
        case Field::message_id:
            m_record.message_id.assign(value);
            return true;
        case Field::mail_from:
            m_record.mail_from.assign(value);
            m_record.has_mail_from = true;
            return true;
        case Field::tenant:
            m_record.tenant.assign(value);
            return true;
        case Field::message_class:
            m_record.message_class.assign(value);
            return true;
        case Field::action:
            m_record.action.assign(value);
            m_record.has_action = true;
            return true;
        case Field::would_action:
            m_record.would_action.assign(value);
            m_record.has_would_action = true;
            return true;
        case Field::mode:
            m_record.mode.assign(value);
            return true;
        case Field::event:
        case Field::group:
        case Field::change:
        case Field::signature:
        case Field::sample:
            event_text(m_field).assign(value);
            return true;
        case Field::since:
            m_record.since = parse_time(value, false);
            return true;
        case Field::hits:
            return fail(wrong_type(m_field));
        default:
            return true;
        }
    }
    bool binary(json::binary_t&) { return scalar_wrong_type(); }

    bool start_object(std::size_t) {
        if (m_stack.empty()) return push(Context::top);
        switch (m_stack.back()) {
        case Context::top:
            if (required(m_field)) return fail(wrong_type(m_field));
            if (m_field == Field::attestation) {
                m_attestation_basis = false;
                return push(Context::attestation);
            }
            return push(Context::ignored);
        case Context::hits: {
            if (m_record.hit_count == m_record.hits.size()) m_record.hits.emplace_back();
            HitRecord& hit = m_record.hits[m_record.hit_count++];
            hit.rule.clear();
            hit.monitor = false;
            hit.has_rule = false;
            m_hit_field = HitField::other;
            return push(Context::hit);
        }
        case Context::rcpts:
            ++(m_rcpt_kind == Field::suppressed     ? m_record.suppressed
               : m_rcpt_kind == Field::rate_limited ? m_record.rate_limited
               : m_rcpt_kind == Field::rate_errors  ? m_record.rate_errors
                                                    : m_record.suppression_errors);
            m_rcpt_result = false;
            return push(Context::rcpt);
        default:
            return push(Context::ignored);
        }
    }
    bool end_object() { return pop(); }
    bool start_array(std::size_t) {
        if (m_stack.empty()) return fail("not a JSON object");
        switch (m_stack.back()) {
        case Context::top:
            if (m_field == Field::hits) return push(Context::hits);
            if (m_field == Field::suppressed || m_field == Field::suppression_errors ||
                m_field == Field::rate_limited || m_field == Field::rate_errors) {
                m_rcpt_kind = m_field;
                return push(Context::rcpts);
            }
            if (required(m_field)) return fail(wrong_type(m_field));
            return push(Context::ignored);
        case Context::hits:
            return fail("a hit is not an object");
        default:
            return push(Context::ignored);
        }
    }
    bool end_array() { return pop(); }
    bool key(json::string_t& name) {
        if (in(Context::top))
            m_field = field_of(name);
        else if (in(Context::hit))
            m_hit_field = name == "rule"      ? HitField::rule
                          : name == "monitor" ? HitField::monitor
                                              : HitField::other;
        else if (in(Context::rcpt))
            m_rcpt_result = name == "result";
        else if (in(Context::attestation))
            m_attestation_basis = name == "basis";
        return true;
    }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& error) {
        // what(): "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error while
        // parsing value - invalid literal; last read: 'xyz'": the words between " - " and ";" say what was
        // wrong.
        std::string_view why = error.what();
        if (const auto dash = why.find(" - "); dash != std::string_view::npos) why.remove_prefix(dash + 3);
        why = why.substr(0, why.find(';'));
        problem = "invalid JSON at byte " + std::to_string(position) + ": " + std::string(why.substr(0, 80));
        return false;
    }

private:
    bool in(Context context) const { return !m_stack.empty() && m_stack.back() == context; }
    static bool required(Field field) {
        return field == Field::time || field == Field::action || field == Field::would_action ||
               field == Field::hits;
    }
    bool fail(std::string why) {
        problem = std::move(why);
        return false;
    }
    bool push(Context context) {
        m_stack.push_back(context);
        return true;
    }
    bool pop() {
        if (in(Context::hit) && !current_hit().has_rule) return fail("a hit has no rule");
        m_stack.pop_back();
        return true;
    }
    HitRecord& current_hit() { return m_record.hits[m_record.hit_count - 1]; }
    // The text keys of a back-off event line.
    std::string& event_text(Field field) {
        switch (field) {
        case Field::group:
            return m_record.group;
        case Field::change:
            return m_record.change;
        case Field::signature:
            return m_record.signature;
        case Field::sample:
            return m_record.sample;
        default:
            return m_record.event;
        }
    }
    bool number(double value) {
        if (in(Context::top) && m_field == Field::latency) {
            m_record.latency_us = value;
            return true;
        }
        if (in(Context::top) && m_field == Field::factor) {
            m_record.factor = value;
            return true;
        }
        if (in(Context::top) && m_field == Field::events) {
            m_record.events = value;
            return true;
        }
        return scalar_wrong_type();
    }
    // A scalar where the line needs something else: fatal for the top value, the keys a report cannot do
    // without and hits; ignored elsewhere (unknown keys, unexpected types of optional keys).
    bool scalar_wrong_type() {
        if (m_stack.empty()) return fail("not a JSON object");
        if (in(Context::top) && required(m_field)) return fail(wrong_type(m_field));
        if (in(Context::hits)) return fail("a hit is not an object");
        return true;
    }

    Record& m_record;
    std::vector<Context> m_stack;
    Field m_field = Field::other;
    HitField m_hit_field = HitField::other;
    Field m_rcpt_kind = Field::other; // which of the four recipient arrays is open
    bool m_rcpt_result = false;       // the current recipient key is "result"
    bool m_attestation_basis = false; // the current attestation key is "basis"
};

// ---- aggregation helpers ---------------------------------------------------------------------------------

// A ranking whose only key is the one for "not in the log" (logs from before classes, a platform without
// attestation keys): the text and HTML reports leave its table out.
bool absent_only(const Ranking& ranking, std::string_view absent) {
    return ranking.others.messages == 0 &&
           (ranking.top.empty() || (ranking.top.size() == 1 && ranking.top[0].key == absent));
}

std::string domain_of(const Record& record) {
    std::string_view from = record.mail_from;
    while (!from.empty() && (from.front() == '<' || from.front() == ' '))
        from.remove_prefix(1);
    while (!from.empty() && (from.back() == '>' || from.back() == ' ' || from.back() == '.'))
        from.remove_suffix(1);
    if (from.empty()) return "(null sender)";
    const auto at = from.rfind('@');
    if (at == std::string_view::npos || at + 1 == from.size()) return "(no domain)";
    std::string domain(from.substr(at + 1));
    for (char& c : domain)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return domain;
}

// Latency percentiles in constant memory: values below 256 µs are exact, above that buckets keep 8
// significant bits, so a percentile is within 1% of the true sample.
class LatencyHistogram {
public:
    void add(std::int64_t us) {
        if (us < 0) return;
        const auto v = static_cast<std::uint64_t>(us);
        ++m_buckets[index_of(v)];
        ++m_count;
        m_max = std::max(m_max, us);
    }
    std::uint64_t count() const { return m_count; }
    std::int64_t max() const { return m_max; }
    std::int64_t percentile(double p) const {
        const auto rank = std::max<std::uint64_t>(
            1, static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(m_count))));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < m_buckets.size(); ++i) {
            seen += m_buckets[i];
            if (seen >= rank) return std::min(m_max, middle_of(i));
        }
        return m_max;
    }

private:
    static constexpr unsigned k_bits = 8;
    static constexpr std::size_t k_exact = 1u << k_bits;
    static constexpr std::size_t k_per_octave = 1u << (k_bits - 1);

    static std::size_t index_of(std::uint64_t v) {
        if (v < k_exact) return v;
        const unsigned shift = static_cast<unsigned>(std::bit_width(v)) - k_bits;
        const std::uint64_t mantissa = v >> shift; // in [128, 256)
        return k_exact + (shift - 1) * k_per_octave + (mantissa - k_per_octave);
    }
    static std::int64_t middle_of(std::size_t index) {
        if (index < k_exact) return static_cast<std::int64_t>(index);
        const std::size_t shift = (index - k_exact) / k_per_octave + 1;
        const std::uint64_t mantissa = (index - k_exact) % k_per_octave + k_per_octave;
        const std::uint64_t low = mantissa << shift;
        return static_cast<std::int64_t>(low + ((std::uint64_t{1} << shift) >> 1));
    }

    std::array<std::uint64_t, k_exact + (64 - k_bits) * k_per_octave> m_buckets{};
    std::uint64_t m_count = 0;
    std::int64_t m_max = 0;
};

struct RuleAcc {
    std::uint64_t messages = 0, would_block = 0, monitor = 0;
    std::vector<Example> blocking, other;
};

// Looks key up in table, adding it unless the table is full; null when full (the caller counts "others").
template <typename Map> typename Map::mapped_type* slot(Map& table, const std::string& key, bool& capped) {
    if (auto it = table.find(key); it != table.end()) return &it->second;
    if (table.size() >= k_max_distinct_keys) {
        capped = true;
        return nullptr;
    }
    return &table.emplace(key, typename Map::mapped_type{}).first->second;
}

void count(Counts& counts, bool blocking) {
    ++counts.messages;
    counts.would_block += blocking;
}

Ranking rank(const std::unordered_map<std::string, Counts>& table, const Counts& overflow, std::size_t top) {
    std::vector<KeyCounts> all;
    all.reserve(table.size());
    for (const auto& [key, counts] : table)
        all.push_back({key, counts});
    std::sort(all.begin(), all.end(), [](const KeyCounts& a, const KeyCounts& b) {
        if (a.counts.messages != b.counts.messages) return a.counts.messages > b.counts.messages;
        return a.key < b.key;
    });
    Ranking ranking;
    ranking.others = overflow;
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (i < top) {
            ranking.top.push_back(std::move(all[i]));
            continue;
        }
        ranking.others.messages += all[i].counts.messages;
        ranking.others.would_block += all[i].counts.would_block;
        ++ranking.others_keys;
    }
    if (overflow.messages > 0) ++ranking.others_keys; // at least one more key went uncounted
    return ranking;
}

std::vector<std::pair<std::string, std::uint64_t>>
by_severity(const std::unordered_map<std::string, std::uint64_t>& table) {
    std::vector<std::pair<std::string, std::uint64_t>> out(table.begin(), table.end());
    auto order = [](const std::string& name) {
        const auto it = std::find(k_action_order.begin(), k_action_order.end(), name);
        return static_cast<std::size_t>(it - k_action_order.begin());
    };
    std::sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
        const auto oa = order(a.first), ob = order(b.first);
        return oa != ob ? oa < ob : a.first < b.first;
    });
    return out;
}

} // namespace

// ---- public time helpers ---------------------------------------------------------------------------------

std::optional<TimeMs> parse_rfc3339(std::string_view text) {
    return parse_time(text, false);
}

std::optional<TimeMs> parse_time_arg(std::string_view text, TimeMs now) {
    if (text == "now") return now;
    if (auto absolute = parse_time(text, true)) return absolute;
    // A span back from now: up to 6 digits (so the product cannot overflow) and one unit.
    if (text.size() < 2 || text.size() > 7) return std::nullopt;
    std::int64_t amount = 0;
    for (std::size_t i = 0; i + 1 < text.size(); ++i) {
        if (text[i] < '0' || text[i] > '9') return std::nullopt;
        amount = amount * 10 + (text[i] - '0');
    }
    TimeMs unit;
    switch (text.back()) {
    case 's':
        unit = 1000;
        break;
    case 'm':
        unit = 60 * 1000;
        break;
    case 'h':
        unit = k_ms_per_hour;
        break;
    case 'd':
        unit = k_ms_per_day;
        break;
    case 'w':
        unit = 7 * k_ms_per_day;
        break;
    default:
        return std::nullopt;
    }
    return now - amount * unit;
}

std::string format_time(TimeMs when) {
    const TimeMs day = floor_div(when, k_ms_per_day);
    const TimeMs in_day = when - day * k_ms_per_day;
    const CivilDate date = civil_from_days(day);
    const auto seconds = static_cast<int>(in_day / 1000);
    const auto millis = static_cast<int>(in_day % 1000);
    char buf[64];
    if (millis == 0)
        std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(date.year),
                      date.month, date.day, seconds / 3600, seconds / 60 % 60, seconds % 60);
    else
        std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                      static_cast<long long>(date.year), date.month, date.day, seconds / 3600,
                      seconds / 60 % 60, seconds % 60, millis);
    return buf;
}

bool is_blocking(std::string_view action) {
    return action == "reject" || action == "tempfail" || action == "quarantine" || action == "discard";
}

// ---- Aggregator ------------------------------------------------------------------------------------------

struct Aggregator::State {
    Options options;
    Record record;
    std::vector<std::size_t> seen; // indexes of the first hit of each distinct rule in this line

    std::uint64_t lines = 0, messages = 0, malformed = 0, out_of_range = 0, would_block = 0;
    std::uint64_t suppressed = 0, suppressed_refused = 0, suppression_errors = 0;
    std::uint64_t rate_limited = 0, rate_deferred = 0, rate_errors = 0;
    std::vector<LineProblem> problems;
    std::vector<std::string> read_errors;
    std::optional<TimeMs> first, last;
    bool capped = false;

    std::unordered_map<std::string, std::uint64_t> modes, actions, would_actions;
    std::unordered_map<std::string, RuleAcc> rules;
    std::unordered_map<std::string, Counts> tenants, domains, classes, bases;
    Counts tenants_overflow, domains_overflow, classes_overflow, bases_overflow;
    std::map<TimeMs, Counts> hours;
    LatencyHistogram latency;
    std::map<std::string, BackoffEpisode> open_episodes; // by group
    std::vector<BackoffEpisode> episodes;                 // ended

    // One back-off event line. A log that starts in the middle of an episode opens it at its "since".
    void add_backoff(const Record& r) {
        const TimeMs when = *r.time;
        const double factor = r.factor.value_or(1.0);
        auto it = open_episodes.find(r.group);
        if (r.change == "enter" && it != open_episodes.end()) { // the clear was lost (a restart): end it here
            end_episode(it, when);
            it = open_episodes.end();
        }
        if (it == open_episodes.end()) {
            if (open_episodes.size() + episodes.size() >= k_max_episodes) return;
            BackoffEpisode e;
            e.group = r.group;
            e.start = r.change == "enter" ? when : r.since.value_or(when);
            e.lowest = r.change == "clear" ? r.factor.value_or(1.0) : factor;
            e.signature = r.signature;
            e.events = r.events ? static_cast<std::uint64_t>(std::max(0.0, *r.events)) : 0;
            e.sample = r.sample;
            it = open_episodes.emplace(r.group, std::move(e)).first;
        }
        if (r.change != "clear") it->second.lowest = std::min(it->second.lowest, factor);
        if (r.change == "clear") end_episode(it, when);
    }

    void end_episode(std::map<std::string, BackoffEpisode>::iterator it, TimeMs when) {
        it->second.end = when;
        episodes.push_back(std::move(it->second));
        open_episodes.erase(it);
    }

    void malformed_line(std::string_view source, std::uint64_t line_no, std::string reason) {
        ++malformed;
        if (problems.size() < k_max_problem_examples)
            problems.push_back({std::string(source), line_no, std::move(reason)});
    }

    void tally(std::unordered_map<std::string, std::uint64_t>& table, const std::string& key) {
        if (auto* n = slot(table, key, capped)) ++*n;
    }

    void add(const Record& r) {
        const TimeMs when = *r.time;
        const bool blocking = is_blocking(r.would_action);
        ++messages;
        would_block += blocking;
        suppressed += r.suppressed;
        suppressed_refused += r.suppressed_refused;
        suppression_errors += r.suppression_errors;
        rate_limited += r.rate_limited;
        rate_deferred += r.rate_deferred;
        rate_errors += r.rate_errors;
        first = first ? std::min(*first, when) : when;
        last = last ? std::max(*last, when) : when;

        tally(modes, r.mode.empty() ? std::string("(none)") : r.mode);
        tally(actions, r.action);
        tally(would_actions, r.would_action);

        if (auto* counts = slot(tenants, r.tenant.empty() ? std::string("(none)") : r.tenant, capped))
            count(*counts, blocking);
        else
            count(tenants_overflow, blocking);
        if (auto* counts = slot(domains, domain_of(r), capped))
            count(*counts, blocking);
        else
            count(domains_overflow, blocking);
        // Lines written before classes and attestations were logged have neither: "(none)".
        if (auto* counts = slot(classes, r.message_class.empty() ? std::string("(none)") : r.message_class, capped))
            count(*counts, blocking);
        else
            count(classes_overflow, blocking);
        if (auto* counts = slot(bases, r.basis.empty() ? std::string("(no attestation)") : r.basis, capped))
            count(*counts, blocking);
        else
            count(bases_overflow, blocking);

        count(hours[floor_div(when, k_ms_per_hour) * k_ms_per_hour], blocking);
        // Past 1e12 µs (11 days) a latency is garbage, and llround of it could overflow.
        if (r.latency_us && *r.latency_us >= 0 && *r.latency_us < 1e12)
            latency.add(std::llround(*r.latency_us));

        // A rule hitting several targets of one message counts once; it is a monitor hit only when every
        // one of its hits in the message is.
        seen.clear();
        for (std::size_t i = 0; i < r.hit_count; ++i) {
            const HitRecord& hit = r.hits[i];
            auto same = std::find_if(seen.begin(), seen.end(),
                                     [&](std::size_t j) { return r.hits[j].rule == hit.rule; });
            if (same == seen.end()) seen.push_back(i);
        }
        for (const std::size_t i : seen) {
            const std::string& rule = r.hits[i].rule;
            bool monitor_only = true;
            for (std::size_t j = i; j < r.hit_count; ++j)
                if (r.hits[j].rule == rule && !r.hits[j].monitor) monitor_only = false;
            RuleAcc* acc = slot(rules, rule, capped);
            if (!acc) continue;
            ++acc->messages;
            const bool blocked_here = blocking && !monitor_only;
            if (monitor_only) ++acc->monitor;
            if (blocked_here) ++acc->would_block;
            auto& examples = blocked_here ? acc->blocking : acc->other;
            if (examples.size() < options.examples)
                examples.push_back({r.message_id, r.queue_id, when, blocked_here});
        }
    }
};

Aggregator::Aggregator(Options options) : m_state(std::make_unique<State>()) {
    m_state->options = options;
}

Aggregator::~Aggregator() = default;

void Aggregator::add_line(std::string_view line, std::string_view source, std::uint64_t line_no) {
    State& s = *m_state;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return; // blank: not a line
    ++s.lines;
    s.record.clear();
    LineParser parser(s.record);
    if (!nlohmann::json::sax_parse(line.begin(), line.end(), &parser)) {
        s.malformed_line(source, line_no, parser.problem.empty() ? "invalid JSON" : parser.problem);
        return;
    }
    const Record& r = s.record;
    if (!r.event.empty()) { // an event line of the daemon, not a decision
        if (r.event != "backoff" || !r.time || r.group.empty() || r.change.empty()) return;
        if ((s.options.since && *r.time < *s.options.since) || (s.options.until && *r.time >= *s.options.until))
            return;
        s.add_backoff(r);
        return;
    }
    const char* missing = !r.time               ? "time"
                          : !r.has_action       ? "action"
                          : !r.has_would_action ? "would_action"
                                                : nullptr;
    if (missing) {
        s.malformed_line(source, line_no, std::string("no ") + missing);
        return;
    }
    if ((s.options.since && *r.time < *s.options.since) || (s.options.until && *r.time >= *s.options.until)) {
        ++s.out_of_range;
        return;
    }
    s.add(r);
}

void Aggregator::add_malformed_line(std::string_view source, std::uint64_t line_no, std::string reason) {
    ++m_state->lines;
    m_state->malformed_line(source, line_no, std::move(reason));
}

void Aggregator::add_read_error(std::string message) {
    m_state->read_errors.push_back(std::move(message));
}

Report Aggregator::finish(std::vector<std::string> inputs) {
    State& s = *m_state;
    Report report;
    report.filter = s.options;
    report.inputs = std::move(inputs);
    report.first = s.first;
    report.last = s.last;
    report.lines = s.lines;
    report.messages = s.messages;
    report.malformed = s.malformed;
    report.out_of_range = s.out_of_range;
    report.malformed_examples = s.problems;
    report.read_errors = s.read_errors;
    report.modes.insert(s.modes.begin(), s.modes.end());
    report.actions = by_severity(s.actions);
    report.would_actions = by_severity(s.would_actions);
    report.would_block = s.would_block;
    report.suppressed = s.suppressed;
    report.suppressed_refused = s.suppressed_refused;
    report.suppression_errors = s.suppression_errors;
    report.rate_limited = s.rate_limited;
    report.rate_deferred = s.rate_deferred;
    report.rate_errors = s.rate_errors;

    for (auto& [rule, acc] : s.rules) {
        RuleStats stats{rule, acc.messages, acc.would_block, acc.monitor, std::move(acc.blocking)};
        for (auto& example : acc.other) {
            if (stats.examples.size() >= s.options.examples) break;
            stats.examples.push_back(std::move(example));
        }
        report.rules.push_back(std::move(stats));
    }
    std::sort(report.rules.begin(), report.rules.end(), [](const RuleStats& a, const RuleStats& b) {
        if (a.would_block != b.would_block) return a.would_block > b.would_block;
        if (a.messages != b.messages) return a.messages > b.messages;
        return a.rule < b.rule;
    });
    report.tenants = rank(s.tenants, s.tenants_overflow, s.options.top);
    report.sender_domains = rank(s.domains, s.domains_overflow, s.options.top);
    report.classes = rank(s.classes, s.classes_overflow, s.options.top);
    report.attestation_bases = rank(s.bases, s.bases_overflow, s.options.top);

    if (!s.hours.empty()) {
        const TimeMs from = s.hours.begin()->first, to = s.hours.rbegin()->first;
        if ((to - from) / k_ms_per_hour <= k_max_timeline_hours)
            for (TimeMs hour = from; hour <= to; hour += k_ms_per_hour) {
                const auto it = s.hours.find(hour);
                report.hourly.push_back({hour, it == s.hours.end() ? Counts{} : it->second});
            }
        else
            for (const auto& [hour, counts] : s.hours)
                report.hourly.push_back({hour, counts});
    }
    if (s.latency.count() > 0)
        report.latency = Latency{s.latency.count(), s.latency.percentile(0.50), s.latency.percentile(0.99),
                                 s.latency.max()};
    report.capped = s.capped;
    report.backoff = std::move(s.episodes);
    for (auto& [group, episode] : s.open_episodes)
        report.backoff.push_back(std::move(episode));
    std::stable_sort(report.backoff.begin(), report.backoff.end(),
                     [](const BackoffEpisode& a, const BackoffEpisode& b) { return a.start < b.start; });
    return report;
}

// ---- reading ---------------------------------------------------------------------------------------------

void read_log(const std::string& path, Aggregator& aggregator, const ProgressFn& progress) {
    const bool is_stdin = path == "-";
    const std::string name = is_stdin ? std::string("(stdin)") : path;
    int fd;
    do {
        fd = is_stdin ? ::dup(0) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) throw std::runtime_error(name + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw std::runtime_error(name + ": is a directory");
    }
    // gzdopen owns fd from here (stdin was dup'ed so closing it leaves fd 0 open). Plain files pass
    // through zlib untouched ("transparent" reading), so one path reads both.
    std::unique_ptr<gzFile_s, decltype(&gzclose)> gz(gzdopen(fd, "rb"), &gzclose);
    if (!gz) {
        ::close(fd);
        throw std::runtime_error(name + ": cannot open for reading");
    }
    gzbuffer(gz.get(), k_read_chunk);

    std::vector<char> chunk(k_read_chunk);
    std::string pending;   // the start of a line that continues in the next chunk
    bool overlong = false; // the current line passed k_max_line_bytes: skipped up to its newline
    std::uint64_t line_no = 0;
    Progress state;
    auto finish_line = [&](std::string_view line) {
        ++line_no;
        if (overlong) {
            aggregator.add_malformed_line(name, line_no,
                                          "longer than " + std::to_string(k_max_line_bytes) + " bytes");
            overlong = false;
        } else {
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            aggregator.add_line(line, name, line_no);
        }
        if (progress && line_no % k_progress_every_lines == 0) {
            state.bytes = static_cast<std::uint64_t>(gzoffset(gz.get()));
            state.lines = line_no;
            progress(state);
        }
    };

    for (;;) {
        const int n = gzread(gz.get(), chunk.data(), static_cast<unsigned>(chunk.size()));
        if (n < 0) {
            int code = 0;
            const char* why = gzerror(gz.get(), &code);
            aggregator.add_read_error(
                name + ": " + (code == Z_ERRNO ? std::string(std::strerror(errno)) : std::string(why)) +
                " after line " + std::to_string(line_no));
            break;
        }
        if (n == 0) {
            // A gzip file cut short ends like any other, with the reason left in gzerror.
            int code = 0;
            const char* why = gzerror(gz.get(), &code);
            if (code != Z_OK)
                aggregator.add_read_error(name + ": " + why + " after line " + std::to_string(line_no));
            break;
        }
        std::string_view data(chunk.data(), static_cast<std::size_t>(n));
        while (!data.empty()) {
            const auto newline = data.find('\n');
            const std::string_view piece = data.substr(0, newline);
            if (newline == std::string_view::npos) {
                if (!overlong) pending.append(piece);
                if (pending.size() > k_max_line_bytes) {
                    overlong = true;
                    pending.clear();
                }
                break;
            }
            if (!pending.empty() && !overlong) {
                pending.append(piece);
                finish_line(pending);
                pending.clear();
            } else {
                finish_line(piece);
            }
            data.remove_prefix(newline + 1);
        }
    }
    if (!pending.empty() || overlong) finish_line(pending); // a last line without '\n' (a write cut short)
    if (progress) {
        state.bytes = static_cast<std::uint64_t>(gzoffset(gz.get()));
        state.lines = line_no;
        state.done = true;
        progress(state);
    }
}

// ---- rendering helpers -----------------------------------------------------------------------------------

namespace {

std::string thousands(std::uint64_t n) {
    std::string digits = std::to_string(n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
    if (whole == 0) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
    return buf;
}

std::string millis(std::int64_t us) {
    char buf[32];
    std::snprintf(buf, sizeof buf, us < 10000 ? "%.2f ms" : "%.1f ms", static_cast<double>(us) / 1000.0);
    return buf;
}

std::string day_of(TimeMs when) {
    return format_time(floor_div(when, k_ms_per_day) * k_ms_per_day).substr(0, 10);
}

// "2026-11-27 06:00"
std::string hour_label(TimeMs when) {
    const std::string t = format_time(when);
    return t.substr(0, 10) + " " + t.substr(11, 5);
}

// Byte length of the leading UTF-8 sequence at s[i], 1 for a stray byte.
std::size_t utf8_length(std::string_view s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    return i + n <= s.size() ? n : 1;
}

// Log text made safe for a terminal: control characters (a message id can carry ESC sequences) become '?',
// and the result is cut to width characters with "..." .
std::string terminal_safe(std::string_view s, std::size_t width) {
    std::string out;
    std::size_t chars = 0;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_length(s, i);
        if (chars + 1 > width) {
            while (chars > 0 && chars + 3 > width) { // make room for "..."
                do
                    out.pop_back();
                while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80);
                --chars;
            }
            return out + "...";
        }
        const auto c = static_cast<unsigned char>(s[i]);
        const bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;
        if (c < 0x20 || c == 0x7F || c1)
            out += '?';
        else
            out.append(s.substr(i, n));
        i += n;
        ++chars;
    }
    return out;
}

std::size_t display_width(std::string_view s) {
    std::size_t chars = 0;
    for (std::size_t i = 0; i < s.size(); i += utf8_length(s, i))
        ++chars;
    return chars;
}

std::string pad_right(const std::string& s, std::size_t width) {
    const std::size_t w = display_width(s);
    return w >= width ? s : s + std::string(width - w, ' ');
}

std::string pad_left(const std::string& s, std::size_t width) {
    const std::size_t w = display_width(s);
    return w >= width ? s : std::string(width - w, ' ') + s;
}

std::string range_text(const Report& r) {
    if (!r.first) return "no messages";
    return format_time(*r.first) + " to " + format_time(*r.last);
}

std::string filter_text(const Report& r) {
    std::string out;
    if (r.filter.since) out += "since " + format_time(*r.filter.since);
    if (r.filter.until) out += std::string(out.empty() ? "" : ", ") + "until " + format_time(*r.filter.until);
    return out;
}

std::string example_text(const Example& e) {
    std::string out = e.message_id.empty() ? std::string("(no Message-ID)") : e.message_id;
    if (!e.queue_id.empty()) out += "  queue " + e.queue_id;
    out += "  " + format_time(e.time);
    return out;
}

// The timeline as buckets: hours, or days when hours would be too many to read (text: 48, chart: 744).
std::vector<HourCounts> timeline_buckets(const Report& r, std::size_t max_hours, bool& daily) {
    daily = r.hourly.size() > max_hours;
    if (!daily) return r.hourly;
    std::vector<HourCounts> days;
    for (const auto& h : r.hourly) {
        const TimeMs day = floor_div(h.hour, k_ms_per_day) * k_ms_per_day;
        if (days.empty() || days.back().hour != day) days.push_back({day, {}});
        days.back().counts.messages += h.counts.messages;
        days.back().counts.would_block += h.counts.would_block;
    }
    return days;
}

struct VerdictRow {
    std::string name;
    std::uint64_t taken = 0, would = 0;
};

// Every verdict seen, taken or would-be, mildest first.
std::vector<VerdictRow> verdict_rows(const Report& r) {
    std::vector<VerdictRow> rows;
    auto row_for = [&](const std::string& name) -> VerdictRow& {
        for (auto& row : rows)
            if (row.name == name) return row;
        return rows.emplace_back(VerdictRow{name});
    };
    for (const auto& [name, n] : r.actions)
        row_for(name).taken = n;
    for (const auto& [name, n] : r.would_actions)
        row_for(name).would = n;
    auto order = [](const std::string& name) {
        return std::find(k_action_order.begin(), k_action_order.end(), name) - k_action_order.begin();
    };
    std::stable_sort(rows.begin(), rows.end(),
                     [&](const VerdictRow& a, const VerdictRow& b) { return order(a.name) < order(b.name); });
    return rows;
}

constexpr std::size_t k_text_width = 100;

} // namespace

// ---- text ------------------------------------------------------------------------------------------------

std::string render_text(const Report& r) {
    std::string out;
    auto line = [&](const std::string& s) {
        out += terminal_safe(s, k_text_width);
        out += '\n';
    };
    auto heading = [&](const std::string& s) {
        out += '\n';
        line(s);
    };

    line("presend report: " + range_text(r) + " (" + std::to_string(r.inputs.size()) +
         (r.inputs.size() == 1 ? " input)" : " inputs)"));
    if (const std::string f = filter_text(r); !f.empty()) line("filter: " + f);
    line("messages " + thousands(r.messages) + ", would block " + thousands(r.would_block) + " (" +
         percent(r.would_block, r.messages) + ")");
    if (!r.modes.empty()) {
        std::string modes;
        for (const auto& [mode, n] : r.modes)
            modes += (modes.empty() ? "" : ", ") + mode + " " + thousands(n);
        line("modes: " + modes);
    }
    if (r.suppressed > 0 || r.suppression_errors > 0)
        line("suppressed recipients " + thousands(r.suppressed) + " (refused " +
             thousands(r.suppressed_refused) + ", would be refused " +
             thousands(r.suppressed - r.suppressed_refused) + "), suppression store errors " +
             thousands(r.suppression_errors));
    if (r.rate_limited > 0 || r.rate_errors > 0)
        line("rate-limited recipients " + thousands(r.rate_limited) + " (deferred " + thousands(r.rate_deferred) +
             ", would be deferred " + thousands(r.rate_limited - r.rate_deferred) + "), rate store errors " +
             thousands(r.rate_errors));
    line("lines " + thousands(r.lines) + ", malformed " + thousands(r.malformed) +
         ", outside the time filter " + thousands(r.out_of_range));
    if (r.latency)
        line("latency p50 " + millis(r.latency->p50_us) + ", p99 " + millis(r.latency->p99_us) + ", max " +
             millis(r.latency->max_us) + " (" + thousands(r.latency->samples) + " messages)");
    for (const auto& e : r.read_errors)
        line("read error: " + e);
    if (r.capped) line("note: more distinct keys than a report ranks; the rest are counted under others");

    if (r.messages > 0) {
        heading(pad_right("VERDICT", 16) + pad_left("TAKEN", 12) + pad_left("WOULD BE", 12) +
                pad_left("% WOULD", 9));
        for (const auto& row : verdict_rows(r))
            line(pad_right(terminal_safe(row.name, 15), 16) + pad_left(thousands(row.taken), 12) +
                 pad_left(thousands(row.would), 12) + pad_left(percent(row.would, r.messages), 9));

        heading(pad_right("RULE", 50) + pad_left("MESSAGES", 12) + pad_left("WOULD BLOCK", 13) +
                pad_left("MONITOR", 10));
        for (const auto& rule : r.rules)
            line(pad_right(terminal_safe(rule.rule, 49), 50) + pad_left(thousands(rule.messages), 12) +
                 pad_left(thousands(rule.would_block), 13) + pad_left(thousands(rule.monitor), 10));
        if (r.rules.empty()) line("(no rule hit)");

        auto ranking = [&](const char* title, const Ranking& ranked) {
            heading(pad_right(title, 50) + pad_left("MESSAGES", 12) + pad_left("WOULD BLOCK", 13) +
                    pad_left("BLOCKED", 10));
            auto row = [&](const std::string& key, const Counts& c) {
                line(pad_right(terminal_safe(key, 49), 50) + pad_left(thousands(c.messages), 12) +
                     pad_left(thousands(c.would_block), 13) +
                     pad_left(percent(c.would_block, c.messages), 10));
            };
            for (const auto& k : ranked.top)
                row(k.key, k.counts);
            if (ranked.others.messages > 0)
                row("others (" + thousands(ranked.others_keys) + ")", ranked.others);
        };
        ranking("TENANT", r.tenants);
        ranking("SENDER DOMAIN", r.sender_domains);
        if (!absent_only(r.classes, "(none)")) ranking("CLASS", r.classes);
        if (!absent_only(r.attestation_bases, "(no attestation)"))
            ranking("ATTESTATION BASIS", r.attestation_bases);

        bool daily = false;
        const auto buckets = timeline_buckets(r, 48, daily);
        std::uint64_t peak = 1;
        for (const auto& b : buckets)
            peak = std::max(peak, b.counts.messages);
        constexpr std::size_t k_bar = 50;
        heading(pad_right(daily ? "DAY (UTC)" : "HOUR (UTC)", 17) + pad_left("MESSAGES", 10) +
                pad_left("BLOCK", 8) + "  # would block, = delivered");
        for (const auto& b : buckets) {
            const auto len = static_cast<std::size_t>(
                std::llround(static_cast<double>(b.counts.messages) * k_bar / static_cast<double>(peak)));
            auto blocked = static_cast<std::size_t>(
                std::llround(static_cast<double>(b.counts.would_block) * k_bar / static_cast<double>(peak)));
            if (b.counts.would_block > 0 && blocked == 0) blocked = 1;
            blocked = std::min(blocked, len);
            line(pad_right(daily ? day_of(b.hour) : hour_label(b.hour), 17) +
                 pad_left(thousands(b.counts.messages), 10) + pad_left(thousands(b.counts.would_block), 8) +
                 "  " + std::string(blocked, '#') + std::string(std::max(len, blocked) - blocked, '='));
        }

        bool any_example = false;
        for (const auto& rule : r.rules)
            any_example = any_example || !rule.examples.empty();
        if (any_example) {
            heading("EXAMPLES (blocking first)");
            for (const auto& rule : r.rules) {
                if (rule.examples.empty()) continue;
                line(rule.rule);
                for (const auto& e : rule.examples)
                    line(std::string(e.would_block ? "  ! " : "    ") + example_text(e));
            }
        }
    }
    if (!r.backoff.empty()) {
        heading(pad_right("BACK-OFF (group)", 22) + pad_right("START", 25) + pad_right("END", 25) + "LOWEST");
        for (const auto& e : r.backoff) {
            line(pad_right(terminal_safe(e.group, 21), 22) + pad_right(format_time(e.start), 25) +
                 pad_right(e.end ? format_time(*e.end) : "(still backing off)", 25) + format_factor(e.lowest));
            line("  why: " + std::to_string(e.events) + " throttle events, signature " + e.signature);
            if (!e.sample.empty()) line("  e.g. " + e.sample);
        }
    }
    if (r.malformed > 0) {
        heading("MALFORMED LINES: " + thousands(r.malformed) +
                (r.malformed > r.malformed_examples.size()
                     ? " (first " + std::to_string(r.malformed_examples.size()) + ")"
                     : ""));
        for (const auto& p : r.malformed_examples)
            line(p.file + ":" + std::to_string(p.line) + ": " + p.reason);
    }
    return out;
}

// ---- JSON ------------------------------------------------------------------------------------------------

// The JSON report, one object; keys are stable (new keys may be added, none renamed):
//   report_version: 1
//   inputs: [file...]            filter: {since, until}   (RFC 3339 or null; until is exclusive)
//   range: {first, last}         (times of the earliest and latest message counted, null when none)
//   lines: {read, messages, malformed, out_of_range}
//   malformed_examples: [{file, line, reason}]   (the first few)   read_errors: [text]
//   modes: {mode: n}             actions: {action: n} (taken)       would_actions: {action: n}
//   would_block: n               (would-be verdict reject, tempfail, quarantine or discard)
//   suppressed_recipients: {total, refused, would_refuse, store_errors}   (the suppression list at RCPT TO)
//   rate_limited_recipients: {total, deferred, would_defer, store_errors} (the volume guard at RCPT TO)
//   rules: [{rule, messages, would_block, monitor, examples: [{message_id, queue_id, time, would_block}]}]
//   tenants, sender_domains, classes, attestation_bases:
//                {top: [{key, messages, would_block}], others: {keys, messages, would_block}}
//   hourly: [{hour, messages, would_block}]     (every hour from first to last, UTC)
//   latency_us: {samples, p50, p99, max} or null
//   capped: bool                 (some keys were counted under others unranked)
//   backoff: [{group, start, end (null: ongoing), lowest_factor, signature, events, sample}]
std::string render_json(const Report& r) {
    using ojson = nlohmann::ordered_json;
    auto time_or_null = [](const std::optional<TimeMs>& t) {
        return t ? ojson(format_time(*t)) : ojson(nullptr);
    };
    auto ordered = [](const std::vector<std::pair<std::string, std::uint64_t>>& table) {
        ojson out = ojson::object();
        for (const auto& [name, n] : table)
            out[name] = n;
        return out;
    };
    auto ranking = [](const Ranking& ranked) {
        ojson top = ojson::array();
        for (const auto& k : ranked.top)
            top.push_back(
                {{"key", k.key}, {"messages", k.counts.messages}, {"would_block", k.counts.would_block}});
        return ojson{{"top", top},
                     {"others",
                      {{"keys", ranked.others_keys},
                       {"messages", ranked.others.messages},
                       {"would_block", ranked.others.would_block}}}};
    };

    ojson out;
    out["report_version"] = 1;
    out["inputs"] = r.inputs;
    out["filter"] = {{"since", time_or_null(r.filter.since)}, {"until", time_or_null(r.filter.until)}};
    out["range"] = {{"first", time_or_null(r.first)}, {"last", time_or_null(r.last)}};
    out["lines"] = {{"read", r.lines},
                    {"messages", r.messages},
                    {"malformed", r.malformed},
                    {"out_of_range", r.out_of_range}};
    out["malformed_examples"] = ojson::array();
    for (const auto& p : r.malformed_examples)
        out["malformed_examples"].push_back({{"file", p.file}, {"line", p.line}, {"reason", p.reason}});
    out["read_errors"] = r.read_errors;
    out["modes"] = ojson::object();
    for (const auto& [mode, n] : r.modes)
        out["modes"][mode] = n;
    out["actions"] = ordered(r.actions);
    out["would_actions"] = ordered(r.would_actions);
    out["would_block"] = r.would_block;
    out["suppressed_recipients"] = {{"total", r.suppressed},
                                    {"refused", r.suppressed_refused},
                                    {"would_refuse", r.suppressed - r.suppressed_refused},
                                    {"store_errors", r.suppression_errors}};
    out["rate_limited_recipients"] = {{"total", r.rate_limited},
                                      {"deferred", r.rate_deferred},
                                      {"would_defer", r.rate_limited - r.rate_deferred},
                                      {"store_errors", r.rate_errors}};
    out["rules"] = ojson::array();
    for (const auto& rule : r.rules) {
        ojson examples = ojson::array();
        for (const auto& e : rule.examples)
            examples.push_back({{"message_id", e.message_id},
                                {"queue_id", e.queue_id},
                                {"time", format_time(e.time)},
                                {"would_block", e.would_block}});
        out["rules"].push_back({{"rule", rule.rule},
                                {"messages", rule.messages},
                                {"would_block", rule.would_block},
                                {"monitor", rule.monitor},
                                {"examples", examples}});
    }
    out["tenants"] = ranking(r.tenants);
    out["sender_domains"] = ranking(r.sender_domains);
    out["classes"] = ranking(r.classes);
    out["attestation_bases"] = ranking(r.attestation_bases);
    out["hourly"] = ojson::array();
    for (const auto& h : r.hourly)
        out["hourly"].push_back({{"hour", format_time(h.hour)},
                                 {"messages", h.counts.messages},
                                 {"would_block", h.counts.would_block}});
    out["latency_us"] = r.latency ? ojson{{"samples", r.latency->samples},
                                          {"p50", r.latency->p50_us},
                                          {"p99", r.latency->p99_us},
                                          {"max", r.latency->max_us}}
                                  : ojson(nullptr);
    out["capped"] = r.capped;
    out["backoff"] = ojson::array();
    for (const auto& e : r.backoff)
        out["backoff"].push_back({{"group", e.group},
                                  {"start", format_time(e.start)},
                                  {"end", time_or_null(e.end)},
                                  {"lowest_factor", e.lowest},
                                  {"signature", e.signature},
                                  {"events", e.events},
                                  {"sample", e.sample}});
    // Log text is valid UTF-8 once parsed, but a replacement beats an exception if it ever is not.
    return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// ---- HTML ------------------------------------------------------------------------------------------------

namespace {

// Everything from the log goes through here: markup characters become entities, control characters
// (invalid in HTML) become U+FFFD, and very long values are cut.
std::string esc(std::string_view s, std::size_t max_chars = k_max_shown_chars) {
    std::string out;
    out.reserve(s.size() + 16);
    std::size_t chars = 0;
    for (std::size_t i = 0; i < s.size();) {
        if (++chars > max_chars) {
            out += "\xE2\x80\xA6"; // …
            break;
        }
        const std::size_t n = utf8_length(s, i);
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F)
                out += "\xEF\xBF\xBD";
            else
                out.append(s.substr(i, n));
        }
        i += n;
    }
    return out;
}

std::string_view colour_of(std::string_view action) {
    if (action == "accept") return "#2e7d32";
    if (action == "tag") return "#1565c0";
    if (action == "quarantine") return "#ef6c00";
    if (action == "tempfail") return "#f9a825";
    if (action == "reject") return "#c62828";
    if (action == "discard") return "#6a1b9a";
    return "#757575";
}

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

// The smallest 1, 2 or 5 × 10^k at or above n: a round top for a chart's axis.
std::uint64_t nice_ceiling(std::uint64_t n) {
    std::uint64_t base = 1;
    while (true) {
        for (const std::uint64_t m : {1u, 2u, 5u})
            if (m * base >= n) return m * base;
        base *= 10;
    }
}

std::string verdict_chart(const Report& r) {
    constexpr double k_label = 90, k_bar_width = 320, k_row = 30;
    std::uint64_t peak = 1;
    for (const auto& [name, n] : r.would_actions)
        peak = std::max(peak, n);
    const double height = k_row * static_cast<double>(r.would_actions.size()) + 10;
    std::string svg =
        "<svg class=\"chart\" id=\"verdict-chart\" role=\"img\" aria-label=\"Messages by would-be verdict\" "
        "viewBox=\"0 0 520 " +
        num(height) + "\" width=\"520\" height=\"" + num(height) +
        "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
    double y = 5;
    for (const auto& [name, n] : r.would_actions) {
        const double w =
            std::max(n > 0 ? 2.0 : 0.0, k_bar_width * static_cast<double>(n) / static_cast<double>(peak));
        svg += "<g><title>" + esc(name) + ": " + thousands(n) + " messages (" + percent(n, r.messages) +
               ")</title>";
        svg += "<text x=\"" + num(k_label - 8) + "\" y=\"" + num(y + 19) + "\" text-anchor=\"end\">" +
               esc(name, 16) + "</text>";
        svg += "<rect x=\"" + num(k_label) + "\" y=\"" + num(y + 4) + "\" width=\"" + num(w) +
               "\" height=\"" + num(k_row - 8) + "\" rx=\"3\" fill=\"" + std::string(colour_of(name)) +
               "\"/>";
        svg += "<text x=\"" + num(k_label + w + 8) + "\" y=\"" + num(y + 19) + "\">" + thousands(n) + " (" +
               percent(n, r.messages) + ")</text></g>\n";
        y += k_row;
    }
    return svg + "</svg>\n";
}

// daily is set when the span is too long for one bar per hour.
std::string timeline_chart(const Report& r, bool& daily) {
    const auto buckets = timeline_buckets(r, 24 * 31, daily);
    constexpr double k_width = 1200, k_height = 280, k_left = 60, k_right = 10, k_top = 14, k_bottom = 46;
    const double plot_w = k_width - k_left - k_right, plot_h = k_height - k_top - k_bottom;
    std::uint64_t peak = 1;
    for (const auto& b : buckets)
        peak = std::max(peak, b.counts.messages);
    // Grid lines a round step apart, at most five of them above the baseline.
    const std::uint64_t step = nice_ceiling((peak + 3) / 4);
    const std::uint64_t top = (peak + step - 1) / step * step;
    const double slot_w = plot_w / static_cast<double>(std::max<std::size_t>(1, buckets.size()));
    const double bar_w = std::max(1.0, slot_w * 0.8);
    auto y_of = [&](std::uint64_t v) {
        return k_top + plot_h - plot_h * static_cast<double>(v) / static_cast<double>(top);
    };

    std::string svg =
        "<svg class=\"chart\" id=\"timeline-chart\" role=\"img\" aria-label=\"Messages and would-block "
        "messages per " +
        std::string(daily ? "day" : "hour") + "\" viewBox=\"0 0 " + num(k_width) + " " + num(k_height) +
        "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
    for (std::uint64_t v = 0; v <= top; v += step) {
        const double y = y_of(v);
        svg += "<line class=\"grid\" x1=\"" + num(k_left) + "\" x2=\"" + num(k_width - k_right) + "\" y1=\"" +
               num(y) + "\" y2=\"" + num(y) + "\"/><text class=\"axis\" x=\"" + num(k_left - 6) + "\" y=\"" +
               num(y + 4) + "\" text-anchor=\"end\">" + thousands(v) + "</text>\n";
    }
    // Labels: every day at midnight (hourly) or often enough to fit ~16 labels (daily).
    const std::size_t label_every = daily ? std::max<std::size_t>(1, buckets.size() / 16) : 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        const auto& b = buckets[i];
        const double x = k_left + slot_w * static_cast<double>(i) + (slot_w - bar_w) / 2;
        const std::string label = daily ? day_of(b.hour) : hour_label(b.hour);
        svg += "<g><title>" + label + " UTC: " + thousands(b.counts.messages) + " messages, " +
               thousands(b.counts.would_block) + " would block</title>";
        if (b.counts.messages > 0)
            svg += "<rect class=\"msgs\" x=\"" + num(x) + "\" y=\"" + num(y_of(b.counts.messages)) +
                   "\" width=\"" + num(bar_w) + "\" height=\"" +
                   num(k_top + plot_h - y_of(b.counts.messages)) + "\"/>";
        if (b.counts.would_block > 0)
            svg += "<rect class=\"block\" x=\"" + num(x) + "\" y=\"" + num(y_of(b.counts.would_block)) +
                   "\" width=\"" + num(bar_w) + "\" height=\"" +
                   num(k_top + plot_h - y_of(b.counts.would_block)) + "\"/>";
        svg += "</g>\n";
        const bool midnight = floor_div(b.hour, k_ms_per_day) * k_ms_per_day == b.hour;
        const bool labelled =
            daily ? i % label_every == 0
                  : (midnight || i == 0 || (buckets.size() <= 72 && (b.hour / k_ms_per_hour) % 6 == 0));
        if (labelled) {
            const double lx = k_left + slot_w * static_cast<double>(i);
            const bool day_label = daily || midnight || i == 0;
            const std::string text = day_label ? day_of(b.hour) : hour_label(b.hour).substr(11);
            svg += "<line class=\"tick\" x1=\"" + num(lx) + "\" x2=\"" + num(lx) + "\" y1=\"" +
                   num(k_top + plot_h) + "\" y2=\"" + num(k_top + plot_h + (day_label ? 18 : 5)) + "\"/>";
            svg += "<text class=\"axis" + std::string(day_label ? " day" : "") + "\" x=\"" + num(lx + 3) +
                   "\" y=\"" + num(k_top + plot_h + (day_label ? 32 : 16)) + "\">" + text + "</text>\n";
        }
    }
    svg += "<line class=\"baseline\" x1=\"" + num(k_left) + "\" x2=\"" + num(k_width - k_right) + "\" y1=\"" +
           num(k_top + plot_h) + "\" y2=\"" + num(k_top + plot_h) + "\"/>\n";
    return svg + "</svg>\n";
}

constexpr std::string_view k_css = R"CSS(
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --block: #c62828; --msgs: #9fb3c8; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); margin: 0; background: #f5f7fa; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 20px 48px; }
header h1 { font-size: 26px; margin: 0 0 4px; }
header p { margin: 2px 0; color: var(--muted); }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px;
          margin-top: 18px; }
h2 { font-size: 18px; margin: 0 0 10px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px;
        min-width: 150px; }
.card .n { font-size: 26px; font-weight: 650; display: block; }
.card .l { color: var(--muted); font-size: 13px; }
.card.block .n { color: var(--block); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 10px 5px 0; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { font-size: 13px; color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td code, li code { font-size: 13px; word-break: break-all; }
.share { display: inline-block; width: 120px; height: 10px; background: #eef2f7; border-radius: 3px;
         vertical-align: middle; }
.share span { display: block; height: 100%; background: var(--block); border-radius: 3px; }
svg.chart { max-width: 100%; height: auto; font-size: 13px; }
svg.chart text { fill: var(--ink); }
svg.chart .axis { fill: var(--muted); font-size: 12px; }
svg.chart .axis.day { fill: var(--ink); }
svg.chart .grid { stroke: var(--line); }
svg.chart .tick, svg.chart .baseline { stroke: var(--muted); }
svg.chart .msgs { fill: var(--msgs); }
svg.chart .block { fill: var(--block); }
.legend span { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px;
               margin: 0 4px 0 12px; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; margin-top: 18px; }
.two section { margin-top: 0; }
@media (max-width: 900px) { .two { grid-template-columns: 1fr; } }
ul.examples { margin: 4px 0 10px; padding-left: 20px; }
.muted { color: var(--muted); }
.warn { color: var(--block); }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
)CSS";

std::string share_bar(std::uint64_t part, std::uint64_t whole) {
    const double pct = whole == 0 ? 0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
    return "<span class=\"share\" title=\"" + percent(part, whole) + "\"><span style=\"width:" + num(pct) +
           "%\"></span></span>";
}

std::string ranking_table(const char* id, const char* title, const char* key_name, const Ranking& ranked) {
    std::string html = "<section id=\"" + std::string(id) + "\"><h2>" + title +
                       "</h2>\n<table><thead><tr><th>" + key_name +
                       "</th><th class=\"n\">Messages</th><th class=\"n\">Would block</th><th>Blocked "
                       "share</th></tr></thead><tbody>\n";
    auto row = [&](const std::string& key, const Counts& c, bool is_others) {
        html += "<tr><td>" + (is_others ? "<em>" + esc(key) + "</em>" : esc(key)) + "</td><td class=\"n\">" +
                thousands(c.messages) + "</td><td class=\"n\">" + thousands(c.would_block) + "</td><td>" +
                share_bar(c.would_block, c.messages) + " " + percent(c.would_block, c.messages) +
                "</td></tr>\n";
    };
    for (const auto& k : ranked.top)
        row(k.key, k.counts, false);
    if (ranked.others.messages > 0)
        row("others (" + thousands(ranked.others_keys) + ")", ranked.others, true);
    return html + "</tbody></table></section>\n";
}

} // namespace

std::string render_html(const Report& r) {
    const std::string range =
        r.first ? day_of(*r.first) + (day_of(*r.first) == day_of(*r.last) ? "" : " to " + day_of(*r.last))
                : "no messages";
    std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                       "<title>presend report: " +
                       range + "</title>\n<style>" + std::string(k_css) +
                       "</style>\n</head>\n<body>\n<main>\n";

    html += "<header>\n<h1>presend report</h1>\n<p id=\"range\">" + esc(range_text(r)) + " (UTC)</p>\n";
    if (const std::string f = filter_text(r); !f.empty()) html += "<p>Filter: " + esc(f) + "</p>\n";
    html += "<p>Inputs: ";
    for (std::size_t i = 0; i < r.inputs.size(); ++i)
        html += (i ? ", " : "") + std::string("<code>") + esc(r.inputs[i]) + "</code>";
    html += "</p>\n";
    std::string modes;
    for (const auto& [mode, n] : r.modes)
        modes += (modes.empty() ? "" : ", ") + esc(mode) + " " + thousands(n);
    html += "<div class=\"cards\">\n";
    auto card = [&](const char* id, const std::string& n, const std::string& label, const char* extra = "") {
        html += "<div class=\"card" + std::string(extra) + "\" id=\"" + id + "\"><span class=\"n\">" + n +
                "</span><span class=\"l\">" + label + "</span></div>\n";
    };
    card("total-messages", thousands(r.messages), "messages");
    card("total-would-block", thousands(r.would_block),
         "would block (" + percent(r.would_block, r.messages) + ")", " block");
    card("total-modes", modes.empty() ? "-" : modes, "mode");
    card("total-suppressed", thousands(r.suppressed),
         "suppressed recipients (" + thousands(r.suppressed_refused) + " refused, " +
             thousands(r.suppression_errors) + " store errors)");
    card("total-rate-limited", thousands(r.rate_limited),
         "rate-limited recipients (" + thousands(r.rate_deferred) + " deferred, " + thousands(r.rate_errors) +
             " store errors)");
    if (r.latency)
        card("total-latency", millis(r.latency->p50_us) + " / " + millis(r.latency->p99_us),
             "latency p50 / p99");
    card("total-malformed", thousands(r.malformed), "malformed lines");
    html += "</div>\n</header>\n";

    for (const auto& e : r.read_errors)
        html += "<p class=\"warn\">Read error: " + esc(e) + "</p>\n";
    if (r.capped)
        html += "<p class=\"warn\">More distinct keys than a report ranks: the rest are counted under "
                "others.</p>\n";

    html += "<div class=\"two\">\n<section id=\"would-verdicts\"><h2>Would-be verdicts</h2>\n" +
            verdict_chart(r) + "</section>\n";
    html +=
        "<section id=\"verdicts\"><h2>Verdicts taken and would-be</h2>\n<table><thead><tr><th>Verdict</th>"
        "<th class=\"n\">Taken</th><th class=\"n\">Would be</th></tr></thead><tbody>\n";
    for (const auto& row : verdict_rows(r))
        html += "<tr><td>" + esc(row.name) + "</td><td class=\"n\">" + thousands(row.taken) +
                "</td><td class=\"n\">" + thousands(row.would) + "</td></tr>\n";
    html += "</tbody></table>\n<p class=\"muted\">In dry-run every message is delivered: <em>would be</em> "
            "is what enforce mode would have done.</p></section>\n</div>\n";

    bool daily = false;
    const std::string timeline = timeline_chart(r, daily);
    html += "<section id=\"timeline\"><h2>Timeline, per " + std::string(daily ? "day" : "hour") +
            " (UTC)</h2>\n<p class=\"legend muted\"><span style=\"background:var(--msgs)\"></span>messages"
            "<span style=\"background:var(--block)\"></span>would block</p>\n" +
            timeline + "</section>\n";

    html +=
        "<section id=\"rules\"><h2>Rules</h2>\n<table><thead><tr><th>Rule</th><th class=\"n\">Messages</th>"
        "<th class=\"n\">Would block</th><th class=\"n\">Monitor</th><th>Share of all messages blocked by "
        "it</th></tr></thead><tbody>\n";
    for (const auto& rule : r.rules)
        html += "<tr><td><code>" + esc(rule.rule) + "</code></td><td class=\"n\">" +
                thousands(rule.messages) + "</td><td class=\"n\">" + thousands(rule.would_block) +
                "</td><td class=\"n\">" + thousands(rule.monitor) + "</td><td>" +
                share_bar(rule.would_block, r.messages) + " " + percent(rule.would_block, r.messages) +
                "</td></tr>\n";
    if (r.rules.empty()) html += "<tr><td colspan=\"5\" class=\"muted\">No rule hit.</td></tr>\n";
    html += "</tbody></table></section>\n";

    html += "<div class=\"two\">\n" + ranking_table("tenants", "Tenants", "Tenant", r.tenants) +
            ranking_table("sender-domains", "Sender domains", "Domain", r.sender_domains) + "</div>\n";
    if (!absent_only(r.classes, "(none)") || !absent_only(r.attestation_bases, "(no attestation)"))
        html += "<div class=\"two\">\n" + ranking_table("classes", "Message classes", "Class", r.classes) +
                ranking_table("attestation-bases", "Consent attestations", "Basis", r.attestation_bases) +
                "</div>\n";

    html += "<section id=\"examples\"><h2>Examples</h2>\n<p class=\"muted\">Messages each rule hit, the "
            "ones it would have blocked first: look them up by Message-ID or queue id.</p>\n";
    for (const auto& rule : r.rules) {
        if (rule.examples.empty()) continue;
        html += "<h3><code>" + esc(rule.rule) + "</code></h3>\n<ul class=\"examples\">\n";
        for (const auto& e : rule.examples)
            html += "<li>" +
                    std::string(e.would_block ? "<strong class=\"warn\">would block</strong> " : "") +
                    "<code>" + esc(e.message_id.empty() ? "(no Message-ID)" : e.message_id) +
                    "</code> queue <code>" + esc(e.queue_id) + "</code> " + format_time(e.time) + "</li>\n";
        html += "</ul>\n";
    }
    html += "</section>\n";

    if (!r.backoff.empty()) {
        html += "<section id=\"backoff\"><h2>Back-off episodes</h2>\n<p class=\"muted\">Destination groups "
                "slowed because they answered with throttling replies (Postfix's log).</p>\n<table>\n"
                "<tr><th>group</th><th>start</th><th>end</th><th>lowest factor</th><th>why</th></tr>\n";
        for (const auto& e : r.backoff)
            html += "<tr><td>" + esc(e.group) + "</td><td>" + format_time(e.start) + "</td><td>" +
                    (e.end ? format_time(*e.end) : std::string("still backing off")) + "</td><td>" +
                    format_factor(e.lowest) + "</td><td>" + std::to_string(e.events) + " events, <code>" +
                    esc(e.signature) + "</code><br><small>" + esc(e.sample) + "</small></td></tr>\n";
        html += "</table></section>\n";
    }
    html += "<section id=\"malformed\"><h2>Malformed lines: " + thousands(r.malformed) + "</h2>\n";
    if (r.malformed > 0) {
        html += "<ul>\n";
        for (const auto& p : r.malformed_examples)
            html += "<li><code>" + esc(p.file) + ":" + std::to_string(p.line) + "</code> " + esc(p.reason) +
                    "</li>\n";
        if (r.malformed > r.malformed_examples.size())
            html += "<li class=\"muted\">and " + thousands(r.malformed - r.malformed_examples.size()) +
                    " more</li>\n";
        html += "</ul>\n";
    } else {
        html += "<p class=\"muted\">None: every line of the log was a decision.</p>\n";
    }
    html += "<p class=\"muted\">" + thousands(r.lines) + " lines read, " + thousands(r.out_of_range) +
            " outside the time filter.</p></section>\n";
    html += "<footer>presend " PRESEND_VERSION " report</footer>\n</main>\n</body>\n</html>\n";
    return html;
}

} // namespace presend::report
