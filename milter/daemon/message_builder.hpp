// message_builder: rebuilds the raw message from the milter's header and body callbacks, for parse_message().
// One per Session, reset for every message. Holds at most max_bytes: past the cap it stops storing and
// remembers oversize(), so a huge message (or an endless header block) costs a bounded amount of memory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace presend::daemon {

class MessageBuilder {
  public:
    // leading_space_kept: the MTA sends header values exactly as written after the colon (SMFIP_HDR_LEADSPC
    // was negotiated). Otherwise it strips the whitespace after the colon and one space is put back.
    explicit MessageBuilder(std::size_t max_bytes = 32u << 20, bool leading_space_kept = false);

    // Starts a new message, keeping the connection's settings. max_headers is limits.max_headers: the
    // builder keeps at least one header more than that, so the parser sees the message is past it.
    void reset(std::size_t max_bytes, std::size_t max_headers = 0);
    void set_leading_space_kept(bool kept) { m_leading_space_kept = kept; }

    // A header as the MTA hands it over: folded lines joined by "\n" or "\r\n", no line end at the end.
    void add_header(std::string_view name, std::string_view value);
    // The blank line after the headers. Implied by the first body chunk and by message().
    void end_headers();
    // Body bytes, already CRLF (the milter protocol sends SMTP canonical form).
    void add_body(std::string_view chunk);

    // Headers, blank line, and the body as far as it was stored.
    std::string_view message();
    // Headers and the blank line only: what is judged when the message is oversize.
    std::string_view headers_only();

    bool oversize() const { return m_oversize; }
    bool headers_truncated() const { return m_headers_truncated; }
    std::size_t header_count() const { return m_header_count; }
    // Bytes the MTA sent for this message, stored or not (with the line ends the builder adds).
    std::size_t seen_bytes() const { return m_seen_bytes; }
    std::size_t max_bytes() const { return m_max_bytes; }

  private:
    // Appends as much of text as the cap allows; false when something was cut.
    bool append_capped(std::string_view text, std::size_t cap);

    std::string m_buffer;
    std::size_t m_max_bytes;
    std::size_t m_max_headers;
    bool m_leading_space_kept;
    std::size_t m_body_offset = std::string::npos; // where the body starts, once the headers ended
    std::size_t m_header_count = 0;
    std::size_t m_seen_bytes = 0;
    bool m_oversize = false;
    bool m_headers_truncated = false;
};

} // namespace presend::daemon
