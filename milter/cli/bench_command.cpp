// bench_command: `presend bench` measures the engine alone, no sockets: pattern compile time for
// synthetic phrase lists, then per-stage latency and throughput over a corpus: assemble (MessageBuilder
// fed the milter's header and body chunks, as the daemon is), MIME parse and decode, HTML to text,
// Hyperscan scan, other checks, decision; held against a bare hs_scan of the same inputs with the same
// databases (the floor). Stages are timed in CPU time (CpuClock), so the figures are per core even on a
// busy machine. --json prints one object for scripts instead of the table.
#include "cli/commands.hpp"
#include "cli/milter_chunks.hpp"
#include "cli/rules_option.hpp"

#include "engine/pattern_set.hpp"
#include "engine/scan_inputs.hpp"
#include "presend/engine.hpp"
#include "presend/cpu_clock.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>

namespace presend::cli {

namespace {

using Clock = std::chrono::steady_clock;
using Cpu = CpuClock; // stages are timed in CPU time: the machine may be busy

struct BenchOptions {
    std::string rules_dir;
    std::vector<std::size_t> phrase_counts{1000, 10000};
    unsigned iterations = 200;
    bool json = false;
    std::vector<std::string> corpus;
};

template <typename D> double micros(D d) { return std::chrono::duration<double, std::micro>(d).count(); }

long rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

// Deterministic phrases of two or three invented words, so runs are comparable.
std::vector<std::string> synthetic_phrases(std::size_t count) {
    static const char* syllables[] = {"ba", "ke", "lo", "mi", "nu", "ra", "si", "to", "vex", "dra",
                                      "pol", "qui", "zen", "mar", "tul", "gor", "fin", "hap", "jus", "wel"};
    std::mt19937 rng(20261127);
    std::uniform_int_distribution<int> syl(0, 19), len(2, 4), words(2, 3);
    std::vector<std::string> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        std::string phrase;
        for (int w = words(rng); w > 0; --w) {
            if (!phrase.empty()) phrase += ' ';
            for (int s = len(rng); s > 0; --s) phrase += syllables[syl(rng)];
        }
        phrase += std::to_string(i); // distinct
        out.push_back(std::move(phrase));
    }
    return out;
}

struct Stats {
    std::vector<double> samples;
    void add(double us) { samples.push_back(us); }
    double percentile(double p) {
        if (samples.empty()) return 0;
        std::sort(samples.begin(), samples.end());
        return samples[std::min(samples.size() - 1, static_cast<std::size_t>(p * static_cast<double>(samples.size())))];
    }
    double total() const {
        double t = 0;
        for (double s : samples) t += s;
        return t;
    }
};

int on_match_noop(unsigned, unsigned long long, unsigned long long, unsigned, void*) { return 0; }

enum Stage : std::size_t { assemble, mime, html, scan, checks, decision, k_stages };
constexpr std::array<const char*, k_stages> k_stage_names = {"assemble", "mime parse+decode", "html to text",
                                                              "hyperscan scan", "other checks", "decide"};
constexpr std::array<const char*, k_stages> k_stage_keys = {"assemble", "mime", "html", "scan", "checks", "decide"};

nlohmann::json run_corpus(const RuleSet& rules, const std::vector<MilterChunks>& messages, unsigned iterations) {
    std::array<Stats, k_stages> stages;
    Stats floor;
    std::size_t bytes = 0;
    daemon::MessageBuilder builder;
    ParsedMessage message; // reused from message to message, as the daemon's threads do
    const auto start = Clock::now();
    for (unsigned it = 0; it < iterations; ++it) {
        for (const auto& chunks : messages) {
            auto t0 = Cpu::now();
            feed(builder, chunks, 32u << 20);
            const std::string_view raw = builder.message();
            auto t1 = Cpu::now();
            StageSplit split;
            parse_message(raw, message, Limits{}, &split);
            auto t2 = Cpu::now();
            auto hits = inspect(rules, message, Envelope{}, MessageContext{}, &split);
            auto t3 = Cpu::now();
            const Verdict verdict = decide(rules, std::move(hits), Mode::enforce);
            auto t4 = Cpu::now();
            const double html_us = std::chrono::duration<double, std::micro>(split.html).count();
            const double scan_us = std::chrono::duration<double, std::micro>(split.scan).count();
            stages[assemble].add(micros(t1 - t0));
            stages[mime].add(micros(t2 - t1) - html_us);
            stages[html].add(html_us);
            stages[scan].add(scan_us);
            stages[checks].add(micros(t3 - t2) - scan_us);
            stages[decision].add(micros(t4 - t3));
            bytes += raw.size();
            if (verdict.score < 0) std::puts(""); // keeps the optimiser from dropping the work

            // The floor: the same inputs through the same databases, nothing else.
            if (const auto* patterns = rules.patterns.get(); patterns && !patterns->databases().empty()) {
                auto scratch = patterns->acquire_scratch();
                auto f0 = Cpu::now();
                for (const auto& db : patterns->databases())
                    detail::for_each_scan_input(db.target, message, [&](std::string_view input) {
                        if (!input.empty())
                            hs_scan(db.db.get(), input.data(), static_cast<unsigned>(input.size()), 0, scratch.get(),
                                    on_match_noop, nullptr);
                    });
                floor.add(micros(Cpu::now() - f0));
                patterns->release_scratch(std::move(scratch));
            }
        }
    }
    const double wall = micros(Clock::now() - start);
    double engine_us = 0;
    for (const auto& s : stages) engine_us += s.total();
    const double n = static_cast<double>(stages[assemble].samples.size());
    nlohmann::json out;
    out["messages"] = n;
    out["distinct"] = messages.size();
    out["iterations"] = iterations;
    out["bytes"] = bytes;
    out["wall_s"] = wall / 1e6;
    out["cpu_s"] = engine_us / 1e6;
    out["msgs_per_s"] = n / (engine_us / 1e6);
    out["mb_per_s"] = static_cast<double>(bytes) / engine_us;
    out["rss_mib"] = static_cast<double>(rss_kib()) / 1024;
    for (std::size_t i = 0; i < k_stages; ++i) {
        out["stages"][k_stage_keys[i]] = {{"p50_us", stages[i].percentile(0.50)},
                                          {"p99_us", stages[i].percentile(0.99)},
                                          {"share", stages[i].total() / engine_us}};
    }
    if (!floor.samples.empty()) {
        out["floor"] = {{"p50_us", floor.percentile(0.50)}, {"p99_us", floor.percentile(0.99)}};
        out["scan_floor_ratio"] = stages[scan].total() / std::max(floor.total(), 1e-9);
    }
    return out;
}

void print_run(const nlohmann::json& run) {
    std::printf("  messages %.0f (%zu distinct x %u), %.1f MB, wall %.2f s (with the floor runs), RSS %.0f MiB\n",
                run["messages"].get<double>(), run["distinct"].get<std::size_t>(), run["iterations"].get<unsigned>(),
                run["bytes"].get<double>() / 1e6, run["wall_s"].get<double>(), run["rss_mib"].get<double>());
    std::printf("  throughput: %.0f msgs/s, %.1f MB/s per core (%.2f s of CPU)\n", run["msgs_per_s"].get<double>(),
                run["mb_per_s"].get<double>(), run["cpu_s"].get<double>());
    std::printf("  %-22s %10s %10s %10s   (CPU time)\n", "stage", "p50 us", "p99 us", "share");
    for (std::size_t i = 0; i < k_stages; ++i) {
        const auto& s = run["stages"][k_stage_keys[i]];
        std::printf("  %-22s %10.1f %10.1f %9.1f%%\n", k_stage_names[i], s["p50_us"].get<double>(),
                    s["p99_us"].get<double>(), s["share"].get<double>() * 100);
    }
    if (run.contains("floor")) {
        std::printf("  %-22s %10.1f %10.1f   scan/floor = %.2fx\n", "bare hs_scan floor",
                    run["floor"]["p50_us"].get<double>(), run["floor"]["p99_us"].get<double>(),
                    run["scan_floor_ratio"].get<double>());
    }
}

} // namespace

void add_bench_command(CLI::App& app, int* exit_code) {
    auto opts = std::make_shared<BenchOptions>();
    auto* command = app.add_subcommand("bench", "Measure the engine: pattern compile time, per-stage latency, "
                                                "throughput against the bare hs_scan floor");
    add_rules_option(*command, opts->rules_dir);
    // One argument, split at commas: the corpus files that follow are not phrase counts.
    command->add_option("--phrases", opts->phrase_counts, "Synthetic phrase counts to compile and scan with")
        ->delimiter(',')
        ->allow_extra_args(false)
        ->check(CLI::Range(1, 1000000));
    command->add_option("--iterations", opts->iterations, "Passes over the corpus")->check(CLI::Range(1, 100000));
    command->add_flag("--json", opts->json, "Print one JSON object (runs, stages, floor, RSS) instead of tables");
    command->add_option("corpus", opts->corpus, "Messages (.eml); default: the shipped rules' examples")
        ->check(CLI::ExistingFile);
    command->callback([opts, exit_code] {
        const auto base_dir = opts->rules_dir.empty() ? default_rules_dir() : std::filesystem::path(opts->rules_dir);
        auto corpus = opts->corpus;
        if (corpus.empty()) {
            if (!std::filesystem::is_directory(base_dir / "examples")) {
                std::cerr << "presend bench: no messages given and no " << (base_dir / "examples").string()
                          << " to take them from\n";
                *exit_code = 2;
                return;
            }
            for (const auto& entry : std::filesystem::directory_iterator(base_dir / "examples"))
                if (entry.path().extension() == ".eml") corpus.push_back(entry.path().string());
            std::sort(corpus.begin(), corpus.end());
        }
        std::vector<MilterChunks> messages;
        for (const auto& file : corpus) messages.push_back(to_milter_chunks(read_file(file)));
        if (messages.empty()) {
            std::cerr << "presend bench: no messages to run\n";
            *exit_code = 2;
            return;
        }

        const long rss_start = rss_kib();
        const auto t0 = Clock::now();
        auto base = load_rules_or_report(opts->rules_dir, std::cerr, false);
        if (!base) {
            *exit_code = 2;
            return;
        }
        const double base_compile_ms = micros(Clock::now() - t0) / 1000;
        nlohmann::json report;
        report["rules_dir"] = base_dir.string();
        report["rss_start_mib"] = static_cast<double>(rss_start) / 1024;
        nlohmann::json run = run_corpus(*base, messages, opts->iterations);
        run["phrases"] = 0;
        run["rules"] = base->rules.size();
        run["compile_ms"] = base_compile_ms;
        if (!opts->json) {
            std::printf("rules %s: %zu rules, loaded and compiled in %.1f ms\n", base_dir.c_str(),
                        base->rules.size(), run["compile_ms"].get<double>());
            print_run(run);
        }
        report["runs"].push_back(run);

        for (auto count : opts->phrase_counts) {
            // A copy of the rules dir plus one rule holding `count` phrases over the body.
            const auto dir = std::filesystem::temp_directory_path() / ("presend-bench-" + std::to_string(::getpid()));
            std::filesystem::remove_all(dir);
            std::filesystem::create_directories(dir);
            for (const auto& entry : std::filesystem::directory_iterator(base_dir))
                if (entry.is_regular_file()) std::filesystem::copy_file(entry.path(), dir / entry.path().filename());
            if (std::filesystem::exists(base_dir / "examples"))
                std::filesystem::create_directory_symlink(std::filesystem::absolute(base_dir / "examples"),
                                                          dir / "examples");
            {
                std::ofstream phrases(dir / "bench-phrases.txt");
                for (const auto& p : synthetic_phrases(count)) phrases << p << "\n";
                std::ofstream rule(dir / "zz-bench.yaml");
                rule << "rules:\n  - id: bench-phrases\n    description: synthetic phrases for presend bench\n"
                        "    phrases_file: bench-phrases.txt\n    target: body\n    score: 1\n";
            }
            const auto c0 = Clock::now();
            const auto loaded = load_rules(dir);
            const double compile_ms = micros(Clock::now() - c0) / 1000;
            if (!loaded.ok()) {
                for (const auto& d : loaded.diagnostics) std::cerr << d.str() << "\n";
                std::filesystem::remove_all(dir);
                *exit_code = 2;
                return;
            }
            const long rss_loaded = rss_kib();
            run = run_corpus(*loaded.rules, messages, opts->iterations);
            run["phrases"] = count;
            run["rules"] = loaded.rules->rules.size();
            run["patterns"] = loaded.rules->patterns->patterns().size();
            run["databases"] = loaded.rules->patterns->databases().size();
            run["compile_ms"] = compile_ms;
            run["rss_loaded_mib"] = static_cast<double>(rss_loaded) / 1024;
            if (!opts->json) {
                std::printf("\n+%zu phrases: %zu patterns compiled into %zu databases in %.1f ms, RSS %ld MiB "
                            "(was %ld)\n",
                            count, loaded.rules->patterns->patterns().size(),
                            loaded.rules->patterns->databases().size(), compile_ms, rss_loaded / 1024,
                            rss_start / 1024);
                print_run(run);
            }
            report["runs"].push_back(run);
            std::filesystem::remove_all(dir);
        }
        if (opts->json) std::cout << report.dump(2) << "\n";
    });
}

} // namespace presend::cli
