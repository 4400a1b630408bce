// test_message_builder: the raw message rebuilt from milter callbacks: Postfix's folded header values,
// the leading-space option, and the byte cap on bodies and on endless header blocks.
#include "daemon/message_builder.hpp"
#include "presend/engine.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using presend::daemon::MessageBuilder;

namespace {

// The header line as the builder wrote it one byte at a time before it copied runs: the reference the
// builder must still match byte for byte.
std::string reference_header_line(std::string_view name, std::string_view value, bool leading_space_kept) {
    std::string out;
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        out += (u < 33 || u > 126 || c == ':') ? '_' : c;
    }
    out += ':';
    if (!leading_space_kept && !value.empty()) out += ' ';
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r'))
        value.remove_suffix(1);
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c != '\r' && c != '\n') {
            out += c;
            continue;
        }
        if (c == '\r' && i + 1 < value.size() && value[i + 1] == '\n') ++i;
        out += "\r\n";
        if (i + 1 >= value.size() || (value[i + 1] != ' ' && value[i + 1] != '\t')) out += ' ';
    }
    return out + "\r\n";
}

// Header text with what needs care: every kind of line break (at the start, the end, doubled), folds with
// and without whitespace, colons, spaces, control and 8-bit bytes.
std::string random_header_text(std::mt19937& random) {
    static const std::vector<std::string> k_pieces = {
        "word", " ",    "\t", "\n",          "\r",   "\r\n", "\n\t", "\r\n ",
        "\n\n", "\r\r", ":",  "caf\xc3\xa9", "\x7f", "\x01", "\xff", std::string(1, '\0'),
        "x"};
    std::string out;
    for (auto n = std::uniform_int_distribution<int>(0, 8)(random); n > 0; --n)
        out += k_pieces[std::uniform_int_distribution<std::size_t>(0, k_pieces.size() - 1)(random)];
    return out;
}

} // namespace

TEST_CASE("folded header values become CRLF folds and the message parses back") {
    MessageBuilder builder(1u << 20, false);
    // Postfix hands folded values joined by bare "\n", the whitespace after the colon stripped.
    builder.add_header("Subject", "hello\n\tworld");
    builder.add_header("Received", "from a.example\n by b.example;\n Mon, 1 Jan 2024 00:00:00 +0000");
    builder.add_header("From", "Alice <alice@example.com>");
    builder.end_headers();
    builder.add_body("Hi there.\r\n");

    CHECK(builder.message() ==
          "Subject: hello\r\n\tworld\r\n"
          "Received: from a.example\r\n by b.example;\r\n Mon, 1 Jan 2024 00:00:00 +0000\r\n"
          "From: Alice <alice@example.com>\r\n"
          "\r\n"
          "Hi there.\r\n");
    CHECK_FALSE(builder.oversize());

    const auto parsed = presend::parse_message(builder.message());
    CHECK(parsed.header_count("Subject") == 1);
    CHECK(parsed.header_count("Received") == 1);
    REQUIRE(parsed.header("From") != nullptr);
    CHECK(parsed.header("Subject")->raw_value.find('\n') == std::string::npos);
}

TEST_CASE("with SMFIP_HDR_LEADSPC the value is kept byte for byte") {
    MessageBuilder builder(1u << 20, true);
    builder.add_header("Subject", "  two spaces");
    builder.add_header("X-Empty", "");
    builder.add_header("X-Folded", "\n\tstarts on the next line");
    CHECK(builder.headers_only() ==
          "Subject:  two spaces\r\nX-Empty:\r\nX-Folded:\r\n\tstarts on the next line\r\n\r\n");
}

TEST_CASE("a line break in a value never starts a new header or ends the header block") {
    MessageBuilder builder(1u << 20, false);
    builder.add_header("Subject", "innocent\nBcc: victim@example.com");
    builder.add_header("X-Trailing", "value\r\n");
    builder.add_header("X-Lone-CR", "a\rb");
    builder.add_header("Bad Name:", "x");
    CHECK(builder.headers_only() == "Subject: innocent\r\n Bcc: victim@example.com\r\n"
                                    "X-Trailing: value\r\n"
                                    "X-Lone-CR: a\r\n b\r\n"
                                    "Bad_Name_: x\r\n"
                                    "\r\n");
}

TEST_CASE("a body over the cap is cut and the message is oversize") {
    MessageBuilder builder(200, false);
    builder.add_header("Subject", "big");
    builder.end_headers();
    const std::string chunk(100, 'a');
    builder.add_body(chunk);
    CHECK_FALSE(builder.oversize());
    builder.add_body(chunk);
    CHECK(builder.oversize());
    builder.add_body(chunk);
    CHECK(builder.message().size() == 200);
    CHECK(builder.headers_only() == "Subject: big\r\n\r\n");
    CHECK(builder.seen_bytes() == std::string("Subject: big\r\n").size() + 300);
}

TEST_CASE("a message exactly at the cap is not oversize") {
    const std::string headers = "Subject: x\r\n\r\n";
    MessageBuilder builder(headers.size() + 10, false);
    builder.add_header("Subject", "x");
    builder.add_body(std::string(10, 'b')); // implies the end of the headers
    CHECK_FALSE(builder.oversize());
    CHECK(builder.message() == headers + std::string(10, 'b'));
}

TEST_CASE("endless headers stop at the cap, whole headers only") {
    constexpr std::size_t k_cap = 64 * 1024;
    MessageBuilder builder(k_cap, false);
    for (int i = 0; i < 200000; ++i)
        builder.add_header("X-Filler", "some value " + std::to_string(i));
    builder.add_body("body\r\n");

    CHECK(builder.oversize());
    CHECK(builder.headers_truncated());
    CHECK(builder.header_count() == 200000);
    const std::string_view headers = builder.headers_only();
    CHECK(headers.size() <= k_cap);
    REQUIRE(headers.size() >= 4);
    CHECK(headers.substr(headers.size() - 4) == "\r\n\r\n"); // the last stored header is complete
    CHECK(builder.message().size() <= k_cap);
    // Headers after the first that did not fit are all dropped, even small ones.
    builder.add_header("X-Late", "x");
    CHECK(builder.headers_only().find("X-Late") == std::string_view::npos);
}

TEST_CASE("too many headers count as oversize even under the byte cap") {
    MessageBuilder builder(32u << 20, false);
    for (int i = 0; i < 20000; ++i)
        builder.add_header("A", "b");
    CHECK(builder.oversize());
    CHECK(builder.headers_truncated());
    CHECK(builder.headers_only().size() == 10000 * std::string("A: b\r\n").size() + 2);
}

TEST_CASE("a max_headers above the header cap raises it by one header past the limit") {
    MessageBuilder builder(1u << 24, false);
    builder.reset(1u << 24, 20000);
    for (int i = 0; i < 20001; ++i)
        builder.add_header("A", "b");
    CHECK_FALSE(builder.oversize()); // the parser sees 20,001 fields and gives on_limit
    builder.add_header("A", "b");
    CHECK(builder.oversize());
    CHECK(builder.headers_only().size() == 20001 * std::string("A: b\r\n").size() + 2);
}

TEST_CASE("reset starts a new message on the same connection") {
    MessageBuilder builder(100, false);
    builder.add_header("Subject", "one");
    builder.add_body(std::string(200, 'x'));
    REQUIRE(builder.oversize());
    builder.reset(1000);
    CHECK_FALSE(builder.oversize());
    CHECK(builder.seen_bytes() == 0);
    builder.add_header("Subject", "two");
    builder.add_body("b\r\n");
    CHECK(builder.message() == "Subject: two\r\n\r\nb\r\n");
}

TEST_CASE("header lines are byte for byte the reference's, up to the cap and past it") {
    std::mt19937 random(5322);
    for (int round = 0; round < 2000; ++round) {
        const bool leading_space_kept = round % 2 == 1;
        const std::size_t cap = std::uniform_int_distribution<std::size_t>(2, 400)(random);
        MessageBuilder builder(cap, leading_space_kept);
        std::string expected;
        std::size_t seen = 0;
        bool truncated = false;
        for (auto n = std::uniform_int_distribution<int>(0, 12)(random); n > 0; --n) {
            const std::string name = random_header_text(random);
            const std::string value = random_header_text(random);
            builder.add_header(name, value);
            const std::string line = reference_header_line(name, value, leading_space_kept);
            seen += line.size();
            if (!truncated && expected.size() + line.size() > cap - 2) truncated = true;
            if (!truncated) expected += line;
        }
        INFO("round " << round);
        CHECK(builder.headers_only() == expected + "\r\n");
        CHECK(builder.headers_truncated() == truncated);
        CHECK(builder.oversize() == truncated);
        CHECK(builder.seen_bytes() == seen);
    }
}
