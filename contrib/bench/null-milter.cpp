// null-milter: the filter that does nothing, run (n) of contrib/bench/e2e. It negotiates as presend does
// (daemon/negotiation.hpp: the same steps, the same "no reply" options, the same macros), so Postfix holds
// the same conversation with it, and answers every step as presend answers a compliant message (nothing
// where no reply was negotiated, "continue" at RCPT TO, "accept" at the end of the message) without reading
// what it is sent. Run (n) against run (a), no milter, is what the milter protocol and libmilter's threads
// cost Postfix and the host; run (b), presend, against (n) is presend's own work.
//
//   presend-null-milter SOCKET      unix:/path (made mode 0666, for Postfix's processes) or inet:PORT@HOST
//
// Stops on SIGTERM or SIGINT (libmilter's signal thread). Exits 0, 1 when libmilter cannot start, 2 on a bad
// argument.
#include "daemon/negotiation.hpp"

#include <libmilter/mfapi.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <sys/stat.h>

namespace {

using presend::daemon::Negotiation;

bool g_local_socket = false;

// One MTA connection: the steps negotiated without reply (presend keeps them in its Session).
struct Connection {
    unsigned long no_reply = 0;
};

Connection* connection(SMFICTX* ctx) {
    return static_cast<Connection*>(smfi_getpriv(ctx));
}

// What a step answers: nothing when the MTA was told it would not wait for it.
sfsistat go_on(SMFICTX* ctx, unsigned long no_reply_option) {
    const Connection* c = connection(ctx);
    return c != nullptr && (c->no_reply & no_reply_option) != 0 ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long, unsigned long,
                      unsigned long* pf0, unsigned long* pf1, unsigned long* pf2, unsigned long* pf3) {
    const Negotiation n = presend::daemon::negotiate(f0, f1, g_local_socket);
    *pf0 = n.actions;
    *pf1 = n.protocol;
    *pf2 = 0;
    *pf3 = 0;
    auto* c = connection(ctx);
    if (c == nullptr) {
        c = new Connection;
        smfi_setpriv(ctx, c);
    }
    c->no_reply = n.no_reply();
    if ((n.actions & SMFIF_SETSYMLIST) != 0 && !presend::daemon::request_macros(ctx)) return SMFIS_TEMPFAIL;
    return SMFIS_CONTINUE;
}

sfsistat on_connect(SMFICTX* ctx, char*, _SOCK_ADDR*) {
    return go_on(ctx, SMFIP_NR_CONN);
}
sfsistat on_envfrom(SMFICTX* ctx, char**) {
    return go_on(ctx, SMFIP_NR_MAIL);
}
sfsistat on_envrcpt(SMFICTX*, char**) {
    return SMFIS_CONTINUE;
}
sfsistat on_header(SMFICTX* ctx, char*, char*) {
    return go_on(ctx, SMFIP_NR_HDR);
}
sfsistat on_eoh(SMFICTX* ctx) {
    return go_on(ctx, SMFIP_NR_EOH);
}
sfsistat on_body(SMFICTX* ctx, unsigned char*, size_t) {
    return go_on(ctx, SMFIP_NR_BODY);
}
sfsistat on_eom(SMFICTX*) {
    return SMFIS_ACCEPT;
}
sfsistat on_abort(SMFICTX*) {
    return SMFIS_CONTINUE;
}
sfsistat on_close(SMFICTX* ctx) {
    delete connection(ctx);
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: presend-null-milter unix:/path | inet:PORT@HOST\n");
        return 2;
    }
    std::string socket = argv[1];
    g_local_socket = socket.rfind("unix:", 0) == 0 || socket.rfind("local:", 0) == 0;
    static char k_name[] = "presend-null-milter";
    // In the order of Callbacks' fields: negotiate, connect, MAIL FROM, RCPT TO, header, end of headers,
    // body, end of message, abort, close.
    const presend::daemon::Callbacks callbacks{on_negotiate, on_connect, on_envfrom, on_envrcpt, on_header,
                                               on_eoh,       on_body,    on_eom,     on_abort,   on_close};
    if (smfi_register(presend::daemon::describe(k_name, callbacks)) != MI_SUCCESS ||
        smfi_setconn(socket.data()) != MI_SUCCESS) {
        std::fprintf(stderr, "presend-null-milter: bad socket %s\n", socket.c_str());
        return 2;
    }
    if (smfi_opensocket(true) != MI_SUCCESS) {
        std::fprintf(stderr, "presend-null-milter: cannot listen on %s\n", socket.c_str());
        return 1;
    }
    if (g_local_socket) {
        const std::string path = socket.substr(socket.find(':') + 1);
        if (chmod(path.c_str(), 0666) != 0) {
            std::perror("presend-null-milter: chmod");
            return 1;
        }
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
