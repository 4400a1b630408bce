// inspect() allocates per message and per hit, never per rule or pattern: the same message costs the same
// allocations, and the same bytes, with 10 phrases as with 10,000 and with 10 rules as with 1,000. Counted
// by replacing the global operator new for this test binary (the default operator delete frees what malloc
// gave). Not in AddressSanitizer builds: there operator new and delete are the sanitizer's, which checks that
// each is paired with its own (libraries' nothrow and array forms included), and a replaced new breaks that.
#if defined(__SANITIZE_ADDRESS__)
#define PRESEND_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRESEND_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef PRESEND_COUNT_ALLOCATIONS
#define PRESEND_COUNT_ALLOCATIONS 1
#endif

#if PRESEND_COUNT_ALLOCATIONS
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <new>
#include <thread>

namespace {
thread_local bool t_counting = false;
thread_local std::size_t t_allocations = 0;
thread_local std::size_t t_bytes = 0;
} // namespace

void* operator new(std::size_t size) {
    if (t_counting) {
        ++t_allocations;
        t_bytes += size;
    }
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}

using namespace presend;
using presend::test::message_with;
using presend::test::TempDir;

namespace {

// The rules below, plus one rule of `phrases` phrases and `rules` rules of one phrase each, none of which
// matches the message.
std::shared_ptr<const RuleSet> rules_with(const TempDir& dir, std::size_t phrases, std::size_t rules) {
    std::string list;
    for (std::size_t i = 0; i < phrases; ++i)
        list += "zq phrase " + std::to_string(i) + "\n";
    dir.write("phrases.txt", list);
    std::string yaml = R"(rules:
  - {id: no-lu, description: x, header_absent: List-Unsubscribe, score: 1}
  - {id: offer, description: x, phrases: [limited offer], target: body, score: 1}
  - {id: many, description: x, phrases_file: phrases.txt, target: body, score: 1}
  - {id: url, description: x, regex: "tracker\\.example", target: url, score: 1}
)";
    for (std::size_t i = 0; i < rules; ++i)
        yaml += "  - {id: r" + std::to_string(i) + ", description: x, phrases: [zq rule " + std::to_string(i) +
                "], target: body, score: 1}\n";
    dir.write("r.yaml", yaml);
    auto result = load_rules(dir.path());
    INFO(test::all_diagnostics(result));
    REQUIRE(result.ok());
    return result.rules;
}

struct Cost {
    std::size_t allocations = 0;
    std::size_t bytes = 0;
};

// One inspect of `message`, counted on this thread as it stands. No Catch assertion in it, so that the
// threads of the tests below may call it.
Cost counted_inspect(const RuleSet& rules, const ParsedMessage& message) {
    t_allocations = 0;
    t_bytes = 0;
    t_counting = true;
    (void)inspect(rules, message, {});
    t_counting = false;
    return {t_allocations, t_bytes};
}

// An inspect once the thread's scan state has grown to this rule set (the first call grows it).
Cost cost_of_inspect(const RuleSet& rules, const ParsedMessage& message) {
    REQUIRE(inspect(rules, message, {}).size() == 2); // no-lu and offer, whatever else is loaded
    return counted_inspect(rules, message);
}

ParsedMessage sample_message() {
    ParsedMessage message = message_with({{"Subject", "News"}}, "A limited offer for zq phrase members.",
                                         "<p>A limited offer</p>");
    message.parts[0].links.push_back({"https://shop.example/", "https://shop.example/"});
    return message;
}

} // namespace

TEST_CASE("inspect allocates the same for a message with 10 or 10,000 phrases loaded") {
    TempDir small_dir, large_dir;
    const ParsedMessage message = sample_message();
    const Cost small = cost_of_inspect(*rules_with(small_dir, 10, 0), message);
    const Cost large = cost_of_inspect(*rules_with(large_dir, 10000, 0), message);
    CHECK(small.allocations == large.allocations);
    CHECK(small.bytes == large.bytes);
    CHECK(small.allocations < 40); // the hits and their strings
}

TEST_CASE("inspect allocates the same for a message with 10 or 1,000 rules loaded") {
    TempDir small_dir, large_dir;
    const ParsedMessage message = sample_message();
    const Cost small = cost_of_inspect(*rules_with(small_dir, 10, 10), message);
    const Cost large = cost_of_inspect(*rules_with(large_dir, 10, 1000), message);
    CHECK(small.allocations == large.allocations);
    CHECK(small.bytes == large.bytes);
}

namespace {

// Called on a thread of its own (Catch's assertions are not thread-safe: the caller checks `parts`).
Cost cost_of_parse(std::string_view raw, std::size_t& parts) {
    t_allocations = 0;
    t_bytes = 0;
    t_counting = true;
    const ParsedMessage message = parse_message(raw);
    t_counting = false;
    parts = message.parts.size();
    return {t_allocations, t_bytes};
}

std::string newsletter() {
    std::string html;
    for (int i = 0; i < 400; ++i)
        html += "<tr><td style=\"padding:0 10px;font-family:Arial\">Row " + std::to_string(i) +
                " of the <a href=\"https://e.example/r" + std::to_string(i) + "\">newsletter</a></td></tr>\r\n";
    return "From: a@example.com\r\nSubject: News\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n"
           "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain text.\r\n"
           "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<table>" +
           html + "</table>\r\n--b--\r\n";
}

// Called on a thread of its own, like cost_of_parse.
Cost cost_of_reused_parse(std::string_view raw, ParsedMessage& message) {
    t_allocations = 0;
    t_bytes = 0;
    t_counting = true;
    parse_message(raw, message);
    t_counting = false;
    return {t_allocations, t_bytes};
}

} // namespace

TEST_CASE("parse_message reuses the thread's buffers: the same message costs less after the first") {
    const std::string raw = newsletter();
    // On a new thread, whose buffers no earlier test has grown.
    Cost first, second, third;
    std::size_t parts = 0;
    std::thread([&] {
        first = cost_of_parse(raw, parts);
        second = cost_of_parse(raw, parts);
        third = cost_of_parse(raw, parts);
    }).join();
    REQUIRE(parts == 2);
    // The HTML is decoded into the thread's buffers: only what the message keeps is allocated again.
    CHECK(second.bytes + raw.size() / 2 < first.bytes);
    CHECK(third.allocations == second.allocations);
    CHECK(third.bytes == second.bytes);
}

TEST_CASE("parse_message into a reused message allocates far less than a fresh parse, once it has run") {
    // Headers, and plain text with links: what a reused message keeps from one parse to the next.
    std::string raw =
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: A receipt for your order\r\n"
        "Message-ID: <order-1234567890@shop.example>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
        "List-Unsubscribe: <https://shop.example/unsubscribe?u=1234567890>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n";
    for (int i = 0; i < 40; ++i)
        raw += "Item " + std::to_string(i) + " shipped, track it at https://track.example/parcel/" +
               std::to_string(i) + " today.\r\n";
    Cost fresh, first, steady;
    std::size_t parts = 0;
    std::thread([&] {
        (void)cost_of_parse(raw, parts); // the thread's scratch buffers grow once
        fresh = cost_of_parse(raw, parts);
        ParsedMessage message;
        first = cost_of_reused_parse(raw, message);
        (void)cost_of_reused_parse(raw, message); // the thread's spares grow to this message's
        steady = cost_of_reused_parse(raw, message);
        parts = message.parts.size();
    }).join();
    REQUIRE(parts == 1);
    CHECK(fresh.allocations > 80);                 // each header's strings, each link's, the text
    CHECK(first.allocations == fresh.allocations); // nothing to reuse yet
    CHECK(steady.allocations * 10 < fresh.allocations);
    CHECK(steady.bytes * 10 < fresh.bytes);
}

TEST_CASE("a thread that starts after another ended reuses the buffers that one grew") {
    // libmilter's pool of workers ends idle threads and starts new ones under load: the parse buffers, the
    // reused message's spares and the scan's counters must pass from one thread to the next.
    const std::string raw = newsletter();
    TempDir dir;
    const auto rules = rules_with(dir, 10000, 0);
    const ParsedMessage sample = sample_message();
    Cost steady, next_first, scan_steady, next_scan;
    std::size_t parts = 0, next_parts = 0;
    std::thread([&] {
        ParsedMessage message;
        for (int i = 0; i < 6; ++i) // the HTML's text and links settle after a few messages
            steady = cost_of_reused_parse(raw, message);
        parts = message.parts.size();
        recycle_message(message);
        (void)inspect(*rules, sample, {}); // grows this thread's scan state
        scan_steady = counted_inspect(*rules, sample);
    }).join();
    std::thread([&] {
        ParsedMessage message; // a new message: its own arrays are allocated once, its elements are reused
        next_first = cost_of_reused_parse(raw, message);
        next_parts = message.parts.size();
        next_scan = counted_inspect(*rules, sample); // the first on this thread
    }).join();
    REQUIRE(parts == 2);
    REQUIRE(next_parts == 2);
    // A new thread parsing with nothing reused would allocate the HTML's decoded bytes again (about the
    // message's size) and its elements' buffers.
    CHECK(next_first.bytes < steady.bytes + raw.size() / 2);
    // The scan's per-pattern counters (10,000 patterns) are not sized again.
    CHECK(next_scan.allocations == scan_steady.allocations);
}

TEST_CASE("an HTML message parsed into a reused message allocates nothing for its text and links") {
    // 400 links in the HTML part: their strings, the part's text and the walker's buffers all come from what
    // the message and the thread kept from the parse before.
    const std::string raw = newsletter();
    Cost fresh, steady;
    std::size_t parts = 0, links = 0;
    std::thread([&] {
        (void)cost_of_parse(raw, parts); // the thread's scratch buffers grow once
        fresh = cost_of_parse(raw, parts);
        ParsedMessage message;
        (void)cost_of_reused_parse(raw, message);
        (void)cost_of_reused_parse(raw, message); // the thread's spares grow to this message's
        steady = cost_of_reused_parse(raw, message);
        parts = message.parts.size();
        links = message.parts.size() == 2 ? message.parts[1].links.size() : 0;
    }).join();
    REQUIRE(parts == 2);
    REQUIRE(links == 400);
    INFO("fresh " << fresh.allocations << " steady " << steady.allocations);
    CHECK(fresh.allocations > 400); // each link's href (its text fits in the string itself)
    CHECK(steady.allocations == 0); // none per link, none for the text, none for the walker's stack
    CHECK(steady.bytes == 0);
}

#endif // PRESEND_COUNT_ALLOCATIONS
