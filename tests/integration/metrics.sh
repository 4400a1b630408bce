#!/usr/bin/env bash
# metrics: `metrics: {listen: ...}` serves Prometheus text on /metrics (404 elsewhere) from the worker. Mail
# through a real Postfix in enforce mode moves the message, rule-hit, tenant and latency counters by exactly
# what was sent; SIGHUP counts a reload, a broken rules file a reload failure, a message past
# max_message_bytes an oversize message; a worker killed and restarted
# binds the port again and starts from zero.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
command -v curl >/dev/null || skip "curl not installed (run contrib/bootstrap)"
read -r METRICS_PORT <<<"$(free_ports 1)"
rules=$IT_WORKDIR/rules
cp -r "$SRC_DIR/rules" "$rules"
config=$IT_WORKDIR/presend.yaml
cat >"$config" <<EOF
mode: enforce
rules_dir: $rules
cache_dir: ""
decision_log: $DECISIONS
metrics:
  listen: "127.0.0.1:$METRICS_PORT"
EOF
presend_start --config "$config"
wait_until "$k_start_timeout" port_listening "$METRICS_PORT" || fail "nothing listens on metrics port $METRICS_PORT"
grep -q "metrics on http://127.0.0.1:$METRICS_PORT/metrics" "$PRESEND_LOG" || fail "no 'metrics on' log line"

# scrape FILE: GET /metrics into FILE; fails on any status but 200.
scrape() { curl -sS --fail --max-time 5 -o "$1" "http://127.0.0.1:$METRICS_PORT/metrics" || fail "GET /metrics failed"; }

# metric FILE NAME [LABEL=VALUE...]: the sum of NAME's samples whose labels include every LABEL=VALUE
# (0 when none match). Parses the exposition format, so label order and escaping do not matter.
metric() {
    "$IT_PYTHON" - "$@" <<'EOF'
import re, sys
path, name, wanted = sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
total = 0.0
for line in open(path, encoding="utf-8"):
    m = sample.match(line.rstrip("\n"))
    if not m or m.group(1) != name:
        continue
    labels = {k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\") for k, v in label.findall(m.group(2) or "")}
    if all(labels.get(k) == v for k, v in wanted.items()):
        total += float(m.group(3))
print(int(total) if total == int(total) else total)
EOF
}

# expect_delta NAME [LABELS...] DELTA: the metric moved by exactly DELTA between before.txt and after.txt.
expect_delta() {
    local delta=${*: -1} was now
    set -- "${@:1:$#-1}"
    was=$(metric "$IT_WORKDIR/before.txt" "$@")
    now=$(metric "$IT_WORKDIR/after.txt" "$@")
    [ $((now - was)) -eq "$delta" ] || fail "$*: moved from $was to $now, expected +$delta"
    pass "$*: $was → $now (+$delta)"
}

scrape "$IT_WORKDIR/before.txt"
grep -q '^# TYPE presend_messages_total counter$' "$IT_WORKDIR/before.txt" || fail "no TYPE line for presend_messages_total"
[ "$(metric "$IT_WORKDIR/before.txt" presend_build_info)" = 1 ] || fail "presend_build_info is not 1"
[ "$(metric "$IT_WORKDIR/before.txt" presend_rules_loaded)" -gt 0 ] || fail "presend_rules_loaded is 0"
pass "first scrape: build info and rules loaded"

code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/") || fail "GET / failed"
[ "$code" = 404 ] || fail "GET / answered $code, expected 404"
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/metrics/x") || fail "GET failed"
[ "$code" = 404 ] || fail "GET /metrics/x answered $code, expected 404"
pass "other paths: 404"

accepted=3 rejected=2
for _ in $(seq "$accepted"); do
    send_mail "$FIXTURES/compliant_bulk.eml"
    expect_reply 250
done
for _ in $(seq "$rejected"); do
    send_mail "$FIXTURES/missing_list_unsubscribe.eml"
    expect_reply 550
done
sent=$((accepted + rejected))
wait_decisions "$sent" || fail "expected $sent decision-log lines, got $(decision_count)"
scrape "$IT_WORKDIR/after.txt"

expect_delta presend_messages_total mode=enforce action=accept "$accepted"
expect_delta presend_messages_total mode=enforce action=reject would_action=reject "$rejected"
expect_delta presend_messages_total "$sent"
expect_delta presend_tenant_messages_total tenant=none "$sent"
expect_delta presend_rule_hits_total rule=list-unsubscribe-missing "$rejected"
for stage in parse inspect decide eom; do
    expect_delta presend_stage_duration_seconds_count stage=$stage "$sent"
    expect_delta presend_stage_duration_seconds_bucket stage=$stage le=+Inf "$sent"
done
expect_delta presend_milter_errors_total 0
expect_delta presend_oversize_messages_total 0
expect_delta presend_reloads_total 0

# SIGHUP: one reload; a broken rules file: one more reload, and one failure.
cp "$IT_WORKDIR/after.txt" "$IT_WORKDIR/before.txt"
presend_reload
wait_log "$PRESEND_LOG" 'reload ok' 1 10 || fail "no 'reload ok' after SIGHUP"
printf 'rules:\n  - id: broken\n    header_matches: {name: Subject\n' >"$rules/99-broken.yaml"
presend_reload
wait_log "$PRESEND_LOG" 'reload failed' 1 10 || fail "no 'reload failed' after SIGHUP with a broken file"
scrape "$IT_WORKDIR/after.txt"
expect_delta presend_reloads_total 2
expect_delta presend_reload_failures_total 1
rm "$rules/99-broken.yaml"

# A message over limits.max_message_bytes (lowered by a reload) counts as oversize, and still as a message.
cp "$IT_WORKDIR/after.txt" "$IT_WORKDIR/before.txt"
printf 'limits: {max_message_bytes: 64K}\n' >>"$config"
presend_reload
wait_log "$PRESEND_LOG" 'reload ok' 2 10 || fail "no second 'reload ok' after lowering max_message_bytes"
big=$IT_WORKDIR/sent/big.eml
{
    cat "$FIXTURES/compliant_bulk.eml"
    for _ in $(seq 2000); do echo "Padding line to push this message past the 64K limit of this test."; done
} >"$big"
send_mail "$big" # judged on its headers only: the verdict depends on the rules, the counting does not
wait_decisions $((sent + 1)) || fail "no decision-log line for the oversize message"
scrape "$IT_WORKDIR/after.txt"
expect_delta presend_oversize_messages_total 1
expect_delta presend_messages_total 1
expect_delta presend_stage_duration_seconds_count stage=eom 1

# A worker that dies is restarted by the supervisor; the new one binds the metrics port again (SO_REUSEADDR)
# and counts from zero, which Prometheus reads as a counter reset.
worker=$(ps -o pid= --ppid "$PRESEND_PID" | tr -d ' ' | head -n 1)
[ -n "$worker" ] || fail "no worker process under presend $PRESEND_PID"
kill -KILL "$worker"
wait_log "$PRESEND_LOG" 'restarting the worker' 1 10 || fail "the supervisor did not restart the killed worker"
wait_until "$k_start_timeout" eval 'curl -sS --fail --max-time 2 -o "$IT_WORKDIR/restarted.txt" "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null' ||
    fail "the restarted worker does not serve /metrics"
[ "$(metric "$IT_WORKDIR/restarted.txt" presend_messages_total)" = 0 ] || fail "a restarted worker kept old counts"
[ "$(metric "$IT_WORKDIR/restarted.txt" presend_build_info)" = 1 ] || fail "restarted worker: no build info"
pass "restarted worker serves /metrics again, counting from zero"

presend_stop
