// Metrics: the exact Prometheus text (HELP/TYPE, escaping, cumulative buckets), bounded label sets, and
// exact totals under concurrent updates.
#include "presend/daemon_metrics.hpp"
#include "presend/metrics.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <thread>
#include <vector>

using namespace presend;
using namespace presend::metrics;

TEST_CASE("counters and gauges render as HELP, TYPE and one line per label set, sorted") {
    Registry registry;
    auto& messages = registry.counter("x_messages_total", "Messages by action.", {"action", "mode"});
    auto& up = registry.gauge("x_up", "Whether it runs.");
    messages.with({"reject", "enforce"}).inc(2);
    messages.with({"accept", "enforce"}).inc();
    up.with({}).set(1);
    CHECK(registry.render() == "# HELP x_messages_total Messages by action.\n"
                               "# TYPE x_messages_total counter\n"
                               "x_messages_total{action=\"accept\",mode=\"enforce\"} 1\n"
                               "x_messages_total{action=\"reject\",mode=\"enforce\"} 2\n"
                               "# HELP x_up Whether it runs.\n"
                               "# TYPE x_up gauge\n"
                               "x_up 1\n");
}

TEST_CASE("an unlabelled counter shows 0 before its first increment; a labelled family shows no samples") {
    Registry registry;
    registry.counter("x_reloads_total", "Reloads.");
    registry.counter("x_hits_total", "Hits.", {"rule"});
    CHECK(registry.render() == "# HELP x_reloads_total Reloads.\n"
                               "# TYPE x_reloads_total counter\n"
                               "x_reloads_total 0\n"
                               "# HELP x_hits_total Hits.\n"
                               "# TYPE x_hits_total counter\n");
}

TEST_CASE("label values escape backslash, double quote and newline; HELP escapes backslash and newline") {
    Registry registry;
    auto& family = registry.counter("x_total", "A \\ and a\nnewline \"kept\".", {"tenant"});
    family.with({"a\\b\"c\nd"}).inc();
    CHECK(registry.render() == "# HELP x_total A \\\\ and a\\nnewline \"kept\".\n"
                               "# TYPE x_total counter\n"
                               "x_total{tenant=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST_CASE("a histogram writes cumulative buckets with +Inf, then _sum and _count") {
    Registry registry;
    auto& family = registry.histogram("x_seconds", "Latency.", {0.25, 0.5, 1}, {"stage"});
    auto& parse = family.with({"parse"});
    parse.observe(0.125); // values exact in binary, so the sum is exact
    parse.observe(0.25);  // on a bound: counts in that bucket (le)
    parse.observe(0.75);
    parse.observe(32);
    CHECK(registry.render() == "# HELP x_seconds Latency.\n"
                               "# TYPE x_seconds histogram\n"
                               "x_seconds_bucket{stage=\"parse\",le=\"0.25\"} 2\n"
                               "x_seconds_bucket{stage=\"parse\",le=\"0.5\"} 2\n"
                               "x_seconds_bucket{stage=\"parse\",le=\"1\"} 3\n"
                               "x_seconds_bucket{stage=\"parse\",le=\"+Inf\"} 4\n"
                               "x_seconds_sum{stage=\"parse\"} 33.125\n"
                               "x_seconds_count{stage=\"parse\"} 4\n");
}

TEST_CASE("an unlabelled histogram has only le on its buckets") {
    Registry registry;
    registry.histogram("x_seconds", "Latency.", {0.5}).with({}).observe(0.25);
    CHECK(registry.render() == "# HELP x_seconds Latency.\n"
                               "# TYPE x_seconds histogram\n"
                               "x_seconds_bucket{le=\"0.5\"} 1\n"
                               "x_seconds_bucket{le=\"+Inf\"} 1\n"
                               "x_seconds_sum 0.25\n"
                               "x_seconds_count 1\n");
}

TEST_CASE("histogram bounds must ascend") {
    Registry registry;
    CHECK_THROWS_AS(registry.histogram("x", "x", {1, 0.5}), std::invalid_argument);
    CHECK_THROWS_AS(Histogram({0.1, 0.1}), std::invalid_argument);
}

TEST_CASE("values: integers without a point, shortest round trip, infinities") {
    CHECK(format_value(1) == "1");
    CHECK(format_value(0.0005) == "0.0005");
    CHECK(format_value(2.5) == "2.5");
    CHECK(format_value(0) == "0");
    CHECK(format_value(123456789) == "123456789");
    CHECK(format_value(1e-9) == "1e-09");
    CHECK(format_value(1.0 / 0.0) == "+Inf");
    CHECK(format_value(-1.0 / 0.0) == "-Inf");
    CHECK(format_value(0.0 / 0.0) == "NaN");
}

TEST_CASE("past max_children label sets, new values count under \"other\"") {
    Registry registry;
    auto& tenants = registry.counter("x_total", "By tenant.", {"tenant"}, 2);
    tenants.with({"a"}).inc();
    tenants.with({"b"}).inc();
    tenants.with({"c"}).inc();
    tenants.with({"d"}).inc();
    tenants.with({"a"}).inc(); // known values still count under their own label
    CHECK(registry.render() == "# HELP x_total By tenant.\n"
                               "# TYPE x_total counter\n"
                               "x_total{tenant=\"a\"} 2\n"
                               "x_total{tenant=\"b\"} 1\n"
                               "x_total{tenant=\"other\"} 2\n");
}

TEST_CASE("a label value is cut at k_max_label_value characters") {
    Registry registry;
    auto& family = registry.counter("x_total", "x", {"rule"});
    family.with({std::string(500, 'r')}).inc();
    family.with({std::string(400, 'r')}).inc(); // the same label once cut
    CHECK(registry.render().find("x_total{rule=\"" + std::string(k_max_label_value, 'r') + "\"} 2\n") !=
          std::string::npos);
}

TEST_CASE("the wrong number of label values is a bug and throws") {
    Registry registry;
    auto& family = registry.counter("x_total", "x", {"a", "b"});
    CHECK_THROWS_AS(family.with({"only-one"}), std::invalid_argument);
}

TEST_CASE("eight threads incrementing counters and histograms give exact totals", "[concurrency]") {
    Registry registry;
    auto& counters = registry.counter("x_total", "x", {"rule"});
    auto& histogram = registry.histogram("x_seconds", "x", {0.5}).with({});
    constexpr int k_threads = 8, k_per_thread = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < k_per_thread; ++i) {
                counters.with({i % 2 ? "odd" : "even"}).inc();
                counters.with({"thread" + std::to_string(t)}).inc();
                histogram.observe(i % 4 == 0 ? 1.0 : 0.25); // exact in binary: the sum is exact too
            }
        });
    for (auto& t : threads)
        t.join();
    CHECK(counters.with({"odd"}).value() == k_threads * k_per_thread / 2);
    CHECK(counters.with({"even"}).value() == k_threads * k_per_thread / 2);
    for (int t = 0; t < k_threads; ++t)
        CHECK(counters.with({"thread" + std::to_string(t)}).value() == k_per_thread);
    const auto snap = histogram.snapshot();
    CHECK(snap.count == k_threads * k_per_thread);
    CHECK(snap.cumulative[0] == k_threads * k_per_thread * 3 / 4);
    CHECK(snap.sum == k_threads * (k_per_thread / 4 * 1.0 + k_per_thread * 3 / 4 * 0.25));
}

TEST_CASE("daemon metrics: a dry-run message counts its would-be action, tenant and rule hits") {
    DaemonMetrics m;
    Verdict verdict;
    verdict.mode = Mode::dry_run;
    verdict.action = Action::accept;
    verdict.would_action = Action::reject;
    verdict.hits = {Hit{"list-unsubscribe-missing", "", "", 10, Action::reject, "", false},
                    Hit{"spam-phrases", "", "", 2, std::nullopt, "", true}};
    m.message("", verdict);
    m.message("acme", verdict);
    m.stage_latency(Stage::eom, std::chrono::microseconds(1500));
    m.reload(true);
    m.reload(false);
    m.store_error("redis");
    const auto text = m.render();
    CHECK_THAT(text, Catch::Contains("presend_messages_total{mode=\"dry-run\",action=\"accept\","
                                     "would_action=\"reject\"} 2\n"));
    CHECK_THAT(text, Catch::Contains("presend_tenant_messages_total{tenant=\"none\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("presend_tenant_messages_total{tenant=\"acme\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("presend_rule_hits_total{rule=\"list-unsubscribe-missing\"} 2\n"));
    CHECK_THAT(text, Catch::Contains("presend_rule_hits_total{rule=\"spam-phrases\"} 2\n"));
    CHECK_THAT(text,
               Catch::Contains("presend_stage_duration_seconds_bucket{stage=\"eom\",le=\"0.001\"} 0\n"));
    CHECK_THAT(text,
               Catch::Contains("presend_stage_duration_seconds_bucket{stage=\"eom\",le=\"0.0025\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("presend_stage_duration_seconds_count{stage=\"parse\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("presend_reloads_total 2\n"));
    CHECK_THAT(text, Catch::Contains("presend_reload_failures_total 1\n"));
    CHECK_THAT(text, Catch::Contains("presend_store_errors_total{store=\"redis\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("presend_oversize_messages_total 0\n"));
    CHECK_THAT(text, Catch::Matches("[\\s\\S]*\npresend_build_info\\{version=\"[0-9.]+\"\\} 1\n[\\s\\S]*"));
}

TEST_CASE("daemon metrics: messages count per mode and actions, each set shown once it occurred") {
    DaemonMetrics m;
    Verdict accepted;
    Verdict rejected;
    rejected.action = rejected.would_action = Action::reject;
    Verdict tagged_dry;
    tagged_dry.mode = Mode::dry_run;
    tagged_dry.would_action = Action::tag;
    for (const Verdict* v : {&accepted, &rejected, &accepted, &tagged_dry, &accepted})
        m.message("", *v);
    std::string lines;
    std::istringstream text(m.render());
    for (std::string line; std::getline(text, line);)
        if (line.rfind("presend_messages_total{", 0) == 0) lines += line + "\n";
    CHECK(lines == "presend_messages_total{mode=\"dry-run\",action=\"accept\",would_action=\"tag\"} 1\n"
                   "presend_messages_total{mode=\"enforce\",action=\"accept\",would_action=\"accept\"} 3\n"
                   "presend_messages_total{mode=\"enforce\",action=\"reject\",would_action=\"reject\"} 1\n");
}

TEST_CASE("label sets are scraped in byte order, 8-bit bytes after ASCII") {
    Registry registry;
    auto& family = registry.counter("x_total", "x", {"a", "b"});
    family.with({"z", "1"}).inc();
    family.with({"\xc3\xa9", "1"}).inc();
    family.with({"z", "0"}).inc();
    family.with({"z", "0"}).inc();
    CHECK(registry.render() == "# HELP x_total x\n"
                               "# TYPE x_total counter\n"
                               "x_total{a=\"z\",b=\"0\"} 2\n"
                               "x_total{a=\"z\",b=\"1\"} 1\n"
                               "x_total{a=\"\xc3\xa9\",b=\"1\"} 1\n");
}
