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
    if (verdict.would_action < limits.on_limit) {
        verdict.would_action = limits.on_limit;
        verdict.reply = "Message exceeds an outbound compliance inspection limit (" +
                        std::string(passed.front().key) + ")";
    }
    if (verdict.mode == Mode::enforce && verdict.action < limits.on_limit) verdict.action = limits.on_limit;
    return passed;
}

} // namespace presend
