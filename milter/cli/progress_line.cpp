// progress_line: see progress_line.hpp.
#include "cli/progress_line.hpp"

#include <cstdio>
#include <unistd.h>

namespace presend::cli {

namespace {

std::string percent(std::uint64_t done, std::uint64_t total) {
    char buf[16];
    std::snprintf(buf, sizeof buf, " (%.0f%%)",
                  100.0 * static_cast<double>(done) / static_cast<double>(total));
    return buf;
}

std::string megabytes(std::uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(bytes) / 1e6);
    return buf;
}

} // namespace

ProgressMeter::ProgressMeter(std::string label, std::string unit, ProgressClock::time_point start)
    : m_label(std::move(label)), m_unit(std::move(unit)), m_start(start) {}

std::optional<std::string> ProgressMeter::update(const ProgressCounts& counts,
                                                 ProgressClock::time_point now) {
    if (now - m_start < k_progress_delay) return std::nullopt;
    if (m_last && now - *m_last < k_progress_interval) return std::nullopt;
    m_last = now;
    return format(m_label, m_unit, counts, std::chrono::duration<double>(now - m_start).count());
}

std::string ProgressMeter::format(std::string_view label, std::string_view unit, const ProgressCounts& counts,
                                  double seconds) {
    std::string line(label);
    line += ": ";
    if (counts.total_bytes > 0)
        line += megabytes(counts.bytes) + " of " + megabytes(counts.total_bytes) + " MB" +
                percent(counts.bytes, counts.total_bytes) + ", ";
    else if (counts.bytes > 0)
        line += megabytes(counts.bytes) + " MB, ";
    line += std::to_string(counts.items);
    if (counts.total_items > 0)
        line += " of " + std::to_string(counts.total_items) + " " + std::string(unit) +
                percent(counts.items, counts.total_items);
    else
        line += " " + std::string(unit);
    if (seconds > 0) {
        char rate[48];
        std::snprintf(rate, sizeof rate, ", %.0f %.*s/s", static_cast<double>(counts.items) / seconds,
                      static_cast<int>(unit.size()), unit.data());
        line += rate;
    }
    return line;
}

ProgressLine::ProgressLine(std::string label, std::string unit)
    : m_enabled(::isatty(STDERR_FILENO) == 1),
      m_meter(std::move(label), std::move(unit), ProgressClock::now()) {}

ProgressLine::~ProgressLine() {
    if (m_shown) std::fputs("\r\033[K", stderr);
}

void ProgressLine::update(const ProgressCounts& counts) {
    if (!m_enabled) return;
    if (auto line = m_meter.update(counts, ProgressClock::now())) {
        // \033[K clears what a longer earlier line left behind.
        std::fprintf(stderr, "\r%s\033[K", line->c_str());
        std::fflush(stderr);
        m_shown = true;
    }
}

} // namespace presend::cli
