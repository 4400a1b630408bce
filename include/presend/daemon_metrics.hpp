// daemon_metrics: what `presend serve` counts, one named function per event, over presend/metrics.hpp.
// Called by the milter callbacks (messages, stage latency, oversize, limits, errors), the worker's control
// thread (reloads, rules loaded), the stores (store errors) and the feedback follower (back-off); rendered by the worker's /metrics endpoint
// (daemon/metrics_server.cpp). One instance per process, created on first use: the supervisor never uses
// it, so every worker starts from zero (a counter reset to Prometheus).
#pragma once

#include "presend/metrics.hpp"
#include "presend/verdict.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace presend {

// Label sets per family. Rules: more than any real rule set; tenants: a platform's customers that send
// bulk mail in one day; stores: backend names, a handful.
constexpr std::size_t k_max_rule_labels = 1000;
constexpr std::size_t k_max_tenant_labels = 1000;
constexpr std::size_t k_max_store_labels = 16;
// Destination groups: the shipped four, "other", what a config adds and the domains that throttled on
// their own (docs/rates.md, docs/feedback.md); throttle events per group and signature.
constexpr std::size_t k_max_group_labels = 256;
constexpr std::size_t k_max_throttle_labels = 1000;

// The tenant label of a message that names none.
constexpr std::string_view k_no_tenant = "none";

enum class Stage { parse, inspect, decide, eom };

class DaemonMetrics {
  public:
    DaemonMetrics();

    // One judged message: its verdict (action, would-be action, mode), its rule hits, and its tenant
    // ("" counts as "none").
    void message(std::string_view tenant, const Verdict& verdict);
    void stage_latency(Stage stage, std::chrono::microseconds elapsed);
    void oversize();
    // A message passed a limit of presend.yaml's limits: section; limit is its key, e.g. "max_urls".
    void limit_exceeded(std::string_view limit);
    // An internal error answered with on_error; step is the milter step, e.g. "end of message".
    void milter_error(std::string_view step);
    void reload(bool ok);
    void rules_loaded(std::size_t rules);
    // A suppression (or other) store failed to answer; store names the backend, e.g. "redis".
    void store_error(std::string_view store);
    // The volume guard checked a recipient of this destination group (docs/rates.md).
    void rate_check(std::string_view group);
    // ... and found no token: scope is tenant, group, tenant-group or warmup.
    void rate_limited(std::string_view scope, std::string_view group);
    // A destination group's back-off factor changed (1.0: none); a throttle event was counted for it.
    void backoff_factor(std::string_view group, double factor);
    void throttle_event(std::string_view group, std::string_view signature);

    std::string render() const { return m_registry.render(); }

  private:
    metrics::Registry m_registry;
    metrics::CounterFamily& m_messages;
    metrics::CounterFamily& m_tenant_messages;
    metrics::CounterFamily& m_rule_hits;
    metrics::HistogramFamily& m_stage_seconds;
    metrics::CounterFamily& m_oversize;
    metrics::CounterFamily& m_limits_exceeded;
    metrics::CounterFamily& m_milter_errors;
    metrics::CounterFamily& m_reloads;
    metrics::CounterFamily& m_reload_failures;
    metrics::GaugeFamily& m_rules_loaded;
    metrics::CounterFamily& m_store_errors;
    metrics::CounterFamily& m_rate_checks;
    metrics::CounterFamily& m_rate_limited;
    metrics::GaugeFamily& m_backoff_factor;
    metrics::CounterFamily& m_throttle_events;
    metrics::GaugeFamily& m_build_info;

    // The children every message counts in, found once instead of per message: each stage's histogram
    // (created with the family), and presend_messages_total's per mode, action and would-be action, filled
    // on first use so the scrape shows only the label sets that occurred. A race fills a slot twice with the
    // same child.
    static constexpr std::size_t k_stages = 4;
    static constexpr std::size_t k_modes = 2;
    static constexpr std::size_t k_actions = static_cast<std::size_t>(Action::discard) + 1; // the last one
    std::array<metrics::Histogram*, k_stages> m_stage_children{};
    std::array<std::atomic<metrics::Counter*>, k_modes * k_actions * k_actions> m_message_children{};
};

// The process's instance.
DaemonMetrics& daemon_metrics();

} // namespace presend
