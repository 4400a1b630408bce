// Concurrency of the engine as the daemon uses it: one immutable RuleSet shared by every libMilter
// thread, each scan taking Hyperscan scratch from the RuleSet's pool. Several threads judging the
// shipped examples at once must give exactly the verdicts one thread gives. The sanitizer builds run
// this under AddressSanitizer; `-DPRESEND_SANITIZE=thread` runs it under ThreadSanitizer.
#include "presend/engine.hpp"
#include "presend/ruleset.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace presend;

namespace {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// "reject 21.0 spam-phrases,url-shortener,..." : what a verdict decides, comparable across threads.
std::string summary(const Verdict& verdict) {
    std::string text = std::string(to_string(verdict.would_action)) + " " + std::to_string(verdict.score);
    for (const auto& hit : verdict.hits)
        text += " " + hit.rule;
    return text;
}

} // namespace

TEST_CASE("threads sharing one RuleSet give the verdicts one thread gives", "[concurrency]") {
    const auto loaded = load_rules(PRESEND_RULES_DIR);
    REQUIRE(loaded.ok());
    const RuleSet& rules = *loaded.rules;

    std::vector<std::string> messages;
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(PRESEND_RULES_DIR) / "examples"))
        if (entry.path().extension() == ".eml") messages.push_back(read_file(entry.path()));
    REQUIRE(messages.size() >= 10);

    Envelope envelope;
    envelope.mail_from = "news@bounce.example.com";
    envelope.rcpts = {"someone@example.net"};
    std::vector<std::string> expected;
    for (const auto& raw : messages)
        expected.push_back(summary(evaluate(rules, envelope, raw, Mode::enforce)));

    constexpr int k_threads = 4;
    constexpr int k_rounds = 20;
    std::atomic<int> mismatches{0};
    std::atomic<int> judged{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t)
        threads.emplace_back([&, t] {
            for (int round = 0; round < k_rounds; ++round)
                for (std::size_t i = 0; i < messages.size(); ++i) {
                    // Each thread walks the corpus from its own offset, so different messages overlap.
                    const std::size_t m = (i + static_cast<std::size_t>(t) * 3) % messages.size();
                    if (summary(evaluate(rules, envelope, messages[m], Mode::enforce)) != expected[m]) ++mismatches;
                    ++judged;
                }
        });
    for (auto& thread : threads)
        thread.join();
    CHECK(mismatches.load() == 0);
    CHECK(judged.load() == k_threads * k_rounds * static_cast<int>(messages.size()));
}
