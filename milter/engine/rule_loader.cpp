// rule_loader: a rules directory of YAML files → one compiled, immutable RuleSet.
// Called at start, on reload and by lint/check/test. Collects every error (file:line:column, rule id)
// rather than stopping at the first, so an officer fixes a file in one pass. Never throws.
#include "presend/limits.hpp"
#include "presend/ruleset.hpp"

#include "engine/file_trust.hpp"
#include "engine/names.hpp"
#include "engine/pattern_set.hpp"
#include "engine/utf8.hpp"
#include "engine/yaml_util.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace presend {

std::string Diagnostic::str() const {
    std::string out = pos.file;
    if (pos.line > 0) out += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
    out += warning ? ": warning: " : ": ";
    if (!rule.empty()) out += "rule '" + rule + "': ";
    out += message;
    return out;
}

const Rule* RuleSet::find(std::string_view id) const {
    for (const auto& rule : rules)
        if (rule.id == id) return &rule;
    return nullptr;
}

std::filesystem::path default_rules_dir() {
    // A binary run from its build tree (the tests, contrib/demo) judges by the source tree's rules, never
    // by rules an installed package left, and perhaps an officer edited, in /etc.
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    const auto in_build = exe.lexically_relative(PRESEND_BUILD_DIR);
    if (!ec && !in_build.empty() && *in_build.begin() != "..") return PRESEND_SOURCE_RULES_DIR;
    if (std::filesystem::is_directory(PRESEND_INSTALLED_RULES_DIR, ec)) return PRESEND_INSTALLED_RULES_DIR;
    return PRESEND_SOURCE_RULES_DIR;
}

namespace {

// Limits on what a rules directory may hold, to keep a typo (a log file dropped in rules/) from
// turning a reload into minutes of compiling.
constexpr std::size_t k_max_rule_files = 1000;
constexpr std::uintmax_t k_max_rule_file_bytes = 16u << 20;
constexpr std::size_t k_max_phrases_per_rule = 200000;

const std::initializer_list<std::string_view> k_rule_keys{
    "id",     "description", "reply",     "score",     "action",         "mode",          "examples",
    "target", "absent",      "flags",     "min_count", "header_present", "header_absent", "header_matches",
    "check",  "require",     "regex",     "phrases",   "phrases_file",   "all",           "any",
    "not",    "fact",        "applies_to"};
const std::initializer_list<std::string_view> k_condition_keys{
    "header_present", "header_absent", "header_matches", "check", "fact", "regex", "all", "any", "not"};
// What the MIME parser reports about a message (mime_parser.cpp); a fact rule naming another can never fire.
// The consent and sender facts come from the tenant checks (engine/consent.cpp, engine/sender_auth.cpp).
const std::initializer_list<std::string_view> k_facts{"malformed-mime",
                                                      "bad-charset",
                                                      "too-many-parts",
                                                      "mime-too-deep",
                                                      "html-too-complex",
                                                      "parse-error",
                                                      "oversize",
                                                      "consent-missing",
                                                      "consent-malformed",
                                                      "consent-bad-signature",
                                                      "consent-expired",
                                                      "consent-tenant-mismatch",
                                                      "consent-basis-not-allowed",
                                                      "consent-domain-mismatch",
                                                      "sender-domain-not-allowed",
                                                      "from-not-aligned"};

// k_facts and the facts of the limits (presend/limits.hpp), each once.
std::vector<std::string_view> known_facts() {
    std::vector<std::string_view> facts(k_facts);
    for (const auto& limit : k_limit_facts)
        if (std::find(facts.begin(), facts.end(), limit.fact) == facts.end()) facts.push_back(limit.fact);
    facts.push_back(k_limit_exceeded_fact);
    return facts;
}

class Loader {
  public:
    Loader(std::filesystem::path dir, LoadOptions options) : m_dir(std::move(dir)), m_options(std::move(options)) {}

    LoadResult run();

  private:
    void load_file(const std::filesystem::path& path);
    void load_policy(const YAML::Node& node);
    void load_rule(const YAML::Node& node);
    bool load_condition(const YAML::Node& node, Rule& rule);
    bool load_patterns(const YAML::Node& node, Rule& rule, const char* key);
    void load_examples(const YAML::Node& node, Rule& rule);
    void load_example_facts(const YAML::Node& node, const Rule& rule, Example& example);
    bool known_fact(const YAML::Node& node, const std::string& rule_id, const std::string& fact);
    void order_compositions();
    void check_never_fires();
    bool trusted(const std::filesystem::path& path, const SourcePos& pos, const std::string& rule);

    void error(const YAML::Node& node, const std::string& rule, const std::string& message,
               bool warning = false) {
        m_diagnostics.push_back({yaml::position(m_file, node), rule, message, warning});
    }
    void error_at(const SourcePos& pos, const std::string& rule, const std::string& message,
                  bool warning = false) {
        m_diagnostics.push_back({pos, rule, message, warning});
    }
    bool has_errors() const {
        return std::any_of(m_diagnostics.begin(), m_diagnostics.end(),
                           [](const auto& d) { return !d.warning; });
    }

    std::filesystem::path m_dir;
    LoadOptions m_options;
    std::filesystem::path m_path;
    std::string m_file; // as shown in diagnostics
    std::vector<Rule> m_rules;
    std::map<std::string, SourcePos> m_ids;
    std::map<std::string, std::vector<SourcePos>> m_pattern_pos; // rule id → where each YAML pattern is
    std::optional<SourcePos> m_policy_pos;
    Policy m_policy;
    std::vector<Diagnostic> m_diagnostics;
    std::uint64_t m_hash = 14695981039346656037ull; // FNV-1a over file names and contents
};

// yaml-cpp says "illegal block entry" or the like for a tab in the indentation, which editors hide.
std::string tab_hint(std::string_view text, int error_line) {
    std::size_t start = 0;
    for (int line = 0; line < error_line && start != std::string_view::npos; ++line) {
        start = text.find('\n', start);
        if (start != std::string_view::npos) ++start;
    }
    if (start == std::string_view::npos) return {};
    const auto indent = text.substr(start, text.find_first_not_of(" \t", start) - start);
    return indent.find('\t') == std::string_view::npos
               ? ""
               : " (a tab indents this line; YAML indents with spaces only)";
}

void hash_bytes(std::uint64_t& hash, std::string_view bytes) {
    for (unsigned char c : bytes) {
        hash ^= c;
        hash *= 1099511628211ull;
    }
}

LoadResult Loader::run() {
    std::error_code ec;
    if (!std::filesystem::is_directory(m_dir, ec)) {
        error_at({m_dir.string(), 0, 0}, "", "rules directory not found or not a directory");
        return {nullptr, m_diagnostics};
    }
    if (!trusted(m_dir, {m_dir.string(), 0, 0}, "")) return {nullptr, m_diagnostics};
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(m_dir, ec)) {
        const auto ext = entry.path().extension();
        if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(entry.path());
    }
    if (ec) error_at({m_dir.string(), 0, 0}, "", "cannot list rules directory: " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.size() > k_max_rule_files)
        error_at({m_dir.string(), 0, 0}, "", "more than " + std::to_string(k_max_rule_files) + " rule files");
    else
        for (const auto& file : files)
            load_file(file);

    if (m_rules.empty() && !has_errors())
        error_at({m_dir.string(), 0, 0}, "", "no rules found (expected *.yaml files with a 'rules:' list)",
                 true);

    order_compositions();
    if (!has_errors()) check_never_fires();

    std::vector<detail::PatternError> pattern_errors;
    detail::CacheStats cache;
    auto patterns = detail::CompiledPatterns::compile(m_rules, pattern_errors, m_options.cache_dir, cache);
    for (const auto& e : pattern_errors) {
        const Rule& rule = m_rules[e.rule];
        const auto what = rule.kind == RuleKind::phrases ? "bad phrase" : "bad regex";
        const std::string pattern = e.pattern < rule.patterns.size() ? rule.patterns[e.pattern] : "";
        // At the pattern itself when the YAML gave it (a list may be long); a phrases_file line at the rule.
        const auto written = m_pattern_pos.find(rule.id);
        const bool at_pattern = written != m_pattern_pos.end() && e.pattern < written->second.size();
        error_at(at_pattern ? written->second[e.pattern] : rule.pos, rule.id,
                 std::string(what) + " '" + pattern + "': " + e.message);
    }
    if (has_errors()) return {nullptr, m_diagnostics};

    auto set = std::make_shared<RuleSet>();
    set->dir = m_dir;
    set->rules = std::move(m_rules);
    set->policy = m_policy;
    set->patterns = std::move(patterns);
    set->databases_from_cache = cache.loaded;
    set->databases_compiled = cache.compiled;
    char version[17];
    std::snprintf(version, sizeof version, "%016llx", static_cast<unsigned long long>(m_hash));
    set->version = std::string(version, 12);
    return {std::move(set), m_diagnostics};
}

// Whoever can write the rules decides what mail presend refuses: refuse what is not root's or ours, or
// what others can write. A group may write (officers editing rules together).
bool Loader::trusted(const std::filesystem::path& path, const SourcePos& pos, const std::string& rule) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return true; // reading it reports what is wrong
    const auto why = untrusted_reason(st, GroupWrite::allowed);
    if (why.empty()) return true;
    // The position names the rules file; a phrases file is named here.
    const bool named = pos.file == path.string();
    error_at(pos, rule, (named ? "" : "phrases_file " + path.filename().string() + ": ") + "refused: " + why);
    return false;
}

void Loader::load_file(const std::filesystem::path& path) {
    m_path = path;
    m_file = path.string();
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec || size > k_max_rule_file_bytes) {
        error_at({m_file, 0, 0}, "", ec ? "cannot read: " + ec.message() : "file larger than 16 MiB");
        return;
    }
    if (!trusted(path, {m_file, 0, 0}, "")) return;
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    hash_bytes(m_hash, path.filename().string());
    hash_bytes(m_hash, text);
    // Messages reach the rules as UTF-8: a phrase saved as Latin-1 or Windows-1252 could never match.
    if (const auto bad = valid_utf8_prefix(text); bad != text.size()) {
        const auto line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
        const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
        const auto column = line_start == std::string::npos || bad == 0 ? bad + 1 : bad - line_start;
        char byte[8];
        std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[bad]));
        error_at({m_file, static_cast<int>(line), static_cast<int>(column)}, "",
                 std::string("not UTF-8 (byte ") + byte + "); save the file as UTF-8");
        return;
    }

    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        error_at({m_file, e.mark.line + 1, e.mark.column + 1}, "",
                 "YAML syntax error: " + e.msg + tab_hint(text, e.mark.line));
        return;
    }
    if (root.IsNull()) return;
    if (!root.IsMap()) {
        error(root, "", "expected a mapping with a 'rules:' list at the top level");
        return;
    }
    yaml::check_keys(root, {"rules", "policy"},
                     [&](const YAML::Node& key, const std::string& message) { error(key, "", message); });
    if (auto policy = root["policy"]) load_policy(policy);
    if (auto rules = root["rules"]) {
        if (!rules.IsSequence()) {
            error(rules, "", "'rules' must be a list of rules");
            return;
        }
        for (const auto& node : rules)
            load_rule(node);
    }
}

void Loader::load_policy(const YAML::Node& node) {
    const auto pos = yaml::position(m_file, node);
    if (m_policy_pos) {
        error(node, "",
              "policy already set at " + m_policy_pos->file + ":" + std::to_string(m_policy_pos->line));
        return;
    }
    m_policy_pos = pos;
    if (!node.IsMap()) {
        error(node, "", "policy: expected a mapping");
        return;
    }
    yaml::check_keys(node, {"thresholds"},
                     [&](const YAML::Node& key, const std::string& message) { error(key, "", message); });
    auto thresholds = node["thresholds"];
    if (!thresholds) return;
    if (!thresholds.IsMap()) {
        error(thresholds, "", "thresholds: expected a mapping like {tag: 5, quarantine: 10, reject: 15}");
        return;
    }
    yaml::check_keys(thresholds, {"tag", "quarantine", "reject"},
                     [&](const YAML::Node& key, const std::string& message) { error(key, "", message); });
    auto read = [&](const char* key, std::optional<double>& out) {
        if (auto n = thresholds[key]) {
            out = yaml::as_number(n);
            if (!out || *out <= 0)
                error(n, "", std::string("thresholds.") + key + ": expected a positive number");
        }
    };
    read("tag", m_policy.tag);
    read("quarantine", m_policy.quarantine);
    read("reject", m_policy.reject);
    const auto& p = m_policy;
    if ((p.tag && p.quarantine && *p.tag > *p.quarantine) ||
        (p.quarantine && p.reject && *p.quarantine > *p.reject) || (p.tag && p.reject && *p.tag > *p.reject))
        error(thresholds, "", "thresholds must rise: tag <= quarantine <= reject");
}

void Loader::load_rule(const YAML::Node& node) {
    if (!node.IsMap()) {
        error(node, "", "each rule must be a mapping with at least 'id' and 'description'");
        return;
    }
    Rule rule;
    rule.pos = yaml::position(m_file, node);
    rule.ruleset = m_path.stem().string();
    if (auto id = yaml::as_string(node["id"]); id && !id->empty()) {
        rule.id = *id;
        const bool valid = std::all_of(rule.id.begin(), rule.id.end(), [](unsigned char c) {
            return std::islower(c) || std::isdigit(c) || c == '-' || c == '_' || c == '.';
        });
        if (!valid) error(node["id"], rule.id, "id may only use a-z, 0-9, '-', '_' and '.'");
        if (auto seen = m_ids.find(rule.id); seen != m_ids.end())
            error(node["id"], rule.id,
                  "duplicate id (first defined at " + seen->second.file + ":" +
                      std::to_string(seen->second.line) + ")");
        else
            m_ids.emplace(rule.id, rule.pos);
    } else {
        error(node, "", "rule without an 'id'");
    }
    yaml::check_keys(node, k_rule_keys, [&](const YAML::Node& key, const std::string& message) {
        error(key, rule.id, message);
    });

    if (auto d = yaml::as_string(node["description"]); d && !d->empty())
        rule.description = *d;
    else
        error(node, rule.id, "missing 'description' (say what the rule enforces and why)");
    if (auto r = node["reply"]) {
        if (auto text = yaml::as_string(r))
            rule.reply = *text;
        else
            error(r, rule.id, "reply: expected a text");
    }
    if (auto s = node["score"]) {
        auto score = yaml::as_number(s);
        if (!score)
            error(s, rule.id, "score: expected a number");
        else
            rule.score = *score;
    }
    if (auto a = node["action"]) {
        auto action = parse_action(yaml::as_string(a).value_or(""));
        if (!action)
            error(a, rule.id, "action: expected one of accept, tag, quarantine, tempfail, reject, discard");
        rule.action = action;
    }
    if (auto a = node["applies_to"]) {
        const auto text = yaml::as_string(a).value_or("");
        if (text != "all") {
            rule.applies_to = parse_message_class(text);
            if (!rule.applies_to) error(a, rule.id, "applies_to: expected bulk, transactional or all");
        }
    }
    if (auto m = node["mode"]) {
        auto mode = yaml::as_string(m).value_or("");
        if (mode == "monitor")
            rule.monitor = true;
        else if (mode != "enforce")
            error(m, rule.id, "mode: expected enforce or monitor");
    }

    int conditions = (node["phrases"] || node["phrases_file"]) ? 1 : 0; // both feed one phrase list
    for (auto key : k_condition_keys)
        if (node[std::string(key)]) ++conditions;
    if (conditions == 0) {
        error(
            node, rule.id,
            "no condition: give one of header_present, header_absent, header_matches, check, fact, regex, "
            "phrases, all, any, not");
        return;
    }
    if (conditions > 1) {
        error(node, rule.id,
              "more than one condition; split it into rules and combine them with all/any/not");
        return;
    }
    if (!load_condition(node, rule)) return;
    if (auto examples = node["examples"]) load_examples(examples, rule);
    if (!rule.action && rule.score == 0 && !rule.monitor)
        error(node, rule.id, "neither action nor score: the rule can never change a verdict", true);
    m_rules.push_back(std::move(rule));
}

bool Loader::load_condition(const YAML::Node& node, Rule& rule) {
    auto header_name = [&](const YAML::Node& n) -> bool {
        auto name = yaml::as_string(n);
        if (!name || name->empty() || name->find_first_of(": \t") != std::string::npos) {
            error(n, rule.id, "expected a header name like List-Unsubscribe");
            return false;
        }
        rule.header_name = *name;
        return true;
    };
    if (auto n = node["header_present"]) {
        rule.kind = RuleKind::header_present;
        return header_name(n);
    }
    if (auto n = node["header_absent"]) {
        rule.kind = RuleKind::header_absent;
        return header_name(n);
    }
    if (auto n = node["header_matches"]) {
        if (!n.IsMap()) {
            error(n, rule.id, "header_matches: expected {name: Header-Name, regex: \"...\"}");
            return false;
        }
        yaml::check_keys(
            n, {"name", "regex", "flags"},
            [&](const YAML::Node& key, const std::string& message) { error(key, rule.id, message); });
        if (!n["name"] || !n["regex"]) {
            error(n, rule.id, "header_matches needs both 'name' and 'regex'");
            return false;
        }
        if (!header_name(n["name"])) return false;
        rule.kind = RuleKind::regex;
        rule.target = Target::header;
        if (auto f = n["flags"])
            rule.caseless = yaml::as_string(f).value_or("").find('i') != std::string::npos;
        return load_patterns(n["regex"], rule, "regex");
    }
    if (auto n = node["fact"]) {
        const auto fact = yaml::as_string(n).value_or("");
        if (!known_fact(n, rule.id, fact)) return false;
        rule.kind = RuleKind::fact;
        rule.fact = fact;
        return true;
    }
    if (auto n = node["check"]) {
        auto check = parse_check(yaml::as_string(n).value_or(""));
        if (!check) {
            const auto names = check_names();
            auto hint = yaml::suggest(yaml::as_string(n).value_or(""), names);
            std::string list;
            for (auto name : names)
                list += (list.empty() ? "" : ", ") + std::string(name);
            error(n, rule.id,
                  "unknown check" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                      "; known checks: " + list);
            return false;
        }
        rule.kind = RuleKind::check;
        rule.check = *check;
        if (auto r = node["require"]) {
            const auto value = yaml::as_string(r).value_or("");
            if (rule.check != Check::list_unsubscribe) {
                error(r, rule.id, "'require' only applies to check: list-unsubscribe");
                return false;
            }
            if (value != "any" && value != "https" && value != "mailto" && value != "both") {
                error(r, rule.id, "require: expected any, https, mailto or both");
                return false;
            }
            rule.patterns = {value};
        }
        return true;
    }
    if (node["regex"] || node["phrases"] || node["phrases_file"]) {
        const bool is_regex = static_cast<bool>(node["regex"]);
        rule.kind = is_regex ? RuleKind::regex : RuleKind::phrases;
        if (auto t = node["target"]) {
            const auto text = yaml::as_string(t).value_or("");
            std::optional<Target> target;
            if (text.rfind("header:", 0) == 0) {
                target = Target::header;
                rule.header_name = text.substr(7);
                if (rule.header_name.empty()) target.reset();
            } else if (text != "header") {
                target = parse_target(text);
            }
            if (!target) {
                error(t, rule.id,
                      "target: expected subject, header:<Name>, headers, text, html, body, footer, url, "
                      "url_domain or attachment_name");
                return false;
            }
            rule.target = *target;
        }
        if (auto f = node["flags"]) {
            const auto flags = yaml::as_string(f).value_or("");
            if (flags.find_first_not_of("i") != std::string::npos) {
                error(f, rule.id, "flags: only 'i' (case-insensitive) is supported");
                return false;
            }
            rule.caseless = flags.find('i') != std::string::npos;
        }
        if (auto a = node["absent"]) {
            auto value = yaml::as_bool(a);
            if (!value) {
                error(a, rule.id, "absent: expected true or false");
                return false;
            }
            rule.absent = *value;
        }
        if (auto m = node["min_count"]) {
            auto count = yaml::as_integer(m);
            if (!count || *count < 1 || *count > 10000) {
                error(m, rule.id, "min_count: expected a whole number from 1 to 10000");
                return false;
            }
            rule.min_count = static_cast<unsigned>(*count);
        }
        if (is_regex) return load_patterns(node["regex"], rule, "regex");
        bool ok = true;
        if (node["phrases"]) ok = load_patterns(node["phrases"], rule, "phrases");
        if (auto file = node["phrases_file"]) {
            const auto name = yaml::as_string(file).value_or("");
            const auto path = m_path.parent_path() / name;
            const auto canonical_dir = std::filesystem::weakly_canonical(m_dir);
            const auto canonical = std::filesystem::weakly_canonical(path);
            // Rules are data: a phrase file outside the rules dir would let a rule read any file.
            const auto rel = canonical.lexically_relative(canonical_dir);
            if (name.empty() || rel.empty() || *rel.begin() == "..") {
                error(file, rule.id, "phrases_file must name a file inside the rules directory");
                return false;
            }
            if (!trusted(path, yaml::position(m_file, file), rule.id)) return false;
            std::error_code ec;
            if (std::filesystem::is_directory(path, ec)) {
                error(file, rule.id,
                      "phrases_file '" + name + "' is a directory; expected a file of phrases");
                return false;
            }
            std::ifstream in(path);
            if (!in) {
                error(file, rule.id, "cannot read phrases_file '" + name + "'");
                return false;
            }
            hash_bytes(m_hash, name);
            std::string line;
            std::size_t line_number = 0;
            while (std::getline(in, line)) {
                ++line_number;
                hash_bytes(m_hash, line);
                while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
                    line.pop_back();
                const auto start = line.find_first_not_of(" \t");
                if (start == std::string::npos || line[start] == '#') continue;
                if (valid_utf8_prefix(line) != line.size()) {
                    error(file, rule.id,
                          "phrases_file '" + name + "' line " + std::to_string(line_number) +
                              " is not UTF-8; save the file as UTF-8");
                    return false;
                }
                rule.patterns.push_back(line.substr(start));
                if (rule.patterns.size() > k_max_phrases_per_rule) {
                    error(file, rule.id, "more than 200000 phrases in one rule");
                    return false;
                }
            }
        }
        if (ok && rule.patterns.empty()) {
            error(node, rule.id, "phrase list is empty");
            return false;
        }
        return ok;
    }
    // all / any / not
    const char* key = node["all"] ? "all" : node["any"] ? "any" : "not";
    rule.kind = node["all"] ? RuleKind::all : node["any"] ? RuleKind::any : RuleKind::none;
    const auto n = node[key];
    if (n.IsScalar()) {
        rule.children.push_back(n.Scalar());
    } else if (n.IsSequence() && n.size() > 0) {
        for (const auto& child : n) {
            auto id = yaml::as_string(child);
            if (!id) {
                error(child, rule.id, std::string(key) + ": expected rule ids");
                return false;
            }
            rule.children.push_back(*id);
        }
    } else {
        error(n, rule.id, std::string(key) + ": expected a rule id or a list of rule ids");
        return false;
    }
    return true;
}

bool Loader::load_patterns(const YAML::Node& node, Rule& rule, const char* key) {
    auto& positions = m_pattern_pos[rule.id];
    positions.clear(); // one pattern list per rule
    if (node.IsScalar()) {
        rule.patterns.push_back(node.Scalar());
        positions.push_back(yaml::position(m_file, node));
    } else if (node.IsSequence() && node.size() > 0) {
        for (const auto& p : node) {
            auto text = yaml::as_string(p);
            if (!text || text->empty()) {
                error(p, rule.id, std::string(key) + ": expected non-empty texts");
                return false;
            }
            rule.patterns.push_back(*text);
            positions.push_back(yaml::position(m_file, p));
        }
    } else {
        error(node, rule.id, std::string(key) + ": expected a text or a list of texts");
        return false;
    }
    for (const auto& p : rule.patterns)
        if (p.empty()) {
            error(node, rule.id, std::string(key) + ": empty pattern");
            return false;
        }
    return true;
}

void Loader::load_examples(const YAML::Node& node, Rule& rule) {
    if (!node.IsMap()) {
        error(node, rule.id, "examples: expected {match: [...], no_match: [...]}");
        return;
    }
    yaml::check_keys(node, {"match", "no_match"}, [&](const YAML::Node& key, const std::string& message) {
        error(key, rule.id, message);
    });
    for (const char* key : {"match", "no_match"}) {
        auto list = node[key];
        if (!list) continue;
        if (!list.IsSequence()) {
            error(list, rule.id, std::string("examples.") + key + ": expected a list");
            continue;
        }
        for (const auto& item : list) {
            Example example;
            example.expect_match = std::string_view(key) == "match";
            example.pos = yaml::position(m_file, item);
            if (item.IsScalar()) {
                example.text = item.Scalar();
            } else if (item.IsMap() && (item["file"] || item["text"])) {
                yaml::check_keys(
                    item, {"file", "text", "facts", "class"},
                    [&](const YAML::Node& name, const std::string& message) { error(name, rule.id, message); });
                if (auto text = item["text"]) {
                    if (auto value = yaml::as_string(text))
                        example.text = *value;
                    else
                        error(text, rule.id,
                              "text: expected the message as text (headers, empty line, body)");
                }
                if (auto file = item["file"]) {
                    example.file = m_path.parent_path() / yaml::as_string(file).value_or("");
                    std::error_code ec;
                    if (!std::filesystem::is_regular_file(example.file, ec))
                        error(file, rule.id, "example file not found: " + example.file.string());
                }
                if (auto facts = item["facts"]) load_example_facts(facts, rule, example);
                if (auto c = item["class"]) {
                    example.message_class = parse_message_class(yaml::as_string(c).value_or(""));
                    if (!example.message_class) error(c, rule.id, "class: expected bulk or transactional");
                }
            } else {
                error(item, rule.id,
                      "an example is a message text, {file: path.eml} or {text: ...}, with optional facts "
                      "and class");
                continue;
            }
            rule.examples.push_back(std::move(example));
        }
    }
}

// Names the known facts when fact is not one of them.
bool Loader::known_fact(const YAML::Node& node, const std::string& rule_id, const std::string& fact) {
    const auto facts = known_facts();
    if (std::find(facts.begin(), facts.end(), fact) != facts.end()) return true;
    std::string list;
    for (auto f : facts)
        list += (list.empty() ? "" : ", ") + std::string(f);
    const auto hint = yaml::suggest(fact, facts);
    error(node, rule_id,
          "unknown fact '" + fact + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
              "; known facts: " + list);
    return false;
}

void Loader::load_example_facts(const YAML::Node& node, const Rule& rule, Example& example) {
    if (!node.IsSequence()) {
        error(node, rule.id, "facts: expected a list like [consent-missing]");
        return;
    }
    for (const auto& item : node) {
        const auto fact = yaml::as_string(item).value_or("");
        if (known_fact(item, rule.id, fact)) example.facts.push_back(fact);
    }
}

// Rules that cannot fire on any message are mistakes worth stopping a reload for.
void Loader::check_never_fires() {
    for (const auto& rule : m_rules) {
        if (rule.kind == RuleKind::phrases && !rule.absent && rule.min_count > rule.patterns.size())
            error_at(rule.pos, rule.id,
                     "can never fire: min_count " + std::to_string(rule.min_count) + " is more than its " +
                         std::to_string(rule.patterns.size()) + " phrases");
        if (rule.kind != RuleKind::all) continue;
        for (auto a : rule.child_rules)
            for (auto b : rule.child_rules) {
                const Rule& x = m_rules[a];
                const Rule& y = m_rules[b];
                if (x.kind == RuleKind::header_present && y.kind == RuleKind::header_absent &&
                    iequals(x.header_name, y.header_name))
                    error_at(rule.pos, rule.id,
                             "can never fire: needs both '" + x.id + "' (" + x.header_name + " present) and '" +
                                 y.id + "' (" + y.header_name + " absent)");
                if (y.kind == RuleKind::none && std::find(y.children.begin(), y.children.end(), x.id) != y.children.end())
                    error_at(rule.pos, rule.id,
                             "can never fire: needs both '" + x.id + "' and '" + y.id + "', which is 'not " + x.id + "'");
            }
    }
}

// Leaves first, then each composition after the rules it names, so inspect() evaluates in one pass.
void Loader::order_compositions() {
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < m_rules.size(); ++i)
        index.emplace(m_rules[i].id, i);
    for (const auto& rule : m_rules)
        for (const auto& child : rule.children) {
            if (!index.count(child) && m_ids.count(child)) {
                // Its own errors are reported; "unknown rule" would send the officer looking for a typo.
                error_at(rule.pos, rule.id, "names rule '" + child + "', which has errors (see above)");
            } else if (!index.count(child)) {
                const auto& ids = m_ids;
                std::vector<std::string_view> known;
                for (const auto& [id, pos] : ids)
                    known.push_back(id);
                auto hint = yaml::suggest(child, known);
                error_at(rule.pos, rule.id,
                         "names unknown rule '" + child + "'" +
                             (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
            } else if (child == rule.id) {
                error_at(rule.pos, rule.id, "a rule cannot name itself");
            }
        }
    if (has_errors()) return;

    std::vector<int> state(m_rules.size(), 0); // 0 new, 1 visiting, 2 done
    std::vector<std::size_t> order;
    bool cycle = false;
    auto visit = [&](auto&& self, std::size_t i) -> void {
        if (state[i] == 2 || cycle) return;
        if (state[i] == 1) {
            cycle = true;
            error_at(m_rules[i].pos, m_rules[i].id, "rules name each other in a cycle");
            return;
        }
        state[i] = 1;
        for (const auto& child : m_rules[i].children)
            self(self, index.at(child));
        state[i] = 2;
        order.push_back(i);
    };
    for (std::size_t i = 0; i < m_rules.size(); ++i)
        visit(visit, i);
    if (cycle) return;
    std::vector<Rule> sorted;
    sorted.reserve(m_rules.size());
    for (auto i : order)
        sorted.push_back(std::move(m_rules[i]));
    m_rules = std::move(sorted);
    index.clear();
    for (std::size_t i = 0; i < m_rules.size(); ++i)
        index.emplace(m_rules[i].id, i);
    for (auto& rule : m_rules)
        for (const auto& child : rule.children)
            rule.child_rules.push_back(index.at(child));
}

} // namespace

LoadResult load_rules(const std::filesystem::path& dir, const LoadOptions& options) {
    try {
        return Loader(dir, options).run();
    } catch (const std::exception& e) {
        return {nullptr, {{{dir.string(), 0, 0}, "", std::string("cannot load rules: ") + e.what(), false}}};
    }
}

} // namespace presend
