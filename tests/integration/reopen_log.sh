#!/usr/bin/env bash
# reopen_log: logrotate's way. After the decision log is renamed, presend keeps writing to the renamed file
# until SIGUSR1; then it creates the log again under its name and writes the next decision there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
presend_start --rules "$SRC_DIR/rules" --mode enforce --decision-log "$DECISIONS"

send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
wait_decisions 1 || fail "no decision-log line for the first message"

mv "$DECISIONS" "$DECISIONS.1"
send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
wait_until 10 eval '[ "$(grep -c "^{" "$DECISIONS.1")" -ge 2 ]' ||
    fail "before SIGUSR1 the second decision should go to the renamed file"
[ ! -e "$DECISIONS" ] || fail "presend recreated $DECISIONS before SIGUSR1"
pass "renamed log still written until SIGUSR1"

kill -USR1 "$PRESEND_PID"
wait_log "$PRESEND_LOG" "decision log reopened: $DECISIONS" 1 10 || fail "no 'decision log reopened' after SIGUSR1"
send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
wait_decisions 1 || fail "no decision in the reopened $DECISIONS"
expect_decision mail_from "$LAST_FROM"
[ "$(grep -c '^{' "$DECISIONS.1")" -eq 2 ] || fail "the renamed file got a line after SIGUSR1"
pass "after SIGUSR1 the new file gets the next decision, the renamed one nothing more"

presend_stop
