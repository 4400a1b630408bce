// pattern_set: see pattern_set.hpp. Compile-time work lives here, away from the scan path.
// Phrases go through hs_compile_lit_multi: literal databases compile orders of magnitude faster than
// the same phrases written as \bregex\b, which is what lets 10,000 phrases load in well under a second.
#include "engine/pattern_set.hpp"

#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace presend::detail {

bool is_word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

namespace {

ScanTarget scan_target_of(const Rule& rule) {
    ScanTarget target{rule.target, {}};
    if (rule.target == Target::header) {
        for (char c : rule.header_name)
            target.header_name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return target;
}

struct Group {
    ScanTarget target;
    bool literal = false;
    std::vector<std::string> expressions;
    std::vector<std::size_t> lengths;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
};

} // namespace

std::shared_ptr<CompiledPatterns> CompiledPatterns::compile(const std::vector<Rule>& rules,
                                                            std::vector<PatternError>& errors) {
    auto compiled = std::make_shared<CompiledPatterns>();
    std::vector<Group> groups;

    for (std::uint32_t r = 0; r < rules.size(); ++r) {
        const Rule& rule = rules[r];
        if (rule.kind != RuleKind::regex && rule.kind != RuleKind::phrases) continue;
        const bool literal = rule.kind == RuleKind::phrases;
        const auto target = scan_target_of(rule);
        Group* group = nullptr;
        for (auto& g : groups)
            if (g.target == target && g.literal == literal) group = &g;
        if (!group) group = &groups.emplace_back(Group{target, literal, {}, {}, {}, {}});

        for (std::uint32_t p = 0; p < rule.patterns.size(); ++p) {
            const std::string& pattern = rule.patterns[p];
            PatternRef ref{r, p};
            unsigned flags = 0;
            if (literal) {
                // No SINGLEMATCH: a match rejected for its word boundaries must not hide a later one.
                flags = HS_FLAG_CASELESS;
                ref.length = static_cast<std::uint32_t>(pattern.size());
                ref.word_start = is_word_byte(static_cast<unsigned char>(pattern.front()));
                ref.word_end = is_word_byte(static_cast<unsigned char>(pattern.back()));
            } else {
                flags = rule.caseless ? HS_FLAG_CASELESS : 0u;
                if (rule.min_count <= 1) flags |= HS_FLAG_SINGLEMATCH;
                // Validate each regex alone, so an error names its rule and pattern exactly.
                hs_expr_info_t* info = nullptr;
                hs_compile_error_t* error = nullptr;
                if (hs_expression_info(pattern.c_str(), flags, &info, &error) != HS_SUCCESS) {
                    errors.push_back({r, p, error ? error->message : "invalid expression"});
                    hs_free_compile_error(error);
                    continue;
                }
                std::free(info);
            }
            group->expressions.push_back(pattern);
            group->lengths.push_back(pattern.size());
            group->flags.push_back(flags);
            group->ids.push_back(static_cast<unsigned>(compiled->m_patterns.size()));
            compiled->m_patterns.push_back(ref);
        }
    }
    if (!errors.empty()) return compiled;

    for (auto& group : groups) {
        if (group.expressions.empty()) continue;
        std::vector<const char*> expressions;
        for (const auto& e : group.expressions) expressions.push_back(e.c_str());
        hs_database_t* db = nullptr;
        hs_compile_error_t* error = nullptr;
        const auto count = static_cast<unsigned>(expressions.size());
        const hs_error_t rc =
            group.literal ? hs_compile_lit_multi(expressions.data(), group.flags.data(), group.ids.data(),
                                                 group.lengths.data(), count, HS_MODE_BLOCK, nullptr, &db, &error)
                          : hs_compile_multi(expressions.data(), group.flags.data(), group.ids.data(), count,
                                             HS_MODE_BLOCK, nullptr, &db, &error);
        if (rc != HS_SUCCESS) {
            const int index = error ? error->expression : -1;
            const auto ref = index >= 0 ? compiled->m_patterns[group.ids[static_cast<std::size_t>(index)]]
                                        : PatternRef{};
            errors.push_back({ref.rule, ref.pattern, error ? error->message : "Hyperscan compile failed"});
            hs_free_compile_error(error);
            return compiled;
        }
        compiled->m_databases.push_back({group.target, group.literal, HsDatabase(db, &hs_free_database)});
        hs_scratch_t* scratch = compiled->m_prototype.release();
        if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) {
            errors.push_back({0, 0, "cannot allocate Hyperscan scratch space"});
            return compiled;
        }
        compiled->m_prototype.reset(scratch);
    }
    return compiled;
}

HsScratch CompiledPatterns::acquire_scratch() const {
    {
        std::lock_guard lock(m_pool_mutex);
        if (!m_pool.empty()) {
            auto scratch = std::move(m_pool.back());
            m_pool.pop_back();
            return scratch;
        }
    }
    hs_scratch_t* clone = nullptr;
    if (!m_prototype || hs_clone_scratch(m_prototype.get(), &clone) != HS_SUCCESS)
        throw std::runtime_error("cannot clone Hyperscan scratch space");
    return HsScratch(clone, &hs_free_scratch);
}

void CompiledPatterns::release_scratch(HsScratch scratch) const {
    std::lock_guard lock(m_pool_mutex);
    m_pool.push_back(std::move(scratch));
}

} // namespace presend::detail
