// scan_inputs: which strings of a ParsedMessage each scan target covers (subject, header:Name, body,
// footer, url, url_domain...). Shared by inspect() and the bench's bare-scan floor so both scan the
// same bytes. Header-only: it runs once per (database, message) on the hot path.
#pragma once

#include "engine/ascii.hpp"
#include "engine/pattern_set.hpp"

#include <cstring>
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

// s in ASCII lower case, into `out` (replacing what it held).
inline void lower_into(std::string_view s, std::string& out) {
    out.resize(s.size());
    for (std::size_t i = 0; i < s.size(); ++i)
        out[i] = ascii::lower(s[i]);
}

// The host of a URL ("scheme://[user@]host[:port]/..." or "mailto:user@host?..."), lower-cased into `out`, or
// empty. Every link of every message goes through here once per url_domain database: it writes into one
// buffer and finds each delimiter in one pass instead of allocating a string per link.
inline std::string_view url_domain(std::string_view url, std::string& out) {
    out.clear();
    std::size_t scheme = 0;
    while (true) {
        const auto* colon =
            static_cast<const char*>(std::memchr(url.data() + scheme, ':', url.size() - scheme));
        if (colon == nullptr) {
            scheme = std::string_view::npos;
            break;
        }
        scheme = static_cast<std::size_t>(colon - url.data());
        if (url.substr(scheme, 3) == "://") break;
        ++scheme;
    }
    if (scheme == std::string_view::npos) {
        if (url.starts_with("mailto:")) {
            const auto at = url.find('@');
            if (at == std::string_view::npos) return {};
            const auto query = url.find('?');
            // A '?' before the '@' is in the user part: the host runs to the end.
            lower_into(url.substr(at + 1, query != std::string_view::npos && query > at
                                              ? query - at - 1
                                              : std::string_view::npos),
                       out);
        }
        return out;
    }
    std::string_view host = url.substr(scheme + 3);
    for (std::size_t i = 0; i < host.size(); ++i) {
        if (host[i] == '/' || host[i] == '?' || host[i] == '#') {
            host = host.substr(0, i);
            break;
        }
    }
    if (const auto at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);
    if (!host.empty() && host.front() != '[') host = host.substr(0, host.find(':'));
    lower_into(host, out);
    return out;
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
    case Target::url_domain: {
        std::string buffer;
        for (const auto& part : message.parts)
            for (const auto& link : part.links) {
                const std::string_view domain = url_domain(link.href, buffer);
                if (!domain.empty()) scan(domain);
            }
        break;
    }
    case Target::attachment_name:
        for (const auto& a : message.attachments)
            if (!a.filename.empty()) scan(std::string_view(a.filename));
        break;
    }
}

} // namespace presend::detail
