// milter: libmilter callbacks → Session → parse_message, message_context, judge → smfi_* calls, decision log.
// See milter.hpp. Each xxfi_* function is a trampoline: guarded() runs the real step and turns any
// exception into Config::on_error's status. Every step presend only ever answers "continue" to is
// negotiated "no reply" (connect, MAIL FROM, headers, end of headers, body): the MTA then sends it without
// waiting, which saves it a round trip each. A failure in such a step is remembered and answered with
// on_error at the end of the message (see Session::failed).
#include "daemon/milter.hpp"

#include "daemon/message_builder.hpp"
#include "daemon/negotiation.hpp"
#include "engine/worker_cache.hpp"
#include "presend/daemon_metrics.hpp"
#include "presend/decision_log.hpp"
#include "presend/engine.hpp"

#include <libmilter/mfapi.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <optional>
#include <stdexcept>

namespace presend::daemon {

namespace {

using Clock = std::chrono::steady_clock;

// An SMTP reply line is at most 512 octets (RFC 5321 4.5.3.1.5); the code, the enhanced status code
// and CRLF take their share, and Postfix adds nothing we have to leave room for.
constexpr std::size_t k_max_reply_text = 400;
// Header lines must stay under 998 octets (RFC 5322 2.1.1); "X-Presend-Hits: " takes the rest.
constexpr std::size_t k_max_hits_header = 900;
// A Message-ID longer than a header line is not one; it is cut before it reaches the decision log.
constexpr std::size_t k_max_message_id = 998;
// Suppression answers kept for one message's decision line. Postfix accepts at most smtpd_recipient_limit
// (1000 by default) recipients per message; past this many the rest are counted in a note, so a client
// looping on RCPT TO cannot grow a session without bound.
constexpr std::size_t k_max_rcpt_verdicts = 1000;

constexpr const char* k_verdict_header = "X-Presend-Verdict";
constexpr const char* k_hits_header = "X-Presend-Hits";
constexpr const char* k_error_reply =
    "Temporary local problem in outbound compliance filter, try again later";
constexpr const char* k_suppressed_reply = "Recipient suppressed";

StateStore* g_store = nullptr;
DecisionLog* g_decisions = nullptr;
// Whether the MTA reaches presend over a unix socket, where the early steps answer nothing (on_negotiate).
bool g_local_socket = false;
std::atomic<std::size_t> g_in_flight{0};

// Counts a message in g_in_flight for as long as its EOM runs.
struct InFlight {
    InFlight() { ++g_in_flight; }
    ~InFlight() { --g_in_flight; }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;
};

// A local submission's recipient answer that defers the whole message at EOM: the 451's enhanced code and
// text, and the note for the decision line.
struct Deferral {
    const char* xcode;
    std::string text;
    const char* note;
};

struct Session {
    // Negotiated once per connection.
    bool leading_space_kept = false; // SMFIP_HDR_LEADSPC
    unsigned long no_reply = 0;      // the SMFIP_NR_* steps negotiated: their callbacks answer SMFIS_NOREPLY
    bool can_delete_rcpts = false;   // SMFIF_DELRCPT: EOM may remove recipients
    // Postfix's cleanup emulates SMTP for the sendmail command (non_smtpd_milters), from localhost port 0,
    // and treats a refused RCPT there as its own configuration error: it defers the whole message. So in
    // such a session the suppression list's answers are applied at EOM instead (see on_eom).
    bool local_submission = false;
    std::string client_addr;
    // The connect step failed without a reply: every message of this connection gets on_error at its end,
    // as the whole connection would have had. The flag is set first, so it holds even when the text cannot.
    bool connect_failed = false;
    std::string connect_failure;

    // Per message, from MAIL FROM to EOM or abort.
    std::shared_ptr<const State> state; // pinned: a reload never changes config or rules under this message
    Envelope envelope;
    MessageBuilder builder;
    std::string message_id;
    unsigned forged_verdict_headers = 0; // X-Presend-* headers the client sent; removed before ours are added
    unsigned forged_hits_headers = 0;
    // A no-reply step of this message (MAIL FROM, a header, end of headers, body) failed: RCPT TO runs no
    // checks and EOM answers on_error. Cleared at MAIL FROM (before anything there can fail) and at the end
    // of the message, not by begin_message(), which ensure_message() may call after the failure.
    bool message_failed = false;
    std::string failure;
    std::vector<RcptVerdict> rcpt_verdicts; // what the suppression list answered, for the decision line
    std::size_t rcpt_verdicts_dropped = 0;  // past k_max_rcpt_verdicts
    // local_submission only: recipients to remove at EOM (as the MTA gave them), the reply when none is
    // left, and the 451 when a suppression store error asks for the whole message to be tempfailed.
    std::vector<std::string> rcpts_to_delete;
    std::string suppressed_reply;
    std::optional<Deferral> deferral;
    std::optional<std::string> envelope_tenant; // tenant_id(), once asked
    Clock::time_point started;     // MAIL FROM: the total time in the decision log
    Clock::time_point eom_started; // the latency in the decision log

    void begin_message(std::shared_ptr<const State> pinned) {
        state = std::move(pinned);
        envelope = Envelope{};
        envelope.client_addr = client_addr;
        builder.reset(state->config.limits.max_message_bytes, state->config.limits.max_headers);
        builder.set_leading_space_kept(leading_space_kept);
        message_id.clear();
        forged_verdict_headers = forged_hits_headers = 0;
        rcpt_verdicts.clear();
        rcpt_verdicts_dropped = 0;
        rcpts_to_delete.clear();
        suppressed_reply.clear();
        deferral.reset();
        envelope_tenant.reset();
        started = eom_started = Clock::now();
    }

    // The tenant the envelope selects (header selectors are only known after DATA), whose own suppression
    // entries apply besides the global ones; "" when no tenant's envelope selector matches. Chosen at the
    // first recipient that asks: the sender side of the envelope does not change after MAIL FROM, and both
    // the suppression list and the volume guard ask for every recipient.
    const std::string& tenant_id() {
        if (!envelope_tenant) {
            const Tenant* tenant = select_tenant(state->config.tenants, envelope, nullptr);
            envelope_tenant = tenant ? tenant->id : std::string();
        }
        return *envelope_tenant;
    }

    // Moves the suppression answers into the verdict written for this message.
    void take_rcpt_verdicts(Verdict& verdict) {
        verdict.rcpts = std::move(rcpt_verdicts);
        rcpt_verdicts.clear();
        if (rcpt_verdicts_dropped > 0)
            verdict.notes.push_back("rcpt checks: " + std::to_string(rcpt_verdicts_dropped) +
                                    " more recipients not listed");
        rcpt_verdicts_dropped = 0;
    }

    // A header, body or EOM without MAIL FROM: only a broken MTA does that, but it must not crash us.
    void ensure_message() {
        if (!state) begin_message(g_store->current());
    }

    // Why this message is to get on_error at its end, when a no-reply step failed; nullopt when none did.
    std::optional<std::string> failed() const {
        constexpr const char* k_unknown = "a step without reply failed";
        if (connect_failed) return connect_failure.empty() ? k_unknown : connect_failure;
        if (message_failed) return failure.empty() ? k_unknown : failure;
        return std::nullopt;
    }

    void end_message() {
        state.reset();
        builder.reset(0);
        message_failed = false;
        failure.clear();
        rcpt_verdicts.clear();
        rcpt_verdicts_dropped = 0;
        rcpts_to_delete.clear();
        deferral.reset();
    }
};

Session* session_of(SMFICTX* ctx) {
    return static_cast<Session*>(smfi_getpriv(ctx));
}

Session& session(SMFICTX* ctx) {
    if (auto* s = session_of(ctx)) return *s;
    auto fresh = std::make_unique<Session>();
    if (smfi_setpriv(ctx, fresh.get()) != MI_SUCCESS) throw std::runtime_error("smfi_setpriv failed");
    return *fresh.release();
}

std::string macro(SMFICTX* ctx, const char* name) {
    const char* value = smfi_getsymval(ctx, const_cast<char*>(name));
    return value ? value : "";
}

// "<user@example.com>" → "user@example.com"; "<>" → "".
std::string strip_brackets(const char* arg) {
    std::string_view s = arg ? arg : "";
    while (!s.empty() && s.front() == ' ')
        s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ')
        s.remove_suffix(1);
    if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
    return std::string(s);
}

std::string address_of(const sockaddr* addr) {
    if (!addr) return {};
    char buf[INET6_ADDRSTRLEN] = {};
    if (addr->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
        if (inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf)) return buf;
    } else if (addr->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
        if (inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf)) return buf;
    }
    return {};
}

// The client's port, or -1 when there is no address or it is not IP.
int port_of(const sockaddr* addr) {
    if (!addr) return -1;
    if (addr->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(addr)->sin_port);
    if (addr->sa_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_port);
    return -1;
}

std::string_view queue_id_of(const Session* s) {
    return s && !s->envelope.queue_id.empty() ? std::string_view(s->envelope.queue_id) : "NOQUEUE";
}

// Asked at MAIL FROM, end of headers and end of message: which steps carry the id depends on the MTA and its
// settings. Copied into the envelope's own string, whose buffer stays, and only when it changed.
void refresh_queue_id(SMFICTX* ctx, Session& s) {
    const char* id = smfi_getsymval(ctx, const_cast<char*>("i"));
    if (id != nullptr && *id != '\0' && s.envelope.queue_id != id) s.envelope.queue_id.assign(id);
}

Config current_config(const Session* s) {
    if (s && s->state) return s->state->config;
    return g_store->current()->config;
}

sfsistat status_of(Action action) {
    switch (action) {
    case Action::reject:
        return SMFIS_REJECT;
    case Action::tempfail:
        return SMFIS_TEMPFAIL;
    case Action::discard:
        return SMFIS_DISCARD;
    default:
        return SMFIS_ACCEPT;
    }
}

void set_reply(SMFICTX* ctx, const char* code, const char* xcode, std::string_view text,
               const char* fallback) {
    std::string clean = sanitize_reply(text);
    if (clean.empty()) clean = sanitize_reply(fallback);
    if (smfi_setreply(ctx, const_cast<char*>(code), const_cast<char*>(xcode), clean.data()) != MI_SUCCESS)
        spdlog::warn("smfi_setreply {} {} refused; the MTA's default reply is used", code, xcode);
}

// The status for an internal error, with a reply when the step allows one.
sfsistat error_status(SMFICTX* ctx, Action on_error, bool can_reply) {
    if (can_reply && on_error == Action::tempfail)
        set_reply(ctx, "451", "4.3.0", k_error_reply, k_error_reply);
    if (can_reply && on_error == Action::reject) set_reply(ctx, "550", "5.3.0", k_error_reply, k_error_reply);
    return status_of(on_error);
}

enum class Step { negotiate, connect, envfrom, envrcpt, header, eoh, body, eom, abort, close };

const char* step_name(Step step) {
    switch (step) {
    case Step::negotiate:
        return "negotiate";
    case Step::connect:
        return "connect";
    case Step::envfrom:
        return "MAIL FROM";
    case Step::envrcpt:
        return "RCPT TO";
    case Step::header:
        return "header";
    case Step::eoh:
        return "end of headers";
    case Step::body:
        return "body";
    case Step::eom:
        return "end of message";
    case Step::abort:
        return "abort";
    case Step::close:
        return "close";
    }
    return "?";
}

// The protocol option that makes a step "no reply"; 0 for the steps that always answer.
unsigned long no_reply_option(Step step) {
    switch (step) {
    case Step::connect:
        return SMFIP_NR_CONN;
    case Step::envfrom:
        return SMFIP_NR_MAIL;
    case Step::header:
        return SMFIP_NR_HDR;
    case Step::eoh:
        return SMFIP_NR_EOH;
    case Step::body:
        return SMFIP_NR_BODY;
    default:
        return 0;
    }
}

// SMFIS_NOREPLY when the MTA was told this step answers nothing, else SMFIS_CONTINUE.
sfsistat go_on(const Session& s, Step step) {
    return (s.no_reply & no_reply_option(step)) != 0 ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

// A test of the failure paths: PRESEND_FAULT_STEP names one step whose callbacks throw (milter.hpp).
std::optional<Step> g_fault_step;

void write_error_decision(Session* s, const Config& config, std::string_view reason);

// A no-reply step failed: remembered for the message (or, at connect, the connection) and answered at its
// end. Whatever the MTA is told now is dropped by libmilter, so nothing else would ever say it.
void remember_failure(Session& s, Step step, std::string_view reason) noexcept {
    if (step == Step::connect)
        s.connect_failed = true;
    else
        s.message_failed = true;
    try {
        std::string& why = step == Step::connect ? s.connect_failure : s.failure;
        if (why.empty()) why = std::string(step_name(step)) + ": " + std::string(reason);
        spdlog::error("{}: internal error at {}: {}; on_error is answered at the end of the message",
                      queue_id_of(&s), step_name(step), reason);
    } catch (...) {
        // the flag alone is enough for EOM to answer on_error
    }
}

// What a callback answers when its step threw. Never throws itself.
sfsistat fail(SMFICTX* ctx, Step step, std::string_view reason) noexcept {
    Session* s = session_of(ctx);
    if (s && (s->no_reply & no_reply_option(step)) != 0) {
        remember_failure(*s, step, reason);
        return SMFIS_NOREPLY;
    }
    try {
        const Config config = current_config(s);
        spdlog::error("{}: internal error at {}: {}; answering {}", queue_id_of(s), step_name(step), reason,
                      to_string(config.on_error));
        switch (step) {
        case Step::negotiate:
            return SMFIS_ALL_OPTS; // libmilter's defaults; every callback copes with them
        case Step::abort:
        case Step::close:
            return SMFIS_CONTINUE; // the answer is ignored
        case Step::eom:
            write_error_decision(s, config, reason);
            if (s) s->end_message();
            break;
        default:
            break;
        }
        daemon_metrics().milter_error(step_name(step));
        return error_status(ctx, config.on_error, step != Step::connect);
    } catch (...) {
        return SMFIS_TEMPFAIL;
    }
}

template <class F> sfsistat guarded(SMFICTX* ctx, Step step, F&& body) noexcept {
    try {
        if (g_fault_step == step) throw std::runtime_error("fault injected by PRESEND_FAULT_STEP");
        return body();
    } catch (const std::exception& e) {
        return fail(ctx, step, e.what());
    } catch (...) {
        return fail(ctx, step, "unknown exception");
    }
}

// --- applying a verdict ---

std::string format_score(double score) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", score);
    return buf;
}

std::string hit_list(const Verdict& verdict, std::size_t limit) {
    std::string out;
    for (const auto& hit : verdict.hits) {
        if (hit.monitor) continue; // trial rules never show outside the decision log
        const std::size_t extra = (out.empty() ? 0 : 1) + hit.rule.size();
        if (out.size() + extra > limit) {
            out += out.empty() ? "..." : ",...";
            break;
        }
        if (!out.empty()) out += ',';
        out += hit.rule;
    }
    return out;
}

void check(int rc, const char* what) {
    if (rc != MI_SUCCESS) throw std::runtime_error(std::string(what) + " failed");
}

void remove_forged_headers(SMFICTX* ctx, const Session& s) {
    // Highest index first, so the indexes of the remaining ones do not move.
    for (unsigned i = s.forged_verdict_headers; i > 0; --i)
        check(smfi_chgheader(ctx, const_cast<char*>(k_verdict_header), static_cast<int>(i), nullptr),
              "smfi_chgheader");
    for (unsigned i = s.forged_hits_headers; i > 0; --i)
        check(smfi_chgheader(ctx, const_cast<char*>(k_hits_header), static_cast<int>(i), nullptr),
              "smfi_chgheader");
}

// With SMFIP_HDR_LEADSPC the MTA writes added values as given too: the space after the colon is ours.
void add_verdict_headers(SMFICTX* ctx, const Session& s, const Verdict& verdict) {
    const std::string lead = s.leading_space_kept ? " " : "";
    std::string value =
        lead + (verdict.mode == Mode::enforce ? std::string(to_string(verdict.action))
                                              : "would-" + std::string(to_string(verdict.would_action)));
    value += " score=" + format_score(verdict.score);
    check(smfi_addheader(ctx, const_cast<char*>(k_verdict_header), value.data()), "smfi_addheader");
    if (std::string hits = hit_list(verdict, k_max_hits_header); !hits.empty()) {
        hits.insert(0, lead);
        check(smfi_addheader(ctx, const_cast<char*>(k_hits_header), hits.data()), "smfi_addheader");
    }
}

sfsistat apply(SMFICTX* ctx, const Session& s, const Config& config, const Verdict& verdict) {
    switch (verdict.action) {
    case Action::reject:
        set_reply(ctx, "550", "5.7.1", verdict.reply, "Message refused by outbound compliance policy");
        return SMFIS_REJECT;
    case Action::tempfail:
        set_reply(ctx, "451", "4.7.1", verdict.reply, "Message deferred by outbound compliance policy");
        return SMFIS_TEMPFAIL;
    case Action::discard:
        return SMFIS_DISCARD;
    default:
        break;
    }
    const bool tag =
        (verdict.mode == Mode::enforce && verdict.action == Action::tag) ||
        (verdict.mode == Mode::dry_run && config.dry_run_tag && verdict.would_action != Action::accept);
    // In dry-run without tags the message leaves exactly as it came.
    if (verdict.mode == Mode::enforce || tag) remove_forged_headers(ctx, s);
    if (tag) add_verdict_headers(ctx, s, verdict);
    if (verdict.action == Action::quarantine) {
        std::string reason = "presend score=" + format_score(verdict.score);
        if (auto hits = hit_list(verdict, k_max_reply_text); !hits.empty()) reason += " hits=" + hits;
        reason = sanitize_reply(reason);
        check(smfi_quarantine(ctx, reason.data()), "smfi_quarantine");
    }
    return SMFIS_ACCEPT;
}

// Headers the platform set for presend alone, removed before relay: the attestation once judged
// (attestation.strip) and the tenant's selector header (strip_header). In dry-run too: this is
// configuration, not a verdict.
void strip_headers(SMFICTX* ctx, const Config& config, const MessageContext& context,
                   const ParsedMessage& message) {
    auto strip = [&](const std::string& name) {
        // Highest index first, so the indexes of the remaining ones do not move.
        for (auto i = message.header_count(name); i > 0; --i)
            check(smfi_chgheader(ctx, const_cast<char*>(name.c_str()), static_cast<int>(i), nullptr),
                  "smfi_chgheader");
    };
    if (config.attestation.strip) strip(config.attestation.header);
    if (const Tenant* tenant = find_tenant(config.tenants, context.tenant);
        tenant && tenant->selectors.header && tenant->selectors.header->strip)
        strip(tenant->selectors.header->name);
}

// One warn line and one count per limit the message passed; evaluate() has raised the verdict already.
void log_limits_passed(const Session& s, const Limits& limits, const Verdict& verdict) {
    for (const auto& limit : limits_passed(verdict.notes)) {
        daemon_metrics().limit_exceeded(limit.key);
        spdlog::warn("{}: over limits.{} {} ({}): judged on what was read, verdict at least {}",
                     queue_id_of(&s), limit.key, limits.*limit.value, limit.fact, to_string(limits.on_limit));
    }
}

template <class D> std::chrono::microseconds micros(D d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

void write_error_decision(Session* s, const Config& config, std::string_view reason) {
    Verdict verdict;
    verdict.mode = config.mode;
    verdict.action = config.on_error;
    verdict.would_action = Action::accept; // unknown: the rules did not finish
    verdict.notes = {"internal-error", std::string(reason)};
    if (s) s->take_rcpt_verdicts(verdict);
    const Envelope envelope = s ? s->envelope : Envelope{};
    const std::string message_id = s ? s->message_id : "";
    const std::string version = s && s->state && s->state->rules ? s->state->rules->version : "";
    const auto now = Clock::now();
    const auto latency = s ? micros(now - s->eom_started) : std::chrono::microseconds{0};
    const auto total = s ? std::optional(micros(now - s->started)) : std::nullopt;
    g_decisions->write_decision(envelope, message_id, verdict, latency, version, total);
}

// A message that ends before EOM never gets a verdict, but when the suppression list answered any of its
// recipients it still gets a decision line: an auditor looks there for every recipient that was refused, and
// the usual way for such a message to end is that every recipient was refused (Postfix then answers DATA
// itself). The line's action is what the recipients got when none was accepted, else accept; note
// "ended-before-eom". Called at the next MAIL FROM, at abort and at close; writes nothing for other messages.
void write_unjudged_decision(Session& s) {
    if (!s.state || (s.rcpt_verdicts.empty() && s.rcpt_verdicts_dropped == 0)) return;
    Verdict verdict;
    verdict.mode = s.state->config.mode;
    verdict.notes = {"ended-before-eom"};
    // envelope.rcpts holds the accepted recipients; the answered ones not in it were refused.
    std::size_t refused = 0, would_refuse = 0;
    Action strictest = Action::accept, would_strictest = Action::accept;
    for (const auto& r : s.rcpt_verdicts) {
        refused += r.action != Action::accept;
        would_refuse += r.would_action != Action::accept;
        strictest = std::max(strictest, r.action);
        would_strictest = std::max(would_strictest, r.would_action);
    }
    const std::size_t received = s.envelope.rcpts.size() + refused;
    verdict.action = s.envelope.rcpts.empty() ? strictest : Action::accept;
    verdict.would_action = would_refuse == received ? would_strictest : Action::accept;
    s.take_rcpt_verdicts(verdict);
    const auto total = micros(Clock::now() - s.started);
    g_decisions->write_decision(s.envelope, s.message_id, verdict, std::chrono::microseconds{0},
                                s.state->rules ? s.state->rules->version : "", total);
}

// A suppressed or rate-limited recipient is worth one log line, like any recipient the MTA refuses.
void log_rcpt_verdict(const Session& s, const RcptVerdict& r) {
    if (!r.store_error.empty()) return; // StoreErrorLog logs those, rate-limited
    if (r.check == RcptVerdict::Check::rates) { // rate-limited: a refusal can come by the hundred a minute
        if (s.state && s.state->rates) s.state->rates->handle()->log_limited(queue_id_of(&s), r);
        return;
    }
    spdlog::info("{}: <{}> suppressed: {} ({} entry {}, {}, since {}); {}", queue_id_of(&s), r.rcpt, r.reason,
                 r.domain_entry ? "domain" : "address", r.entry,
                 r.scope.empty() ? "global" : "tenant " + r.scope, format_utc(r.since),
                 r.action == Action::reject ? "refused" : "would be refused (dry-run)");
}

// For a local submission (Session::local_submission): what the suppression list answered at RCPT, applied
// now. A store error tempfails the message (the sendmail command's mail stays queued and is retried); a
// message left with no recipient is refused with the first suppressed recipient's reply (Postfix bounces it
// to the sender); otherwise the suppressed recipients are removed and the verdict decides the rest. Returns
// the message's status when that is decided here (and records it in verdict), else nullopt.
std::optional<sfsistat> apply_rcpt_answers(SMFICTX* ctx, Session& s, Verdict& verdict) {
    const auto decided = [&](Action action, const char* note) {
        verdict.action = action;
        verdict.would_action = std::max(verdict.would_action, action);
        verdict.notes.push_back(note);
        return status_of(action);
    };
    if (s.deferral) {
        set_reply(ctx, "451", s.deferral->xcode, s.deferral->text, k_error_reply);
        return decided(Action::tempfail, s.deferral->note);
    }
    if (s.rcpts_to_delete.empty()) return std::nullopt;
    if (s.envelope.rcpts.empty()) {
        set_reply(ctx, "550", "5.7.1", s.suppressed_reply, k_suppressed_reply);
        return decided(Action::reject, "every-recipient-suppressed");
    }
    for (auto& rcpt : s.rcpts_to_delete)
        check(smfi_delrcpt(ctx, rcpt.data()), "smfi_delrcpt");
    return std::nullopt;
}

// What the suppression list or the volume guard answered for one recipient, recorded for the decision line.
// Returns the answer when it is final for this recipient: refused now, or (local submission) to be removed
// at EOM, see apply_rcpt_answers; nullopt when it goes on like any other. Only this recipient is concerned.
std::optional<sfsistat> answer_rcpt(SMFICTX* ctx, Session& s, const std::string& rcpt, const char* arg,
                                    RcptAnswer answer) {
    if (!answer.verdict) return std::nullopt;
    RcptVerdict& verdict = *answer.verdict;
    const bool refusing = verdict.action == Action::reject || verdict.action == Action::tempfail;
    bool removed = false;
    if (refusing && s.local_submission) {
        // A refused RCPT would make cleanup defer the whole message: applied at EOM instead.
        if (verdict.action == Action::tempfail) {
            // Only the suppression list's store errors get here: the volume guard never defers a local
            // submission (see ask_rate_check).
            if (!s.deferral) s.deferral = Deferral{answer.xcode, answer.text, "suppression-store-error"};
        } else if (s.can_delete_rcpts) {
            s.rcpts_to_delete.push_back(arg ? arg : "<" + rcpt + ">");
            if (s.suppressed_reply.empty()) s.suppressed_reply = answer.text;
            removed = true;
        } else {
            spdlog::warn("{}: <{}> is suppressed but the MTA does not let presend remove recipients "
                         "(SMFIF_DELRCPT); delivered",
                         queue_id_of(&s), rcpt);
            verdict.action = Action::accept;
        }
    }
    log_rcpt_verdict(s, verdict);
    const Action action = verdict.action;
    if (s.rcpt_verdicts.size() < k_max_rcpt_verdicts)
        s.rcpt_verdicts.push_back(std::move(verdict));
    else
        ++s.rcpt_verdicts_dropped;
    if (removed) return SMFIS_CONTINUE; // not in envelope.rcpts: removed at EOM
    if (s.local_submission || (action != Action::reject && action != Action::tempfail)) return std::nullopt;
    set_reply(ctx, answer.code, answer.xcode, answer.text,
              action == Action::reject ? k_suppressed_reply : k_error_reply);
    return status_of(action); // not in envelope.rcpts: this recipient gets no copy
}

// The suppression list's answer for one recipient (bounded by the store's timeout); see answer_rcpt.
std::optional<sfsistat> ask_suppression_list(SMFICTX* ctx, Session& s, const std::string& rcpt, const char* arg) {
    SuppressionCheck* list = s.state->suppression.get();
    if (!list) return std::nullopt;
    return answer_rcpt(ctx, s, rcpt, arg, list->check(rcpt, s.tenant_id(), s.state->config.mode));
}

// The volume guard's answer for a recipient the suppression list let through: a token from every bucket that
// applies, or 451 4.7.1 (see rate_check.hpp); see answer_rcpt. A recipient refused here took no token.
// Mail from the sendmail command counts against the buckets but is never deferred for them, as in dry-run: it
// is the host's own mail (cron, notices to the postmaster), and cleanup could only defer the whole message,
// whose recipients that passed would take their tokens again on every retry, so a message with more
// recipients than a bucket refills between retries would never leave.
std::optional<sfsistat> ask_rate_check(SMFICTX* ctx, Session& s, const std::string& rcpt, const char* arg) {
    RateCheck* rates = s.state->rates.get();
    if (!rates) return std::nullopt;
    const Mode mode = s.local_submission ? Mode::dry_run : s.state->config.mode;
    return answer_rcpt(ctx, s, rcpt, arg, rates->check(rcpt, s.tenant_id(), mode));
}

// --- callbacks ---

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long, unsigned long,
                      unsigned long* pf0, unsigned long* pf1, unsigned long* pf2, unsigned long* pf3) {
    return guarded(ctx, Step::negotiate, [&] {
        Session& s = session(ctx);
        const Negotiation n = negotiate(f0, f1, g_local_socket);
        if (!n.has_needed_actions())
            spdlog::warn(
                "the MTA does not offer every action presend needs (offered 0x{:x}); tag and quarantine "
                "verdicts may fail and get on_error",
                f0);
        *pf0 = n.actions;
        *pf1 = n.protocol;
        *pf2 = 0;
        *pf3 = 0;
        s.leading_space_kept = n.leading_space_kept();
        s.no_reply = n.no_reply();
        s.can_delete_rcpts = (n.actions & SMFIF_DELRCPT) != 0;
        if ((n.actions & SMFIF_SETSYMLIST) != 0)
            check(request_macros(ctx) ? MI_SUCCESS : MI_FAILURE, "smfi_setsymlist");
        return SMFIS_CONTINUE;
    });
}

sfsistat on_connect(SMFICTX* ctx, char*, _SOCK_ADDR* hostaddr) {
    return guarded(ctx, Step::connect, [&] {
        Session& s = session(ctx);
        s.client_addr = macro(ctx, "{client_addr}");
        if (s.client_addr.empty()) s.client_addr = address_of(hostaddr);
        s.local_submission = port_of(hostaddr) == 0; // no TCP client has port 0; cleanup's emulation has
        return go_on(s, Step::connect);
    });
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    return guarded(ctx, Step::envfrom, [&] {
        Session& s = session(ctx);
        s.message_failed = false; // a new message; the last one's failure was answered or dropped with it
        s.failure.clear();
        if (s.client_addr.empty()) s.client_addr = macro(ctx, "{client_addr}");
        write_unjudged_decision(s); // a MAIL FROM without RSET after a transaction that never reached DATA
        s.begin_message(g_store->current());
        refresh_queue_id(ctx, s);
        s.envelope.auth_user = macro(ctx, "{auth_authen}");
        s.envelope.mail_from = macro(ctx, "{mail_addr}");
        if (s.envelope.mail_from.empty() && argv) s.envelope.mail_from = strip_brackets(argv[0]);
        return go_on(s, Step::envfrom);
    });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    return guarded(ctx, Step::envrcpt, [&] {
        Session& s = session(ctx);
        s.ensure_message();
        std::string rcpt = macro(ctx, "{rcpt_addr}");
        if (rcpt.empty() && argv) rcpt = strip_brackets(argv[0]);
        if (s.failed()) {
            // EOM answers on_error for the whole message; a check now would only take rate tokens for it.
            s.envelope.rcpts.push_back(std::move(rcpt));
            return SMFIS_CONTINUE;
        }
        if (auto done = ask_suppression_list(ctx, s, rcpt, argv ? argv[0] : nullptr)) return *done;
        // In dry-run a recipient the list would refuse takes no token either: the counts stay those of enforce.
        const bool would_be_suppressed = !s.rcpt_verdicts.empty() && s.rcpt_verdicts.back().rcpt == rcpt &&
                                         s.rcpt_verdicts.back().would_action == Action::reject;
        if (!would_be_suppressed)
            if (auto done = ask_rate_check(ctx, s, rcpt, argv ? argv[0] : nullptr)) return *done;
        s.envelope.rcpts.push_back(std::move(rcpt));
        return SMFIS_CONTINUE;
    });
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    return guarded(ctx, Step::header, [&] {
        Session& s = session(ctx);
        s.ensure_message();
        const std::string_view n = name ? name : "";
        const std::string_view v = value ? value : "";
        s.builder.add_header(n, v);
        if (s.message_id.empty() && iequals(n, "Message-ID")) {
            std::string_view id = v;
            while (!id.empty() && (id.front() == ' ' || id.front() == '\t'))
                id.remove_prefix(1);
            s.message_id = std::string(id.substr(0, k_max_message_id));
        } else if (iequals(n, k_verdict_header)) {
            ++s.forged_verdict_headers;
        } else if (iequals(n, k_hits_header)) {
            ++s.forged_hits_headers;
        }
        return go_on(s, Step::header);
    });
}

sfsistat on_eoh(SMFICTX* ctx) {
    return guarded(ctx, Step::eoh, [&] {
        Session& s = session(ctx);
        s.ensure_message();
        refresh_queue_id(ctx, s);
        s.builder.end_headers();
        return go_on(s, Step::eoh);
    });
}

sfsistat on_body(SMFICTX* ctx, unsigned char* chunk, size_t size) {
    return guarded(ctx, Step::body, [&] {
        Session& s = session(ctx);
        s.ensure_message();
        // Over the cap the builder keeps nothing more; the MTA sends the rest anyway (see on_negotiate).
        s.builder.add_body(std::string_view(reinterpret_cast<const char*>(chunk), chunk ? size : 0));
        return go_on(s, Step::body);
    });
}

// The message being judged on this thread, reusing the strings and vectors of the one before (mime_parser
// keeps them per thread). libmilter's workers come and go under load: the message outlives the thread
// (worker_cache.hpp).
thread_local WorkerCache<ParsedMessage> t_message;

sfsistat on_eom(SMFICTX* ctx) {
    const InFlight in_flight;
    const auto eom_start = Clock::now();
    return guarded(ctx, Step::eom, [&] {
        Session& s = session(ctx);
        s.ensure_message();
        s.eom_started = eom_start;
        refresh_queue_id(ctx, s);
        if (auto why = s.failed()) throw std::runtime_error(*why); // a step without reply failed
        const State& state = *s.state;
        const Config& config = state.config;

        StageTimes times;
        const bool oversize = s.builder.oversize();
        if (oversize) {
            daemon_metrics().oversize();
            spdlog::info("{}: message of {} bytes is over max_message_bytes {}: judging its headers only, "
                         "at least {}",
                         queue_id_of(&s), s.builder.seen_bytes(), config.limits.max_message_bytes,
                         to_string(config.limits.on_oversize));
        }
        const auto parse_start = Clock::now();
        // Past max_message_bytes the fact `oversize` is set before the rules run, so a rule naming it can hold
        // or refuse what presend could not read whole.
        if (oversize)
            parse_headers_only(s.builder.headers_only(), *t_message, config.limits);
        else
            parse_message(s.builder.message(), *t_message, config.limits);
        const ParsedMessage& message = *t_message;
        times.parse = micros(Clock::now() - parse_start);
        // The tenant is chosen with the headers known, so header selectors work; its mode decides.
        const MessageContext context = message_context(config, s.envelope, message);
        Verdict verdict = judge(*state.rules, message, s.envelope, context, config.mode, &times);
        apply_limits(verdict, config.limits, Clock::now() - parse_start);
        if (oversize) apply_oversize(verdict, config.limits, s.builder.headers_truncated());
        log_limits_passed(s, config.limits, verdict);
        const auto early = apply_rcpt_answers(ctx, s, verdict);
        const sfsistat status = early ? *early : apply(ctx, s, config, verdict);
        if (status == SMFIS_ACCEPT) strip_headers(ctx, config, context, message);
        s.take_rcpt_verdicts(verdict);

        const auto done = Clock::now();
        g_decisions->write_decision(s.envelope, s.message_id, verdict, micros(done - eom_start),
                                    state.rules->version, micros(done - s.started));
        auto& metrics = daemon_metrics();
        metrics.message(verdict.tenant, verdict);
        metrics.stage_latency(Stage::parse, times.parse);
        metrics.stage_latency(Stage::inspect, times.inspect);
        metrics.stage_latency(Stage::decide, times.decide);
        metrics.stage_latency(Stage::eom, micros(Clock::now() - eom_start));
        if (spdlog::should_log(spdlog::level::debug)) // its arguments cost a string even when it is off
            spdlog::debug("{}: {} score={} hits={} in {} us", queue_id_of(&s),
                          to_string(verdict.would_action), format_score(verdict.score), verdict.hits.size(),
                          micros(done - eom_start).count());
        s.end_message();
        recycle_message(*t_message); // the connection may idle now: hold no more than the reusable buffers
        return status;
    });
}

sfsistat on_abort(SMFICTX* ctx) {
    return guarded(ctx, Step::abort, [&] {
        // RSET or a dropped client: forget the message, keep the connection.
        if (Session* s = session_of(ctx)) {
            write_unjudged_decision(*s);
            s->end_message();
        }
        return SMFIS_CONTINUE;
    });
}

sfsistat on_close(SMFICTX* ctx) {
    return guarded(ctx, Step::close, [&] {
        std::unique_ptr<Session> s(session_of(ctx));
        smfi_setpriv(ctx, nullptr);
        if (s) write_unjudged_decision(*s); // a client that left mid-transaction without an abort
        return SMFIS_CONTINUE;
    });
}

} // namespace

std::string sanitize_reply(std::string_view text) {
    std::string out;
    std::size_t visible = 0;
    for (char c : text) {
        if (visible >= k_max_reply_text) break;
        const auto u = static_cast<unsigned char>(c);
        if (c == '\r' || c == '\n' || c == '\t')
            c = ' ';
        else if (u < 32 || u > 126)
            c = '?';
        if (c == ' ' && (out.empty() || out.back() == ' ')) continue; // no leading or repeated blanks
        out += c;
        if (c == '%') out += '%';
        ++visible;
    }
    while (!out.empty() && out.back() == ' ')
        out.pop_back();
    return out;
}

std::size_t milter_messages_in_flight() {
    return g_in_flight.load();
}

bool milter_register(StateStore& store, DecisionLog& decisions) {
    g_store = &store;
    g_decisions = &decisions;
    const std::string& socket = store.current()->config.socket;
    g_local_socket = socket.rfind("unix:", 0) == 0 || socket.rfind("local:", 0) == 0;
    g_fault_step.reset();
    if (const char* name = std::getenv(k_fault_step_env); name && *name) {
        constexpr Step k_steps[] = {Step::connect, Step::envfrom, Step::envrcpt, Step::header,
                                    Step::eoh,     Step::body,    Step::eom};
        for (Step step : k_steps)
            if (step_name(step) == std::string_view(name)) g_fault_step = step;
        if (!g_fault_step) {
            spdlog::error("{}={}: not a step (connect, MAIL FROM, RCPT TO, header, end of headers, body, end "
                          "of message)",
                          k_fault_step_env, name);
            return false;
        }
        spdlog::warn("{}: every {} step fails, for testing; never set it in production", k_fault_step_env,
                     name);
    }
    static char k_name[] = "presend";
    // In the order of Callbacks' fields: negotiate, connect, MAIL FROM, RCPT TO, header, end of headers,
    // body, end of message, abort, close.
    const Callbacks callbacks{on_negotiate, on_connect, on_envfrom, on_envrcpt, on_header,
                              on_eoh,       on_body,    on_eom,     on_abort,   on_close};
    return smfi_register(describe(k_name, callbacks)) == MI_SUCCESS;
}

} // namespace presend::daemon
