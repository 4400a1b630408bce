// Structural header checks: RFC 2369 List-Unsubscribe, RFC 8058 one-click, RFC 5322 From, Message-ID, Date.
#include "engine/header_checks.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

using namespace presend;
using presend::test::message_with;

TEST_CASE("List-Unsubscribe URIs must be angle-bracketed and comma-separated") {
    std::string reason;
    CHECK(list_unsubscribe_uris("<https://x.example/u>, <mailto:u@x.example>", reason) ==
          std::vector<std::string>{"https://x.example/u", "mailto:u@x.example"});
    CHECK(list_unsubscribe_uris("https://x.example/u", reason).empty());
    CHECK_THAT(reason, Catch::Contains("angle brackets"));
    CHECK(list_unsubscribe_uris("<https://x.example/u> <mailto:u@x.example>", reason).empty());
    CHECK_THAT(reason, Catch::Contains("commas"));
    CHECK(list_unsubscribe_uris("<https://x.example/u", reason).empty());
    CHECK(list_unsubscribe_uris("(comment) <https://x.example/\n u>", reason) ==
          std::vector<std::string>{"https://x.example/u"});
}

TEST_CASE("check list-unsubscribe honours require") {
    const auto both = message_with({{"List-Unsubscribe", "<https://x.example/u>, <mailto:u@x.example>"}});
    const auto mailto = message_with({{"List-Unsubscribe", "<mailto:u@x.example>"}});
    const auto http = message_with({{"List-Unsubscribe", "<http://x.example/u>"}});
    CHECK(check_list_unsubscribe(both, "both").empty());
    CHECK(check_list_unsubscribe(mailto, "any").empty());
    CHECK(check_list_unsubscribe(mailto, "https") == "no https: URI");
    CHECK(check_list_unsubscribe(http, "any") == "no usable https: or mailto: URI");
    CHECK(check_list_unsubscribe(message_with({}), "any").empty()); // absence is header_absent's job
    CHECK(check_list_unsubscribe(message_with({{"List-Unsubscribe", "<mailto:a@x.example>"},
                                               {"List-Unsubscribe", "<mailto:b@x.example>"}}),
                                 "any") == "appears 2 times");
}

TEST_CASE("List-Unsubscribe-Post must be exactly One-Click with an https URI to post to") {
    CHECK(
        check_list_unsubscribe_post(message_with({{"List-Unsubscribe", "<https://x.example/u>"},
                                                  {"List-Unsubscribe-Post", " List-Unsubscribe=One-Click "}}))
            .empty());
    CHECK_THAT(
        check_list_unsubscribe_post(message_with({{"List-Unsubscribe", "<https://x.example/u>"},
                                                  {"List-Unsubscribe-Post", "List-Unsubscribe=one-click"}})),
        Catch::Contains("not 'List-Unsubscribe=One-Click'"));
    CHECK_THAT(
        check_list_unsubscribe_post(message_with({{"List-Unsubscribe", "<mailto:u@x.example>"},
                                                  {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}})),
        Catch::Contains("no https"));
}

TEST_CASE("From must be exactly one valid mailbox; a display name is optional for validity") {
    Mailbox box;
    std::string reason;
    REQUIRE(parse_single_mailbox("\"Acme, Inc.\" <news@acme.example>", box, reason));
    CHECK(box.display_name == "Acme, Inc.");
    CHECK(box.address == "news@acme.example");
    REQUIRE(parse_single_mailbox("news@acme.example (Acme news)", box, reason));
    CHECK(box.display_name.empty());
    CHECK_FALSE(parse_single_mailbox("a@acme.example, b@acme.example", box, reason));
    CHECK(reason == "more than one address");
    CHECK_FALSE(parse_single_mailbox("Acme <news@acme>", box, reason));
    CHECK_FALSE(parse_single_mailbox("Acme <news@@acme.example>", box, reason));
    CHECK_FALSE(parse_single_mailbox("undisclosed-recipients:;", box, reason));
    CHECK_FALSE(parse_single_mailbox("Acme \"<news@acme.example>", box, reason));
    CHECK(check_from_display_name(message_with({{"From", "news@acme.example"}})) == "no display name");
    CHECK(check_from_display_name(message_with({{"From", "Acme <news@acme.example>"}})).empty());
}

TEST_CASE("Message-ID and Date are checked for shape") {
    CHECK(check_message_id(message_with({{"Message-ID", "<abc.123@mail.example>"}})).empty());
    CHECK_FALSE(check_message_id(message_with({{"Message-ID", "abc@mail.example"}})).empty());
    CHECK_FALSE(check_message_id(message_with({{"Message-ID", "<abc>"}})).empty());
    CHECK(check_date(message_with({{"Date", "Thu, 26 Nov 2026 09:30:00 +0000"}})).empty());
    CHECK(check_date(message_with({{"Date", "26 Nov 2026 09:30 -0500 (EST)"}})).empty());
    CHECK_FALSE(check_date(message_with({{"Date", "2026-11-26T09:30:00Z"}})).empty());
    CHECK_FALSE(check_date(message_with({{"Date", "Thu, 32 Nov 2026 09:30:00 +0000"}})).empty());
}

TEST_CASE("link text naming one domain while the href goes to another is caught; tracking subdomains are not") {
    auto with_link = [](std::string href, std::string text) {
        auto m = message_with({}, "", "x");
        m.parts.back().links.push_back({std::move(href), std::move(text)});
        return m;
    };
    CHECK(check_link_domain_mismatch(with_link("http://203.0.113.9/claim", "https://paypal.com/login")) ==
          "text shows paypal.com, link goes to 203.0.113.9");
    CHECK_FALSE(check_link_domain_mismatch(with_link("https://evil.example/x", "www.acme.com")).empty());
    CHECK(check_link_domain_mismatch(with_link("https://click.acme.com/t/123", "www.acme.com")).empty());
    CHECK(check_link_domain_mismatch(with_link("https://evil.example/x", "Click here")).empty());
    CHECK(check_link_domain_mismatch(with_link("https://evil.example/x", "version 2.0")).empty());
    CHECK(check_link_domain_mismatch(with_link("mailto:u@acme.com", "acme.com")).empty());
    CHECK(registrable_domain("mail.acme.co.uk") == "acme.co.uk");
    CHECK(registrable_domain("news.acme.com") == "acme.com");
}
