// The progress line of long CLI jobs: what it says, and how often it may say it.
#include "cli/progress_line.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <thread>
#include <unistd.h>

using namespace presend::cli;
using namespace std::chrono_literals;

TEST_CASE("progress format: bytes of a known total, items and rate") {
    CHECK(ProgressMeter::format("reading", "lines", {120000, 0, 12'300'000, 45'600'000}, 2.0) ==
          "reading: 12.3 of 45.6 MB (27%), 120000 lines, 60000 lines/s");
}

TEST_CASE("progress format: items of a known total without bytes") {
    CHECK(ProgressMeter::format("list.csv: writing", "entries", {10000, 40000, 0, 0}, 4.0) ==
          "list.csv: writing: 10000 of 40000 entries (25%), 2500 entries/s");
}

TEST_CASE("progress format: standard input, bytes without a total") {
    CHECK(ProgressMeter::format("-: reading", "lines", {50000, 0, 2'500'000, 0}, 0.5) ==
          "-: reading: 2.5 MB, 50000 lines, 100000 lines/s");
    CHECK(ProgressMeter::format("x", "lines", {7, 0, 0, 0}, 0) == "x: 7 lines");
}

TEST_CASE("progress is quiet for the first second, then at most four lines a second") {
    const auto t0 = ProgressClock::time_point{} + 100s;
    ProgressMeter meter("reading", "lines", t0);
    const ProgressCounts counts{1000, 0, 0, 0};
    CHECK_FALSE(meter.update(counts, t0));
    CHECK_FALSE(meter.update(counts, t0 + 999ms));
    const auto first = meter.update(counts, t0 + 1s);
    REQUIRE(first);
    CHECK(*first == "reading: 1000 lines, 1000 lines/s");
    CHECK_FALSE(meter.update(counts, t0 + 1s + 100ms));
    CHECK_FALSE(meter.update(counts, t0 + 1s + 249ms));
    CHECK(meter.update(counts, t0 + 1s + 250ms));
    CHECK_FALSE(meter.update(counts, t0 + 1s + 400ms));
    CHECK(meter.update(counts, t0 + 2s));
}

TEST_CASE("progress counts updates over a simulated run: a few redraws per second, never more") {
    const auto t0 = ProgressClock::time_point{} + 100s;
    ProgressMeter meter("reading", "lines", t0);
    int shown = 0;
    for (int ms = 0; ms <= 10000; ms += 10) // an update every 10 ms for 10 s
        if (meter.update({static_cast<std::uint64_t>(ms), 0, 0, 0}, t0 + std::chrono::milliseconds(ms)))
            ++shown;
    CHECK(shown == 37); // at 1.00 s, then every 0.25 s up to 10.00 s
}

TEST_CASE("a progress line with stderr on a file prints nothing, however long the job") {
    std::FILE* capture = std::tmpfile();
    REQUIRE(capture);
    std::fflush(stderr);
    const int saved = ::dup(STDERR_FILENO);
    ::dup2(::fileno(capture), STDERR_FILENO);
    {
        ProgressLine line("reading", "lines");
        const auto until = ProgressClock::now() + 1300ms; // past k_progress_delay and a redraw interval
        for (std::uint64_t i = 0; ProgressClock::now() < until; ++i) {
            line.update({i, 0, 0, 0});
            std::this_thread::sleep_for(5ms);
        }
    }
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    CHECK(std::ftell(capture) == 0);
    std::fclose(capture);
}
