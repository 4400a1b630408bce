// rates: destination groups, the limits a recipient needs and the decision. See presend/rates.hpp. The store
// does the counting (rates_memory.cpp, rates_redis.cpp); this file only says which buckets, of what shape.
#include "presend/rates.hpp"
#include "engine/ascii.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <tuple>

namespace presend {

namespace {

// A warm-up day's bucket outlives its day by this much, so a clock a little behind on another MTA of the
// fleet still finds it; after that it goes, and day n+1 starts with a new key.
constexpr std::int64_t k_warmup_slack_ms = 3600000;
// A limit's bucket is dropped this long after it would be full again: full and absent are the same.
constexpr std::int64_t k_limit_slack_ms = 1000;

std::string day_text(std::chrono::sys_days day) {
    const std::chrono::year_month_day ymd{day};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    return buf;
}

} // namespace

void DestinationGroups::add(std::string_view pattern, std::string_view group) {
    if (pattern.size() > 2 && pattern.substr(0, 2) == "*.")
        m_suffix[std::string(pattern.substr(1))] = std::string(group);
    else
        m_exact[std::string(pattern)] = std::string(group);
}

void DestinationGroups::add_mx(std::string_view suffix, std::string_view group) {
    m_mx["." + std::string(suffix)] = std::string(group);
}

namespace {

// Longer names are not DNS names.
constexpr std::size_t k_max_name = 255;

// "." + name lower-cased, without its trailing dots, in buf (no allocation per recipient); "" when empty or
// too long.
std::string_view dotted_lower(std::string_view name, char (&buf)[k_max_name + 2]) {
    while (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    if (name.empty() || name.size() > k_max_name) return {};
    buf[0] = '.';
    for (std::size_t i = 0; i < name.size(); ++i)
        buf[i + 1] = ascii::lower(name[i]);
    return {buf, name.size() + 1};
}

// The entry of map for the longest suffix of dotted (".a.b.c": ".a.b.c", ".b.c", ".c"), walking the dots from
// the left; from = 1 leaves out dotted itself.
const std::string* longest_suffix(const StringMap<std::string>& map, std::string_view dotted, std::size_t from) {
    for (std::size_t dot = dotted.find('.', from); dot != std::string_view::npos; dot = dotted.find('.', dot + 1))
        if (auto it = map.find(dotted.substr(dot)); it != map.end()) return &it->second;
    return nullptr;
}

} // namespace

std::string_view DestinationGroups::group_of(std::string_view domain) const {
    char buf[k_max_name + 2];
    const auto dotted = dotted_lower(domain, buf);
    if (dotted.empty()) return k_other_group;
    if (auto it = m_exact.find(dotted.substr(1)); it != m_exact.end()) return it->second;
    const std::string* group = longest_suffix(m_suffix, dotted, 1); // *.suffix: subdomains only
    return group ? std::string_view(*group) : k_other_group;
}

std::string_view DestinationGroups::group_of_mx(std::string_view host) const {
    char buf[k_max_name + 2];
    const auto dotted = dotted_lower(host, buf);
    if (dotted.empty()) return {};
    const std::string* group = longest_suffix(m_mx, dotted, 0); // the suffix's own host too
    return group ? std::string_view(*group) : std::string_view{};
}

std::vector<std::string> DestinationGroups::names() const {
    std::set<std::string> names{std::string(k_other_group)};
    for (const auto& [pattern, group] : m_exact)
        names.insert(group);
    for (const auto& [pattern, group] : m_suffix)
        names.insert(group);
    for (const auto& [suffix, group] : m_mx)
        names.insert(group);
    return {names.begin(), names.end()};
}

std::vector<std::pair<std::string, std::string>> DestinationGroups::entries() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [pattern, group] : m_exact)
        out.emplace_back(pattern, group);
    for (const auto& [suffix, group] : m_suffix)
        out.emplace_back("*" + suffix, group);
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return std::tie(a.second, a.first) < std::tie(b.second, b.first); });
    return out;
}

std::vector<std::pair<std::string, std::string>> DestinationGroups::mx_entries() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [suffix, group] : m_mx)
        out.emplace_back(suffix.substr(1), group);
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return std::tie(a.second, a.first) < std::tie(b.second, b.first); });
    return out;
}

DestinationGroups default_destination_groups() {
    // The providers whose receivers throttle by volume, with the national domains that share their
    // infrastructure (the same inbound servers, the same reputation), and the suffixes of those servers' host
    // names (a throttling reply names the host it came from).
    struct Shipped {
        const char* group;
        std::vector<const char*> domains;
        std::vector<const char*> mx;
    };
    static const Shipped k_defaults[] = {
        {"microsoft",
         {"outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com", "windowslive.com",
          "outlook.de", "outlook.fr", "outlook.es", "outlook.it", "outlook.jp", "outlook.com.au",
          "outlook.com.br", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it", "hotmail.es",
          "hotmail.nl", "hotmail.be", "hotmail.ca", "hotmail.co.jp", "hotmail.com.br", "hotmail.com.au",
          "live.co.uk", "live.fr", "live.de", "live.it", "live.nl", "live.be", "live.ca", "live.com.au"},
         {"protection.outlook.com"}},
        {"google", {"gmail.com", "googlemail.com"}, {"google.com"}},
        // verizon.net, att.net, sbcglobal.net and bellsouth.net are mailboxes Yahoo hosts.
        {"yahoo",
         {"yahoo.com", "ymail.com", "rocketmail.com", "aol.com", "aim.com", "yahoo.co.uk", "yahoo.fr",
          "yahoo.de", "yahoo.it", "yahoo.es", "yahoo.ca", "yahoo.co.jp", "yahoo.com.au", "yahoo.com.br",
          "yahoo.co.in", "aol.co.uk", "aol.de", "aol.fr", "verizon.net", "att.net", "sbcglobal.net",
          "bellsouth.net"},
         {"yahoodns.net"}},
        {"apple", {"icloud.com", "me.com", "mac.com"}, {"mail.icloud.com"}},
    };
    DestinationGroups groups;
    for (const auto& shipped : k_defaults) {
        for (const char* domain : shipped.domains)
            groups.add(domain, shipped.group);
        for (const char* suffix : shipped.mx)
            groups.add_mx(suffix, shipped.group);
    }
    return groups;
}

std::string RateLimit::id() const {
    std::string out;
    if (!tenant.empty()) out += "tenant=" + tenant + ",";
    if (!group.empty()) out += "group=" + group + ",";
    return out + "per=" + per_text;
}

std::optional<double> WarmupSchedule::cap_on(std::chrono::sys_days today) const {
    const auto day = std::max<std::int64_t>(0, (today - start).count());
    if (day < static_cast<std::int64_t>(days.size())) return days[static_cast<std::size_t>(day)];
    if (factor <= 0) return std::nullopt; // the list was the whole curve
    double cap = days.empty() ? first : days.back() * factor;
    std::int64_t n = days.empty() ? 0 : static_cast<std::int64_t>(days.size());
    for (; n < day && cap < max; ++n)
        cap *= factor;
    if (cap >= max) return std::nullopt; // the curve reached max: warm-up is over
    return std::floor(cap);
}

std::string WarmupSchedule::id() const {
    return sending_ip.empty() ? "tenant=" + tenant : "sending_ip=" + sending_ip;
}

std::string recipient_domain(std::string_view rcpt) {
    if (!rcpt.empty() && rcpt.front() == '<') rcpt.remove_prefix(1);
    if (!rcpt.empty() && rcpt.back() == '>') rcpt.remove_suffix(1);
    const auto at = rcpt.rfind('@');
    if (at == std::string_view::npos) return {};
    std::string domain(rcpt.substr(at + 1));
    for (char& c : domain)
        c = ascii::lower(c);
    while (!domain.empty() && domain.back() == '.')
        domain.pop_back();
    return domain;
}

std::string format_rate(double rate, std::string_view per_text) {
    char buf[32];
    if (rate == std::floor(rate))
        std::snprintf(buf, sizeof buf, "%.0f", rate);
    else
        std::snprintf(buf, sizeof buf, "%.1f", rate);
    return std::string(buf) + "/" + std::string(per_text);
}

RateLimiter::RateLimiter(RatesConfig config, std::shared_ptr<RateStore> store, BackoffProvider backoff)
    : m_config(std::move(config)), m_store(std::move(store)), m_backoff(std::move(backoff)) {
    for (std::size_t i = 0; i < m_config.limits.size(); ++i) {
        const auto& limit = m_config.limits[i];
        m_limit_ids.push_back(limit.id());
        if (limit.tenant.empty())
            m_no_tenant.push_back(i);
        else if (limit.tenant == "*")
            m_any_tenant.push_back(i);
        else
            m_by_tenant[limit.tenant].push_back(i);
    }
    for (std::size_t i = 0; i < m_config.warmup.size(); ++i) {
        const auto& schedule = m_config.warmup[i];
        if (schedule.sending_ip.empty())
            m_warmup_by_tenant[schedule.tenant].push_back(i);
        else
            m_warmup_ip.push_back(i);
    }
}

double RateLimiter::factor(std::string_view group, RateClock::time_point now) const {
    if (!m_backoff) return 1.0;
    const double f = m_backoff(group, now);
    if (!(f == f) || f >= 1.0) return 1.0; // NaN or more than 1: no back-off
    return std::max(k_min_factor, f);
}

void RateLimiter::collect(std::string_view tenant, std::string_view group, RateClock::time_point now,
                          std::vector<BucketSpec>& out, std::vector<Source>* sources) const {
    const std::string tenant_id(tenant.empty() ? k_rates_no_tenant : tenant);
    const std::int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    double group_factor = -1; // asked of the provider once, and only when a group-scoped limit applies

    auto add_limit = [&](std::size_t index) {
        const RateLimit& limit = m_config.limits[index];
        if (!limit.group.empty() && limit.group != "*" && limit.group != group) return;
        double rate = limit.rate;
        double burst = limit.burst;
        if (!limit.group.empty()) {
            if (group_factor < 0) group_factor = factor(group, now);
            rate *= group_factor;
            burst = std::max(1.0, burst * group_factor); // slowed, never stopped
        }
        BucketSpec spec;
        spec.key = m_limit_ids[index];
        spec.key += '|';
        if (!limit.tenant.empty()) spec.key += tenant_id;
        spec.key += '|';
        if (!limit.group.empty()) spec.key += group;
        spec.rate_per_ms = rate / static_cast<double>(limit.per.count());
        spec.burst = burst;
        spec.ttl_ms = static_cast<std::int64_t>(std::ceil(burst / spec.rate_per_ms)) + k_limit_slack_ms;
        out.push_back(std::move(spec));
        if (sources) sources->push_back({&limit, nullptr, rate});
    };
    auto add_warmup = [&](std::size_t index) {
        const WarmupSchedule& schedule = m_config.warmup[index];
        const auto today = std::chrono::floor<std::chrono::days>(now);
        const auto cap = schedule.cap_on(today);
        if (!cap) return;
        BucketSpec spec;
        spec.key = "warmup:" + schedule.id() + "|" + day_text(today);
        spec.rate_per_ms = 0; // a daily cap: no refill within the day, a new key the next
        spec.burst = *cap;
        const std::int64_t day_end_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>((today + std::chrono::days(1)).time_since_epoch())
                .count();
        spec.ttl_ms = std::max<std::int64_t>(1, day_end_ms - now_ms) + k_warmup_slack_ms;
        out.push_back(std::move(spec));
        if (sources) sources->push_back({nullptr, &schedule, *cap});
    };

    if (auto it = m_by_tenant.find(tenant_id); it != m_by_tenant.end())
        for (auto i : it->second)
            add_limit(i);
    for (auto i : m_any_tenant)
        add_limit(i);
    for (auto i : m_no_tenant)
        add_limit(i);
    if (auto it = m_warmup_by_tenant.find(tenant_id); it != m_warmup_by_tenant.end())
        for (auto i : it->second)
            add_warmup(i);
    for (auto i : m_warmup_ip)
        add_warmup(i);
}

std::vector<BucketSpec> RateLimiter::buckets_for(std::string_view tenant, std::string_view group,
                                                 RateClock::time_point now) const {
    std::vector<BucketSpec> out;
    collect(tenant, group, now, out, nullptr);
    return out;
}

RateDecision RateLimiter::check(std::string_view tenant, std::string_view rcpt, RateClock::time_point now) const {
    RateDecision decision;
    decision.tenant = tenant.empty() ? std::string(k_rates_no_tenant) : std::string(tenant);
    decision.group = std::string(m_config.groups.group_of(recipient_domain(rcpt)));
    std::vector<BucketSpec> specs;
    std::vector<Source> sources;
    specs.reserve(8);
    sources.reserve(8);
    collect(tenant, decision.group, now, specs, &sources);
    if (specs.empty()) return decision;

    const std::int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    double left_buf[k_max_buckets_per_recipient];
    const std::size_t n = std::min(specs.size(), k_max_buckets_per_recipient); // config bounds it already
    const std::size_t blocked =
        m_store->take(std::span<const BucketSpec>(specs.data(), n), now_ms, std::span<double>(left_buf, n));
    if (blocked >= n) return decision;

    decision.allowed = false;
    const Source& source = sources[blocked];
    if (source.warmup) {
        decision.limit = "warmup:" + source.warmup->id();
        decision.scope = "warmup";
        decision.rate = format_rate(source.rate, "day");
    } else {
        const RateLimit& limit = *source.limit;
        decision.limit = specs[blocked].key.substr(0, specs[blocked].key.find('|'));
        decision.scope = limit.tenant.empty() ? "group" : limit.group.empty() ? "tenant" : "tenant-group";
        decision.rate = format_rate(source.rate, limit.per_text);
    }
    return decision;
}

std::vector<WarmupToday> RateLimiter::warmup_today(RateClock::time_point now) const {
    std::vector<WarmupToday> out;
    const auto today = std::chrono::floor<std::chrono::days>(now);
    for (const auto& schedule : m_config.warmup)
        out.push_back({schedule.id(), (today - schedule.start).count(), schedule.cap_on(today)});
    return out;
}

} // namespace presend
