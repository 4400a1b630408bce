// Tests for html_to_text(): what counts as visible, how text is folded, which links come out, which end
// tags close what, and that hostile nesting costs linear time and bounded memory.
#include "engine/html_text.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using presend::html_to_text;
using presend::HtmlText;
using presend::test::contains;

namespace {

std::string repeat(const std::string& s, int n) {
    std::string out;
    out.reserve(s.size() * static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        out += s;
    return out;
}

} // namespace

TEST_CASE("script, style, head, title, template and noscript are not visible text") {
    const HtmlText t = html_to_text("<html><head><title>T1</title><style>p{color:red}</style>"
                                    "<script>var s = 1;</script></head><body>"
                                    "<p>shown</p><script>hidden()</script><noscript>ns</noscript>"
                                    "<template><p>tpl</p></template><style>.a{}</style></body></html>");
    CHECK(t.text == "shown");
    CHECK_FALSE(t.simplified);
}

TEST_CASE(
    "the hidden attribute and inline display:none or visibility:hidden hide an element and its children") {
    const HtmlText t = html_to_text("<div>a</div><div hidden>b<span>c</span></div>"
                                    "<div style=\"color:red; DISPLAY : none\">d<p>e</p></div>"
                                    "<p style='visibility: hidden !important'>f</p>"
                                    "<p style=\"display:block\">g</p>");
    CHECK(t.text == "a\ng");
}

TEST_CASE("inline styles hide with blanks anywhere in the declaration, in any case, however long the style") {
    std::string padding;
    for (int i = 0; i < 40; ++i)
        padding += "font-family:Arial,sans-serif; ";
    const HtmlText t = html_to_text("<p style=\"" + padding + "display:none\">a</p>"
                                    "<p style=\"d i s\tplay\n:\r\nNONE\">b</p>"
                                    "<p style=\"Visibility :Hidden\">c</p>"
                                    "<p style=\"display:block; padding:0 none\">d</p>"
                                    "<p style=\":none;display\">e</p>"
                                    "<p style=\"display:\">f</p>");
    CHECK(t.text == "d\ne\nf");
}

TEST_CASE("block elements start new lines and whitespace folds to single spaces") {
    const HtmlText t =
        html_to_text("<h1>Title</h1>\n\n<p>one   two\n\tthree</p><ul><li>x</li><li>y</li></ul>"
                     "line<br>break<table><tr><td>c1</td><td>c2</td></tr><tr><td>c3</td></tr></table>"
                     "<span>in</span><span>line</span> <b>bold</b>");
    CHECK(t.text == "Title\none two three\nx\ny\nline\nbreak\nc1 c2\nc3\ninline bold");
}

TEST_CASE("entities are decoded, nbsp is a space, zero-width characters and soft hyphens are dropped") {
    const HtmlText t = html_to_text("<p>Fish&nbsp;&amp;&nbsp;chips &lt;3 &#8364;5 un&#x200B;sub&shy;scribe "
                                    "fr\xEF\xBB\xBF"
                                    "ee</p>");
    CHECK(t.text == "Fish & chips <3 €5 unsubscribe free");
}

TEST_CASE("links carry the decoded, cleaned href and their folded visible text") {
    const HtmlText t =
        html_to_text("<p><a href=\" https://e.example/a?x=1&amp;y=2 \">Click\n   <b>here</b></a> "
                     "<a href=\"ht&#x0A;tps://split.example/\">split</a> "
                     "<a name=\"anchor\">no href</a>"
                     "<a href=\"mailto:a@example.com\"><img src=\"x.png\"></a></p>"
                     "<div style=\"display:none\"><a href=\"https://hidden.example/\">h</a></div>");
    REQUIRE(t.links.size() == 4);
    CHECK(t.links[0].href == "https://e.example/a?x=1&y=2");
    CHECK(t.links[0].text == "Click here");
    CHECK(t.links[1].href == "https://split.example/"); // browsers drop newlines inside URLs
    CHECK(t.links[2].href == "mailto:a@example.com");
    CHECK(t.links[2].text.empty());
    CHECK(t.links[3].href == "https://hidden.example/");
    const HtmlText tabs = html_to_text("<a href=\"\t \f https://t.example/a\n/b\r\n?c=1 \v\n\">t</a>"
                                       "<a href=\" \t\n \">blank</a>");
    REQUIRE(tabs.links.size() == 2);
    CHECK(tabs.links[0].href == "https://t.example/a/b?c=1");
    CHECK(tabs.links[1].href.empty());
    CHECK(t.links[3].text.empty());
    CHECK(t.text == "Click here split no href");
}

TEST_CASE("broken HTML parses without harm") {
    for (const char* html :
         {"", "<", "<<>>", "<a href=", "<a href=\"unterminated", "<p>unclosed <b>bold <i>x",
          "</div></div>text</p>", "<!-- never closed", "<script>never closed", "<table><td>cell<tr>row",
          "a < b > c", "\xFF\xFE<p>\xC3</p>"}) {
        INFO(html);
        const HtmlText t = html_to_text(html);
        CHECK_FALSE(t.simplified);
    }
    CHECK(html_to_text("a < b > c").text == "a < b > c");
    CHECK(html_to_text("<p>unclosed <b>bold <i>x").text == "unclosed bold x");
}

TEST_CASE("deep nesting keeps its text and links, and is flagged past the tracked depth") {
    const auto started = std::chrono::steady_clock::now();
    const HtmlText t = html_to_text("<p>top</p>" + repeat("<div>", 20000) +
                                    "needle <a href=\"https://deep.example/\">"
                                    "deep link</a><script>no()</script><style>x{}</style> &amp; more");
    CHECK(t.simplified);
    CHECK(contains(t.text, "top"));
    CHECK(contains(t.text, "needle deep link & more"));
    CHECK_FALSE(contains(t.text, "no()"));
    REQUIRE(t.links.size() == 1);
    CHECK(t.links[0].href == "https://deep.example/");
    CHECK(t.links[0].text == "deep link");
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
}

TEST_CASE("patterns that are quadratic for a DOM builder take linear time") {
    std::string reopened; // in a DOM builder every <p> re-opens all earlier <b>s
    for (int i = 0; i < 5000; ++i)
        reopened += "<p><b id=" + std::to_string(i) + ">x</p>";
    for (const std::string& html :
         {reopened, repeat("<table><td>", 5000), repeat("<span><div></span>", 5000),
          repeat("<b><div></b>", 5000), repeat(repeat("<div>", 100) + "</body>", 100),
          repeat("<form><div></form>", 5000), "<svg><style>" + repeat("<g>", 5000),
          repeat("<a href=x>", 50000), repeat("</div>", 50000) + "end"}) {
        const auto started = std::chrono::steady_clock::now();
        const HtmlText t = html_to_text(repeat(html, 4));
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
    }
    CHECK(html_to_text(repeat("<table><td>", 5000)).simplified);
    CHECK_FALSE(html_to_text(reopened).simplified);
    CHECK(html_to_text(repeat("</div>", 50000) + "end").text == "end");
}

TEST_CASE("ordinary page structure is not mistaken for deep nesting") {
    std::string rows;
    for (int i = 0; i < 2000; ++i) {
        rows += "<tr><td><font face=\"Arial\"><p>row " + std::to_string(i) + "<td>x<div>unclosed</td>";
    }
    const HtmlText t = html_to_text("<html><body><table>" + rows + "</table><p>end</p></body></html>");
    CHECK_FALSE(t.simplified);
    CHECK(contains(t.text, "row 1999"));
    CHECK(contains(t.text, "end"));
}

TEST_CASE("large text is kept whole") {
    const std::string words = repeat("word ", 300000); // 1.5 MB of text
    const HtmlText t = html_to_text("<p>" + words + "last</p>");
    CHECK_FALSE(t.simplified);
    CHECK(t.text.size() == words.size() + 4);
    CHECK(t.text.substr(t.text.size() - 9) == "word last");
}

TEST_CASE("elements whose end tag is left out are closed where HTML closes them") {
    // A block closes an open <p>, so the hidden paragraph does not hide the block after it.
    CHECK(html_to_text("<p style=\"display:none\">hidden<div>shown</div>").text == "shown");
    CHECK(html_to_text("<ul><li hidden>one<li>two</ul>").text == "two");
    CHECK(html_to_text("<dl><dt hidden>term<dd>definition</dl>").text == "definition");
    CHECK(html_to_text("<table><tr><td hidden>a<td>b<tr><td>c</table>").text == "b\nc");
    // </span> cannot close across the <div>: the rest stays inside the hidden span.
    CHECK(html_to_text("<span style=\"display:none\"><div>x</span>y</div>z").text.empty());
    // A formatting element's end tag closes across a block.
    CHECK(html_to_text("<b style=\"display:none\"><div>x</b>y</div>").text == "y");
    // An end tag of an element not open, or out of scope, closes nothing.
    CHECK(html_to_text("<div hidden><table><tr><td></div>x</td></tr></table></div>y").text == "y");
}

TEST_CASE("a block that closes the only open element leaves an empty stack behind safely") {
    // Found by fuzz_message (tests/fuzz/regressions/message/crash-bcfd8cc9...): <p> then a heading.
    CHECK(html_to_text("<p>a<h2>b</h2><p>c<li>d<p>e<dd>f").text == "a\nb\nc\nd\ne\nf");
    CHECK(html_to_text("<p>x<h1>y").text == "x\ny");
}

TEST_CASE("head contents are hidden until the body starts, and body or html can hide everything") {
    CHECK(html_to_text("<head><meta charset=utf-8><title>t</title><body>shown").text == "shown");
    CHECK(html_to_text("<html><head><link rel=x><div>in body</div>").text == "in body");
    CHECK(html_to_text("<head>stray text</head>").text == "stray text");
    CHECK(html_to_text("<html><body style=\"display: none\"><p>a</p></body></html>").text.empty());
}

TEST_CASE("named references of HTML 4 decode; without ';' only the Latin-1 ones, and not in a query") {
    CHECK(html_to_text("<p>a&mdash;b &rsquo;x&lsquo; caf&eacute; &trade; &hellip;</p>").text ==
          "a\xE2\x80\x94"
          "b \xE2\x80\x99x\xE2\x80\x98 caf\xC3\xA9 \xE2\x84\xA2 \xE2\x80\xA6");
    CHECK(html_to_text("&copy 2026 &mdash &unknown; &#x41;&#66").text ==
          "\xC2\xA9 2026 &mdash &unknown; AB");
    const HtmlText t = html_to_text("<a href=\"https://e.example/?a=1&copy=2&amp;b=3&lt=4\">x</a>");
    REQUIRE(t.links.size() == 1);
    CHECK(t.links[0].href == "https://e.example/?a=1&copy=2&b=3&lt=4");
}

TEST_CASE("text in SVG shows, an HTML element leaves SVG, and raw text elements show as written") {
    CHECK(html_to_text("<svg><text>in svg</text><style>t{}</style></svg><p>after</p>").text ==
          "in svgt{}\nafter");
    CHECK(html_to_text("<svg><g><p>out</p>").text == "out");
    CHECK(html_to_text("<textarea>a &amp; <b>b</b></textarea><xmp>&amp; <i></xmp>").text ==
          "a & <b>b</b>&amp; <i>");
}

TEST_CASE("a new link closes the one still open, so each gets its own text") {
    const HtmlText t = html_to_text("<a href=\"https://one.example/\">one <a href=\"https://two.example/\">two");
    REQUIRE(t.links.size() == 2);
    CHECK(t.links[0].text == "one");
    CHECK(t.links[1].text == "two");
}

namespace {

// The text of `html` as it is and followed by a long comment: names, attributes and text near the end of the
// input are read a byte at a time, the same ones elsewhere 16 bytes at a time.
std::string text_both_ways(const std::string& html) {
    const std::string alone = html_to_text(html).text;
    CHECK(html_to_text(html + "<!--" + std::string(40, '-') + "-->").text == alone);
    return alone;
}

} // namespace

TEST_CASE("tag names match in any case, cut at 15 bytes, with a control byte part of the name") {
    CHECK(text_both_ways("<DIV>a</DIV><Table><TR><TD>b</td></tr></table>") == "a\nb");
    CHECK(text_both_ways("<p>x</p><p\x01>y</p\x01>z") == "x\nyz");
    CHECK(text_both_ways("<averyveryverylongtagname-x>in</averyveryverylongtagname-y>out") == "inout");
    CHECK(html_to_text("<b>x</b").text == "x");
}

TEST_CASE("a start tag ends at the first '>' outside a value quoted after '='") {
    // An unquoted value holding '=' and a quote: the quoted part still hides the '>' inside it.
    CHECK(text_both_ways("<p title=a=\"b>c\" hidden>x</p>y") == "y");
    CHECK(text_both_ways("<p title=a==\" x>\" style=\"display:none\">x</p>y") == "y");
    CHECK(text_both_ways("<p title=a>b\">c</p>") == "b\">c");
    CHECK(text_both_ways("<p title=\"a>b\" x='c>d'>e</p>") == "e");
}

TEST_CASE("inline styles hide wherever the declaration stands in them, and only the first style counts") {
    CHECK(text_both_ways("<p style=\":display:none\">x</p>").empty());
    CHECK(text_both_ways("<p style=\"color:red;font-family:Arial;padding:0 0 0 0;display :none\">hidden</p>"
                         "shown") == "shown");
    CHECK(text_both_ways("<p style=\"color:red;font-family:Arial;padding:0;margin:0;visibility\n:\nhidden\">"
                         "hidden</p>shown") == "shown");
    CHECK(text_both_ways("<p style=\"font-family:Arial;display:block\">shown</p>") == "shown");
    CHECK(text_both_ways("<p HIDDEN>h</p><p Style=\"DISPLAY:NONE\">s</p><p styles=\"display:none\">x</p>") ==
          "x");
    CHECK(text_both_ways("<p style=\"color:red\" style=\"display:none\">x</p>") == "x");
}

TEST_CASE("long runs of text keep single spaces and fold the rest, and &amp; decodes once") {
    CHECK(text_both_ways("<p>one two  three\n\n\tfour five six seven eight nine ten</p>") ==
          "one two three four five six seven eight nine ten");
    CHECK(text_both_ways("<p>Fish &amp; chips &amp;amp; more</p>") == "Fish & chips &amp; more");
    const HtmlText t = html_to_text("<a HREF=\"https://e.example/?a=1&amp;b=2&amp;c=3\">l</a>");
    REQUIRE(t.links.size() == 1);
    CHECK(t.links[0].href == "https://e.example/?a=1&b=2&c=3");
}

namespace {

// Hands out links whose strings hold another message's bytes' capacity, as mime_parser's spares do.
class UsedLinks final : public presend::LinkPool {
  public:
    presend::Link take() override {
        ++taken;
        presend::Link link;
        link.href.reserve(200);
        link.text.reserve(40);
        return link;
    }
    int taken = 0;
};

} // namespace

TEST_CASE("append_html_text writes after what the caller's buffers hold, the same as html_to_text") {
    const std::string html =
        "\n<p>  Hello <a href=\" https://e.example/a \">the <b>shop</b></a></p><div>end</div>\n"
        "<a href=\"https://e.example/hidden\" style=\"display:none\">x</a><br><br>";
    const HtmlText alone = html_to_text(html);
    REQUIRE(alone.text == "Hello the shop\nend");
    REQUIRE(alone.links.size() == 2);

    presend::HtmlWorkspace workspace;
    UsedLinks pool;
    std::string text = "before\n";
    std::vector<presend::Link> links = {{"https://first.example/", "first"}};
    const bool simplified = presend::append_html_text(html, text, links, workspace, &pool);
    CHECK_FALSE(simplified);
    // Folding starts afresh after the caller's text: no space is put in before the first word, and only this
    // document's trailing line breaks are trimmed.
    CHECK(text == "before\n" + alone.text);
    REQUIRE(links.size() == 3);
    CHECK(links[0].href == "https://first.example/");
    CHECK(links[1].href == alone.links[0].href);
    CHECK(links[1].text == alone.links[0].text);
    CHECK(links[2].href == alone.links[1].href);
    CHECK(links[2].text.empty()); // hidden
    CHECK(pool.taken == 2);

    // The same workspace again, after a document that left elements open and a long href.
    text.clear();
    links.clear();
    presend::append_html_text("<table><tr><td><a href=\"" + std::string(5000, 'x') + "\"><span>open", text,
                              links, workspace, &pool);
    CHECK(text == "open");
    text.clear();
    links.clear();
    presend::append_html_text(html, text, links, workspace, &pool);
    CHECK(text == alone.text);
    REQUIRE(links.size() == 2);
    CHECK(links[0].text == alone.links[0].text);
    workspace.release_if_large(1024);
    text.clear();
    links.clear();
    presend::append_html_text(html, text, links, workspace);
    CHECK(text == alone.text);
}
