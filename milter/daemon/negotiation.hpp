// negotiation: what presend asks of the MTA when a connection opens (xxfi_negotiate): the actions it may
// take, the protocol steps it skips or answers with nothing, and the macros it reads. milter.cpp negotiates
// with it, and so does contrib/bench/null-milter.cpp, the benchmark's filter that does nothing: both hold the
// same conversation with Postfix, so the difference between them is presend's own work.
#pragma once

#include <libmilter/mfapi.h>

namespace presend::daemon {

// The actions tag and quarantine verdicts take; without them those verdicts fail and get on_error.
inline constexpr unsigned long k_needed_actions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE;
// What presend registers (smfiDesc::xxfi_flags): the needed actions, and removing suppressed recipients
// from a local submission.
inline constexpr unsigned long k_registered_actions = k_needed_actions | SMFIF_DELRCPT;
// Steps answered with nothing but "continue", over a unix socket (see negotiate()).
inline constexpr unsigned long k_no_reply_steps =
    SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY;

struct Negotiation {
    unsigned long actions = 0;  // *pf0 of xxfi_negotiate
    unsigned long protocol = 0; // *pf1: steps dropped, steps without reply, options

    bool leading_space_kept() const { return (protocol & SMFIP_HDR_LEADSPC) != 0; }
    // The SMFIP_NR_* steps negotiated: their callbacks answer SMFIS_NOREPLY.
    unsigned long no_reply() const { return protocol & k_no_reply_steps; }
    bool has_needed_actions() const { return (actions & k_needed_actions) == k_needed_actions; }
};

// The callbacks of a filter that holds presend's conversation. libmilter tells the MTA to skip the steps a
// filter has no callback for, so the set registered is part of the conversation: HELO, DATA and unknown
// commands have none.
struct Callbacks {
    sfsistat (*negotiate)(SMFICTX*, unsigned long, unsigned long, unsigned long, unsigned long,
                          unsigned long*, unsigned long*, unsigned long*, unsigned long*);
    sfsistat (*connect)(SMFICTX*, char*, _SOCK_ADDR*);
    sfsistat (*envfrom)(SMFICTX*, char**);
    sfsistat (*envrcpt)(SMFICTX*, char**);
    sfsistat (*header)(SMFICTX*, char*, char*);
    sfsistat (*eoh)(SMFICTX*);
    sfsistat (*body)(SMFICTX*, unsigned char*, size_t);
    sfsistat (*eom)(SMFICTX*);
    sfsistat (*abort)(SMFICTX*);
    sfsistat (*close)(SMFICTX*);
};

// The smfiDesc for smfi_register(): `name` (kept by libmilter, so it must outlive smfi_main()), presend's
// actions and `callbacks`.
smfiDesc describe(char* name, const Callbacks& callbacks);

// From the actions and protocol flags the MTA offers (f0, f1 of xxfi_negotiate); local_socket: the MTA
// connects over a unix socket. Only what is offered is asked for.
Negotiation negotiate(unsigned long offered_actions, unsigned long offered_protocol, bool local_socket);

// Asks the MTA for only the macros presend reads (when the negotiation has SMFIF_SETSYMLIST); false if
// libmilter refused one of the lists.
bool request_macros(SMFICTX* ctx);

} // namespace presend::daemon
