// rates_config: see rates_config.hpp. Every value is checked where it is read, so an error points at the
// line to fix; the cross-checks (tenants, groups, duplicates, buckets per recipient) follow the whole section.
#include "engine/rates_config.hpp"

#include "engine/store_config.hpp"
#include "engine/yaml_util.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace presend {

namespace {

using yaml::fail;

// Longer windows are not smoothing but quotas; a week-long bucket would also outlive most restarts.
constexpr auto k_max_window = std::chrono::hours(24 * 7);
constexpr std::size_t k_max_group_name = 64; // a label in metrics and replies
// A warm-up curve longer than this is a typo in factor or max, not a plan.
constexpr std::size_t k_max_warmup_days = 366;

bool valid_group_name(std::string_view name) {
    if (name.empty() || name.size() > k_max_group_name) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
    return true;
}

// A lower-case DNS name, or "*." and one: the patterns DestinationGroups::add() takes.
bool valid_domain_pattern(std::string_view pattern) {
    if (pattern.substr(0, 2) == "*.") pattern.remove_prefix(2);
    if (pattern.empty() || pattern.size() > 253 || pattern.front() == '.' || pattern.back() == '.') return false;
    for (char c : pattern)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
    return pattern.find("..") == std::string_view::npos;
}

double positive_number(const std::string& file, const YAML::Node& node, std::string_view key) {
    const auto value = yaml::as_number(node);
    if (!value || !std::isfinite(*value) || *value <= 0)
        fail(file, node, std::string(key) + ": expected a number above 0");
    return *value;
}

std::chrono::sys_days date_value(const std::string& file, const YAML::Node& node) {
    const auto text = yaml::as_string(node).value_or("");
    int y = 0;
    unsigned m = 0, d = 0;
    char tail = 0;
    if (text.size() != 10 || std::sscanf(text.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &tail) != 3)
        fail(file, node, "start: expected a date YYYY-MM-DD (UTC)");
    const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(m), std::chrono::day(d)};
    if (!ymd.ok()) fail(file, node, "start: '" + text + "' is not a calendar date");
    return std::chrono::sys_days(ymd);
}

// tenant: "*", "-" or one of tenants.
std::string tenant_value(const std::string& file, const YAML::Node& node, const std::vector<Tenant>& tenants,
                         bool star_allowed) {
    const auto id = yaml::nonempty_string(file, node, "tenant");
    if ((id == "*" && star_allowed) || id == k_rates_no_tenant) return id;
    std::vector<std::string_view> known;
    for (const auto& t : tenants) {
        if (t.id == id) return id;
        known.push_back(t.id);
    }
    const auto hint = yaml::suggest(id, known);
    fail(file, node,
         "tenant: '" + id + "' is not a tenant of tenants:" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
             (star_allowed ? "; \"*\" means each tenant, \"-\" mail of no tenant" : "; \"-\" means mail of no tenant"));
}

// One group's domains (or *.domains), or with mx its MX host suffixes; each in one group only: a domain
// goes to one provider, a relay answers for one.
void parse_group_list(const YAML::Node& node, const std::string& file, const std::string& name, bool mx,
                      std::set<std::string>& seen, DestinationGroups& groups) {
    const std::string where = "group '" + name + "': " + (mx ? "mx: " : "");
    if (!node.IsSequence() || node.size() == 0)
        fail(file, node,
             where + (mx ? "expected a list of host suffixes such as [mx.example.com]"
                         : "expected a list of domains such as [example.com, \"*.example.net\"]"));
    for (const auto& item : node) {
        const auto value = yaml::as_string(item).value_or("");
        if (!valid_domain_pattern(value) || (mx && value.starts_with("*.")))
            fail(file, item,
                 where + "'" + value + "' is not " +
                     (mx ? "a lower-case host suffix (it covers the hosts below it: no *.)"
                         : "a lower-case domain or *.domain"));
        if (!seen.insert(value).second) fail(file, item, where + "'" + value + "' is already in a group above");
        if (mx)
            groups.add_mx(value, name);
        else
            groups.add(value, name);
    }
}

void parse_groups(const YAML::Node& node, const std::string& file, DestinationGroups& groups) {
    if (!node.IsMap()) fail(file, node, "groups: expected a mapping of group name to a list of domains");
    std::set<std::string> seen, seen_mx;
    for (const auto& kv : node) {
        const auto name = kv.first.as<std::string>("");
        if (!valid_group_name(name) || name == k_other_group)
            fail(file, kv.first,
                 "group '" + name + "': expected 1 to 64 of a-z 0-9 - _ (and not 'other', the group of every "
                 "domain no group names)");
        if (!kv.second.IsMap()) {
            parse_group_list(kv.second, file, name, false, seen, groups);
            continue;
        }
        yaml::check_keys(kv.second, {"domains", "mx"},
                         [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); });
        if (!kv.second["domains"] && !kv.second["mx"])
            fail(file, kv.second, "group '" + name + "': expected domains:, mx: or both");
        if (auto n = kv.second["domains"]) parse_group_list(n, file, name, false, seen, groups);
        if (auto n = kv.second["mx"]) parse_group_list(n, file, name, true, seen_mx, groups);
    }
}

RateLimit parse_limit(const YAML::Node& node, const std::string& file, const std::vector<Tenant>& tenants,
                      const std::vector<std::string>& group_names) {
    if (!node.IsMap()) fail(file, node, "each limit must be a mapping such as {group: microsoft, rate: 60, per: minute}");
    yaml::check_keys(node, {"tenant", "group", "rate", "per", "burst"},
                     [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); });
    RateLimit limit;
    if (auto n = node["tenant"]) limit.tenant = tenant_value(file, n, tenants, true);
    if (auto n = node["group"]) {
        limit.group = yaml::nonempty_string(file, n, "group");
        if (limit.group != "*" &&
            std::find(group_names.begin(), group_names.end(), limit.group) == group_names.end()) {
            const auto hint = yaml::suggest(limit.group, {group_names.begin(), group_names.end()});
            fail(file, n,
                 "group: '" + limit.group + "' is not a destination group" +
                     (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; \"*\" means each group");
        }
    }
    if (limit.tenant.empty() && limit.group.empty())
        fail(file, node, "a limit needs tenant:, group: or both (which buckets it keeps)");
    const auto rate = node["rate"];
    if (!rate) fail(file, node, "a limit needs rate: (recipients per window)");
    limit.rate = positive_number(file, rate, "rate");
    if (auto n = node["per"]) {
        limit.per_text = yaml::nonempty_string(file, n, "per");
        const auto window = parse_rate_window(limit.per_text);
        if (!window || *window > k_max_window)
            fail(file, n, "per: expected minute, hour, day, or a count and unit such as 10s, 5m, 2h, up to 7d");
        limit.per = *window;
    }
    limit.burst = std::max(1.0, limit.rate); // a burst under one token would never let a recipient through
    if (auto n = node["burst"]) {
        limit.burst = positive_number(file, n, "burst");
        if (limit.burst < 1) fail(file, n, "burst: expected 1 or more (one recipient takes one token)");
    }
    return limit;
}

WarmupSchedule parse_warmup(const YAML::Node& node, const std::string& file, const std::vector<Tenant>& tenants) {
    if (!node.IsMap()) fail(file, node, "each warmup entry must be a mapping with tenant: or sending_ip:, start: and days: or first:/factor:/max:");
    yaml::check_keys(node, {"tenant", "sending_ip", "start", "days", "first", "factor", "max"},
                     [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); });
    WarmupSchedule schedule;
    const auto tenant = node["tenant"];
    const auto ip = node["sending_ip"];
    if (bool(tenant) == bool(ip)) fail(file, node, "a warmup entry needs exactly one of tenant: and sending_ip:");
    if (tenant) schedule.tenant = tenant_value(file, tenant, tenants, false);
    if (ip) schedule.sending_ip = yaml::nonempty_string(file, ip, "sending_ip");
    const auto start = node["start"];
    if (!start) fail(file, node, "a warmup entry needs start: (YYYY-MM-DD, its day 0)");
    schedule.start = date_value(file, start);
    if (auto n = node["days"]) {
        if (!n.IsSequence() || n.size() == 0) fail(file, n, "days: expected a list of daily caps such as [50, 100, 200]");
        for (const auto& day : n) {
            const double cap = positive_number(file, day, "days");
            if (cap < 1) fail(file, day, "days: expected caps of 1 or more");
            schedule.days.push_back(std::floor(cap));
        }
    }
    const auto first = node["first"], factor = node["factor"], max = node["max"];
    if (first) schedule.first = positive_number(file, first, "first");
    if (factor) {
        schedule.factor = positive_number(file, factor, "factor");
        if (schedule.factor <= 1) fail(file, factor, "factor: expected more than 1 (the cap grows each day)");
        if (!max) fail(file, factor, "factor: needs max: (the cap at which warm-up ends)");
        if (!first && schedule.days.empty()) fail(file, factor, "factor: needs first: or days: (day 0's cap)");
    }
    if (max) {
        schedule.max = positive_number(file, max, "max");
        if (!factor) fail(file, max, "max: needs factor: (the daily growth towards it)");
    }
    if (first && !factor) fail(file, first, "first: needs factor: and max:");
    if (first && !schedule.days.empty()) fail(file, first, "first: and days: both give day 0; keep one");
    if (schedule.days.empty() && !factor) fail(file, node, "a warmup entry needs days: or first:, factor: and max:");
    if (factor) {
        const double from = schedule.days.empty() ? schedule.first : schedule.days.back() * schedule.factor;
        const double length = from >= schedule.max ? 0 : std::ceil(std::log(schedule.max / from) / std::log(schedule.factor));
        if (schedule.days.size() + static_cast<std::size_t>(length) > k_max_warmup_days)
            fail(file, factor, "factor: the curve would take more than " + std::to_string(k_max_warmup_days) +
                                   " days to reach max");
    }
    return schedule;
}

} // namespace

std::optional<std::chrono::milliseconds> parse_rate_window(std::string_view text) {
    using namespace std::chrono;
    if (text == "second") return seconds(1);
    if (text == "minute") return minutes(1);
    if (text == "hour") return hours(1);
    if (text == "day") return hours(24);
    long long count = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (ec != std::errc() || count <= 0 || end + 1 != text.data() + text.size()) return std::nullopt;
    switch (*end) {
    case 's':
        return seconds(count);
    case 'm':
        return minutes(count);
    case 'h':
        return hours(count);
    case 'd':
        return hours(24 * count);
    default:
        return std::nullopt;
    }
}

DestinationGroups parse_destination_groups(const YAML::Node& node, const std::string& file) {
    DestinationGroups groups = default_destination_groups();
    if (!node || !node.IsMap()) return groups;
    if (auto n = node["default_groups"]) {
        const auto value = yaml::as_bool(n);
        if (!value) fail(file, n, "default_groups: expected true or false");
        if (!*value) groups = DestinationGroups{};
    }
    if (auto n = node["groups"]) parse_groups(n, file, groups);
    return groups;
}

DestinationGroups load_destination_groups(const std::filesystem::path& path) {
    return parse_destination_groups(yaml::load_config_section(path.string(), "rates"), path.string());
}

RatesConfig parse_rates_config(const YAML::Node& node, const std::string& file, const std::vector<Tenant>& tenants) {
    RatesConfig config;
    if (!node || node.IsNull()) return config;
    if (!node.IsMap()) fail(file, node, "rates: expected a mapping");
    yaml::check_keys(node,
                     {"backend", "redis", "on_error", "state_file", "max_buckets", "default_groups", "groups",
                      "limits", "warmup"},
                     [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); });

    config.backend = "memory"; // writing the section at all asks for counting; memory needs nothing else
    if (auto n = node["backend"]) {
        config.backend = yaml::nonempty_string(file, n, "backend");
        if (config.backend != "memory" && config.backend != "redis" && config.backend != "none")
            fail(file, n, "backend: expected memory, redis or none");
    }
    if (auto n = node["redis"]) config.redis = parse_redis_settings(n, file);
    if (auto n = node["on_error"]) config.on_store_error = parse_store_on_error(n, file);
    if (auto n = node["state_file"]) config.state_file = yaml::config_path(file, n, "state_file");
    if (auto n = node["max_buckets"])
        config.max_buckets = static_cast<std::size_t>(yaml::bounded_integer(file, n, "max_buckets", 1024, 100000000));
    config.groups = parse_destination_groups(node, file);
    const auto group_names = config.groups.names();

    std::set<std::string> ids;
    if (auto list = node["limits"]) {
        if (!list.IsSequence()) fail(file, list, "limits: expected a list");
        for (const auto& item : list) {
            auto limit = parse_limit(item, file, tenants, group_names);
            if (!ids.insert(limit.id()).second)
                fail(file, item, "limit " + limit.id() + " is already given above; one rate per scope and window");
            config.limits.push_back(std::move(limit));
        }
    }
    if (auto list = node["warmup"]) {
        if (!list.IsSequence()) fail(file, list, "warmup: expected a list");
        for (const auto& item : list) {
            auto schedule = parse_warmup(item, file, tenants);
            if (!ids.insert("warmup:" + schedule.id()).second)
                fail(file, item, "warmup for " + schedule.id() + " is already given above");
            config.warmup.push_back(std::move(schedule));
        }
    }

    // The most buckets any one recipient can need, counted without the group filter (an upper bound).
    std::size_t common = 0;
    std::map<std::string, std::size_t> per_tenant;
    for (const auto& limit : config.limits) {
        if (limit.tenant.empty() || limit.tenant == "*")
            ++common;
        else
            ++per_tenant[limit.tenant];
    }
    for (const auto& schedule : config.warmup) {
        if (schedule.sending_ip.empty())
            ++per_tenant[schedule.tenant];
        else
            ++common;
    }
    std::size_t most = common;
    for (const auto& [tenant, count] : per_tenant)
        most = std::max(most, common + count);
    if (most > k_max_buckets_per_recipient)
        fail(file, node,
             "rates: one recipient would need " + std::to_string(most) + " buckets, more than " +
                 std::to_string(k_max_buckets_per_recipient) + " (each costs a store operation per recipient)");
    return config;
}

} // namespace presend
