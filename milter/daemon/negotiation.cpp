// See negotiation.hpp.
#include "daemon/negotiation.hpp"

namespace presend::daemon {

Negotiation negotiate(unsigned long offered_actions, unsigned long offered_protocol, bool local_socket) {
    Negotiation n;
    n.actions = (k_registered_actions | SMFIF_SETSYMLIST) & offered_actions;
    // Steps presend never looks at, and options that save round trips. Only what the MTA offers may be
    // asked for, or libmilter drops the connection (it offers every "no reply" option itself and answers
    // "continue" for the milter when the MTA lacks one).
    // Over TCP the DATA step stays (libmilter answers it "continue"): see below.
    const unsigned long steps_dropped = SMFIP_NOHELO | SMFIP_NOUNKNOWN | (local_socket ? SMFIP_NODATA : 0);
    // Steps answered with nothing but "continue": not RCPT TO (the suppression list and the volume guard
    // refuse recipients there) nor EOM (the verdict). No SMFIP_SKIP either: a no-reply body cannot answer
    // it, and past max_message_bytes the builder drops what the MTA still sends, so an oversize message
    // costs the MTA a copy over the socket of what it has already received, not a round trip per chunk of
    // every message.
    // Only over a unix socket: over TCP the MTA's back-to-back small writes meet Nagle's algorithm on its
    // side and the delayed ACK (40 ms at least on Linux) on ours, and most messages would wait 40 ms at end
    // of DATA (docs/bench-e2e.md). A reply at every step, DATA included, keeps TCP turning over: the MTA
    // never writes twice without reading.
    const unsigned long options = SMFIP_HDR_LEADSPC | (local_socket ? k_no_reply_steps : 0);
    n.protocol = (steps_dropped | options) & offered_protocol;
    return n;
}

smfiDesc describe(char* name, const Callbacks& callbacks) {
    smfiDesc desc{};
    desc.xxfi_name = name;
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = k_registered_actions;
    desc.xxfi_negotiate = callbacks.negotiate;
    desc.xxfi_connect = callbacks.connect;
    desc.xxfi_envfrom = callbacks.envfrom;
    desc.xxfi_envrcpt = callbacks.envrcpt;
    desc.xxfi_header = callbacks.header;
    desc.xxfi_eoh = callbacks.eoh;
    desc.xxfi_body = callbacks.body;
    desc.xxfi_eom = callbacks.eom;
    desc.xxfi_abort = callbacks.abort;
    desc.xxfi_close = callbacks.close;
    return desc; // helo, data and unknown stay null
}

bool request_macros(SMFICTX* ctx) {
    // Only the macros presend reads; the MTA sends nothing else.
    static char k_connect_macros[] = "{client_addr}";
    static char k_mail_macros[] = "i {auth_authen} {mail_addr}";
    static char k_rcpt_macros[] = "{rcpt_addr}";
    static char k_eoh_macros[] = "i";
    static char k_eom_macros[] = "i";
    return smfi_setsymlist(ctx, SMFIM_CONNECT, k_connect_macros) == MI_SUCCESS &&
           smfi_setsymlist(ctx, SMFIM_ENVFROM, k_mail_macros) == MI_SUCCESS &&
           smfi_setsymlist(ctx, SMFIM_ENVRCPT, k_rcpt_macros) == MI_SUCCESS &&
           smfi_setsymlist(ctx, SMFIM_EOH, k_eoh_macros) == MI_SUCCESS &&
           smfi_setsymlist(ctx, SMFIM_EOM, k_eom_macros) == MI_SUCCESS;
}

} // namespace presend::daemon
