// decide: Hits + the ruleset's thresholds + the mode → Verdict. The strictest of the rules' own
// actions and the score's threshold action wins; monitor hits are recorded but never count.
#include "presend/engine.hpp"

#include <algorithm>
#include <cstdio>

namespace presend {

namespace {

std::string format_score(double score) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", score);
    return buf;
}

std::string default_reply(Action action) {
    switch (action) {
    case Action::reject:
        return "Message refused by outbound compliance policy";
    case Action::tempfail:
        return "Message deferred by outbound compliance policy, try again later";
    default:
        return {};
    }
}

} // namespace

Verdict decide(const RuleSet& rules, std::vector<Hit> hits, Mode mode) {
    Verdict verdict;
    verdict.mode = mode;
    Action action = Action::accept;
    const Hit* deciding = nullptr;
    for (const auto& hit : hits) {
        if (hit.monitor) continue;
        verdict.score += hit.score;
        if (hit.action &&
            (*hit.action > action || (!deciding && *hit.action == action && action != Action::accept))) {
            action = *hit.action;
            deciding = &hit;
        }
    }
    const auto& policy = rules.policy;
    std::optional<Action> by_score;
    if (policy.reject && verdict.score >= *policy.reject)
        by_score = Action::reject;
    else if (policy.quarantine && verdict.score >= *policy.quarantine)
        by_score = Action::quarantine;
    else if (policy.tag && verdict.score >= *policy.tag)
        by_score = Action::tag;
    if (by_score && *by_score > action) {
        action = *by_score;
        deciding = nullptr;
        const double limit = action == Action::reject       ? *policy.reject
                             : action == Action::quarantine ? *policy.quarantine
                                                            : *policy.tag;
        verdict.reply = "Message scored " + format_score(verdict.score) +
                        " against outbound compliance policy "
                        "(limit " +
                        format_score(limit) + ")";
    }
    if (deciding) verdict.reply = deciding->reply;
    if (verdict.reply.empty()) verdict.reply = default_reply(action);

    verdict.would_action = action;
    verdict.action = mode == Mode::enforce ? action : Action::accept;
    verdict.hits = std::move(hits);
    return verdict;
}

namespace {

using Clock = std::chrono::steady_clock;

std::chrono::microseconds micros(Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

} // namespace

Verdict judge(const RuleSet& rules, const ParsedMessage& message, const Envelope& envelope,
              const MessageContext& context, Mode mode, StageTimes* times) {
    const auto start = Clock::now();
    auto hits = inspect(rules, message, envelope, context);
    const auto inspected = Clock::now();
    Verdict verdict = decide(rules, std::move(hits), context.mode.value_or(mode));
    verdict.notes.assign(message.facts.begin(), message.facts.end());
    verdict.notes.insert(verdict.notes.end(), context.notes.begin(), context.notes.end());
    verdict.tenant = context.tenant;
    verdict.message_class = context.message_class;
    verdict.consent = context.consent;
    if (times) {
        times->inspect = micros(inspected - start);
        times->decide = micros(Clock::now() - inspected);
    }
    return verdict;
}

Verdict evaluate(const RuleSet& rules, const Envelope& envelope, std::string_view raw, Mode mode,
                 const Limits& limits, StageTimes* times) {
    const auto start = Clock::now();
    const ParsedMessage message = parse_message(raw, limits);
    const auto parsed = Clock::now();
    // Past the time budget in parsing, the rules still run over what was read: scanning is linear in
    // text that max_decoded_bytes bounds, and a rule that asks for more than on_limit still counts.
    auto hits = inspect(rules, message, envelope);
    const auto inspected = Clock::now();
    Verdict verdict = decide(rules, std::move(hits), mode);
    verdict.notes.assign(message.facts.begin(), message.facts.end());
    apply_limits(verdict, limits, inspected - start);
    if (times)
        *times = {micros(parsed - start), micros(inspected - parsed), micros(Clock::now() - inspected)};
    return verdict;
}

} // namespace presend
