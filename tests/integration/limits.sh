#!/usr/bin/env bash
# limits: one limit lowered in presend.yaml, end to end through a real Postfix in enforce mode. A compliant
# message inside it is delivered; the same message with more header fields than limits.max_headers gets the
# default on_limit, tempfail: 451 4.7.1 naming the limit at the end of DATA, nothing queued or delivered, one
# warn line with the queue id and the limit, the fact in the decision log's notes, and
# presend_limits_exceeded_total{limit="max_headers"} counted once. With max_headers raised past the 10,000
# header fields the milter keeps by itself, a message under it is judged whole and one over it gets on_limit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
command -v curl >/dev/null || skip "curl not installed (run contrib/bootstrap)"
read -r METRICS_PORT <<<"$(free_ports 1)"
config=$IT_WORKDIR/presend.yaml
cat >"$config" <<EOF
mode: enforce
rules_dir: $SRC_DIR/rules
cache_dir: ""
decision_log: $DECISIONS
limits:
  max_headers: 40
metrics:
  listen: "127.0.0.1:$METRICS_PORT"
EOF
presend_start --config "$config"
wait_until "$k_start_timeout" port_listening "$METRICS_PORT" || fail "nothing listens on metrics port $METRICS_PORT"

# Inside the limit: 10 header fields and Postfix's Received.
send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
expect_delivered
expect_decision action accept

# The same message behind 50 more header fields, as a campaign tool that tags every segment might write.
many=$IT_WORKDIR/sent/many-headers.eml
{
    for i in $(seq 1 50); do printf 'X-Campaign-Tag-%d: spring sale segment %d\r\n' "$i" "$i"; done
    cat "$FIXTURES/compliant_bulk.eml"
} >"$many"
send_mail "$many"
expect_reply 451 '^451 4\.7\.1 Message exceeds an outbound compliance inspection limit \(max_headers\)'
expect_not_delivered
expect_decision action tempfail
expect_decision would_action tempfail
notes=$(decision_field notes)
grep -qxF too-many-headers <<<"$notes" || fail "decision log notes lack too-many-headers: $(decision_json -)"
pass "decision log notes: too-many-headers"
expect_hit limit-exceeded

qid=$(decision_field queue_id)
if [ -z "$qid" ] || [ "$qid" = NOQUEUE ]; then fail "decision log has no queue id: $(decision_json -)"; fi
line="$qid: over limits.max_headers 40 (too-many-headers): judged on what was read, verdict at least tempfail"
wait_until 10 grep -qF "warning: $line" "$PRESEND_LOG" || fail "no warning line '$line' in $PRESEND_LOG"
[ "$(log_count "$PRESEND_LOG" "over limits\.")" -eq 1 ] || fail "expected exactly one 'over limits.' line"
pass "log: $line"

scraped=$(curl -sS --fail --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics") || fail "GET /metrics failed"
grep -qxF 'presend_limits_exceeded_total{limit="max_headers"} 1' <<<"$scraped" ||
    fail "metrics: $(grep presend_limits_exceeded_total <<<"$scraped")"
grep -qxF 'presend_limits_exceeded_total{limit="max_urls"} 0' <<<"$scraped" || fail "metrics: max_urls is not 0"
pass "metrics: presend_limits_exceeded_total{limit=\"max_headers\"} 1"

# max_headers raised above the 10,000 header fields the milter keeps by itself: a message inside it is judged
# whole (its body too, not as an oversize message on its headers alone), one past it gets on_limit.
sed -i 's/max_headers: 40/max_headers: 20000/' "$config"
reload_ok
# headers_then FILE N: N header fields, then FILE.
headers_then() {
    "$IT_PYTHON" -c 'import sys
sys.stdout.write("".join("X-Segment-%d: s%d\r\n" % (i, i) for i in range(int(sys.argv[1]))))' "$2"
    cat "$1"
}
headers_then "$FIXTURES/compliant_bulk.eml" 12000 >"$IT_WORKDIR/sent/12k.eml"
send_mail "$IT_WORKDIR/sent/12k.eml"
expect_reply 250
expect_delivered
expect_decision action accept
[ -z "$(decision_field notes)" ] || fail "12,000 header fields under max_headers 20000: notes $(decision_field notes)"
pass "12,000 header fields under max_headers 20000: judged whole"
headers_then "$FIXTURES/compliant_bulk.eml" 20050 >"$IT_WORKDIR/sent/20k.eml"
send_mail "$IT_WORKDIR/sent/20k.eml"
expect_reply 451 '^451 4\.7\.1 Message exceeds an outbound compliance inspection limit \(max_headers\)'
expect_not_delivered
grep -qxF too-many-headers <<<"$(decision_field notes)" || fail "decision log notes lack too-many-headers: $(decision_json -)"
pass "20,050 header fields over max_headers 20000: on_limit"

presend_stop
pass "presend stopped cleanly on SIGTERM"
