// Tests for parse_message(): each fixture in tests/fixtures/mime/ with its decoded text, headers, links,
// attachments and facts; limits and hostile input are built here. The fixtures are small hand-made messages.
#include "presend/engine.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using presend::Limits;
using presend::parse_message;
using presend::ParsedMessage;
using presend::test::contains;
using presend::test::has_fact;

namespace {

constexpr std::string_view k_base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Base64 of `bytes`, padded, in one line.
std::string encode(std::string_view bytes) {
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
        out += k_base64_alphabet[(v >> 18) & 63];
        out += k_base64_alphabet[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? k_base64_alphabet[(v >> 6) & 63] : '=';
        out += i + 2 < bytes.size() ? k_base64_alphabet[v & 63] : '=';
    }
    return out;
}

std::string read_fixture(const std::string& name) {
    const std::string path = std::string(PRESEND_FIXTURES_DIR) + "/mime/" + name;
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

ParsedMessage parse_fixture(const std::string& name, const Limits& limits = {}) {
    return parse_message(read_fixture(name), limits);
}

std::string header_value(const ParsedMessage& m, std::string_view name) {
    const presend::Header* h = m.header(name);
    REQUIRE(h != nullptr);
    return h->value;
}

// Strict UTF-8 check, written independently of the parser's.
bool valid_utf8(const std::string& s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        unsigned cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= s.size()) return false; // truncated sequence
        for (std::size_t k = 1; k <= n; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        const unsigned min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

void require_all_utf8(const ParsedMessage& m) {
    for (const auto& h : m.headers) {
        REQUIRE(valid_utf8(h.name));
        REQUIRE(valid_utf8(h.raw_value));
        REQUIRE(valid_utf8(h.value));
    }
    for (const auto& p : m.parts) {
        REQUIRE(valid_utf8(p.text));
        for (const auto& l : p.links) {
            REQUIRE(valid_utf8(l.href));
            REQUIRE(valid_utf8(l.text));
        }
    }
    for (const auto& a : m.attachments)
        REQUIRE(valid_utf8(a.filename));
}

} // namespace

TEST_CASE("quoted-printable ISO-8859-1 body is decoded to UTF-8") {
    const ParsedMessage m = parse_fixture("qp_latin1.eml");
    REQUIRE(m.parts.size() == 1);
    const auto& part = m.parts[0];
    CHECK(part.content_type == "text/plain");
    // Soft line breaks are joined; 0x80 is the euro sign, as windows-1252 (what "ISO-8859-1" means in mail).
    CHECK(contains(part.text,
                   "Aujourd'hui : café crème et crème brûlée à 4 €. Une très longue ligne coupée.\n"));
    REQUIRE(part.links.size() == 1);
    CHECK(part.links[0].href == "https://bistro.example/menu?jour=1"); // the full stop ends the sentence
    CHECK(part.links[0].text == part.links[0].href);
    CHECK(header_value(m, "Subject") == "Menu du jour");
    CHECK(m.facts.empty());
    CHECK(m.raw_size == read_fixture("qp_latin1.eml").size());
}

TEST_CASE("quoted-printable soft breaks, escapes and stray '=' decode as RFC 2045 says") {
    const ParsedMessage m =
        parse_message("Content-Type: text/plain; charset=utf-8\n"
                      "Content-Transfer-Encoding: quoted-printable\n\n"
                      "soft=  \nbreak, crlf=\r\nbreak, caf=c3=A9, 1+1=3D2, a=b, =ZZ, end=");
    REQUIRE(m.parts.size() == 1);
    CHECK(m.parts[0].text == "softbreak, crlfbreak, café, 1+1=2, a=b, =ZZ, end=");
}

TEST_CASE("long quoted-printable and base64 bodies decode the same across read chunks") {
    std::string original;
    for (int i = 0; original.size() < 100000; ++i)
        original += "Zeile " + std::to_string(i) + ": Größe = Maß €\n";
    std::string qp; // every non-ASCII byte and '=' escaped, soft breaks before 76 columns
    std::size_t column = 0;
    for (const char ch : original) {
        const auto c = static_cast<unsigned char>(ch);
        std::string piece;
        if (ch == '\n') {
            qp += "\r\n";
            column = 0;
            continue;
        }
        if (c >= 0x80 || ch == '=') {
            static const char* hex = "0123456789ABCDEF";
            piece = {'=', hex[c >> 4], hex[c & 15]};
        } else {
            piece = std::string(1, ch);
        }
        if (column + piece.size() > 75) {
            qp += "=\r\n";
            column = 0;
        }
        qp += piece;
        column += piece.size();
    }
    const ParsedMessage q = parse_message("Content-Type: text/plain; charset=utf-8\r\n"
                                          "Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
                                          qp);
    REQUIRE(q.parts.size() == 1);
    CHECK(q.parts[0].text == original);

    const std::string line = encode(original);
    std::string b64;
    for (std::size_t i = 0; i < line.size(); i += 76)
        b64 += line.substr(i, 76) + "\r\n";
    const ParsedMessage b = parse_message("Content-Type: text/plain; charset=utf-8\r\n"
                                          "Content-Transfer-Encoding: base64\r\n\r\n" +
                                          b64);
    REQUIRE(b.parts.size() == 1);
    CHECK(b.parts[0].text == original);
    CHECK(b.facts.empty());
}

TEST_CASE("base64 skips white space and junk anywhere, decodes past '=' and an unpadded tail") {
    const auto decoded = [](const std::string& body) {
        return parse_message("Content-Type: text/plain; charset=us-ascii\r\n"
                             "Content-Transfer-Encoding: base64\r\n\r\n" +
                             body);
    };
    struct Case {
        std::string body;
        std::string text;
        bool malformed;
    };
    const std::vector<Case> cases = {
        {"SGVsbG8gd29ybGQh\r\n", "Hello world!", false},
        {"SGVs\r\nbG8g\nd29y\rbGQh", "Hello world!", false},                     // breaks between quanta
        {"SG\r\nVsbG8 gd2 9ybG\tQh", "Hello world!", false},                     // and inside them
        {"SGVsbG8gd29ybGQhSGVsbG8gd29ybGQh", "Hello world!Hello world!", false}, // two quanta at a time
        {"SGVs*bG8g\200d29ybGQh", "Hello world!", true},                         // junk is skipped
        {"SGVsbG8=\r\nIHdvcmxkIQ==", "Hello world!", true},                      // data after '='
        {"SGVsbG8gd29ybGQ", "Hello world", true},                                // unpadded tail
        {"SGVsbG8gd29ybA=", "Hello worl", false},                                // one '=' is enough
        {"S", "", true},                                                         // a lone sixth of a byte
    };
    for (const Case& c : cases) {
        INFO(c.body);
        const ParsedMessage m = decoded(c.body);
        REQUIRE(m.parts.size() == 1);
        CHECK(m.parts[0].text == c.text);
        CHECK(has_fact(m, "malformed-mime") == c.malformed);
    }
}

TEST_CASE("base64 in lines of any width, CRLF or LF, with junk in some, decodes to what was encoded") {
    std::mt19937 rng(7);
    for (const std::size_t width : {4u, 15u, 16u, 17u, 60u, 64u, 72u, 76u, 100u, 1000u, 100000u}) {
        for (const std::string_view eol : {"\r\n", "\n"}) {
            std::string original;
            while (original.size() < 5000 + rng() % 100)
                original += static_cast<char>('a' + rng() % 26);
            const std::string b64 = encode(original);
            std::string body;
            bool junk = false;
            for (std::size_t i = 0; i < b64.size(); i += width) {
                std::string line = b64.substr(i, width);
                if (rng() % 10 == 0) { // junk is skipped, and the message marked
                    line.insert(rng() % (line.size() + 1), 1, '*');
                    junk = true;
                }
                body += line;
                body += eol;
            }
            INFO("width " << width << (eol.size() == 2 ? " CRLF" : " LF"));
            const ParsedMessage m = parse_message(
                "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
                body);
            REQUIRE(m.parts.size() == 1);
            CHECK(m.parts[0].text == original);
            CHECK(has_fact(m, "malformed-mime") == junk);
        }
    }
}

TEST_CASE("base64 UTF-8 body with CRLF line ends is decoded with LF line ends and its links found") {
    const ParsedMessage m = parse_fixture("base64_utf8.eml");
    REQUIRE(m.parts.size() == 1);
    CHECK(m.parts[0].text == "Grüße aus München — ✓ erledigt.\n"
                             "Fragen an mailto:vertrieb@example.de oder <https://example.de/faq>.\n");
    REQUIRE(m.parts[0].links.size() == 2);
    CHECK(m.parts[0].links[0].href == "mailto:vertrieb@example.de");
    CHECK(m.parts[0].links[1].href == "https://example.de/faq");
    CHECK(header_value(m, "from") == "Vertrieb <vertrieb@example.de>");
    CHECK(m.headers[0].raw_value.find('\r') == std::string::npos);
    CHECK(m.facts.empty());
}

TEST_CASE("Shift_JIS body and ISO-2022-JP encoded subject are converted to UTF-8") {
    const ParsedMessage m = parse_fixture("shift_jis.eml");
    CHECK(header_value(m, "Subject") == "お知らせ");
    REQUIRE(m.parts.size() == 1);
    CHECK(m.parts[0].text == "こんにちは、世界。\n詳細は https://example.jp/info をご覧ください。\n");
    REQUIRE(m.parts[0].links.size() == 1);
    CHECK(m.parts[0].links[0].href == "https://example.jp/info");
    CHECK(m.facts.empty());
}

TEST_CASE("RFC 2047 B and Q encoded headers are decoded; every header is kept in order with duplicates") {
    const ParsedMessage m = parse_fixture("rfc2047_headers.eml");
    std::vector<std::string> names;
    for (const auto& h : m.headers)
        names.push_back(h.name);
    // Content-Type belongs to the top-level part in GMime; it is merged back in message order.
    CHECK(names == std::vector<std::string>{"Received", "Received", "From", "To", "Subject", "X-Mailer",
                                            "MIME-Version", "Content-Type"});
    CHECK(m.header_count("received") == 2);
    CHECK(m.headers[1].value == "from c.example by a.example; Mon, 3 Mar 2025 09:59:00 +0000");
    CHECK(header_value(m, "From") == "Zoë Ångström <zoe@example.se>");
    CHECK(header_value(m, "To") == "\"Jörg\" <jorg@example.de>, plain@example.com");
    // Two Q words split inside "é" are joined before conversion; the space between encoded words goes, the
    // fold is unfolded.
    const presend::Header* subject = m.header("Subject");
    REQUIRE(subject != nullptr);
    CHECK(subject->value == "Café au lait and crème today");
    CHECK(subject->raw_value ==
          "=?utf-8?q?Caf=C3?= =?utf-8?q?=A9_au_lait?= and =?iso-8859-1?Q?cr=E8me?= today");
    CHECK(m.facts.empty());
}

TEST_CASE("nested multipart yields text parts in MIME order and attachments with decoded sizes") {
    const ParsedMessage m = parse_fixture("nested.eml");
    REQUIRE(m.parts.size() == 2);
    CHECK(m.parts[0].content_type == "text/plain");
    CHECK(m.parts[0].text == "Quarterly report attached.\nRead online: https://example.com/q1\n");
    CHECK(m.parts[1].content_type == "text/html");
    CHECK(m.parts[1].text == "Quarterly report attached.\nRead online");
    REQUIRE(m.parts[1].links.size() == 1);
    CHECK(m.parts[1].links[0].href == "https://example.com/q1");
    CHECK(m.parts[1].links[0].text == "Read online");
    REQUIRE(m.attachments.size() == 2);
    CHECK(m.attachments[0].filename == "logo.png"); // an inline image with a file name
    CHECK(m.attachments[0].content_type == "image/png");
    CHECK(m.attachments[0].size == 69);
    CHECK(m.attachments[1].filename == "report.pdf");
    CHECK(m.attachments[1].content_type == "application/pdf");
    CHECK(m.attachments[1].size == 77);
    CHECK(m.facts.empty());
}

TEST_CASE("nesting deeper than max_mime_depth is not descended and sets mime-too-deep") {
    Limits limits;
    limits.max_mime_depth = 2; // mixed (1) > alternative (2) > related (3)
    const ParsedMessage m = parse_fixture("nested.eml", limits);
    CHECK(has_fact(m, "mime-too-deep"));
    REQUIRE(m.parts.size() == 1); // the plain part beside the related one
    CHECK(m.parts[0].content_type == "text/plain");
    REQUIRE(m.attachments.size() == 1);
    CHECK(m.attachments[0].filename == "report.pdf");
}

TEST_CASE("more parts than max_mime_parts sets too-many-parts and stops there") {
    Limits limits;
    limits.max_mime_parts = 3; // mixed, alternative, plain
    const ParsedMessage m = parse_fixture("nested.eml", limits);
    CHECK(has_fact(m, "too-many-parts"));
    REQUIRE(m.parts.size() == 1);
    CHECK(m.attachments.empty());
}

TEST_CASE("HTML part gives the visible text and links with their visible text") {
    const ParsedMessage m = parse_fixture("html_hidden.eml");
    REQUIRE(m.parts.size() == 1);
    const auto& part = m.parts[0];
    CHECK(part.content_type == "text/html");
    CHECK(part.text ==
          "Spring sale\nSave 20% & more on all shoes.\nCell one Cell two\nShop now | Unsubscribe");
    for (const char* hidden : {"Preheader", "hidden attribute", "invisible", "script text",
                               "Spring sale title", "enable scripts", "template text", "color: red"}) {
        CHECK_FALSE(contains(part.text, hidden));
    }
    REQUIRE(part.links.size() == 3);
    CHECK(part.links[0].href == "https://hidden.example/x"); // a hidden link is still a link in the message
    CHECK(part.links[0].text.empty());
    CHECK(part.links[1].href == "https://shop.example/sale?utm=1&id=2");
    CHECK(part.links[1].text == "Shop now");
    CHECK(part.links[2].href == "https://shop.example/unsubscribe");
    CHECK(part.links[2].text == "Unsubscribe");
    CHECK(m.facts.empty());
}

TEST_CASE("multipart without its end boundary keeps its parts and sets malformed-mime") {
    const ParsedMessage m = parse_fixture("no_end_boundary.eml");
    REQUIRE(m.parts.size() == 2);
    CHECK(m.parts[0].text == "First part.\n");
    CHECK(m.parts[1].text == "Second part, and then the message stops.\n");
    CHECK(has_fact(m, "malformed-mime"));
}

TEST_CASE("broken base64 is decoded as far as it goes and sets malformed-mime") {
    const ParsedMessage m = parse_fixture("bad_base64.eml");
    REQUIRE(m.parts.size() == 1);
    // Junk characters are skipped, the unpadded tail ("Tail") is still decoded.
    CHECK(m.parts[0].text == "Hello from a broken encoder. Tail");
    CHECK(has_fact(m, "malformed-mime"));
}

TEST_CASE("unknown charset and invalid UTF-8 set bad-charset and still reach the rules as valid UTF-8") {
    const ParsedMessage m = parse_fixture("bad_charset.eml");
    CHECK(has_fact(m, "bad-charset"));
    CHECK(header_value(m, "Subject") == "naïve"); // x-bogus: the bytes were UTF-8 after all
    REQUIRE(m.parts.size() == 2);
    CHECK(m.parts[0].text == "naïve café\n");
    CHECK(m.parts[1].text == "bad \xEF\xBF\xBD byte and \xEF\xBF\xBD cut\n");
    require_all_utf8(m);
}

TEST_CASE("a message of headers alone is not malformed") {
    const ParsedMessage m = parse_fixture("headers_only.eml");
    CHECK(header_value(m, "Subject") == "nothing below");
    CHECK(m.headers.size() == 3);
    CHECK(m.attachments.empty());
    for (const auto& p : m.parts)
        CHECK(p.text.empty());
    CHECK_FALSE(has_fact(m, "malformed-mime"));
}

TEST_CASE("input that is not a message at all is kept as text and sets malformed-mime") {
    const ParsedMessage m = parse_fixture("garbage.eml");
    CHECK(has_fact(m, "malformed-mime"));
    CHECK(m.headers.empty());
    REQUIRE(m.parts.size() == 1);
    CHECK(contains(m.parts[0].text, "not a header"));
    REQUIRE(m.parts[0].links.size() == 1);
    CHECK(m.parts[0].links[0].href == "http://junk.example/now");
    require_all_utf8(m);
}

TEST_CASE("multipart without a boundary shows its body as text and sets malformed-mime") {
    const ParsedMessage m = parse_fixture("no_boundary.eml");
    CHECK(has_fact(m, "malformed-mime"));
    REQUIRE(m.parts.size() == 1);
    CHECK(m.parts[0].text == "Text that a client may still show: https://example.net/offer\n");
    REQUIRE(m.parts[0].links.size() == 1);
    CHECK(m.parts[0].links[0].href == "https://example.net/offer");
}

TEST_CASE("a forwarded message is an attachment and RFC 2231 file names are decoded") {
    const ParsedMessage m = parse_fixture("forwarded.eml");
    REQUIRE(m.parts.size() == 1); // the forwarded text stays out of the sender's parts
    CHECK(m.parts[0].text == "See the forwarded message.\n");
    REQUIRE(m.attachments.size() == 2);
    CHECK(m.attachments[0].content_type == "message/rfc822");
    CHECK(m.attachments[0].filename == "minutes.eml");
    CHECK(m.attachments[0].size == 73);
    CHECK(m.attachments[1].filename == "Résumé.pdf");
    CHECK(m.attachments[1].content_type == "application/octet-stream");
    CHECK(m.attachments[1].size == 10);
    CHECK(m.facts.empty());
}

TEST_CASE("empty input sets malformed-mime and nothing else") {
    for (const std::string& raw : {std::string(), std::string("\r\n\r\n")}) {
        const ParsedMessage m = parse_message(raw);
        CHECK(m.facts == std::set<std::string>{"malformed-mime"});
        CHECK(m.headers.empty());
        CHECK(m.parts.empty());
        CHECK(m.raw_size == raw.size());
    }
}

TEST_CASE("every fixture reaches the rules as valid UTF-8") {
    for (const char* name :
         {"qp_latin1.eml", "base64_utf8.eml", "shift_jis.eml", "rfc2047_headers.eml", "nested.eml",
          "html_hidden.eml", "no_end_boundary.eml", "bad_base64.eml", "bad_charset.eml", "headers_only.eml",
          "garbage.eml", "no_boundary.eml", "forwarded.eml"}) {
        INFO(name);
        require_all_utf8(parse_fixture(name));
    }
}

TEST_CASE("plain-text links end before sentence punctuation but keep balanced parentheses") {
    const std::string raw = "Subject: links\n\n"
                            "See HTTPS://Example.com/Path, (or http://example.org/a_(b)). Also\n"
                            "<mailto:x@example.com>; not a link: http:// nor ftp://example.net\n"
                            "Glued:http://glued.example/x?y=1&z=2!\n";
    const ParsedMessage m = parse_message(raw);
    REQUIRE(m.parts.size() == 1);
    std::vector<std::string> hrefs;
    for (const auto& l : m.parts[0].links)
        hrefs.push_back(l.href);
    CHECK(hrefs == std::vector<std::string>{"HTTPS://Example.com/Path", "http://example.org/a_(b)",
                                            "mailto:x@example.com", "http://glued.example/x?y=1&z=2"});
}

TEST_CASE("an unlabelled 8-bit header is read as UTF-8, or as windows-1252 when it is not UTF-8") {
    const ParsedMessage m = parse_message("Subject: caf\xC3\xA9\nX-Old: caf\xE9\n\nbody\n");
    CHECK(header_value(m, "Subject") == "café");
    CHECK(header_value(m, "X-Old") == "café");
    CHECK_FALSE(has_fact(m, "bad-charset"));
    require_all_utf8(m);
}

TEST_CASE("an HTML part without a charset parameter uses its meta charset") {
    const ParsedMessage m = parse_message("Content-Type: text/html\n\n"
                                          "<html><head><meta charset=\"windows-1252\"></head>"
                                          "<body>na\xEFve \x93quotes\x94</body></html>\n");
    REQUIRE(m.parts.size() == 1);
    CHECK(m.parts[0].text == "naïve “quotes”");
    CHECK(m.facts.empty());
}

TEST_CASE("hostile input stays linear and never crashes") {
    using clock = std::chrono::steady_clock;
    const auto started = clock::now();

    SECTION("a header of unterminated encoded words") {
        std::string raw = "Subject: ";
        for (int i = 0; i < 20000; ++i)
            raw += "=?a?q?x=?b?b?";
        raw += "\n\nbody\n";
        const ParsedMessage m = parse_message(raw);
        CHECK(m.header("Subject") != nullptr);
    }
    SECTION("multiparts nested far deeper than the limit") {
        std::string raw = "Subject: deep\n";
        for (int i = 0; i < 2000; ++i) {
            raw += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "\"\n\n--b" +
                   std::to_string(i) + "\n";
        }
        raw += "Content-Type: text/plain\n\ndeep text\n";
        const ParsedMessage m = parse_message(raw);
        CHECK(has_fact(m, "mime-too-deep"));
    }
    SECTION("thousands of parts") {
        std::string raw = "Content-Type: multipart/mixed; boundary=\"x\"\n\n";
        for (int i = 0; i < 3000; ++i)
            raw += "--x\nContent-Type: text/plain\n\npart\n";
        raw += "--x--\n";
        const ParsedMessage m = parse_message(raw);
        CHECK(has_fact(m, "too-many-parts"));
        CHECK(m.parts.size() < 500);
    }
    SECTION("a header bigger than a thread's stack") {
        // GMime copies the charset of an RFC 2231 parameter onto the stack; this one is 9 MB.
        std::string raw = "Content-Type: text/plain; name*=";
        raw.append(9 * 1024 * 1024, 'a');
        raw += "'en'x.txt\n\nbody\n";
        const ParsedMessage m = parse_message(raw);
        CHECK(m.raw_size == raw.size());
    }
    SECTION("a 20 MB message: large attachment, large text, long lines") {
        std::string raw = "Subject: big\nContent-Type: multipart/mixed; boundary=\"z\"\n\n--z\n"
                          "Content-Type: text/plain; charset=utf-8\n\n";
        for (int i = 0; i < 100000; ++i)
            raw += "line of ordinary text number " + std::to_string(i) + "\n";
        raw += "--z\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n";
        raw.append(12 * 1024 * 1024, 'Q'); // one line, no wrapping
        raw += "\n--z--\n";
        const ParsedMessage m = parse_message(raw);
        REQUIRE(m.parts.size() == 1);
        CHECK(contains(m.parts[0].text, "number 99998\nline of ordinary text number 99999"));
        REQUIRE(m.attachments.size() == 1);
        CHECK(m.attachments[0].size == 12 * 1024 * 1024 / 4 * 3);
    }
    // Generous enough for a sanitizer build on a busy machine; quadratic behaviour would take minutes.
    CHECK(clock::now() - started < std::chrono::seconds(60));
}

TEST_CASE("parsing on many threads at once gives the same results as on one") {
    const std::vector<std::string> names = {"qp_latin1.eml",       "base64_utf8.eml", "shift_jis.eml",
                                            "rfc2047_headers.eml", "nested.eml",      "html_hidden.eml",
                                            "bad_charset.eml",     "forwarded.eml",   "garbage.eml"};
    const auto summary = [](const ParsedMessage& m) {
        std::string s;
        for (const auto& h : m.headers)
            s += h.name + ":" + h.value + "\n";
        for (const auto& p : m.parts) {
            s += p.content_type + "|" + p.text + "\n";
            for (const auto& l : p.links)
                s += l.href + "|" + l.text + "\n";
        }
        for (const auto& a : m.attachments)
            s += a.filename + "|" + a.content_type + std::to_string(a.size) + "\n";
        for (const auto& f : m.facts)
            s += f + "\n";
        return s;
    };
    std::vector<std::string> raws;
    std::vector<std::string> expected;
    for (const auto& name : names) {
        raws.push_back(read_fixture(name));
        expected.push_back(summary(parse_message(raws.back())));
    }
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < mismatches.size(); ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < 50; ++round) {
                for (std::size_t i = 0; i < raws.size(); ++i) {
                    if (summary(parse_message(raws[i])) != expected[i]) ++mismatches[t];
                }
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    CHECK(mismatches == std::vector<int>(mismatches.size(), 0));
}

namespace {

// Every field of a and b, compared one by one so that a failure names the field.
void check_same(const ParsedMessage& a, const ParsedMessage& b) {
    CHECK(a.raw_size == b.raw_size);
    REQUIRE(a.headers.size() == b.headers.size());
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        CHECK(a.headers[i].name == b.headers[i].name);
        CHECK(a.headers[i].raw_value == b.headers[i].raw_value);
        CHECK(a.headers[i].value == b.headers[i].value);
    }
    REQUIRE(a.parts.size() == b.parts.size());
    for (std::size_t i = 0; i < a.parts.size(); ++i) {
        CHECK(a.parts[i].content_type == b.parts[i].content_type);
        CHECK(a.parts[i].text == b.parts[i].text);
        REQUIRE(a.parts[i].links.size() == b.parts[i].links.size());
        for (std::size_t j = 0; j < a.parts[i].links.size(); ++j) {
            CHECK(a.parts[i].links[j].href == b.parts[i].links[j].href);
            CHECK(a.parts[i].links[j].text == b.parts[i].links[j].text);
        }
    }
    REQUIRE(a.attachments.size() == b.attachments.size());
    for (std::size_t i = 0; i < a.attachments.size(); ++i) {
        CHECK(a.attachments[i].filename == b.attachments[i].filename);
        CHECK(a.attachments[i].content_type == b.attachments[i].content_type);
        CHECK(a.attachments[i].size == b.attachments[i].size);
    }
    CHECK(a.facts == b.facts);
}

// Many headers, long plain text with links in a legacy charset, HTML, attachments and facts.
std::string big_message() {
    std::string raw =
        "From: a@example.com\r\nSubject: =?utf-8?B?w6l0w6kgw6AgUGFyaXMgZXQgYXUgYm9yZCBkZSBsYSBtZXI=?=\r\n";
    for (int i = 0; i < 60; ++i)
        raw += "X-Trace-" + std::to_string(i) + ": hop " + std::string(40, static_cast<char>('a' + i % 26)) +
               "\r\n";
    raw += "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
           "--m\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n";
    for (int i = 0; i < 200; ++i)
        raw += "Caf\xE9 line " + std::to_string(i) + " https://big.example/path/" + std::to_string(i) +
               " end.\r\n";
    raw += "--m\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <a "
           "href=\"https://h.example/\">there</a></p>\r\n"
           "--m\r\nContent-Type: application/octet-stream; name=\"report-of-the-long-quarter.bin\"\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n"
           "--m\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\nbody\r\n"
           "--m--\r\n";
    return raw;
}

} // namespace

TEST_CASE(
    "a message parsed into a reused ParsedMessage is the same as a fresh parse, whatever it held before") {
    std::vector<std::string> raws = {big_message(), "Subject: small\r\n\r\nhi https://s.example/\r\n",
                                     big_message(), "\r\n \r\n", "From: b@example.com\n\n"};
    for (const auto& name : {"qp_latin1.eml", "base64_utf8.eml", "shift_jis.eml", "rfc2047_headers.eml",
                             "nested.eml", "html_hidden.eml", "bad_charset.eml", "forwarded.eml",
                             "garbage.eml", "no_boundary.eml", "headers_only.eml", "bad_base64.eml"}) {
        raws.push_back(read_fixture(name));
        raws.push_back(big_message());
    }
    ParsedMessage reused;
    // Forwards and backwards: each message follows a bigger one and a smaller one.
    for (int pass = 0; pass < 2; ++pass) {
        for (const std::string& raw : raws) {
            INFO(raw.substr(0, 80));
            parse_message(raw, reused);
            check_same(reused, parse_message(raw));
        }
        std::reverse(raws.begin(), raws.end());
    }
}

TEST_CASE("a reused ParsedMessage takes a limit's facts and cuts afresh for each message") {
    Limits limits;
    limits.max_headers = 20;
    limits.max_urls = 50;
    ParsedMessage reused;
    parse_message(big_message(), reused, limits);
    CHECK(has_fact(reused, "too-many-headers"));
    CHECK(has_fact(reused, "too-many-urls"));
    CHECK(reused.headers.size() == 20);
    const std::string small = "Subject: small\r\n\r\nhi https://s.example/\r\n";
    parse_message(small, reused, limits);
    check_same(reused, parse_message(small, limits));
    CHECK(reused.facts.empty());
}

TEST_CASE("header lookups ignore case and count duplicates") {
    ParsedMessage m;
    m.headers = {{"Received", "a", "a"}, {"SUBJECT", "s", "s"}, {"received", "b", "b"}};
    REQUIRE(m.header("subject") != nullptr);
    CHECK(m.header("subject")->value == "s");
    CHECK(m.header("Received")->value == "a");
    CHECK(m.header("X-Missing") == nullptr);
    CHECK(m.header_count("RECEIVED") == 2);
    CHECK(m.header_count("x-missing") == 0);
    CHECK(presend::iequals("Content-Type", "content-TYPE"));
    CHECK_FALSE(presend::iequals("Content-Type", "Content-Typ"));
}
