// bench_command: `presend bench` measures the engine alone, no sockets: pattern compile time for
// synthetic phrase lists, then per-stage latency (parse, inspect, decide) and throughput over a
// corpus, held against a bare hs_scan of the same inputs with the same databases (the floor).
#include "cli/commands.hpp"
#include "cli/rules_option.hpp"

#include "engine/pattern_set.hpp"
#include "engine/scan_inputs.hpp"
#include "presend/engine.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>

namespace presend::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
    std::string rules_dir;
    std::vector<std::size_t> phrase_counts{1000, 10000};
    unsigned iterations = 200;
    std::vector<std::string> corpus;
};

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

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

void run_corpus(const RuleSet& rules, const std::vector<std::string>& messages, unsigned iterations) {
    Stats parse, insp, dec, floor;
    std::size_t bytes = 0;
    const auto start = Clock::now();
    for (unsigned it = 0; it < iterations; ++it) {
        for (const auto& raw : messages) {
            auto t0 = Clock::now();
            const ParsedMessage message = parse_message(raw);
            auto t1 = Clock::now();
            auto hits = inspect(rules, message, Envelope{});
            auto t2 = Clock::now();
            const Verdict verdict = decide(rules, std::move(hits), Mode::enforce);
            auto t3 = Clock::now();
            parse.add(micros(t1 - t0));
            insp.add(micros(t2 - t1));
            dec.add(micros(t3 - t2));
            bytes += raw.size();
            if (verdict.score < 0) std::puts(""); // keeps the optimiser from dropping the work

            // The floor: the same inputs through the same databases, nothing else.
            if (const auto* patterns = rules.patterns.get(); patterns && !patterns->databases().empty()) {
                auto scratch = patterns->acquire_scratch();
                auto f0 = Clock::now();
                for (const auto& db : patterns->databases())
                    detail::for_each_scan_input(db.target, message, [&](std::string_view input) {
                        if (!input.empty())
                            hs_scan(db.db.get(), input.data(), static_cast<unsigned>(input.size()), 0, scratch.get(),
                                    on_match_noop, nullptr);
                    });
                floor.add(micros(Clock::now() - f0));
                patterns->release_scratch(std::move(scratch));
            }
        }
    }
    const double wall = micros(Clock::now() - start) - floor.total(); // the floor runs are not engine work
    const double n = static_cast<double>(parse.samples.size());
    const double engine_us = parse.total() + insp.total() + dec.total();
    std::printf("  messages %.0f (%zu distinct x %u), %.1f MB, wall %.2f s\n", n, messages.size(), iterations,
                static_cast<double>(bytes) / 1e6, wall / 1e6);
    std::printf("  throughput: %.0f msgs/s, %.1f MB/s (one core)\n", n / (engine_us / 1e6),
                static_cast<double>(bytes) / engine_us);
    std::printf("  %-22s %10s %10s %10s\n", "stage", "p50 us", "p99 us", "share");
    auto row = [&](const char* name, Stats& s) {
        const double share = s.total() / engine_us * 100;
        const double p50 = s.percentile(0.50);
        const double p99 = s.percentile(0.99);
        std::printf("  %-22s %10.1f %10.1f %9.1f%%\n", name, p50, p99, share);
    };
    row("parse+decode+html", parse);
    row("inspect (scan+checks)", insp);
    row("decide", dec);
    if (!floor.samples.empty()) {
        const double ratio = insp.total() / std::max(floor.total(), 1e-9);
        std::printf("  %-22s %10.1f %10.1f   inspect/floor = %.2fx\n", "bare hs_scan floor", floor.percentile(0.50),
                    floor.percentile(0.99), ratio);
    }
}

} // namespace

void add_bench_command(CLI::App& app, int* exit_code) {
    auto opts = std::make_shared<BenchOptions>();
    auto* command = app.add_subcommand("bench", "Measure the engine: pattern compile time, per-stage latency, "
                                                "throughput against the bare hs_scan floor");
    add_rules_option(*command, opts->rules_dir);
    command->add_option("--phrases", opts->phrase_counts, "Synthetic phrase counts to compile and scan with")
        ->delimiter(',')
        ->check(CLI::Range(1, 1000000));
    command->add_option("--iterations", opts->iterations, "Passes over the corpus")->check(CLI::Range(1, 100000));
    command->add_option("corpus", opts->corpus, "Messages (.eml); default: the shipped rules' examples")
        ->check(CLI::ExistingFile);
    command->callback([opts, exit_code] {
        const auto base_dir = opts->rules_dir.empty() ? default_rules_dir() : std::filesystem::path(opts->rules_dir);
        auto corpus = opts->corpus;
        if (corpus.empty()) {
            for (const auto& entry : std::filesystem::directory_iterator(base_dir / "examples"))
                if (entry.path().extension() == ".eml") corpus.push_back(entry.path().string());
            std::sort(corpus.begin(), corpus.end());
        }
        std::vector<std::string> messages;
        for (const auto& file : corpus) messages.push_back(read_file(file));
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
        std::printf("rules %s: %zu rules, loaded and compiled in %.1f ms\n", base_dir.c_str(), base->rules.size(),
                    micros(Clock::now() - t0) / 1000);
        run_corpus(*base, messages, opts->iterations);

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
            std::printf("\n+%zu phrases: %zu patterns compiled into %zu databases in %.1f ms, RSS %ld MiB (was %ld)\n",
                        count, loaded.rules->patterns->patterns().size(), loaded.rules->patterns->databases().size(),
                        compile_ms, rss_kib() / 1024, rss_start / 1024);
            run_corpus(*loaded.rules, messages, opts->iterations);
            std::filesystem::remove_all(dir);
        }
    });
}

} // namespace presend::cli
