// metrics_server: the worker's Prometheus endpoint, GET /metrics over HTTP with cpp-httplib; every other
// path is 404. Started by the worker after fork (the counters live there) and never by the supervisor.
// Two threads serve it, each request bounded by k_metrics_io_timeout_s, one request per connection: a
// scraper asks every few seconds, and nothing on this page is worth a thread of the milter. Hazard:
// cpp-httplib 0.11 queues accepted connections for those threads without a limit; each costs a few bytes
// and at most the timeout, which is why the endpoint stays on loopback unless allow_remote is set.
#pragma once

#include "presend/config.hpp"

#include <memory>
#include <string>

namespace presend::daemon {

class MetricsServer {
  public:
    // Binds config.host:config.port (SO_REUSEADDR, so a restarted worker binds at once; never SO_REUSEPORT,
    // so a second presend on the same port fails instead of sharing it) and serves in the background.
    // Throws std::runtime_error when the address cannot be bound.
    explicit MetricsServer(const MetricsConfig& config);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace presend::daemon
