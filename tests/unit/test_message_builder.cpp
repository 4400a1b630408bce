// test_message_builder: the raw message rebuilt from milter callbacks: Postfix's folded header values,
// the leading-space option, and the byte cap on bodies and on endless header blocks.
#include "daemon/message_builder.hpp"
#include "presend/engine.hpp"

#include <catch2/catch.hpp>

#include <string>

using presend::daemon::MessageBuilder;

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
