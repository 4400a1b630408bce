// ASCII byte helpers shared by the parsers of messages, tokens and config. Message data is bytes in any
// charset: <cctype> would depend on the locale and take ints, these do neither.
#pragma once

#include <string_view>

namespace presend::ascii {

constexpr char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}
constexpr bool is_wsp(char c) { // RFC 5322 WSP
    return c == ' ' || c == '\t';
}
constexpr bool is_space(char c) { // what isspace() means in the C locale
    return c == ' ' || (c >= '\t' && c <= '\r');
}
constexpr bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
constexpr bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}

// Without the spaces and tabs at both ends.
constexpr std::string_view trim_wsp(std::string_view text) {
    while (!text.empty() && is_wsp(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_wsp(text.back()))
        text.remove_suffix(1);
    return text;
}

// Without any whitespace (CR and LF included) at both ends.
constexpr std::string_view trim_space(std::string_view text) {
    while (!text.empty() && is_space(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_space(text.back()))
        text.remove_suffix(1);
    return text;
}

} // namespace presend::ascii
