// report: decision logs → Report (what was done and what would have been done, by rule, tenant, sender
// domain and hour) → a terminal table, one JSON object or one self-contained HTML page.
// Called by `presend report`. Streams line by line: memory grows with the distinct rules, tenants, domains
// and hours seen, never with the number of lines; keys past k_max_distinct_keys are counted as "others".
// A malformed line is counted and located (the first few), never fatal. Back-off event lines (from the
// feedback follower) become back-off episodes per destination group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace presend::report {

using TimeMs = std::int64_t; // milliseconds since the Unix epoch, UTC

// "2026-11-27T06:13:08.270Z" or with an offset ("+01:00"); seconds and fraction optional.
std::optional<TimeMs> parse_rfc3339(std::string_view text);
// --since / --until: an RFC 3339 time, a date (its midnight UTC), "now", or a span back from now:
// "90m", "24h", "7d", "2w".
std::optional<TimeMs> parse_time_arg(std::string_view text, TimeMs now);
// "2026-11-27T06:13:08.270Z"; whole seconds drop the fraction.
std::string format_time(TimeMs when);

// A message would have been blocked when its would-be verdict stops or holds it.
bool is_blocking(std::string_view action);

struct Options {
    std::optional<TimeMs> since; // inclusive
    std::optional<TimeMs> until; // exclusive
    std::size_t examples = 3;    // example messages kept per rule
    std::size_t top = 20;        // tenants and sender domains listed before "others"
};

struct Counts {
    std::uint64_t messages = 0;
    std::uint64_t would_block = 0;
};

struct Example {
    std::string message_id;
    std::string queue_id;
    TimeMs time = 0;
    bool would_block = false;
};

struct RuleStats {
    std::string rule;
    std::uint64_t messages = 0; // messages it hit (a rule hitting twice in one message counts once)
    std::uint64_t would_block =
        0;                     // of those, messages whose would-be verdict blocks, the hit not a monitor one
    std::uint64_t monitor = 0; // messages where its hit was a monitor (trial) hit
    std::vector<Example> examples; // blocking examples first
};

struct KeyCounts {
    std::string key;
    Counts counts;
};

// The busiest keys by messages, then the rest folded into one line.
struct Ranking {
    std::vector<KeyCounts> top;
    Counts others;
    std::uint64_t others_keys = 0; // distinct keys folded into others (a lower bound when capped)
};

struct HourCounts {
    TimeMs hour = 0; // start of the hour
    Counts counts;
};

struct LineProblem {
    std::string file;
    std::uint64_t line = 0;
    std::string reason;
};

struct Latency {
    std::uint64_t samples = 0;
    std::int64_t p50_us = 0; // within 1% (log-linear histogram)
    std::int64_t p99_us = 0;
    std::int64_t max_us = 0;
};

// A destination group's back-off, from the event lines the feedback follower writes into the decision log
// (presend/decision_log.hpp, backoff_event_json): from "enter" to "clear".
struct BackoffEpisode {
    std::string group;
    TimeMs start = 0;
    std::optional<TimeMs> end; // none: still backing off at the end of the logs read
    double lowest = 1.0;       // the lowest factor it reached
    std::string signature;     // why it began: the signature, the throttle events and a (masked) sample line
    std::uint64_t events = 0;
    std::string sample;
};

struct Report {
    Options filter;
    std::vector<std::string> inputs;
    std::optional<TimeMs> first, last; // times of the earliest and latest message counted
    std::uint64_t lines = 0;           // non-blank lines read
    std::uint64_t messages = 0;        // well-formed lines inside --since/--until
    std::uint64_t malformed = 0;
    std::uint64_t out_of_range = 0;              // well-formed lines outside --since/--until
    std::vector<LineProblem> malformed_examples; // the first k_max_problem_examples
    std::vector<std::string> read_errors;        // inputs that ended early (truncated gzip, I/O error)
    std::map<std::string, std::uint64_t> modes;
    std::vector<std::pair<std::string, std::uint64_t>> actions;       // taken, mildest first
    std::vector<std::pair<std::string, std::uint64_t>> would_actions; // would be, mildest first
    std::uint64_t would_block = 0;
    // Recipients the suppression list refused at RCPT TO or would have (dry-run), and those it could not check.
    std::uint64_t suppressed = 0, suppressed_refused = 0, suppression_errors = 0;
    // Recipients over a sending rate at RCPT TO (deferred in enforce, recorded in dry-run), and rate store errors.
    std::uint64_t rate_limited = 0, rate_deferred = 0, rate_errors = 0;
    std::vector<RuleStats> rules;   // most would-block first, then most messages, then by id
    Ranking tenants;                // no tenant is "(none)"
    Ranking sender_domains;         // "<>" is "(null sender)"
    Ranking classes;                // bulk, transactional; "(none)" in logs from before classes
    Ranking attestation_bases;      // the verified attestation's basis; "(no attestation)"
    std::vector<HourCounts> hourly; // every hour from first to last, empty hours included
    std::optional<Latency> latency;
    bool capped = false; // some keys went to "others" unranked because of k_max_distinct_keys
    std::vector<BackoffEpisode> backoff; // by start time; event lines are not messages and count in no table
};

// Counts well-formed lines into a Report. Not thread-safe; one per report.
class Aggregator {
public:
    explicit Aggregator(Options options);
    ~Aggregator();
    Aggregator(const Aggregator&) = delete;
    Aggregator& operator=(const Aggregator&) = delete;

    // One line without its '\n'; source and line_no locate it when it is malformed.
    void add_line(std::string_view line, std::string_view source, std::uint64_t line_no);
    // A line the reader could not hand over whole (longer than the line limit).
    void add_malformed_line(std::string_view source, std::uint64_t line_no, std::string reason);
    void add_read_error(std::string message);
    Report finish(std::vector<std::string> inputs);

private:
    struct State;
    std::unique_ptr<State> m_state;
};

struct Progress {
    std::uint64_t bytes = 0; // of this input read so far (compressed bytes for gzip)
    std::uint64_t lines = 0; // of this input read so far
    bool done = false;
};
using ProgressFn = std::function<void(const Progress&)>;

// Feeds one input to the aggregator: "-" is stdin; gzip is recognised by its content, so rotated
// "decisions.jsonl.2.gz" and plain files read alike. Throws std::runtime_error when it cannot be opened;
// a read error part-way is recorded (add_read_error) and the lines read until then still count.
// progress, when given, is called every few thousand lines and once at the end.
void read_log(const std::string& path, Aggregator& aggregator, const ProgressFn& progress = {});

std::string render_text(const Report& report);
std::string render_json(const Report& report);
std::string render_html(const Report& report);

} // namespace presend::report
