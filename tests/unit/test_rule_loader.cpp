// Rule loading: what compliance officers see when a rule file is wrong, and what a valid one becomes.
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

using namespace presend;
using presend::test::TempDir;

using presend::test::all_diagnostics;
using presend::test::load_errors;

TEST_CASE("the shipped rules load without errors") {
    const auto result = load_rules(PRESEND_RULES_DIR);
    INFO(all_diagnostics(result));
    REQUIRE(result.ok());
    CHECK(result.rules->find("list-unsubscribe-missing") != nullptr);
    CHECK(result.rules->version.size() == 12);
}

TEST_CASE("a YAML syntax error names file, line and column") {
    TempDir dir;
    dir.write("bad.yaml", "rules:\n  - id: a\n    description: [unclosed\n");
    const auto result = load_rules(dir.path());
    REQUIRE_FALSE(result.ok());
    REQUIRE(result.diagnostics.size() == 1);
    const auto text = result.diagnostics[0].str();
    CHECK_THAT(text, Catch::Contains("bad.yaml:"));
    CHECK_THAT(text, Catch::Contains("YAML syntax error"));
    CHECK(result.diagnostics[0].pos.line >= 3);
}

TEST_CASE("an unknown key is an error with a suggestion, at the key's position") {
    TempDir dir;
    dir.write("r.yaml", "rules:\n  - id: no-date\n    description: needs a date\n    header_absnet: Date\n   "
                        " action: reject\n");
    const auto result = load_rules(dir.path());
    REQUIRE_FALSE(result.ok());
    const auto text = all_diagnostics(result);
    CHECK_THAT(
        text, Catch::Contains(
                  "r.yaml:4:5: rule 'no-date': unknown key 'header_absnet' (did you mean 'header_absent'?)"));
}

TEST_CASE("duplicate ids are refused and point at the first definition") {
    TempDir dir;
    dir.write("a.yaml",
              "rules:\n  - id: dup\n    description: one\n    header_absent: Date\n    action: reject\n");
    dir.write("b.yaml",
              "rules:\n  - id: dup\n    description: two\n    header_absent: From\n    action: reject\n");
    const auto result = load_rules(dir.path());
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(all_diagnostics(result),
               Catch::Contains("b.yaml:2:9: rule 'dup': duplicate id (first defined at"));
}

TEST_CASE("a key given twice is an error, not a silently dropped second rules list or score") {
    TempDir dir;
    dir.write("r.yaml", "rules:\n  - id: a\n    description: x\n    header_absent: Date\n    score: 1\n"
                        "    score: 5\nrules:\n  - id: b\n    description: y\n    header_absent: From\n"
                        "    action: reject\n");
    const auto text = load_errors(dir);
    CHECK_THAT(text, Catch::Contains("r.yaml:6:5: rule 'a': key 'score' given twice (first at line 5)"));
    CHECK_THAT(text, Catch::Contains("r.yaml:7:1: key 'rules' given twice (first at line 1)"));
}

TEST_CASE("a bad regex is an error naming the rule and the pattern, at the pattern") {
    TempDir dir;
    dir.write(
        "r.yaml",
        "rules:\n  - id: broken\n    description: x\n    regex: \"free (money\"\n    action: tag\n"
        "  - id: listed\n    description: y\n    regex:\n      - fine\n      - 'a(?=b)'\n    score: 1\n");
    CHECK_THAT(load_errors(dir), Catch::Contains("r.yaml:4:12: rule 'broken': bad regex 'free (money'") &&
                                     Catch::Contains("r.yaml:10:9: rule 'listed': bad regex 'a(?=b)'"));
}

TEST_CASE("bad values are errors: action, target, check, min_count") {
    TempDir dir;
    dir.write("r.yaml", R"(rules:
  - id: a
    description: x
    header_absent: Date
    action: block
  - id: b
    description: x
    regex: x
    target: bodyy
    score: 1
  - id: c
    description: x
    check: list-unsubscribee
    score: 1
  - id: d
    description: x
    phrases: [a]
    min_count: 0
    score: 1
)");
    const auto text = all_diagnostics(load_rules(dir.path()));
    CHECK_THAT(text, Catch::Contains("rule 'a': action: expected one of"));
    CHECK_THAT(text, Catch::Contains("rule 'b': target: expected"));
    CHECK_THAT(text, Catch::Contains("rule 'c': unknown check (did you mean 'list-unsubscribe'?)"));
    CHECK_THAT(text, Catch::Contains("rule 'd': min_count"));
}

TEST_CASE("a rule needs exactly one condition and a description") {
    TempDir dir;
    dir.write("r.yaml", R"(rules:
  - id: none
    description: x
    action: reject
  - id: two
    description: x
    header_absent: Date
    header_present: From
    action: reject
  - id: nodesc
    header_absent: Date
    action: reject
)");
    const auto text = all_diagnostics(load_rules(dir.path()));
    CHECK_THAT(text, Catch::Contains("rule 'none': no condition"));
    CHECK_THAT(text, Catch::Contains("rule 'two': more than one condition"));
    CHECK_THAT(text, Catch::Contains("rule 'nodesc': missing 'description'"));
}

TEST_CASE("compositions must name existing rules and must not form a cycle") {
    TempDir dir;
    dir.write("r.yaml", R"(rules:
  - id: a
    description: x
    all: [b]
    action: reject
  - id: b
    description: x
    any: [a]
    score: 1
  - id: c
    description: x
    not: [missing-rule]
    score: 1
)");
    const auto text = all_diagnostics(load_rules(dir.path()));
    CHECK_THAT(text, Catch::Contains("rule 'c': names unknown rule 'missing-rule'"));
    dir.write("r.yaml", "rules:\n  - {id: a, description: x, all: [b], action: reject}\n"
                        "  - {id: b, description: x, any: [a], score: 1}\n");
    CHECK_THAT(all_diagnostics(load_rules(dir.path())), Catch::Contains("cycle"));
}

TEST_CASE("a phrases_file outside the rules directory is refused") {
    TempDir dir;
    dir.write("outside.txt", "secret\n");
    dir.write("rules/r.yaml",
              "rules:\n  - id: p\n    description: x\n    phrases_file: ../outside.txt\n    score: 1\n");
    const auto result = load_rules(dir.path() / "rules");
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(all_diagnostics(result),
               Catch::Contains("phrases_file must name a file inside the rules directory"));
}

TEST_CASE("phrases are read from a file, skipping blanks and comments") {
    TempDir dir;
    dir.write("phrases.txt", "# spam words\nact now\n\n  limited time offer  \n");
    dir.write("r.yaml",
              "rules:\n  - id: p\n    description: x\n    phrases_file: phrases.txt\n    score: 1\n");
    const auto result = load_rules(dir.path());
    REQUIRE(result.ok());
    CHECK(result.rules->find("p")->patterns == std::vector<std::string>{"act now", "limited time offer"});
}

TEST_CASE("a rule that can never change a verdict is a warning, not an error") {
    TempDir dir;
    dir.write("r.yaml", "rules:\n  - id: idle\n    description: x\n    header_absent: Date\n");
    const auto result = load_rules(dir.path());
    REQUIRE(result.ok());
    REQUIRE(result.diagnostics.size() == 1);
    CHECK(result.diagnostics[0].warning);
    CHECK_THAT(result.diagnostics[0].str(),
               Catch::Contains("warning: rule 'idle': neither action nor score"));
}

TEST_CASE("a missing rules directory is an error") {
    const auto result = load_rules("/nonexistent/presend/rules");
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.diagnostics[0].str(), Catch::Contains("rules directory not found"));
}

TEST_CASE("the ruleset version changes with the rules' content") {
    TempDir dir;
    dir.write("r.yaml", "rules:\n  - {id: a, description: x, header_absent: Date, action: reject}\n");
    const auto v1 = load_rules(dir.path()).rules->version;
    dir.write("r.yaml", "rules:\n  - {id: a, description: x, header_absent: Date, action: tempfail}\n");
    const auto v2 = load_rules(dir.path()).rules->version;
    CHECK(v1 != v2);
}

TEST_CASE("compiled pattern databases are cached on disk and reused while the patterns are unchanged") {
    TempDir dir;
    dir.write("rules/r.yaml", "rules:\n  - {id: p, description: x, phrases: [act now, winner], score: 1}\n"
                              "  - {id: r, description: x, regex: \"fr[e3]{2}\", target: subject, score: 1}\n");
    const LoadOptions options{dir.path() / "cache"};
    const auto first = load_rules(dir.path() / "rules", options);
    REQUIRE(first.ok());
    CHECK(first.rules->databases_compiled == 2);
    CHECK(first.rules->databases_from_cache == 0);
    const auto second = load_rules(dir.path() / "rules", options);
    REQUIRE(second.ok());
    CHECK(second.rules->databases_from_cache == 2);
    CHECK(second.rules->databases_compiled == 0);
    // a cached database scans like a fresh one
    CHECK(presend::test::hit_ids(inspect(*second.rules, presend::test::message_with({{"Subject", "fr33"}}, "a winner"), {})) ==
          std::vector<std::string>{"p", "r"});
    // changing one pattern recompiles only its database
    dir.write("rules/r.yaml", "rules:\n  - {id: p, description: x, phrases: [act now, winner, prize], score: 1}\n"
                              "  - {id: r, description: x, regex: \"fr[e3]{2}\", target: subject, score: 1}\n");
    const auto third = load_rules(dir.path() / "rules", options);
    CHECK(third.rules->databases_compiled == 1);
    CHECK(third.rules->databases_from_cache == 1);
}

TEST_CASE("a cache directory others can write to is not trusted") {
    TempDir dir;
    dir.write("rules/r.yaml", "rules:\n  - {id: p, description: x, phrases: [winner], score: 1}\n");
    std::filesystem::create_directories(dir.path() / "cache");
    std::filesystem::permissions(dir.path() / "cache", std::filesystem::perms::all);
    const LoadOptions options{dir.path() / "cache"};
    REQUIRE(load_rules(dir.path() / "rules", options).ok());
    const auto again = load_rules(dir.path() / "rules", options);
    CHECK(again.rules->databases_from_cache == 0);
    CHECK(std::filesystem::is_empty(dir.path() / "cache"));
}

TEST_CASE("lint refuses rules that can never fire") {
    TempDir dir;
    dir.write("r.yaml", R"(rules:
  - {id: few, description: x, phrases: [a, b], min_count: 3, score: 1}
  - {id: has-lu, description: x, header_present: List-Unsubscribe, mode: monitor}
  - {id: no-lu, description: x, header_absent: list-unsubscribe, mode: monitor}
  - {id: both, description: x, all: [has-lu, no-lu], action: reject}
  - {id: not-lu, description: x, not: has-lu, mode: monitor}
  - {id: contradiction, description: x, all: [has-lu, not-lu], action: reject}
)");
    const auto result = load_rules(dir.path());
    REQUIRE_FALSE(result.ok());
    std::string text;
    for (const auto& d : result.diagnostics) text += d.str() + "\n";
    CHECK_THAT(text, Catch::Contains("rule 'few': can never fire: min_count 3 is more than its 2 phrases"));
    CHECK_THAT(text, Catch::Contains("rule 'both': can never fire"));
    CHECK_THAT(text, Catch::Contains("rule 'contradiction': can never fire"));
}

TEST_CASE("a score or threshold of .nan or .inf is refused: no total could reach or pass it sensibly") {
    TempDir dir;
    dir.write("r.yaml", "policy:\n  thresholds: {tag: .nan}\nrules:\n  - id: a\n    description: x\n"
                        "    header_absent: Date\n    score: .inf\n");
    CHECK_THAT(load_errors(dir), Catch::Contains("r.yaml:2:21: thresholds.tag: expected a positive number") &&
                                     Catch::Contains("r.yaml:7:12: rule 'a': score: expected a number"));
}

TEST_CASE("a composition naming a rule with errors says so, not that the rule is unknown") {
    TempDir dir;
    dir.write("r.yaml", "rules:\n  - id: broken\n    description: x\n    check: nope\n    action: reject\n"
                        "  - id: both\n    description: y\n    all: [broken]\n    action: reject\n");
    CHECK_THAT(load_errors(dir),
               Catch::Contains("r.yaml:6:5: rule 'both': names rule 'broken', which has errors") &&
                   !Catch::Contains("unknown rule 'broken'"));
}

TEST_CASE("a phrases_file that is a directory is named as one") {
    TempDir dir;
    std::filesystem::create_directories(dir.path() / "lists");
    dir.write("r.yaml", "rules:\n  - id: a\n    description: x\n    phrases_file: lists\n    score: 1\n");
    CHECK_THAT(load_errors(dir),
               Catch::Contains("r.yaml:4:19: rule 'a': phrases_file 'lists' is a directory"));
}

TEST_CASE("a tab in the indentation is named in the syntax error") {
    TempDir dir;
    dir.write("r.yaml", "rules:\n\t- id: a\n\t  description: x\n");
    CHECK_THAT(
        load_errors(dir),
        Catch::Contains("r.yaml:2:2: YAML syntax error: illegal block entry (a tab indents this line"));
}

TEST_CASE("a rule file or phrases_file that is not UTF-8 is refused at the first bad byte") {
    TempDir dir;
    dir.write("r.yaml", "rules:\n  - id: a\n    description: x\n    phrases: [\"caf\xE9\"]\n    score: 1\n");
    CHECK_THAT(load_errors(dir),
               Catch::Contains("r.yaml:4:19: not UTF-8 (byte 0xE9); save the file as UTF-8"));

    TempDir other;
    other.write("list.txt", "act now\ncaf\xE9\n");
    other.write("r.yaml",
                "rules:\n  - id: a\n    description: x\n    phrases_file: list.txt\n    score: 1\n");
    CHECK_THAT(load_errors(other),
               Catch::Contains("r.yaml:4:19: rule 'a': phrases_file 'list.txt' line 2 is not UTF-8"));
}

TEST_CASE("an example's text that is not text is an error, not an empty message") {
    TempDir dir;
    dir.write("r.yaml", "rules:\n  - id: a\n    description: x\n    header_absent: Date\n    score: 1\n"
                        "    examples:\n      match: [{text: [Subject, x]}]\n");
    CHECK_THAT(load_errors(dir),
               Catch::Contains("r.yaml:7:22: rule 'a': text: expected the message as text"));
}
