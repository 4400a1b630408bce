// check_command: `presend check [--rules DIR] [--config FILE] [--format text|json] [--explain] FILE.eml|-...`
// gives the verdict the daemon would give each message (enforce mode), with the same engine, offline: the
// config's limits (time budget and max_message_bytes included) and rules_dir apply as in the daemon;
// --rules wins over rules_dir.
// The envelope flags select the tenant as the daemon would; --tenant and --class impose them instead.
#include "cli/commands.hpp"
#include "cli/milter_chunks.hpp"
#include "cli/rules_option.hpp"

#include "presend/engine.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <limits>

namespace presend::cli {

namespace {

struct CheckOptions {
    std::string rules_dir;
    std::string config_file;
    Envelope envelope;
    std::string tenant;
    std::string message_class;
    std::int64_t now = 0;
    CLI::Option* now_option = nullptr;
    std::string format = "text";
    bool explain = false;
    std::vector<std::string> files;
};

nlohmann::json to_json(const std::string& file, const ParsedMessage& message, const Verdict& verdict) {
    nlohmann::json hits = nlohmann::json::array();
    for (const auto& hit : verdict.hits)
        hits.push_back({{"rule", hit.rule},
                        {"target", hit.target},
                        {"detail", hit.detail},
                        {"score", hit.score},
                        {"action", hit.action ? std::string(to_string(*hit.action)) : ""},
                        {"monitor", hit.monitor}});
    const Header* id = message.header("Message-ID");
    nlohmann::json out = {
        {"file", file},
        {"verdict", to_string(verdict.would_action)},
        {"score", verdict.score},
        {"reply", verdict.would_action == Action::reject || verdict.would_action == Action::tempfail
                      ? verdict.reply
                      : ""},
        {"message_id", id ? id->raw_value : ""},
        {"hits", hits},
        {"notes", verdict.notes},
        {"tenant", verdict.tenant},
        {"class", verdict.message_class ? to_string(*verdict.message_class) : ""}};
    if (verdict.consent)
        out["attestation"] = {{"tenant", verdict.consent->tenant},
                              {"list", verdict.consent->list},
                              {"basis", verdict.consent->basis}};
    return out;
}

void print_text(const std::string& file, const Verdict& verdict, const RuleSet& rules, bool explain) {
    std::printf("%s: %s (score %.1f)\n", file.c_str(), std::string(to_string(verdict.would_action)).c_str(),
                verdict.score);
    if (!verdict.tenant.empty())
        std::printf("  tenant: %s (%s, %s)\n", verdict.tenant.c_str(),
                    std::string(to_string(verdict.message_class.value_or(MessageClass::bulk))).c_str(),
                    std::string(to_string(verdict.mode)).c_str());
    if (verdict.consent)
        std::printf("  attestation: tenant %s, list %s, basis %s\n", verdict.consent->tenant.c_str(),
                    verdict.consent->list.c_str(), verdict.consent->basis.c_str());
    for (const auto& hit : verdict.hits) {
        std::string effect = hit.action ? std::string(to_string(*hit.action)) : "score";
        if (hit.monitor) effect = "monitor";
        std::printf("  %-32s %-28s %+5.1f  %-10s %s\n", hit.rule.c_str(), hit.target.c_str(), hit.score,
                    effect.c_str(), hit.detail.c_str());
        if (explain)
            if (const Rule* rule = rules.find(hit.rule))
                std::printf("      %s (%s:%d)\n", rule->description.c_str(), rule->pos.file.c_str(), rule->pos.line);
    }
    if (verdict.would_action == Action::reject)
        std::printf("  reply: 550 5.7.1 %s\n", verdict.reply.c_str());
    else if (verdict.would_action == Action::tempfail)
        std::printf("  reply: 451 4.7.1 %s\n", verdict.reply.c_str());
    for (const auto& note : verdict.notes) std::printf("  note: %s\n", note.c_str());
}

} // namespace

void add_check_command(CLI::App& app, int* exit_code) {
    auto opts = std::make_shared<CheckOptions>();
    auto* command = app.add_subcommand("check", "Give the verdict for .eml files, offline, as the daemon would");
    add_rules_option(*command, opts->rules_dir);
    command->add_option("--format", opts->format, "Output format")->check(CLI::IsMember({"text", "json"}));
    command->add_flag("--explain", opts->explain, "Show each hit's rule description and source");
    add_config_option(*command, opts->config_file);
    command->add_option("--auth-user", opts->envelope.auth_user, "SMTP AUTH login, for tenant selection");
    command->add_option("--client-addr", opts->envelope.client_addr,
                        "SMTP client address, for tenant selection");
    command->add_option("--mail-from", opts->envelope.mail_from, "Envelope sender address");
    command->add_option("--tenant", opts->tenant, "Judge as mail of this tenant of the config");
    command->add_option("--class", opts->message_class, "Message class instead of the tenant's")
        ->check(CLI::IsMember({"bulk", "transactional"}));
    opts->now_option =
        command->add_option("--now", opts->now, "Unix time at which attestation tokens are judged")
            ->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
    command->add_option("files", opts->files, "Messages to check (.eml); - for standard input")
        ->required()
        ->check(CLI::Validator(
            [](std::string& file) { return file == "-" ? std::string() : CLI::ExistingFile(file); },
            "FILE|-"));
    command->footer(
        "Exit status: 0 a verdict for every message, whatever it is; 2 the rules, the config or a "
        "message cannot be read.");
    command->callback([opts, exit_code] {
        const auto config = load_config_or_report(opts->config_file, std::cerr);
        const auto rules = config ? load_rules_or_report(opts->rules_dir.empty() ? config->rules_dir.string()
                                                                                 : opts->rules_dir,
                                                         std::cerr, false)
                                  : nullptr;
        if (!rules) {
            *exit_code = 2;
            return;
        }
        if (auto error = check_tenant_rulesets(config->tenants, *rules); !error.empty()) {
            std::cerr << error << "\n";
            *exit_code = 2;
            return;
        }
        ContextOptions context_options;
        if (!opts->tenant.empty()) context_options.tenant = opts->tenant;
        if (!opts->message_class.empty())
            context_options.message_class = parse_message_class(opts->message_class);
        if (opts->now_option->count()) context_options.now = opts->now;
        if (opts->tenant.size() && !find_tenant(config->tenants, opts->tenant)) {
            std::cerr << "--tenant " << opts->tenant << ": no such tenant in the config\n";
            *exit_code = 2;
            return;
        }
        for (const auto& file : opts->files) {
            // "-": one message piped in, as `report` and `suppress import` read standard input.
            const std::string raw =
                file == "-" ? std::string(std::istreambuf_iterator<char>(std::cin), {}) : read_file(file);
            const auto start = std::chrono::steady_clock::now();
            // Past max_message_bytes the daemon judges the headers only; the MTA's chunks are assembled as
            // the daemon does to tell. Assembly adds at most a CR per LF, so a message under half the cap
            // cannot pass it.
            daemon::MessageBuilder builder;
            if (raw.size() > config->limits.max_message_bytes / 2)
                feed(builder, to_milter_chunks(raw), config->limits.max_message_bytes,
                     config->limits.max_headers);
            const bool oversize = builder.oversize();
            ParsedMessage message;
            if (oversize)
                parse_headers_only(builder.headers_only(), message, config->limits);
            else
                parse_message(raw, message, config->limits);
            const MessageContext context = message_context(*config, opts->envelope, message, context_options);
            Verdict verdict = judge(*rules, message, opts->envelope, context, Mode::enforce);
            apply_limits(verdict, config->limits, std::chrono::steady_clock::now() - start);
            if (oversize) apply_oversize(verdict, config->limits, builder.headers_truncated());
            if (opts->format == "json")
                // A file name need not be UTF-8: U+FFFD stands in, as in the decision log, rather than the
                // dump throwing.
                std::cout << to_json(file, message, verdict)
                                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                          << "\n";
            else
                print_text(file, verdict, *rules, opts->explain);
        }
        std::cout.flush();
    });
}

} // namespace presend::cli
