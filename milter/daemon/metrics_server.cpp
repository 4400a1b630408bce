// metrics_server: see metrics_server.hpp. The page is daemon_metrics().render(), built per request.
#include "daemon/metrics_server.hpp"

#include "presend/daemon_metrics.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>

namespace presend::daemon {

namespace {

// Threads serving requests: one scrape at a time is the normal load, two lets a slow client not block it.
constexpr std::size_t k_metrics_threads = 2;
// Read and write timeout per request: a scrape answers in milliseconds; a client slower than this is stuck.
constexpr time_t k_metrics_io_timeout_s = 5;
// A GET carries no body; anything larger is not a scraper.
constexpr std::size_t k_metrics_max_payload = 1024;

// How long a server being destroyed waits for its thread to start listening, so stop() reaches it.
constexpr auto k_start_wait = std::chrono::seconds(5);

constexpr const char* k_content_type = "text/plain; version=0.0.4; charset=utf-8";

} // namespace

struct MetricsServer::Impl {
    httplib::Server server;
    std::atomic<bool> listen_returned{false};
    std::thread thread;
};

MetricsServer::MetricsServer(const MetricsConfig& config) : m_impl(std::make_unique<Impl>()) {
    auto& server = m_impl->server;
    server.new_task_queue = [] { return new httplib::ThreadPool(k_metrics_threads); };
    server.set_socket_options([](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server.set_read_timeout(k_metrics_io_timeout_s);
    server.set_write_timeout(k_metrics_io_timeout_s);
    server.set_keep_alive_max_count(1);
    server.set_payload_max_length(k_metrics_max_payload);
    server.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(daemon_metrics().render(), k_content_type);
    });
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (res.status == 404) res.set_content("not found; metrics are at /metrics\n", "text/plain");
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content("internal error\n", "text/plain");
    });
    if (!server.bind_to_port(config.host, config.port))
        throw std::runtime_error("metrics: cannot listen on " + config.listen +
                                 " (in use, or not an address of this host?)");
    m_impl->thread = std::thread([impl = m_impl.get()] {
        impl->server.listen_after_bind();
        impl->listen_returned = true;
    });
}

MetricsServer::~MetricsServer() {
    // stop() only reaches a server that has started listening; one stopped before that would listen forever.
    const auto deadline = std::chrono::steady_clock::now() + k_start_wait;
    while (!m_impl->server.is_running() && !m_impl->listen_returned &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    m_impl->server.stop();
    if (m_impl->thread.joinable()) m_impl->thread.join();
}

} // namespace presend::daemon
