#!/usr/bin/env bash
# reload: SIGHUP swaps rules atomically. A broken YAML file makes the reload fail ("reload failed") and the
# running rules stay in force: non-compliant mail is still refused, compliant mail still delivered. Once the
# file is fixed, the next SIGHUP succeeds ("reload ok").
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
rules=$IT_WORKDIR/rules
cp -r "$SRC_DIR/rules" "$rules"
presend_start --rules "$rules" --mode enforce --decision-log "$DECISIONS"

send_mail "$FIXTURES/missing_list_unsubscribe.eml"
expect_reply 550

cat >"$rules/99-local.yaml" <<'YAML'
rules:
  - id: local-broken
    description: unterminated flow mapping
    header_matches: {name: Subject, regex: "NEVER-MATCHES"
    action: tag
YAML
presend_reload
wait_log "$PRESEND_LOG" 'reload failed' 1 10 || fail "no 'reload failed' in presend.log after SIGHUP"
pass "broken rules file: $(grep -m1 'reload failed' "$PRESEND_LOG")"
alive "$PRESEND_PID" || fail "presend died on a bad reload"

send_mail "$FIXTURES/missing_list_unsubscribe.eml"
expect_reply 550 '^550 5\.7\.1 '
expect_not_delivered
send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
expect_delivered
pass "old rules still in force"

cat >"$rules/99-local.yaml" <<'YAML'
rules:
  - id: local-fixed
    description: marks mail whose subject says RELOADED
    header_matches: {name: Subject, regex: "RELOADED"}
    action: tag
YAML
presend_reload
wait_log "$PRESEND_LOG" 'reload ok' 1 10 || fail "no 'reload ok' in presend.log after fixing the file"
pass "fixed rules file: $(grep -m1 'reload ok' "$PRESEND_LOG")"

send_mail "$FIXTURES/missing_list_unsubscribe.eml"
expect_reply 550
send_mail "$(with_subject "$FIXTURES/compliant_bulk.eml" "RELOADED Acme Weekly")"
expect_reply 250
expect_delivered
grep -q '^X-Presend-Hits: .*local-fixed' "$DELIVERED" || fail "the rule added on reload did not fire"
pass "rule added by the reload is in force"

presend_stop
