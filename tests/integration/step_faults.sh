#!/usr/bin/env bash
# step_faults: a failing milter step never lets mail through.
# Over a unix socket presend answers nothing at connect, MAIL FROM, the headers, end of headers and the body
# ("no reply" steps: Postfix does not wait for them), so a failure there is kept and answered at the end of
# the message with on_error (tempfail): 451 4.3.0, nothing delivered, one decision line. Over TCP it answers
# every step (Nagle and the delayed ACK would make Postfix wait otherwise), so a failure is answered where it
# happens. A failure at RCPT TO or at the end of the message is answered on the spot either way.
# PRESEND_FAULT_STEP (daemon/milter.hpp) makes every callback of one step throw.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"

# Postfix's smtpd and cleanup run as another user: they must be able to connect.
printf 'socket_mode: "0666"\n' >"$IT_WORKDIR/unix.yaml"
UNIX_SOCKET=unix:$IT_WORKDIR/presend.sock

# fault_run STEP REPLY: presend with STEP failing; one compliant message gets REPLY (a regex) and is not
# delivered. PRESEND_SOCKET (lib.sh) picks the socket.
fault_run() {
    local step=$1 reply=$2 before config=()
    before=$(log_count "$PRESEND_LOG" "internal error at $step")
    [ -z "${PRESEND_SOCKET:-}" ] || config=(--config "$IT_WORKDIR/unix.yaml")
    PRESEND_FAULT_STEP=$step presend_start "${config[@]}" --mode enforce --rules "$SRC_DIR/rules" \
        --decision-log "$DECISIONS"
    send_mail "$FIXTURES/compliant_bulk.eml"
    expect_reply 4 "$reply"
    expect_not_delivered
    wait_log "$PRESEND_LOG" "internal error at $step" $((before + 1)) 10 ||
        fail "presend's log names no internal error at $step"
    presend_stop
}

echo '--- over a unix socket: the early steps answer nothing'
export PRESEND_SOCKET=$UNIX_SOCKET
pf_milter "$UNIX_SOCKET"
for step in connect "MAIL FROM" header "end of headers" body; do
    fault_run "$step" '^451 4\.3\.0'
    grep -q "internal error at $step: .*on_error is answered at the end of the message" "$PRESEND_LOG" ||
        fail "$step was not a no-reply step: its failure was not kept for the end of the message"
    pass "$step: no reply; its failure was answered at the end of the message"
    if [ "$step" != "MAIL FROM" ]; then # without MAIL FROM the decision line has no sender to find it by
        expect_decision action tempfail
        notes=$(decision_field notes)
        grep -qx internal-error <<<"$notes" || fail "decision notes: $notes"
    fi
done

fault_run "RCPT TO" '^451'
rcpt_reply "$LAST_RCPT" | grep -q '^451 4\.3\.0' || fail "RCPT TO got '$(rcpt_reply "$LAST_RCPT")'"
pass "RCPT TO: refused on the spot"

fault_run "end of message" '^451 4\.3\.0'
expect_decision action tempfail

echo '--- over TCP: every step answers'
unset PRESEND_SOCKET
pf_milter "inet:127.0.0.1:$PF_MILTER_PORT"
for step in connect "MAIL FROM" header "end of headers" body; do
    fault_run "$step" '^4[0-9][0-9] '
    grep -q "internal error at $step: .*answering tempfail" "$PRESEND_LOG" ||
        fail "$step over TCP: its failure was not answered on the spot"
    pass "$step: answered on the spot with tempfail"
done

# Without a fault the same message passes, on the same Postfix.
presend_start --mode enforce --rules "$SRC_DIR/rules" --decision-log "$DECISIONS"
send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
expect_delivered
expect_decision action accept
presend_stop

echo 'PRESEND_FAULT_STEP=nowhere is refused at start'
if PRESEND_FAULT_STEP=nowhere timeout 20 "$PRESEND_BIN" serve --socket "inet:$PF_MILTER_PORT@127.0.0.1" \
    >/dev/null 2>"$IT_WORKDIR/bad-step.log"; then
    fail "presend started with PRESEND_FAULT_STEP=nowhere"
fi
grep -q 'PRESEND_FAULT_STEP=nowhere: not a step' "$IT_WORKDIR/bad-step.log" ||
    fail "no clear error for an unknown step: $(cat "$IT_WORKDIR/bad-step.log")"
pass "an unknown step is refused at start"
