// limits: see presend/limits.hpp.
#include "presend/limits.hpp"

#include <algorithm>

namespace presend {

std::vector<LimitFact> limits_passed(const std::vector<std::string>& notes) {
    std::vector<LimitFact> passed;
    for (const auto& limit : k_limit_facts)
        if (std::find(notes.begin(), notes.end(), limit.fact) != notes.end()) passed.push_back(limit);
    return passed;
}

std::vector<LimitFact> apply_limits(Verdict& verdict, const Limits& limits,
                                    std::chrono::steady_clock::duration parse_and_inspect) {
    const auto noted = [&](std::string_view fact) {
        return std::find(verdict.notes.begin(), verdict.notes.end(), fact) != verdict.notes.end();
    };
    // The parser checks the budget between parts; inspection is checked here, once it is over.
    if (parse_and_inspect > std::chrono::milliseconds(limits.time_budget_ms)) {
        for (std::string_view fact : {std::string_view("time-budget-exceeded"), k_limit_exceeded_fact})
            if (!noted(fact)) verdict.notes.emplace_back(fact);
    }
    auto passed = limits_passed(verdict.notes);
    if (passed.empty()) return passed;
    // The rules read part of the message: one that asks for something absent may fire only because the
    // part carrying it was not read. A partial read delays at most, never refuses for good or drops.
    const Action ruled = std::min(verdict.would_action, Action::tempfail);
    const Action least = std::max(ruled, limits.on_limit);
    if (least != verdict.would_action) // raised to on_limit or held back from a refusal
        verdict.reply = "Message exceeds an outbound compliance inspection limit (" +
                        std::string(passed.front().key) + ")";
    verdict.would_action = least;
    if (verdict.mode == Mode::enforce) verdict.action = least;
    return passed;
}

void apply_oversize(Verdict& verdict, const Limits& limits, bool headers_truncated) {
    // judge() copied the fact parse_headers_only() set into the notes; a message judged without it gets it here.
    if (std::find(verdict.notes.begin(), verdict.notes.end(), k_oversize_fact) == verdict.notes.end())
        verdict.notes.emplace_back(k_oversize_fact);
    if (headers_truncated) verdict.notes.emplace_back("headers-truncated");
    const Action least = limits.on_oversize;
    if (verdict.would_action < least) {
        verdict.would_action = least;
        verdict.reply = "Message too large for outbound compliance inspection";
    }
    if (verdict.mode == Mode::enforce && verdict.action < least) verdict.action = least;
}

} // namespace presend
