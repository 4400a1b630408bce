// html_text: HTML → the text a reader sees and the links they can click. Called by mime_parser for every
// text/html part. gumbo builds the DOM, but its cost grows with nesting depth × tokens (10,000 nested <div>s
// take seconds), so past k_max_html_depth open elements or k_max_html_dom_bytes the rest of the input goes
// through a linear tag stripper and `simplified` is set. Thread-safe: no shared state.
#pragma once

#include "presend/message.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace presend {

struct HtmlText {
    std::string text;        // UTF-8, whitespace folded to single spaces, blocks on their own lines
    std::vector<Link> links; // every <a href> in document order; text is empty when the link is hidden
    bool simplified = false; // part of the input was too deep or too large for the DOM parser
};

// `html` should be UTF-8 (mime_parser converts it first); gumbo turns invalid sequences into U+FFFD.
HtmlText html_to_text(std::string_view html);

} // namespace presend
