// json_out: see json_out.hpp. Called for every field of every decision line, so nothing here allocates
// beyond the growth of the caller's buffer.
#include "engine/json_out.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>

namespace presend::json_out {

namespace {

constexpr std::string_view k_replacement_char = "\xEF\xBF\xBD"; // U+FFFD

// The UTF-8 sequence that starts at text[at] (a byte of 0x80 or more): its size when it is well formed
// (Unicode table 3-7), else how many of its bytes could still have begun a character: those are
// replaced, and reading goes on at the byte that broke the sequence.
struct Utf8Sequence {
    std::size_t size;
    bool valid;
};

Utf8Sequence utf8_sequence(std::string_view text, std::size_t at) {
    const auto lead = static_cast<unsigned char>(text[at]);
    std::size_t continuation;  // bytes after the lead
    unsigned char low = 0x80;  // the second byte's range: narrower after E0, ED, F0 and F4, which
    unsigned char high = 0xBF; // rule out overlong forms, surrogates and code points past U+10FFFF
    if (lead >= 0xC2 && lead <= 0xDF) {
        continuation = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        continuation = 2;
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        continuation = 3;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
    } else {
        return {1, false}; // a continuation byte, C0, C1 or F5-FF: never the start of a character
    }
    for (std::size_t k = 1; k <= continuation; ++k) {
        if (at + k >= text.size()) return {k, false}; // cut short by the end of the string
        const auto c = static_cast<unsigned char>(text[at + k]);
        if (c < low || c > high) return {k, false};
        low = 0x80;
        high = 0xBF;
    }
    return {continuation + 1, true};
}

void append_escape(std::string& out, unsigned char c) {
    switch (c) {
    case '\b':
        out += "\\b";
        return;
    case '\t':
        out += "\\t";
        return;
    case '\n':
        out += "\\n";
        return;
    case '\f':
        out += "\\f";
        return;
    case '\r':
        out += "\\r";
        return;
    case '"':
        out += "\\\"";
        return;
    case '\\':
        out += "\\\\";
        return;
    default:
        break;
    }
    constexpr std::string_view k_hex = "0123456789abcdef";
    const char escape[] = {'\\', 'u', '0', '0', k_hex[c >> 4], k_hex[c & 0xF]};
    out.append(escape, sizeof escape);
}

template <class Int> void append_integer(std::string& out, Int value) {
    char buf[24]; // 20 digits and a sign at most
    const auto result = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, static_cast<std::size_t>(result.ptr - buf));
}

} // namespace

void append_string(std::string& out, std::string_view text) {
    out += '"';
    std::size_t copied = 0; // text[copied, at) is still to be copied as it is
    std::size_t at = 0;
    while (at < text.size()) {
        const auto c = static_cast<unsigned char>(text[at]);
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            ++at;
            continue;
        }
        if (c >= 0x80) {
            const Utf8Sequence sequence = utf8_sequence(text, at);
            if (!sequence.valid) {
                out.append(text.data() + copied, at - copied);
                out += k_replacement_char;
                copied = at + sequence.size;
            }
            at += sequence.size;
            continue;
        }
        out.append(text.data() + copied, at - copied);
        append_escape(out, c);
        copied = ++at;
    }
    out.append(text.data() + copied, text.size() - copied);
    out += '"';
}

void append_number(std::string& out, double value) {
    if (!std::isfinite(value)) {
        out += "null";
        return;
    }
    // nlohmann's own digits (Grisu2, then its choice of fixed or exponent form): std::to_chars gives the
    // shortest digits, which differ from Grisu2's in rare cases, and the lines must not change.
    char buf[64];
    const char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, static_cast<std::size_t>(end - buf));
}

void append_number(std::string& out, std::int64_t value) {
    append_integer(out, value);
}

void append_number(std::string& out, std::uint64_t value) {
    append_integer(out, value);
}

} // namespace presend::json_out
