#!/usr/bin/env bash
# backoff_rates: the feedback back-off slows the volume guard. A limit of 4 recipients an hour to the
# microsoft group lets a message to three hotmail.com recipients through untouched (one token left); then
# Microsoft's throttling replies appear in the followed Postfix log, the group backs off to 0.5, and of the
# next message's three recipients the first takes the last token and the other two are recorded as over the
# limit at the halved rate (2/1h; dry-run, so all are delivered), while `presend rates` shows the back-off in
# force and why (signature, events in the window, step, next recovery, the masked sample line). Every wait
# is bounded.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
command -v curl >/dev/null || skip "curl not installed (run contrib/bootstrap)"
read -r METRICS_PORT <<<"$(free_ports 1)"
maillog=$IT_WORKDIR/mail.log
STATE=$IT_WORKDIR/rates.state
feedback_start "$maillog" "$METRICS_PORT" "  threshold: 3
  window: 1m
  curve: [0.5]
  hold: 10m
rates:
  state_file: $STATE
  limits:
    - {group: microsoft, rate: 4, per: 1h}"

n=0
send_three() {
    n=$((n + 1))
    SEND_TO="a$n@hotmail.com,b$n@hotmail.com,c$n@hotmail.com" send_mail "$FIXTURES/compliant_bulk.eml"
    expect_reply 250
}

send_three
expect_item rate_limited 0 rcpt "(none)"
pass "three recipients within 4/1h: none limited"

for i in 1 2 3; do
    printf '%s mx1 postfix/smtp[%d]: 5D2E1A7F%02d: to=<x%d@hotmail.com>, relay=hotmail-com.olc.protection.outlook.com[52.101.68.6]:25, delay=1.2, delays=0.01/0/0.8/0.39, dsn=4.7.650, status=deferred (host hotmail-com.olc.protection.outlook.com[52.101.68.6] said: 451 4.7.650 The mail server [198.51.100.20] has been temporarily rate limited due to IP reputation. (S775) (in reply to MAIL FROM command))\n' \
        "$(date '+%b %e %H:%M:%S')" "$((3100 + i))" "$i" "$i" >>"$maillog"
done
wait_backoff_factor microsoft 0.5 15

send_three
expect_item rate_limited 0 rcpt "b$n@hotmail.com"
expect_item rate_limited 1 rcpt "c$n@hotmail.com"
expect_item rate_limited 1 result would_tempfail
expect_item rate_limited 1 rate 2/1h
expect_item rate_limited 2 rcpt "(none)"
wait_until 10 eval '"$PRESEND_BIN" rates --config "$IT_WORKDIR/presend.yaml" 2>/dev/null | grep -qi "microsoft.*0\.5"' ||
    fail "presend rates does not show the microsoft back-off: $("$PRESEND_BIN" rates --config "$IT_WORKDIR/presend.yaml" 2>&1)"
"$PRESEND_BIN" rates --config "$IT_WORKDIR/presend.yaml" >"$IT_WORKDIR/rates.txt"
grep -qE '^  microsoft +factor 0\.5, step 1 of 1, since 20[0-9-]+T' "$IT_WORKDIR/rates.txt" &&
    grep -qE 'why: 3 throttle events in the window, signature microsoft-ip-reputation; last 20' "$IT_WORKDIR/rates.txt" &&
    grep -qE 'next recovery 20[0-9-]+T' "$IT_WORKDIR/rates.txt" &&
    grep -qF 'sample: ' "$IT_WORKDIR/rates.txt" && grep -qF 'to=<***@hotmail.com>' "$IT_WORKDIR/rates.txt" ||
    fail "presend rates does not say why microsoft backs off: $(cat "$IT_WORKDIR/rates.txt")"
"$PRESEND_BIN" rates --config "$IT_WORKDIR/presend.yaml" --json >"$IT_WORKDIR/rates.json"
"$IT_PYTHON" - "$IT_WORKDIR/rates.json" <<'EOF' || fail "presend rates --json back-off: $(cat "$IT_WORKDIR/rates.json")"
import json, sys
b = json.load(open(sys.argv[1]))["backoff"]
assert len(b) == 1 and b[0]["group"] == "microsoft" and b[0]["factor"] == 0.5, b
assert b[0]["signature"] == "microsoft-ip-reputation" and b[0]["events"] == 3, b
assert b[0]["step"] == 1 and b[0]["steps"] == 1 and b[0]["next_recovery"] > b[0]["since"], b
assert "4.7.650" in b[0]["sample"] and "x3@" not in b[0]["sample"], b
EOF
pass "presend rates: $(grep -A1 -E '^  microsoft +factor' "$IT_WORKDIR/rates.txt" | tr -s ' ' | tr '\n' ' ')"
presend_stop
