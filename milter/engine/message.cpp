// message: header look-ups on a ParsedMessage. Called by the rules for every header condition, so no
// allocation: names compare ASCII case-insensitively in place (header names are ASCII by RFC 5322).
#include "presend/message.hpp"
#include "engine/ascii.hpp"

namespace presend {

namespace {

} // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii::lower(a[i]) != ascii::lower(b[i])) return false;
    }
    return true;
}

const Header* ParsedMessage::header(std::string_view name) const {
    for (const Header& h : headers) {
        if (iequals(h.name, name)) return &h;
    }
    return nullptr;
}

std::size_t ParsedMessage::header_count(std::string_view name) const {
    std::size_t n = 0;
    for (const Header& h : headers) {
        if (iequals(h.name, name)) ++n;
    }
    return n;
}

} // namespace presend
