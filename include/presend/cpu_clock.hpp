// cpu_clock: the CPU time of this process, as a std::chrono clock. `presend bench` times its stages with it
// (StageSplit), so figures hold on a machine busy with other work; the bench runs one message at a time on
// one thread (a big message's parse thread is joined before it goes on), so the process's CPU time is the
// stage's. A read is one clock_gettime call, a fraction of a microsecond.
#pragma once

#include <chrono>

#include <time.h>

namespace presend {

struct CpuClock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<CpuClock>;
    static constexpr bool is_steady = true;

    static time_point now() noexcept {
        timespec ts{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
    }
};

} // namespace presend
