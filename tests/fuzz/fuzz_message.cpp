// fuzz_message: libFuzzer target for the whole message path, raw bytes → parse → inspect → decide,
// with the shipped rules. Beyond "no crash, no sanitizer report", it checks what the daemon relies
// on: parse_message() never throws, a verdict always comes out, and dry-run never applies a block.
#include "fuzz_support.hpp"
#include "presend/engine.hpp"
#include "presend/ruleset.hpp"

#include <cstdint>
#include <string_view>

using presend::fuzz::require;
using presend::fuzz::shipped_rules;

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
    auto hits = presend::inspect(rules, message, envelope);
    const std::size_t hit_count = hits.size();

    const presend::Verdict enforced = presend::decide(rules, hits, presend::Mode::enforce);
    require(enforced.hits.size() == hit_count, "decide keeps every hit");
    const presend::Verdict dry = presend::decide(rules, std::move(hits), presend::Mode::dry_run);
    require(dry.action == presend::Action::accept, "dry-run applies accept");
    require(dry.would_action == enforced.action, "dry-run records the enforced action");
    return 0;
}
