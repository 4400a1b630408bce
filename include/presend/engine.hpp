// engine: the message path. parse → inspect → decide, with the same code for the daemon and the CLI.
// Thread-safe: a RuleSet is immutable; per-scan Hyperscan scratch comes from the RuleSet's pool.
#pragma once

#include "presend/envelope.hpp"
#include "presend/message.hpp"
#include "presend/ruleset.hpp"
#include "presend/verdict.hpp"

#include <chrono>
#include <cstddef>
#include <string_view>

namespace presend {

struct ParseLimits {
    std::size_t max_mime_depth = 32; // deeper nesting is an attack, not mail
    std::size_t max_parts = 500;     // more parts than any real newsletter; beyond: "too-many-parts"
};

// Raw RFC 5322 message (CRLF or LF) → ParsedMessage. Malformed input gives facts, never an exception.
ParsedMessage parse_message(std::string_view raw, const ParseLimits& limits = {});

// Runs every rule of the set; returns the hits in rule order.
std::vector<Hit> inspect(const RuleSet& rules, const ParsedMessage& message, const Envelope& envelope);

// Hits + policy + mode → Verdict. In dry-run the applied action is accept; would_action keeps the verdict.
Verdict decide(const RuleSet& rules, std::vector<Hit> hits, Mode mode);

// Time spent in each stage of one evaluate(), for the daemon's latency metrics.
struct StageTimes {
    std::chrono::microseconds parse{0}, inspect{0}, decide{0};
};

// parse + inspect + decide; times, when given, receives how long each took.
Verdict evaluate(const RuleSet& rules, const Envelope& envelope, std::string_view raw, Mode mode,
                 StageTimes* times = nullptr);

} // namespace presend
