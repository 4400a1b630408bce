// message_builder: header and body callbacks → one raw CRLF message, capped. See message_builder.hpp.
// Postfix hands a header as its name and its value with folded lines joined by bare "\n" and, unless
// SMFIP_HDR_LEADSPC was negotiated, the whitespace after the colon stripped; both are undone here.
#include "daemon/message_builder.hpp"

#include "engine/ascii.hpp"

#include <algorithm>
#include <cstring>

namespace presend::daemon {

namespace {

// Real mail carries tens of headers, a long Received chain a few hundred. Beyond this the header block
// is an attack on the parser, not mail; what follows is dropped and the message counts as oversize.
// A limits.max_headers above it raises it: a message must reach the parser past that limit (on_limit), not
// stop here as oversize and have its body go unread (on_oversize).
constexpr std::size_t k_max_headers = 10000;

std::size_t header_cap(std::size_t max_headers) {
    return std::max(k_max_headers, max_headers + 1);
}

// A connection that sent one big message must not pin its buffer for the rest of the session.
constexpr std::size_t k_keep_capacity = 1u << 20;

constexpr std::string_view k_crlf = "\r\n";

// A field name is printable US-ASCII without the colon (RFC 5322 2.2); anything else would change where
// the rebuilt header ends, so it is replaced. Names are nearly always clean: copied whole, mended in place.
void append_name(std::string& out, std::string_view name) {
    const std::size_t start = out.size();
    out.append(name);
    for (std::size_t i = start; i < out.size(); ++i) {
        const auto u = static_cast<unsigned char>(out[i]);
        if (u < 33 || u > 126 || u == ':') out[i] = '_';
    }
}

// Where the next line break ("\r" or "\n") of value is at or after from; value.size() when there is none.
std::size_t next_break(std::string_view value, std::size_t from) {
    const char* begin = value.data() + from;
    const std::size_t rest = value.size() - from;
    const auto* lf = static_cast<const char*>(std::memchr(begin, '\n', rest));
    const std::size_t before_lf = lf ? static_cast<std::size_t>(lf - begin) : rest;
    const auto* cr = static_cast<const char*>(std::memchr(begin, '\r', before_lf));
    return from + (cr ? static_cast<std::size_t>(cr - begin) : before_lf);
}

// Every line break ("\r\n", "\n" or a lone "\r") becomes CRLF followed by whitespace, so a fold stays a
// fold and never starts a new header or ends the header block. Trailing line breaks are dropped. The
// text between breaks is copied in one piece.
void append_value(std::string& out, std::string_view value) {
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r'))
        value.remove_suffix(1);
    std::size_t i = 0;
    while (i < value.size()) {
        const std::size_t at = next_break(value, i);
        out.append(value.data() + i, at - i);
        if (at == value.size()) break;
        i = at;
        if (value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') ++i;
        out += k_crlf;
        if (i + 1 >= value.size() || !ascii::is_wsp(value[i + 1])) out += ' ';
        ++i;
    }
}

} // namespace

MessageBuilder::MessageBuilder(std::size_t max_bytes, bool leading_space_kept)
    : m_max_bytes(std::max<std::size_t>(max_bytes, k_crlf.size())), m_max_headers(header_cap(0)),
      m_leading_space_kept(leading_space_kept) {}

void MessageBuilder::reset(std::size_t max_bytes, std::size_t max_headers) {
    if (m_buffer.capacity() > k_keep_capacity) std::string().swap(m_buffer);
    m_buffer.clear();
    m_max_bytes = std::max<std::size_t>(max_bytes, k_crlf.size());
    m_max_headers = header_cap(max_headers);
    m_body_offset = std::string::npos;
    m_header_count = 0;
    m_seen_bytes = 0;
    m_oversize = false;
    m_headers_truncated = false;
}

bool MessageBuilder::append_capped(std::string_view text, std::size_t cap) {
    const std::size_t room = cap > m_buffer.size() ? cap - m_buffer.size() : 0;
    m_buffer.append(text.substr(0, room));
    return text.size() <= room;
}

void MessageBuilder::add_header(std::string_view name, std::string_view value) {
    ++m_header_count;
    if (m_body_offset != std::string::npos) return; // the MTA never does this; the block is closed
    // The line is built where it belongs, at the end of the buffer, and cut off again when it does not
    // fit: no copy per header. The buffer holds at most one line past the cap meanwhile (libmilter caps
    // what one header callback can hand over).
    const std::size_t start = m_buffer.size();
    append_name(m_buffer, name);
    m_buffer += ':';
    if (!m_leading_space_kept && !value.empty()) m_buffer += ' ';
    append_value(m_buffer, value);
    m_buffer += k_crlf;
    m_seen_bytes += m_buffer.size() - start;

    // Once a header is dropped, all later ones are too: the stored block stays a true prefix.
    const std::size_t header_cap = m_max_bytes - k_crlf.size(); // the blank line always fits
    if (!m_headers_truncated && (m_header_count > m_max_headers || m_buffer.size() > header_cap)) {
        // A cut header would be a different header: keep whole ones only.
        m_headers_truncated = true;
        m_oversize = true;
    }
    if (m_headers_truncated) m_buffer.resize(start);
}

void MessageBuilder::end_headers() {
    if (m_body_offset != std::string::npos) return;
    m_buffer += k_crlf;
    m_body_offset = m_buffer.size();
}

void MessageBuilder::add_body(std::string_view chunk) {
    end_headers();
    m_seen_bytes += chunk.size();
    if (m_oversize) return;
    if (!append_capped(chunk, m_max_bytes)) m_oversize = true;
}

std::string_view MessageBuilder::message() {
    end_headers();
    return m_buffer;
}

std::string_view MessageBuilder::headers_only() {
    end_headers();
    return std::string_view(m_buffer).substr(0, m_body_offset);
}

} // namespace presend::daemon
