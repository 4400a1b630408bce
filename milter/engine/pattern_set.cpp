// pattern_set: see pattern_set.hpp. Compile-time work lives here, away from the scan path.
// Phrases go through hs_compile_lit_multi: literal databases compile orders of magnitude faster than
// the same phrases written as \bregex\b, which is what lets 10,000 phrases load in well under a second.
#include "engine/pattern_set.hpp"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
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
    std::vector<unsigned> ids;            // local to the group's database: 0, 1, 2...
    std::vector<std::uint32_t> global_ids; // the same patterns' indexes into CompiledPatterns::m_patterns
};

} // namespace

namespace {

// The cache key: everything that decides a database's bytes, and the library that built it.
std::string cache_key(const Group& group) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx) return {};
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    auto feed = [&](const void* data, std::size_t size) {
        EVP_DigestUpdate(ctx, &size, sizeof size); // length-prefixed: no two inputs hash alike by concatenation
        EVP_DigestUpdate(ctx, data, size);
    };
    const std::string version = hs_version();
    feed(version.data(), version.size());
    const char literal = group.literal ? 'L' : 'R';
    feed(&literal, 1);
    for (std::size_t i = 0; i < group.expressions.size(); ++i) {
        feed(group.expressions[i].data(), group.expressions[i].size());
        feed(&group.flags[i], sizeof group.flags[i]);
        feed(&group.ids[i], sizeof group.ids[i]);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx, digest, &length);
    EVP_MD_CTX_free(ctx);
    std::string hex;
    for (unsigned i = 0; i < length; ++i) {
        char byte[3];
        std::snprintf(byte, sizeof byte, "%02x", digest[i]);
        hex += byte;
    }
    return hex;
}

// A cache directory is used only if it is ours and nobody else can write to it: a deserialized
// database is trusted as much as the code that scans with it.
bool usable_cache_dir(const std::filesystem::path& dir) {
    if (dir.empty()) return false;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
    return st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

HsDatabase load_cached(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return HsDatabase(nullptr, &hs_free_database);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    hs_database_t* db = nullptr;
    if (hs_deserialize_database(bytes.data(), bytes.size(), &db) != HS_SUCCESS) db = nullptr;
    return HsDatabase(db, &hs_free_database);
}

// Written to a temporary name and renamed, so a reader never sees half a database.
void store_cached(const std::filesystem::path& file, const hs_database_t* db) {
    char* bytes = nullptr;
    std::size_t size = 0;
    if (hs_serialize_database(db, &bytes, &size) != HS_SUCCESS) return;
    const auto tmp = file.string() + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(bytes, static_cast<std::streamsize>(size));
        if (!out) {
            std::free(bytes);
            std::filesystem::remove(tmp);
            return;
        }
    }
    std::free(bytes);
    std::error_code ec;
    std::filesystem::rename(tmp, file, ec);
    if (ec) std::filesystem::remove(tmp, ec);
}

// Compile errors report only the first bad expression; checking each alone names them all.
void collect_errors(const Group& group, const std::vector<PatternRef>& refs, const hs_compile_error_t* error,
                    std::vector<PatternError>& errors) {
    const std::size_t before = errors.size();
    if (!group.literal) {
        for (std::size_t i = 0; i < group.expressions.size(); ++i) {
            hs_expr_info_t* info = nullptr;
            hs_compile_error_t* e = nullptr;
            if (hs_expression_info(group.expressions[i].c_str(), group.flags[i], &info, &e) != HS_SUCCESS) {
                const auto ref = refs[group.global_ids[i]];
                errors.push_back({ref.rule, ref.pattern, e ? e->message : "invalid expression"});
                hs_free_compile_error(e);
            }
            std::free(info);
        }
    }
    if (errors.size() == before) {
        const int index = error ? error->expression : -1;
        const auto ref = index >= 0 ? refs[group.global_ids[static_cast<std::size_t>(index)]] : PatternRef{};
        errors.push_back({ref.rule, ref.pattern, error ? error->message : "Hyperscan compile failed"});
    }
}

} // namespace

std::shared_ptr<CompiledPatterns> CompiledPatterns::compile(const std::vector<Rule>& rules,
                                                            std::vector<PatternError>& errors,
                                                            const std::filesystem::path& cache_dir,
                                                            CacheStats& stats) {
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
        if (!group) group = &groups.emplace_back(Group{target, literal, {}, {}, {}, {}, {}});

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
            }
            group->expressions.push_back(pattern);
            group->lengths.push_back(pattern.size());
            group->flags.push_back(flags);
            group->ids.push_back(static_cast<unsigned>(group->ids.size()));
            group->global_ids.push_back(static_cast<std::uint32_t>(compiled->m_patterns.size()));
            compiled->m_patterns.push_back(ref);
        }
    }

    const bool use_cache = usable_cache_dir(cache_dir);
    for (auto& group : groups) {
        if (group.expressions.empty()) continue;
        const auto key = use_cache ? cache_key(group) : std::string();
        const auto cache_file = key.empty() ? std::filesystem::path() : cache_dir / (key + ".hsdb");
        HsDatabase db = key.empty() ? HsDatabase(nullptr, &hs_free_database) : load_cached(cache_file);
        if (db) {
            ++stats.loaded;
        } else {
            std::vector<const char*> expressions;
            for (const auto& e : group.expressions) expressions.push_back(e.c_str());
            hs_database_t* raw = nullptr;
            hs_compile_error_t* error = nullptr;
            const auto count = static_cast<unsigned>(expressions.size());
            const hs_error_t rc =
                group.literal ? hs_compile_lit_multi(expressions.data(), group.flags.data(), group.ids.data(),
                                                     group.lengths.data(), count, HS_MODE_BLOCK, nullptr, &raw, &error)
                              : hs_compile_multi(expressions.data(), group.flags.data(), group.ids.data(), count,
                                                 HS_MODE_BLOCK, nullptr, &raw, &error);
            if (rc != HS_SUCCESS) {
                collect_errors(group, compiled->m_patterns, error, errors);
                hs_free_compile_error(error);
                continue; // the other groups' errors are worth reporting in the same pass
            }
            db = HsDatabase(raw, &hs_free_database);
            ++stats.compiled;
            if (!key.empty()) store_cached(cache_file, db.get());
        }
        hs_scratch_t* scratch = compiled->m_prototype.release();
        if (hs_alloc_scratch(db.get(), &scratch) != HS_SUCCESS) {
            errors.push_back({0, 0, "cannot allocate Hyperscan scratch space"});
            return compiled;
        }
        compiled->m_prototype.reset(scratch);
        compiled->m_databases.push_back({group.target, group.literal, std::move(db), std::move(group.global_ids)});
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
