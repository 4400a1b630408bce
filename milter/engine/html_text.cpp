// html_text: visible text and links of an HTML part, in one linear pass. HtmlScanner tokenizes; HtmlWalker keeps
// a bounded stack of open elements, enough of HTML's tree building to know what is hidden and where blocks
// end, and writes to a TextSink, which folds whitespace. No DOM: memory is the output plus the stack.
#include "engine/html_text.hpp"
#include "engine/ascii.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <unordered_map>

namespace presend {

namespace {

// Tag names are compared by their first bytes only; no HTML element name is longer.
constexpr std::size_t k_max_tag_name = 15;

constexpr bool is_html_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}
constexpr bool is_printable_ascii(unsigned char c) {
    return c > 0x20 && c < 0x80;
}

// ---------------------------------------------------------------------------------------------------------------
// TextSink: folds whitespace and places line breaks between blocks, for the DOM walk and the stripper alike.

class TextSink {
  public:
    // The text of table-laid-out mail is a tenth to a quarter of its markup: reserving a quarter up front
    // spares the copies of growing the string as it fills.
    explicit TextSink(std::size_t markup_size) { m_out.reserve(markup_size / 4); }

    void text(std::string_view s) {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const auto* end = p + s.size();
        while (p < end) {
            const unsigned char c = *p;
            if (is_printable_ascii(c)) { // the bulk of any text: appended a run at a time
                // A single space between printable bytes folds to itself, so a run goes on across it: runs
                // are sentences, not words.
                const auto* run_end = p + 1;
                while (run_end != end) {
                    if (is_printable_ascii(*run_end)) {
                        ++run_end;
                    } else if (*run_end == ' ' && end - run_end >= 2 && is_printable_ascii(run_end[1])) {
                        run_end += 2;
                    } else {
                        break;
                    }
                }
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
// Runs between those bytes are copied whole and the trim is done in place: tracking links run to hundreds of
// bytes, and a byte at a time they cost as much as the rest of the link.
std::string clean_href(std::string_view href) {
    std::string out;
    out.reserve(href.size());
    const std::size_t n = href.size();
    std::size_t pos = 0;
    while (pos < n) {
        std::size_t end = pos;
        while (end < n && href[end] != '\t' && href[end] != '\n' && href[end] != '\r')
            ++end;
        out.append(href.substr(pos, end - pos));
        pos = end + 1;
    }
    const auto first = out.find_first_not_of(" \f\v");
    if (first == std::string::npos) return {};
    out.erase(out.find_last_not_of(" \f\v") + 1);
    out.erase(0, first);
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Tag names, lower-cased into a fixed buffer, with what the scanner and the walker need to know of them looked
// up once per tag.

enum TagFlag : std::uint16_t {
    k_void = 1 << 0,
    k_implied_end = 1 << 1,       // a new one closes the previous one instead of nesting in it
    k_raw_text = 1 << 2,          // contents are not markup (raw text or RCDATA)
    k_special = 1 << 3,           // the HTML "special" category: an end tag of any other element stops here
    k_scope_boundary = 1 << 4,    // the HTML scopes, widened with the list and button ones to err high
    k_formatting_marker = 1 << 5, // starts a new list of formatting elements; closing it drops those inside
    k_block = 1 << 6,             // starts and ends a line of text
    k_foreign_root = 1 << 7,      // svg, math
    k_document = 1 << 8,   // html, head, body: merged into the existing ones, never popped by an end tag
    k_table_part = 1 << 9,       // its end tag closes open cells on the way
    k_cell_like = 1 << 10,       // closed by the end tag of a table part
    k_closes_p = 1 << 11,        // its start tag closes an open <p>
    k_head_content = 1 << 12,    // may stand in <head>; any other start tag ends the head
    k_invisible = 1 << 13,       // contents never shown (template, noscript)
    k_foreign_breakout = 1 << 14 // an HTML element that closes open SVG or MathML
};

struct TagTraits {
    std::uint16_t flags = 0;
    std::int8_t formatting = -1; // index among the formatting elements (a, b, font...)
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
        mark(k_closes_p, {"address", "article", "aside", "blockquote", "center", "details", "dialog", "dir",
                          "div", "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main",
                          "menu", "nav", "ol", "p", "search", "section", "summary", "ul", "h1", "h2", "h3",
                          "h4", "h5", "h6", "pre", "listing", "form", "li", "dd", "dt", "plaintext", "hr",
                          "xmp"});
        mark(k_head_content, {"base", "basefont", "bgsound", "link", "meta", "title", "noscript", "noframes",
                              "style", "script", "template"});
        // Never shown: code, metadata, or fallback for features mail clients have. (script, style, title,
        // iframe, noembed and noframes are raw text, dropped by the walker.)
        mark(k_invisible, {"template", "noscript"});
        mark(k_foreign_breakout,
             {"b",   "big", "blockquote", "body", "br", "center", "code", "dd",   "div",     "dl",     "dt",
              "em",  "embed", "h1",       "h2",   "h3", "h4",     "h5",   "h6",   "head",    "hr",     "i",
              "img", "li",  "listing",    "menu", "meta", "nobr", "ol",   "p",    "pre",     "ruby",   "s",
              "small", "span", "strong",  "strike", "sub", "sup",  "table", "tt",  "u",       "ul",     "var"});
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

// tag_traits() as an open-addressed table on a cheap hash: looked up for every tag, where std::hash and the
// buckets of an unordered_map cost more than the rest of the tag.
class TagTable {
  public:
    TagTable() {
        for (const auto& [name, traits] : tag_traits()) {
            std::size_t i = hash(name) & k_mask;
            while (m_slots[i].size != 0)
                i = (i + 1) & k_mask;
            std::copy(name.begin(), name.end(), m_slots[i].bytes.begin());
            m_slots[i].size = name.size();
            m_slots[i].traits = traits;
        }
    }

    TagTraits find(std::string_view name) const {
        for (std::size_t i = hash(name) & k_mask; m_slots[i].size != 0; i = (i + 1) & k_mask) {
            const Slot& slot = m_slots[i];
            if (slot.size == name.size() && std::memcmp(slot.bytes.data(), name.data(), name.size()) == 0)
                return slot.traits;
        }
        return {};
    }

  private:
    static constexpr std::size_t k_slots = 512; // a power of two, over twice the names known
    static constexpr std::size_t k_mask = k_slots - 1;

    struct Slot {
        std::array<char, k_max_tag_name> bytes{};
        std::size_t size = 0;
        TagTraits traits;
    };

    static std::size_t hash(std::string_view name) {
        std::size_t h = name.size();
        for (const char c : name)
            h = h * 31 + static_cast<unsigned char>(c);
        return h ^ (h >> 7);
    }

    std::array<Slot, k_slots> m_slots{};
};

TagName make_tag_name(std::string_view raw) {
    static const TagTable s_table;
    TagName name;
    name.size = std::min(raw.size(), k_max_tag_name);
    for (std::size_t i = 0; i < name.size; ++i)
        name.bytes[i] = ascii::lower(raw[i]);
    name.traits = s_table.find(name.view());
    return name;
}

// ---------------------------------------------------------------------------------------------------------------
// HtmlScanner: a linear, forgiving tokenizer.

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
        if (ascii::is_alpha(c) || c == '!' || c == '?') return true;
        return c == '/' && pos + 2 < m_html.size() && ascii::is_alpha(m_html[pos + 2]);
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
                match = ascii::lower(m_html[name_begin + i]) == name[i];
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

// Each attribute of a start tag's attribute bytes, in order: f(name, value) with the value raw (entities not
// decoded) and empty when the attribute has none.
template <typename F> void for_each_attribute(std::string_view attrs, F&& f) {
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
        if (!attr.empty()) f(attr, value);
        if (pos == name_begin) ++pos;
    }
}

// `name` is lower-case.
bool is_name(std::string_view attr, std::string_view name) {
    if (attr.size() != name.size()) return false;
    for (std::size_t i = 0; i < attr.size(); ++i) {
        if (ascii::lower(attr[i]) != name[i]) return false;
    }
    return true;
}

// Whether the `name` and `value` of a declaration meet at the ':' at style[colon], blanks allowed anywhere
// around and inside them ("display : none"), letters in any case. `name` and `value` are lower-case.
bool declares(std::string_view style, std::size_t colon, std::string_view name, std::string_view value) {
    std::size_t i = colon;
    for (std::size_t k = name.size(); k > 0;) {
        if (i == 0) return false;
        const char c = style[--i];
        if (is_html_space(c)) continue;
        if (ascii::lower(c) != name[--k]) return false;
    }
    i = colon + 1;
    for (std::size_t k = 0; k < value.size();) {
        if (i == style.size()) return false;
        const char c = style[i++];
        if (is_html_space(c)) continue;
        if (ascii::lower(c) != value[k++]) return false;
    }
    return true;
}

// Whether an inline style, lower-cased and without blanks, holds "display:none" or "visibility:hidden". Read
// in place, at each ':': inline styles are on nearly every tag of table-laid-out mail, and folding each one
// into a copy first cost a fifth of the HTML time.
bool style_hides(std::string_view style) {
    const char* const data = style.data();
    std::size_t pos = 0;
    while (pos < style.size()) {
        const auto* colon = static_cast<const char*>(std::memchr(data + pos, ':', style.size() - pos));
        if (colon == nullptr) return false;
        const auto at = static_cast<std::size_t>(colon - data);
        if (declares(style, at, "display", "none") || declares(style, at, "visibility", "hidden")) return true;
        pos = at + 1;
    }
    return false;
}

// What the walk needs of a start tag's attributes; as in HTML, the first of a repeated attribute counts.
struct ElementAttributes {
    bool hidden = false;
    std::optional<std::string_view> href;
};

// The `hidden` attribute, or an inline style with display:none or visibility:hidden. Stylesheets are not
// evaluated: class-based hiding stays visible, which errs towards the rules seeing more.
ElementAttributes read_attributes(std::string_view attrs, bool want_href) {
    ElementAttributes out;
    bool seen_style = false;
    for_each_attribute(attrs, [&](std::string_view name, std::string_view value) {
        switch (ascii::lower(name.front())) {
        case 'h':
            if (is_name(name, "hidden")) {
                out.hidden = true;
            } else if (want_href && !out.href && is_name(name, "href")) {
                out.href = value;
            }
            break;
        case 's':
            if (seen_style || !is_name(name, "style")) break;
            seen_style = true;
            if (style_hides(value)) out.hidden = true;
            break;
        default:
            break;
        }
    });
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Character references: numeric ones, and the named ones of HTML 4 (all that mail generators write). Without
// the ';' only the Latin-1 ones count, as in HTML, and inside an attribute not even those when a letter, digit
// or '=' follows ("?a=1&copy=2" is a query string, not a copyright sign).

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

struct NamedReference {
    std::string_view name;
    unsigned long cp;
};

// Sorted by name, byte order, for binary search.
constexpr NamedReference k_named_references[] = {
    {"AElig", 0xC6}, {"Aacute", 0xC1}, {"Acirc", 0xC2}, {"Agrave", 0xC0}, {"Alpha", 0x391},
    {"Aring", 0xC5}, {"Atilde", 0xC3}, {"Auml", 0xC4}, {"Beta", 0x392}, {"Ccedil", 0xC7},
    {"Chi", 0x3A7}, {"Dagger", 0x2021}, {"Delta", 0x394}, {"ETH", 0xD0}, {"Eacute", 0xC9},
    {"Ecirc", 0xCA}, {"Egrave", 0xC8}, {"Epsilon", 0x395}, {"Eta", 0x397}, {"Euml", 0xCB},
    {"Gamma", 0x393}, {"Iacute", 0xCD}, {"Icirc", 0xCE}, {"Igrave", 0xCC}, {"Iota", 0x399},
    {"Iuml", 0xCF}, {"Kappa", 0x39A}, {"Lambda", 0x39B}, {"Mu", 0x39C}, {"Ntilde", 0xD1},
    {"Nu", 0x39D}, {"OElig", 0x152}, {"Oacute", 0xD3}, {"Ocirc", 0xD4}, {"Ograve", 0xD2},
    {"Omega", 0x3A9}, {"Omicron", 0x39F}, {"Oslash", 0xD8}, {"Otilde", 0xD5}, {"Ouml", 0xD6},
    {"Phi", 0x3A6}, {"Pi", 0x3A0}, {"Prime", 0x2033}, {"Psi", 0x3A8}, {"Rho", 0x3A1},
    {"Scaron", 0x160}, {"Sigma", 0x3A3}, {"THORN", 0xDE}, {"Tau", 0x3A4}, {"Theta", 0x398},
    {"Uacute", 0xDA}, {"Ucirc", 0xDB}, {"Ugrave", 0xD9}, {"Upsilon", 0x3A5}, {"Uuml", 0xDC},
    {"Xi", 0x39E}, {"Yacute", 0xDD}, {"Yuml", 0x178}, {"Zeta", 0x396}, {"aacute", 0xE1},
    {"acirc", 0xE2}, {"acute", 0xB4}, {"aelig", 0xE6}, {"agrave", 0xE0}, {"alefsym", 0x2135},
    {"alpha", 0x3B1}, {"amp", 0x26}, {"and", 0x2227}, {"ang", 0x2220}, {"apos", 0x27},
    {"aring", 0xE5}, {"asymp", 0x2248}, {"atilde", 0xE3}, {"auml", 0xE4}, {"bdquo", 0x201E},
    {"beta", 0x3B2}, {"brvbar", 0xA6}, {"bull", 0x2022}, {"cap", 0x2229}, {"ccedil", 0xE7},
    {"cedil", 0xB8}, {"cent", 0xA2}, {"chi", 0x3C7}, {"circ", 0x2C6}, {"clubs", 0x2663},
    {"cong", 0x2245}, {"copy", 0xA9}, {"crarr", 0x21B5}, {"cup", 0x222A}, {"curren", 0xA4},
    {"dArr", 0x21D3}, {"dagger", 0x2020}, {"darr", 0x2193}, {"deg", 0xB0}, {"delta", 0x3B4},
    {"diams", 0x2666}, {"divide", 0xF7}, {"eacute", 0xE9}, {"ecirc", 0xEA}, {"egrave", 0xE8},
    {"empty", 0x2205}, {"emsp", 0x2003}, {"ensp", 0x2002}, {"epsilon", 0x3B5}, {"equiv", 0x2261},
    {"eta", 0x3B7}, {"eth", 0xF0}, {"euml", 0xEB}, {"euro", 0x20AC}, {"exist", 0x2203},
    {"fnof", 0x192}, {"forall", 0x2200}, {"frac12", 0xBD}, {"frac14", 0xBC}, {"frac34", 0xBE},
    {"frasl", 0x2044}, {"gamma", 0x3B3}, {"ge", 0x2265}, {"gt", 0x3E}, {"hArr", 0x21D4},
    {"harr", 0x2194}, {"hearts", 0x2665}, {"hellip", 0x2026}, {"iacute", 0xED}, {"icirc", 0xEE},
    {"iexcl", 0xA1}, {"igrave", 0xEC}, {"image", 0x2111}, {"infin", 0x221E}, {"int", 0x222B},
    {"iota", 0x3B9}, {"iquest", 0xBF}, {"isin", 0x2208}, {"iuml", 0xEF}, {"kappa", 0x3BA},
    {"lArr", 0x21D0}, {"lambda", 0x3BB}, {"lang", 0x2329}, {"laquo", 0xAB}, {"larr", 0x2190},
    {"lceil", 0x2308}, {"ldquo", 0x201C}, {"le", 0x2264}, {"lfloor", 0x230A}, {"lowast", 0x2217},
    {"loz", 0x25CA}, {"lrm", 0x200E}, {"lsaquo", 0x2039}, {"lsquo", 0x2018}, {"lt", 0x3C},
    {"macr", 0xAF}, {"mdash", 0x2014}, {"micro", 0xB5}, {"middot", 0xB7}, {"minus", 0x2212},
    {"mu", 0x3BC}, {"nabla", 0x2207}, {"nbsp", 0xA0}, {"ndash", 0x2013}, {"ne", 0x2260},
    {"ni", 0x220B}, {"not", 0xAC}, {"notin", 0x2209}, {"nsub", 0x2284}, {"ntilde", 0xF1},
    {"nu", 0x3BD}, {"oacute", 0xF3}, {"ocirc", 0xF4}, {"oelig", 0x153}, {"ograve", 0xF2},
    {"oline", 0x203E}, {"omega", 0x3C9}, {"omicron", 0x3BF}, {"oplus", 0x2295}, {"or", 0x2228},
    {"ordf", 0xAA}, {"ordm", 0xBA}, {"oslash", 0xF8}, {"otilde", 0xF5}, {"otimes", 0x2297},
    {"ouml", 0xF6}, {"para", 0xB6}, {"part", 0x2202}, {"permil", 0x2030}, {"perp", 0x22A5},
    {"phi", 0x3C6}, {"pi", 0x3C0}, {"piv", 0x3D6}, {"plusmn", 0xB1}, {"pound", 0xA3},
    {"prime", 0x2032}, {"prod", 0x220F}, {"prop", 0x221D}, {"psi", 0x3C8}, {"quot", 0x22},
    {"rArr", 0x21D2}, {"radic", 0x221A}, {"rang", 0x232A}, {"raquo", 0xBB}, {"rarr", 0x2192},
    {"rceil", 0x2309}, {"rdquo", 0x201D}, {"real", 0x211C}, {"reg", 0xAE}, {"rfloor", 0x230B},
    {"rho", 0x3C1}, {"rlm", 0x200F}, {"rsaquo", 0x203A}, {"rsquo", 0x2019}, {"sbquo", 0x201A},
    {"scaron", 0x161}, {"sdot", 0x22C5}, {"sect", 0xA7}, {"shy", 0xAD}, {"sigma", 0x3C3},
    {"sigmaf", 0x3C2}, {"sim", 0x223C}, {"spades", 0x2660}, {"sub", 0x2282}, {"sube", 0x2286},
    {"sum", 0x2211}, {"sup", 0x2283}, {"sup1", 0xB9}, {"sup2", 0xB2}, {"sup3", 0xB3},
    {"supe", 0x2287}, {"szlig", 0xDF}, {"tau", 0x3C4}, {"there4", 0x2234}, {"theta", 0x3B8},
    {"thetasym", 0x3D1}, {"thinsp", 0x2009}, {"thorn", 0xFE}, {"tilde", 0x2DC}, {"times", 0xD7},
    {"trade", 0x2122}, {"uArr", 0x21D1}, {"uacute", 0xFA}, {"uarr", 0x2191}, {"ucirc", 0xFB},
    {"ugrave", 0xF9}, {"uml", 0xA8}, {"upsih", 0x3D2}, {"upsilon", 0x3C5}, {"uuml", 0xFC},
    {"weierp", 0x2118}, {"xi", 0x3BE}, {"yacute", 0xFD}, {"yen", 0xA5}, {"yuml", 0xFF},
    {"zeta", 0x3B6}, {"zwj", 0x200D}, {"zwnj", 0x200C},
};

constexpr std::size_t k_max_reference_name = 8; // "thetasym"
constexpr unsigned long k_legacy_limit = 0x100; // references below this may omit the ';'

const NamedReference* find_reference(std::string_view name) {
    const auto* begin = std::begin(k_named_references);
    const auto* end = std::end(k_named_references);
    const auto* it = std::lower_bound(begin, end, name, [](const NamedReference& r, std::string_view n) {
        return r.name < n;
    });
    return it != end && it->name == name ? it : nullptr;
}

// At in[i], just after '&': appends the character and returns where the reference ends, or returns i when
// there is none (the '&' is literal).
std::size_t decode_reference(std::string_view in, std::size_t i, bool in_attribute, std::string& out) {
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
        if (j == digits_begin) return i;
        append_code_point(out, cp);
        return (j < in.size() && in[j] == ';') ? j + 1 : j;
    }
    std::size_t j = i;
    while (j < in.size() && j - i < k_max_reference_name && ascii::is_alnum(in[j]))
        ++j;
    if (j == i) return i;
    if (j < in.size() && in[j] == ';') {
        if (const NamedReference* r = find_reference(in.substr(i, j - i))) {
            append_code_point(out, r->cp);
            return j + 1;
        }
    }
    // No ';': the longest Latin-1 name that starts the run.
    for (std::size_t len = j - i; len >= 2; --len) {
        const NamedReference* r = find_reference(in.substr(i, len));
        if (r == nullptr || r->cp >= k_legacy_limit) continue;
        const std::size_t after = i + len;
        if (in_attribute && after < in.size() && (ascii::is_alnum(in[after]) || in[after] == '=')) return i;
        append_code_point(out, r->cp);
        return after;
    }
    return i;
}

void decode_entities(std::string_view in, std::string& out, bool in_attribute) {
    out.clear();
    std::size_t i = 0;
    while (i < in.size()) {
        const auto amp = in.find('&', i);
        if (amp == std::string_view::npos) {
            out.append(in.substr(i));
            break;
        }
        out.append(in.substr(i, amp - i));
        const std::size_t end = decode_reference(in, amp + 1, in_attribute, out);
        if (end == amp + 1) out.push_back('&');
        i = end;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// HtmlWalker: the scanner's tokens through a bounded stack of open elements, with as much of HTML's tree
// building as decides what is shown: which end tag closes which element, the elements whose end tag may be
// left out (p, li, table cells), head ending where the body starts. Formatting elements are not re-opened
// after a block closes them (HTML's "reconstruct the active formatting elements"): text after such a block
// shows even when the re-opened element would have hidden it, which errs towards the rules seeing more.

// Real mail nests tables a few dozen deep. Past this many open elements, new ones are not tracked (their own
// hiding is not seen, their end tags may close an ancestor of the same name) and `simplified` is set: the
// stack, and so the time of each end tag, stays bounded, and the rules learn that hiding was not followed.
constexpr std::size_t k_max_open_elements = 256;
constexpr std::size_t k_no_link = static_cast<std::size_t>(-1);

class HtmlWalker {
  public:
    HtmlWalker(TextSink& sink, std::vector<Link>& links) : m_sink(sink), m_links(links) {
        m_open.reserve(64);
    }

    void walk(std::string_view html) {
        HtmlScanner scanner(html);
        for (HtmlToken t = scanner.next(); t.kind != HtmlToken::Kind::End; t = scanner.next()) {
            switch (t.kind) {
            case HtmlToken::Kind::Text:
                text(t.text);
                break;
            case HtmlToken::Kind::RawText:
                raw_text(t);
                break;
            case HtmlToken::Kind::StartTag:
                start(t);
                break;
            case HtmlToken::Kind::EndTag:
                end(t.name);
                break;
            case HtmlToken::Kind::Skip:
            case HtmlToken::Kind::End:
                break;
            }
            scanner.set_foreign(m_in_foreign);
        }
        pop_to(0);
    }

    bool simplified() const { return m_simplified; }

  private:
    struct OpenElement {
        TagName name;
        bool hidden = false;           // this element or one it is inside hides its contents
        std::size_t link = k_no_link;  // index in m_links of the <a href> this element is
        std::size_t link_mark = 0;     // where its text starts in the sink
    };

    bool hidden() const { return m_open.empty() ? m_document_hidden : m_open.back().hidden; }

    void text(std::string_view s) {
        if (m_head != k_none && !m_in_foreign) {
            if (std::all_of(s.begin(), s.end(), is_html_space)) return;
            pop_to(m_head); // text ends the head: it belongs to the body
        }
        if (hidden()) return;
        if (std::memchr(s.data(), '&', s.size()) == nullptr) {
            m_sink.text(s); // most text has no references: no copy
            return;
        }
        decode_entities(s, m_scratch, false);
        m_sink.text(m_scratch);
    }

    void raw_text(const HtmlToken& t) {
        if (hidden()) return;
        const std::string_view name = t.name.view();
        if (name == "textarea") { // RCDATA: references are decoded
            decode_entities(t.text, m_scratch, false);
            m_sink.text(m_scratch);
        } else if (name == "xmp" || name == "plaintext") { // shown as written
            m_sink.text(t.text);
        } // script, style, title, iframe, noembed, noframes: never shown
    }

    void start(const HtmlToken& t) {
        const TagName& name = t.name;
        if (m_in_foreign) {
            if (!name.is(k_foreign_breakout)) {
                if (!t.attrs.ends_with('/')) push(name, read_attributes(t.attrs, false).hidden, k_no_link);
                return;
            }
            pop_to(m_foreign_root); // an HTML element in SVG or MathML closes them
        }
        if (name.is(k_document)) {
            const std::string_view n = name.view();
            if (n == "head") {
                if (!m_seen_head && m_open.empty()) {
                    m_seen_head = true;
                    m_head = m_open.size();
                    push(name, true, k_no_link);
                }
                return;
            }
            if (n == "body" && m_head != k_none) pop_to(m_head);
            // html and body are never popped: their hiding applies to the whole document.
            if (read_attributes(t.attrs, false).hidden) m_document_hidden = true;
            return;
        }
        if (m_head != k_none && !name.is(k_head_content)) pop_to(m_head);
        if (name.is(k_raw_text)) return; // its contents come as a RawText token; nothing to push
        close_implied(name);
        if (name.is(k_void)) {
            if (name.is(k_block) && !hidden()) m_sink.newline();
            return;
        }
        const bool is_link = name.view() == "a";
        if (is_link) close_open_link();
        const ElementAttributes attrs = read_attributes(t.attrs, is_link);
        const bool element_hidden = hidden() || attrs.hidden || name.is(k_invisible);
        std::size_t link = k_no_link;
        if (attrs.href) {
            decode_entities(*attrs.href, m_scratch, true);
            m_links.push_back({clean_href(m_scratch), {}});
            link = m_links.size() - 1;
        }
        if (!element_hidden && name.is(k_block)) m_sink.newline();
        if (push(name, element_hidden, link) && name.is(k_foreign_root)) {
            m_in_foreign = true;
            m_foreign_root = m_open.size() - 1;
        }
    }

    void end(const TagName& name) {
        if (m_in_foreign) {
            for (std::size_t i = m_open.size(); i > m_foreign_root; --i) {
                if (m_open[i - 1].name == name) {
                    pop_to(i - 1);
                    return;
                }
            }
            if (!name.is(k_foreign_breakout)) return;
            pop_to(m_foreign_root);
        }
        if (name.is(k_raw_text)) return; // not on the stack
        if (name.is(k_document)) {
            if (name.view() == "head" && m_head != k_none) pop_to(m_head);
            return; // </body> and </html> close nothing: text after them is still shown
        }
        const std::string_view n = name.view();
        if (n == "br") { // </br> is read as <br>
            if (!hidden()) m_sink.newline();
            return;
        }
        const int f = name.formatting();
        const bool table_part = name.is(k_table_part);
        bool crossed_boundary = false;
        for (std::size_t i = m_open.size(); i > 0; --i) {
            const OpenElement& node = m_open[i - 1];
            if (node.name == name) {
                if (crossed_boundary) return; // not in scope: ignored
                if (n == "form") {
                    erase(i - 1); // </form> takes the form out and leaves its children open
                } else {
                    pop_to(i - 1);
                }
                return;
            }
            const bool cell = node.name.is(k_cell_like);
            crossed_boundary = crossed_boundary || (node.name.is(k_scope_boundary) && !(table_part && cell));
            // "Any other end tag" stops at the first special element; formatting ones (the adoption agency)
            // close across it.
            if (f < 0 && !name.is(k_special) && node.name.is(k_special)) return;
        }
        if (n == "p" && !hidden()) m_sink.newline(); // </p> without <p> makes an empty paragraph
    }

    // False past k_max_open_elements. An <a> is pushed all the same: each one closes the one before, so
    // there is at most one of them, and its link keeps its text.
    bool push(const TagName& name, bool element_hidden, std::size_t link) {
        if (m_open.size() >= k_max_open_elements && link == k_no_link) {
            m_simplified = true;
            return false;
        }
        m_open.push_back({name, element_hidden, link, m_sink.mark()});
        return true;
    }

    // What closing an element shows: the link's text, the line break after a block, the gap after a cell.
    void leave(const OpenElement& e) {
        if (e.hidden) return;
        if (e.link != k_no_link) m_links[e.link].text = m_sink.line_since(e.link_mark);
        if (e.name.is(k_block)) {
            m_sink.newline();
        } else if (e.name.view() == "td" || e.name.view() == "th") {
            m_sink.space();
        }
    }

    void pop_to(std::size_t size) {
        while (m_open.size() > size) {
            leave(m_open.back());
            m_open.pop_back();
        }
        if (m_head != k_none && m_head >= m_open.size()) m_head = k_none;
        if (m_in_foreign && m_foreign_root >= m_open.size()) m_in_foreign = false;
    }

    void erase(std::size_t index) {
        leave(m_open[index]);
        m_open.erase(m_open.begin() + static_cast<std::ptrdiff_t>(index));
        if (m_head != k_none && index < m_head) --m_head;
    }

    // A new <a> closes one still open (HTML's adoption agency takes it out of the stack).
    void close_open_link() {
        for (std::size_t i = m_open.size(); i > 0; --i) {
            const TagName& node = m_open[i - 1].name;
            if (node.view() == "a") {
                erase(i - 1);
                return;
            }
            if (node.is(k_formatting_marker)) return;
        }
    }

    // The start tags that close an open element first: a block closes a <p>; a list item, definition or
    // option the previous one; a heading the heading it is in; a row or cell the open cell, back to its row
    // or table section.
    void close_implied(const TagName& name) {
        if (name.is(k_closes_p)) close_in_scope("p");
        if (m_open.empty()) return; // the <p> may have been all there was
        const std::string_view n = name.view();
        if (n == "li") {
            close_item({"li", ""});
        } else if (n == "dd" || n == "dt") {
            close_item({"dd", "dt"});
        } else if (n.size() == 2 && n[0] == 'h' && n[1] >= '1' && n[1] <= '6') {
            const std::string_view top = m_open.back().name.view();
            if (top.size() == 2 && top[0] == 'h' && top[1] >= '1' && top[1] <= '6') pop_to(m_open.size() - 1);
        } else if (n == "td" || n == "th" || n == "tr" || n == "tbody" || n == "thead" || n == "tfoot") {
            close_table_parts(name);
        } else if (name.is(k_implied_end) && m_open.back().name == name) {
            pop_to(m_open.size() - 1);
        }
    }

    void close_in_scope(std::string_view target) {
        for (std::size_t i = m_open.size(); i > 0; --i) {
            const TagName& node = m_open[i - 1].name;
            if (node.view() == target) {
                pop_to(i - 1);
                return;
            }
            if (node.is(k_scope_boundary)) return;
        }
    }

    void close_item(std::array<std::string_view, 2> targets) {
        for (std::size_t i = m_open.size(); i > 0; --i) {
            const TagName& node = m_open[i - 1].name;
            if (node.view() == targets[0] || node.view() == targets[1]) {
                pop_to(i - 1);
                return;
            }
            const std::string_view v = node.view();
            if (node.is(k_special) && v != "address" && v != "div" && v != "p") return;
        }
    }

    void close_table_parts(const TagName& name) {
        const std::string_view n = name.view();
        const bool cell = n == "td" || n == "th";
        const bool row = n == "tr";
        const bool section = !cell && !row;
        for (std::size_t i = m_open.size(); i > 0; --i) {
            const std::string_view node = m_open[i - 1].name.view();
            if (node == "td" || node == "th") {
                pop_to(i - 1); // the open cell goes; a section or row start tag then pops its row below
                if (!cell) close_table_parts(name);
                return;
            }
            if (node == "tr") {
                if (!cell) pop_to(i - 1);
                if (section) close_table_parts(name);
                return;
            }
            if (node == "tbody" || node == "thead" || node == "tfoot") {
                if (section) pop_to(i - 1);
                return;
            }
            if (node == "table" || node == "template" || m_open[i - 1].name.is(k_foreign_root)) return;
        }
    }

    static constexpr std::size_t k_none = static_cast<std::size_t>(-1);

    TextSink& m_sink;
    std::vector<Link>& m_links;
    std::vector<OpenElement> m_open;
    std::size_t m_head = k_none;         // index of the open <head>
    bool m_in_foreign = false;           // inside an open svg or math element
    std::size_t m_foreign_root = 0;      // index of the outermost open svg/math
    bool m_seen_head = false;
    bool m_document_hidden = false;      // <html> or <body> hides everything
    bool m_simplified = false;
    std::string m_scratch;               // decoded text, reused for every token
};

} // namespace

HtmlText html_to_text(std::string_view html) {
    HtmlText result;
    TextSink sink(html.size());
    HtmlWalker walker(sink, result.links);
    walker.walk(html);
    result.simplified = walker.simplified();
    result.text = sink.take();
    return result;
}

} // namespace presend
