// test_command: `presend test [--rules DIR]` runs the examples every rule carries: each `match`
// example must make the rule fire and each `no_match` example must not. Exit 1 when any fails. An example
// may give `facts` (judged as if the tenant checks had reported them) and a message `class`.
#include "cli/commands.hpp"
#include "cli/rules_option.hpp"

#include "presend/engine.hpp"

#include <algorithm>
#include <iostream>

namespace presend::cli {

void add_test_command(CLI::App& app, int* exit_code) {
    auto rules_dir = std::make_shared<std::string>();
    auto verbose = std::make_shared<bool>(false);
    auto* command = app.add_subcommand("test", "Run the examples of every rule and report failures");
    add_rules_option(*command, *rules_dir);
    command->add_flag("-v,--verbose", *verbose, "List every example, not only failures");
    command->footer(
        "Exit status: 0 every example passed; 1 an example failed; 2 the rules do not load (see lint).");
    command->callback([rules_dir, verbose, exit_code] {
        const auto rules = load_rules_or_report(*rules_dir, std::cerr, false);
        if (!rules) {
            *exit_code = 2;
            return;
        }
        std::size_t passed = 0;
        std::size_t failed = 0;
        std::size_t without = 0;
        for (const auto& rule : rules->rules) {
            if (rule.examples.empty()) ++without;
            std::size_t n = 0;
            for (const auto& example : rule.examples) {
                ++n;
                const std::string raw = example.file.empty() ? example.text : read_file(example.file.string());
                // A rule for one class is tried on messages of that class, unless the example says.
                MessageContext context;
                context.message_class =
                    example.message_class.value_or(rule.applies_to.value_or(MessageClass::bulk));
                for (const auto& fact : example.facts)
                    context.facts.emplace(fact, MessageContext::Fact{"message", "given by the example"});
                const auto hits = inspect(*rules, parse_message(raw), Envelope{}, context);
                const auto hit = std::find_if(hits.begin(), hits.end(), [&](const Hit& h) { return h.rule == rule.id; });
                const bool fired = hit != hits.end();
                const std::string label = std::string(example.expect_match ? "match" : "no_match") + " example " +
                                          std::to_string(n) +
                                          (example.file.empty() ? "" : " (" + example.file.filename().string() + ")");
                if (fired == example.expect_match) {
                    ++passed;
                    if (*verbose) std::cout << "ok   " << rule.id << ": " << label << "\n";
                    continue;
                }
                ++failed;
                std::cout << example.pos.file << ":" << example.pos.line << ":" << example.pos.column << ": FAIL rule '"
                          << rule.id << "': " << label
                          << (fired ? " fired but should not: " + hit->target + ": " + hit->detail
                                    : " did not fire");
                if (!fired && !hits.empty()) {
                    std::cout << " (rules that fired:";
                    for (const auto& h : hits) std::cout << " " << h.rule;
                    std::cout << ")";
                }
                std::cout << "\n";
            }
        }
        std::cout << passed + failed << " examples, " << passed << " passed, " << failed << " failed; "
                  << rules->rules.size() << " rules, " << without << " without examples\n";
        if (failed > 0) *exit_code = 1;
    });
}

} // namespace presend::cli
