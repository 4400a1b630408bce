// progress_line: one line of progress on stderr for long CLI jobs (`presend report`, `presend suppress
// import`): items and bytes done, of a total when known, and a rate, redrawn in place with \r. Shown only
// when stderr is a terminal, never before k_progress_delay (a quick job shows nothing) and at most once per
// k_progress_interval. ProgressMeter is the throttle and the formatter, with time passed in so tests can
// drive it; ProgressLine writes what it returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace presend::cli {

using ProgressClock = std::chrono::steady_clock;

constexpr auto k_progress_delay = std::chrono::seconds(1);
constexpr auto k_progress_interval = std::chrono::milliseconds(250); // four redraws a second: readable, cheap

struct ProgressCounts {
    std::uint64_t items = 0;
    std::uint64_t total_items = 0; // 0: unknown
    std::uint64_t bytes = 0;
    std::uint64_t total_bytes = 0; // 0: unknown or not counted
};

class ProgressMeter {
  public:
    // label starts the line ("decisions.jsonl"); unit names the items ("lines", "entries").
    ProgressMeter(std::string label, std::string unit, ProgressClock::time_point start);

    // The line to show at now, or nothing when the job is younger than k_progress_delay or the last line
    // is younger than k_progress_interval.
    std::optional<std::string> update(const ProgressCounts& counts, ProgressClock::time_point now);

    // "label: 12.3 of 45.6 MB (27%), 123456 lines, 45678 lines/s" (the parts that are known).
    static std::string format(std::string_view label, std::string_view unit, const ProgressCounts& counts,
                              double seconds);

  private:
    std::string m_label, m_unit;
    ProgressClock::time_point m_start;
    std::optional<ProgressClock::time_point> m_last;
};

class ProgressLine {
  public:
    ProgressLine(std::string label, std::string unit); // on only when stderr is a terminal
    ~ProgressLine();                                   // clears the line if one was drawn
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

    void update(const ProgressCounts& counts);

  private:
    bool m_enabled;
    bool m_shown = false;
    ProgressMeter m_meter;
};

} // namespace presend::cli
