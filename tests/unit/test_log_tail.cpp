// log_tail: following a log file from its end through appends, partial lines, rename rotation,
// copytruncate and a file that appears late.
#include "daemon/log_tail.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using presend::daemon::k_max_log_line;
using presend::daemon::LogTail;
using presend::test::TempDir;

namespace {

using Lines = std::vector<std::string>;
constexpr std::size_t k_budget = 1 << 20;

// A log in a fresh directory and its follower; initial: what the file holds when following starts
// (nullptr: it does not exist yet).
struct Followed {
    explicit Followed(const char* initial) : log(dir.path() / "mail.log"), tail(log.string()) {
        if (initial) append(initial);
        first = tail.poll(k_budget);
    }
    void append(const std::string& text, const std::string& name = "mail.log") const {
        std::ofstream(dir.path() / name, std::ios::binary | std::ios::app) << text;
    }
    Lines poll(bool* more = nullptr) { return tail.poll(k_budget, more); }

    TempDir dir;
    std::filesystem::path log;
    LogTail tail;
    Lines first;
};

} // namespace

TEST_CASE("a followed log starts at its end and gives whole lines only") {
    Followed f("old line 1\nold line 2\n");
    CHECK(f.first.empty());
    CHECK(f.tail.event() == "opened");
    f.append("new 1\nnew 2\npart");
    CHECK(f.poll() == Lines{"new 1", "new 2"});
    f.append("ial\n");
    CHECK(f.poll() == Lines{"partial"});
    CHECK(f.poll().empty());
}

TEST_CASE("a renamed log is read to its end, then the new file from its start") {
    Followed f("");
    f.append("before\nlast without newline");
    std::filesystem::rename(f.log, f.dir.path() / "mail.log.1");
    CHECK(f.poll() == Lines{"before"}); // no new file yet: the old one is kept
    f.append("\nwritten late to the old file\n", "mail.log.1");
    f.append("first of the new file\n");
    bool more = false;
    CHECK(f.poll(&more) == Lines{"last without newline", "written late to the old file"});
    CHECK(f.tail.event() == "rotated");
    CHECK(more);
    CHECK(f.poll() == Lines{"first of the new file"});
}

TEST_CASE("a copytruncated log is read again from its start") {
    Followed f("x\n");
    f.append("one\ntwo\n");
    CHECK(f.poll() == Lines{"one", "two"});
    std::filesystem::resize_file(f.log, 0);
    f.append("three\n");
    CHECK(f.poll() == Lines{"three"});
    CHECK(f.tail.event() == "truncated");
}

TEST_CASE("a log that does not exist yet is read from its start once it does") {
    Followed f(nullptr);
    CHECK(f.first.empty());
    CHECK(f.tail.event() == "missing");
    CHECK(f.poll().empty());
    CHECK(f.tail.event().empty()); // said once
    f.append("hello\n");
    CHECK(f.poll() == Lines{"hello"});
    CHECK(f.tail.event() == "opened");
}

TEST_CASE("reads are bounded by the budget and overlong lines are cut") {
    Followed f("");
    f.append(std::string(k_max_log_line + 500, 'a') + "\nshort\n");
    bool more = false;
    Lines lines = f.tail.poll(1000, &more);
    CHECK(lines.empty());
    CHECK(more);
    while (more) {
        auto next = f.tail.poll(4096, &more);
        lines.insert(lines.end(), next.begin(), next.end());
    }
    auto rest = f.poll();
    lines.insert(lines.end(), rest.begin(), rest.end());
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].size() == k_max_log_line);
    CHECK(lines[1] == "short");
}
