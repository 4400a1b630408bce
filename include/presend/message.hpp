// message: a parsed message as the rules see it: decoded headers, text of every part, links, attachments.
// Built by parse_message() (engine/mime_parser.cpp) once per message, into a new object or one reused from
// the message before; read-only afterwards.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace presend {

struct Header {
    std::string name;      // as written
    std::string raw_value; // unfolded, undecoded
    std::string value;     // RFC 2047 decoded to UTF-8
};

struct Link {
    std::string href;
    std::string text; // visible link text (HTML) or the URL itself (plain text)
};

struct TextPart {
    std::string content_type; // "text/plain" or "text/html"
    std::string text;         // UTF-8; for HTML the visible text only
    std::vector<Link> links;  // links found in this part
};

struct Attachment {
    std::string filename;
    std::string content_type;
    std::size_t size = 0; // decoded bytes
};

struct ParsedMessage {
    std::vector<Header> headers;
    std::vector<TextPart> parts; // in MIME order; the last one carries the footer
    std::vector<Attachment> attachments;
    std::set<std::string> facts; // "malformed-mime", "bad-charset", "truncated"...
    std::size_t raw_size = 0;
    // false: only the header block was parsed (parse_headers_only(), past max_message_bytes), so nothing can
    // be said of the body, and inspect() does not judge rules that require something in it.
    bool body_read = true;

    // First header of that name (case-insensitive), or nullptr.
    const Header* header(std::string_view name) const;
    std::size_t header_count(std::string_view name) const;
};

bool iequals(std::string_view a, std::string_view b);

} // namespace presend
