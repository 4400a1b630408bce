// html_text: visible text and links of an HTML part. A linear pre-scan finds how much of the input gumbo
// may take; gumbo parses that prefix and an explicit-stack walk collects the text; the rest, if any, goes
// through strip_tags(). Both write to one TextSink, so text is folded the same way.
#include "engine/html_text.hpp"

#include <gumbo.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <unordered_map>

namespace presend {

namespace {

// gumbo's tree building rescans the open elements and re-opens every unclosed formatting element for each
// token, so its time grows with depth × tokens: 10,000 nested <div>s take seconds, and 5,000 of
// "<p><b id=N>x</p>" take fifteen. Real mail nests tables a few dozen deep; past this estimated depth the
// rest of the input is stripped linearly instead.
constexpr std::size_t k_max_html_depth = 160;
// gumbo parses some 10-20 MB/s and holds about ten times its input as nodes: past this, the stripper.
constexpr std::size_t k_max_html_dom_bytes = 1024 * 1024;
// Re-opened formatting elements multiply nodes without input (80 open <b>s, then "<p>x" 100,000 times,
// make eight million): this bounds gumbo's memory to some tens of MB per part.
constexpr std::size_t k_max_html_nodes = 150000;
// Tag names are compared by their first bytes only; no HTML element name is longer.
constexpr std::size_t k_max_tag_name = 15;

constexpr char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}
constexpr bool is_html_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}
constexpr bool is_printable_ascii(unsigned char c) {
    return c > 0x20 && c < 0x80;
}
constexpr bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// ---------------------------------------------------------------------------------------------------------------
// TextSink: folds whitespace and places line breaks between blocks, for the DOM walk and the stripper alike.

class TextSink {
  public:
    void text(std::string_view s) {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const auto* end = p + s.size();
        while (p < end) {
            const unsigned char c = *p;
            if (is_printable_ascii(c)) { // the bulk of any text: appended a run at a time
                const auto* run_end = p + 1;
                while (run_end != end && is_printable_ascii(*run_end))
                    ++run_end;
                put_run(reinterpret_cast<const char*>(p), static_cast<std::size_t>(run_end - p));
                p = run_end;
                continue;
            }
            if (c < 0x80) {
                if (is_html_space(static_cast<char>(c)) || c == '\v') {
                    m_pending_space = true;
                } else {
                    put(static_cast<char>(c));
                }
                ++p;
                continue;
            }
            // U+00A0 renders as a space; U+00AD, U+200B-U+200D, U+2060 and U+FEFF render as nothing and are a
            // common way to split a phrase so that no pattern matches it.
            if (c == 0xC2 && end - p >= 2 && p[1] == 0xA0) {
                m_pending_space = true;
                p += 2;
                continue;
            }
            if (c == 0xC2 && end - p >= 2 && p[1] == 0xAD) {
                p += 2;
                continue;
            }
            if (c == 0xE2 && end - p >= 3 &&
                ((p[1] == 0x80 && p[2] >= 0x8B && p[2] <= 0x8D) || (p[1] == 0x81 && p[2] == 0xA0))) {
                p += 3;
                continue;
            }
            if (c == 0xEF && end - p >= 3 && p[1] == 0xBB && p[2] == 0xBF) {
                p += 3;
                continue;
            }
            put(static_cast<char>(c));
            ++p;
        }
    }

    void space() { m_pending_space = true; }

    void newline() {
        m_pending_space = false;
        if (!m_out.empty() && m_out.back() != '\n') m_out.push_back('\n');
    }

    std::size_t mark() const { return m_out.size(); }

    // The text written since `mark`, on one line: what a link shows.
    std::string line_since(std::size_t mark) const {
        std::string s = m_out.substr(std::min(mark, m_out.size()));
        std::replace(s.begin(), s.end(), '\n', ' ');
        const auto first = s.find_first_not_of(' ');
        if (first == std::string::npos) return {};
        return s.substr(first, s.find_last_not_of(' ') - first + 1);
    }

    std::string take() {
        while (!m_out.empty() && m_out.back() == '\n')
            m_out.pop_back();
        return std::move(m_out);
    }

  private:
    void put_run(const char* run, std::size_t n) {
        if (m_pending_space && !m_out.empty() && m_out.back() != '\n') m_out.push_back(' ');
        m_pending_space = false;
        m_out.append(run, n);
    }

    void put(char c) {
        if (m_pending_space && !m_out.empty() && m_out.back() != '\n') m_out.push_back(' ');
        m_pending_space = false;
        m_out.push_back(c);
    }

    std::string m_out;
    bool m_pending_space = false;
};

// Browsers drop tabs and newlines anywhere in a URL and spaces around it; so do we, or "ht\ntp://" hides a
// link.
std::string clean_href(std::string_view href) {
    std::string out;
    out.reserve(href.size());
    for (char c : href) {
        if (c != '\t' && c != '\n' && c != '\r') out.push_back(c);
    }
    const auto first = out.find_first_not_of(" \f\v");
    if (first == std::string::npos) return {};
    return out.substr(first, out.find_last_not_of(" \f\v") - first + 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Tag names, lower-cased into a fixed buffer, with what the scanner, the depth estimate and the stripper need
// to know of them looked up once per tag.

enum TagFlag : std::uint16_t {
    k_void = 1 << 0,
    k_implied_end = 1 << 1,       // a new one closes the previous one instead of nesting in it
    k_raw_text = 1 << 2,          // contents are not markup (raw text or RCDATA), as gumbo reads them
    k_special = 1 << 3,           // the HTML "special" category: an end tag of any other element stops here
    k_scope_boundary = 1 << 4,    // the HTML scopes, widened with the list and button ones to err high
    k_formatting_marker = 1 << 5, // starts a new list of formatting elements; closing it drops those inside
    k_block = 1 << 6,             // starts and ends a line of text
    k_foreign_root = 1 << 7,      // svg, math
    k_document = 1 << 8,   // html, head, body: merged into the existing ones, never popped by an end tag
    k_table_part = 1 << 9, // its end tag closes open cells on the way
    k_cell_like = 1 << 10, // closed by the end tag of a table part
};

struct TagTraits {
    std::uint16_t flags = 0;
    std::int8_t formatting = -1; // index among the formatting elements gumbo re-opens after blocks
};

constexpr std::array<std::string_view, 14> k_formatting_names = {
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u"};

const std::unordered_map<std::string_view, TagTraits>& tag_traits() {
    static const auto table = [] {
        std::unordered_map<std::string_view, TagTraits> t;
        const auto mark = [&](std::uint16_t flag, std::initializer_list<std::string_view> names) {
            for (std::string_view n : names)
                t[n].flags |= flag;
        };
        mark(k_void, {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                      "source", "track", "wbr", "keygen", "basefont", "bgsound", "frame", "image"});
        mark(k_implied_end,
             {"p",  "li", "dt",    "dd",    "option", "optgroup", "tr",      "td",   "th",   "rb",
              "rt", "rp", "tbody", "thead", "tfoot",  "colgroup", "caption", "head", "body", "html"});
        mark(k_raw_text,
             {"script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title", "plaintext"});
        mark(k_special,
             {"address",    "applet",   "area",   "article", "aside",     "base",     "basefont", "bgsound",
              "blockquote", "body",     "br",     "button",  "caption",   "center",   "col",      "colgroup",
              "dd",         "details",  "dir",    "div",     "dl",        "dt",       "embed",    "fieldset",
              "figcaption", "figure",   "footer", "form",    "frame",     "frameset", "h1",       "h2",
              "h3",         "h4",       "h5",     "h6",      "head",      "header",   "hgroup",   "hr",
              "html",       "iframe",   "img",    "input",   "keygen",    "li",       "link",     "listing",
              "main",       "marquee",  "menu",   "meta",    "nav",       "noembed",  "noframes", "noscript",
              "object",     "ol",       "p",      "param",   "plaintext", "pre",      "script",   "search",
              "section",    "select",   "source", "style",   "summary",   "table",    "tbody",    "td",
              "template",   "textarea", "tfoot",  "th",      "thead",     "title",    "tr",       "track",
              "ul",         "wbr",      "xmp"});
        mark(k_scope_boundary, {"applet", "caption", "html", "table", "td", "th", "marquee", "object",
                                "template", "button", "ol", "ul", "select", "svg", "math"});
        mark(k_formatting_marker, {"td", "th", "caption", "applet", "marquee", "object", "template"});
        mark(k_block,
             {"address", "article", "aside",  "blockquote", "br",     "caption",   "center",   "dd",
              "details", "dialog",  "dir",    "div",        "dl",     "dt",        "fieldset", "figcaption",
              "figure",  "footer",  "form",   "h1",         "h2",     "h3",        "h4",       "h5",
              "h6",      "header",  "hgroup", "hr",         "legend", "li",        "listing",  "main",
              "menu",    "nav",     "ol",     "p",          "pre",    "section",   "summary",  "table",
              "tbody",   "tfoot",   "thead",  "tr",         "ul",     "plaintext", "option"});
        mark(k_foreign_root, {"svg", "math"});
        mark(k_document, {"html", "head", "body"});
        mark(k_table_part, {"table", "tbody", "thead", "tfoot", "tr"});
        mark(k_cell_like, {"td", "th", "tr", "tbody", "thead", "tfoot", "caption"});
        for (std::size_t i = 0; i < k_formatting_names.size(); ++i) {
            t[k_formatting_names[i]].formatting = static_cast<std::int8_t>(i);
        }
        return t;
    }();
    return table;
}

struct TagName {
    std::array<char, k_max_tag_name + 1> bytes{};
    std::size_t size = 0;
    TagTraits traits;

    std::string_view view() const { return {bytes.data(), size}; }
    bool is(std::uint16_t flag) const { return (traits.flags & flag) != 0; }
    int formatting() const { return traits.formatting; }
    bool operator==(const TagName& other) const { return view() == other.view(); }
};

TagName make_tag_name(std::string_view raw) {
    TagName name;
    name.size = std::min(raw.size(), k_max_tag_name);
    for (std::size_t i = 0; i < name.size; ++i)
        name.bytes[i] = ascii_lower(raw[i]);
    const auto& table = tag_traits();
    if (const auto it = table.find(name.view()); it != table.end()) name.traits = it->second;
    return name;
}

// ---------------------------------------------------------------------------------------------------------------
// HtmlScanner: a linear, forgiving tokenizer — just enough HTML for the depth estimate and the stripper.

struct HtmlToken {
    enum class Kind { Text, StartTag, EndTag, RawText, Skip, End };
    Kind kind = Kind::End;
    std::size_t begin = 0;  // offset of the token in the input
    std::string_view text;  // Text / RawText contents
    TagName name;           // StartTag / EndTag; RawText: its element
    std::string_view attrs; // StartTag: the bytes between the name and '>'
};

class HtmlScanner {
  public:
    explicit HtmlScanner(std::string_view html) : m_html(html) {}

    // Inside SVG or MathML, <style> and <title> hold markup like any other element.
    void set_foreign(bool foreign) { m_foreign = foreign; }

    HtmlToken next() {
        HtmlToken t;
        t.begin = m_pos;
        if (m_raw_end_pending) {
            m_raw_end_pending = false;
            return raw_text(t);
        }
        if (m_pos >= m_html.size()) return t;
        if (!starts_markup(m_pos)) {
            std::size_t end = m_pos + 1;
            while (end < m_html.size()) {
                const auto* lt =
                    static_cast<const char*>(std::memchr(m_html.data() + end, '<', m_html.size() - end));
                end = lt ? static_cast<std::size_t>(lt - m_html.data()) : m_html.size();
                if (end >= m_html.size() || starts_markup(end)) break;
                ++end;
            }
            t.kind = HtmlToken::Kind::Text;
            t.text = m_html.substr(m_pos, end - m_pos);
            m_pos = end;
            return t;
        }
        const char c = m_html[m_pos + 1];
        if (c == '!' || c == '?') {
            t.kind = HtmlToken::Kind::Skip;
            if (m_html.compare(m_pos, 4, "<!--") == 0) {
                const auto close = m_html.find("-->", m_pos + 2);
                m_pos = close == std::string_view::npos ? m_html.size() : close + 3;
            } else {
                skip_past('>', m_pos + 2);
            }
            return t;
        }
        if (c == '/') {
            t.kind = HtmlToken::Kind::EndTag;
            const std::size_t name_begin = m_pos + 2;
            t.name = make_tag_name(m_html.substr(name_begin, name_length(name_begin)));
            skip_past('>', name_begin);
            return t;
        }
        t.kind = HtmlToken::Kind::StartTag;
        const std::size_t name_begin = m_pos + 1;
        const std::size_t name_len = name_length(name_begin);
        t.name = make_tag_name(m_html.substr(name_begin, name_len));
        const std::size_t attrs_begin = name_begin + name_len;
        const std::size_t attrs_end = attributes_end(attrs_begin);
        t.attrs = m_html.substr(attrs_begin, attrs_end - attrs_begin);
        m_pos = std::min(attrs_end + 1, m_html.size());
        if (!m_foreign && t.name.is(k_raw_text)) {
            m_raw_name = t.name;
            m_raw_end_pending = true;
        }
        return t;
    }

  private:
    bool starts_markup(std::size_t pos) const {
        if (m_html[pos] != '<' || pos + 1 >= m_html.size()) return false;
        const char c = m_html[pos + 1];
        if (is_alpha(c) || c == '!' || c == '?') return true;
        return c == '/' && pos + 2 < m_html.size() && is_alpha(m_html[pos + 2]);
    }

    std::size_t name_length(std::size_t begin) const {
        std::size_t end = begin;
        while (end < m_html.size() && !is_html_space(m_html[end]) && m_html[end] != '/' && m_html[end] != '>')
            ++end;
        return end - begin;
    }

    void skip_past(char c, std::size_t from) {
        const auto at = m_html.find(c, from);
        m_pos = at == std::string_view::npos ? m_html.size() : at + 1;
    }

    // Where the '>' closing a start tag is; a quoted attribute value may contain '>'.
    std::size_t attributes_end(std::size_t pos) const {
        const std::size_t n = m_html.size();
        while (pos < n) {
            const char c = m_html[pos];
            if (c == '>') return pos;
            if (c == '=') {
                ++pos;
                while (pos < n && is_html_space(m_html[pos]))
                    ++pos;
                if (pos < n && (m_html[pos] == '"' || m_html[pos] == '\'')) {
                    const auto close = m_html.find(m_html[pos], pos + 1);
                    if (close == std::string_view::npos) return n;
                    pos = close + 1;
                }
                continue;
            }
            ++pos;
        }
        return n;
    }

    // The contents of a raw text element, up to its end tag (left for the next call).
    HtmlToken raw_text(HtmlToken t) {
        const std::size_t begin = m_pos;
        std::size_t pos = m_pos;
        std::size_t end = m_html.size();
        while (pos < m_html.size()) {
            const auto lt = m_html.find("</", pos);
            if (lt == std::string_view::npos) break;
            const std::size_t name_begin = lt + 2;
            const std::string_view name = m_raw_name.view();
            bool match = m_html.size() - name_begin >= name.size();
            for (std::size_t i = 0; match && i < name.size(); ++i) {
                match = ascii_lower(m_html[name_begin + i]) == name[i];
            }
            const std::size_t after = name_begin + name.size();
            if (match && (after == m_html.size() || is_html_space(m_html[after]) || m_html[after] == '>' ||
                          m_html[after] == '/')) {
                end = lt;
                break;
            }
            pos = lt + 2;
        }
        t.kind = HtmlToken::Kind::RawText;
        t.name = m_raw_name;
        t.text = m_html.substr(begin, end - begin);
        m_pos = end;
        return t;
    }

    std::string_view m_html;
    std::size_t m_pos = 0;
    TagName m_raw_name;
    bool m_raw_end_pending = false;
    bool m_foreign = false;
};

// The value of attribute `name` in a start tag's attribute bytes (raw, entities not decoded), or nullopt.
std::optional<std::string_view> find_attribute(std::string_view attrs, std::string_view name) {
    std::size_t pos = 0;
    const std::size_t n = attrs.size();
    while (pos < n) {
        while (pos < n && (is_html_space(attrs[pos]) || attrs[pos] == '/'))
            ++pos;
        const std::size_t name_begin = pos;
        while (pos < n && !is_html_space(attrs[pos]) && attrs[pos] != '=' && attrs[pos] != '/')
            ++pos;
        const std::string_view attr = attrs.substr(name_begin, pos - name_begin);
        while (pos < n && is_html_space(attrs[pos]))
            ++pos;
        std::string_view value;
        if (pos < n && attrs[pos] == '=') {
            ++pos;
            while (pos < n && is_html_space(attrs[pos]))
                ++pos;
            if (pos < n && (attrs[pos] == '"' || attrs[pos] == '\'')) {
                const auto close = attrs.find(attrs[pos], pos + 1);
                const std::size_t end = close == std::string_view::npos ? n : close;
                value = attrs.substr(pos + 1, end - pos - 1);
                pos = end + 1;
            } else {
                const std::size_t begin = pos;
                while (pos < n && !is_html_space(attrs[pos]))
                    ++pos;
                value = attrs.substr(begin, pos - begin);
            }
        }
        if (attr.size() == name.size() && make_tag_name(attr).view() == name) return value;
        if (pos == name_begin) ++pos;
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------------
// How much of the input gumbo may take: up to the first tag at which the estimated tree depth passes
// k_max_html_depth, the estimated node count k_max_html_nodes, or the input k_max_html_dom_bytes.
// DepthEstimate replays the tree builder's rules for the stack of open elements only as far as they pop
// elements, and re-opens unclosed formatting elements as gumbo does; wherever it is unsure it keeps elements
// open, so the estimate errs high (a deep but harmless page is stripped) and never low (gumbo never gets a
// deep tree).

class DepthEstimate {
  public:
    DepthEstimate() { m_open.reserve(64); }

    std::size_t depth() const { return m_open.size(); }
    std::size_t nodes() const { return m_nodes; }
    bool foreign() const { return m_foreign > 0; }

    void start(const TagName& name) {
        if (m_foreign > 0) {
            push(name);
            return;
        }
        if (name.is(k_document)) return; // merged into the existing ones
        if (name.is(k_void)) {
            ++m_nodes;
            reopen_formatting();
            return;
        }
        close_implied(name);
        reopen_formatting();
        if (const int f = name.formatting(); f >= 0) ++m_active[static_cast<std::size_t>(f)];
        if (name.is(k_formatting_marker)) m_markers.push_back(m_active);
        push(name);
    }

    void text() {
        ++m_nodes;
        if (m_foreign == 0) reopen_formatting();
    }

    void raw_text() { ++m_nodes; }

    void end(const TagName& name) {
        if (m_foreign == 0 && name.is(k_document)) return; // never pops in a body
        const int f = m_foreign == 0 ? name.formatting() : -1;
        const bool table_part = name.is(k_table_part);
        bool crossed_boundary = false;
        bool crossed_special = false;
        for (std::size_t i = m_open.size(); i > 0; --i) {
            const TagName& node = m_open[i - 1];
            if (node == name) {
                if (crossed_boundary) return;          // not in scope: the end tag is ignored
                if (f >= 0 && crossed_special) return; // the adoption agency re-parents; the depth stays
                if (name.view() == "form") {
                    erase(i - 1); // </form> takes the form out of the stack and leaves its children open
                } else {
                    pop_to(i - 1);
                }
                if (f >= 0) forget_formatting(static_cast<std::size_t>(f));
                return;
            }
            if (m_foreign > 0) continue;
            const bool cell = node.is(k_cell_like);
            crossed_boundary = crossed_boundary || (node.is(k_scope_boundary) && !(table_part && cell));
            crossed_special = crossed_special || node.is(k_special);
            // "Any other end tag" stops at the first special element.
            if (f < 0 && !name.is(k_special) && node.is(k_special)) return;
        }
        // Not open: a formatting element closed earlier by a block leaves the re-open list.
        if (f >= 0) forget_formatting(static_cast<std::size_t>(f));
    }

  private:
    using Counts = std::array<std::size_t, 14>;

    void push(const TagName& name) {
        if (m_foreign == 0) {
            if (const int f = name.formatting(); f >= 0) ++m_on_stack[static_cast<std::size_t>(f)];
        }
        if (name.is(k_foreign_root)) ++m_foreign;
        m_open.push_back(name);
        ++m_nodes;
    }

    void erase(std::size_t index) {
        if (const int f = m_open[index].formatting(); f >= 0 && m_on_stack[static_cast<std::size_t>(f)] > 0) {
            --m_on_stack[static_cast<std::size_t>(f)];
        }
        m_open.erase(m_open.begin() + static_cast<std::ptrdiff_t>(index));
    }

    void pop_to(std::size_t size) {
        while (m_open.size() > size) {
            const TagName& node = m_open.back();
            if (node.is(k_foreign_root) && m_foreign > 0) --m_foreign;
            if (m_foreign == 0) {
                if (const int f = node.formatting(); f >= 0 && m_on_stack[static_cast<std::size_t>(f)] > 0) {
                    --m_on_stack[static_cast<std::size_t>(f)];
                }
                if (node.is(k_formatting_marker) && !m_markers.empty()) {
                    m_active = m_markers.back(); // closing a cell drops the formatting opened inside it
                    m_markers.pop_back();
                }
            }
            m_open.pop_back();
        }
    }

    // gumbo re-opens every formatting element still active but no longer open before text and most tags.
    void reopen_formatting() {
        for (std::size_t f = 0; f < m_active.size(); ++f) {
            while (m_on_stack[f] < m_active[f]) {
                ++m_on_stack[f];
                m_open.push_back(m_formatting_names[f]);
                ++m_nodes;
            }
        }
    }

    // A start tag of an element whose end tag may be left out closes the open one directly above it; a new
    // row or cell closes the open cell and all it still holds, back to its row or table section.
    void close_implied(const TagName& name) {
        if (m_open.empty() || !name.is(k_implied_end)) return;
        const std::string_view n = name.view();
        const bool cell = n == "td" || n == "th";
        const bool row = n == "tr";
        const bool section = n == "tbody" || n == "thead" || n == "tfoot";
        if (!cell && !row && !section) {
            if (m_open.back() == name) pop_to(m_open.size() - 1);
            return;
        }
        for (std::size_t i = m_open.size(); i > 0; --i) {
            const std::string_view node = m_open[i - 1].view();
            if (node == "td" || node == "th") {
                pop_to(i - 1); // the open cell goes; a section or row start tag then pops its row below
                if (!cell) close_implied(name);
                return;
            }
            if (node == "tr") {
                if (!cell) pop_to(i - 1);
                if (section) close_implied(name);
                return;
            }
            if (node == "tbody" || node == "thead" || node == "tfoot") {
                if (section) pop_to(i - 1);
                return;
            }
            if (node == "table" || node == "template" || node == "html" || m_open[i - 1].is(k_foreign_root))
                return;
        }
    }

    void forget_formatting(std::size_t f) {
        if (m_active[f] > 0) --m_active[f];
    }

    static std::array<TagName, 14> formatting_names() {
        std::array<TagName, 14> names;
        for (std::size_t i = 0; i < names.size(); ++i)
            names[i] = make_tag_name(k_formatting_names[i]);
        return names;
    }

    std::vector<TagName> m_open;
    std::vector<Counts> m_markers; // m_active when each open cell-like element was opened
    Counts m_active{};             // formatting elements not yet closed by their end tag, per name
    Counts m_on_stack{};           // of those, how many are in m_open
    std::size_t m_foreign = 0;     // open svg/math elements
    std::size_t m_nodes = 0;
    const std::array<TagName, 14> m_formatting_names = formatting_names();
};

std::size_t dom_prefix_length(std::string_view html) {
    DepthEstimate estimate;
    HtmlScanner scanner(html);
    std::size_t last_start_tag = 0;
    for (HtmlToken t = scanner.next(); t.kind != HtmlToken::Kind::End; t = scanner.next()) {
        const std::size_t end = t.kind == HtmlToken::Kind::Text || t.kind == HtmlToken::Kind::RawText
                                    ? t.begin + t.text.size()
                                    : t.begin;
        if (end > k_max_html_dom_bytes) {
            // Cut a long text where it passes the limit (after a space, so no word is split); never cut
            // inside a raw text element: the stripper would show a script as text, so cut before its start
            // tag.
            if (t.kind == HtmlToken::Kind::RawText) return last_start_tag;
            if (t.kind != HtmlToken::Kind::Text || t.begin >= k_max_html_dom_bytes) return t.begin;
            const auto space = html.find(' ', k_max_html_dom_bytes);
            return space == std::string_view::npos || space >= end ? t.begin : space;
        }
        switch (t.kind) {
        case HtmlToken::Kind::StartTag:
            last_start_tag = t.begin;
            estimate.start(t.name);
            break;
        case HtmlToken::Kind::EndTag:
            estimate.end(t.name);
            break;
        case HtmlToken::Kind::Text:
            estimate.text();
            break;
        case HtmlToken::Kind::RawText: // never cut inside, as above
            estimate.raw_text();
            break;
        case HtmlToken::Kind::Skip:
        case HtmlToken::Kind::End:
            break;
        }
        if (t.kind != HtmlToken::Kind::RawText &&
            (estimate.depth() > k_max_html_depth || estimate.nodes() > k_max_html_nodes)) {
            return t.begin;
        }
        scanner.set_foreign(estimate.foreign());
    }
    return html.size();
}

// ---------------------------------------------------------------------------------------------------------------
// strip_tags: the linear fallback. Text outside tags with the common entities decoded, script/style/title
// dropped, links from <a href>. Hidden elements are not recognised here, so it errs towards showing more.

void append_code_point(std::string& out, unsigned long cp) {
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

void decode_entities(std::string_view in, std::string& out) {
    struct Named {
        std::string_view name;
        unsigned long cp;
    };
    static constexpr std::array<Named, 12> k_named = {{{"amp", '&'},
                                                       {"lt", '<'},
                                                       {"gt", '>'},
                                                       {"quot", '"'},
                                                       {"apos", '\''},
                                                       {"nbsp", 0xA0},
                                                       {"shy", 0xAD},
                                                       {"copy", 0xA9},
                                                       {"reg", 0xAE},
                                                       {"euro", 0x20AC},
                                                       {"zwnj", 0x200C},
                                                       {"zwj", 0x200D}}};
    out.clear();
    std::size_t i = 0;
    while (i < in.size()) {
        const auto amp = in.find('&', i);
        if (amp == std::string_view::npos) {
            out.append(in.substr(i));
            break;
        }
        out.append(in.substr(i, amp - i));
        i = amp + 1;
        if (i < in.size() && in[i] == '#') {
            const bool hex = i + 1 < in.size() && (in[i + 1] == 'x' || in[i + 1] == 'X');
            std::size_t j = i + (hex ? 2 : 1);
            unsigned long cp = 0;
            const std::size_t digits_begin = j;
            for (; j < in.size() && j - digits_begin < 8; ++j) {
                const char c = in[j];
                int d = -1;
                if (c >= '0' && c <= '9')
                    d = c - '0';
                else if (hex && c >= 'a' && c <= 'f')
                    d = c - 'a' + 10;
                else if (hex && c >= 'A' && c <= 'F')
                    d = c - 'A' + 10;
                if (d < 0) break;
                cp = cp * (hex ? 16 : 10) + static_cast<unsigned long>(d);
            }
            if (j > digits_begin) {
                append_code_point(out, cp);
                i = (j < in.size() && in[j] == ';') ? j + 1 : j;
                continue;
            }
        } else {
            bool matched = false;
            for (const Named& e : k_named) {
                if (in.compare(i, e.name.size(), e.name) == 0) {
                    append_code_point(out, e.cp);
                    i += e.name.size();
                    if (i < in.size() && in[i] == ';') ++i;
                    matched = true;
                    break;
                }
            }
            if (matched) continue;
        }
        out.push_back('&');
    }
}

void strip_tags(std::string_view html, TextSink& sink, std::vector<Link>& links) {
    constexpr std::size_t k_no_link = static_cast<std::size_t>(-1);
    static const TagName k_a = make_tag_name("a");
    std::string scratch;
    std::size_t open_link = k_no_link; // index in `links` of the <a> whose text is being collected
    std::size_t link_mark = 0;
    const auto close_link = [&] {
        if (open_link != k_no_link) links[open_link].text = sink.line_since(link_mark);
        open_link = k_no_link;
    };
    HtmlScanner scanner(html);
    for (HtmlToken t = scanner.next(); t.kind != HtmlToken::Kind::End; t = scanner.next()) {
        switch (t.kind) {
        case HtmlToken::Kind::Text:
            decode_entities(t.text, scratch);
            sink.text(scratch);
            break;
        case HtmlToken::Kind::RawText:
            if (t.name.view() == "textarea") {
                decode_entities(t.text, scratch);
                sink.text(scratch);
            }
            break;
        case HtmlToken::Kind::StartTag:
            if (t.name == k_a) {
                close_link();
                if (const auto href = find_attribute(t.attrs, "href")) {
                    decode_entities(*href, scratch);
                    links.push_back({clean_href(scratch), {}});
                    open_link = links.size() - 1;
                    link_mark = sink.mark();
                }
            } else if (t.name.is(k_block)) {
                sink.newline();
            } else if (t.name.view() == "td" || t.name.view() == "th") {
                sink.space();
            }
            break;
        case HtmlToken::Kind::EndTag:
            if (t.name == k_a) {
                close_link();
            } else if (t.name.is(k_block)) {
                sink.newline();
            }
            break;
        case HtmlToken::Kind::Skip:
        case HtmlToken::Kind::End:
            break;
        }
    }
    close_link();
}

// ---------------------------------------------------------------------------------------------------------------
// The DOM walk.

struct GumboOutputDeleter {
    void operator()(GumboOutput* output) const { gumbo_destroy_output(&kGumboDefaultOptions, output); }
};
using GumboOutputPtr = std::unique_ptr<GumboOutput, GumboOutputDeleter>;

constexpr std::array<bool, GUMBO_TAG_LAST + 1> make_tag_table(std::initializer_list<GumboTag> tags) {
    std::array<bool, GUMBO_TAG_LAST + 1> table{};
    for (GumboTag t : tags)
        table[t] = true;
    return table;
}

// Never shown: their text is code, metadata or fallback for features mail clients have.
constexpr auto k_invisible_tags =
    make_tag_table({GUMBO_TAG_SCRIPT, GUMBO_TAG_STYLE, GUMBO_TAG_HEAD, GUMBO_TAG_TEMPLATE, GUMBO_TAG_NOSCRIPT,
                    GUMBO_TAG_TITLE, GUMBO_TAG_IFRAME, GUMBO_TAG_NOEMBED, GUMBO_TAG_NOFRAMES});

constexpr auto k_block_tags = make_tag_table(
    {GUMBO_TAG_ADDRESS, GUMBO_TAG_ARTICLE, GUMBO_TAG_ASIDE,   GUMBO_TAG_BLOCKQUOTE, GUMBO_TAG_BR,
     GUMBO_TAG_CAPTION, GUMBO_TAG_CENTER,  GUMBO_TAG_DD,      GUMBO_TAG_DETAILS,    GUMBO_TAG_DIR,
     GUMBO_TAG_DIV,     GUMBO_TAG_DL,      GUMBO_TAG_DT,      GUMBO_TAG_FIELDSET,   GUMBO_TAG_FIGCAPTION,
     GUMBO_TAG_FIGURE,  GUMBO_TAG_FOOTER,  GUMBO_TAG_FORM,    GUMBO_TAG_H1,         GUMBO_TAG_H2,
     GUMBO_TAG_H3,      GUMBO_TAG_H4,      GUMBO_TAG_H5,      GUMBO_TAG_H6,         GUMBO_TAG_HEADER,
     GUMBO_TAG_HGROUP,  GUMBO_TAG_HR,      GUMBO_TAG_LEGEND,  GUMBO_TAG_LI,         GUMBO_TAG_LISTING,
     GUMBO_TAG_MAIN,    GUMBO_TAG_MENU,    GUMBO_TAG_NAV,     GUMBO_TAG_OL,         GUMBO_TAG_P,
     GUMBO_TAG_PRE,     GUMBO_TAG_SECTION, GUMBO_TAG_SUMMARY, GUMBO_TAG_TABLE,      GUMBO_TAG_TBODY,
     GUMBO_TAG_TFOOT,   GUMBO_TAG_THEAD,   GUMBO_TAG_TR,      GUMBO_TAG_UL,         GUMBO_TAG_PLAINTEXT,
     GUMBO_TAG_OPTION});

class DomWalker {
  public:
    DomWalker(TextSink& sink, std::vector<Link>& links) : m_sink(sink), m_links(links) {}

    void walk(const GumboNode* root) {
        // An explicit stack: the tree is as deep as the input makes it, the thread stack is not.
        struct Frame {
            const GumboNode* node;
            unsigned next_child;
            bool hidden;
            std::optional<std::size_t> link; // index into m_links of the <a> this element opened
            std::size_t link_mark;
        };
        std::vector<Frame> stack;
        stack.push_back({root, 0, false, std::nullopt, 0});
        while (!stack.empty()) {
            Frame& frame = stack.back();
            const GumboVector& children = frame.node->type == GUMBO_NODE_DOCUMENT
                                              ? frame.node->v.document.children
                                              : frame.node->v.element.children;
            if (frame.next_child >= children.length) {
                leave(frame.node, frame.hidden, frame.link, frame.link_mark);
                stack.pop_back();
                continue;
            }
            const auto* child = static_cast<const GumboNode*>(children.data[frame.next_child++]);
            const bool parent_hidden = frame.hidden;
            switch (child->type) {
            case GUMBO_NODE_TEXT:
            case GUMBO_NODE_CDATA:
                if (!parent_hidden) m_sink.text(child->v.text.text);
                break;
            case GUMBO_NODE_WHITESPACE:
                if (!parent_hidden) m_sink.space();
                break;
            case GUMBO_NODE_ELEMENT: {
                const GumboElement& e = child->v.element;
                if (k_invisible_tags[e.tag]) break;
                const bool hidden = parent_hidden || is_hidden(e);
                std::optional<std::size_t> link;
                if (e.tag == GUMBO_TAG_A && e.tag_namespace == GUMBO_NAMESPACE_HTML) {
                    if (const GumboAttribute* href = gumbo_get_attribute(&e.attributes, "href")) {
                        m_links.push_back({clean_href(href->value), {}});
                        link = m_links.size() - 1;
                    }
                }
                if (!hidden && k_block_tags[e.tag]) m_sink.newline();
                stack.push_back({child, 0, hidden, link, m_sink.mark()});
                break;
            }
            case GUMBO_NODE_DOCUMENT:
            case GUMBO_NODE_COMMENT:
            case GUMBO_NODE_TEMPLATE:
                break;
            }
        }
    }

  private:
    void leave(const GumboNode* node, bool hidden, std::optional<std::size_t> link, std::size_t link_mark) {
        if (node->type != GUMBO_NODE_ELEMENT || hidden) return;
        if (link) m_links[*link].text = m_sink.line_since(link_mark);
        const GumboTag tag = node->v.element.tag;
        if (k_block_tags[tag])
            m_sink.newline();
        else if (tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH)
            m_sink.space();
    }

    // The `hidden` attribute, or an inline style with display:none or visibility:hidden. Stylesheets are not
    // evaluated: class-based hiding stays visible, which errs towards the rules seeing more.
    bool is_hidden(const GumboElement& e) {
        if (gumbo_get_attribute(&e.attributes, "hidden") != nullptr) return true;
        const GumboAttribute* style = gumbo_get_attribute(&e.attributes, "style");
        if (style == nullptr) return false;
        m_style.clear();
        for (const char* p = style->value; *p != '\0'; ++p) {
            if (!is_html_space(*p)) m_style.push_back(ascii_lower(*p));
        }
        return m_style.find("display:none") != std::string::npos ||
               m_style.find("visibility:hidden") != std::string::npos;
    }

    TextSink& m_sink;
    std::vector<Link>& m_links;
    std::string m_style; // scratch, reused for every style attribute
};

} // namespace

HtmlText html_to_text(std::string_view html) {
    HtmlText result;
    TextSink sink;
    const std::size_t dom_length = dom_prefix_length(html);
    if (dom_length > 0) {
        GumboOptions options = kGumboDefaultOptions;
        options.max_errors = 0; // errors are not used; recording them costs an allocation each
        GumboOutputPtr output(gumbo_parse_with_options(&options, html.data(), dom_length));
        if (output) DomWalker(sink, result.links).walk(output->document);
    }
    if (dom_length < html.size()) {
        result.simplified = true;
        sink.newline();
        strip_tags(html.substr(dom_length), sink, result.links);
    }
    result.text = sink.take();
    return result;
}

} // namespace presend
