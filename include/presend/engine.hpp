// engine: the message path. parse → inspect → decide, with the same code for the daemon and the CLI.
// Thread-safe: a RuleSet is immutable; per-scan Hyperscan scratch comes from the RuleSet's pool.
#pragma once

#include "presend/config.hpp"
#include "presend/envelope.hpp"
#include "presend/limits.hpp"
#include "presend/message.hpp"
#include "presend/ruleset.hpp"
#include "presend/verdict.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace presend {

// Where the time inside parse_message and inspect goes, for `presend bench`. Passed by pointer; the daemon
// passes none, which costs one branch per HTML part and per message.
struct StageSplit {
    std::chrono::nanoseconds html{0}; // parse_message: HTML parts to visible text and links
    std::chrono::nanoseconds scan{0}; // inspect: the Hyperscan scans (the rest is header checks and facts)
};

// Raw RFC 5322 message (CRLF or LF) → ParsedMessage. Malformed input gives facts, never an exception.
// Past one of limits (headers, MIME structure, decoded text, links, time_budget_ms from this call) it
// keeps what it read so far and sets that limit's fact and "limit-exceeded" (presend/limits.hpp).
// split, when given, receives the time spent on HTML.
ParsedMessage parse_message(std::string_view raw, const Limits& limits = {}, StageSplit* split = nullptr);

// The same into `out`, for a caller that parses message after message (the daemon's threads, `presend
// bench`): whatever `out` held is cleared, and its elements' strings and vectors are kept by the calling
// thread and reused for this message and the next, so a steady stream of mail does not allocate them again
// (past 1 MiB kept per thread the rest is freed). The result is the same as the by-value parse_message's.
void parse_message(std::string_view raw, ParsedMessage& out, const Limits& limits = {},
                   StageSplit* split = nullptr);

// Past max_message_bytes the body is not read (docs/limits.md): the header block alone (MessageBuilder::
// headers_only()) is parsed into `out` as parse_message() parses it, with `body_read` false and the fact
// `oversize`. A multipart the headers announce is not malformed for having no parts: its body is unknown,
// not empty, and inspect() leaves out the rules that need the body (patterns on a body target, found or
// absent, and the link check) and the compositions they could change, so a compliant message is not
// refused for a footer no one read. Its verdict is then raised to at least limits.on_oversize.
void parse_headers_only(std::string_view headers, ParsedMessage& out, const Limits& limits = {});

// Empties a message parsed into a reused ParsedMessage once it has been judged, its buffers kept for the next
// parse on this thread as above: what the message held past that cap is freed now rather than at the next
// message, which on an idle connection may be long in coming.
void recycle_message(ParsedMessage& message);

// What the engine knows of a message besides its content: whose it is, its class, and what the tenant
// checks found. The default is no tenant and bulk: every rule applies, no consent or sender facts.
struct MessageContext {
    std::string tenant; // id of the tenant that owns the message; empty: none
    MessageClass message_class = MessageClass::bulk;
    std::optional<Mode> mode;                         // the tenant's own mode
    std::optional<std::vector<std::string>> rulesets; // the tenant's rule files (stems); unset: all
    // Facts of the tenant checks: "consent-missing" → {"header:X-Consent-Attestation", "no header"}.
    // `fact:` rules see them like the MIME parser's facts, with this target and detail in their hits.
    struct Fact {
        std::string target;
        std::string detail;
    };
    std::map<std::string, Fact> facts;
    std::optional<ConsentRecord> consent; // the attestation that verified
    std::vector<std::string> notes;       // for the decision log: "no-tenant"
};

// What `presend check` and tests may impose instead of what the config would select.
struct ContextOptions {
    std::optional<std::string> tenant; // this tenant id (must exist in the config), not select_tenant()'s
    std::optional<MessageClass> message_class;
    std::optional<std::int64_t> now; // Unix seconds for token validity; unset: the clock
};

// Selects the tenant (select_tenant over the envelope and headers), its class, and runs the consent
// (bulk mail of a tenant with a key) and sender-authorization checks. Throws std::invalid_argument for an
// options.tenant the config does not define, std::runtime_error only when OpenSSL fails.
MessageContext message_context(const Config& config, const Envelope& envelope, const ParsedMessage& message,
                               const ContextOptions& options = {});

// Runs every rule of the set that applies to the context (its class and the tenant's rulesets); returns
// the hits in rule order. split, when given, receives the time spent in Hyperscan.
std::vector<Hit> inspect(const RuleSet& rules, const ParsedMessage& message, const Envelope& envelope,
                         const MessageContext& context = {}, StageSplit* split = nullptr);

// Hits + policy + mode → Verdict. In dry-run the applied action is accept; would_action keeps the verdict.
Verdict decide(const RuleSet& rules, std::vector<Hit> hits, Mode mode);

// Time spent in each stage of one message, for the daemon's latency metrics.
struct StageTimes {
    std::chrono::microseconds parse{0}, inspect{0}, decide{0};
};

// inspect + decide in the context's mode (else mode), with the message's facts as notes and the context's
// tenant, class and consent recorded in the verdict. times, when given, receives inspect and decide.
Verdict judge(const RuleSet& rules, const ParsedMessage& message, const Envelope& envelope,
              const MessageContext& context, Mode mode, StageTimes* times = nullptr);

// parse + inspect + decide without tenants, then apply_limits(); times, when given, receives how long
// each stage took.
Verdict evaluate(const RuleSet& rules, const Envelope& envelope, std::string_view raw, Mode mode,
                 const Limits& limits = {}, StageTimes* times = nullptr);

} // namespace presend
