// Tests for the GMime stream over borrowed bytes: reads, seeks, bounds and substreams behave as GMime's own
// memory stream does, and a part's bytes are found in place.
#include "engine/gmime_view_stream.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <mutex>
#include <string>

namespace {

struct Unref {
    void operator()(GMimeStream* s) const { g_object_unref(s); }
};
using StreamPtr = std::unique_ptr<GMimeStream, Unref>;

void init_gmime() {
    static std::once_flag s_init;
    std::call_once(s_init, [] { g_mime_init(); });
}

std::string read_all(GMimeStream* stream) {
    std::string out;
    char buf[3]; // small, so reads stop at the bound, not at the buffer
    gssize n;
    while ((n = g_mime_stream_read(stream, buf, sizeof buf)) > 0)
        out.append(buf, static_cast<std::size_t>(n));
    return out;
}

} // namespace

TEST_CASE("a view stream reads, seeks and bounds its substreams like GMime's memory stream") {
    init_gmime();
    const std::string bytes = "0123456789abcdef";
    StreamPtr stream(presend::view_stream_new(bytes));
    CHECK(g_mime_stream_length(stream.get()) == 16);
    CHECK(read_all(stream.get()) == bytes);
    CHECK(g_mime_stream_eos(stream.get()));
    CHECK(g_mime_stream_write(stream.get(), "x", 1) == -1); // the bytes are borrowed: never written
    CHECK(g_mime_stream_seek(stream.get(), 10, GMIME_STREAM_SEEK_SET) == 10);
    CHECK(read_all(stream.get()) == "abcdef");
    CHECK(g_mime_stream_seek(stream.get(), -4, GMIME_STREAM_SEEK_END) == 12);
    CHECK(g_mime_stream_tell(stream.get()) == 12);

    // Positions stay absolute in the whole range, as the parser's substreams need.
    StreamPtr sub(g_mime_stream_substream(stream.get(), 4, 9));
    CHECK(g_mime_stream_length(sub.get()) == 5);
    CHECK(g_mime_stream_tell(sub.get()) == 4);
    CHECK(read_all(sub.get()) == "45678");
    CHECK(g_mime_stream_eos(sub.get()));
    CHECK(g_mime_stream_reset(sub.get()) == 0);
    CHECK(read_all(sub.get()) == "45678");
    CHECK(g_mime_stream_seek(sub.get(), 0, GMIME_STREAM_SEEK_SET) == 4); // clamped to the bounds
    CHECK(g_mime_stream_seek(sub.get(), 100, GMIME_STREAM_SEEK_CUR) == 9);

    const auto in_place = presend::view_stream_bytes(sub.get());
    REQUIRE(in_place);
    CHECK(*in_place == "45678");
    CHECK(in_place->data() == bytes.data() + 4); // the caller's bytes, not a copy

    StreamPtr other(g_mime_stream_mem_new_with_buffer("x", 1));
    CHECK_FALSE(presend::view_stream_bytes(other.get()));
}
