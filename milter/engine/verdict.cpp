// verdict: names of actions, modes, targets and checks, as they are written in YAML, JSON and logs.
#include "presend/verdict.hpp"
#include "presend/ruleset.hpp"

#include <array>
#include <utility>

namespace presend {

namespace {
constexpr std::array<std::pair<Action, std::string_view>, 6> k_actions{{{Action::accept, "accept"},
                                                                        {Action::tag, "tag"},
                                                                        {Action::quarantine, "quarantine"},
                                                                        {Action::tempfail, "tempfail"},
                                                                        {Action::reject, "reject"},
                                                                        {Action::discard, "discard"}}};
constexpr std::array<std::pair<Target, std::string_view>, 10> k_targets{
    {{Target::subject, "subject"},
     {Target::header, "header"},
     {Target::headers, "headers"},
     {Target::text, "text"},
     {Target::html, "html"},
     {Target::body, "body"},
     {Target::footer, "footer"},
     {Target::url, "url"},
     {Target::url_domain, "url_domain"},
     {Target::attachment_name, "attachment_name"}}};
constexpr std::array<std::pair<Check, std::string_view>, 7> k_checks{
    {{Check::list_unsubscribe, "list-unsubscribe"},
     {Check::list_unsubscribe_post, "list-unsubscribe-post"},
     {Check::from, "from"},
     {Check::from_display_name, "from-display-name"},
     {Check::message_id, "message-id"},
     {Check::date, "date"},
     {Check::link_domain_mismatch, "link-domain-mismatch"}}};

template <class Table, class Key> std::string_view name_of(const Table& table, Key key) {
    for (const auto& [k, name] : table)
        if (k == key) return name;
    return "?";
}
} // namespace

std::string_view to_string(Action action) {
    return name_of(k_actions, action);
}
std::string_view to_string(Target target) {
    return name_of(k_targets, target);
}
std::string_view to_string(Check check) {
    return name_of(k_checks, check);
}

std::optional<Action> parse_action(std::string_view text) {
    for (const auto& [action, name] : k_actions)
        if (name == text) return action;
    return std::nullopt;
}

std::string_view to_string(Mode mode) {
    return mode == Mode::enforce ? "enforce" : "dry-run";
}

std::optional<Mode> parse_mode(std::string_view text) {
    if (text == "enforce") return Mode::enforce;
    if (text == "dry-run" || text == "dry_run") return Mode::dry_run;
    return std::nullopt;
}

std::string_view to_string(MessageClass message_class) {
    return message_class == MessageClass::bulk ? "bulk" : "transactional";
}

std::optional<MessageClass> parse_message_class(std::string_view text) {
    if (text == "bulk") return MessageClass::bulk;
    if (text == "transactional") return MessageClass::transactional;
    return std::nullopt;
}

std::optional<Target> parse_target(std::string_view text) {
    for (const auto& [target, name] : k_targets)
        if (name == text) return target;
    return std::nullopt;
}

std::optional<Check> parse_check(std::string_view text) {
    for (const auto& [check, name] : k_checks)
        if (name == text) return check;
    return std::nullopt;
}

std::vector<std::string_view> check_names() {
    std::vector<std::string_view> names;
    for (const auto& entry : k_checks)
        names.push_back(entry.second);
    return names;
}

} // namespace presend
