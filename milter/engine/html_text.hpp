// html_text: HTML → the text a reader sees and the links they can click. Called by mime_parser for every
// text/html part. One linear pass with a stack of at most k_max_open_elements open elements: time and memory
// grow with the input alone, whatever its nesting. Thread-safe: no shared state.
#pragma once

#include "presend/message.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace presend {

struct HtmlText {
    std::string text;        // UTF-8, whitespace folded to single spaces, blocks on their own lines
    std::vector<Link> links; // every <a href> in document order; text is empty when the link is hidden
    bool simplified = false; // nesting went past what is tracked: hiding below that depth was not followed
};

// `html` should be UTF-8 (mime_parser converts it first); bytes pass through as they are.
HtmlText html_to_text(std::string_view html);

} // namespace presend
