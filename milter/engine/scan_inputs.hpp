// scan_inputs: which strings of a ParsedMessage each scan target covers (subject, header:Name, body,
// footer, url, url_domain...). Shared by inspect() and the bench's bare-scan floor so both scan the
// same bytes. Header-only: it runs once per (database, message) on the hot path.
#pragma once

#include "engine/pattern_set.hpp"

#include <cctype>
#include <string>
#include <string_view>

namespace presend::detail {

// How much of the end of the last text and HTML part counts as the footer: enough for an
// unsubscribe line, a postal address and a "why you get this" sentence, not the whole letter.
constexpr std::size_t k_footer_chars = 1500;

// Backs off to a UTF-8 lead byte so a cut never starts mid-character.
inline std::size_t utf8_start(std::string_view s, std::size_t i) {
    while (i > 0 && i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    return i;
}

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

inline std::string url_domain(std::string_view url) {
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos) {
        if (url.rfind("mailto:", 0) == 0) {
            auto at = url.find('@');
            return at == std::string_view::npos ? std::string()
                                                : lower(url.substr(at + 1, url.find('?') - at - 1));
        }
        return {};
    }
    auto host = url.substr(scheme + 3);
    host = host.substr(0, host.find_first_of("/?#"));
    if (auto at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);
    if (!host.empty() && host.front() != '[') host = host.substr(0, host.find(':'));
    return lower(host);
}

// Calls scan(input) for every input a target names.
template <class Scan>
void for_each_scan_input(const ScanTarget& target, const ParsedMessage& message, Scan&& scan) {
    switch (target.target) {
    case Target::subject:
        for (const auto& h : message.headers)
            if (iequals(h.name, "Subject")) scan(std::string_view(h.value));
        break;
    case Target::header:
        for (const auto& h : message.headers)
            if (iequals(h.name, target.header_name)) scan(std::string_view(h.value));
        break;
    case Target::headers: {
        std::string all;
        for (const auto& h : message.headers) {
            all += h.name;
            all += ": ";
            all += h.value;
            all += '\n';
        }
        scan(std::string_view(all));
        break;
    }
    case Target::text:
    case Target::html:
    case Target::body:
        for (const auto& part : message.parts) {
            const bool html = part.content_type == "text/html";
            if (target.target == Target::body || html == (target.target == Target::html))
                scan(std::string_view(part.text));
        }
        break;
    case Target::footer:
        for (const char* type : {"text/plain", "text/html"}) {
            for (auto part = message.parts.rbegin(); part != message.parts.rend(); ++part) {
                if (part->content_type != type) continue;
                std::string_view text = part->text;
                if (text.size() > k_footer_chars)
                    text.remove_prefix(utf8_start(text, text.size() - k_footer_chars));
                scan(text);
                break;
            }
        }
        break;
    case Target::url:
        for (const auto& part : message.parts)
            for (const auto& link : part.links)
                scan(std::string_view(link.href));
        break;
    case Target::url_domain:
        for (const auto& part : message.parts)
            for (const auto& link : part.links) {
                const auto domain = url_domain(link.href);
                if (!domain.empty()) scan(std::string_view(domain));
            }
        break;
    case Target::attachment_name:
        for (const auto& a : message.attachments)
            if (!a.filename.empty()) scan(std::string_view(a.filename));
        break;
    }
}

} // namespace presend::detail
