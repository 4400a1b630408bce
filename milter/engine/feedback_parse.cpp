// feedback_parse: Postfix log line → DeliveryReport, the shipped throttling signatures and destination
// groups, and the mapping of a report to its group. See presend/feedback.hpp. Called by the log follower
// for every line it reads and by `presend feedback replay`; a line is at most a few kilobytes.
#include "presend/feedback.hpp"
#include "presend/rates.hpp"

#include "engine/suppression_import.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

namespace presend {

namespace {

// Reply text kept and matched: throttling replies say what they are in their first few hundred
// characters, and std::regex's backtracking cost (and stack) grows with the text it is given.
constexpr std::size_t k_max_reply_chars = 1024;

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// "451 4.7.650 ..." or "421-4.7.28 ...": three digits, then a space or a dash.
bool starts_with_code(std::string_view text) {
    return text.size() >= 4 && is_digit(text[0]) && is_digit(text[1]) && is_digit(text[2]) &&
           (text[3] == ' ' || text[3] == '-');
}

// Length of an enhanced status code "4.7.28" at text[0], or 0.
std::size_t dsn_length(std::string_view text) {
    std::size_t i = 0;
    for (int part = 0; part < 3; ++part) {
        const std::size_t start = i;
        while (i < text.size() && is_digit(text[i]) && i - start < 3)
            ++i;
        if (i == start) return 0;
        if (part < 2) {
            if (i >= text.size() || text[i] != '.') return 0;
            ++i;
        }
    }
    return i;
}

// Postfix joins a multi-line reply with spaces and keeps each line's "421-4.7.28 " prefix, which would
// split the words a signature looks for ("unusual rate of 421-4.7.28 unsolicited mail"). The first
// line's code stays; the continuations' prefixes go.
std::string join_continuations(std::string_view reply) {
    if (!starts_with_code(reply)) return std::string(reply);
    const std::string_view code = reply.substr(0, 3);
    std::string out;
    out.reserve(reply.size());
    std::size_t i = 0;
    while (i < reply.size()) {
        const bool prefix = i > 0 && reply[i - 1] == ' ' && reply.substr(i, 3) == code && i + 3 < reply.size() &&
                            (reply[i + 3] == '-' || reply[i + 3] == ' ');
        if (prefix) {
            std::size_t skip = 4;
            if (const auto n = dsn_length(reply.substr(i + 4)); n > 0) skip += n;
            while (i + skip < reply.size() && reply[i + skip] == ' ')
                ++skip;
            i += skip;
            continue;
        }
        out += reply[i++];
    }
    if (out.size() > 3 && out[3] == '-') out[3] = ' ';
    return out;
}

// The reply in "(host X[ip] said: 451 ... (in reply to RCPT TO command))" or after "refused to talk to
// me: ": from the code to the "(in reply to" note or the closing parenthesis.
std::string reply_after(std::string_view text, std::size_t start) {
    std::string_view reply = text.substr(start);
    if (const auto note = reply.rfind(" (in reply to "); note != std::string_view::npos)
        reply = reply.substr(0, note);
    else if (!reply.empty() && reply.back() == ')')
        reply.remove_suffix(1);
    while (!reply.empty() && (reply.back() == ' ' || reply.back() == ')' || reply.back() == '\r'))
        reply.remove_suffix(1);
    return join_continuations(reply.substr(0, k_max_reply_chars));
}

// "mx.example.com[192.0.2.1]:25" → "mx.example.com".
std::string host_of(std::string_view relay) {
    return lower(relay.substr(0, relay.find('[')));
}

// The field value after key ("relay=") in fields, up to the next ", ".
std::string_view field(std::string_view fields, std::string_view key) {
    const auto at = fields.find(key);
    if (at == std::string_view::npos) return {};
    auto value = fields.substr(at + key.size());
    return value.substr(0, value.find(", "));
}

void classify(DeliveryReport& report, std::string_view reason, const SignatureSet& signatures) {
    // A reply repeated from an earlier attempt without contacting the server: the answer was counted when
    // it came; counting it again for every queued message would turn one answer into a burst.
    if (reason.find("delivery temporarily suspended: ") != std::string_view::npos) return;
    const bool temporary = report.status.empty() || report.status == "deferred";
    if (!temporary || !starts_with_code(report.reply) || report.reply[0] != '4') return;
    if (auto name = signatures.match(report.reply)) {
        report.throttling = true;
        report.signature = std::move(*name);
    }
}

} // namespace

const std::vector<ThrottleSignature>& default_throttle_signatures() {
    // Most specific first: Gmail's 4.7.28 text also says "temporarily rate limited".
    static const std::vector<ThrottleSignature> k_signatures = {
        {"gmail-unsolicited-rate", R"(\b4\.7\.28\b|unusual rate of unsolicited mail)"},
        {"gmail-recipient-rate", R"(receiving mail at a rate that prevents)"},
        {"microsoft-ip-reputation", R"(\b4\.7\.65[0-9]\b|rate limited due to ip reputation)"},
        {"microsoft-rate-limit", R"(exceeded the (\w+ )?rate limit)"},
        {"microsoft-server-busy", R"(\b4\.7\.500 server busy)"},
        {"yahoo-tss04", R"(\[TSS04\]|temporarily deferred due to unexpected volume)"},
        {"generic-rate-limit", R"(rate[- ]?limit)"},
        {"generic-too-many-connections", R"(too many (concurrent |simultaneous )?connections)"},
    };
    return k_signatures;
}

struct SignatureSet::Compiled {
    std::string name;
    std::regex regex;
};

SignatureSet::SignatureSet(const std::vector<ThrottleSignature>& signatures) {
    auto compiled = std::make_shared<std::vector<Compiled>>();
    for (const auto& s : signatures)
        compiled->push_back(
            {s.name, std::regex(s.regex, std::regex::ECMAScript | std::regex::icase | std::regex::optimize)});
    m_compiled = std::move(compiled);
}

SignatureSet SignatureSet::from_config(const FeedbackConfig& config) {
    std::vector<ThrottleSignature> all = config.signatures;
    if (config.default_signatures)
        all.insert(all.end(), default_throttle_signatures().begin(), default_throttle_signatures().end());
    return SignatureSet(all);
}

std::size_t SignatureSet::size() const {
    return m_compiled->size();
}

std::optional<std::string> SignatureSet::match(std::string_view reply) const {
    for (const auto& c : *m_compiled)
        if (std::regex_search(reply.begin(), reply.end(), c.regex)) return c.name;
    return std::nullopt;
}

std::optional<DeliveryReport> parse_delivery_report(std::string_view line, const SignatureSet& signatures,
                                                    SystemTime now) {
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    DeliveryReport report;
    std::string_view reason; // the parenthesised text after status=, or the connection-level message

    if (auto delivery = parse_postfix_delivery(line, now_s)) {
        if (delivery->recipient.empty() || delivery->status.empty()) return std::nullopt; // truncated
        report.queue_id = std::move(delivery->queue_id);
        report.recipient = std::move(delivery->recipient);
        report.dsn = std::move(delivery->dsn);
        report.status = std::move(delivery->status);
        if (delivery->time) report.time = SystemTime(std::chrono::seconds(*delivery->time));
        if (const auto at = report.recipient.rfind('@'); at != std::string::npos)
            report.domain = lower(report.recipient.substr(at + 1));
        while (!report.domain.empty() && report.domain.back() == '.')
            report.domain.pop_back();
        const auto to = line.find(": to=<");
        auto fields = line.substr(to);
        const auto paren = fields.find(" (");
        if (paren != std::string_view::npos) reason = fields.substr(paren + 2);
        fields = fields.substr(0, paren);
        report.relay = std::string(field(fields, ", relay="));
        report.relay_host = host_of(report.relay);
    } else {
        // "QUEUEID: host mx[ip] refused to talk to me: 421 ..." or "QUEUEID: host mx[ip] said: 421 ..."
        const auto host = line.find(": host ");
        if (host == std::string_view::npos) return std::nullopt;
        const auto rest = line.substr(host + 7);
        const auto end = rest.find(' ');
        if (end == std::string_view::npos) return std::nullopt;
        const auto start = line.rfind(' ', host);
        report.queue_id = std::string(line.substr(start == std::string_view::npos ? 0 : start + 1,
                                                  host - (start == std::string_view::npos ? 0 : start + 1)));
        // Without a queue id the word before ": host" is the program ("postfix/smtp[123]").
        if (!std::all_of(report.queue_id.begin(), report.queue_id.end(),
                         [](unsigned char c) { return std::isalnum(c); }))
            report.queue_id.clear();
        report.relay = std::string(rest.substr(0, end));
        report.relay_host = host_of(report.relay);
        reason = rest;
        if (const auto t = parse_log_time(line, now_s)) report.time = SystemTime(std::chrono::seconds(*t));
    }

    for (std::string_view marker : {" said: ", " refused to talk to me: "}) {
        const auto at = reason.find(marker);
        if (at == std::string_view::npos) continue;
        report.reply = reply_after(reason, at + marker.size());
        break;
    }
    if (report.recipient.empty() && report.reply.empty()) return std::nullopt; // "host x[ip] ..." of no answer
    if (report.dsn.empty() && report.reply.size() > 4) {
        if (const auto n = dsn_length(std::string_view(report.reply).substr(4)); n > 0)
            report.dsn = report.reply.substr(4, n);
    }
    classify(report, reason, signatures);
    return report;
}

SystemTime followed_line_time(std::optional<SystemTime> stamped, SystemTime read) {
    if (!stamped) return read;
    const auto skew = *stamped > read ? *stamped - read : read - *stamped;
    return skew <= k_max_log_skew ? *stamped : read;
}

std::string group_of(const DeliveryReport& report, const DestinationGroups& groups) {
    if (!report.domain.empty()) {
        if (const auto group = groups.group_of(report.domain); group != k_other_group) return std::string(group);
    }
    // A hosted domain (Workspace, Microsoft 365) is throttled by its provider's servers like the
    // provider's own domains are; a domain nobody named is a group of its own.
    if (const auto group = groups.group_of_mx(report.relay_host); !group.empty()) return std::string(group);
    return report.domain;
}

std::string mask_log_line(std::string_view line) {
    std::string out;
    out.reserve(std::min(line.size(), k_max_sample_chars));
    std::size_t i = 0;
    while (i < line.size() && out.size() < k_max_sample_chars) {
        if (line.substr(i, 4) == "to=<" || line.substr(i, 6) == "from=<") {
            const auto lt = line.find('<', i);
            const auto gt = line.find('>', lt);
            const auto at = line.rfind('@', gt == std::string_view::npos ? line.size() : gt);
            out.append(line.substr(i, lt + 1 - i));
            i = lt + 1;
            if (at != std::string_view::npos && at > lt && gt != std::string_view::npos) {
                out += "***";
                i = at;
            }
            continue;
        }
        const unsigned char c = static_cast<unsigned char>(line[i]);
        out += c < 0x20 || c == 0x7f ? ' ' : line[i]; // no control characters into logs or JSON
        ++i;
    }
    if (i >= line.size()) return out;
    // Cut: never end inside a UTF-8 sequence (a sequence the cut splits goes whole).
    out.resize(std::min(out.size(), k_max_sample_chars));
    std::size_t start = out.size();
    while (start > 0 && (static_cast<unsigned char>(out[start - 1]) & 0xC0) == 0x80)
        --start;
    if (start > 0) {
        const auto lead = static_cast<unsigned char>(out[start - 1]);
        const std::size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (out.size() - (start - 1) < need) out.resize(start - 1);
    }
    return out;
}

std::string_view to_string(BackoffChange::Kind kind) {
    switch (kind) {
    case BackoffChange::Kind::enter:
        return "enter";
    case BackoffChange::Kind::down:
        return "down";
    case BackoffChange::Kind::up:
        return "up";
    case BackoffChange::Kind::clear:
        return "clear";
    }
    return "?";
}

} // namespace presend
