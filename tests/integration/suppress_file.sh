#!/usr/bin/env bash
# suppress_file: the SQLite suppression list is the file its path names now, through a real Postfix and the
# real daemon in enforce. Removed while mail flows, its recipients get on_error (451 4.3.0) within about a
# second, never an answer from the unlinked file the daemon's connections still hold; `presend suppress add`
# makes the file again and its entry is refused (550 5.7.1) without a reload; a list rebuilt aside and renamed
# over the path (how a sync job replaces it) is read within about a second: its entries are refused, those of
# the old file no longer. Every wait is bounded.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"

CONF=$IT_WORKDIR/presend.yaml
DB=$IT_WORKDIR/suppression.db
METRICS_PORT=$(free_ports 1)
k_switch_timeout=10 # seconds for the daemon to see another file: it looks once a second

config_head enforce >"$CONF"
printf 'suppression:\n  backend: sqlite\n  path: %s\n' "$DB" >>"$CONF"
suppress_add() { "$PRESEND_BIN" suppress add --store "sqlite:$1" --reason "$2" --source "integration test" "$3" >/dev/null; }
send_to() { SEND_TO=$1 send_mail "$FIXTURES/compliant_bulk.eml"; }
# rcpt_gets ADDRESS ERE: one message to ADDRESS and kept@example.net; RCPT TO:<ADDRESS> got a reply matching ERE.
rcpt_gets() {
    send_to "$1,kept@example.net"
    grep -qE -- "$2" <<<"$(rcpt_reply "$1")"
}
# wait_rcpt ADDRESS ERE: until a message to ADDRESS gets a reply matching ERE (at most k_switch_timeout).
wait_rcpt() {
    wait_until "$k_switch_timeout" rcpt_gets "$1" "$2" ||
        fail "RCPT TO:<$1> still got '$(rcpt_reply "$1")' after ${k_switch_timeout}s, expected /$2/"
    pass "RCPT TO:<$1>: $(rcpt_reply "$1")"
}

suppress_add "$DB" hard_bounce old@example.net
presend_start --config "$CONF"
send_to "old@example.net,kept@example.net"
expect_rcpt_reply old@example.net '^550 5\.7\.1 <old@example\.net>: recipient suppressed \(hard-bounce '
expect_rcpt_reply kept@example.net '^250 '

# Removed: the store cannot answer, so recipients wait (on_error tempfail) and nothing is sent unchecked.
rm -f "$DB" "$DB-wal" "$DB-shm"
wait_rcpt old@example.net '^451 4\.3\.0 <old@example\.net>: suppression list unavailable'
expect_rcpt_reply kept@example.net '^451 4\.3\.0 '
[ ! -e "$DB" ] || fail "a lookup made the removed file again"
grep -q "suppression store sqlite:$DB: lookup of <.*> failed: sqlite $DB: the file is gone" "$PRESEND_LOG" ||
    fail "no log line saying that the file is gone"
pass "file removed: recipients tempfailed, the error logged"

# Made again by the CLI: its entry is enforced, without a reload.
suppress_add "$DB" complaint new@example.net
wait_rcpt new@example.net '^550 5\.7\.1 <new@example\.net>: recipient suppressed \(complaint '
expect_rcpt_reply kept@example.net '^250 '
send_to "old@example.net"
expect_rcpt_reply old@example.net '^250 '
grep -q "suppression store sqlite:$DB: answering again" "$PRESEND_LOG" || fail "no 'answering again' log line"

# Rebuilt aside and renamed over the path while the daemon holds connections to the current file.
suppress_add "$IT_WORKDIR/rebuilt.db" unsubscribe moved@example.net
mv "$IT_WORKDIR/rebuilt.db" "$DB"
wait_rcpt moved@example.net '^550 5\.7\.1 <moved@example\.net>: recipient suppressed \(unsubscribe '
send_to "new@example.net"
expect_rcpt_reply new@example.net '^250 '
expect_decision result accept
pass "file renamed over the path: the new list is enforced, the old one no longer"

presend_stop
