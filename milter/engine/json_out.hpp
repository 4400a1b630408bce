// json_out: JSON scalars appended to a line, byte for byte as nlohmann::json's dump(-1, ' ', false,
// error_handler_t::replace) writes them. decision_log writes a line per message with these instead of
// building a json object and dumping it; old and new lines read the same to `presend report` and to diff.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace presend::json_out {

// A quoted string. ", \ and the control characters are escaped (\b \t \n \f \r, else \u00xx); other bytes
// are copied, UTF-8 included. Each ill-formed UTF-8 sequence (a stray byte, an overlong form, a
// surrogate, a sequence cut short) becomes one U+FFFD, as nlohmann does: the longest prefix that could
// still have become a character is replaced, and the byte that broke it is read again on its own.
void append_string(std::string& out, std::string_view text);

// Shortest digits that read back to the same double, with ".0" on whole numbers ("7.0", "0.3", "1e+16");
// NaN and infinities are "null".
void append_number(std::string& out, double value);
void append_number(std::string& out, std::int64_t value);
void append_number(std::string& out, std::uint64_t value);

inline void append_bool(std::string& out, bool value) {
    out += value ? "true" : "false";
}

} // namespace presend::json_out
