// inspect: runs every rule of a RuleSet over a ParsedMessage → Hits, in rule order.
// One Hyperscan scan per (database, input); header checks are plain functions; compositions last,
// over the results of the rules they name. Allocation here is per message and per hit, never per rule or
// pattern: the scan state is per thread and a reset touches only what the last message matched.
#include "presend/engine.hpp"
#include "presend/cpu_clock.hpp"

#include "engine/header_checks.hpp"
#include "engine/pattern_set.hpp"
#include "engine/scan_inputs.hpp"
#include "engine/worker_cache.hpp"

#include <algorithm>
#include <cctype>

namespace presend {

namespace {

using detail::utf8_start;

constexpr std::size_t k_context_before = 40; // bytes of text shown before a match's end in a hit detail
constexpr std::size_t k_max_detail = 120;

constexpr char k_fired = 1;
constexpr char k_not_judged = 2; // it needs the body, which was not read (ParsedMessage::body_read)

// Targets whose text comes from the body.
bool reads_body(Target target) {
    switch (target) {
    case Target::subject:
    case Target::header:
    case Target::headers:
        return false;
    case Target::text:
    case Target::html:
    case Target::body:
    case Target::footer:
    case Target::url:
    case Target::url_domain:
    case Target::attachment_name:
        return true;
    }
    return true;
}

// Rules whose result depends on the body: patterns over its text, HTML or links, and the link check.
bool needs_body(const Rule& rule) {
    if (rule.kind == RuleKind::regex || rule.kind == RuleKind::phrases) return reads_body(rule.target);
    return rule.kind == RuleKind::check && rule.check == Check::link_domain_mismatch;
}

// Per-message scan state, reused by the thread so a message costs no allocation per rule.
struct ScanState {
    std::vector<std::uint32_t> pattern_hits; // per pattern id
    std::vector<std::uint32_t> rule_count;   // per rule: matches (regex) or distinct phrases
    std::vector<std::string> rule_detail;    // per rule: first match in context
    std::vector<std::uint32_t> touched_rules;
    std::vector<std::uint32_t> touched_patterns; // so a reset costs the matches, not the patterns
    std::vector<char> fired;                     // per rule, in the second pass: k_fired, k_not_judged or 0
    const std::vector<detail::PatternRef>* patterns = nullptr;
    const std::vector<std::uint32_t>* pattern_ids = nullptr; // of the database being scanned
    const std::vector<Rule>* rules = nullptr;
    std::string_view input;

    void reset(std::size_t n_patterns, std::size_t n_rules) {
        for (auto r : touched_rules) {
            rule_count[r] = 0;
            rule_detail[r].clear();
        }
        touched_rules.clear();
        if (pattern_hits.size() != n_patterns) {
            pattern_hits.assign(n_patterns, 0);
        } else {
            for (auto p : touched_patterns)
                pattern_hits[p] = 0;
        }
        touched_patterns.clear();
        if (rule_count.size() != n_rules) {
            rule_count.assign(n_rules, 0);
            rule_detail.assign(n_rules, {});
        }
        fired.assign(n_rules, 0); // within its capacity after the first message of this rule count
    }
};

std::string context(std::string_view input, std::size_t end) {
    end = std::min(end, input.size());
    const std::size_t begin = utf8_start(input, end > k_context_before ? end - k_context_before : 0);
    std::string out = begin > 0 ? "…" : "";
    for (char c : input.substr(begin, end - begin))
        out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
    return out;
}

int on_match(unsigned int id, unsigned long long, unsigned long long to, unsigned int, void* ctx) {
    auto* state = static_cast<ScanState*>(ctx);
    id = (*state->pattern_ids)[id]; // database-local → CompiledPatterns::patterns()
    const auto& ref = (*state->patterns)[id];
    if (ref.length > 0 && !detail::whole_word_match(ref, state->input, static_cast<std::size_t>(to))) return 0;
    const Rule& rule = (*state->rules)[ref.rule];
    const bool first_of_pattern = state->pattern_hits[id]++ == 0;
    if (first_of_pattern) state->touched_patterns.push_back(id);
    if (rule.kind == RuleKind::regex || first_of_pattern) {
        if (state->rule_count[ref.rule]++ == 0) {
            state->touched_rules.push_back(ref.rule);
            state->rule_detail[ref.rule] = context(state->input, static_cast<std::size_t>(to));
        }
    }
    return 0; // scratch is not re-entrant: never scan from inside this callback
}

std::string target_name(const Rule& rule) {
    if (rule.kind == RuleKind::header_present || rule.kind == RuleKind::header_absent ||
        (rule.kind != RuleKind::check && rule.target == Target::header))
        return "header:" + rule.header_name;
    switch (rule.kind) {
    case RuleKind::check:
        switch (rule.check) {
        case Check::list_unsubscribe:
            return "header:List-Unsubscribe";
        case Check::list_unsubscribe_post:
            return "header:List-Unsubscribe-Post";
        case Check::from:
        case Check::from_display_name:
            return "header:From";
        case Check::message_id:
            return "header:Message-ID";
        case Check::date:
            return "header:Date";
        case Check::link_domain_mismatch:
            return "url";
        }
        return "message";
    case RuleKind::regex:
    case RuleKind::phrases:
        return std::string(to_string(rule.target));
    case RuleKind::fact:
        return "message";
    default:
        return "rules";
    }
}

std::string run_check(const Rule& rule, const ParsedMessage& message) {
    switch (rule.check) {
    case Check::list_unsubscribe:
        return check_list_unsubscribe(message, rule.patterns.empty() ? "any" : rule.patterns.front());
    case Check::list_unsubscribe_post:
        return check_list_unsubscribe_post(message);
    case Check::from:
        return check_from(message);
    case Check::from_display_name:
        return check_from_display_name(message);
    case Check::message_id:
        return check_message_id(message);
    case Check::date:
        return check_date(message);
    case Check::link_domain_mismatch:
        return check_link_domain_mismatch(message);
    }
    return {};
}

// A rule of another class, or of a rule file the tenant does not use, is not run: it neither fires nor
// counts for the compositions that name it.
bool applies(const Rule& rule, const MessageContext& context) {
    if (rule.applies_to && *rule.applies_to != context.message_class) return false;
    if (context.rulesets && std::find(context.rulesets->begin(), context.rulesets->end(), rule.ruleset) ==
                                context.rulesets->end())
        return false;
    return true;
}

} // namespace

std::vector<Hit> inspect(const RuleSet& set, const ParsedMessage& message, const Envelope&,
                         const MessageContext& context, StageSplit* split) {
    // Its counters are sized to the rule set once per thread (and passed on to the next: worker_cache.hpp),
    // then reset in the time of the matches.
    thread_local WorkerCache<ScanState> t_state;
    ScanState& state = *t_state;
    const auto& rules = set.rules;
    const auto* patterns = set.patterns.get();
    state.reset(patterns ? patterns->patterns().size() : 0, rules.size());

    if (patterns && !patterns->databases().empty()) {
        const auto scan_start = split != nullptr ? CpuClock::now() : CpuClock::time_point{};
        state.patterns = &patterns->patterns();
        state.rules = &rules;
        auto scratch = patterns->acquire_scratch();
        for (const auto& db : patterns->databases()) {
            state.pattern_ids = &db.pattern_ids;
            detail::for_each_scan_input(db.target, message, [&](std::string_view input) {
                if (input.empty()) return;
                state.input = input;
                // Inputs are bounded by the message size cap, far below Hyperscan's 4 GiB limit.
                const auto rc = hs_scan(db.db.get(), input.data(), static_cast<unsigned>(input.size()), 0,
                                        scratch.get(), on_match, &state);
                if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) {
                    patterns->release_scratch(std::move(scratch));
                    throw std::runtime_error("hs_scan failed with code " + std::to_string(rc));
                }
            });
        }
        patterns->release_scratch(std::move(scratch));
        if (split != nullptr) split->scan += CpuClock::now() - scan_start;
    }

    std::vector<char>& fired = state.fired;
    std::vector<Hit> hits;
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const Rule& rule = rules[i];
        if (!applies(rule, context)) continue;
        if (!message.body_read && needs_body(rule)) {
            fired[i] = k_not_judged; // found or missing, it would be in the body no one read
            continue;
        }
        std::string detail;
        std::string target; // when the rule's own target_name() does not say enough
        bool fire = false;
        switch (rule.kind) {
        case RuleKind::header_present:
            if (const Header* h = message.header(rule.header_name)) {
                fire = true;
                detail = h->value.substr(0, k_max_detail);
            }
            break;
        case RuleKind::header_absent:
            fire = message.header(rule.header_name) == nullptr;
            if (fire) detail = "missing";
            break;
        case RuleKind::check:
            detail = run_check(rule, message);
            fire = !detail.empty();
            break;
        case RuleKind::fact:
            if (auto it = context.facts.find(rule.fact); it != context.facts.end()) {
                fire = true;
                detail = it->second.detail;
                target = it->second.target;
            } else {
                fire = message.facts.count(rule.fact) > 0;
                if (fire) detail = rule.fact;
            }
            break;
        case RuleKind::regex:
        case RuleKind::phrases:
            fire = state.rule_count[i] >= rule.min_count;
            if (rule.absent) {
                fire = !fire;
                if (fire) detail = "not found in " + std::string(to_string(rule.target));
            } else if (fire) {
                detail = state.rule_detail[i];
                if (rule.min_count > 1)
                    detail += " (" + std::to_string(state.rule_count[i]) +
                              (rule.kind == RuleKind::phrases ? " distinct phrases)" : " matches)");
            }
            break;
        case RuleKind::all:
        case RuleKind::any:
        case RuleKind::none: {
            std::size_t count = 0;
            std::size_t not_judged = 0;
            std::string names;
            // Children precede their composition (rule_loader orders them), so they are decided already.
            for (auto j : rule.child_rules) {
                if (fired[j] == k_fired) {
                    ++count;
                    names += (names.empty() ? "" : ", ") + rules[j].id;
                }
                if (fired[j] == k_not_judged) ++not_judged;
            }
            if (rule.kind == RuleKind::all) fire = count == rule.children.size();
            if (rule.kind == RuleKind::any) fire = count > 0;
            if (rule.kind == RuleKind::none) fire = count == 0 && not_judged == 0;
            // A child not judged could have gone either way: the composition is not judged either when
            // that child alone could change its result ("none of them fired" says nothing then).
            const bool undecided = rule.kind == RuleKind::all ? count + not_judged == rule.children.size()
                                                              : count == 0;
            if (!fire && not_judged > 0 && undecided) {
                fired[i] = k_not_judged;
                continue;
            }
            detail = rule.kind == RuleKind::none
                         ? "none of " + std::to_string(rule.children.size()) + " fired"
                         : names;
            break;
        }
        }
        if (!fire) continue;
        fired[i] = k_fired;
        if (detail.size() > k_max_detail) detail = detail.substr(0, utf8_start(detail, k_max_detail)) + "…";
        hits.push_back(Hit{rule.id, target.empty() ? target_name(rule) : std::move(target), std::move(detail),
                           rule.score, rule.action, rule.reply, rule.monitor});
    }
    return hits;
}

} // namespace presend
