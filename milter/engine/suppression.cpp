// suppression: what every store shares: reasons, key normalisation, validation of entries before a write,
// the order find() tries keys in, and the factory. The stores themselves only read and write.
#include "presend/suppression.hpp"

#include "engine/ascii.hpp"
#include "engine/suppression_backends.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace presend {

namespace {

// "<...>" → "...", once: RCPT TO arguments and log fields carry the brackets, people often do not.
std::string_view strip_brackets(std::string_view text) {
    text = ascii::trim_space(text);
    if (text.size() >= 2 && text.front() == '<' && text.back() == '>')
        text = ascii::trim_space(text.substr(1, text.size() - 2));
    return text;
}

std::string lowered(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), ascii::lower);
    return out;
}

// Host names, UTF-8 names and [address literals]; nothing that cannot appear in a mail domain.
std::optional<std::string> normalize_domain(std::string_view domain) {
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    if (domain.empty() || domain.size() > 255 || domain.front() == '.') return std::nullopt;
    const bool literal = domain.front() == '[' && domain.back() == ']';
    for (std::size_t i = 0; i < domain.size(); ++i) {
        const auto c = static_cast<unsigned char>(domain[i]);
        if (c <= 0x20 || c == 0x7f) return std::nullopt;
        if (c == '@' || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' || c == '(' || c == ')' ||
            c == '\\')
            return std::nullopt;
        if (!literal && (c == '[' || c == ']')) return std::nullopt;
        if (c == '.' && i + 1 < domain.size() && domain[i + 1] == '.') return std::nullopt;
    }
    return lowered(domain);
}

bool valid_local_part(std::string_view local) {
    if (local.empty() || local.size() > 255) return false;
    const bool quoted = local.size() >= 2 && local.front() == '"' && local.back() == '"';
    for (const char ch : local) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) return false;
        if (!quoted && (c == ' ' || c == '@' || c == '<' || c == '>' || c == ',')) return false;
    }
    return true;
}

} // namespace

std::string_view to_string(SuppressionReason reason) {
    switch (reason) {
    case SuppressionReason::hard_bounce:
        return "hard_bounce";
    case SuppressionReason::complaint:
        return "complaint";
    case SuppressionReason::unsubscribe:
        return "unsubscribe";
    case SuppressionReason::manual:
        return "manual";
    }
    return "manual";
}

std::optional<SuppressionReason> parse_suppression_reason(std::string_view text) {
    std::string word = lowered(ascii::trim_space(text));
    std::replace(word.begin(), word.end(), '-', '_');
    for (auto reason : {SuppressionReason::hard_bounce, SuppressionReason::complaint,
                        SuppressionReason::unsubscribe, SuppressionReason::manual})
        if (word == to_string(reason)) return reason;
    return std::nullopt;
}

bool operator==(const SuppressionEntry& a, const SuppressionEntry& b) {
    return a.address_or_domain == b.address_or_domain && a.is_domain == b.is_domain && a.reason == b.reason &&
           a.source == b.source && a.created == b.created && a.scope == b.scope && a.expires == b.expires;
}

std::optional<std::string> normalize_address(std::string_view text) {
    text = strip_brackets(text);
    if (text.empty() || text.size() > k_max_address_length) return std::nullopt;
    const auto at = text.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) return std::nullopt;
    if (!valid_local_part(text.substr(0, at))) return std::nullopt;
    auto domain = normalize_domain(text.substr(at + 1));
    if (!domain) return std::nullopt;
    return lowered(text.substr(0, at)) + "@" + *domain;
}

std::optional<SuppressionKey> normalize_suppression_key(std::string_view text) {
    text = strip_brackets(text);
    if (!text.empty() && text.front() == '@' && text.find('@', 1) == std::string_view::npos)
        text.remove_prefix(1);
    if (text.find('@') == std::string_view::npos) {
        auto domain = normalize_domain(text);
        if (!domain) return std::nullopt;
        return SuppressionKey{std::move(*domain), true};
    }
    auto address = normalize_address(text);
    if (!address) return std::nullopt;
    return SuppressionKey{std::move(*address), false};
}

bool valid_suppression_scope(std::string_view scope) {
    constexpr std::size_t k_max_scope_length = 128; // tenant ids are names, not documents
    if (scope.empty()) return true;
    if (scope.size() > k_max_scope_length) return false;
    // No ':' (the Redis key separator), no blanks, no glob characters (Redis SCAN patterns).
    return std::all_of(scope.begin(), scope.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
               c == '_' || c == '-' || c == '@' || c == '+' || c == '=' || c == '/';
    });
}

std::string format_utc(std::int64_t unix_seconds) {
    const auto t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string explain(const SuppressionEntry& entry) {
    std::string text(to_string(entry.reason));
    text += entry.is_domain ? " (domain entry" : " (address entry";
    text += entry.scope.empty() ? ", global" : ", tenant " + entry.scope;
    text += ", since " + format_utc(entry.created);
    text += ", expires " + (entry.expires ? format_utc(*entry.expires) : std::string("never"));
    if (!entry.source.empty()) text += ", source \"" + entry.source + "\"";
    return text + ")";
}

namespace {

// The entry as stored: key normalised, is_domain from the key, created filled in. Throws invalid_argument.
void check(SuppressionEntry& entry, std::int64_t now) {
    auto key = normalize_suppression_key(entry.address_or_domain);
    if (!key) throw std::invalid_argument("not an address or domain: '" + entry.address_or_domain + "'");
    if (!valid_suppression_scope(entry.scope))
        throw std::invalid_argument("bad tenant id '" + entry.scope +
                                    "': use 1-128 of A-Z a-z 0-9 . _ - @ + = /");
    if (entry.expires && *entry.expires <= now)
        throw std::invalid_argument("entry for '" + entry.address_or_domain + "' has already expired (" +
                                    format_utc(*entry.expires) + ")");
    entry.address_or_domain = std::move(key->key);
    entry.is_domain = key->is_domain;
    if (entry.created <= 0) entry.created = now;
}

void check_scope(const std::string& scope) {
    if (!valid_suppression_scope(scope)) throw std::invalid_argument("bad tenant id '" + scope + "'");
}

} // namespace

std::optional<SuppressionEntry> SuppressionStore::find(std::string_view recipient,
                                                       std::string_view tenant) const {
    return find_at(recipient, tenant, unix_now());
}

std::optional<SuppressionEntry> SuppressionStore::find_at(std::string_view recipient, std::string_view tenant,
                                                          std::int64_t now) const {
    auto address = normalize_address(recipient);
    if (!address) return std::nullopt; // "<>" and garbage: Postfix answers those, not the suppression list
    Probe probe;
    probe.domain = address->substr(address->rfind('@') + 1);
    probe.address = std::move(*address);
    // A tenant id that cannot be stored has no entries of its own; its recipients still meet the global list.
    if (valid_suppression_scope(tenant)) probe.tenant = std::string(tenant);
    return do_find(probe, now);
}

AddOutcome SuppressionStore::add(const SuppressionEntry& entry) {
    const auto now = unix_now();
    SuppressionEntry stored = entry;
    check(stored, now);
    return do_add(stored, now);
}

BatchResult SuppressionStore::add_batch(std::vector<SuppressionEntry> entries,
                                        const BatchProgress& progress) {
    const auto now = unix_now();
    // Validate everything first, so a bad entry never leaves half a batch written. Then sort by key and scope
    // (the order a B-tree likes to be filled in) and keep the last entry given for each key, so the counts of
    // a re-import are the same however often a key repeats in the input.
    for (auto& entry : entries)
        check(entry, now);
    std::vector<std::size_t> order(entries.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    const auto key_less = [&](std::size_t a, std::size_t b) {
        const auto& x = entries[a];
        const auto& y = entries[b];
        if (const int c = x.address_or_domain.compare(y.address_or_domain)) return c < 0;
        if (const int c = x.scope.compare(y.scope)) return c < 0;
        return a < b;
    };
    std::sort(order.begin(), order.end(), key_less);
    std::vector<SuppressionEntry> unique;
    unique.reserve(entries.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        const auto& here = entries[order[i]];
        const bool repeated = i + 1 < order.size() &&
                              entries[order[i + 1]].address_or_domain == here.address_or_domain &&
                              entries[order[i + 1]].scope == here.scope;
        if (!repeated) unique.push_back(std::move(entries[order[i]])); // the last of a run of equal keys
    }
    auto result = do_add_batch(unique, now, progress);
    result.duplicates = entries.size() - unique.size();
    return result;
}

bool SuppressionStore::remove(std::string_view address_or_domain, std::string_view scope) {
    auto key = normalize_suppression_key(address_or_domain);
    if (!key)
        throw std::invalid_argument("not an address or domain: '" + std::string(address_or_domain) + "'");
    const std::string scope_id(scope);
    check_scope(scope_id);
    return do_remove(key->key, scope_id);
}

std::vector<SuppressionEntry> SuppressionStore::list(const std::optional<std::string>& scope,
                                                     std::size_t limit) const {
    if (scope) check_scope(*scope);
    return do_list(scope, limit, unix_now());
}

std::size_t SuppressionStore::count() const {
    return do_count(unix_now());
}

std::unique_ptr<SuppressionStore> open_suppression_store(const SuppressionConfig& config) {
    if (config.backend == "none") return nullptr;
    if (config.backend == "sqlite") return detail::open_sqlite_suppression_store(config);
    if (config.backend == "redis") return detail::open_redis_suppression_store(config);
    throw std::invalid_argument("suppression backend '" + config.backend +
                                "': expected sqlite, redis or none");
}

} // namespace presend
