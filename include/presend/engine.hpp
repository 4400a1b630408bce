// engine: the message path. parse → inspect → decide, with the same code for the daemon and the CLI.
// Thread-safe: a RuleSet is immutable; per-scan Hyperscan scratch comes from the RuleSet's pool.
#pragma once

#include "presend/envelope.hpp"
#include "presend/limits.hpp"
#include "presend/message.hpp"
#include "presend/ruleset.hpp"
#include "presend/verdict.hpp"

#include <chrono>
#include <cstddef>
#include <string_view>

namespace presend {

// Raw RFC 5322 message (CRLF or LF) → ParsedMessage. Malformed input gives facts, never an exception.
// Past one of limits (headers, MIME structure, decoded text, links, time_budget_ms from this call) it
// keeps what it read so far and sets that limit's fact and "limit-exceeded" (presend/limits.hpp).
ParsedMessage parse_message(std::string_view raw, const Limits& limits = {});

// Runs every rule of the set; returns the hits in rule order.
std::vector<Hit> inspect(const RuleSet& rules, const ParsedMessage& message, const Envelope& envelope);

// Hits + policy + mode → Verdict. In dry-run the applied action is accept; would_action keeps the verdict.
Verdict decide(const RuleSet& rules, std::vector<Hit> hits, Mode mode);

// Time spent in each stage of one evaluate(), for the daemon's latency metrics.
struct StageTimes {
    std::chrono::microseconds parse{0}, inspect{0}, decide{0};
};

// parse + inspect + decide, then apply_limits(); times, when given, receives how long each stage took.
Verdict evaluate(const RuleSet& rules, const Envelope& envelope, std::string_view raw, Mode mode,
                 const Limits& limits = {}, StageTimes* times = nullptr);

} // namespace presend
