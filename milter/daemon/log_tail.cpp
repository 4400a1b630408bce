// log_tail: see log_tail.hpp.
#include "daemon/log_tail.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace presend::daemon {

namespace {

constexpr std::size_t k_read_chunk = 64 * 1024; // one read(2); a poll's budget is a few of these

} // namespace

LogTail::LogTail(std::string path) : m_path(std::move(path)) {}

LogTail::~LogTail() {
    close_file();
}

bool LogTail::open_file(bool at_end) {
    int fd;
    do {
        fd = ::open(m_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return false;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return false;
    }
    m_fd = fd;
    m_dev = st.st_dev;
    m_ino = st.st_ino;
    m_offset = at_end ? ::lseek(fd, 0, SEEK_END) : 0;
    if (m_offset < 0) m_offset = 0;
    return true;
}

void LogTail::close_file() {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
}

void LogTail::take_lines(const char* data, std::size_t size, std::vector<std::string>& out) {
    std::size_t start = 0;
    while (start < size) {
        const void* found = std::memchr(data + start, '\n', size - start);
        const std::size_t end = found ? static_cast<std::size_t>(static_cast<const char*>(found) - data) : size;
        if (!m_overlong) {
            const std::size_t room = k_max_log_line - m_partial.size();
            const std::size_t take = std::min(end - start, room);
            m_partial.append(data + start, take);
            if (take < end - start) m_overlong = true; // the cut line still goes out, once, at its newline
        }
        if (!found) break;
        out.push_back(std::move(m_partial));
        m_partial.clear();
        m_overlong = false;
        start = end + 1;
    }
}

void LogTail::flush_partial(std::vector<std::string>& out) {
    if (!m_partial.empty()) out.push_back(std::move(m_partial));
    m_partial.clear();
    m_overlong = false;
}

std::vector<std::string> LogTail::poll(std::size_t budget, bool* more) {
    std::vector<std::string> lines;
    m_event.clear();
    if (more) *more = false;
    if (m_fd < 0) {
        const bool at_end = m_first;
        m_first = false;
        if (!open_file(at_end)) {
            if (!m_missing) m_event = "missing";
            m_missing = true;
            return lines;
        }
        m_missing = false;
        m_event = "opened";
    }

    struct stat st {};
    if (::fstat(m_fd, &st) == 0 && st.st_size < m_offset) { // copytruncate: the file started over
        ::lseek(m_fd, 0, SEEK_SET);
        m_offset = 0;
        m_partial.clear();
        m_overlong = false;
        m_event = "truncated";
    }

    char buf[k_read_chunk];
    std::size_t done = 0;
    while (done < budget) {
        const ssize_t n = ::read(m_fd, buf, std::min(sizeof buf, budget - done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        take_lines(buf, static_cast<std::size_t>(n), lines);
        m_offset += n;
        done += static_cast<std::size_t>(n);
    }
    if (done >= budget) {
        if (more) *more = true;
        return lines;
    }

    // At the end of the file: has the name moved on to a new file? Until a new one exists, the old one
    // is kept (the writer may go on writing to it until it reopens).
    struct stat now {};
    if (::stat(m_path.c_str(), &now) == 0 && (now.st_ino != m_ino || now.st_dev != m_dev)) {
        flush_partial(lines); // the old file ended without a newline: its last line is complete now
        close_file();
        if (open_file(false)) {
            m_event = "rotated";
            if (more) *more = true; // read the new file at once
        }
    }
    return lines;
}

} // namespace presend::daemon
