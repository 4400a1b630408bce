// limits: the per-message limits of presend.yaml's `limits:` section, each with its reason, the fact a
// message past one carries, and the least verdict such a message gets. Read by limits_config.cpp;
// enforced by MessageBuilder (size), the MIME parser (headers, structure, decoded text, links, time) and
// evaluate() (time); apply_limits() raises the verdict the same way for the daemon and `presend check`.
// docs/limits.md explains each choice.
#pragma once

#include "presend/verdict.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace presend {

struct Limits {
    // A message is buffered whole for MIME parsing; past this size only its headers are judged.
    std::size_t max_message_bytes = 32u << 20;
    Action on_oversize = Action::accept; // the least a message over max_message_bytes gets

    // Header fields kept. Real mail has tens (a hundred with a long relay path); thousands are built to
    // slow filters down. The first max_headers are judged.
    std::size_t max_headers = 1000;
    // Bytes of one unfolded header field, name and colon included. RFC 5322 caps each physical line at 998
    // octets but not a folded field; Postfix keeps 100 KiB (header_size_limit). Past it the value is cut.
    std::size_t max_header_line = 64u << 10;
    std::size_t max_mime_depth = 32;  // deeper nesting is an attack, not mail
    std::size_t max_mime_parts = 500; // more parts than any real newsletter; the first ones are judged
    // Text and HTML kept for the rules, over all parts, after transfer decoding: scanning and the HTML DOM
    // cost grow with it. Past it the rest is not decoded.
    std::size_t max_decoded_bytes = 16u << 20;
    // Links kept for the url rules and link-domain-mismatch. A big newsletter has a few hundred.
    std::size_t max_urls = 2000;
    // Wall time for parsing and inspecting one message, checked between parts and after inspection: a
    // message that needs more gets a verdict on what was read by then, never a hang. Far inside Postfix's
    // milter_content_timeout (300 s), so Postfix never gives up on presend first.
    std::size_t time_budget_ms = 2000;
    // The least a message past any limit above gets. tempfail, like on_error: what presend could not read
    // whole is neither lost (the client keeps it and retries; a time budget missed under load passes later)
    // nor relayed unread (a message past a limit every time bounces to its sender with the reply's reason).
    Action on_limit = Action::tempfail;
};

// A limit as the parser reports it (fact) and as presend.yaml names it (key).
struct LimitFact {
    std::string_view fact;
    std::string_view key;
    std::size_t Limits::*value;
};

inline constexpr std::array<LimitFact, 7> k_limit_facts{{
    {"too-many-headers", "max_headers", &Limits::max_headers},
    {"header-too-long", "max_header_line", &Limits::max_header_line},
    {"mime-too-deep", "max_mime_depth", &Limits::max_mime_depth},
    {"too-many-parts", "max_mime_parts", &Limits::max_mime_parts},
    {"decoded-too-large", "max_decoded_bytes", &Limits::max_decoded_bytes},
    {"too-many-urls", "max_urls", &Limits::max_urls},
    {"time-budget-exceeded", "time_budget_ms", &Limits::time_budget_ms},
}};

// Set beside any of the facts above, so one `fact:` rule can watch them all.
inline constexpr std::string_view k_limit_exceeded_fact = "limit-exceeded";

// The limits a verdict's notes show were passed, in k_limit_facts order.
std::vector<LimitFact> limits_passed(const std::vector<std::string>& notes);

// After parse + inspect + decide: notes time-budget-exceeded when parse and inspect took longer than the
// budget. When any limit was passed the rules judged a partial read, so their verdict counts up to tempfail
// only (a rule looking for something absent may fire because that part went unread: a delay, never a
// bounce or a drop), and the verdict is at least limits.on_limit; the applied action changes in enforce
// only, and a changed verdict gets a reply naming the first limit. Returns the limits passed.
std::vector<LimitFact> apply_limits(Verdict& verdict, const Limits& limits,
                                    std::chrono::steady_clock::duration parse_and_inspect);

// Past max_message_bytes only the headers are parsed (MessageBuilder::headers_only(), in the daemon and in
// `presend check`), by parse_headers_only() (presend/engine.hpp), which gives them the fact `oversize` before
// they are judged, so a `fact: oversize` rule fires; apply_oversize() then notes it (and headers-truncated
// when the header block itself passed the cap) and raises the verdict to at least limits.on_oversize.
inline constexpr std::string_view k_oversize_fact = "oversize";
void apply_oversize(Verdict& verdict, const Limits& limits, bool headers_truncated);

} // namespace presend
