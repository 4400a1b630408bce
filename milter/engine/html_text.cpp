// html_text: visible text and links of an HTML part, in one linear pass. HtmlScanner tokenizes; HtmlWalker keeps
// a bounded stack of open elements, enough of HTML's tree building to know what is hidden and where blocks
// end, and writes to a TextSink, which folds whitespace. No DOM: memory is the output plus the stack.
#include "engine/html_text.hpp"
#include "engine/ascii.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <unordered_map>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// What the scanning loops stop at, one table look-up per byte instead of a chain of compares.
enum ByteClass : std::uint8_t {
    k_class_space = 1 << 0, // is_html_space
    k_class_slash = 1 << 1,
    k_class_gt = 1 << 2,
    k_class_eq = 1 << 3,
    k_class_alpha = 1 << 4, // ascii::is_alpha
    k_class_opens = 1 << 5, // what after '<' starts markup: a letter, '!' or '?'
};

constexpr std::array<std::uint8_t, 256> k_byte_classes = [] {
    std::array<std::uint8_t, 256> t{};
    for (const char c : {' ', '\t', '\n', '\r', '\f'})
        t[static_cast<unsigned char>(c)] = k_class_space;
    t['/'] = k_class_slash;
    t['>'] = k_class_gt;
    t['='] = k_class_eq;
    for (int c = 0; c < 256; ++c) {
        if (ascii::is_alpha(static_cast<char>(c)))
            t[static_cast<std::size_t>(c)] = k_class_alpha | k_class_opens;
    }
    t['!'] = k_class_opens;
    t['?'] = k_class_opens;
    return t;
}();

constexpr bool is_class(char c, std::uint8_t classes) {
    return (k_byte_classes[static_cast<unsigned char>(c)] & classes) != 0;
}

// The first byte in [p, end) equal to a, b or c, or end, 16 bytes at a time: tracking links run to hundreds
// of bytes.
const char* find_any(const char* p, const char* end, char a, char b, char c) {
#if defined(__SSE2__)
    if (end - p >= 16) {
        const __m128i va = _mm_set1_epi8(a);
        const __m128i vb = _mm_set1_epi8(b);
        const __m128i vc = _mm_set1_epi8(c);
        const auto hits = [&](const char* block) {
            const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block));
            const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)),
                                             _mm_cmpeq_epi8(x, vc));
            return static_cast<unsigned>(_mm_movemask_epi8(hit));
        };
        for (; end - p >= 16; p += 16) {
            if (const unsigned mask = hits(p); mask != 0) return p + std::countr_zero(mask);
        }
        if (p == end) return end;
        // The last block ends at `end` and overlaps bytes already read: they are shifted out.
        const char* const last = end - 16;
        const unsigned mask = hits(last) >> (p - last);
        return mask != 0 ? p + std::countr_zero(mask) : end;
    }
#endif
    while (p != end && *p != a && *p != b && *p != c)
        ++p;
    return p;
}

// Where a run of text that TextSink appends as it is ends, from q (the byte after the run's first): the
// first byte that is not printable ASCII, unless it is a single space between printable bytes.
const unsigned char* printable_run_end(const unsigned char* q, const unsigned char* end) {
#if defined(__SSE2__)
    // Signed, printable ASCII (0x21-0x7F) is exactly what is greater than a space.
    const __m128i space = _mm_set1_epi8(' ');
    while (end - q >= 17) { // the byte after the block too: a space at its end needs it
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
        const auto other = ~static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpgt_epi8(x, space))) & 0xFFFFu;
        if (other != 0) {
            const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 1));
            const auto spaces = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, space)));
            const auto printable_next = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpgt_epi8(next, space)));
            const unsigned stop = other & ~(spaces & printable_next);
            if (stop != 0) return q + std::countr_zero(stop);
        }
        q += 16;
    }
#endif
    while (q != end) {
        if (is_printable_ascii(*q)) {
            ++q;
        } else if (*q == ' ' && end - q >= 2 && is_printable_ascii(q[1])) {
            q += 2;
        } else {
            break;
        }
    }
    return q;
}

// ---------------------------------------------------------------------------------------------------------------
// TextSink: folds whitespace and places line breaks between blocks, for the DOM walk and the stripper alike.
// Writes after what its string held: that text is not read, and folding starts afresh after it.

class TextSink {
  public:
    // The text of table-laid-out mail is a tenth to a quarter of its markup: reserving a quarter up front
    // spares the copies of growing the string as it fills (a reused string has most often grown already).
    TextSink(std::string& out, std::size_t markup_size) : m_out(out), m_base(out.size()) {
        m_out.reserve(m_base + markup_size / 4);
    }

    void text(std::string_view s) {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const auto* end = p + s.size();
        while (p < end) {
            const unsigned char c = *p;
            if (is_printable_ascii(c)) { // the bulk of any text: appended a run at a time
                // A single space between printable bytes folds to itself, so a run goes on across it: runs
                // are sentences, not words.
                const auto* run_end = printable_run_end(p + 1, end);
                put_run(reinterpret_cast<const char*>(p), static_cast<std::size_t>(run_end - p));
                p = run_end;
                continue;
            }
            if (c < 0x80) {
                if (is_html_space(static_cast<char>(c)) || c == '\v') {
                    m_pending_space = true;
                    // The blanks that indent markup come in runs.
                    while (end - p >= 2 && (is_html_space(static_cast<char>(p[1])) || p[1] == '\v'))
                        ++p;
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
        if (m_out.size() > m_base && m_out.back() != '\n') m_out.push_back('\n');
    }

    std::size_t mark() const { return m_out.size(); }

    // The text written since `mark`, on one line, into `line` (replacing what it held): what a link shows.
    void line_since(std::size_t mark, std::string& line) const {
        const auto blank = [](char c) { return c == ' ' || c == '\n'; };
        std::size_t first = std::min(mark, m_out.size());
        std::size_t last = m_out.size();
        while (first < last && blank(m_out[first]))
            ++first;
        while (first < last && blank(m_out[last - 1]))
            --last;
        line.assign(m_out, first, last - first);
        std::replace(line.begin(), line.end(), '\n', ' ');
    }

    // The line breaks left at the end go.
    void finish() {
        while (m_out.size() > m_base && m_out.back() == '\n')
            m_out.pop_back();
    }

  private:
    void put_run(const char* run, std::size_t n) {
        if (m_pending_space && m_out.size() > m_base && m_out.back() != '\n') m_out.push_back(' ');
        m_pending_space = false;
        m_out.append(run, n);
    }

    void put(char c) {
        if (m_pending_space && m_out.size() > m_base && m_out.back() != '\n') m_out.push_back(' ');
        m_pending_space = false;
        m_out.push_back(c);
    }

    std::string& m_out;
    std::size_t m_base; // where this document's text starts in m_out
    bool m_pending_space = false;
};

// Browsers drop tabs and newlines anywhere in a URL and spaces around it; so do we, or "ht\ntp://" hides a
// link.
// Runs between those bytes are copied whole and the trim is done in place: tracking links run to hundreds of
// bytes, and a byte at a time they cost as much as the rest of the link. Into `out`, replacing what it held.
void clean_href(std::string_view href, std::string& out) {
    out.clear();
    out.reserve(href.size());
    const std::size_t n = href.size();
    std::size_t pos = 0;
    while (pos < n) {
        const char* const at = find_any(href.data() + pos, href.data() + n, '\t', '\n', '\r');
        const auto end = static_cast<std::size_t>(at - href.data());
        out.append(href.substr(pos, end - pos));
        pos = end + 1;
    }
    const auto first = out.find_first_not_of(" \f\v");
    if (first == std::string::npos) {
        out.clear();
        return;
    }
    out.erase(out.find_last_not_of(" \f\v") + 1);
    out.erase(0, first);
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

// The elements the walker treats by name, beyond their flags: compared as one byte on every tag and every
// open element the end tags and the implied ends walk past.
enum class TagId : std::uint8_t {
    other,
    a,
    address,
    body,
    br,
    dd,
    div,
    dt,
    form,
    head,
    li,
    p,
    plaintext,
    table,
    tbody,
    td,
    template_,
    textarea,
    tfoot,
    th,
    thead,
    tr,
    xmp,
    heading, // h1 to h6
};

// The names of the TagIds before `heading`, in their order.
constexpr std::array<std::string_view, static_cast<std::size_t>(TagId::heading)> k_tag_id_names = {
    "",         "a",        "address", "body", "br",        "dd",    "div",   "dt",
    "form",     "head",     "li",      "p",    "plaintext", "table", "tbody", "td",
    "template", "textarea", "tfoot",   "th",   "thead",     "tr",    "xmp"};

struct TagTraits {
    std::uint16_t flags = 0;
    std::int8_t formatting = -1; // index among the formatting elements (a, b, font...)
    TagId id = TagId::other;
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
        for (std::size_t i = 1; i < k_tag_id_names.size(); ++i)
            t[k_tag_id_names[i]].id = static_cast<TagId>(i);
        for (const std::string_view heading : {"h1", "h2", "h3", "h4", "h5", "h6"})
            t[heading].id = TagId::heading;
        return t;
    }();
    return table;
}

// A tag name as two words, lower-cased and zero-padded: compared, hashed and copied whole, where a string
// would cost a loop or a call each time.
struct TagName {
    std::array<std::uint64_t, 2> words{};
    std::uint8_t size = 0;
    TagTraits traits;

    std::string_view view() const { return {reinterpret_cast<const char*>(words.data()), size}; }
    char* bytes() { return reinterpret_cast<char*>(words.data()); }
    bool is(std::uint16_t flag) const { return (traits.flags & flag) != 0; }
    bool is(TagId id) const { return traits.id == id; }
    int formatting() const { return traits.formatting; }
    bool operator==(const TagName& other) const {
        return words[0] == other.words[0] && words[1] == other.words[1] && size == other.size;
    }
};
static_assert(k_max_tag_name < sizeof(TagName::words), "a tag name ends with a zero byte");

// tag_traits() as an open-addressed table on a multiplicative hash of the name's words: looked up for every
// tag, where std::hash and the buckets of an unordered_map cost more than the rest of the tag.
class TagTable {
  public:
    TagTable() {
        for (const auto& [name, traits] : tag_traits()) {
            Slot slot;
            std::copy(name.begin(), name.end(), slot.name.bytes());
            slot.name.size = static_cast<std::uint8_t>(name.size());
            slot.name.traits = traits;
            slot.used = true;
            std::size_t i = hash(slot.name);
            while (m_slots[i].used)
                i = (i + 1) & k_mask;
            m_slots[i] = slot;
        }
    }

    TagTraits find(const TagName& name) const {
        for (std::size_t i = hash(name); m_slots[i].used; i = (i + 1) & k_mask) {
            if (m_slots[i].name == name) return m_slots[i].name.traits;
        }
        return {};
    }

  private:
    static constexpr int k_bits = 9;
    static constexpr std::size_t k_slots = std::size_t{1} << k_bits; // over twice the names known
    static constexpr std::size_t k_mask = k_slots - 1;

    struct Slot {
        TagName name;
        bool used = false;
    };

    static std::size_t hash(const TagName& name) {
        const std::uint64_t h =
            name.words[0] * 0x9E3779B97F4A7C15u + name.words[1] * 0xC2B2AE3D27D4EB4Fu + name.size;
        return static_cast<std::size_t>(h >> (64 - k_bits));
    }

    std::array<Slot, k_slots> m_slots{};
};

// read_tag_name() a byte at a time.
std::size_t read_tag_name_bytes(std::string_view html, std::size_t begin, TagName& name,
                                const TagTable& table) {
    name = TagName{};
    char* const out = name.bytes();
    std::size_t end = begin;
    while (end < html.size() && !is_class(html[end], k_class_space | k_class_slash | k_class_gt)) {
        if (end - begin < k_max_tag_name) out[end - begin] = ascii::lower(html[end]);
        ++end;
    }
    name.size = static_cast<std::uint8_t>(std::min(end - begin, k_max_tag_name));
    name.traits = table.find(name);
    return end - begin;
}

// Reads the tag name at html[begin] into `name` (lower-cased, its first k_max_tag_name bytes) and returns its
// length in the input: up to a blank, '/' or '>'.
std::size_t read_tag_name(std::string_view html, std::size_t begin, TagName& name) {
    static const TagTable s_table;
#if defined(__SSE2__)
    // Names are short: one block of 16 bytes holds the name and what ends it, all of it read, lower-cased
    // and cut to size at once. A control byte other than a blank is part of a name: such a name, and one
    // longer than the block, is read a byte at a time.
    if (html.size() - begin >= 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(html.data() + begin));
        const __m128i space_or_less = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(' ')), x);
        const __m128i stop = _mm_or_si128(space_or_less, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('/')),
                                                                      _mm_cmpeq_epi8(x, _mm_set1_epi8('>'))));
        const auto stops = static_cast<unsigned>(_mm_movemask_epi8(stop));
        const auto length = static_cast<std::size_t>(std::countr_zero(stops | 0x10000u));
        if (length == 16 || !is_class(html[begin + length], k_class_space | k_class_slash | k_class_gt))
            return read_tag_name_bytes(html, begin, name, s_table);
        name.size = static_cast<std::uint8_t>(std::min(length, k_max_tag_name));
        const __m128i upper = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('A' - 1)),
                                            _mm_cmpgt_epi8(_mm_set1_epi8('Z' + 1), x));
        const __m128i lower = _mm_add_epi8(x, _mm_and_si128(upper, _mm_set1_epi8('a' - 'A')));
        const __m128i index = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __m128i keep = _mm_cmpgt_epi8(_mm_set1_epi8(static_cast<char>(name.size)), index);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(name.words.data()), _mm_and_si128(lower, keep));
        name.traits = s_table.find(name);
        return length;
    }
#endif
    return read_tag_name_bytes(html, begin, name, s_table);
}

// ---------------------------------------------------------------------------------------------------------------
// Attributes: of each start tag, only what the walk asks about is kept, read in the same pass that finds
// where the tag ends.

// `name` is lower-case letters, at most 8: the bytes of `attr` are compared as one word, each with its 0x20
// bit set, which turns A-Z into a-z and no other byte into a letter.
bool is_name(std::string_view attr, std::string_view name) {
    if (attr.size() != name.size()) return false;
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::memcpy(&a, attr.data(), attr.size());
    std::memcpy(&b, name.data(), name.size());
    return (a | 0x2020202020202020u) == (b | 0x2020202020202020u);
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

// Whether the declaration at the ':' at style[colon] is display:none or visibility:hidden. Both names end in
// 'y': most declarations are told apart by the byte before the colon alone.
bool hides_at(std::string_view style, std::size_t colon) {
    std::size_t before = colon;
    while (before > 0 && is_html_space(style[before - 1]))
        --before;
    if (before == 0 || ascii::lower(style[before - 1]) != 'y') return false;
    return declares(style, colon, "display", "none") || declares(style, colon, "visibility", "hidden");
}

// Whether an inline style, lower-cased and without blanks, holds "display:none" or "visibility:hidden". Read
// in place, at each ':': inline styles are on nearly every tag of table-laid-out mail, and folding each one
// into a copy first cost a fifth of the HTML time. With SSE2 only the colons after a 'y' or a blank are
// looked at, found 16 bytes at a time.
bool style_hides(std::string_view style) {
    const char* const data = style.data();
    const std::size_t n = style.size();
    std::size_t pos = 1; // a colon first has no name before it
#if defined(__SSE2__)
    if (n >= 17) {
        // Bit i: data[at + i] is a colon after a 'y' or 'Y', or after a blank (or a lower byte: hides_at
        // tells).
        const auto candidates = [data](std::size_t at) {
            const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + at));
            const __m128i before = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + at - 1));
            const __m128i y = _mm_cmpeq_epi8(_mm_or_si128(before, _mm_set1_epi8(0x20)), _mm_set1_epi8('y'));
            const __m128i blank = _mm_cmpeq_epi8(_mm_min_epu8(before, _mm_set1_epi8(' ')), before);
            const __m128i colon = _mm_cmpeq_epi8(x, _mm_set1_epi8(':'));
            return static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(colon, _mm_or_si128(y, blank))));
        };
        for (; n - pos >= 16; pos += 16) {
            for (unsigned c = candidates(pos); c != 0; c &= c - 1) {
                if (hides_at(style, pos + static_cast<std::size_t>(std::countr_zero(c)))) return true;
            }
        }
        if (pos == n) return false;
        const std::size_t last = n - 16; // overlaps bytes already looked at: they are shifted out
        for (unsigned c = candidates(last) >> (pos - last); c != 0; c &= c - 1) {
            if (hides_at(style, pos + static_cast<std::size_t>(std::countr_zero(c)))) return true;
        }
        return false;
    }
#endif
    for (; pos < n; ++pos) {
        if (data[pos] == ':' && hides_at(style, pos)) return true;
    }
    return false;
}

// What the walk needs of a start tag's attributes, raw (entities not decoded); as in HTML, the first of a
// repeated attribute counts.
struct TagAttributes {
    bool hidden = false; // the `hidden` attribute
    std::optional<std::string_view> style;
    std::optional<std::string_view> href;

    // The `hidden` attribute, or an inline style with display:none or visibility:hidden. Stylesheets are not
    // evaluated: class-based hiding stays visible, which errs towards the rules seeing more.
    bool hide() const { return hidden || (style && style_hides(*style)); }
};

constexpr std::size_t k_npos = std::string_view::npos;

// Reads the attributes in `text` from `pos` into `out`: names up to a blank, '=' or '/', values quoted or up
// to a blank. Over a start tag's attribute bytes (`in_tag` false) it reads them all and returns text.size().
// Over the markup after a tag name (`in_tag` true) it also stops at the '>' that ends the tag, outside a
// quoted value, and returns where that is (text.size() if none); the rare unquoted value with a '=' in it
// makes it return k_npos: the tag's end is then found by HtmlScanner::attributes_end, whose rule for quotes
// differs there, and its bytes read again with `in_tag` false.
std::size_t read_attributes(std::string_view text, std::size_t pos, bool in_tag, TagAttributes& out) {
    const char* const data = text.data();
    const std::size_t n = text.size();
    const std::uint8_t gt = in_tag ? k_class_gt : 0;
    while (true) {
        if (pos < n && is_class(data[pos], gt)) return pos; // the most common case: <tr>, "...">
        while (pos < n && is_class(data[pos], k_class_space | k_class_slash))
            ++pos;
        if (pos == n || is_class(data[pos], gt)) return pos;
        const std::size_t name_begin = pos;
#if defined(__SSE2__)
        // Past the bytes of the name that cannot end it, 16 at a time: blanks and all bytes below them, '=',
        // '/' and '>' stop this, and the loop below tells which of them end the name.
        if (n - pos >= 16) {
            const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + pos));
            const __m128i stop = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(' ')), x),
                             _mm_cmpeq_epi8(x, _mm_set1_epi8('='))),
                _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('/')), _mm_cmpeq_epi8(x, _mm_set1_epi8('>'))));
            pos += static_cast<std::size_t>(
                std::countr_zero(static_cast<unsigned>(_mm_movemask_epi8(stop)) | 0x10000u));
        }
#endif
        while (pos < n && !is_class(data[pos], k_class_space | k_class_eq | k_class_slash | gt))
            ++pos;
        const std::string_view name(data + name_begin, pos - name_begin);
        while (pos < n && is_html_space(data[pos]))
            ++pos;
        std::string_view value;
        if (pos < n && data[pos] == '=') {
            ++pos;
            while (pos < n && is_html_space(data[pos]))
                ++pos;
            if (pos < n && (data[pos] == '"' || data[pos] == '\'')) {
                const auto* close =
                    static_cast<const char*>(std::memchr(data + pos + 1, data[pos], n - pos - 1));
                const std::size_t end = close == nullptr ? n : static_cast<std::size_t>(close - data);
                value = std::string_view(data + pos + 1, end - pos - 1);
                pos = close == nullptr ? n : end + 1;
            } else {
                const std::size_t begin = pos;
                while (pos < n && !is_class(data[pos], k_class_space | gt)) {
                    if (in_tag && data[pos] == '=') return k_npos;
                    ++pos;
                }
                value = std::string_view(data + begin, pos - begin);
            }
        }
        if (name.empty()) continue;
        switch (ascii::lower(name.front())) {
        case 'h':
            if (is_name(name, "hidden")) {
                out.hidden = true;
            } else if (!out.href && is_name(name, "href")) {
                out.href = value;
            }
            break;
        case 's':
            if (!out.style && is_name(name, "style")) out.style = value;
            break;
        default:
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// HtmlScanner: a linear, forgiving tokenizer.

struct HtmlToken {
    enum class Kind { Text, StartTag, EndTag, RawText, Skip, End };
    Kind kind = Kind::End;
    std::string_view text;  // Text / RawText contents
    TagName name;           // StartTag / EndTag; RawText: its element
    std::string_view attrs; // StartTag: the bytes between the name and '>'
    TagAttributes attributes; // StartTag
};

class HtmlScanner {
  public:
    explicit HtmlScanner(std::string_view html) : m_html(html) {}

    // Inside SVG or MathML, <style> and <title> hold markup like any other element.
    void set_foreign(bool foreign) { m_foreign = foreign; }

    // The next token into `t`, which the caller keeps from one token to the next: only the fields of its kind
    // are written.
    void next(HtmlToken& t) {
        if (m_raw_end_pending) {
            m_raw_end_pending = false;
            raw_text(t);
            return;
        }
        t.kind = HtmlToken::Kind::End;
        if (m_pos >= m_html.size()) return;
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
            t.text = std::string_view(m_html.data() + m_pos, end - m_pos);
            m_pos = end;
            return;
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
            return;
        }
        // One call for both kinds of tag, so that the look-up is inlined here.
        const bool end_tag = c == '/';
        const std::size_t name_begin = m_pos + (end_tag ? 2 : 1);
        const std::size_t name_end = name_begin + read_tag_name(m_html, name_begin, t.name);
        if (end_tag) {
            t.kind = HtmlToken::Kind::EndTag;
            if (name_end < m_html.size() && m_html[name_end] == '>') {
                m_pos = name_end + 1; // </td>: no need to look further
            } else {
                skip_past('>', name_end);
            }
            return;
        }
        t.kind = HtmlToken::Kind::StartTag;
        const std::size_t attrs_begin = name_end;
        // Read up to the tag's '>'; when that cannot tell where the tag ends, again, up to the end that
        // attributes_end() finds. One call site for both, so that the reading is inlined here.
        std::string_view text = m_html;
        bool in_tag = true;
        std::size_t attrs_end = k_npos;
        while (true) {
            t.attributes = {};
            attrs_end = read_attributes(text, attrs_begin, in_tag, t.attributes);
            if (attrs_end != k_npos) break;
            text = m_html.substr(0, attributes_end(attrs_begin));
            in_tag = false;
        }
        t.attrs = std::string_view(m_html.data() + attrs_begin, attrs_end - attrs_begin);
        m_pos = std::min(attrs_end + 1, m_html.size());
        if (!m_foreign && t.name.is(k_raw_text)) {
            m_raw_name = t.name;
            m_raw_end_pending = true;
        }
    }

  private:
    bool starts_markup(std::size_t pos) const {
        if (m_html[pos] != '<' || pos + 1 >= m_html.size()) return false;
        const char c = m_html[pos + 1];
        if (is_class(c, k_class_opens)) return true;
        return c == '/' && pos + 2 < m_html.size() && is_class(m_html[pos + 2], k_class_alpha);
    }

    void skip_past(char c, std::size_t from) {
        const auto at = m_html.find(c, from);
        m_pos = at == std::string_view::npos ? m_html.size() : at + 1;
    }

    // Where the '>' closing a start tag is; a quoted attribute value may contain '>'.
    std::size_t attributes_end(std::size_t pos) const {
        const char* const html = m_html.data();
        const std::size_t n = m_html.size();
        while (pos < n) {
            pos = static_cast<std::size_t>(find_any(html + pos, html + n, '>', '=', '>') - html);
            if (pos == n || html[pos] == '>') return pos;
            ++pos; // past '='
            while (pos < n && is_html_space(html[pos]))
                ++pos;
            if (pos < n && (html[pos] == '"' || html[pos] == '\'')) {
                const auto close = m_html.find(html[pos], pos + 1);
                if (close == std::string_view::npos) return n;
                pos = close + 1;
            }
        }
        return n;
    }

    // The contents of a raw text element, up to its end tag (left for the next call).
    void raw_text(HtmlToken& t) {
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
    }

    std::string_view m_html;
    std::size_t m_pos = 0;
    TagName m_raw_name;
    bool m_raw_end_pending = false;
    bool m_foreign = false;
};

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

// A reference name of up to k_max_reference_name bytes as one number, first byte highest: names compare as
// their keys do, one instruction instead of a string compare per step of the search.
constexpr std::uint64_t reference_key(std::string_view name) {
    std::uint64_t key = 0;
    for (std::size_t i = 0; i < k_max_reference_name; ++i)
        key = key << 8 | (i < name.size() ? static_cast<unsigned char>(name[i]) : 0u);
    return key;
}

const NamedReference* find_reference(std::string_view name) {
    static const auto s_keys = [] {
        std::array<std::uint64_t, std::size(k_named_references)> keys{};
        for (std::size_t i = 0; i < keys.size(); ++i)
            keys[i] = reference_key(k_named_references[i].name);
        return keys;
    }();
    if (name.size() > k_max_reference_name) return nullptr;
    const std::uint64_t key = reference_key(name);
    const auto it = std::lower_bound(s_keys.begin(), s_keys.end(), key);
    if (it == s_keys.end() || *it != key) return nullptr;
    const NamedReference& r = k_named_references[static_cast<std::size_t>(it - s_keys.begin())];
    return r.name.size() == name.size() ? &r : nullptr; // "ab\0" has the key of "ab"
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

// `in` with its references decoded, given to put() a piece at a time: each run without references as it is,
// each reference as its character. Text goes to the sink this way without being copied first.
template <typename Put> void decode_entities(std::string_view in, bool in_attribute, Put&& put) {
    std::string character; // one code point: short enough not to allocate
    std::size_t i = 0;
    while (i < in.size()) {
        const auto amp = in.find('&', i);
        if (amp == std::string_view::npos) {
            put(in.substr(i));
            break;
        }
        if (amp > i) put(in.substr(i, amp - i));
        if (in.size() - amp >= 5 && in[amp + 1] == 'a' && in[amp + 2] == 'm' && in[amp + 3] == 'p' &&
            in[amp + 4] == ';') { // the query strings of links are full of them
            put("&");
            i = amp + 5;
            continue;
        }
        character.clear();
        const std::size_t end = decode_reference(in, amp + 1, in_attribute, character);
        put(end == amp + 1 ? std::string_view("&") : std::string_view(character));
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

struct OpenElement {
    TagName name;
    bool hidden = false;          // this element or one it is inside hides its contents
    std::size_t link = k_no_link; // index in m_links of the <a href> this element is
    std::size_t link_mark = 0;    // where its text starts in the sink
};

} // namespace

struct HtmlWorkspace::Buffers {
    std::vector<OpenElement> open; // the walker's stack, empty between documents
    std::string href;              // a link's href with its references decoded, before clean_href
};

namespace {

class HtmlWalker {
  public:
    HtmlWalker(TextSink& sink, std::vector<Link>& links, HtmlWorkspace::Buffers& buffers, LinkPool* pool)
        : m_sink(sink), m_links(links), m_open(buffers.open), m_scratch(buffers.href), m_pool(pool) {
        m_open.clear();
        m_open.reserve(64);
    }

    void walk(std::string_view html) {
        HtmlScanner scanner(html);
        HtmlToken t;
        for (scanner.next(t); t.kind != HtmlToken::Kind::End; scanner.next(t)) {
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
        decode_entities(s, false, [this](std::string_view piece) { m_sink.text(piece); });
    }

    void raw_text(const HtmlToken& t) {
        if (hidden()) return;
        if (t.name.is(TagId::textarea)) { // RCDATA: references are decoded
            decode_entities(t.text, false, [this](std::string_view piece) { m_sink.text(piece); });
        } else if (t.name.is(TagId::xmp) || t.name.is(TagId::plaintext)) { // shown as written
            m_sink.text(t.text);
        } // script, style, title, iframe, noembed, noframes: never shown
    }

    void start(const HtmlToken& t) {
        const TagName& name = t.name;
        if (m_in_foreign) {
            if (!name.is(k_foreign_breakout)) {
                if (!t.attrs.ends_with('/')) push(name, t.attributes.hide(), k_no_link);
                return;
            }
            pop_to(m_foreign_root); // an HTML element in SVG or MathML closes them
        }
        if (name.is(k_document)) {
            if (name.is(TagId::head)) {
                if (!m_seen_head && m_open.empty()) {
                    m_seen_head = true;
                    m_head = m_open.size();
                    push(name, true, k_no_link);
                }
                return;
            }
            if (name.is(TagId::body) && m_head != k_none) pop_to(m_head);
            // html and body are never popped: their hiding applies to the whole document.
            if (t.attributes.hide()) m_document_hidden = true;
            return;
        }
        if (m_head != k_none && !name.is(k_head_content)) pop_to(m_head);
        if (name.is(k_raw_text)) return; // its contents come as a RawText token; nothing to push
        close_implied(name);
        if (name.is(k_void)) {
            if (name.is(k_block) && !hidden()) m_sink.newline();
            return;
        }
        const bool is_link = name.is(TagId::a);
        if (is_link) close_open_link();
        const bool element_hidden = hidden() || name.is(k_invisible) || t.attributes.hide();
        std::size_t link = k_no_link;
        if (is_link && t.attributes.href) {
            m_scratch.clear();
            decode_entities(*t.attributes.href, true,
                            [this](std::string_view piece) { m_scratch.append(piece); });
            m_links.push_back(m_pool != nullptr ? m_pool->take() : Link{});
            clean_href(m_scratch, m_links.back().href);
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
            if (name.is(TagId::head) && m_head != k_none) pop_to(m_head);
            return; // </body> and </html> close nothing: text after them is still shown
        }
        if (name.is(TagId::br)) { // </br> is read as <br>
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
                if (name.is(TagId::form)) {
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
        if (name.is(TagId::p) && !hidden()) m_sink.newline(); // </p> without <p> makes an empty paragraph
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
        if (e.link != k_no_link) m_sink.line_since(e.link_mark, m_links[e.link].text);
        if (e.name.is(k_block)) {
            m_sink.newline();
        } else if (e.name.is(TagId::td) || e.name.is(TagId::th)) {
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
            if (node.is(TagId::a)) {
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
        if (name.is(k_closes_p)) close_in_scope(TagId::p);
        if (m_open.empty()) return; // the <p> may have been all there was
        switch (name.traits.id) {
        case TagId::li:
            close_item({TagId::li, TagId::li});
            return;
        case TagId::dd:
        case TagId::dt:
            close_item({TagId::dd, TagId::dt});
            return;
        case TagId::heading:
            if (m_open.back().name.is(TagId::heading)) pop_to(m_open.size() - 1);
            return;
        case TagId::td:
        case TagId::th:
        case TagId::tr:
        case TagId::tbody:
        case TagId::thead:
        case TagId::tfoot:
            close_table_parts(name);
            return;
        default:
            break;
        }
        if (name.is(k_implied_end) && m_open.back().name == name) pop_to(m_open.size() - 1);
    }

    void close_in_scope(TagId target) {
        for (std::size_t i = m_open.size(); i > 0; --i) {
            const TagName& node = m_open[i - 1].name;
            if (node.is(target)) {
                pop_to(i - 1);
                return;
            }
            if (node.is(k_scope_boundary)) return;
        }
    }

    void close_item(std::array<TagId, 2> targets) {
        for (std::size_t i = m_open.size(); i > 0; --i) {
            const TagName& node = m_open[i - 1].name;
            if (node.is(targets[0]) || node.is(targets[1])) {
                pop_to(i - 1);
                return;
            }
            if (node.is(k_special) && !node.is(TagId::address) && !node.is(TagId::div) && !node.is(TagId::p))
                return;
        }
    }

    void close_table_parts(const TagName& name) {
        const bool cell = name.is(TagId::td) || name.is(TagId::th);
        const bool row = name.is(TagId::tr);
        const bool section = !cell && !row;
        for (std::size_t i = m_open.size(); i > 0; --i) {
            const TagName& node = m_open[i - 1].name;
            if (node.is(TagId::td) || node.is(TagId::th)) {
                pop_to(i - 1); // the open cell goes; a section or row start tag then pops its row below
                if (!cell) close_table_parts(name);
                return;
            }
            if (node.is(TagId::tr)) {
                if (!cell) pop_to(i - 1);
                if (section) close_table_parts(name);
                return;
            }
            if (node.is(TagId::tbody) || node.is(TagId::thead) || node.is(TagId::tfoot)) {
                if (section) pop_to(i - 1);
                return;
            }
            if (node.is(TagId::table) || node.is(TagId::template_) || node.is(k_foreign_root)) return;
        }
    }

    static constexpr std::size_t k_none = static_cast<std::size_t>(-1);

    TextSink& m_sink;
    std::vector<Link>& m_links;
    std::vector<OpenElement>& m_open;
    std::size_t m_head = k_none;         // index of the open <head>
    bool m_in_foreign = false;           // inside an open svg or math element
    std::size_t m_foreign_root = 0;      // index of the outermost open svg/math
    bool m_seen_head = false;
    bool m_document_hidden = false;      // <html> or <body> hides everything
    bool m_simplified = false;
    std::string& m_scratch; // a decoded href, reused for every link
    LinkPool* m_pool;       // where new links come from; null: they are made here
};

} // namespace

HtmlWorkspace::HtmlWorkspace() : m_buffers(std::make_unique<Buffers>()) {}

HtmlWorkspace::~HtmlWorkspace() = default;

// The stack is bounded by k_max_open_elements; an href only by the document.
void HtmlWorkspace::release_if_large(std::size_t max_bytes) {
    if (m_buffers->href.capacity() > max_bytes) std::string().swap(m_buffers->href);
}

bool append_html_text(std::string_view html, std::string& text, std::vector<Link>& links,
                      HtmlWorkspace& workspace, LinkPool* pool) {
    TextSink sink(text, html.size());
    HtmlWalker walker(sink, links, workspace.buffers(), pool);
    walker.walk(html);
    sink.finish();
    return walker.simplified();
}

HtmlText html_to_text(std::string_view html) {
    HtmlText result;
    HtmlWorkspace workspace;
    result.simplified = append_html_text(html, result.text, result.links, workspace);
    return result;
}

} // namespace presend
