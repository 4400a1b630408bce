// daemon_metrics: see presend/daemon_metrics.hpp. docs/metrics.md lists every metric; keep both in step.
#include "presend/daemon_metrics.hpp"

#include "presend/limits.hpp"

namespace presend {

namespace {

std::string_view stage_name(Stage stage) {
    switch (stage) {
    case Stage::parse:
        return "parse";
    case Stage::inspect:
        return "inspect";
    case Stage::decide:
        return "decide";
    case Stage::eom:
        return "eom";
    }
    return "?";
}

} // namespace

DaemonMetrics::DaemonMetrics()
    : m_messages(m_registry.counter("presend_messages_total",
                                    "Messages judged, by action applied, would-be action (what the rules ask "
                                    "for, also in dry-run) and mode.",
                                    {"mode", "action", "would_action"})),
      m_tenant_messages(
          m_registry.counter("presend_tenant_messages_total",
                             "Messages judged, by tenant (\"none\" when the message names none).", {"tenant"},
                             k_max_tenant_labels)),
      m_rule_hits(m_registry.counter("presend_rule_hits_total",
                                     "Rule hits, by rule id (monitor-mode rules included).", {"rule"},
                                     k_max_rule_labels)),
      m_stage_seconds(m_registry.histogram("presend_stage_duration_seconds",
                                           "Time spent per message in each stage: parse, inspect, decide, "
                                           "and eom (all end-of-message handling).",
                                           metrics::latency_buckets(), {"stage"})),
      m_oversize(m_registry.counter("presend_oversize_messages_total",
                                    "Messages over limits.max_message_bytes, judged on their headers only.")),
      m_limits_exceeded(m_registry.counter("presend_limits_exceeded_total",
                                           "Messages past a limit of the limits: section, by its key "
                                           "(max_headers, max_urls, time_budget_ms...).",
                                           {"limit"}, k_limit_facts.size())),
      m_milter_errors(m_registry.counter("presend_milter_errors_total",
                                         "Internal errors answered with on_error, by milter step.",
                                         {"step"})),
      m_reloads(
          m_registry.counter("presend_reloads_total", "Reloads of config and rules attempted (SIGHUP).")),
      m_reload_failures(m_registry.counter("presend_reload_failures_total",
                                           "Reloads that failed and kept the running config and rules.")),
      m_rules_loaded(m_registry.gauge("presend_rules_loaded", "Rules in the rule set in force.")),
      m_store_errors(m_registry.counter("presend_store_errors_total",
                                        "Store operations that failed, by store backend.", {"store"},
                                        k_max_store_labels)),
      m_rate_checks(m_registry.counter("presend_rate_checks_total",
                                       "Recipients the volume guard checked at RCPT TO, by destination group.",
                                       {"group"}, k_max_group_labels)),
      m_rate_limited(m_registry.counter("presend_rate_limited_total",
                                        "Recipients over a sending rate or warm-up cap (deferred in enforce, "
                                        "recorded in dry-run), by the scope of the limit and destination group.",
                                        {"scope", "group"}, k_max_group_labels * 4)),
      m_backoff_factor(m_registry.gauge("presend_backoff_factor",
                                        "Share of its rate a destination group may use (1: no back-off), from "
                                        "throttling replies in Postfix's log.",
                                        {"group"}, k_max_group_labels)),
      m_throttle_events(m_registry.counter("presend_throttle_events_total",
                                           "Throttling replies read from Postfix's log, by destination group and "
                                           "the signature that matched.",
                                           {"group", "signature"}, k_max_throttle_labels)),
      m_build_info(m_registry.gauge("presend_build_info", "Always 1; the version of the running presend.",
                                    {"version"}, 1)) {
    // Every stage and limit shows its zero from the first scrape, so rate() has a starting point.
    for (auto stage : {Stage::parse, Stage::inspect, Stage::decide, Stage::eom})
        m_stage_children.at(static_cast<std::size_t>(stage)) = &m_stage_seconds.with({stage_name(stage)});
    for (const auto& limit : k_limit_facts)
        m_limits_exceeded.with({limit.key});
    m_build_info.with({PRESEND_VERSION}).set(1);
}

void DaemonMetrics::message(std::string_view tenant, const Verdict& verdict) {
    const auto index = [](auto value) { return static_cast<std::size_t>(value); };
    auto& slot = m_message_children.at((index(verdict.mode) * k_actions + index(verdict.action)) * k_actions +
                                       index(verdict.would_action));
    metrics::Counter* counter = slot.load(std::memory_order_acquire);
    if (!counter) {
        counter = &m_messages.with(
            {to_string(verdict.mode), to_string(verdict.action), to_string(verdict.would_action)});
        slot.store(counter, std::memory_order_release);
    }
    counter->inc();
    m_tenant_messages.with({tenant.empty() ? k_no_tenant : tenant}).inc();
    for (const auto& hit : verdict.hits)
        m_rule_hits.with({hit.rule}).inc();
}

void DaemonMetrics::stage_latency(Stage stage, std::chrono::microseconds elapsed) {
    m_stage_children.at(static_cast<std::size_t>(stage))
        ->observe(std::chrono::duration<double>(elapsed).count());
}

void DaemonMetrics::oversize() {
    m_oversize.with({}).inc();
}

void DaemonMetrics::limit_exceeded(std::string_view limit) {
    m_limits_exceeded.with({limit}).inc();
}

void DaemonMetrics::milter_error(std::string_view step) {
    m_milter_errors.with({step}).inc();
}

void DaemonMetrics::reload(bool ok) {
    m_reloads.with({}).inc();
    if (!ok) m_reload_failures.with({}).inc();
}

void DaemonMetrics::rules_loaded(std::size_t rules) {
    m_rules_loaded.with({}).set(static_cast<double>(rules));
}

void DaemonMetrics::store_error(std::string_view store) {
    m_store_errors.with({store}).inc();
}

void DaemonMetrics::rate_check(std::string_view group) {
    m_rate_checks.with({group}).inc();
}

void DaemonMetrics::rate_limited(std::string_view scope, std::string_view group) {
    m_rate_limited.with({scope, group}).inc();
}

void DaemonMetrics::backoff_factor(std::string_view group, double factor) {
    m_backoff_factor.with({group}).set(factor);
}

void DaemonMetrics::throttle_event(std::string_view group, std::string_view signature) {
    m_throttle_events.with({group, signature}).inc();
}

DaemonMetrics& daemon_metrics() {
    static DaemonMetrics instance;
    return instance;
}

} // namespace presend
