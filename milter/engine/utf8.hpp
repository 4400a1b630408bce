// utf8: where valid UTF-8 ends. Defined in mime_parser.cpp beside the decoding that runs it on every
// message; the rule loader runs it on rule and phrase files, whose patterns only match UTF-8 text.
#pragma once

#include <cstddef>
#include <string_view>

namespace presend {

// Offset of the first byte that does not start a valid sequence (overlong forms, surrogates and code
// points past U+10FFFF are not valid), or s.size() when all of s is valid UTF-8.
std::size_t valid_utf8_prefix(std::string_view s);

} // namespace presend
