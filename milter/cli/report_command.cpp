// report_command: `presend report [--since T] [--until T] [--format text|json|html] [--output FILE]
// [--examples N] DECISIONS.jsonl...` summarises decision logs (plain, rotated, .gz, "-" for stdin) for
// compliance officers. The aggregation and the three renderings are engine/report; this file is options,
// inputs, progress on a terminal and the output file. Exit 0 (malformed lines are reported, not fatal),
// 2 on a bad option or an input that cannot be opened.
#include "cli/commands.hpp"

#include "cli/progress_line.hpp"
#include "engine/report.hpp"

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sys/stat.h>
#include <unistd.h>

namespace presend::cli {

namespace {

struct ReportOptions {
    std::string since, until;
    std::string format = "text";
    std::string output;
    std::size_t examples = 3;
    std::vector<std::string> files;
};

report::TimeMs now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool parse_bound(const char* option, const std::string& text, std::optional<report::TimeMs>& out) {
    if (text.empty()) return true;
    out = report::parse_time_arg(text, now_ms());
    if (out) return true;
    std::cerr << "presend report: " << option << " '" << text
              << "' is not a time: give 2026-11-27, 2026-11-27T06:00:00Z, or a span back from now "
                 "such as 90m, 24h, 7d\n";
    return false;
}

// Every input is checked before any is read, so a typo fails at once and not after an hour of reading.
bool check_inputs(const std::vector<std::string>& files, std::uint64_t& total_bytes) {
    total_bytes = 0;
    for (const auto& file : files) {
        if (file == "-") continue;
        struct stat st {};
        if (::stat(file.c_str(), &st) != 0 || ::access(file.c_str(), R_OK) != 0) {
            std::cerr << "presend report: cannot read " << file << ": " << std::strerror(errno) << "\n";
            return false;
        }
        if (S_ISDIR(st.st_mode)) {
            std::cerr << "presend report: " << file << " is a directory, not a decision log\n";
            return false;
        }
        total_bytes += static_cast<std::uint64_t>(st.st_size);
    }
    return true;
}

int run_report(const ReportOptions& opts) {
    report::Options options;
    options.examples = opts.examples;
    if (!parse_bound("--since", opts.since, options.since) ||
        !parse_bound("--until", opts.until, options.until))
        return 2;
    if (options.since && options.until && *options.since >= *options.until) {
        std::cerr << "presend report: --since " << report::format_time(*options.since)
                  << " is not before --until " << report::format_time(*options.until) << "\n";
        return 2;
    }
    std::uint64_t total_bytes = 0;
    if (!check_inputs(opts.files, total_bytes)) return 2;

    report::Aggregator aggregator(options);
    {
        // bytes and lines of the current input on top of those of the inputs already read
        ProgressLine progress("reading", "lines");
        ProgressCounts done;
        done.total_bytes = total_bytes;
        const report::ProgressFn on_progress = [&](const report::Progress& p) {
            ProgressCounts now = done;
            now.bytes += p.bytes;
            now.items += p.lines;
            if (p.done) done = now;
            progress.update(now);
        };
        for (const auto& file : opts.files) {
            try {
                report::read_log(file, aggregator, on_progress);
            } catch (const std::exception& e) {
                std::cerr << "presend report: " << e.what() << "\n";
                return 2;
            }
        }
    }
    const report::Report result = aggregator.finish(opts.files);
    for (const auto& error : result.read_errors)
        std::cerr << "presend report: warning: " << error << "\n";
    if (result.malformed > 0) {
        const auto& first = result.malformed_examples.front();
        std::cerr << "presend report: " << result.malformed << " malformed line"
                  << (result.malformed == 1 ? "" : "s") << " skipped; first at " << first.file << ":"
                  << first.line << ": " << first.reason << "\n";
    }

    const std::string rendered = opts.format == "json"   ? report::render_json(result)
                                 : opts.format == "html" ? report::render_html(result)
                                                         : report::render_text(result);
    if (opts.output.empty() || opts.output == "-") {
        std::cout << rendered << std::flush;
        return std::cout ? 0 : 2;
    }
    std::ofstream out(opts.output, std::ios::binary | std::ios::trunc);
    out << rendered;
    out.close();
    if (!out) {
        std::cerr << "presend report: cannot write " << opts.output << ": " << std::strerror(errno) << "\n";
        return 2;
    }
    return 0;
}

} // namespace

void add_report_command(CLI::App& app, int* exit_code) {
    auto opts = std::make_shared<ReportOptions>();
    auto* command = app.add_subcommand(
        "report",
        "Summarise decision logs: verdicts taken and would-be, per rule, tenant, sender domain, class, attestation basis and hour");
    command->add_option(
        "--since", opts->since,
        "Count messages from this time on: 2026-11-27, 2026-11-27T06:00:00Z, or 24h, 7d back from now");
    command->add_option("--until", opts->until,
                        "Count messages before this time (exclusive), same forms as --since");
    command->add_option("--format", opts->format, "Output format")
        ->check(CLI::IsMember({"text", "json", "html"}))
        ->capture_default_str();
    command->add_option("--output,-o", opts->output, "Write the report to FILE instead of standard output");
    command->add_option("--examples", opts->examples, "Example messages listed per rule")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    command->add_option("files", opts->files, "Decision logs: plain, rotated or .gz; - for standard input")
        ->required();
    command->callback([opts, exit_code] { *exit_code = run_report(*opts); });
}

} // namespace presend::cli
