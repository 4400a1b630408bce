// fuzz_support: what the fuzz targets share. require() aborts with the property that failed, so
// libFuzzer keeps the input as a crash; shipped_rules() loads the shipped rules once per process.
#pragma once

#include "presend/ruleset.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>

#ifndef PRESEND_SOURCE_RULES_DIR
#error "PRESEND_SOURCE_RULES_DIR must name the shipped rules"
#endif

namespace presend::fuzz {

inline void require(bool condition, const char* what) {
    if (condition) return;
    std::fprintf(stderr, "fuzz: property failed: %s\n", what);
    std::abort();
}

inline const RuleSet& shipped_rules() {
    static const std::shared_ptr<const RuleSet> rules = [] {
        auto loaded = load_rules(PRESEND_SOURCE_RULES_DIR);
        require(loaded.ok(), "the shipped rules load");
        return loaded.rules;
    }();
    return *rules;
}

} // namespace presend::fuzz
