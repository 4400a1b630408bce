// timed_run: runs one operation n times over a few threads and times each call, for the store benchmarks
// (`presend suppress bench`, `presend rates bench`). Header-only: one small template.
#pragma once

#include <algorithm>
#include <chrono>
#include <ctime>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace presend::cli {

struct TimedRun {
    std::size_t calls = 0;
    double seconds = 0;     // wall clock
    double cpu_seconds = 0; // of the calling threads: the figure that holds on a busy host
    std::vector<float> latencies_us; // sorted

    double percentile(double p) const {
        if (latencies_us.empty()) return 0;
        const auto i = std::min(latencies_us.size() - 1,
                                static_cast<std::size_t>(p * static_cast<double>(latencies_us.size())));
        return static_cast<double>(latencies_us[i]);
    }
    double max() const { return latencies_us.empty() ? 0 : static_cast<double>(latencies_us.back()); }
};

inline double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Calls op(i, thread) for every i in [0, n), thread t taking i = t, t + threads, ... The first exception a
// thread meets ends that thread and is thrown again (as std::runtime_error with its text) after all joined.
template <class Op> TimedRun timed_run(std::size_t n, unsigned threads, Op&& op) {
    using WallClock = std::chrono::steady_clock;
    std::vector<std::vector<float>> latencies(threads);
    std::vector<std::string> errors(threads);
    std::vector<double> cpu(threads, 0.0);
    const auto start = WallClock::now();
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            auto& lat = latencies[t];
            lat.reserve(n / threads + 1);
            const double cpu0 = thread_cpu_seconds();
            try {
                for (std::size_t i = t; i < n; i += threads) {
                    const auto t0 = WallClock::now();
                    op(i, t);
                    lat.push_back(std::chrono::duration<float, std::micro>(WallClock::now() - t0).count());
                }
            } catch (const std::exception& e) {
                errors[t] = e.what();
            }
            cpu[t] = thread_cpu_seconds() - cpu0;
        });
    for (auto& w : workers)
        w.join();
    TimedRun run;
    run.calls = n;
    run.seconds = std::chrono::duration<double>(WallClock::now() - start).count();
    for (const auto& e : errors)
        if (!e.empty()) throw std::runtime_error(e);
    for (unsigned t = 0; t < threads; ++t) {
        run.latencies_us.insert(run.latencies_us.end(), latencies[t].begin(), latencies[t].end());
        run.cpu_seconds += cpu[t];
    }
    std::sort(run.latencies_us.begin(), run.latencies_us.end());
    return run;
}

} // namespace presend::cli
