// pattern_set: every regex and phrase of a RuleSet compiled into Hyperscan databases, at most two per
// scan target (phrases through the literal compiler, regexes through the regex one), once per load,
// never per message. Scans take a scratch from a pool and give it back, so concurrent messages never
// share one (Hyperscan scratch is not re-entrant).
#pragma once

#include "presend/message.hpp"
#include "presend/ruleset.hpp"

#include <hs.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace presend::detail {

using HsDatabase = std::unique_ptr<hs_database_t, decltype(&hs_free_database)>;
using HsScratch = std::unique_ptr<hs_scratch_t, decltype(&hs_free_scratch)>;

// One scan input: the target, and for header targets the header name (lower-case).
struct ScanTarget {
    Target target = Target::body;
    std::string header_name;
    bool operator==(const ScanTarget&) const = default;
};

struct TargetDatabase {
    ScanTarget target;
    bool literal = false; // phrases: matches are checked for word boundaries in the callback
    HsDatabase db{nullptr, &hs_free_database};
    // Match ids are local to the database (so a cached one stays valid when other rules change);
    // this maps them to indexes into CompiledPatterns::patterns().
    std::vector<std::uint32_t> pattern_ids;
};

// Per pattern id: the rule (index into RuleSet::rules), the pattern's index within that rule and,
// for phrases, what the callback needs to enforce whole-word matches.
struct PatternRef {
    std::uint32_t rule = 0;
    std::uint32_t pattern = 0;
    std::uint32_t length = 0; // phrases: bytes of the literal
    bool word_start = false;  // phrases: the match must not follow a word character
    bool word_end = false;    // phrases: the match must not precede a word character
};

struct PatternError {
    std::uint32_t rule = 0;
    std::uint32_t pattern = 0;
    std::string message;
};

struct CacheStats {
    std::size_t loaded = 0;
    std::size_t compiled = 0;
};

class CompiledPatterns {
  public:
    // Compiles the regex and phrase rules of rules. Errors name the rule and pattern; on any error
    // the result has no databases and must not be used. With a usable cache_dir, databases whose
    // patterns are unchanged are deserialized instead of compiled.
    static std::shared_ptr<CompiledPatterns> compile(const std::vector<Rule>& rules,
                                                     std::vector<PatternError>& errors,
                                                     const std::filesystem::path& cache_dir, CacheStats& stats);

    const std::vector<TargetDatabase>& databases() const { return m_databases; }
    const std::vector<PatternRef>& patterns() const { return m_patterns; }

    HsScratch acquire_scratch() const;
    void release_scratch(HsScratch scratch) const;

  private:
    std::vector<TargetDatabase> m_databases;
    std::vector<PatternRef> m_patterns;
    HsScratch m_prototype{nullptr, &hs_free_scratch};
    mutable std::mutex m_pool_mutex;
    mutable std::vector<HsScratch> m_pool;
};

bool is_word_byte(unsigned char c);

// A phrase match [from, to) in input counts only as whole words: "free" must not fire on "carefree".
inline bool whole_word_match(const PatternRef& ref, std::string_view input, std::size_t to) {
    const std::size_t from = to - ref.length;
    if (ref.word_start && from > 0 && is_word_byte(static_cast<unsigned char>(input[from - 1]))) return false;
    if (ref.word_end && to < input.size() && is_word_byte(static_cast<unsigned char>(input[to]))) return false;
    return true;
}

} // namespace presend::detail
