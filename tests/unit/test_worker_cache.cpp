// WorkerCache: state a thread keeps for reuse goes to the next thread when it ends, so libmilter's
// coming and going workers do not start from nothing; the shelf keeps a bounded number of objects.
#include "engine/worker_cache.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace presend;

namespace {

std::atomic<int> g_cached_built{0};

struct CachedBuffers {
    CachedBuffers() { ++g_cached_built; }
    std::string text;
};

thread_local WorkerCache<CachedBuffers> t_cached_buffers;

// Runs `n` threads that each use t_cached_buffers at the same time, then end; returns the objects they used.
std::set<const CachedBuffers*> use_cache_together(int n) {
    std::mutex m;
    std::condition_variable cv;
    int arrived = 0;
    std::set<const CachedBuffers*> used;
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&] {
            CachedBuffers& b = *t_cached_buffers;
            std::unique_lock lock(m);
            used.insert(&b);
            if (++arrived == n) cv.notify_all();
            cv.wait(lock, [&] { return arrived == n; }); // every thread holds its object at once
        });
    }
    for (auto& t : threads)
        t.join();
    return used;
}

} // namespace

TEST_CASE("a WorkerCache object passes to the next thread when its thread ends") {
    const CachedBuffers* first = nullptr;
    std::thread([&] {
        t_cached_buffers->text.assign(1000, 'x');
        first = &*t_cached_buffers;
    }).join();
    const CachedBuffers* second = nullptr;
    std::size_t kept = 0;
    std::string seen;
    std::thread([&] {
        second = &*t_cached_buffers;
        kept = t_cached_buffers->text.capacity();
        seen = t_cached_buffers->text; // what the object holds is the user's to clear: mime_parser and inspect reset theirs
    }).join();
    CHECK(second == first);
    CHECK(kept >= 1000);
    CHECK(seen.size() == 1000);
}

TEST_CASE("the WorkerCache shelf keeps at most k_worker_cache_shelf objects") {
    const int n = static_cast<int>(k_worker_cache_shelf) + 6;
    const auto first = use_cache_together(n); // n objects in use at once, then n threads end
    REQUIRE(first.size() == static_cast<std::size_t>(n));
    const int built_before = g_cached_built.load();
    const auto second = use_cache_together(n);
    REQUIRE(second.size() == static_cast<std::size_t>(n));
    // The shelf gave back the objects it kept and built the rest anew.
    CHECK(g_cached_built.load() - built_before == n - static_cast<int>(k_worker_cache_shelf));
}
