// fuzz_message: libFuzzer target for the whole message path, raw bytes → parse → inspect → decide,
// with the shipped rules. Beyond "no crash, no sanitizer report", it checks what the daemon relies
// on: parse_message() never throws, a verdict always comes out, dry-run never applies a block, and a
// message parsed into a ParsedMessage reused from input to input (as the daemon's threads do) is the same as
// a fresh one.
#include "fuzz_support.hpp"
#include "presend/engine.hpp"
#include "presend/ruleset.hpp"

#include <algorithm>
#include <cstdint>
#include <string_view>

using presend::fuzz::require;
using presend::fuzz::shipped_rules;

namespace {

bool same(const presend::ParsedMessage& a, const presend::ParsedMessage& b) {
    const auto same_header = [](const presend::Header& x, const presend::Header& y) {
        return x.name == y.name && x.raw_value == y.raw_value && x.value == y.value;
    };
    const auto same_link = [](const presend::Link& x, const presend::Link& y) {
        return x.href == y.href && x.text == y.text;
    };
    const auto same_part = [&](const presend::TextPart& x, const presend::TextPart& y) {
        return x.content_type == y.content_type && x.text == y.text &&
               std::equal(x.links.begin(), x.links.end(), y.links.begin(), y.links.end(), same_link);
    };
    const auto same_attachment = [](const presend::Attachment& x, const presend::Attachment& y) {
        return x.filename == y.filename && x.content_type == y.content_type && x.size == y.size;
    };
    return a.raw_size == b.raw_size && a.facts == b.facts &&
           std::equal(a.headers.begin(), a.headers.end(), b.headers.begin(), b.headers.end(), same_header) &&
           std::equal(a.parts.begin(), a.parts.end(), b.parts.begin(), b.parts.end(), same_part) &&
           std::equal(a.attachments.begin(), a.attachments.end(), b.attachments.begin(), b.attachments.end(),
                      same_attachment);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    const presend::RuleSet& rules = shipped_rules();

    presend::Envelope envelope;
    envelope.mail_from = "news@bounce.example.com";
    envelope.rcpts = {"someone@example.net"};

    // Small limits so deep and wide inputs reach the limit paths within -max_len.
    presend::Limits limits;
    limits.max_mime_depth = 8;
    limits.max_mime_parts = 20;
    limits.max_urls = 50;
    const presend::ParsedMessage message = presend::parse_message(raw, limits);
    static presend::ParsedMessage reused; // holds the inputs before this one
    presend::parse_message(raw, reused, limits);
    require(same(reused, message), "a reused message parses as a fresh one");
    auto hits = presend::inspect(rules, message, envelope);
    const std::size_t hit_count = hits.size();

    const presend::Verdict enforced = presend::decide(rules, hits, presend::Mode::enforce);
    require(enforced.hits.size() == hit_count, "decide keeps every hit");
    const presend::Verdict dry = presend::decide(rules, std::move(hits), presend::Mode::dry_run);
    require(dry.action == presend::Action::accept, "dry-run applies accept");
    require(dry.would_action == enforced.action, "dry-run records the enforced action");
    return 0;
}
