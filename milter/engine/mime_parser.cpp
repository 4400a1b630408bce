// mime_parser: raw message → ParsedMessage: every header (RFC 2047 decoded), the UTF-8 text and links of each
// text/plain and text/html part, the attachments, and facts about whatever is malformed. Called once per
// message at EOM, on many threads at once: each call owns every GMime object it touches and shares only what
// GMime keeps read-only or locks (see the notes at parse_with_gmime()). Stops at Limits (presend/limits.hpp),
// keeping what it read; never throws.
#include "presend/engine.hpp"
#include "presend/cpu_clock.hpp"

#include "engine/ascii.hpp"
#include "engine/gmime_view_stream.hpp"
#include "engine/html_text.hpp"
#include "engine/utf8.hpp"
#include "engine/worker_cache.hpp"

#include <gmime/gmime.h>
#include <iconv.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>

namespace presend {

namespace {

// A charset name is a short token; anything longer is junk that iconv need not see.
constexpr std::size_t k_max_charset_name = 40;
// GMime copies charset names out of headers onto the stack with no length limit, twice over (g_alloca in
// gmime-param.c rfc2184_param_charset, then in gmime-charset.c g_mime_charset_iconv_name), so one giant
// header could overflow a thread's stack. Postfix's header_size_limit (100 KB) keeps real headers far below
// that. Two copies of a message this size fit any thread stack we run on; a bigger message may carry a bigger
// header and is parsed on a thread whose stack holds three copies of it (a thread start costs far less than
// parsing such a message).
constexpr std::size_t k_big_message_bytes = 256 * 1024;
constexpr std::size_t k_stack_copies = 3;
constexpr std::size_t k_stack_headroom = 8 * 1024 * 1024; // GMime's own recursion (1,024 levels) and ours
// Transfer decoding reads the part in chunks of this size; the decoded text is appended to one string per
// part.
constexpr std::size_t k_decode_chunk = 16 * 1024;
// An HTML part without a charset parameter may name one in a <meta> near its top.
constexpr std::size_t k_meta_charset_window = 1024;
// iconv descriptors kept per thread, so converting a part or an encoded word does not open one each time;
// four covers the charsets of nearly every message.
constexpr std::size_t k_iconv_cache_size = 4;

// ---------------------------------------------------------------------------------------------------------------
// RAII for GMime

template <typename T> struct GObjectUnref {
    void operator()(T* object) const { g_object_unref(object); }
};
template <typename T> using GObjectPtr = std::unique_ptr<T, GObjectUnref<T>>;

using ParserOptionsPtr = std::unique_ptr<GMimeParserOptions, decltype(&g_mime_parser_options_free)>;

// The GMIME_IS_* and GMIME_* macros expand to C casts; these are the same check and cast in C++.
bool is_a(GMimeObject* object, GType type) {
    return g_type_check_instance_is_a(reinterpret_cast<GTypeInstance*>(object), type) != 0;
}

// GObject's single inheritance: a derived struct begins with its parent.
template <typename T, typename U> T* as(U* object) {
    return reinterpret_cast<T*>(object);
}

// ---------------------------------------------------------------------------------------------------------------
// UTF-8 and charsets. Invalid UTF-8 never reaches the rules: bad sequences become U+FFFD.

constexpr std::string_view k_replacement = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one (overlongs, surrogates, > U+10FFFF).
std::size_t utf8_sequence_length(const unsigned char* p, const unsigned char* end) {
    const unsigned char c = p[0];
    if (c < 0x80) return 1;
    const auto cont = [&](std::ptrdiff_t i) { return p + i < end && (p[i] & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(1) || !cont(2)) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0; // overlong
        if (c == 0xED && p[1] > 0x9F) return 0; // surrogate
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0; // overlong
        if (c == 0xF4 && p[1] > 0x8F) return 0; // > U+10FFFF
        return 4;
    }
    return 0;
}

} // namespace

// Declared in engine/utf8.hpp: the rule loader checks rule files with it too.
std::size_t valid_utf8_prefix(std::string_view s) {
    const auto* begin = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = begin + s.size();
    const auto* p = begin;
    while (p < end) {
        // ASCII runs dominate mail text: skip them 32 bytes at a time (one test for four words), then eight.
        while (end - p >= 32) {
            std::uint64_t words[4];
            std::memcpy(words, p, sizeof words);
            if (((words[0] | words[1] | words[2] | words[3]) & 0x8080808080808080ULL) != 0) break;
            p += 32;
        }
        while (end - p >= 8) {
            std::uint64_t word;
            std::memcpy(&word, p, 8);
            if ((word & 0x8080808080808080ULL) != 0) break;
            p += 8;
        }
        if (p >= end) break;
        const std::size_t n = utf8_sequence_length(p, end);
        if (n == 0) return static_cast<std::size_t>(p - begin);
        p += n;
    }
    return s.size();
}

namespace {

bool is_valid_utf8(std::string_view s) {
    return valid_utf8_prefix(s) == s.size();
}

// The length of s without the UTF-8 sequence a cut left incomplete at its end, so that cutting valid UTF-8
// leaves valid UTF-8.
std::size_t without_cut_utf8_tail(std::string_view s) {
    std::size_t lead = s.size();
    while (lead > 0 && s.size() - lead < 3 && (static_cast<unsigned char>(s[lead - 1]) & 0xC0) == 0x80)
        --lead;
    if (lead == 0) return s.size();
    const auto c = static_cast<unsigned char>(s[lead - 1]);
    const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return s.size() - (lead - 1) < need ? lead - 1 : s.size();
}

// Appends s with each invalid byte replaced by U+FFFD.
void append_sanitized_utf8(std::string& out, std::string_view s) {
    std::size_t pos = 0;
    while (pos < s.size()) {
        const std::size_t valid = valid_utf8_prefix(s.substr(pos));
        out.append(s.substr(pos, valid));
        pos += valid;
        if (pos < s.size()) {
            out.append(k_replacement);
            ++pos;
        }
    }
}

// windows-1252, which is what mail labelled ISO-8859-1 or US-ASCII means when it has 8-bit bytes (WHATWG
// Encoding Standard). The five unassigned bytes map to the C1 controls of the same value.
constexpr std::array<std::uint16_t, 32> k_cp1252_high = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

void append_cp1252(std::string& out, std::string_view s) {
    out.reserve(out.size() + s.size());
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x80) {
            out.push_back(ch);
            continue;
        }
        const unsigned cp = c < 0xA0 ? k_cp1252_high[c - 0x80] : c;
        if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }
}

// Unlabelled 8-bit text: UTF-8 if it is valid UTF-8 (what current mailers send), windows-1252 otherwise.
void append_unlabelled(std::string& out, std::string_view s) {
    if (is_valid_utf8(s)) {
        out.append(s);
    } else {
        append_cp1252(out, s);
    }
}

enum class CharsetKind { Utf8, Unlabelled, Cp1252, Iconv, Unknown };

struct Charset {
    CharsetKind kind = CharsetKind::Unlabelled;
    std::string iconv_name; // for CharsetKind::Iconv
};

// Mail charset labels → how to decode them. Supersets where mailers are known to mislabel: gb2312 text is
// GBK, ks_c_5601 is Windows-949, Shift_JIS is Windows-31J.
Charset classify_charset(std::string_view label) {
    while (!label.empty() && (ascii::is_wsp(label.front()) || label.front() == '"' || label.front() == '\'')) {
        label.remove_prefix(1);
    }
    while (!label.empty() && (ascii::is_wsp(label.back()) || label.back() == '"' || label.back() == '\'')) {
        label.remove_suffix(1);
    }
    if (label.empty()) return {CharsetKind::Unlabelled, {}};
    if (label.size() > k_max_charset_name) return {CharsetKind::Unknown, {}};
    std::string key;
    key.reserve(label.size());
    for (const char c : label) {
        const char l = ascii::lower(c);
        const bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-' || l == '_' ||
                        l == '.' || l == ':' || l == '+' || l == '(' || l == ')';
        if (!ok) return {CharsetKind::Unknown, {}}; // no '/': iconv would read "//" as a conversion flag
        key.push_back(l);
    }
    const auto any = [&](std::initializer_list<std::string_view> names) {
        return std::find(names.begin(), names.end(), key) != names.end();
    };
    if (any({"utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8"})) return {CharsetKind::Utf8, {}};
    if (any({"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "x-unknown", "unknown-8bit", "default"})) {
        return {CharsetKind::Unlabelled, {}};
    }
    if (any({"iso-8859-1", "iso8859-1", "iso_8859-1", "iso-8859-1:1987", "latin1", "l1", "cp819", "ibm819",
             "csisolatin1", "iso-ir-100", "windows-1252", "cp1252", "x-cp1252"})) {
        return {CharsetKind::Cp1252, {}};
    }
    if (any({"gb2312", "gbk", "x-gbk", "euc-cn", "x-euc-cn", "cp936", "gb_2312-80", "csgb2312", "chinese"})) {
        return {CharsetKind::Iconv, "GB18030"};
    }
    if (any({"ks_c_5601-1987", "ks_c_5601", "ksc5601", "euc-kr", "cp949", "x-windows-949", "korean"})) {
        return {CharsetKind::Iconv, "CP949"};
    }
    if (any({"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis", "windows-31j", "cp932",
             "x-ms-cp932"})) {
        return {CharsetKind::Iconv, "CP932"};
    }
    if (any({"big5", "x-x-big5", "cn-big5", "csbig5", "big5-hkscs"}))
        return {CharsetKind::Iconv, "BIG5-HKSCS"};
    if (any({"utf-7", "unicode-1-1-utf-7", "x-utf-7"})) return {CharsetKind::Iconv, "UTF-7"};
    if (any({"windows-874", "x-windows-874", "cp874"})) return {CharsetKind::Iconv, "CP874"};
    if (any({"x-mac-roman", "macintosh", "mac"})) return {CharsetKind::Iconv, "MACINTOSH"};
    if (key.size() > 2 && key.ends_with("-i") && key.starts_with("iso-8859-")) key.resize(key.size() - 2);
    return {CharsetKind::Iconv, std::move(key)};
}

// iconv descriptors per thread: opening one costs a module look-up, and one must never be used by two
// threads at once. When a thread ends they go to the next one (worker_cache.hpp).
class IconvCache {
  public:
    IconvCache() = default;
    IconvCache(const IconvCache&) = delete;
    IconvCache& operator=(const IconvCache&) = delete;
    ~IconvCache() {
        for (Entry& e : m_entries) {
            if (e.cd != k_invalid) iconv_close(e.cd);
        }
    }

    // A descriptor from `name` to UTF-8 in its initial state, or k_invalid if iconv does not know `name`.
    iconv_t get(const std::string& name) {
        for (Entry& e : m_entries) {
            if (e.cd != k_invalid && e.name == name) {
                iconv(e.cd, nullptr, nullptr, nullptr, nullptr);
                return e.cd;
            }
        }
        const iconv_t cd = iconv_open("UTF-8", name.c_str());
        if (cd == k_invalid) return k_invalid;
        Entry& slot = m_entries[m_next];
        m_next = (m_next + 1) % m_entries.size();
        if (slot.cd != k_invalid) iconv_close(slot.cd);
        slot.name = name;
        slot.cd = cd;
        return cd;
    }

    static inline const iconv_t k_invalid = reinterpret_cast<iconv_t>(-1);

  private:
    struct Entry {
        std::string name;
        iconv_t cd = k_invalid;
    };
    std::array<Entry, k_iconv_cache_size> m_entries;
    std::size_t m_next = 0;
};

thread_local WorkerCache<IconvCache> t_iconv;

// Appends `in` converted through `cd`; returns false if some bytes were invalid (each became U+FFFD).
bool append_iconv(std::string& out, iconv_t cd, std::string_view in) {
    bool clean = true;
    const std::size_t start = out.size();
    out.resize(start + in.size() * 2 + 16);
    char* in_ptr = const_cast<char*>(in.data()); // iconv's signature; it does not write the input
    std::size_t in_left = in.size();
    std::size_t used = start;
    const auto room = [&](std::size_t need) {
        if (out.size() - used < need) out.resize(std::max(out.size() * 2, used + need));
    };
    while (true) {
        char* out_ptr = out.data() + used;
        std::size_t out_left = out.size() - used;
        const std::size_t r = in_left > 0
                                  ? iconv(cd, &in_ptr, &in_left, &out_ptr, &out_left)
                                  : iconv(cd, nullptr, nullptr, &out_ptr, &out_left); // stateful flush
        const int error = errno;
        used = static_cast<std::size_t>(out_ptr - out.data());
        if (r != static_cast<std::size_t>(-1)) {
            if (in_left == 0) break;
            continue;
        }
        if (error == E2BIG) {
            room(in_left * 2 + 16);
            continue;
        }
        // EILSEQ (invalid) or EINVAL (incomplete at the end): replace one byte and go on.
        clean = false;
        room(k_replacement.size());
        std::memcpy(out.data() + used, k_replacement.data(), k_replacement.size());
        used += k_replacement.size();
        if (in_left == 0) break;
        ++in_ptr;
        --in_left;
    }
    out.resize(used);
    return clean;
}

// Appends `in`, labelled `label`, as UTF-8. Returns false if the label is unknown or the bytes are invalid in
// it: the caller adds "bad-charset". Unknown labels are decoded as unlabelled text.
bool append_in_charset(std::string& out, std::string_view in, const Charset& charset) {
    switch (charset.kind) {
    case CharsetKind::Utf8: {
        const bool valid = is_valid_utf8(in);
        if (valid) {
            out.append(in);
        } else {
            append_sanitized_utf8(out, in);
        }
        return valid;
    }
    case CharsetKind::Unlabelled:
        append_unlabelled(out, in);
        return true;
    case CharsetKind::Cp1252:
        append_cp1252(out, in);
        return true;
    case CharsetKind::Iconv: {
        const iconv_t cd = t_iconv->get(charset.iconv_name);
        if (cd != IconvCache::k_invalid) return append_iconv(out, cd, in);
        append_unlabelled(out, in);
        return false;
    }
    case CharsetKind::Unknown:
        append_unlabelled(out, in);
        return false;
    }
    return false;
}

// ---------------------------------------------------------------------------------------------------------------
// Transfer encodings. Base64 is decoded here rather than by GMime: GMime stops at the first '=' and drops an
// unpadded tail, which would hide the rest of a part from the rules while some mail clients still show it.
// Quoted-printable is too, for speed (below); uuencode is left to GMime.

constexpr unsigned char k_base64_space = 0xFE;
constexpr unsigned char k_base64_invalid = 0xFF;

constexpr std::array<unsigned char, 256> make_base64_rank() {
    std::array<unsigned char, 256> rank{};
    for (auto& r : rank)
        r = k_base64_invalid;
    constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        rank[static_cast<unsigned char>(alphabet[i])] = static_cast<unsigned char>(i);
    }
    for (const char c : std::string_view(" \t\r\n\f\v"))
        rank[static_cast<unsigned char>(c)] = k_base64_space;
    return rank;
}
constexpr std::array<unsigned char, 256> k_base64_rank = make_base64_rank();

// The bits a byte stands for at each of the four places of a quantum, already where they go in the three
// bytes it decodes to, first byte lowest; or k_base64_bad, above those 24 bits, for a byte outside the
// alphabet. A whole quantum is four look-ups, three ORs and one test.
constexpr std::uint32_t k_base64_bad = 1u << 24;

constexpr std::array<std::uint32_t, 256> make_base64_placed(unsigned place) {
    std::array<std::uint32_t, 256> placed{};
    for (std::size_t c = 0; c < placed.size(); ++c) {
        const std::uint32_t r = k_base64_rank[c];
        if (r >= 64) {
            placed[c] = k_base64_bad;
            continue;
        }
        // The 24 bits r0 r1 r2 r3 (six each) are the bytes r0:r1>>4, r1&15:r2>>2, r2&3:r3.
        switch (place) {
        case 0:
            placed[c] = r << 2;
            break;
        case 1:
            placed[c] = (r >> 4) | ((r & 15) << 12);
            break;
        case 2:
            placed[c] = ((r >> 2) << 8) | ((r & 3) << 22);
            break;
        default:
            placed[c] = r << 16;
            break;
        }
    }
    return placed;
}
constexpr std::array<std::uint32_t, 256> k_base64_at0 = make_base64_placed(0);
constexpr std::array<std::uint32_t, 256> k_base64_at1 = make_base64_placed(1);
constexpr std::array<std::uint32_t, 256> k_base64_at2 = make_base64_placed(2);
constexpr std::array<std::uint32_t, 256> k_base64_at3 = make_base64_placed(3);

// The three bytes of the quantum at p, first byte lowest, or a value >= k_base64_bad.
inline std::uint32_t base64_quantum(const unsigned char* p) {
    return k_base64_at0[p[0]] | k_base64_at1[p[1]] | k_base64_at2[p[2]] | k_base64_at3[p[3]];
}

// Stores the low `count` bytes of `bytes` at w, lowest first. On a little-endian machine that is one store of
// all eight, so up to 8 - count bytes past the last one are written too: callers have that room.
inline void base64_put(unsigned char* w, std::uint64_t bytes, int count) {
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(w, &bytes, sizeof bytes);
    } else {
        for (int k = 0; k < count; ++k)
            w[k] = static_cast<unsigned char>(bytes >> (8 * k));
    }
}

class Base64Decoder {
  public:
    // Decodes n bytes into out, which has room for n * 3 / 4 + 8 bytes; returns the bytes written.
    std::size_t step(const unsigned char* in, std::size_t n, unsigned char* out) {
        unsigned char* o = out;
        for (std::size_t i = 0; i < n; ++i) {
            // Alphabet bytes at a quantum boundary, the bulk of every line: two quanta (six bytes out) at a
            // time, then one, and the line break after them stepped over (white space between quanta changes
            // nothing, as below). The state is tested once before the run, not per quantum: the stores below
            // may alias the members as far as the compiler knows, so a test in the loop would reload them
            // every time.
            if (m_count == 0 && !m_after_padding) {
                std::size_t j = i;
                unsigned char* w = o;
                while (true) {
                    while (n - j >= 8) {
                        const std::uint32_t a = base64_quantum(in + j), b = base64_quantum(in + j + 4);
                        if ((a | b) >= k_base64_bad) break;
                        base64_put(w, a | (std::uint64_t{b} << 24), 6);
                        w += 6;
                        j += 8;
                    }
                    if (n - j < 4) break;
                    const std::uint32_t bits = base64_quantum(in + j);
                    if (bits < k_base64_bad) {
                        base64_put(w, bits, 3);
                        w += 3;
                        j += 4;
                    } else if (in[j] == '\r' && in[j + 1] == '\n') {
                        j += 2;
                    } else if (in[j] == '\n') {
                        ++j;
                    } else {
                        break;
                    }
                }
                o = w;
                i = j;
            }
            if (i == n) break;
            const unsigned char r = k_base64_rank[in[i]];
            if (r < 64) {
                if (m_after_padding) {
                    m_malformed = true; // data after '=': concatenated chunks, decoded all the same
                    m_after_padding = false;
                }
                m_bits = (m_bits << 6) | r;
                if (++m_count == 4) {
                    *o++ = static_cast<unsigned char>(m_bits >> 16);
                    *o++ = static_cast<unsigned char>(m_bits >> 8);
                    *o++ = static_cast<unsigned char>(m_bits);
                    m_count = 0;
                    m_bits = 0;
                }
            } else if (in[i] == '=') {
                o += flush(o);
                m_after_padding = true;
            } else if (r != k_base64_space) {
                m_malformed = true;
            }
        }
        return static_cast<std::size_t>(o - out);
    }

    // Decodes what is left at the end of the input (an unpadded tail); out has room for 3 bytes.
    std::size_t finish(unsigned char* out) {
        if (m_count != 0) m_malformed = true;
        return flush(out);
    }

    bool malformed() const { return m_malformed; }

  private:
    std::size_t flush(unsigned char* out) {
        std::size_t n = 0;
        if (m_count == 1) m_malformed = true;
        if (m_count == 2) {
            out[n++] = static_cast<unsigned char>(m_bits >> 4);
        } else if (m_count == 3) {
            out[n++] = static_cast<unsigned char>(m_bits >> 10);
            out[n++] = static_cast<unsigned char>(m_bits >> 2);
        }
        m_count = 0;
        m_bits = 0;
        return n;
    }

    std::uint32_t m_bits = 0;
    int m_count = 0;
    bool m_after_padding = false;
    bool m_malformed = false;
};

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Quoted-printable (RFC 2045 6.7): "=XX" is a byte, '=' before a line break (and blanks) joins two lines, any
// other
// '=' stays. Runs between '=' are copied whole: GMime's decoder tests every byte with isxdigit() and took a
// quarter of the time of parsing a QP message.
class QpDecoder {
  public:
    // Decodes in[0, n) into out (room for n bytes). Returns how much of the input was used: unless `last`, an
    // escape cut by the end of the chunk is left for the next call, which gets it again at the front.
    std::size_t step(const char* in, std::size_t n, char* out, std::size_t& written, bool last) {
        std::size_t i = 0;
        char* o = out;
        while (i < n) {
            const auto* eq = static_cast<const char*>(std::memchr(in + i, '=', n - i));
            const std::size_t run_end = eq != nullptr ? static_cast<std::size_t>(eq - in) : n;
            std::memcpy(o, in + i, run_end - i);
            o += run_end - i;
            i = run_end;
            if (i == n) break;
            const std::size_t held = escape_length(in + i, n - i, last);
            if (held == 0) break; // incomplete: wait for the next chunk
            if (held == 3 && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
                *o++ = static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            } else if (held == 1) {
                *o++ = '='; // not an escape: a literal '='
            }
            i += held; // soft line break: nothing written
        }
        written = static_cast<std::size_t>(o - out);
        return i;
    }

    // Longest run of blanks between a soft-break '=' and its line break that is waited for across chunks.
    static constexpr std::size_t k_max_soft_break_blanks = 64;

  private:
    // At '=': 3 for "=XX", the length of a soft line break, 1 for a literal '=', 0 if the chunk ends too
    // soon.
    static std::size_t escape_length(const char* p, std::size_t n, bool last) {
        if (n >= 3 && hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0) return 3;
        if (!last && n < 3 && (n == 1 || hex_value(p[1]) >= 0 || p[1] == '\r')) return 0;
        std::size_t j = 1;
        while (j < n && j <= k_max_soft_break_blanks && (p[j] == ' ' || p[j] == '\t'))
            ++j;
        if (j < n && p[j] == '\n') return j + 1;
        if (j < n && p[j] == '\r') {
            if (j + 1 < n) return p[j + 1] == '\n' ? j + 2 : j + 1;
            return last ? j + 1 : 0;
        }
        if (j == n && !last && j <= k_max_soft_break_blanks) return 0;
        return 1;
    }
};

// A part's encoded bytes. They lie in the message itself when the part's stream is a view over it (every
// part parse_with_gmime builds); any other stream is read out into `copy`.
std::string_view content_bytes(GMimeStream* stream, std::string& copy) {
    if (const auto bytes = view_stream_bytes(stream)) return *bytes;
    g_mime_stream_reset(stream);
    std::array<char, k_decode_chunk> chunk;
    gssize n;
    while ((n = g_mime_stream_read(stream, chunk.data(), chunk.size())) > 0)
        copy.append(chunk.data(), static_cast<std::size_t>(n));
    return copy;
}

// Decodes a part's content transfer encoding, handing the decoded bytes to `sink` (in one piece when there is
// no encoding, else k_decode_chunk of input at a time), which returns false to stop (the rest is not read).
// Returns false if the encoding was broken (bad base64).
template <typename Sink> bool decode_content(GMimeDataWrapper* wrapper, Sink&& sink) {
    GMimeStream* stream = g_mime_data_wrapper_get_stream(wrapper);
    if (stream == nullptr) return true;
    std::string copy;
    const std::string_view in = content_bytes(stream, copy);
    const GMimeContentEncoding encoding = g_mime_data_wrapper_get_encoding(wrapper);
    if (encoding != GMIME_CONTENT_ENCODING_BASE64 && encoding != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
        encoding != GMIME_CONTENT_ENCODING_UUENCODE) {
        sink(in); // 7bit, 8bit, binary: the bytes as they are, in place
        return true;
    }
    // Decoding never grows the data but for a few bytes held from one chunk to the next (and base64's
    // room to store eight bytes at a time).
    std::array<char, k_decode_chunk + 64> out;
    Base64Decoder base64;
    QpDecoder qp;
    GMimeEncoding uu;
    g_mime_encoding_init_decode(&uu, encoding);
    std::size_t pos = 0;
    bool more = true;
    while (more && pos < in.size()) {
        const std::size_t len = std::min(k_decode_chunk, in.size() - pos);
        const char* chunk = in.data() + pos;
        switch (encoding) {
        case GMIME_CONTENT_ENCODING_BASE64:
            more = sink(std::string_view(out.data(), base64.step(reinterpret_cast<const unsigned char*>(chunk),
                                                                 len, reinterpret_cast<unsigned char*>(out.data()))));
            pos += len;
            break;
        case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE: {
            // An escape cut by the end of the chunk is left for the next one, which starts at it.
            std::size_t written = 0;
            const bool last = pos + len == in.size();
            const std::size_t used = qp.step(chunk, len, out.data(), written, last);
            more = sink(std::string_view(out.data(), written));
            pos += used == 0 && !last ? len : used; // an unfinished escape longer than a chunk is text
            if (last) pos = in.size();
            break;
        }
        default: // uuencode
            more = sink(std::string_view(out.data(), g_mime_encoding_step(&uu, chunk, len, out.data())));
            pos += len;
            break;
        }
    }
    if (!more) return !base64.malformed(); // stopped by the sink: the tail is not wanted
    if (encoding == GMIME_CONTENT_ENCODING_BASE64) {
        sink(std::string_view(out.data(), base64.finish(reinterpret_cast<unsigned char*>(out.data()))));
    } else if (encoding == GMIME_CONTENT_ENCODING_UUENCODE) {
        sink(std::string_view(out.data(), g_mime_encoding_flush(&uu, nullptr, 0, out.data())));
    }
    return !base64.malformed();
}

// ---------------------------------------------------------------------------------------------------------------
// RFC 2047 encoded words, decoded here rather than by g_mime_utils_header_decode_text: GMime's tokenizer
// rescans to the end of the header for every unterminated "=?" (quadratic), copies each charset name onto the
// stack, and adds every charset name it meets to a process-wide table that never shrinks.

struct EncodedWord {
    std::string_view charset;
    char encoding = 'Q';
    std::string_view payload;
    std::size_t end = 0; // offset just past "?="
};

// Parses "=?charset[*lang]?B|Q?payload?=" at `start`. `unclosed_from` remembers where a payload search last
// ran into whitespace or the end without a "?=", so that no later attempt scans that stretch again.
bool parse_encoded_word(std::string_view in, std::size_t start, std::size_t& unclosed_from,
                        EncodedWord& word) {
    std::size_t p = start + 2;
    const std::size_t charset_begin = p;
    while (p < in.size() && in[p] != '?' && !ascii::is_wsp(in[p]) && p - charset_begin <= k_max_charset_name)
        ++p;
    if (p >= in.size() || in[p] != '?' || p == charset_begin) return false;
    std::string_view charset = in.substr(charset_begin, p - charset_begin);
    if (const auto star = charset.find('*'); star != std::string_view::npos)
        charset = charset.substr(0, star);
    if (charset.empty()) return false;
    if (p + 2 >= in.size() || in[p + 2] != '?') return false;
    const char encoding = static_cast<char>(ascii::lower(in[p + 1]));
    if (encoding != 'b' && encoding != 'q') return false;
    const std::size_t payload_begin = p + 3;
    if (payload_begin < unclosed_from) return false;
    std::size_t q = payload_begin;
    while (q < in.size() && !ascii::is_wsp(in[q]) && !(in[q] == '?' && q + 1 < in.size() && in[q + 1] == '='))
        ++q;
    if (q >= in.size() || ascii::is_wsp(in[q])) {
        unclosed_from = q;
        return false;
    }
    word.charset = charset;
    word.encoding = encoding;
    word.payload = in.substr(payload_begin, q - payload_begin);
    word.end = q + 2;
    return true;
}

void decode_word_payload(const EncodedWord& word, std::string& bytes) {
    if (word.encoding == 'b') {
        Base64Decoder decoder;
        const std::size_t start = bytes.size();
        bytes.resize(start + word.payload.size() * 3 / 4 + 11); // step's room and finish's
        auto* out = reinterpret_cast<unsigned char*>(bytes.data() + start);
        std::size_t n = decoder.step(reinterpret_cast<const unsigned char*>(word.payload.data()),
                                     word.payload.size(), out);
        n += decoder.finish(out + n);
        bytes.resize(start + n);
        return;
    }
    const std::string_view s = word.payload;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '_') {
            bytes.push_back(' ');
        } else if (s[i] == '=' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            bytes.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
            i += 2;
        } else {
            bytes.push_back(s[i]);
        }
    }
}

// Decodes an unfolded header value to UTF-8. Whitespace between adjacent encoded words goes (RFC 2047 6.2),
// and adjacent words in one charset are converted together, since mailers split multi-byte characters across
// words. Returns false if a charset was unknown or bytes were invalid in it.
bool decode_header_value(std::string_view in, std::string& out) {
    bool clean = true;
    std::string pending; // bytes of the current run of encoded words
    std::string_view pending_charset;
    const auto flush = [&] {
        if (pending_charset.empty()) return;
        clean = append_in_charset(out, pending, classify_charset(pending_charset)) && clean;
        pending.clear();
        pending_charset = {};
    };
    std::size_t plain_begin = 0;
    std::size_t pos = 0;
    std::size_t unclosed_from = 0;
    bool after_word = false;
    while (true) {
        const std::size_t start = in.find("=?", pos);
        if (start == std::string_view::npos) break;
        EncodedWord word;
        if (!parse_encoded_word(in, start, unclosed_from, word)) {
            pos = start + 2;
            continue;
        }
        const std::string_view between = in.substr(plain_begin, start - plain_begin);
        const bool only_space = std::all_of(between.begin(), between.end(), ascii::is_wsp);
        if (!(after_word && only_space)) {
            flush();
            append_unlabelled(out, between);
        }
        if (word.charset != pending_charset) flush();
        pending_charset = word.charset;
        decode_word_payload(word, pending);
        after_word = true;
        plain_begin = pos = word.end;
    }
    flush();
    append_unlabelled(out, in.substr(plain_begin));
    return clean;
}

// RFC 5322 unfolding (line breaks go, the whitespace after them stays), trimmed, into `out`. Runs between
// line breaks are copied whole: most values have none.
void unfold(std::string_view raw, std::string& out) {
    const auto first = raw.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        out.clear();
        return;
    }
    raw = raw.substr(first, raw.find_last_not_of(" \t\r\n") + 1 - first);
    out.clear();
    out.reserve(raw.size());
    std::size_t pos = 0;
    while (pos < raw.size()) {
        const std::size_t brk = raw.find_first_of("\r\n", pos);
        const std::size_t run_end = brk == std::string_view::npos ? raw.size() : brk;
        out.append(raw.substr(pos, run_end - pos));
        pos = run_end + 1;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Links in plain text: http, https and mailto URLs, ended by whitespace, quotes or angle brackets, with
// trailing punctuation that closes the sentence left out. Each is handed to `add` (ParseState::add_links).

bool url_byte(unsigned char c) {
    return c > 0x20 && c != 0x7F && c != '<' && c != '>' && c != '"' && c != '`' && c != '{' && c != '}' &&
           c != '|' && c != '\\' && c != '^';
}

template <typename Add> void find_urls(std::string_view text, Add&& add) {
    struct Scheme {
        std::string_view name;
        bool slashes;
    };
    static constexpr std::array<Scheme, 3> k_schemes = {{{"https", true}, {"http", true}, {"mailto", false}}};
    std::size_t from = 0;
    while (from < text.size()) {
        const auto* colon =
            static_cast<const char*>(std::memchr(text.data() + from, ':', text.size() - from));
        if (colon == nullptr) break;
        const auto c = static_cast<std::size_t>(colon - text.data());
        from = c + 1;
        const Scheme* scheme = nullptr;
        for (const Scheme& s : k_schemes) {
            if (c < s.name.size()) continue;
            bool match = true;
            for (std::size_t i = 0; i < s.name.size() && match; ++i) {
                match = ascii::lower(text[c - s.name.size() + i]) == s.name[i];
            }
            if (match) {
                scheme = &s;
                break;
            }
        }
        if (scheme == nullptr) continue;
        std::size_t body = c + 1;
        if (scheme->slashes) {
            if (text.compare(body, 2, "//") != 0) continue;
            body += 2;
        }
        std::size_t end = body;
        while (end < text.size()) {
            const auto b = static_cast<unsigned char>(text[end]);
            // U+00A0 and U+3000 end a URL as a space does.
            if (b == 0xC2 && end + 1 < text.size() && static_cast<unsigned char>(text[end + 1]) == 0xA0)
                break;
            if (b == 0xE3 && text.compare(end, 3, "\xE3\x80\x80") == 0) break;
            if (!url_byte(b)) break;
            ++end;
        }
        // Trailing punctuation ends the sentence, not the URL; a ')' stays if it closes a '(' of the URL.
        while (end > body) {
            const char last = text[end - 1];
            if (std::string_view(".,;:!?'*").find(last) != std::string_view::npos) {
                --end;
                continue;
            }
            if (last == ')' || last == ']') {
                const char open = last == ')' ? '(' : '[';
                const std::string_view url = text.substr(body, end - body);
                if (std::count(url.begin(), url.end(), open) < std::count(url.begin(), url.end(), last)) {
                    --end;
                    continue;
                }
            }
            break;
        }
        if (end == body) continue;
        const std::size_t begin = c - scheme->name.size();
        const std::string_view url = text.substr(begin, end - begin);
        add(url);
        from = end;
    }
}

// CRLF and lone CR → LF, in place. The runs between CRs move with memmove: mail from the milter is all
// CRLF, and a byte loop over it cost a tenth of parsing.
void normalize_newlines(std::string& s) {
    const auto first = s.find('\r');
    if (first == std::string::npos) return;
    char* const data = s.data();
    const std::size_t n = s.size();
    std::size_t w = first;
    std::size_t r = first;
    while (r < n) {
        // data[r] is a CR
        data[w++] = '\n';
        r += (r + 1 < n && data[r + 1] == '\n') ? 2 : 1;
        const auto* cr = static_cast<const char*>(std::memchr(data + r, '\r', n - r));
        const std::size_t run_end = cr != nullptr ? static_cast<std::size_t>(cr - data) : n;
        std::memmove(data + w, data + r, run_end - r);
        w += run_end - r;
        r = run_end;
    }
    s.resize(w);
}

std::string_view sniff_meta_charset(std::string_view html) {
    const std::string_view head = html.substr(0, k_meta_charset_window);
    static constexpr std::string_view k_key = "charset=";
    for (std::size_t i = 0; i + k_key.size() <= head.size(); ++i) {
        bool match = true;
        for (std::size_t j = 0; j < k_key.size() && match; ++j)
            match = ascii::lower(head[i + j]) == k_key[j];
        if (!match) continue;
        std::size_t b = i + k_key.size();
        while (b < head.size() && (head[b] == '"' || head[b] == '\'' || ascii::is_wsp(head[b])))
            ++b;
        std::size_t e = b;
        while (e < head.size() && head[e] != '"' && head[e] != '\'' && head[e] != ';' && head[e] != '>' &&
               head[e] != '/' && !ascii::is_wsp(head[e])) {
            ++e;
        }
        return head.substr(b, e - b);
    }
    return {};
}

bool is_blank(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return ascii::is_wsp(c) || c == '\r' || c == '\n'; });
}

// ---------------------------------------------------------------------------------------------------------------
// The walk over a parsed GMime message.

// Buffers a parse needs only while it runs, kept by the thread from one message to the next (and handed to
// the next thread when it ends, worker_cache.hpp) so that a steady stream of mail reuses them instead of
// allocating them anew. A buffer grown past k_keep_scratch by one big
// message is given back, so that message does not pin its size in every thread.
constexpr std::size_t k_keep_scratch = 1u << 20;

struct ParseScratch {
    std::string html_bytes;   // an HTML part, transfer-decoded
    std::string converted;    // a part's bytes converted to UTF-8 when they were not already
    std::string content_type; // the type of the leaf part being read
    HtmlWorkspace html;       // html_text's stack and href buffer
    // GMime's parser, set to each message's stream (g_mime_parser_init_with_stream resets all of its state)
    // rather than made and freed per message: a GObject and its buffers, 1% of a parse. Between messages it
    // holds a reference to the last one's stream, whose bytes may be gone: it never reads it again.
    GObjectPtr<GMimeParser> parser;

    GMimeParser* parser_for(GMimeStream* stream) {
        if (parser) {
            g_mime_parser_init_with_stream(parser.get(), stream);
        } else {
            parser.reset(g_mime_parser_new_with_stream(stream));
        }
        g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
        return parser.get();
    }

    void release_if_large() {
        if (html_bytes.capacity() > k_keep_scratch) std::string().swap(html_bytes);
        if (converted.capacity() > k_keep_scratch) std::string().swap(converted);
        html.release_if_large(k_keep_scratch);
    }
};

thread_local WorkerCache<ParseScratch> t_scratch;

// The elements of the messages this thread parsed before, emptied but keeping the capacity of their strings
// and vectors, for the next parse_message into a reused ParsedMessage: its headers, parts, links and
// attachments are taken from here rather than allocated. Up to k_keep_scratch bytes of capacity in all (each
// element counts its own size and its buffers'; the spares' own arrays come to at most as much again); past
// that, or for the vectors of a message with more elements than that holds, the rest is freed, so one big
// message does not stay with the thread.
class Spares {
  public:
    // Empties `message` into the spares. Every field of ParsedMessage is reset here: an element kept holds
    // nothing of the message it came from. Each kind is kept last to first, so that the next message takes
    // them in their old order: its n-th header gets the buffers of the last one's n-th, most often grown to
    // the size of a header of the same name.
    void recycle(ParsedMessage& message) {
        for (auto h = message.headers.rbegin(); h != message.headers.rend(); ++h)
            keep(m_headers, *h);
        for (auto p = message.parts.rbegin(); p != message.parts.rend(); ++p) {
            for (auto l = p->links.rbegin(); l != p->links.rend(); ++l)
                keep(m_links, *l);
            keep(m_parts, *p);
        }
        for (auto a = message.attachments.rbegin(); a != message.attachments.rend(); ++a)
            keep(m_attachments, *a);
        empty_vector(message.headers);
        empty_vector(message.parts);
        empty_vector(message.attachments);
        message.facts.clear();
        message.raw_size = 0;
        message.body_read = true;
    }

    Header header() { return take(m_headers); }
    TextPart part() { return take(m_parts); }
    Link link() { return take(m_links); }
    Attachment attachment() { return take(m_attachments); }

  private:
    static void clear(Header& h) {
        h.name.clear();
        h.raw_value.clear();
        h.value.clear();
    }
    static void clear(TextPart& p) {
        p.content_type.clear();
        p.text.clear();
        p.links.clear();
    }
    static void clear(Link& l) {
        l.href.clear();
        l.text.clear();
    }
    static void clear(Attachment& a) {
        a.filename.clear();
        a.content_type.clear();
        a.size = 0;
    }

    static std::size_t held(const Header& h) {
        return sizeof(Header) + h.name.capacity() + h.raw_value.capacity() + h.value.capacity();
    }
    static std::size_t held(const TextPart& p) {
        return sizeof(TextPart) + p.content_type.capacity() + p.text.capacity() +
               p.links.capacity() * sizeof(Link);
    }
    static std::size_t held(const Link& l) { return sizeof(Link) + l.href.capacity() + l.text.capacity(); }
    static std::size_t held(const Attachment& a) {
        return sizeof(Attachment) + a.filename.capacity() + a.content_type.capacity();
    }

    // What is not kept is freed with the message's vector. Never throws: parse_message must not.
    template <typename T> void keep(std::vector<T>& spares, T& item) noexcept {
        clear(item);
        const std::size_t bytes = held(item);
        if (m_bytes + bytes > k_keep_scratch) return;
        try {
            spares.push_back(std::move(item)); // on failure the item is left as it was
        } catch (const std::bad_alloc&) {
            return;
        }
        m_bytes += bytes;
    }

    template <typename T> T take(std::vector<T>& spares) {
        if (spares.empty()) return T{};
        T item = std::move(spares.back());
        spares.pop_back();
        m_bytes -= held(item);
        return item;
    }

    // Clears a message's vector, keeping its capacity unless that is past k_keep_scratch.
    template <typename T> static void empty_vector(std::vector<T>& v) {
        if (v.capacity() * sizeof(T) > k_keep_scratch) {
            std::vector<T>().swap(v);
        } else {
            v.clear();
        }
    }

    std::vector<Header> m_headers;
    std::vector<TextPart> m_parts;
    std::vector<Link> m_links;
    std::vector<Attachment> m_attachments;
    std::size_t m_bytes = 0; // held() of everything above
};

thread_local WorkerCache<Spares> t_spares;

using Clock = std::chrono::steady_clock;

// What one parse has kept, against its Limits.
struct ParseState {
    ParseState(ParsedMessage& m, const Limits& l, StageSplit* s, Spares& sp)
        : message(m), limits(l), split(s), spares(sp),
          deadline(Clock::now() + std::chrono::milliseconds(l.time_budget_ms)) {}

    ParsedMessage& message;
    const Limits& limits;
    StageSplit* split;                // for `presend bench`; null in the daemon
    Spares& spares;                   // the calling thread's, also when the parse runs on a thread of its own
    const Clock::time_point deadline; // time_budget_ms after the parse began
    bool truncated = false;           // GMime hit the end of input inside headers or a multipart
    bool headers_only = false;        // parse_headers_only(): the body was never read
    std::size_t text_bytes = 0;       // decoded text and HTML kept, against max_decoded_bytes
    std::size_t links = 0;            // against max_urls

    // A limit was passed: its fact, and the fact all limits share.
    void pass_limit(std::string_view fact) {
        message.facts.emplace(fact);
        message.facts.emplace(k_limit_exceeded_fact);
    }

    // Checked between parts: a clock read costs tens of nanoseconds, a part far more.
    bool out_of_time() {
        if (Clock::now() <= deadline) return false;
        pass_limit("time-budget-exceeded");
        return true;
    }

    std::size_t text_room() const {
        return limits.max_decoded_bytes - std::min(text_bytes, limits.max_decoded_bytes);
    }

    // The URLs of plain text, appended to `found`.
    void add_links(std::string_view text, std::vector<Link>& found) {
        find_urls(text, [&](std::string_view url) {
            Link link = spares.link();
            link.href.assign(url);
            link.text.assign(url);
            found.push_back(std::move(link));
        });
    }

    // Keeps the links max_urls leaves room for; the first ones in MIME order.
    void keep_links(std::vector<Link>& found) {
        const std::size_t room = limits.max_urls - std::min(links, limits.max_urls);
        if (found.size() > room) {
            found.resize(room);
            pass_limit("too-many-urls");
        }
        links += found.size();
    }
};

// The spares' links, for html_text.
class SpareLinks final : public LinkPool {
  public:
    explicit SpareLinks(Spares& spares) : m_spares(spares) {}
    Link take() override { return m_spares.link(); }

  private:
    Spares& m_spares;
};

// Text that is not MIME (a multipart without its boundary, input GMime cannot read at all) as one text part:
// a mail client may still show it, so the rules must see it.
void add_raw_text(ParseState& state, std::string_view raw) {
    if (raw.size() > state.text_room()) {
        state.pass_limit("decoded-too-large");
        raw = raw.substr(0, without_cut_utf8_tail(raw.substr(0, state.text_room())));
    }
    if (raw.empty()) return;
    state.text_bytes += raw.size();
    TextPart part = state.spares.part();
    part.content_type = "text/plain";
    append_unlabelled(part.text, raw);
    normalize_newlines(part.text);
    state.add_links(part.text, part.links);
    state.keep_links(part.links);
    state.message.parts.push_back(std::move(part));
}

// GMime's findings that mean the structure is broken or ambiguous: other mail software may see other parts.
// Repeated headers, 8-bit headers, bad encoded words and bad addresses are left to the rules (header_count,
// the values).
void on_parser_warning(gint64 /*offset*/, GMimeParserWarning code, const gchar* /*item*/, gpointer data) {
    auto* state = static_cast<ParseState*>(data);
    switch (code) {
    case GMIME_WARN_TRUNCATED_MESSAGE:
        state->truncated = true;
        break;
    case GMIME_WARN_INVALID_CONTENT_TYPE:
    case GMIME_WARN_MALFORMED_MULTIPART:
    case GMIME_WARN_MALFORMED_MESSAGE:
    case GMIME_CRIT_INVALID_HEADER_NAME:
    case GMIME_CRIT_CONFLICTING_PARAMETER:
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
    case GMIME_CRIT_NESTING_OVERFLOW:
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        state->message.facts.insert("malformed-mime");
        break;
    case GMIME_WARN_DUPLICATED_HEADER:
    case GMIME_WARN_DUPLICATED_PARAMETER:
    case GMIME_WARN_UNENCODED_8BIT_HEADER:
    case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
    case GMIME_WARN_INVALID_PARAMETER:
    case GMIME_WARN_INVALID_ADDRESS_LIST:
    case GMIME_CRIT_CONFLICTING_HEADER:
    case GMIME_WARN_PART_WITHOUT_CONTENT:
        break;
    }
}

class MessageWalker {
  public:
    explicit MessageWalker(ParseState& state) : m_state(state), m_message(state.message) {}

    // The message's headers, in message order: the top level is parsed as a part (see parse_with_gmime),
    // whose one header list holds them all as the parser read them.
    void collect_headers(GMimeObject* top) {
        GMimeHeaderList* list = g_mime_object_get_header_list(top);
        std::size_t n =
            list != nullptr ? static_cast<std::size_t>(std::max(0, g_mime_header_list_get_count(list))) : 0;
        if (n > m_state.limits.max_headers) {
            n = m_state.limits.max_headers; // the first ones, in message order, are judged
            m_state.pass_limit("too-many-headers");
        }
        m_message.headers.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            GMimeHeader* h = g_mime_header_list_get_header_at(list, static_cast<int>(i));
            const char* name = g_mime_header_get_name(h);
            const char* raw = g_mime_header_get_raw_value(h);
            Header header = m_state.spares.header();
            append_sanitized_utf8(header.name, name != nullptr ? name : "");
            unfold(raw != nullptr ? raw : "", header.raw_value);
            cut_long_header(header);
            if (!decode_header_value(header.raw_value, header.value)) m_message.facts.insert("bad-charset");
            if (!is_valid_utf8(header.raw_value)) {
                std::string clean;
                append_sanitized_utf8(clean, header.raw_value);
                header.raw_value = std::move(clean);
            }
            m_message.headers.push_back(std::move(header));
        }
    }

    void walk(GMimeObject* object, std::size_t depth) {
        if (m_stopped || object == nullptr) return;
        if (m_state.out_of_time() || ++m_parts > m_state.limits.max_mime_parts) {
            if (m_parts > m_state.limits.max_mime_parts) m_state.pass_limit("too-many-parts");
            m_stopped = true;
            return;
        }
        if (is_a(object, g_mime_multipart_get_type())) {
            walk_multipart(as<GMimeMultipart>(object), depth);
        } else if (is_a(object, g_mime_message_part_get_type())) {
            add_message_attachment(object);
        } else if (is_a(object, g_mime_part_get_type())) {
            walk_leaf(as<GMimePart>(object));
        }
    }

  private:
    // Past max_header_line (name, colon and unfolded value) the value is cut: decoding and scanning a
    // header are linear, but nothing is gained from more of one than any mailer writes.
    void cut_long_header(Header& header) {
        const std::size_t max = m_state.limits.max_header_line;
        if (header.name.size() + 1 + header.raw_value.size() <= max) return;
        m_state.pass_limit("header-too-long");
        if (header.name.size() >= max) {
            header.name.resize(without_cut_utf8_tail(std::string_view(header.name).substr(0, max - 1)));
            header.raw_value.clear();
            return;
        }
        const std::size_t room = max - header.name.size() - 1;
        header.raw_value.resize(without_cut_utf8_tail(std::string_view(header.raw_value).substr(0, room)));
    }

    void walk_multipart(GMimeMultipart* multipart, std::size_t depth) {
        if (depth > m_state.limits.max_mime_depth) {
            m_state.pass_limit("mime-too-deep");
            return;
        }
        const int n = g_mime_multipart_get_count(multipart);
        if (n <= 0) {
            // No boundary, or one never found: GMime keeps the whole body as the prologue. A mail client may
            // well show it, so the rules see it as text. A body that was never read has no parts to find.
            if (!m_state.headers_only) m_message.facts.insert("malformed-mime");
            const char* prologue = g_mime_multipart_get_prologue(multipart);
            if (prologue != nullptr && !is_blank(prologue)) add_raw_text(m_state, prologue);
            return;
        }
        for (int i = 0; i < n && !m_stopped; ++i)
            walk(g_mime_multipart_get_part(multipart, i), depth + 1);
    }

    void walk_leaf(GMimePart* part) {
        auto* object = as<GMimeObject>(part);
        std::string& type = t_scratch->content_type;
        content_type_of(object, type);
        const char* disposition = g_mime_object_get_disposition(object);
        const bool attachment = disposition != nullptr && iequals(disposition, "attachment");
        const char* filename = g_mime_part_get_filename(part);
        const bool has_filename = filename != nullptr && filename[0] != '\0';
        if ((type == "text/plain" || type == "text/html") && !attachment && !has_filename) {
            add_text_part(part, type);
            return;
        }
        Attachment a = m_state.spares.attachment();
        decode_filename(filename, a.filename);
        a.content_type = type;
        if (GMimeDataWrapper* content = g_mime_part_get_content(part)) {
            std::size_t size = 0;
            if (!decode_content(content, [&](std::string_view chunk) {
                    size += chunk.size();
                    return true;
                })) {
                m_message.facts.insert("malformed-mime");
            }
            a.size = size;
        }
        m_message.attachments.push_back(std::move(a));
    }

    // A forwarded message is an attachment, not descended into: its text is someone else's, and its parts
    // would follow this message's own text, which must stay last (it carries the footer).
    void add_message_attachment(GMimeObject* object) {
        Attachment a = m_state.spares.attachment();
        const char* filename = g_mime_object_get_content_disposition_parameter(object, "filename");
        if (filename == nullptr) filename = g_mime_object_get_content_type_parameter(object, "name");
        decode_filename(filename, a.filename);
        content_type_of(object, a.content_type);
        if (GMimeMessage* inner = g_mime_message_part_get_message(as<GMimeMessagePart>(object))) {
            GObjectPtr<GMimeStream> null_stream(g_mime_stream_null_new());
            const gssize written =
                g_mime_object_write_to_stream(as<GMimeObject>(inner), nullptr, null_stream.get());
            a.size = written > 0 ? static_cast<std::size_t>(written) : 0;
        }
        m_message.attachments.push_back(std::move(a));
    }

    void add_text_part(GMimePart* part, const std::string& type) {
        auto* object = as<GMimeObject>(part);
        const bool html = type == "text/html";
        // HTML is only read on the way to its text, so it is decoded into this thread's buffers; plain text
        // becomes the part's text and is decoded into that string (a spare one when the message is reused).
        TextPart text_part = m_state.spares.part();
        std::string& bytes = html ? t_scratch->html_bytes : text_part.text;
        bytes.clear();
        // Past max_decoded_bytes over all parts, the rest of this part and the text parts after it are not
        // decoded.
        const std::size_t room = m_state.text_room();
        bool cut = false;
        if (GMimeDataWrapper* content = g_mime_part_get_content(part)) {
            if (GMimeStream* stream = g_mime_data_wrapper_get_stream(content)) {
                const gint64 length = g_mime_stream_length(stream);
                if (length > 0) bytes.reserve(std::min(static_cast<std::size_t>(length), room));
            }
            if (!decode_content(content, [&](std::string_view chunk) {
                    if (chunk.size() <= room - bytes.size()) {
                        bytes.append(chunk);
                        return true;
                    }
                    bytes.append(chunk.substr(0, room - bytes.size()));
                    cut = true;
                    return false;
                })) {
                m_message.facts.insert("malformed-mime");
            }
        }
        if (cut) {
            m_state.pass_limit("decoded-too-large");
            bytes.resize(without_cut_utf8_tail(bytes));
            if (bytes.empty()) return;
        }
        m_state.text_bytes += bytes.size();
        const char* label = g_mime_object_get_content_type_parameter(object, "charset");
        std::string_view charset_label = label != nullptr ? std::string_view(label) : std::string_view();
        if (charset_label.empty() && html) charset_label = sniff_meta_charset(bytes);
        const Charset charset = classify_charset(charset_label);

        text_part.content_type = type;
        std::string* text = &bytes; // the common case, valid UTF-8: no copy
        if (!((charset.kind == CharsetKind::Utf8 || charset.kind == CharsetKind::Unlabelled) &&
              is_valid_utf8(bytes))) {
            std::string& converted = t_scratch->converted;
            converted.clear();
            if (!append_in_charset(converted, bytes, charset)) m_message.facts.insert("bad-charset");
            if (html) {
                text = &converted;
            } else {
                bytes.swap(converted); // the part's text; its old buffer becomes the scratch one
            }
        }
        normalize_newlines(*text);
        if (html) {
            // Into the part's own text and links (a spare part's, with their capacity) and links from the
            // spares.
            const auto html_start = m_state.split != nullptr ? CpuClock::now() : CpuClock::time_point{};
            SpareLinks pool(m_state.spares);
            const bool simplified =
                append_html_text(*text, text_part.text, text_part.links, t_scratch->html, &pool);
            if (m_state.split != nullptr) m_state.split->html += CpuClock::now() - html_start;
            if (simplified) m_message.facts.insert("html-too-complex");
        } else {
            m_state.add_links(text_part.text, text_part.links);
        }
        m_state.keep_links(text_part.links);
        m_message.parts.push_back(std::move(text_part));
    }

    // "type/subtype" in lower case, into `s` (emptied first).
    static void content_type_of(GMimeObject* object, std::string& s) {
        GMimeContentType* ct = g_mime_object_get_content_type(object);
        const char* type = ct != nullptr ? g_mime_content_type_get_media_type(ct) : nullptr;
        const char* subtype = ct != nullptr ? g_mime_content_type_get_media_subtype(ct) : nullptr;
        s.clear();
        append_sanitized_utf8(s, type != nullptr ? type : "application");
        s.push_back('/');
        append_sanitized_utf8(s, subtype != nullptr ? subtype : "octet-stream");
        std::transform(s.begin(), s.end(), s.begin(), ascii::lower);
    }

    // GMime decodes RFC 2231 and (loosely) RFC 2047 parameters, but returns the raw bytes when a charset
    // fails. Appends to `out`.
    void decode_filename(const char* filename, std::string& out) {
        if (filename == nullptr) return;
        if (!decode_header_value(filename, out)) m_message.facts.insert("bad-charset");
    }

    ParseState& m_state;
    ParsedMessage& m_message;
    std::size_t m_parts = 0;
    bool m_stopped = false;
};

bool has_body_separator(std::string_view raw) {
    return raw.find("\n\n") != std::string_view::npos || raw.find("\n\r\n") != std::string_view::npos;
}

// Thread safety, relied on here (GMime 3.2.13 sources and its FAQ, "How do I use GMime with threads?": "all
// functions in gmime-charset, gmime-iconv and gmime-utils should be thread-safe. Objects subclassing GObject
// are not"):
// - g_mime_init() is not thread-safe (a plain counter); std::call_once runs it once, and nothing else here
//   initialises or shuts GMime down.
// - The stream, parser, parser options and message are created per call and never shared. The options are our
//   own (g_mime_parser_options_new) because the warning callback and its user data live in them; the default
//   options object is process-wide and must never be modified.
// - While parsing, GMime reads the MIME type registry (a GHashTable filled by g_mime_init, read-only
// afterwards)
//   and canonicalises charset names of RFC 2231 parameters through g_mime_charset_iconv_name, whose table is
//   guarded by a mutex in gmime-charset.c. That table keeps every distinct charset name it is shown: memory
//   that grows with the number of distinct junk names in parameters, bounded by what senders send.
// - Everything else (transfer decoding via g_mime_encoding_step, RFC 2047, charsets via iconv with a
// descriptor
//   per thread) is done on data owned by this call.
void parse_with_gmime(std::string_view raw, ParseState& state) {
    static std::once_flag s_init;
    std::call_once(s_init, [] { g_mime_init(); });

    ParsedMessage& message = state.message;
    // An mbox "From " line is no header; a file saved from a mailbox may start with one.
    std::string_view input = raw;
    if (input.starts_with("From ")) {
        const auto eol = input.find('\n');
        input = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);
    }

    ParserOptionsPtr options(g_mime_parser_options_new(), &g_mime_parser_options_free);
    g_mime_parser_options_set_warning_callback(options.get(), on_parser_warning, &state);
    // A view over the caller's bytes: GMime reads them in place, its parts' contents are substreams of the
    // view, and their bytes are decoded where they lie (content_bytes).
    GObjectPtr<GMimeStream> stream(view_stream_new(input));
    GMimeParser* parser = t_scratch->parser_for(stream.get());
    // The top level as a part, not a GMimeMessage: the same headers, in one list, and the same MIME tree,
    // without what a GMimeMessage builds from its headers as they are added (the address lists of From, To,
    // Cc..., the date, the decoded subject), none of which is read here: 5% of a parse.
    // Declared after `options`: the part's header lists point at them, so it must be freed first.
    GObjectPtr<GMimeObject> parsed(g_mime_parser_construct_part(parser, options.get()));
    if (!parsed) {
        message.facts.insert("malformed-mime");
        add_raw_text(state, input);
        return;
    }
    MessageWalker walker(state);
    walker.collect_headers(parsed.get());
    walker.walk(parsed.get(), 1);
    // A message of headers alone is complete (RFC 5322 makes the body optional); running out inside a
    // multipart is not, unless the body was never read.
    if (state.truncated && !state.headers_only && has_body_separator(input))
        message.facts.insert("malformed-mime");
    t_scratch->release_if_large();
}

void parse_guarded(std::string_view raw, ParseState& state) {
    try {
        parse_with_gmime(raw, state);
    } catch (const std::exception&) {
        // Out of memory, in practice: what was parsed so far stands, and the rules learn the rest is missing.
        state.message.facts.insert("parse-error");
    }
}

struct BigStackJob {
    std::string_view raw;
    ParseState* state;
};

extern "C" void* big_stack_entry(void* arg) {
    auto* job = static_cast<BigStackJob*>(arg);
    parse_guarded(job->raw, *job->state);
    return nullptr;
}

// Parses on a new thread whose stack holds k_stack_copies of the whole message (see k_big_message_bytes);
// false if no such thread could be made.
bool parse_on_big_stack(std::string_view raw, ParseState& state) {
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return false;
    BigStackJob job{raw, &state};
    pthread_t thread;
    const bool started =
        pthread_attr_setstacksize(&attr, k_stack_copies * raw.size() + k_stack_headroom) == 0 &&
        pthread_create(&thread, &attr, big_stack_entry, &job) == 0;
    pthread_attr_destroy(&attr);
    if (started) pthread_join(thread, nullptr);
    return started;
}

} // namespace

void recycle_message(ParsedMessage& message) {
    t_spares->recycle(message);
}

namespace {

void parse_into(std::string_view raw, ParsedMessage& out, const Limits& limits, StageSplit* split,
                bool headers_only) {
    t_spares->recycle(out);
    out.raw_size = raw.size();
    out.body_read = !headers_only;
    if (headers_only) out.facts.emplace(k_oversize_fact);
    if (is_blank(raw)) {
        out.facts.insert("malformed-mime");
        return;
    }
    ParseState state{out, limits, split, *t_spares};
    state.headers_only = headers_only;
    if (raw.size() <= k_big_message_bytes || !parse_on_big_stack(raw, state)) parse_guarded(raw, state);
}

} // namespace

void parse_message(std::string_view raw, ParsedMessage& out, const Limits& limits, StageSplit* split) {
    parse_into(raw, out, limits, split, false);
}

void parse_headers_only(std::string_view headers, ParsedMessage& out, const Limits& limits) {
    parse_into(headers, out, limits, nullptr, true);
}

ParsedMessage parse_message(std::string_view raw, const Limits& limits, StageSplit* split) {
    ParsedMessage message;
    parse_message(raw, message, limits, split);
    return message;
}

} // namespace presend
