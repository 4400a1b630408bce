// suppress_command: `presend suppress add|remove|list|check|import|bench` manages the suppression list in the
// store named by --store, or by the suppression: section of --config, else
// sqlite:/var/lib/presend/suppression.db. Exit codes: 0 done (check: not suppressed); 1 check: suppressed,
// remove: not found, import: bad lines; 2 usage, config or store error.
#include "cli/commands.hpp"
#include "cli/progress_line.hpp"
#include "cli/timed_run.hpp"

#include "engine/suppression_config.hpp"
#include "engine/suppression_import.hpp"
#include "presend/suppression.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

namespace presend::cli {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t k_max_reported_bad_lines = 20; // a corrupt file must not bury the summary

struct StoreOptions {
    std::string store;  // sqlite:PATH | redis://HOST[:PORT][/DB]
    std::string config; // presend.yaml
};

void add_store_options(CLI::App& command, StoreOptions& options) {
    auto* store = command.add_option("--store", options.store,
                                     "sqlite:PATH or redis://HOST[:PORT][/DB] (default: --config, else "
                                     "sqlite:/var/lib/presend/suppression.db)");
    command
        .add_option("-c,--config", options.config, "presend.yaml whose suppression: section names the store")
        ->check(CLI::ExistingFile)
        ->excludes(store);
}

SuppressionConfig store_config(const StoreOptions& options) {
    if (!options.store.empty()) return parse_store_spec(options.store);
    if (!options.config.empty()) {
        auto config = load_suppression_config(options.config);
        if (config.backend == "none")
            throw std::invalid_argument(options.config +
                                        ": no suppression store configured (suppression.backend)");
        return config;
    }
    SuppressionConfig config;
    config.backend = "sqlite";
    return config;
}

std::unique_ptr<SuppressionStore> open_store(const StoreOptions& options) {
    return open_suppression_store(store_config(options));
}

// "30d", "12h", "2w" from now, or an absolute time (2025-01-31, unix seconds).
std::optional<std::int64_t> expiry(const std::string& text, std::int64_t now) {
    if (text.empty()) return std::nullopt;
    if (auto duration = parse_duration(text); duration && (text.back() < '0' || text.back() > '9'))
        return now + *duration;
    if (auto when = parse_time(text)) return *when;
    throw std::invalid_argument("--expires '" + text +
                                "': expected a duration (30d, 12h, 2w) or a date (2025-01-31)");
}

SuppressionReason reason_of(const std::string& text) {
    auto reason = parse_suppression_reason(text);
    if (!reason)
        throw std::invalid_argument("--reason '" + text +
                                    "': expected hard_bounce, complaint, unsubscribe or manual");
    return *reason;
}

std::string default_source() {
    const char* user = std::getenv("SUDO_USER");
    if (!user || !*user) user = std::getenv("USER");
    return user && *user ? std::string("cli (") + user + ")" : std::string("cli");
}

// A source or tenant imported from a Latin-1 CSV need not be UTF-8: U+FFFD stands in, as in the decision
// log, rather than the dump throwing halfway through a listing.
std::string json_line(const nlohmann::json& value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json to_json(const SuppressionEntry& entry) {
    return {{"address_or_domain", entry.address_or_domain},
            {"is_domain", entry.is_domain},
            {"reason", to_string(entry.reason)},
            {"source", entry.source},
            {"created", entry.created},
            {"scope", entry.scope},
            {"expires", entry.expires ? nlohmann::json(*entry.expires) : nlohmann::json(nullptr)}};
}

// ---- add, remove -----------------------------------------------------------------------------------------

struct EditOptions {
    StoreOptions store;
    std::vector<std::string> targets;
    std::string tenant;
    std::string reason = "manual";
    std::string source;
    std::string expires;
};

void add_add(CLI::App& parent, int* exit_code) {
    auto opts = std::make_shared<EditOptions>();
    auto* command =
        parent.add_subcommand("add", "Suppress addresses or whole domains (example.com or @example.com)");
    add_store_options(*command, opts->store);
    command->add_option("--reason", opts->reason, "hard_bounce, complaint, unsubscribe or manual")
        ->capture_default_str();
    command->add_option("--source", opts->source, "Who or what asked for it (default: cli (USER))");
    command->add_option("--tenant", opts->tenant, "Only for this tenant (default: global, every tenant)");
    command->add_option("--expires", opts->expires,
                        "Lift it after a while (30d, 12h, 2w) or on a date (2025-01-31)");
    command->add_option("targets", opts->targets, "Addresses or domains")->required();
    command->callback([opts, exit_code] {
        const auto reason = reason_of(opts->reason);
        const auto now = unix_now();
        const auto expires = expiry(opts->expires, now);
        auto store = open_store(opts->store);
        for (const auto& target : opts->targets) {
            SuppressionEntry entry;
            entry.address_or_domain = target;
            entry.reason = reason;
            entry.source = opts->source.empty() ? default_source() : opts->source;
            entry.scope = opts->tenant;
            entry.expires = expires;
            const auto outcome = store->add(entry);
            const auto key = normalize_suppression_key(target);
            std::printf("%s %s%s (%s, %s)\n",
                        outcome == AddOutcome::added     ? "added"
                        : outcome == AddOutcome::updated ? "updated"
                                                         : "unchanged",
                        key->is_domain ? "every address at " : "", key->key.c_str(),
                        std::string(to_string(reason)).c_str(),
                        opts->tenant.empty() ? "global" : ("tenant " + opts->tenant).c_str());
        }
        *exit_code = 0;
    });
}

void add_remove(CLI::App& parent, int* exit_code) {
    auto opts = std::make_shared<EditOptions>();
    auto* command = parent.add_subcommand("remove", "Lift the suppression of addresses or domains");
    add_store_options(*command, opts->store);
    command->add_option("--tenant", opts->tenant, "The tenant's entry (default: the global one)");
    command->add_option("targets", opts->targets, "Addresses or domains, as they were added")->required();
    command->callback([opts, exit_code] {
        auto store = open_store(opts->store);
        int missing = 0;
        for (const auto& target : opts->targets) {
            if (store->remove(target, opts->tenant)) {
                std::printf("removed %s\n", target.c_str());
            } else {
                std::printf("not found: %s (%s)\n", target.c_str(),
                            opts->tenant.empty() ? "global" : ("tenant " + opts->tenant).c_str());
                ++missing;
            }
        }
        *exit_code = missing ? 1 : 0;
    });
}

// ---- list, check -----------------------------------------------------------------------------------------

struct ListOptions {
    StoreOptions store;
    std::string tenant;
    bool global = false;
    std::size_t limit = 1000;
    std::string format = "table";
};

void add_list(CLI::App& parent, int* exit_code) {
    auto opts = std::make_shared<ListOptions>();
    auto* command = parent.add_subcommand("list", "Show suppressed addresses and domains");
    add_store_options(*command, opts->store);
    auto* tenant = command->add_option("--tenant", opts->tenant, "Only this tenant's entries");
    command->add_flag("--global", opts->global, "Only the global entries")->excludes(tenant);
    command->add_option("--limit", opts->limit, "At most this many (0: all)")->capture_default_str();
    command->add_option("--format", opts->format, "table, or json (one object per line)")
        ->check(CLI::IsMember({"table", "json"}));
    command->callback([opts, exit_code] {
        auto store = open_store(opts->store);
        std::optional<std::string> scope;
        if (opts->global) scope = "";
        if (!opts->tenant.empty()) scope = opts->tenant;
        const auto entries = store->list(scope, opts->limit);
        if (opts->format == "json") {
            for (const auto& e : entries)
                std::cout << json_line(to_json(e)) << "\n";
        } else {
            std::printf("%-40s %-16s %-12s %-20s %-20s %s\n", "ADDRESS/DOMAIN", "SCOPE", "REASON", "CREATED",
                        "EXPIRES", "SOURCE");
            for (const auto& e : entries)
                std::printf("%-40s %-16s %-12s %-20s %-20s %s\n",
                            (e.is_domain ? "@" + e.address_or_domain : e.address_or_domain).c_str(),
                            e.scope.empty() ? "(global)" : e.scope.c_str(),
                            std::string(to_string(e.reason)).c_str(), format_utc(e.created).c_str(),
                            e.expires ? format_utc(*e.expires).c_str() : "never", e.source.c_str());
            if (opts->limit && entries.size() == opts->limit)
                std::printf("(first %zu shown; --limit 0 for all)\n", entries.size());
        }
        std::cout.flush();
        *exit_code = 0;
    });
}

struct SuppressCheckOptions {
    StoreOptions store;
    std::string tenant;
    std::string format = "text";
    std::vector<std::string> addresses;
};

void add_suppress_check(CLI::App& parent, int* exit_code) {
    auto opts = std::make_shared<SuppressCheckOptions>();
    auto* command =
        parent.add_subcommand("check", "Whether and why recipients are suppressed (exit 1: at least one is)");
    add_store_options(*command, opts->store);
    command->add_option("--tenant", opts->tenant,
                        "Check as this tenant's recipient (its entries and the global ones)");
    command->add_option("--format", opts->format, "text or json")->check(CLI::IsMember({"text", "json"}));
    command->add_option("addresses", opts->addresses, "Recipient addresses")->required();
    command->callback([opts, exit_code] {
        auto store = open_store(opts->store);
        bool any = false;
        for (const auto& address : opts->addresses) {
            const auto hit = store->find(address, opts->tenant);
            any = any || hit.has_value();
            if (opts->format == "json") {
                nlohmann::json out{{"address", address}, {"suppressed", hit.has_value()}};
                if (hit) out["entry"] = to_json(*hit);
                std::cout << json_line(out) << "\n";
            } else if (!normalize_address(address)) {
                std::cout << address << ": not an address, never suppressed\n";
            } else if (hit) {
                std::cout << address << ": suppressed: " << (hit->is_domain ? "domain " : "")
                          << hit->address_or_domain << ": " << explain(*hit) << "\n";
            } else {
                std::cout << address << ": not suppressed\n";
            }
        }
        std::cout.flush();
        *exit_code = any ? 1 : 0;
    });
}

// ---- import ----------------------------------------------------------------------------------------------

struct ImportOptions {
    StoreOptions store;
    std::string format;
    std::vector<std::string> files;
    std::string tenant;
    std::string reason = "manual";
    std::string source;
    std::string expires;
    bool include_policy = false;
    bool dry_run = false;
};

void add_import(CLI::App& parent, int* exit_code) {
    auto opts = std::make_shared<ImportOptions>();
    auto* command =
        parent.add_subcommand("import", "Add entries from CSV files or Postfix logs; re-importing a file "
                                        "adds nothing new");
    add_store_options(*command, opts->store);
    command
        ->add_option("--format", opts->format,
                     "csv (address,reason,source,created,expires,scope) or postfix-log")
        ->required()
        ->check(CLI::IsMember({"csv", "postfix-log"}));
    command->add_option("--tenant", opts->tenant, "Scope for rows that name none (default: global)");
    command->add_option("--reason", opts->reason, "csv: reason for rows that name none")
        ->capture_default_str();
    command->add_option("--source", opts->source,
                        "Source for rows that name none (postfix-log: for every entry)");
    command->add_option("--expires", opts->expires, "Expiry for rows that name none (30d, 2025-01-31)");
    command->add_flag("--include-policy-bounces", opts->include_policy,
                      "postfix-log: also 5.7.x bounces (spam, DMARC, blocklists: usually the sender's fault, "
                      "not a dead address)");
    command->add_flag("-n,--dry-run", opts->dry_run, "Read and report, write nothing");
    command->add_option("files", opts->files, "Files to read ('-' for standard input)")->required();
    command->callback([opts, exit_code] {
        ImportDefaults defaults;
        defaults.now = unix_now();
        defaults.reason = reason_of(opts->reason);
        defaults.source = opts->source;
        defaults.scope = opts->tenant;
        defaults.expires = expiry(opts->expires, defaults.now);
        defaults.include_policy_bounces = opts->include_policy;
        if (!valid_suppression_scope(opts->tenant))
            throw std::invalid_argument("--tenant '" + opts->tenant +
                                        "': use 1-128 of A-Z a-z 0-9 . _ - @ + = /");
        std::unique_ptr<SuppressionStore> store;
        if (!opts->dry_run) store = open_store(opts->store);
        bool any_bad = false;

        for (const auto& file : opts->files) {
            std::ifstream stream;
            std::istream* in = &std::cin;
            if (file != "-") {
                stream.open(file, std::ios::binary);
                if (!stream) throw std::runtime_error(file + ": cannot read file");
                in = &stream;
            }
            ImportResult parsed;
            {
                ProgressLine progress(file + ": reading", "lines");
                ProgressCounts counts;
                std::error_code ec;
                if (const auto size = std::filesystem::file_size(file, ec); file != "-" && !ec)
                    counts.total_bytes = size;
                const LineProgress reading = [&](std::size_t lines) {
                    counts.items = lines;
                    if (const auto at = stream.is_open() ? stream.tellg() : std::streampos(-1); at >= 0)
                        counts.bytes = static_cast<std::uint64_t>(at);
                    progress.update(counts);
                };
                parsed = opts->format == "csv" ? parse_suppression_csv(*in, defaults, reading)
                                               : parse_postfix_log(*in, defaults, reading);
            }
            if (in->bad()) throw std::runtime_error(file + ": read error");

            for (std::size_t i = 0; i < parsed.bad.size() && i < k_max_reported_bad_lines; ++i)
                std::fprintf(stderr, "%s:%zu: %s\n", file.c_str(), parsed.bad[i].line,
                             parsed.bad[i].message.c_str());
            if (parsed.bad.size() > k_max_reported_bad_lines)
                std::fprintf(stderr, "%s: ... and %zu more bad lines\n", file.c_str(),
                             parsed.bad.size() - k_max_reported_bad_lines);
            any_bad = any_bad || !parsed.bad.empty();

            BatchResult written;
            if (store && !parsed.entries.empty()) {
                const auto total = parsed.entries.size();
                ProgressLine progress(file + ": writing", "entries");
                written = store->add_batch(parsed.entries, [&](std::size_t done) {
                    progress.update({done, total, 0, 0});
                });
            }
            std::printf("%s: %zu lines, %zu entries%s: added %zu, updated %zu, skipped %zu (already present)",
                        file.c_str(), parsed.lines, parsed.entries.size(),
                        opts->dry_run ? " (dry run, nothing written)" : "", written.added, written.updated,
                        written.unchanged);
            if (written.duplicates) std::printf(", %zu repeated in the file", written.duplicates);
            std::printf("; %zu lines ignored", parsed.ignored);
            if (parsed.policy_bounces)
                std::printf(", %zu policy bounces (5.7.x) left out", parsed.policy_bounces);
            if (parsed.notifications)
                std::printf(", %zu bounced non-delivery notices left out", parsed.notifications);
            if (parsed.expired) std::printf(", %zu already expired", parsed.expired);
            std::printf(", %zu bad\n", parsed.bad.size());
        }
        std::fflush(stdout);
        *exit_code = any_bad ? 1 : 0;
    });
}

// ---- bench -----------------------------------------------------------------------------------------------

struct SuppressBenchOptions {
    StoreOptions store;
    std::size_t entries = 1000000;
    std::size_t lookups = 1000000;
    unsigned threads = 1;
};

constexpr const char* k_bench_tenant = "presend-bench";

// Entry i: every 100th a whole domain, the rest addresses spread over 5000 domains; every 4th in the bench
// tenant's scope, the others global. Names end in .invalid (RFC 2606): they can never be a real recipient.
SuppressionEntry bench_entry(std::size_t i, std::int64_t expires) {
    SuppressionEntry entry;
    if (i % 100 == 0)
        entry.address_or_domain = "blocked" + std::to_string(i / 100) + ".bench.invalid";
    else
        entry.address_or_domain =
            "user" + std::to_string(i) + "@mail" + std::to_string(i % 5000) + ".bench.invalid";
    entry.reason = SuppressionReason::hard_bounce;
    entry.source = "presend suppress bench";
    entry.scope = i % 4 == 1 ? k_bench_tenant : "";
    entry.expires = expires;
    return entry;
}

struct LookupMix {
    std::vector<std::string> recipients;
    std::size_t expected_hits = 0; // for the tenant lookups
};

// Hits and misses in turn: a suppressed address, an unknown user at a known domain, any user at a suppressed
// domain, an unknown domain.
LookupMix lookup_mix(std::size_t count, std::size_t entries) {
    std::mt19937_64 rng(20261127);
    std::uniform_int_distribution<std::size_t> pick(0, entries - 1);
    LookupMix mix;
    mix.recipients.reserve(count);
    for (std::size_t n = 0; n < count; ++n) {
        std::size_t i = pick(rng);
        switch (n % 4) {
        case 0:
            if (i % 100 == 0) i = std::min(i + 1, entries - 1);
            if (i % 100 == 0) i = entries > 1 ? 1 : 0;
            mix.recipients.push_back("<User" + std::to_string(i) + "@Mail" + std::to_string(i % 5000) +
                                     ".bench.invalid>");
            mix.expected_hits += i % 100 != 0;
            break;
        case 1:
            mix.recipients.push_back("nobody" + std::to_string(i) + "@mail" + std::to_string(i % 5000) +
                                     ".bench.invalid");
            break;
        case 2:
            mix.recipients.push_back("anyone" + std::to_string(n) + "@blocked" + std::to_string(i / 100) +
                                     ".bench.invalid");
            ++mix.expected_hits;
            break;
        default:
            mix.recipients.push_back("user" + std::to_string(i) + "@elsewhere.bench.invalid");
            break;
        }
    }
    return mix;
}

void run_lookups(const SuppressionStore& store, const LookupMix& mix, const std::string& tenant,
                 unsigned threads) {
    std::vector<std::size_t> hits(threads, 0);
    TimedRun run;
    try {
        run = timed_run(mix.recipients.size(), threads, [&](std::size_t i, unsigned t) {
            hits[t] += store.find(mix.recipients[i], tenant).has_value();
        });
    } catch (const std::runtime_error& e) {
        throw StoreError(e.what());
    }
    std::size_t hit_count = 0;
    for (auto h : hits)
        hit_count += h;
    const double n = static_cast<double>(mix.recipients.size());
    // Per CPU-second is the figure that holds on a busy host; wall-clock rates drop with whatever else runs.
    std::printf(
        "  lookups %-24s %9.0f/s wall, %9.0f/s per CPU-second  (%zu in %.2f s, %u thread%s; hits %.1f%%; "
        "p50 %.1f us, p99 %.1f us, max %.0f us)\n",
        tenant.empty() ? "(global only)" : ("(tenant " + tenant + ")").c_str(), n / run.seconds,
        n / run.cpu_seconds, mix.recipients.size(), run.seconds, threads, threads == 1 ? "" : "s",
        100.0 * static_cast<double>(hit_count) / n, run.percentile(0.50), run.percentile(0.99), run.max());
    if (!tenant.empty() && hit_count != mix.expected_hits)
        std::printf("  WARNING: %zu hits, expected %zu: the store is not answering as it should\n", hit_count,
                    mix.expected_hits);
}

void add_suppress_bench(CLI::App& parent, int* exit_code) {
    auto opts = std::make_shared<SuppressBenchOptions>();
    auto* command = parent.add_subcommand(
        "bench",
        "Fill a store, then measure lookups/s (hits and misses mixed). Default: a temporary SQLite file; "
        "entries written to a given store expire after an hour");
    add_store_options(*command, opts->store);
    command->add_option("--entries", opts->entries, "Entries to fill in")
        ->check(CLI::Range(1, 100000000))
        ->capture_default_str();
    command->add_option("--lookups", opts->lookups, "Lookups to time")
        ->check(CLI::Range(1, 100000000))
        ->capture_default_str();
    command->add_option("--threads", opts->threads, "Threads looking up at once")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    command->callback([opts, exit_code] {
        SuppressionConfig config;
        std::filesystem::path temp;
        if (opts->store.store.empty() && opts->store.config.empty()) {
            temp = std::filesystem::temp_directory_path() /
                   ("presend-suppress-bench-" + std::to_string(::getpid()));
            std::filesystem::create_directories(temp);
            config.backend = "sqlite";
            config.path = temp / "suppression.db";
        } else {
            config = store_config(opts->store);
        }
        struct Cleanup {
            std::filesystem::path dir;
            ~Cleanup() {
                std::error_code ec;
                if (!dir.empty()) std::filesystem::remove_all(dir, ec);
            }
        } cleanup{temp};

        auto store = open_suppression_store(config);
        const auto now = unix_now();
        std::vector<SuppressionEntry> entries;
        entries.reserve(opts->entries);
        for (std::size_t i = 0; i < opts->entries; ++i)
            entries.push_back(bench_entry(i, now + 3600));
        std::printf("%s\n", store->describe().c_str());
        const auto f0 = Clock::now();
        BatchResult written;
        {
            ProgressLine progress("  filling", "entries");
            written = store->add_batch(std::move(entries), [&](std::size_t done) {
                progress.update({done, opts->entries, 0, 0});
            });
        }
        const double fill_s = std::chrono::duration<double>(Clock::now() - f0).count();
        std::printf("  fill     %zu entries in %.2f s (%.0f/s; added %zu, updated %zu, unchanged %zu)\n",
                    opts->entries, fill_s, static_cast<double>(opts->entries) / fill_s, written.added,
                    written.updated, written.unchanged);

        const auto mix = lookup_mix(opts->lookups, opts->entries);
        run_lookups(*store, mix, k_bench_tenant, opts->threads);
        run_lookups(*store, mix, "", opts->threads);
        std::fflush(stdout);
        *exit_code = 0;
    });
}

} // namespace

void add_suppress_command(CLI::App& app, int* exit_code) {
    auto* command =
        app.add_subcommand("suppress", "Manage the suppression list: recipients never to be mailed again");
    command->require_subcommand(1);
    command->footer(
        "Exit status: 0 done (check: not suppressed); 1 check: suppressed, remove: not found, import: "
        "bad lines; 2 usage, config or store error. See docs/suppression.md.");
    add_add(*command, exit_code);
    add_remove(*command, exit_code);
    add_list(*command, exit_code);
    add_suppress_check(*command, exit_code);
    add_import(*command, exit_code);
    add_suppress_bench(*command, exit_code);
}

} // namespace presend::cli
