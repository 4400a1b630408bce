// gmime_view_stream: a read-only GMimeStream over bytes it does not own, so GMime parses the assembled
// message where it lies instead of copying it into a stream of its own. Created by mime_parser once per
// message; the bytes must outlive the stream and every object GMime builds from it (its parts' contents
// are substreams of it).
#pragma once

#include <gmime/gmime.h>

#include <optional>
#include <string_view>

namespace presend {

// A new stream (one reference, for the caller) over `bytes`; reads, seeks and substreams, never writes.
GMimeStream* view_stream_new(std::string_view bytes);

// The bytes a view stream or one of its substreams covers, or nullopt for any other stream: a part's
// content is then read in place rather than copied out through g_mime_stream_read.
std::optional<std::string_view> view_stream_bytes(GMimeStream* stream);

} // namespace presend
