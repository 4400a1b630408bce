// negotiation: what presend asks of the MTA, by socket kind and by what the MTA offers; the descriptor that
// presend and contrib/bench/null-milter.cpp register.
#include "daemon/negotiation.hpp"

#include <catch2/catch.hpp>

using presend::daemon::describe;
using presend::daemon::k_no_reply_steps;
using presend::daemon::k_registered_actions;
using presend::daemon::negotiate;

namespace {

// An MTA that offers everything: every action, and every protocol flag up to SMFIP_HDR_LEADSPC.
constexpr unsigned long k_all_actions = SMFIF_ADDHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT | SMFIF_DELRCPT |
                                        SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR |
                                        SMFIF_SETSYMLIST;
constexpr unsigned long k_all_steps = 0x1fffff;

sfsistat step(SMFICTX*) {
    return SMFIS_CONTINUE;
}

} // namespace

TEST_CASE(
    "negotiation over a unix socket: HELO, DATA and unknown commands dropped, the early steps unanswered") {
    const auto n = negotiate(k_all_actions, k_all_steps, true);
    CHECK(n.actions == (k_registered_actions | SMFIF_SETSYMLIST));
    CHECK(n.has_needed_actions());
    CHECK((n.protocol & (SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA)) ==
          (SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA));
    CHECK(n.no_reply() == k_no_reply_steps);
    CHECK((n.protocol & (SMFIP_NR_RCPT | SMFIP_NOHDRS | SMFIP_NOBODY | SMFIP_NOEOH | SMFIP_SKIP)) == 0);
    CHECK(n.leading_space_kept());
}

TEST_CASE("negotiation over TCP: every step answered, DATA kept") {
    const auto n = negotiate(k_all_actions, k_all_steps, false);
    CHECK(n.no_reply() == 0);
    CHECK((n.protocol & SMFIP_NODATA) == 0);
    CHECK((n.protocol & (SMFIP_NOHELO | SMFIP_NOUNKNOWN)) == (SMFIP_NOHELO | SMFIP_NOUNKNOWN));
    CHECK(n.leading_space_kept());
}

TEST_CASE("negotiation asks only for what the MTA offers") {
    const auto n = negotiate(SMFIF_ADDHDRS, SMFIP_NOHELO | SMFIP_NR_HDR, true);
    CHECK(n.actions == SMFIF_ADDHDRS);
    CHECK_FALSE(n.has_needed_actions()); // no header change, no quarantine: presend warns
    CHECK(n.protocol == (SMFIP_NOHELO | SMFIP_NR_HDR));
    CHECK(n.no_reply() == SMFIP_NR_HDR);
    CHECK_FALSE(n.leading_space_kept());
    CHECK(negotiate(0, 0, true).protocol == 0);
}

TEST_CASE("the descriptor registers presend's actions and no HELO, DATA or unknown-command callback") {
    char name[] = "test";
    presend::daemon::Callbacks callbacks{};
    callbacks.eoh = step;
    callbacks.close = step;
    const smfiDesc desc = describe(name, callbacks);
    CHECK(desc.xxfi_name == name);
    CHECK(desc.xxfi_version == SMFI_VERSION);
    CHECK(desc.xxfi_flags == k_registered_actions);
    CHECK(desc.xxfi_eoh == step);
    CHECK(desc.xxfi_close == step);
    CHECK(desc.xxfi_eom == nullptr);
    CHECK(desc.xxfi_helo == nullptr);
    CHECK(desc.xxfi_data == nullptr);
    CHECK(desc.xxfi_unknown == nullptr);
}
