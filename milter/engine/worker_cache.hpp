// State kept per thread for reuse that outlives the thread.
//
// The parser and the scan keep buffers from one message to the next (parse spares, the scan's per-pattern
// counters, iconv descriptors), one set per thread so no lock is taken per message. libmilter as Debian
// builds it runs a pool of workers: it starts a thread when a command arrives and every worker is busy, and
// ends one when more than one sits idle. Under load, with 20 MTA connections, threads come and go every
// message or two, and state held in plain thread_locals died with them: every new thread parsed its first
// message with nothing reused and sized its scan counters to the number of patterns again.
//
// A WorkerCache<T> is declared thread_local in place of the T. Its object comes from a process-wide shelf
// the first time a thread uses it and goes back to the shelf when the thread ends, so the next thread starts
// with the buffers the last one grew. The shelf takes a lock twice per thread, never per message.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace presend {

// How many objects of one kind the shelf keeps. More threads than this ending at once (more than that many
// MTA connections busy together, then quiet) free the rest. Each object is bounded by its own type's cap on
// what it keeps (mime_parser.cpp's k_keep_scratch), so the shelf is bounded too.
constexpr std::size_t k_worker_cache_shelf = 64;

template <class T>
class WorkerCache {
  public:
    WorkerCache() : m_item(shelf().take()) {}
    ~WorkerCache() { shelf().put(std::move(m_item)); }
    WorkerCache(const WorkerCache&) = delete;
    WorkerCache& operator=(const WorkerCache&) = delete;

    T& operator*() { return *m_item; }
    T* operator->() { return m_item.get(); }

  private:
    class Shelf {
      public:
        std::unique_ptr<T> take() {
            {
                std::lock_guard lock(m_mutex);
                if (!m_items.empty()) {
                    auto item = std::move(m_items.back());
                    m_items.pop_back();
                    return item;
                }
            }
            return std::make_unique<T>();
        }
        void put(std::unique_ptr<T> item) {
            std::unique_lock lock(m_mutex);
            if (m_items.size() >= k_worker_cache_shelf) {
                lock.unlock();
                return; // item is freed here, outside the lock
            }
            m_items.push_back(std::move(item));
        }

      private:
        std::mutex m_mutex;
        std::vector<std::unique_ptr<T>> m_items;
    };

    // Never destroyed: threads, the main one included, may end after static objects are gone.
    static Shelf& shelf() {
        static Shelf* const s = new Shelf;
        return *s;
    }

    std::unique_ptr<T> m_item;
};

} // namespace presend
