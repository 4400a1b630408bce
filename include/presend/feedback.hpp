// feedback: what the receiving side says about our sending, read from Postfix's own log. A delivery line
// deferred with a throttling reply (Microsoft "temporarily rate limited", Yahoo TSS04, Gmail 4.7.28...)
// is a throttle event for a destination group (microsoft, google, yahoo...); enough of them within a window
// put the group into back-off, and Backoff::factor() tells the rate limiter how much to slow it down.
// Read by the daemon's log follower (daemon/feedback_follower.cpp) and `presend feedback replay`.
// Standard library only; every time comes from the caller, so tests and replays control the clock.
// See docs/feedback.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace presend {

class DestinationGroups; // presend/rates.hpp

using SystemTime = std::chrono::system_clock::time_point;

// A reply text that means "you are sending too fast": name it as metrics and logs show it, and an
// ECMAScript regex, matched case-insensitively anywhere in the remote server's reply.
struct ThrottleSignature {
    std::string name;
    std::string regex;
    bool operator==(const ThrottleSignature&) const = default;
};

// The shipped signatures, most specific first (the first that matches names the event).
const std::vector<ThrottleSignature>& default_throttle_signatures();

// How a group backs off and recovers. Durations are whole seconds.
struct BackoffSettings {
    std::size_t threshold = 5;                  // throttle events within window that start a back-off
    std::chrono::seconds window{600};           // the sliding window they are counted in
    std::vector<double> curve{0.5, 0.25, 0.1};  // factors, one step down per further burst; each in (0,1)
    std::chrono::seconds hold{1800};            // no recovery before this long after a step down
    std::chrono::seconds recover_every{900};    // then the factor grows this often while no event comes
    double recover_factor = 1.5;                // ... by this much, until 1.0, where the back-off ends
    bool operator==(const BackoffSettings&) const = default;
};

// The `feedback:` section of presend.yaml (engine/feedback_config.cpp).
struct FeedbackConfig {
    std::string log; // the Postfix log the daemon follows; "" turns the follower off
    BackoffSettings backoff;
    std::vector<ThrottleSignature> signatures; // the config's own, tried before the shipped ones
    bool default_signatures = true;            // false: only the config's own
    bool operator==(const FeedbackConfig&) const = default;
};

// One Postfix log line that reports a remote server's answer to a delivery attempt.
struct DeliveryReport {
    std::optional<SystemTime> time; // the line's time stamp; syslog's "Nov 27 10:00:01" read as local time
    std::string queue_id;
    std::string recipient; // "" for a connection-level line ("host X refused to talk to me: ...")
    std::string domain;    // of the recipient, lower case
    std::string relay;     // "mx.example.com[192.0.2.1]:25" as logged; the host of a connection-level line
    std::string relay_host; // "mx.example.com", lower case
    std::string dsn;        // "4.7.650"; "" when the line has none
    std::string status;     // "deferred", "bounced", "sent"...; "" for a connection-level line
    std::string reply;      // the server's reply, "451 4.7.650 The mail server ...", continuations joined
    bool throttling = false;
    std::string signature;  // the signature that matched, when throttling
};

// The compiled signatures. Immutable once built; safe to share between threads (std::regex matching is
// const).
class SignatureSet {
  public:
    // Throws std::regex_error for a bad regex; the config reader checks them first, with file:line:col.
    explicit SignatureSet(const std::vector<ThrottleSignature>& signatures);
    // The config's signatures, then the shipped ones unless config.default_signatures is false.
    static SignatureSet from_config(const FeedbackConfig& config);

    // The name of the first signature matching reply, or nullopt.
    std::optional<std::string> match(std::string_view reply) const;
    std::size_t size() const;

  private:
    struct Compiled;
    std::shared_ptr<const std::vector<Compiled>> m_compiled; // <regex> stays out of this header
};

// Reads one Postfix log line: an smtp/lmtp delivery record ("QUEUEID: to=<rcpt>, relay=..., dsn=...,
// status=deferred (host ... said: 451 ...)") or a connection-level one ("QUEUEID: host H[IP] refused to
// talk to me: 421 ..." / "said: 421 ..."), with a traditional or RFC 3339 syslog time stamp. nullopt for
// any other line. throttling is set only for a temporary (4xx) reply that a signature matches on a line
// that did not deliver or bounce: a mailbox that is full, a refused connection, a DNS failure or a 5xx
// bounce never counts. now gives the year of a traditional time stamp.
std::optional<DeliveryReport> parse_delivery_report(std::string_view line, const SignatureSet& signatures,
                                                    SystemTime now);

// How far a followed line's own time stamp may be from the time it is read and still date it: a followed
// line is read within a second or so of being written, so more means a clock or time-zone mismatch (a
// syslog stamp written in another zone, a log host whose clock is off) and the read time is the better
// guess. Ten minutes also covers a follower catching up after a stall.
constexpr std::chrono::minutes k_max_log_skew{10};

// The time of a followed line: its own time stamp (report.time) when it is within k_max_log_skew of read,
// else read.
SystemTime followed_line_time(std::optional<SystemTime> stamped, SystemTime read);

// The group of a throttle event, from the `rates:` destination groups (presend/rates.hpp): its recipient
// domain's group; failing that (a connection-level line, a domain hosted at a provider, a domain no group
// names) the group whose MX suffixes match the relay; failing that the recipient domain itself, so a
// throttling regional provider backs off too. "" when it cannot be told (no recipient, unknown relay).
std::string group_of(const DeliveryReport& report, const DestinationGroups& groups);

// Why a group is backing off, for logs, the decision log and the report. No recipient local parts: the
// sample line has them masked ("to=<***@hotmail.com>") and is cut at k_max_sample_chars.
struct BackoffReason {
    std::string signature;    // of the event that completed the burst
    std::size_t events = 0;   // throttle events in the window when it did
    std::string sample;       // that event's log line
    SystemTime since{};       // when the episode began
    SystemTime last_event{};  // the latest throttle event of the episode
};

constexpr std::size_t k_max_sample_chars = 300; // a log line's useful part; replies can run to kilobytes

// "to=<john@x.com>" → "to=<***@x.com>", cut to k_max_sample_chars.
std::string mask_log_line(std::string_view line);

// A change of a group's factor, as Backoff::record() and advance() report them.
struct BackoffChange {
    enum class Kind { enter, down, up, clear };
    Kind kind = Kind::enter;
    std::string group;
    double from = 1.0, to = 1.0;
    SystemTime at{};
    BackoffReason why;
};
std::string_view to_string(BackoffChange::Kind kind);

// "0.5", "0.375": up to four significant digits.
std::string format_factor(double factor);
// One line for the daemon's log and the replay timeline: "microsoft enters back-off: factor 1 → 0.5
// (5 throttle events, signature microsoft-ip-reputation, since 2026-11-27T10:04:50.000Z); sample: ...".
std::string describe(const BackoffChange& change);

// One group's state, for the report of replay, `presend rates` (through the state file) and tests.
struct GroupBackoff {
    std::string group;
    double factor = 1.0;
    std::size_t step = 0; // index into the curve of the last step down
    BackoffReason why;
    SystemTime next_recovery{}; // when the factor next grows, if no throttle event comes first
};

// Per group: a sliding window of throttle events, the back-off step, the hold and the recovery.
// Thread-safe: the follower records and advances, the rate limiter asks factor() from milter threads.
// At most k_max_groups groups are tracked at once; events of further groups are dropped (counted).
class Backoff {
  public:
    explicit Backoff(BackoffSettings settings);
    ~Backoff();
    Backoff(const Backoff&) = delete;
    Backoff& operator=(const Backoff&) = delete;

    struct Recorded {
        bool counted = false; // false: a repeat of the same message, or past k_max_groups
        std::optional<BackoffChange> change;
    };
    // One throttle event of group at event.time (must be set); line is the log line, kept masked as the
    // sample. Call advance(event.time) first so recoveries due before it are reported in order.
    // The same queue id again within k_same_message_window counts once: one deferred message with many
    // recipients at one provider is one answer, not a burst.
    Recorded record(const std::string& group, const DeliveryReport& event, std::string_view line);
    // The recovery steps due by now, in time order; a group that reaches 1.0 is cleared.
    std::vector<BackoffChange> advance(SystemTime now);
    // (0,1]: the share of its configured rate a group may use at now; 1.0 when not backing off.
    double factor(std::string_view group, SystemTime now) const;
    std::vector<GroupBackoff> snapshot(SystemTime now) const;
    std::size_t dropped_events() const;
    const BackoffSettings& settings() const { return m_settings; }

  private:
    struct Group;
    double factor_at(const Group& group, SystemTime now) const;

    BackoffSettings m_settings;
    mutable std::mutex m_mutex;
    std::map<std::string, std::unique_ptr<Group>, std::less<>> m_groups;
    std::size_t m_dropped = 0;
};

// The factor of each `rates:` destination group as the rate limiter reads it on every rate check: one atomic
// load, no lock, so a milter thread never waits for the follower or for another milter thread. The follower
// publishes each change Backoff reports (record() at once, advance() on its next turn, at most
// k_poll_interval late). The groups are fixed at construction; any other group (one named after a
// domain) reads 1.
class BackoffFactors {
  public:
    explicit BackoffFactors(const std::vector<std::string>& groups);
    double get(std::string_view group) const;
    // Ignored for a group not given at construction: no limit is scoped to it.
    void set(std::string_view group, double factor);

  private:
    std::map<std::string, std::size_t, std::less<>> m_index; // never changed after construction
    std::unique_ptr<std::atomic<double>[]> m_factors;
};

constexpr std::size_t k_max_groups = 1000; // more distinct throttling destinations than any sender has
constexpr std::chrono::seconds k_same_message_window{30};

} // namespace presend
