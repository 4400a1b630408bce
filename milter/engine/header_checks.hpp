// header_checks: the structural header checks behind `check:` rules (RFC 2369, RFC 8058, RFC 5322).
// Each returns an empty string when the message passes, else the reason it fails, for the hit detail.
// A check judges a header that is there: absence is what header_absent rules are for.
// Pure functions over ParsedMessage; called by inspect().
#pragma once

#include "presend/message.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace presend {

struct Mailbox {
    std::string display_name;
    std::string address; // local@domain
};

// Parses a From-style header value holding exactly one mailbox. Returns false with a reason otherwise.
bool parse_single_mailbox(std::string_view value, Mailbox& out, std::string& reason);

// The URIs of a List-Unsubscribe value: "<https://x>, <mailto:y>" → {"https://x", "mailto:y"}.
std::vector<std::string> list_unsubscribe_uris(std::string_view value, std::string& reason);

// require: "any" (https or mailto), "https", "mailto" or "both".
std::string check_list_unsubscribe(const ParsedMessage& message, std::string_view require);
std::string check_list_unsubscribe_post(const ParsedMessage& message);
std::string check_from(const ParsedMessage& message);
std::string check_from_display_name(const ParsedMessage& message);
std::string check_message_id(const ParsedMessage& message);
std::string check_date(const ParsedMessage& message);
std::string check_link_domain_mismatch(const ParsedMessage& message);

// The domain a registrant controls: "mail.acme.co.uk" → "acme.co.uk", "news.acme.com" → "acme.com".
// A heuristic without the public suffix list: a two-letter country code after a short second-level
// label (co.uk, com.au) keeps three labels.
std::string registrable_domain(std::string_view host);

} // namespace presend
