// verdict: what the engine decides about one message, and the rule hits behind it.
// Produced by decide(), applied by the milter daemon, written by the decision log and by `presend check`.
// Plain data: no GMime, no libmilter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace presend {

// Ordered from mildest to strictest: the verdict is the strictest action any hit asks for.
enum class Action { accept, tag, quarantine, tempfail, reject, discard };

std::string_view to_string(Action action);
std::optional<Action> parse_action(std::string_view text);

// enforce applies verdicts; dry_run only records what would have been done.
enum class Mode { enforce, dry_run };

std::string_view to_string(Mode mode);
std::optional<Mode> parse_mode(std::string_view text);

// bulk: newsletters and campaigns, where the bulk-sender rules and consent apply; transactional:
// receipts and password resets, which skip rules marked `applies_to: bulk`.
enum class MessageClass { bulk, transactional };

std::string_view to_string(MessageClass message_class);
std::optional<MessageClass> parse_message_class(std::string_view text);

struct Hit {
    std::string rule;          // rule id
    std::string target;        // what was inspected: "header:List-Unsubscribe", "subject", "body"...
    std::string detail;        // the matched text or the reason the check failed
    double score = 0;
    std::optional<Action> action; // the rule's own action, if it names one
    std::string reply;         // the rule's reply text for the SMTP client
    bool monitor = false;      // trial rule: logged, never acted on
};

// What the suppression list or the volume guard (rates) did to one recipient at RCPT TO, before the message
// existed. Only recipients one of them refused, would refuse (dry-run) or could not check (store error) get
// one; the others pass unrecorded.
struct RcptVerdict {
    enum class Check { suppression, rates };
    Check check = Check::suppression;
    std::string rcpt;                     // as the MTA gave it
    Action action = Action::accept;       // what was done: reject, tempfail (store error) or accept
    Action would_action = Action::accept; // what enforce mode does with it
    // suppressed: the entry that matched
    std::string entry; // "user@example.com", or "example.com" for a domain entry
    bool domain_entry = false;
    std::string reason;      // hard_bounce, complaint, unsubscribe, manual
    std::string scope;       // "" global, else the tenant id
    std::int64_t since = 0;  // the entry's created time, unix seconds
    std::string store_error; // not empty: the store could not answer, and this is why
    // rates: the bucket that had no token
    std::string rate_tenant; // "-" for mail of no tenant
    std::string rate_group;  // the recipient's destination group
    std::string rate_limit;  // "tenant=*,group=microsoft,per=minute" or "warmup:tenant=newco"
    std::string rate_scope;  // tenant, group, tenant-group, warmup
    std::string rate;        // "60/minute": the rate in force
};

// The consent attestation that let a message through (docs/attestation.md), for audits.
struct ConsentRecord {
    std::string tenant; // t=
    std::string list;   // l=
    std::string basis;  // b=
};

struct Verdict {
    Action action = Action::accept;       // what is applied (always accept or tag in dry-run)
    Action would_action = Action::accept; // what the rules ask for, whatever the mode
    Mode mode = Mode::enforce;
    double score = 0;
    std::vector<Hit> hits;
    std::string reply;                    // text for reject/tempfail replies
    std::vector<std::string> notes;       // facts worth logging: "oversize", "malformed-mime"...
    std::vector<RcptVerdict> rcpts;       // the suppression list's answers at RCPT TO, in RCPT order
    std::string tenant;                   // the tenant the message belongs to; empty: none selected it
    std::optional<MessageClass> message_class; // set when judged with a MessageContext
    std::optional<ConsentRecord> consent;      // the valid attestation, when one was judged
};

} // namespace presend
