#!/usr/bin/env bash
# socket_in_use: a unix socket path already present, through a real Postfix. A socket file left behind by a
# milter that is gone is taken over: presend starts and judges mail. A second `presend serve` on the path of
# a running presend refuses to start (exit 2, "is in use"), leaves the socket alone, and the running one keeps
# judging mail, also after the second is gone. Every wait is bounded.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"

SOCK=$IT_WORKDIR/presend.sock
export PRESEND_SOCKET=unix:$SOCK
# Postfix's smtpd and cleanup run as another user: they must be able to connect.
printf 'socket_mode: "0666"\n' >"$IT_WORKDIR/unix.yaml"
pf_milter "$PRESEND_SOCKET"
inode() { stat -c %i "$SOCK"; }

# Stale: a socket bound by a process that has exited; nothing listens on it.
"$IT_PYTHON" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"
[ -S "$SOCK" ] || fail "the stale socket was not made"
presend_start --config "$IT_WORKDIR/unix.yaml" --mode enforce --decision-log "$DECISIONS"
send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
expect_delivered
pass "a stale socket file is taken over"

# In use: the second daemon must not take the socket from the first.
before=$(inode)
rc=0
timeout "$k_start_timeout" "$PRESEND_BIN" serve --config "$IT_WORKDIR/unix.yaml" --socket "$PRESEND_SOCKET" \
    --mode enforce --decision-log "$IT_WORKDIR/second.jsonl" >"$IT_WORKDIR/second.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "a second presend on the socket of a running one exited with $rc, expected 2: $(cat "$IT_WORKDIR/second.log")"
grep -qF "cannot start: $PRESEND_SOCKET is in use" "$IT_WORKDIR/second.log" ||
    fail "the second presend did not say why: $(cat "$IT_WORKDIR/second.log")"
[ "$(inode)" = "$before" ] || fail "the second presend replaced the running one's socket"
pass "a second presend on a socket in use exits 2 and leaves the socket alone"

send_mail "$FIXTURES/missing_list_unsubscribe.eml"
expect_reply 550 '5\.7\.1'
send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
expect_delivered
expect_decision action accept
pass "the running presend still judges mail"

presend_stop
