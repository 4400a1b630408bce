// milter_chunks: a raw .eml split the way the MTA hands it to the milter (header fields, then CRLF body
// chunks), and fed to a MessageBuilder. Used by `presend bench` (to time assembly) and `presend check`
// (to cut an oversize message to its headers exactly as the daemon does).
#pragma once

#include "daemon/message_builder.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace presend::cli {

// Header fields with the whitespace after the colon stripped and folded lines joined by "\n", then the
// body in CRLF form, in chunks of at most k_milter_chunk bytes (libmilter's MILTER_CHUNK_SIZE).
struct MilterChunks {
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::string> body;
};

inline constexpr std::size_t k_milter_chunk = 65535;

MilterChunks to_milter_chunks(std::string_view raw);

// builder.reset(max_bytes, max_headers), then every header and body chunk, as the daemon's callbacks do.
void feed(daemon::MessageBuilder& builder, const MilterChunks& chunks, std::size_t max_bytes,
          std::size_t max_headers = 0);

} // namespace presend::cli
