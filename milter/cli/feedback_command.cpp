// feedback_command: `presend feedback replay [--config FILE] [--json] LOGFILE...` reads recorded Postfix
// logs with each line's own time stamp as the clock and prints the timeline of throttle events and
// back-off changes per destination group: how an operator tries signatures and the curve on a bad day
// from the past. The engine is presend/feedback.hpp, the same the daemon's follower uses. Exit 0, or 2
// for a bad config or an input that cannot be read.
#include "cli/commands.hpp"

#include "engine/feedback_config.hpp"
#include "engine/rates_config.hpp"
#include "presend/decision_log.hpp"
#include "presend/feedback.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <algorithm>
#include <map>

namespace presend::cli {

namespace {

// Longer lines are cut here: a Postfix line is a few kilobytes at most; more is not Postfix.
constexpr std::size_t k_max_line_bytes = 64 * 1024;

struct ReplayOptions {
    std::string config;
    bool json = false;
    std::vector<std::string> files;
};

struct GroupSummary {
    std::size_t events = 0;   // throttle events counted
    std::size_t episodes = 0; // back-offs entered
    double lowest = 1.0;
    std::map<std::string, std::size_t> signatures;
};

class Replay {
  public:
    Replay(const FeedbackConfig& config, DestinationGroups groups, bool json)
        : m_signatures(SignatureSet::from_config(config)), m_groups(std::move(groups)), m_backoff(config.backoff),
          m_json(json) {}

    void line(std::string_view text) {
        ++m_lines;
        const auto report = parse_delivery_report(text, m_signatures, m_now);
        if (!report) return;
        ++m_reports;
        if (!report->time) {
            ++m_undated;
            return;
        }
        m_last = *report->time;
        for (const auto& change : m_backoff.advance(*report->time))
            print(change);
        if (!report->throttling) return;
        const std::string group = group_of(*report, m_groups);
        if (group.empty()) {
            ++m_unattributed;
            return;
        }
        const auto recorded = m_backoff.record(group, *report, text);
        if (!recorded.counted) {
            ++m_repeats;
            return;
        }
        auto& summary = m_summary[group];
        ++summary.events;
        ++summary.signatures[report->signature];
        print_event(group, *report);
        if (recorded.change) print(*recorded.change);
    }

    void finish() {
        const auto ongoing = m_last ? m_backoff.snapshot(*m_last) : std::vector<GroupBackoff>{};
        if (m_json) {
            nlohmann::json groups = nlohmann::json::object();
            for (const auto& [name, s] : m_summary)
                groups[name] = {{"events", s.events},
                                {"episodes", s.episodes},
                                {"lowest_factor", s.lowest},
                                {"signatures", s.signatures}};
            nlohmann::json still = nlohmann::json::array();
            for (const auto& g : ongoing)
                still.push_back({{"group", g.group},
                                 {"factor", g.factor},
                                 {"since", rfc3339_utc_ms(g.why.since)},
                                 {"signature", g.why.signature}});
            const nlohmann::json out = {{"timeline", m_timeline},
                                        {"groups", groups},
                                        {"backing_off_at_end", still},
                                        {"lines", m_lines},
                                        {"delivery_reports", m_reports},
                                        {"undated", m_undated},
                                        {"repeats", m_repeats},
                                        {"unattributed", m_unattributed}};
            std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            return;
        }
        std::cout << "\n" << m_lines << " lines, " << m_reports << " delivery reports";
        if (m_undated) std::cout << " (" << m_undated << " without a time stamp, skipped)";
        std::cout << "; throttle events: " << (m_summary.empty() ? "none" : "");
        bool first = true;
        for (const auto& [name, s] : m_summary) {
            std::cout << (first ? "" : ", ") << name << " " << s.events;
            first = false;
        }
        if (m_repeats) std::cout << "; " << m_repeats << " repeats of the same message not counted";
        if (m_unattributed) std::cout << "; " << m_unattributed << " without a recipient or known relay";
        std::cout << "\n";
        for (const auto& [name, s] : m_summary)
            if (s.episodes)
                std::cout << name << ": " << s.episodes << " back-off episode" << (s.episodes == 1 ? "" : "s")
                          << ", lowest factor " << format_factor(s.lowest) << "\n";
        for (const auto& g : ongoing)
            std::cout << g.group << " is still backing off at the end of the input: factor "
                      << format_factor(g.factor) << " since " << rfc3339_utc_ms(g.why.since) << " ("
                      << g.why.signature << ")\n";
    }

  private:
    void print_event(const std::string& group, const DeliveryReport& r) {
        if (m_json) {
            m_timeline.push_back({{"time", rfc3339_utc_ms(*r.time)},
                                  {"group", group},
                                  {"type", "throttle"},
                                  {"signature", r.signature},
                                  {"dsn", r.dsn},
                                  {"relay", r.relay},
                                  {"queue_id", r.queue_id}});
            return;
        }
        std::cout << rfc3339_utc_ms(*r.time) << "  " << group << "  throttle  " << r.signature
                  << (r.dsn.empty() ? "" : "  dsn " + r.dsn) << (r.relay.empty() ? "" : "  relay " + r.relay)
                  << "\n";
    }

    void print(const BackoffChange& change) {
        auto& summary = m_summary[change.group];
        if (change.kind == BackoffChange::Kind::enter) ++summary.episodes;
        summary.lowest = std::min(summary.lowest, change.to);
        if (m_json) {
            auto entry = backoff_event_json(change);
            entry.erase("event");
            entry["type"] = entry["change"];
            entry.erase("change");
            m_timeline.push_back(std::move(entry));
            return;
        }
        std::cout << rfc3339_utc_ms(change.at) << "  " << describe(change) << "\n";
    }

    SignatureSet m_signatures;
    DestinationGroups m_groups;
    Backoff m_backoff;
    bool m_json;
    SystemTime m_now = std::chrono::system_clock::now(); // the year of traditional syslog time stamps
    std::optional<SystemTime> m_last;
    std::size_t m_lines = 0, m_reports = 0, m_undated = 0, m_repeats = 0, m_unattributed = 0;
    std::map<std::string, GroupSummary> m_summary;
    nlohmann::json m_timeline = nlohmann::json::array();
};

int run_replay(const ReplayOptions& opts) {
    FeedbackConfig config;
    DestinationGroups groups = default_destination_groups();
    try {
        if (!opts.config.empty()) {
            config = load_feedback_config(opts.config);
            groups = load_destination_groups(opts.config);
        }
    } catch (const ConfigError& e) {
        std::cerr << "presend feedback replay: " << e.what() << "\n";
        return 2;
    }
    std::vector<std::ifstream> inputs;
    for (const auto& file : opts.files) {
        inputs.emplace_back(file, std::ios::binary);
        if (!inputs.back()) {
            std::cerr << "presend feedback replay: cannot read " << file << ": " << std::strerror(errno) << "\n";
            return 2;
        }
    }
    Replay replay(config, std::move(groups), opts.json);
    std::string line;
    for (auto& in : inputs)
        while (std::getline(in, line)) {
            if (line.size() > k_max_line_bytes) line.resize(k_max_line_bytes);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            replay.line(line);
        }
    replay.finish();
    return 0;
}

} // namespace

void add_feedback_command(CLI::App& app, int* exit_code) {
    auto* command =
        app.add_subcommand("feedback", "What Postfix's log says about throttling, and the back-off it causes");
    command->require_subcommand(1);
    auto opts = std::make_shared<ReplayOptions>();
    auto* replay = command->add_subcommand(
        "replay", "Replay recorded Postfix logs (oldest first): throttle events and back-off changes per group");
    replay->add_option("--config", opts->config, "presend.yaml whose feedback: section to use (else the defaults)")
        ->check(CLI::ExistingFile);
    replay->add_flag("--json", opts->json, "One JSON document instead of the text timeline");
    replay->add_option("LOGFILE", opts->files, "Postfix log files, in time order")
        ->required()
        ->check(CLI::ExistingFile);
    replay->callback([opts, exit_code] { *exit_code = run_replay(*opts); });
}

} // namespace presend::cli
