// header_checks: see header_checks.hpp. Deliberately strict where receivers are strict (Gmail and
// Yahoo ignore a List-Unsubscribe without angle brackets) and lenient where they are lenient.
#include "engine/header_checks.hpp"
#include "engine/ascii.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace presend {

namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Removes RFC 5322 comments "(...)" outside quoted strings; nesting counted, bounded by the input.
std::string strip_comments(std::string_view value) {
    // Without a '(' there is no comment, and the loop below would copy every byte as it is (quotes and
    // backslashes only change how parentheses are read): most From, Date and List-Unsubscribe values.
    if (value.find('(') == std::string_view::npos) return std::string(value);
    std::string out;
    out.reserve(value.size());
    int depth = 0;
    bool quoted = false;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c == '\\' && i + 1 < value.size()) {
            if (depth == 0) {
                out.push_back(c);
                out.push_back(value[i + 1]);
            }
            ++i;
            continue;
        }
        if (depth == 0 && c == '"') quoted = !quoted;
        if (!quoted && c == '(') {
            ++depth;
            continue;
        }
        if (!quoted && c == ')' && depth > 0) {
            --depth;
            continue;
        }
        if (depth == 0) out.push_back(c);
    }
    return out;
}

bool valid_domain(std::string_view domain) {
    if (domain.size() < 3 || domain.size() > 253 || domain.find('.') == std::string_view::npos) return false;
    if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string_view::npos)
        return false;
    if (domain.front() == '[') return domain.back() == ']'; // address literal
    return std::all_of(domain.begin(), domain.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c >= 0x80; });
}

bool valid_address(std::string_view address) {
    const auto at = address.rfind('@');
    if (at == std::string_view::npos || at == 0 || at > 64) return false;
    const auto local = address.substr(0, at);
    const bool quoted = local.size() >= 2 && local.front() == '"' && local.back() == '"';
    if (!quoted && std::any_of(local.begin(), local.end(), [](unsigned char c) {
            return c <= ' ' || c == '<' || c == '>' || c == '@' || c == '"' || c == ',';
        }))
        return false;
    return valid_domain(address.substr(at + 1));
}

} // namespace

bool parse_single_mailbox(std::string_view raw, Mailbox& out, std::string& reason) {
    const std::string value = strip_comments(raw);
    // Split on commas outside quotes and angle brackets: more than one mailbox is not a sane From.
    int angle = 0;
    bool quoted = false;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c == '\\') {
            ++i;
            continue;
        }
        if (c == '"') quoted = !quoted;
        if (quoted) continue;
        if (c == '<') ++angle;
        if (c == '>') --angle;
        if (c == ',' && angle == 0) {
            reason = "more than one address";
            return false;
        }
        if (c == ':' && angle == 0) {
            reason = "group syntax is not a sender";
            return false;
        }
    }
    if (quoted || angle != 0) {
        reason = "unbalanced quotes or angle brackets";
        return false;
    }
    const auto open = value.find('<');
    std::string_view address;
    std::string_view name;
    if (open != std::string::npos) {
        const auto close = value.find('>', open);
        address = ascii::trim_space(std::string_view(value).substr(open + 1, close - open - 1));
        name = ascii::trim_space(std::string_view(value).substr(0, open));
        if (!ascii::trim_space(std::string_view(value).substr(close + 1)).empty()) {
            reason = "text after the address";
            return false;
        }
    } else {
        address = ascii::trim_space(value);
    }
    if (address.empty()) {
        reason = "no address";
        return false;
    }
    if (!valid_address(address)) {
        reason = "invalid address '" + std::string(address) + "'";
        return false;
    }
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"')
        name = ascii::trim_space(name.substr(1, name.size() - 2));
    out.display_name = std::string(name);
    out.address = std::string(address);
    return true;
}

std::vector<std::string> list_unsubscribe_uris(std::string_view raw, std::string& reason) {
    std::vector<std::string> uris;
    const std::string value = strip_comments(raw);
    std::string_view rest = value;
    while (true) {
        rest = ascii::trim_space(rest);
        if (rest.empty()) break;
        if (rest.front() != '<') {
            reason = "URIs must be in angle brackets (RFC 2369)";
            return {};
        }
        const auto close = rest.find('>');
        if (close == std::string_view::npos) {
            reason = "unclosed '<'";
            return {};
        }
        std::string uri;
        for (char c : rest.substr(1, close - 1))
            if (!ascii::is_space(c)) uri.push_back(c); // folding may split a URI
        uris.push_back(uri);
        rest = ascii::trim_space(rest.substr(close + 1));
        if (rest.empty()) break;
        if (rest.front() != ',') {
            reason = "URIs must be separated by commas";
            return {};
        }
        rest.remove_prefix(1);
    }
    if (uris.empty()) reason = "no URI";
    return uris;
}

std::string check_list_unsubscribe(const ParsedMessage& message, std::string_view require) {
    const auto count = message.header_count("List-Unsubscribe");
    if (count == 0) return {}; // absence is header_absent's job
    if (count > 1) return "appears " + std::to_string(count) + " times";
    std::string reason;
    const auto uris = list_unsubscribe_uris(message.header("List-Unsubscribe")->raw_value, reason);
    if (uris.empty()) return reason;
    bool https = false;
    bool mailto = false;
    for (const auto& uri : uris) {
        if (starts_with_nocase(uri, "https://") && uri.size() > 8)
            https = true;
        else if (starts_with_nocase(uri, "mailto:") && uri.find('@') != std::string::npos)
            mailto = true;
    }
    if (require == "https" && !https) return "no https: URI";
    if (require == "mailto" && !mailto) return "no mailto: URI";
    if (require == "both" && !(https && mailto)) return https ? "no mailto: URI" : "no https: URI";
    if (!https && !mailto) return "no usable https: or mailto: URI";
    return {};
}

std::string check_list_unsubscribe_post(const ParsedMessage& message) {
    const auto count = message.header_count("List-Unsubscribe-Post");
    if (count == 0) return {}; // absence is header_absent's job
    if (count > 1) return "appears " + std::to_string(count) + " times";
    const auto value = ascii::trim_space(message.header("List-Unsubscribe-Post")->raw_value);
    if (value != "List-Unsubscribe=One-Click")
        return "value is '" + std::string(value) + "', not 'List-Unsubscribe=One-Click'";
    // RFC 8058 section 3.1: the one-click POST goes to an HTTPS URI of List-Unsubscribe.
    if (!message.header("List-Unsubscribe") || !check_list_unsubscribe(message, "https").empty())
        return "List-Unsubscribe has no https: URI to POST to";
    return {};
}

std::string check_from(const ParsedMessage& message) {
    const auto count = message.header_count("From");
    if (count == 0) return {}; // absence is header_absent's job
    if (count > 1) return "appears " + std::to_string(count) + " times";
    Mailbox mailbox;
    std::string reason;
    if (!parse_single_mailbox(message.header("From")->value, mailbox, reason)) return reason;
    return {};
}

std::string check_from_display_name(const ParsedMessage& message) {
    const Header* from = message.header("From");
    if (!from) return {};
    Mailbox mailbox;
    std::string reason;
    if (!parse_single_mailbox(from->value, mailbox, reason)) return reason;
    if (mailbox.display_name.empty()) return "no display name";
    return {};
}

std::string check_message_id(const ParsedMessage& message) {
    const auto count = message.header_count("Message-ID");
    if (count == 0) return {}; // absence is header_absent's job
    if (count > 1) return "appears " + std::to_string(count) + " times";
    const auto value = ascii::trim_space(message.header("Message-ID")->raw_value);
    const auto at = value.find('@');
    if (value.size() < 5 || value.front() != '<' || value.back() != '>' || at == std::string_view::npos ||
        at == 1 || at + 2 >= value.size() || value.find_first_of(" \t<>", 1) != value.size() - 1)
        return "not of the form <left@right>";
    return {};
}

std::string registrable_domain(std::string_view host) {
    std::vector<std::string_view> labels;
    std::size_t start = 0;
    while (start <= host.size()) {
        const auto dot = host.find('.', start);
        labels.push_back(host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    std::size_t keep = 2;
    if (labels.size() >= 3 && labels.back().size() == 2 && labels[labels.size() - 2].size() <= 3) keep = 3;
    if (labels.size() <= keep) return std::string(host);
    std::string out;
    for (std::size_t i = labels.size() - keep; i < labels.size(); ++i) {
        if (!out.empty()) out += '.';
        out += labels[i];
    }
    return out;
}

namespace {

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The host of a URL, or of link text that reads like one ("www.acme.com", "https://acme.com/x",
// "acme.com"); empty when the text is not a URL or domain (e.g. "Click here").
std::string host_of(std::string_view text, bool text_is_link_text) {
    text = ascii::trim_space(text);
    auto scheme = text.find("://");
    if (scheme != std::string_view::npos) {
        text.remove_prefix(scheme + 3);
    } else if (!text_is_link_text) {
        return {};
    }
    const auto end = text.find_first_of("/?#: \t");
    auto host = text.substr(0, end);
    if (auto at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);
    if (host.find('.') == std::string_view::npos || host.size() > 253) return {};
    for (unsigned char c : host)
        if (!std::isalnum(c) && c != '.' && c != '-') return {};
    // Link text like "v2.0" is not a domain: its last label must be alphabetic. An href may be an IP.
    const auto tld = host.substr(host.rfind('.') + 1);
    if (text_is_link_text &&
        (tld.size() < 2 || !std::all_of(tld.begin(), tld.end(), [](unsigned char c) { return std::isalpha(c); })))
        return {};
    return lower_ascii(host);
}

} // namespace

std::string check_link_domain_mismatch(const ParsedMessage& message) {
    for (const auto& part : message.parts) {
        if (part.content_type != "text/html") continue;
        for (const auto& link : part.links) {
            const auto shown = host_of(link.text, true);
            if (shown.empty()) continue;
            const auto target = host_of(link.href, false);
            if (target.empty()) continue; // mailto:, relative links
            if (registrable_domain(shown) != registrable_domain(target))
                return "text shows " + shown + ", link goes to " + target;
        }
    }
    return {};
}

std::string check_date(const ParsedMessage& message) {
    const auto count = message.header_count("Date");
    if (count == 0) return {}; // absence is header_absent's job
    if (count > 1) return "appears " + std::to_string(count) + " times";
    // RFC 5322 date-time: [day-name ","] day month year hour ":" minute [":" second] zone
    std::string value = strip_comments(message.header("Date")->raw_value);
    if (auto comma = value.find(','); comma != std::string::npos) value = value.substr(comma + 1);
    std::vector<std::string> tokens;
    std::string token;
    for (char c : value + " ") {
        if (ascii::is_space(c)) {
            if (!token.empty()) tokens.push_back(token);
            token.clear();
        } else {
            token.push_back(c);
        }
    }
    static constexpr std::array<std::string_view, 12> months{"jan", "feb", "mar", "apr", "may", "jun",
                                                             "jul", "aug", "sep", "oct", "nov", "dec"};
    auto all_digits = [](std::string_view s) {
        return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
    };
    const std::string bad = "not an RFC 5322 date";
    if (tokens.size() < 4) return bad;
    if (!all_digits(tokens[0]) || tokens[0].size() > 2 || std::stoi(tokens[0]) < 1 ||
        std::stoi(tokens[0]) > 31)
        return bad;
    if (std::none_of(months.begin(), months.end(), [&](std::string_view m) { return iequals(m, tokens[1]); }))
        return bad;
    if (!all_digits(tokens[2]) || (tokens[2].size() != 4 && tokens[2].size() != 2)) return bad;
    const auto& time = tokens[3];
    if (time.size() < 5 || time[2] != ':' || !all_digits(time.substr(0, 2)) || !all_digits(time.substr(3, 2)))
        return bad;
    return {};
}

} // namespace presend
