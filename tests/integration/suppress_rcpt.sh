#!/usr/bin/env bash
# suppress_rcpt: the suppression list at RCPT TO, through a real Postfix and the real daemon. One message to a
# suppressed and a kept recipient: in enforce the suppressed one gets 550 5.7.1 naming the reason and date and
# the kept one is delivered alone; a message whose every recipient is refused still leaves a decision line; in
# dry-run both are delivered and the decision log records the would-be refusal. Mail from the sendmail
# command has the suppressed recipient removed at end of message instead. Then against a private
# redis-server: presend starts while Redis is down (recipients get 451 4.3.0), works once it is up, tempfails
# again when it is killed (the client is told to retry: nothing is lost), and delivers unchecked with
# on_error: accept. Finally `presend report` counts the suppressed recipients and the store errors.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"

CONF=$IT_WORKDIR/presend.yaml
DB=$IT_WORKDIR/suppression.db
TODAY=$(date -u +%F)
GONE=gone@example.net
KEPT=kept@example.net

# write_config MODE SUPPRESSION-SECTION: the daemon's config file (read again on SIGHUP).
METRICS_PORT=$(free_ports 1)
write_config() {
    config_head "$1" >"$CONF"
    printf 'suppression:\n%s\n' "$2" >>"$CONF"
}

send_to() { SEND_TO=$1 send_mail "$FIXTURES/compliant_bulk.eml"; }

# ---- SQLite, enforce -----------------------------------------------------------------------------------------
"$PRESEND_BIN" suppress add --store "sqlite:$DB" --reason hard_bounce --source "integration test" "$GONE" >/dev/null
write_config enforce "  backend: sqlite
  path: $DB"
presend_start --config "$CONF"
wait_log "$PRESEND_LOG" "suppression list: sqlite:$DB" 1 10 || fail "the store was not opened at start"

send_to "$GONE,$KEPT"
expect_rcpt_reply "$GONE" "^550 5\.7\.1 <$GONE>: recipient suppressed \(hard-bounce since $TODAY\)$"
expect_rcpt_reply "$KEPT" '^250 '
expect_reply 250
expect_sink_rcpts "$KEPT "
expect_decision rcpt_count 1
expect_item suppressed 0 rcpt "$GONE"
expect_item suppressed 0 reason hard_bounce
expect_item suppressed 0 scope ""
expect_item suppressed 0 result reject
expect_decision result accept

# Every recipient refused: Postfix ends the transaction without DATA, and the decision line is still written.
send_to "$GONE"
expect_rcpt_reply "$GONE" '^550 5\.7\.1 '
[ "$LAST_SWAKS_RC" -ne 0 ] || fail "swaks reported success although its only recipient was refused"
expect_decision result reject
expect_decision notes ended-before-eom
expect_item suppressed 0 result reject
grep -qF "<$GONE> suppressed: hard_bounce" "$PRESEND_LOG" || fail "no log line for the refused recipient"

# The sendmail command: cleanup would defer the whole message for a refused RCPT, so the suppressed recipient
# is removed at end of message instead; with no recipient left the message is refused.
send_local_to "$GONE" "$KEPT"
expect_sink_rcpts "$KEPT "
expect_item suppressed 0 rcpt "$GONE"
expect_item suppressed 0 result reject
expect_decision rcpt_count 1
send_local_to "$GONE"
expect_decision result reject
expect_decision notes every-recipient-suppressed
grep -q 'milter configuration error' "$PF_LOG" && fail "Postfix logged a milter configuration error"
pass "sendmail command: suppressed recipient removed, the others delivered"

# ---- SQLite, dry-run (a reload; the unchanged suppression section keeps the store open) ---------------------
write_config dry-run "  backend: sqlite
  path: $DB"
reload_ok
send_to "$GONE,$KEPT"
expect_rcpt_reply "$GONE" '^250 '
expect_reply 250
expect_sink_rcpts "$GONE $KEPT "
expect_decision rcpt_count 2
expect_item suppressed 0 rcpt "$GONE"
expect_item suppressed 0 result would_reject
[ "$(log_count "$PRESEND_LOG" 'suppression list: sqlite')" -eq 1 ] ||
    fail "a reload with an unchanged suppression section reopened the store"
pass "dry-run: both delivered, the would-be refusal recorded"

# ---- Redis ---------------------------------------------------------------------------------------------------
command -v redis-server >/dev/null || skip "redis-server not installed (run contrib/bootstrap); the SQLite part passed"
REDIS_PORT=$(free_ports 1)
write_config enforce "  backend: redis
  redis: {host: 127.0.0.1, port: $REDIS_PORT, timeout_ms: 200}
  on_error: tempfail"

# Started while Redis is down: presend runs, and recipients are told to retry.
presend_stop
presend_start --config "$CONF"
send_to "$GONE,$KEPT"
expect_rcpt_reply "$GONE" "^451 4\.3\.0 <$GONE>: suppression list unavailable"
expect_rcpt_reply "$KEPT" '^451 4\.3\.0 '
expect_decision result tempfail
expect_item suppression_errors 1 rcpt "$KEPT"
expect_item suppression_errors 1 result tempfail

redis_start "$REDIS_PORT"
timeout 30 "$PRESEND_BIN" suppress add --store "redis://127.0.0.1:$REDIS_PORT" --reason complaint "$GONE" >/dev/null
sleep 1 # after a failure the store fails fast for half a second before it tries to reconnect
send_to "$GONE,$KEPT"
expect_rcpt_reply "$GONE" "^550 5\.7\.1 <$GONE>: recipient suppressed \(complaint since $TODAY\)$"
expect_reply 250
expect_sink_rcpts "$KEPT "
expect_item suppressed 0 reason complaint
grep -q 'suppression store redis://.*answering again' "$PRESEND_LOG" || fail "no 'answering again' log line"

# Redis dies mid-run: each recipient gets 451 4.3.0 within the timeout; Postfix keeps nothing, the client
# keeps the message and retries.
redis_stop
for _ in 1 2 3; do
    send_to "$GONE,$KEPT"
    expect_rcpt_reply "$GONE" '^451 4\.3\.0 '
    expect_rcpt_reply "$KEPT" '^451 4\.3\.0 '
done
expect_decision result tempfail
failures=$(log_count "$PRESEND_LOG" 'lookup of <.*> failed')
[ "$failures" -le 2 ] || fail "store errors were logged one line per recipient ($failures lines)"
pass "store errors logged rate-limited: $failures lines for 8 failed lookups"
if command -v curl >/dev/null; then
    counted=$(curl -sS --fail --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" |
        sed -n 's/^presend_store_errors_total{store="redis"} //p')
    [ "${counted:-0}" -ge 6 ] || fail "presend_store_errors_total{store=\"redis\"} is '${counted:-none}', expected >= 6"
    pass "metrics: presend_store_errors_total{store=\"redis\"} $counted"
fi

# on_error: accept: mail flows unchecked while the store is down.
write_config enforce "  backend: redis
  redis: {host: 127.0.0.1, port: $REDIS_PORT, timeout_ms: 200}
  on_error: accept"
reload_ok
send_to "$GONE,$KEPT"
expect_rcpt_reply "$GONE" '^250 '
expect_reply 250
expect_sink_rcpts "$GONE $KEPT "
expect_item suppression_errors 0 result accept

# ---- the report --------------------------------------------------------------------------------------------
presend_stop
report=$("$PRESEND_BIN" report "$DECISIONS")
grep -qE 'suppressed recipients 6 \(refused 5, would be refused 1\), suppression store errors [0-9]+' <<<"$report" ||
    fail "presend report does not count the suppressed recipients: $report"
pass "report: $(grep 'suppressed recipients' <<<"$report")"
