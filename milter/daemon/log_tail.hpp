// log_tail: follows a growing log file as `tail -F` does, for the feedback follower
// (daemon/feedback_follower.cpp). Starts at the end of the file, so a restart does not replay old
// lines; survives rotation by rename (the old file is read to its end, then the new one from its start),
// copytruncate (a file shorter than what was read is read again from its start), and a file that does not
// exist yet (read from its start once it appears). Only whole lines come out; a partial last line waits
// for its newline. Never blocks: each poll() reads at most its budget. Not thread-safe; one reader.
#pragma once

#include <cstddef>
#include <string>
#include <sys/types.h>
#include <vector>

namespace presend::daemon {

// Longer lines are cut here: a Postfix line is a few kilobytes at most; more is not Postfix.
constexpr std::size_t k_max_log_line = 16 * 1024;

class LogTail {
  public:
    explicit LogTail(std::string path);
    ~LogTail();
    LogTail(const LogTail&) = delete;
    LogTail& operator=(const LogTail&) = delete;

    // The whole lines appended since the last call, reading at most budget bytes. more is set when the
    // budget ran out before the end of the file.
    std::vector<std::string> poll(std::size_t budget, bool* more = nullptr);

    bool open() const { return m_fd >= 0; }
    const std::string& path() const { return m_path; }
    // What happened last poll, for one log line each: "" or "opened", "rotated", "truncated", "missing".
    const std::string& event() const { return m_event; }

  private:
    bool open_file(bool at_end);
    void close_file();
    void take_lines(const char* data, std::size_t size, std::vector<std::string>& out);
    void flush_partial(std::vector<std::string>& out);

    std::string m_path;
    int m_fd = -1;
    dev_t m_dev = 0;
    ino_t m_ino = 0;
    off_t m_offset = 0;
    bool m_first = true;     // the first open starts at the end; later ones at the start
    bool m_missing = false;  // the last open failed (reported once, as "missing")
    std::string m_partial;   // a line without its newline yet
    bool m_overlong = false; // m_partial passed k_max_log_line: the rest up to the newline is dropped
    std::string m_event;
};

} // namespace presend::daemon
