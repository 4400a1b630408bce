// html_text: HTML → the text a reader sees and the links they can click. Called by mime_parser for every
// text/html part. One linear pass with a stack of at most k_max_open_elements open elements: time and memory
// grow with the input alone, whatever its nesting. Thread-safe: no shared state (a workspace and a link pool
// belong to their caller's thread).
#pragma once

#include "presend/message.hpp"

#include <cstddef>
#include <memory>
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

// The buffers a conversion works in (the stack of open elements, a link's decoded href), kept by a caller
// that converts part after part so that they are allocated once rather than for every part.
class HtmlWorkspace {
  public:
    HtmlWorkspace();
    ~HtmlWorkspace();
    HtmlWorkspace(const HtmlWorkspace&) = delete;
    HtmlWorkspace& operator=(const HtmlWorkspace&) = delete;

    // Frees a buffer one big document grew past max_bytes, so that it does not stay with the caller.
    void release_if_large(std::size_t max_bytes);

    struct Buffers; // defined by html_text.cpp
    Buffers& buffers() { return *m_buffers; }

  private:
    std::unique_ptr<Buffers> m_buffers;
};

// Where the links of a conversion come from: a caller that keeps the Links of earlier messages hands them
// out, emptied, so that their strings' capacity is reused.
class LinkPool {
  public:
    virtual Link take() = 0;

  protected:
    ~LinkPool() = default;
};

// The same conversion, appended to a caller's buffers: the visible text goes after what `text` holds (folded
// and trimmed on its own, as html_to_text's text would be), the links after those in `links`, each one taken
// from `pool` when given. A caller that reuses its strings, vectors, workspace and links allocates nothing
// once they have grown to the size of its documents. Returns HtmlText::simplified.
bool append_html_text(std::string_view html, std::string& text, std::vector<Link>& links,
                      HtmlWorkspace& workspace, LinkPool* pool = nullptr);

} // namespace presend
