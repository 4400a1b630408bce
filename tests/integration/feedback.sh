#!/usr/bin/env bash
# feedback: the daemon follows a Postfix log that this test writes (absent at start; then appended with a
# partial line, rotated by rename, reloaded, truncated in place). Microsoft throttling replies put the
# microsoft group into back-off: presend_backoff_factor drops to 0.5 and then 0.25 in /metrics, a log line
# says why, and a decision-log event line is written; a reload with the same feedback: section keeps the
# state; a copytruncated log is read again from its start (yahoo backs off); with no more events the factor
# recovers to 1 and the group leaves back-off. `presend report` shows the episodes. Mail keeps flowing
# through Postfix throughout. Every wait is bounded.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
command -v curl >/dev/null || skip "curl not installed (run contrib/bootstrap)"
read -r METRICS_PORT <<<"$(free_ports 1)"
mkdir -p "$IT_WORKDIR/followed"
maillog=$IT_WORKDIR/followed/mail.log
# Short spans so the whole curve runs in seconds: 3 events in a minute start a back-off; hold 20 s (room
# for a reload on a busy machine), then ×2 every 2 s (0.25 → 0.5 → 1).
feedback_start "$maillog" "$METRICS_PORT" "  threshold: 3
  window: 1m
  curve: [0.5, 0.25]
  hold: 20s
  recover_every: 2s
  recover_factor: 2"

# throttle_line N RCPT: a Postfix deferral with Microsoft's IP-reputation throttling reply; N makes the
# queue id (a repeat of one queue id within 30 s would count once).
throttle_line() {
    printf '%s mx1 postfix/smtp[%d]: 4C2D1A7F%02d: to=<%s>, relay=hotmail-com.olc.protection.outlook.com[52.101.68.6]:25, delay=1.2, delays=0.01/0/0.8/0.39, dsn=4.7.650, status=deferred (host hotmail-com.olc.protection.outlook.com[52.101.68.6] said: 451 4.7.650 The mail server [198.51.100.20] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775) (in reply to MAIL FROM command))\n' \
        "$(date '+%b %e %H:%M:%S')" "$((2100 + $1))" "$1" "$2"
}
# yahoo_line N: Yahoo refusing the connection with its TSS04 throttling reply (no recipient: by relay).
yahoo_line() {
    printf '%s mx1 postfix/smtp[%d]: 8C1D3C0B%02d: host mta6.am0.yahoodns.net[67.195.204.77] refused to talk to me: 421 4.7.0 [TSS04] Messages from 198.51.100.20 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes\n' \
        "$(date '+%b %e %H:%M:%S')" "$((2200 + $1))" "$1"
}

# 1. The log does not exist yet: said once; the named groups show 1 from the first scrape.
wait_log "$PRESEND_LOG" "feedback: $maillog does not exist \\(yet\\)" 1 10 || fail "no 'does not exist (yet)' log line"
wait_backoff_factor microsoft 1
pass "a missing log is waited for"

# 2. It appears: read from its start. Two events and a third line still being written: no back-off yet.
third=$(throttle_line 3 carl@live.com)
{
    throttle_line 1 anna@hotmail.com
    throttle_line 2 ben@outlook.com
    printf '%s' "${third:0:120}"
} >"$maillog"
wait_log "$PRESEND_LOG" "feedback: $maillog opened" 1 10 || fail "the follower did not open the log once it existed"
sleep 1 # four poll intervals: time enough to (wrongly) take the partial line
[ "$(backoff_factor microsoft)" = 1 ] || fail "back-off started before the third line was complete"
printf '%s\n' "${third:120}" >>"$maillog"
wait_backoff_factor microsoft 0.5
wait_log "$PRESEND_LOG" 'back-off: microsoft enters back-off: factor 1 → 0.5 \(3 throttle events, signature microsoft-ip-reputation' 1 5 ||
    fail "no log line for microsoft entering back-off"
grep -q 'sample: .*to=<\*\*\*@live.com>' "$PRESEND_LOG" || fail "the back-off log line has no masked sample"
! grep -q 'carl@live.com' "$PRESEND_LOG" || fail "a recipient address reached presend's log"
pass "the partial line counted once complete; microsoft entered back-off, logged with why"

# 3. Rotation by rename: the rest of the old file, then the new file from its start.
mv "$maillog" "$maillog.1"
throttle_line 4 dora@hotmail.com >>"$maillog.1" # written before the writer reopens
{
    throttle_line 5 emil@hotmail.com
    throttle_line 6 finn@hotmail.com
} >"$maillog"
wait_log "$PRESEND_LOG" "feedback: $maillog rotated" 1 10 || fail "no 'rotated' log line"
wait_backoff_factor microsoft 0.25
wait_log "$PRESEND_LOG" 'back-off: microsoft backs off further: factor 0.5 → 0.25' 1 5 || fail "no log line for the step down"
pass "rotation followed: the second burst stepped microsoft down"

# 4. A reload with the same feedback: section keeps the follower and its state.
presend_reload
wait_log "$PRESEND_LOG" 'reload ok' 1 20 || fail "no 'reload ok' after SIGHUP"
[ "$(backoff_factor microsoft)" = 0.25 ] || fail "reload lost the back-off state: factor $(backoff_factor microsoft)"
[ "$(log_count "$PRESEND_LOG" "feedback: following $maillog")" = 1 ] || fail "reload restarted the follower"
pass "reload kept the back-off state"

# 5. copytruncate: the file starts over in place and is read from its start.
cp "$maillog" "$maillog.2"
: >"$maillog"
{
    yahoo_line 1
    yahoo_line 2
    yahoo_line 3
} >>"$maillog"
wait_backoff_factor yahoo 0.5
wait_log "$PRESEND_LOG" 'back-off: yahoo enters back-off: .*signature yahoo-tss04' 1 5 || fail "no log line for yahoo"
pass "a truncated log was read again from its start"

# 6. Mail still flows while groups back off.
send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
expect_delivered

# 7. No more events: after the hold, ×2 every 2 s; back to 1 and cleared.
wait_backoff_factor microsoft 1 60
wait_log "$PRESEND_LOG" 'back-off: microsoft recovers: factor 0.25 → 0.5' 1 5 || fail "no recovery step logged"
wait_log "$PRESEND_LOG" 'back-off: microsoft leaves back-off: factor 0.5 → 1' 1 5 || fail "no 'leaves back-off' log line"
wait_backoff_factor yahoo 1 60
metrics=$(curl -sS --fail --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics")
grep -qx 'presend_throttle_events_total{group="microsoft",signature="microsoft-ip-reputation"} 6' <<<"$metrics" ||
    fail "expected 6 microsoft throttle events: $(grep throttle_events <<<"$metrics")"
grep -qx 'presend_throttle_events_total{group="yahoo",signature="yahoo-tss04"} 3' <<<"$metrics" ||
    fail "expected 3 yahoo throttle events: $(grep throttle_events <<<"$metrics")"
pass "throttle events counted per group and signature"

# 8. The decision log holds the changes as event lines; the report shows them as episodes, not messages.
wait_decisions 1 || fail "no decision for the message sent"
[ "$(grep -c '"event":"backoff"' "$DECISIONS")" -ge 6 ] ||
    fail "expected at least 6 back-off event lines: $(grep '"event"' "$DECISIONS")"
report=$("$PRESEND_BIN" report "$DECISIONS")
grep -q 'malformed 0' <<<"$report" || fail "the report counted event lines as malformed: $report"
grep -qE '^microsoft +[0-9T:.-]+Z +[0-9T:.-]+Z +0\.25$' <<<"$report" || fail "no microsoft episode in: $report"
grep -qE '^yahoo +[0-9T:.-]+Z +[0-9T:.-]+Z +0\.5$' <<<"$report" || fail "no yahoo episode in: $report"
"$PRESEND_BIN" report --format json "$DECISIONS" | "$IT_PYTHON" -c '
import json, sys
r = json.load(sys.stdin)
assert r["lines"]["messages"] == 1, r["lines"]
groups = {e["group"]: e for e in r["backoff"]}
assert groups["microsoft"]["lowest_factor"] == 0.25 and groups["microsoft"]["end"], groups
assert groups["microsoft"]["signature"] == "microsoft-ip-reputation", groups
' || fail "report --format json: wrong back-off episodes"
pass "presend report: back-off episodes per group, one message"

presend_stop
