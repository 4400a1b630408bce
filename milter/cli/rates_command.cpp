// rates_command: `presend rates` shows the volume guard of a presend.yaml: its limits, the warm-up caps in force
// today, the back-off factors and the counters (tokens used and left per bucket), read from Redis for the
// Redis store and from the daemon's state file for the memory store. `presend rates bench` measures rate
// checks per second, with p50/p99, against the memory store and a Redis server when one answers.
// Exit codes: 0 shown; 2 usage, config or store error.
#include "cli/commands.hpp"
#include "cli/timed_run.hpp"

#include "engine/rates_backends.hpp"
#include "engine/rates_state.hpp"
#include "presend/config.hpp"
#include "presend/decision_log.hpp"
#include "presend/feedback.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace presend::cli {

namespace {

constexpr const char* k_default_config = "/etc/presend/presend.yaml";

std::string date_text(std::chrono::sys_days day) {
    return rfc3339_utc_ms(day).substr(0, 10);
}

// Limits, warm-up and counters as one JSON object: what --json prints and the text is made from.
nlohmann::json rates_view(const RatesConfig& config, RateClock::time_point now) {
    nlohmann::json out;
    out["store"] = config.backend == "redis" ? config.redis.describe() : config.backend;
    auto limits = nlohmann::json::array();
    for (const auto& limit : config.limits)
        limits.push_back({{"id", limit.id()},
                          {"tenant", limit.tenant},
                          {"group", limit.group},
                          {"rate", limit.rate},
                          {"per", limit.per_text},
                          {"burst", limit.burst}});
    out["limits"] = limits;
    RateLimiter limiter(config, detail::open_memory_rate_store(1024)); // for the warm-up arithmetic only
    auto warmup = nlohmann::json::array();
    const auto today = limiter.warmup_today(now);
    for (std::size_t i = 0; i < today.size(); ++i)
        warmup.push_back({{"id", today[i].id},
                          {"start", date_text(config.warmup[i].start)},
                          {"day", today[i].day},
                          {"cap", today[i].cap ? nlohmann::json(*today[i].cap) : nlohmann::json(nullptr)}});
    out["warmup"] = warmup;

    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    if (config.backend == "redis") {
        auto store = open_rate_store(config);
        const auto state = rates_state_json(store->buckets(now_ms), {}, store->describe(), now);
        out["buckets"] = state["buckets"];
        out["backoff"] = state["backoff"]; // per MTA: each daemon's own factors are in its log and metrics
        out["read"] = "redis";
    } else {
        out["state_file"] = config.state_file.string();
        if (!std::filesystem::exists(config.state_file)) {
            out["buckets"] = nlohmann::json::array();
            out["backoff"] = nlohmann::json::array();
            out["read"] = "no state file yet: the daemon writes it once it has counted a recipient";
        } else {
            const auto state = read_rates_state(config.state_file);
            out["buckets"] = state["buckets"];
            out["backoff"] = state.value("backoff", nlohmann::json::array());
            out["read"] = "state file written " + state.value("written", std::string("?"));
        }
    }
    return out;
}

std::string number_text(const nlohmann::json& value) {
    char buf[32];
    const double v = value.is_number() ? value.get<double>() : 0;
    std::snprintf(buf, sizeof buf, v == static_cast<double>(static_cast<long long>(v)) ? "%.0f" : "%.1f", v);
    return buf;
}

void print_text(const nlohmann::json& view) {
    std::printf("store %s (%s)\n", view["store"].get<std::string>().c_str(), view["read"].get<std::string>().c_str());
    std::printf("\nlimits\n");
    if (view["limits"].empty()) std::printf("  (none)\n");
    for (const auto& l : view["limits"])
        std::printf("  %-44s %s/%s, burst %s\n", l["id"].get<std::string>().c_str(), number_text(l["rate"]).c_str(),
                    l["per"].get<std::string>().c_str(), number_text(l["burst"]).c_str());
    std::printf("\nwarm-up today\n");
    if (view["warmup"].empty()) std::printf("  (none)\n");
    for (const auto& w : view["warmup"]) {
        const std::string cap = w["cap"].is_null() ? "curve ended, no cap" : "cap " + number_text(w["cap"]) + "/day";
        std::printf("  %-44s day %lld from %s: %s\n", w["id"].get<std::string>().c_str(), w["day"].get<long long>(),
                    w["start"].get<std::string>().c_str(), cap.c_str());
    }
    std::printf("\nback-off\n");
    if (view["backoff"].empty()) std::printf("  (none: every group at its full rate)\n");
    for (const auto& b : view["backoff"]) {
        std::printf("  %-20s factor %s, step %zu of %zu, since %s\n", b.value("group", "").c_str(),
                    format_factor(b.value("factor", 1.0)).c_str(), b.value("step", std::size_t{0}),
                    b.value("steps", std::size_t{0}), b.value("since", "").c_str());
        std::printf("  %-20s why: %zu throttle events in the window, signature %s; last %s\n", "",
                    b.value("events", std::size_t{0}), b.value("signature", "").c_str(),
                    b.value("last_event", "").c_str());
        std::printf("  %-20s next recovery %s, if no throttling comes first\n", "", b.value("next_recovery", "").c_str());
        std::printf("  %-20s sample: %s\n", "", b.value("sample", "").c_str());
    }
    std::printf("\nbuckets\n");
    if (view["buckets"].empty()) std::printf("  (none in use: every bucket is full)\n");
    for (const auto& b : view["buckets"]) {
        std::string who = b.value("tenant", "");
        if (!b.value("group", "").empty()) who += (who.empty() ? "" : " → ") + b.value("group", "");
        if (!b.value("day", "").empty()) who += " " + b.value("day", "");
        std::printf("  %-44s %-28s used %s of %s, %s left\n", b.value("limit", "").c_str(), who.c_str(),
                    number_text(b["used"]).c_str(), number_text(b["burst"]).c_str(),
                    number_text(b["tokens"]).c_str());
    }
}

// ---- bench ----

struct RatesBenchOptions {
    std::string config;
    std::string redis = "127.0.0.1:6379";
    std::size_t checks = 200000;
    unsigned threads = 1;
    std::size_t tenants = 1000;
};

// Limits a busy platform might have: per tenant, per group, tenant × group and a warm-up of the sending IP,
// roomy enough that the bench measures checks that pass (a refusal costs the same store call). Windows of
// 10 s, so what a bench leaves in a shared Redis is gone seconds later.
RatesConfig bench_config(const RedisSettings& redis, const std::string& backend) {
    RatesConfig config;
    config.backend = backend;
    config.redis = redis;
    const auto limit = [](std::string tenant, std::string group) {
        RateLimit l;
        l.tenant = std::move(tenant);
        l.group = std::move(group);
        l.per_text = "10s";
        l.per = std::chrono::seconds(10);
        l.rate = l.burst = 1e9;
        return l;
    };
    config.limits = {limit("*", ""), limit("", "*"), limit("*", "*")};
    WarmupSchedule warmup;
    warmup.sending_ip = "presend-bench";
    warmup.start = std::chrono::floor<std::chrono::days>(RateClock::now());
    warmup.days = {1e12};
    config.warmup = {warmup};
    return config;
}

const std::vector<std::string>& bench_domains() {
    static const std::vector<std::string> domains = {"outlook.com", "hotmail.co.uk", "gmail.com", "yahoo.com",
                                                     "icloud.com",  "example.org",   "example.net"};
    return domains;
}

void bench_store(const RatesConfig& config, const RatesBenchOptions& opts) {
    auto store = open_rate_store(config);
    RateLimiter limiter(config, store);
    std::vector<std::string> tenants, rcpts;
    for (std::size_t i = 0; i < opts.tenants; ++i)
        tenants.push_back("presend-bench-" + std::to_string(i));
    for (std::size_t i = 0; i < 997; ++i) // prime: tenant and recipient pairs do not repeat in step
        rcpts.push_back("user" + std::to_string(i) + "@" + bench_domains()[i % bench_domains().size()]);
    limiter.check(tenants[0], rcpts[0], RateClock::now()); // connects (Redis) before the clock starts
    std::vector<std::size_t> refused(opts.threads, 0);
    const auto run = timed_run(opts.checks, opts.threads, [&](std::size_t i, unsigned t) {
        refused[t] += !limiter.check(tenants[i % tenants.size()], rcpts[i % rcpts.size()], RateClock::now()).allowed;
    });
    std::size_t refusals = 0;
    for (auto r : refused)
        refusals += r;
    const double n = static_cast<double>(run.calls);
    std::printf("  %-28s %9.0f checks/s wall, %9.0f per CPU-second  (%zu in %.2f s, %u thread%s, 4 buckets "
                "each, %zu refused; p50 %.1f us, p99 %.1f us, max %.0f us)\n",
                store->describe().c_str(), n / run.seconds, n / run.cpu_seconds, run.calls, run.seconds,
                opts.threads, opts.threads == 1 ? "" : "s", refusals, run.percentile(0.50), run.percentile(0.99),
                run.max());
}

void add_rates_bench(CLI::App& parent, int* exit_code) {
    auto opts = std::make_shared<RatesBenchOptions>();
    auto* command = parent.add_subcommand(
        "bench", "Measure rate checks per second (p50/p99) against the memory store, then Redis when it answers");
    command->add_option("--redis", opts->redis, "HOST:PORT of a Redis to measure; 'none' skips it")
        ->capture_default_str();
    command->add_option("--checks", opts->checks, "Checks to time per store")
        ->check(CLI::Range(1, 100000000))
        ->capture_default_str();
    command->add_option("--threads", opts->threads, "Threads checking at once")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    command->add_option("--tenants", opts->tenants, "Distinct tenants (buckets per scope)")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    command->callback([opts, exit_code] {
        std::printf("rate checks: per tenant, per group, tenant x group and a warm-up cap; %zu tenants\n",
                    opts->tenants);
        bench_store(bench_config({}, "memory"), *opts);
        if (opts->redis != "none") {
            RedisSettings redis;
            const auto colon = opts->redis.rfind(':');
            redis.host = opts->redis.substr(0, colon);
            if (colon != std::string::npos) redis.port = std::stoi(opts->redis.substr(colon + 1));
            try {
                bench_store(bench_config(redis, "redis"), *opts);
            } catch (const std::exception& e) {
                std::printf("  %-28s skipped: %s\n", redis.describe().c_str(), e.what());
            }
        }
        std::fflush(stdout);
        *exit_code = 0;
    });
}

} // namespace

void add_rates_command(CLI::App& app, int* exit_code) {
    auto config_file = std::make_shared<std::string>(k_default_config);
    auto json = std::make_shared<bool>(false);
    auto* command = app.add_subcommand(
        "rates", "Show the volume guard: limits, warm-up caps today, back-off and counters (docs/rates.md)");
    command->require_subcommand(0, 1);
    command->add_option("-c,--config", *config_file, "presend.yaml whose rates: section to show")
        ->capture_default_str();
    command->add_flag("--json", *json, "One JSON object instead of text");
    command->footer("Exit status: 0 shown; 2 usage, config or store error. See docs/rates.md.");
    add_rates_bench(*command, exit_code);
    command->callback([command, config_file, json, exit_code] {
        if (!command->get_subcommands().empty()) return; // bench ran
        const Config config = load_config(*config_file);
        if (config.rates.backend == "none") {
            std::cerr << "presend: " << *config_file << ": no rates: section (the volume guard is off)\n";
            *exit_code = 2;
            return;
        }
        const auto view = rates_view(config.rates, RateClock::now());
        if (*json)
            std::cout << view.dump(2) << "\n";
        else
            print_text(view);
        *exit_code = 0;
    });
}

} // namespace presend::cli
