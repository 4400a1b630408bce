// suppression_import: see suppression_import.hpp.
#include "engine/suppression_import.hpp"
#include "engine/civil_time.hpp"
#include "engine/ascii.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <ctime>
#include <istream>
#include <unordered_set>

namespace presend {

namespace {

bool all_digits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

template <class Int> std::optional<Int> to_int(std::string_view text) {
    Int value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

// "2025-01-31T10:00:00[.frac](Z|+01:00|-0500)" or "2025-01-31"; the length read is stored in *used.
std::optional<std::int64_t> parse_iso(std::string_view text, std::size_t* used) {
    if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
    const auto y = to_int<int>(text.substr(0, 4));
    const auto mo = to_int<unsigned>(text.substr(5, 2));
    const auto d = to_int<unsigned>(text.substr(8, 2));
    if (!y || !mo || !d || *mo < 1 || *mo > 12 || *d < 1 || *d > 31) return std::nullopt;
    std::int64_t seconds = days_from_civil(*y, *mo, *d) * 86400;
    std::size_t pos = 10;
    if (pos < text.size() && (text[pos] == 'T' || text[pos] == ' ') && text.size() >= pos + 9 &&
        text[pos + 3] == ':' && text[pos + 6] == ':') {
        const auto h = to_int<int>(text.substr(pos + 1, 2));
        const auto mi = to_int<int>(text.substr(pos + 4, 2));
        const auto s = to_int<int>(text.substr(pos + 7, 2));
        if (!h || !mi || !s || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
        seconds += *h * 3600 + *mi * 60 + *s;
        pos += 9;
        if (pos < text.size() && text[pos] == '.') {
            ++pos;
            while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
                ++pos;
        }
        if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
            ++pos;
        } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
            const int sign = text[pos] == '+' ? 1 : -1;
            auto zone = text.substr(pos + 1);
            std::optional<int> zh, zm;
            if (zone.size() >= 5 && zone[2] == ':') {
                zh = to_int<int>(zone.substr(0, 2));
                zm = to_int<int>(zone.substr(3, 2));
                pos += 6;
            } else if (zone.size() >= 4) {
                zh = to_int<int>(zone.substr(0, 2));
                zm = to_int<int>(zone.substr(2, 2));
                pos += 5;
            }
            if (!zh || !zm) return std::nullopt;
            seconds -= sign * (*zh * 3600 + *zm * 60);
        }
    }
    *used = pos;
    return seconds;
}

// "Nov 27 06:30:07" and "Nov  7 06:30:07" (syslog, postlog), with optional ".123456"; local time, and the
// year guessed from now. The length read is stored in *used.
std::optional<std::int64_t> parse_bsd_time(std::string_view text, std::int64_t now, std::size_t* used) {
    static constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (text.size() < 15 || text[3] != ' ' || text[9] != ':' || text[12] != ':') return std::nullopt;
    const auto month = std::find(months.begin(), months.end(), text.substr(0, 3));
    if (month == months.end()) return std::nullopt;
    const auto day = to_int<int>(ascii::trim_space(text.substr(4, 2)));
    const auto h = to_int<int>(text.substr(7, 2));
    const auto mi = to_int<int>(text.substr(10, 2));
    const auto s = to_int<int>(text.substr(13, 2));
    if (!day || !h || !mi || !s) return std::nullopt;
    std::size_t pos = 15;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
            ++pos;
    }
    const auto now_t = static_cast<std::time_t>(now);
    std::tm local{};
    localtime_r(&now_t, &local);
    std::tm tm{};
    tm.tm_year = local.tm_year;
    tm.tm_mon = static_cast<int>(month - months.begin());
    tm.tm_mday = *day;
    tm.tm_hour = *h;
    tm.tm_min = *mi;
    tm.tm_sec = *s;
    tm.tm_isdst = -1;
    std::tm copy = tm;
    auto when = static_cast<std::int64_t>(std::mktime(&copy));
    if (when > now + 86400) { // December's log read in January
        tm.tm_year -= 1;
        when = static_cast<std::int64_t>(std::mktime(&tm));
    }
    *used = pos;
    return when;
}

// RFC 4180 fields of one line; nullopt for an unterminated quote.
std::optional<std::vector<std::string>> split_csv(std::string_view line) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                fields.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                fields.back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
        } else {
            fields.back() += c;
        }
    }
    if (quoted) return std::nullopt;
    for (auto& f : fields)
        f = std::string(ascii::trim_space(f));
    return fields;
}

bool skip_line(std::string_view line) {
    line = ascii::trim_space(line);
    return line.empty() || line.front() == '#';
}

// Reads lines, strips CR and a leading UTF-8 byte order mark, counts them, calls progress now and then.
template <class F>
void for_each_line(std::istream& in, ImportResult& result, const LineProgress& progress, F&& f) {
    constexpr std::size_t k_progress_lines = 50000;
    std::string line;
    while (std::getline(in, line)) {
        ++result.lines;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (result.lines == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
        f(std::string_view(line), result.lines);
        if (progress && result.lines % k_progress_lines == 0) progress(result.lines);
    }
    if (progress) progress(result.lines);
}

enum class Column { address, reason, source, created, expires, scope };
constexpr std::array<std::string_view, 6> k_column_names{"address", "reason",  "source",
                                                         "created", "expires", "scope"};

} // namespace

std::optional<std::int64_t> parse_duration(std::string_view text) {
    text = ascii::trim_space(text);
    if (text.empty()) return std::nullopt;
    std::int64_t scale = 1;
    switch (text.back()) {
    case 's':
        scale = 1;
        break;
    case 'm':
        scale = 60;
        break;
    case 'h':
        scale = 3600;
        break;
    case 'd':
        scale = 86400;
        break;
    case 'w':
        scale = 7 * 86400;
        break;
    default:
        scale = 0;
    }
    if (scale)
        text.remove_suffix(1);
    else
        scale = 1;
    constexpr std::int64_t k_max_duration = 100ll * 365 * 86400; // past a century, "never" is the honest word
    if (!all_digits(text) || text.size() > 12) return std::nullopt;
    const auto value = to_int<std::int64_t>(text);
    if (!value || *value == 0 || *value > k_max_duration / scale) return std::nullopt;
    return *value * scale;
}

std::optional<std::int64_t> parse_time(std::string_view text) {
    text = ascii::trim_space(text);
    if (all_digits(text) && text.size() <= 12) return to_int<std::int64_t>(text);
    std::size_t used = 0;
    auto value = parse_iso(text, &used);
    if (!value || used != text.size()) return std::nullopt;
    return value;
}

std::optional<std::int64_t> parse_log_time(std::string_view line, std::int64_t now) {
    std::size_t used = 0;
    if (auto t = parse_iso(line, &used); t && used > 10) return t;
    return parse_bsd_time(line, now, &used);
}

std::optional<PostfixDelivery> parse_postfix_delivery(std::string_view line, std::int64_t now) {
    const auto to = line.find(": to=<");
    if (to == std::string_view::npos) return std::nullopt;
    PostfixDelivery delivery;

    delivery.time = parse_log_time(line, now);

    const auto id_start = line.rfind(' ', to);
    delivery.queue_id =
        std::string(line.substr(id_start == std::string_view::npos ? 0 : id_start + 1,
                                to - (id_start == std::string_view::npos ? 0 : id_start + 1)));

    const auto address_start = to + 6;
    // The address ends at the ">, " before the next field; a quoted local part may hold '>' but not that.
    auto address_end = line.find(">, ", address_start);
    if (address_end == std::string_view::npos) address_end = line.find('>', address_start);
    if (address_end == std::string_view::npos)
        return delivery; // truncated line: no status, the caller decides
    delivery.recipient = std::string(line.substr(address_start, address_end - address_start));

    // The fields before the parenthesised reply text, which may quote anything.
    auto fields = line.substr(address_end);
    if (const auto reply = fields.find(" ("); reply != std::string_view::npos)
        fields = fields.substr(0, reply);
    if (const auto dsn = fields.find(", dsn="); dsn != std::string_view::npos) {
        auto value = fields.substr(dsn + 6);
        delivery.dsn = std::string(value.substr(0, value.find(',')));
    }
    if (const auto status = fields.find(", status="); status != std::string_view::npos) {
        auto value = fields.substr(status + 9);
        delivery.status = std::string(value.substr(0, std::min(value.find(' '), value.find(','))));
    }
    return delivery;
}

ImportResult parse_postfix_log(std::istream& in, const ImportDefaults& defaults,
                               const LineProgress& progress) {
    ImportResult result;
    // Queue ids of Postfix's own non-delivery notices (sender <>): when one of those bounces, the recipient
    // is our own sender, and its address says nothing about the list. Forgotten at "QUEUEID: removed".
    std::unordered_set<std::string> notices;
    constexpr std::size_t k_max_tracked_notices =
        100000; // a log with more in flight is not one Postfix wrote
    for_each_line(in, result, progress, [&](std::string_view line, std::size_t number) {
        if (const auto from = line.find(": from=<>, "); from != std::string_view::npos) {
            const auto start = line.rfind(' ', from);
            if (notices.size() < k_max_tracked_notices)
                notices.insert(std::string(line.substr(start + 1, from - start - 1)));
        }
        if (const auto note = line.find(": sender non-delivery notification: ");
            note != std::string_view::npos) {
            if (notices.size() < k_max_tracked_notices)
                notices.insert(std::string(ascii::trim_space(line.substr(note + 36))));
        }
        if (line.size() > 9 && line.substr(line.size() - 9) == ": removed") {
            const auto start = line.rfind(' ', line.size() - 10);
            notices.erase(std::string(line.substr(start + 1, line.size() - 9 - start - 1)));
        }

        const auto delivery = parse_postfix_delivery(line, defaults.now);
        if (!delivery || (delivery->status != "bounced" && !delivery->status.empty())) {
            ++result.ignored;
            return;
        }
        if (delivery->status.empty()) {
            result.bad.push_back({number, "delivery record without status="});
            return;
        }
        const auto& dsn = delivery->dsn;
        if (dsn.size() < 5 || dsn[1] != '.' || !all_digits(dsn.substr(0, 1))) {
            result.bad.push_back({number, "status=bounced without a dsn=X.Y.Z"});
            return;
        }
        if (dsn[0] != '5') { // 4.x.x: temporary by definition, whatever the status says
            ++result.ignored;
            return;
        }
        if (notices.count(delivery->queue_id)) {
            ++result.notifications;
            return;
        }
        if (dsn.rfind("5.7.", 0) == 0 && !defaults.include_policy_bounces) {
            ++result.policy_bounces;
            return;
        }
        auto key = normalize_suppression_key(delivery->recipient);
        if (!key || key->is_domain) {
            result.bad.push_back({number, "to=<" + delivery->recipient + "> is not an address"});
            return;
        }
        SuppressionEntry entry;
        entry.address_or_domain = std::move(key->key);
        entry.reason = SuppressionReason::hard_bounce;
        entry.source =
            defaults.source.empty() ? "postfix dsn=" + dsn + " queue=" + delivery->queue_id : defaults.source;
        entry.created = delivery->time.value_or(defaults.now);
        entry.scope = defaults.scope;
        entry.expires = defaults.expires;
        result.entries.push_back(std::move(entry));
    });
    return result;
}

ImportResult parse_suppression_csv(std::istream& in, const ImportDefaults& defaults,
                                   const LineProgress& progress) {
    ImportResult result;
    std::vector<Column> columns; // empty until the header line
    bool header_failed = false;
    for_each_line(in, result, progress, [&](std::string_view line, std::size_t number) {
        if (header_failed) return;
        if (skip_line(line)) {
            ++result.ignored;
            return;
        }
        auto fields = split_csv(line);
        if (!fields) {
            result.bad.push_back({number, "unterminated quoted field"});
            return;
        }
        if (columns.empty()) {
            bool has_address = false;
            for (const auto& name : *fields) {
                std::string lower(name);
                std::transform(lower.begin(), lower.end(), lower.begin(),
                               [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
                const auto it = std::find(k_column_names.begin(), k_column_names.end(), lower);
                if (it == k_column_names.end() ||
                    std::find(columns.begin(), columns.end(),
                              static_cast<Column>(it - k_column_names.begin())) != columns.end()) {
                    result.bad.push_back(
                        {number, "header: unknown or repeated column '" + name +
                                     "' (columns: address,reason,source,created,expires,scope)"});
                    header_failed = true;
                    return;
                }
                columns.push_back(static_cast<Column>(it - k_column_names.begin()));
                has_address = has_address || columns.back() == Column::address;
            }
            if (!has_address) {
                result.bad.push_back(
                    {number, "header: no 'address' column (the first line names the columns)"});
                header_failed = true;
            }
            return;
        }
        if (fields->size() > columns.size()) {
            result.bad.push_back({number, "expected at most " + std::to_string(columns.size()) +
                                              " fields, found " + std::to_string(fields->size())});
            return;
        }
        SuppressionEntry entry;
        entry.reason = defaults.reason;
        entry.source = defaults.source.empty() ? "csv" : defaults.source;
        entry.scope = defaults.scope;
        entry.expires = defaults.expires;
        entry.created = defaults.now;
        std::string error;
        for (std::size_t i = 0; i < fields->size() && error.empty(); ++i) {
            const std::string& value = (*fields)[i];
            switch (columns[i]) {
            case Column::address:
                if (auto key = normalize_suppression_key(value))
                    entry.address_or_domain = std::move(key->key), entry.is_domain = key->is_domain;
                else
                    error = "'" + value + "' is not an address or domain";
                break;
            case Column::reason:
                if (value.empty()) break;
                if (auto reason = parse_suppression_reason(value))
                    entry.reason = *reason;
                else
                    error = "reason '" + value + "': expected hard_bounce, complaint, unsubscribe or manual";
                break;
            case Column::source:
                if (!value.empty()) entry.source = value;
                break;
            case Column::created:
                if (value.empty()) break;
                if (auto t = parse_time(value); t && *t > 0)
                    entry.created = *t;
                else
                    error = "created '" + value + "': expected unix seconds or 2025-01-31[T10:00:00Z]";
                break;
            case Column::expires:
                if (value.empty()) break;
                if (auto t = parse_time(value))
                    entry.expires = *t;
                else
                    error = "expires '" + value + "': expected unix seconds or 2025-01-31[T10:00:00Z]";
                break;
            case Column::scope:
                if (value.empty()) break;
                if (valid_suppression_scope(value))
                    entry.scope = value;
                else
                    error = "scope '" + value + "': use 1-128 of A-Z a-z 0-9 . _ - @ + = /";
                break;
            }
        }
        if (error.empty() && entry.address_or_domain.empty()) error = "no address";
        if (!error.empty()) {
            result.bad.push_back({number, error});
            return;
        }
        if (entry.expires && *entry.expires <= defaults.now) {
            ++result.expired;
            return;
        }
        result.entries.push_back(std::move(entry));
    });
    return result;
}

} // namespace presend
