// ruleset: the rules of one load of a rules directory, compiled and immutable.
// load_rules() (engine/rule_loader.cpp) builds it from YAML; the daemon swaps whole RuleSets on reload
// and pins one per message, so a reload never changes the rules under a message in flight.
#pragma once

#include "presend/verdict.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace presend {

namespace detail {
class CompiledPatterns; // Hyperscan databases and scratch pool (engine/pattern_set.cpp)
}

// Where a rule looks. header targets carry the header name in Rule::header_name.
// footer is the tail of the last text/plain and of the last text/html part (k_footer_chars), so a
// footer requirement cannot be met by a word buried in the middle of the message.
enum class Target { subject, header, headers, text, html, body, footer, url, url_domain, attachment_name };

std::string_view to_string(Target target);

// Built-in structural checks of a header that is present; each fires when the header fails it.
enum class Check {
    list_unsubscribe,      // List-Unsubscribe without an RFC 2369 <https:...> / <mailto:...> URI
    list_unsubscribe_post, // List-Unsubscribe-Post not exactly "List-Unsubscribe=One-Click" (RFC 8058)
    from,                  // From repeated, or not exactly one valid mailbox (RFC 5322)
    from_display_name,     // From has no display name
    message_id,            // Message-ID repeated or not <left@right>
    date,                  // Date repeated or not an RFC 5322 date
    link_domain_mismatch,  // an HTML link whose visible text names one domain while its href goes to another
};

std::string_view to_string(Check check);

enum class RuleKind { header_present, header_absent, check, fact, regex, phrases, all, any, none };

struct SourcePos {
    std::string file;
    int line = 0; // 1-based
    int column = 0;
};

struct Example {
    bool expect_match = true;
    std::string text;          // an inline message, or
    std::filesystem::path file; // an .eml file, relative to the rule file
    SourcePos pos;
    // The message is judged as if the tenant checks had reported these facts (consent-missing, ...):
    // what a fact rule needs, without keys and signed tokens in the rules directory.
    std::vector<std::string> facts;
    std::optional<MessageClass> message_class; // unset: the rule's applies_to, else bulk
};

struct Rule {
    std::string id;
    std::string description;
    std::string reply;
    SourcePos pos;
    RuleKind kind = RuleKind::check;

    std::string header_name; // header_present/absent, and regex/phrases on Target::header
    Check check = Check::list_unsubscribe;
    std::string fact; // RuleKind::fact: a ParsedMessage fact such as "malformed-mime"
    Target target = Target::body;
    std::vector<std::string> patterns; // regexes (Hyperscan syntax) or phrases
    bool caseless = false;
    unsigned min_count = 1; // regex: matches needed; phrases: distinct phrases needed
    bool absent = false;    // regex/phrases: fire when the patterns are NOT found (footer requirements)
    std::vector<std::string> children;   // all / any / none: ids of other rules
    std::vector<std::size_t> child_rules; // their indexes in RuleSet::rules, set by the loader

    double score = 0;
    std::optional<Action> action;
    bool monitor = false;
    std::vector<Example> examples;

    std::string ruleset; // the stem of its file ("10-bulk-headers"), what tenants' rulesets name
    std::optional<MessageClass> applies_to; // unset: every message; else only messages of that class
};

// Score thresholds: the total score of the (non-monitor) hits maps to an action.
struct Policy {
    std::optional<double> tag;
    std::optional<double> quarantine;
    std::optional<double> reject;
};

struct RuleSet {
    std::filesystem::path dir;
    std::vector<Rule> rules; // leaf rules first, then compositions in dependency order
    Policy policy;
    std::string version; // short hash of the rule files' contents
    std::shared_ptr<const detail::CompiledPatterns> patterns;
    std::size_t databases_from_cache = 0; // of the pattern databases, how many the cache supplied
    std::size_t databases_compiled = 0;

    const Rule* find(std::string_view id) const;
};

struct Diagnostic {
    SourcePos pos;
    std::string rule; // rule id, when known
    std::string message;
    bool warning = false;

    // "rules/bulk.yaml:12:9: rule 'spam-phrases': bad regex ..."
    std::string str() const;
};

struct LoadResult {
    std::shared_ptr<const RuleSet> rules; // null when there are errors
    std::vector<Diagnostic> diagnostics;

    bool ok() const { return rules != nullptr; }
};

// Reads every *.yaml / *.yml file of dir (sorted by name), validates and compiles. Never throws.
// cache_dir, when set, keeps compiled Hyperscan databases keyed by a hash of their patterns, so a
// restart or reload with unchanged patterns skips compiling. It must belong to this user and not be
// writable by others (a database is trusted code-like data); otherwise it is not used.
struct LoadOptions {
    std::filesystem::path cache_dir;
};

LoadResult load_rules(const std::filesystem::path& dir, const LoadOptions& options = {});

// The shipped rules: the source tree's rules/ for a binary in its build tree, else the installed copy
// (/etc/presend/rules), else the source tree's.
std::filesystem::path default_rules_dir();

} // namespace presend
