#!/usr/bin/env bash
# rates: the volume guard at RCPT TO, through a real Postfix and the real daemon. In enforce, a tenant sending
# three recipients at gmail.com past a limit of 2 per 10 s gets 451 4.7.1 for the third, naming the tenant, the
# group and the rate, while the first two are delivered; once the bucket refills the same recipient is
# accepted and delivered. The decision line records the rate-limited recipient, the metrics count it,
# `presend rates` shows the bucket from the daemon's state file, and `presend report` counts it. In dry-run
# (a reload, which keeps the counts) a recipient over a limit is delivered and recorded as would_tempfail.
# Mail from the sendmail command is counted but never deferred. Then the Redis store (a reload switches to it):
# the same 451 past a limit, `presend rates` reading Redis, and 451 4.3.0 while Redis is down. In between, the
# memory store's counts survive a restart of the daemon (SIGTERM, start) and of the worker (SIGKILL): a bucket
# emptied before is still empty after.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"

CONF=$IT_WORKDIR/presend.yaml
STATE=$IT_WORKDIR/rates.state
METRICS_PORT=$(free_ports 1)
k_refill_timeout=20 # a 10 s window refills one token in 5 s; a slow box gets four times that

# write_config MODE LIMITS [STORE-KEYS]: the daemon's config; the tenant acme is every sender at example.com.
write_config() {
    config_head "$1" >"$CONF"
    cat >>"$CONF" <<EOF
tenants:
  - id: acme
    selectors: {mail_from_domain: [example.com]}
rates:
  state_file: $STATE
${3:-}
  limits:
$2
EOF
}
send_to() { SEND_TO=$1 send_mail "$FIXTURES/compliant_bulk.eml"; }
metric() { curl -sS --fail --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" | grep -F "$1" | awk '{print $2}'; }

# ---- enforce: 451 4.7.1 past the limit, delivery after the refill ----------------------------------------------
write_config enforce "    - {tenant: \"*\", group: google, rate: 2, per: 10s}"
presend_start --config "$CONF"
wait_log "$PRESEND_LOG" 'rates: store memory, 1 limits' 1 10 || fail "no start line for the volume guard"

send_to "a@gmail.com,b@gmail.com,c@gmail.com"
expect_rcpt_reply a@gmail.com '^250 '
expect_rcpt_reply b@gmail.com '^250 '
expect_rcpt_reply c@gmail.com \
    '^451 4\.7\.1 <c@gmail\.com>: sending rate for acme to google exceeded \(2/10s\), try again later$'
expect_reply 250
expect_sink_rcpts "a@gmail.com b@gmail.com "
expect_decision rcpt_count 2
expect_item rate_limited 0 rcpt c@gmail.com
expect_item rate_limited 0 tenant acme
expect_item rate_limited 0 group google
expect_item rate_limited 0 limit 'tenant=*,group=google,per=10s'
expect_item rate_limited 0 scope tenant-group
expect_item rate_limited 0 result tempfail
grep -qF "<c@gmail.com> over tenant=*,group=google,per=10s (2/10s) for tenant acme to google; deferred" \
    "$PRESEND_LOG" || fail "no log line for the deferred recipient"
[ "$(metric 'presend_rate_limited_total{scope="tenant-group",group="google"}')" = 1 ] ||
    fail "presend_rate_limited_total for google is not 1"
[ "$(metric 'presend_rate_checks_total{group="google"}')" = 3 ] || fail "presend_rate_checks_total for google is not 3"
pass "metrics: 3 checks, 1 limited"

# Other groups have no limit here.
send_to "x@example.org"
expect_reply 250
expect_sink_rcpts "x@example.org "

# The bucket refills one token every 5 s: the client's retry is accepted and delivered.
refilled() {
    send_to c@gmail.com
    [[ "$(rcpt_reply c@gmail.com)" == 250* ]]
}
wait_until "$k_refill_timeout" eval 'sleep 1; refilled' || fail "c@gmail.com still refused after ${k_refill_timeout}s"
expect_reply 250
expect_sink_rcpts "c@gmail.com "
pass "after the refill the recipient is accepted and delivered"

# `presend rates` reads the state file the daemon writes at most once a second.
wait_until 10 eval '[ -s "$STATE" ]' || fail "no state file $STATE"
wait_until 10 eval '"$PRESEND_BIN" rates --config "$CONF" --json | grep -qF "\"limit\": \"tenant=*,group=google,per=10s\""' ||
    fail "presend rates does not show the google bucket: $("$PRESEND_BIN" rates --config "$CONF" --json)"
"$PRESEND_BIN" rates --config "$CONF" >"$IT_WORKDIR/rates.txt"
grep -qE '^  tenant=\*,group=google,per=10s +2/10s, burst 2$' "$IT_WORKDIR/rates.txt" ||
    fail "presend rates text lacks the limit: $(cat "$IT_WORKDIR/rates.txt")"
grep -qE 'tenant=\*,group=google,per=10s +acme → google +used [0-9.]+ of 2' "$IT_WORKDIR/rates.txt" ||
    fail "presend rates text lacks the bucket: $(cat "$IT_WORKDIR/rates.txt")"
pass "presend rates shows the limit and the bucket"

# ---- the sendmail command: counted, never deferred ---------------------------------------------------------
write_config enforce "    - {tenant: \"*\", group: google, rate: 2, per: 10s}
    - {group: apple, rate: 1, per: minute}"
reload_ok
send_local_to a@icloud.com b@icloud.com # one token for two recipients
expect_sink_rcpts "a@icloud.com b@icloud.com "
expect_item rate_limited 0 rcpt b@icloud.com
expect_item rate_limited 0 result accept
expect_decision result accept
grep -q 'milter configuration error' "$PF_LOG" && fail "Postfix logged a milter configuration error"
pass "sendmail command: past the limit, counted and delivered"

# ---- dry-run: delivered and recorded as would_tempfail ------------------------------------------------------
write_config dry-run "    - {group: microsoft, rate: 1, per: minute}"
reload_ok
[ "$(log_count "$PRESEND_LOG" 'rates: store memory')" -eq 1 ] || fail "a reload reopened the rate store"
send_to "x@outlook.com,y@hotmail.co.uk"
expect_rcpt_reply y@hotmail.co.uk '^250 '
expect_reply 250
expect_sink_rcpts "x@outlook.com y@hotmail.co.uk "
expect_item rate_limited 0 rcpt y@hotmail.co.uk
expect_item rate_limited 0 group microsoft
expect_item rate_limited 0 result would_tempfail
pass "dry-run: delivered, the would-be deferral recorded"

# ---- presend report counts them ----------------------------------------------------------------------------
"$PRESEND_BIN" report --format json "$DECISIONS" >"$IT_WORKDIR/report.json"
"$IT_PYTHON" - "$IT_WORKDIR/report.json" <<'EOF' || fail "report: $(cat "$IT_WORKDIR/report.json")"
import json, sys
r = json.load(open(sys.argv[1]))["rate_limited_recipients"]
# c@gmail.com deferred once, and again on each early retry; b@icloud.com (sendmail) and y@hotmail.co.uk not.
assert r["deferred"] >= 1 and r["would_defer"] == 2 and r["total"] == r["deferred"] + 2, r
assert r["store_errors"] == 0, r
EOF
pass "presend report counts the rate-limited recipients: deferred and not"

# ---- restarts: the memory store's counts survive the daemon's and the worker's ---------------------------------
write_config enforce "    - {group: apple, rate: 1, per: hour}"
reload_ok
send_to "a@icloud.com"
expect_rcpt_reply a@icloud.com '^250 '
expect_reply 250
wait_until 10 eval '"$PRESEND_BIN" rates --config "$CONF" --json | grep -qF "\"limit\": \"group=apple,per=hour\""' ||
    fail "the apple bucket is not in the state file: $("$PRESEND_BIN" rates --config "$CONF" --json)"
presend_stop
presend_start --config "$CONF"
wait_log "$PRESEND_LOG" 'rates: [0-9]+ buckets in use taken back from' 1 10 || fail "the restarted daemon took no counts back"
send_to "b@icloud.com"
expect_rcpt_reply b@icloud.com \
    '^451 4\.7\.1 <b@icloud\.com>: sending rate for acme to apple exceeded \(1/hour\), try again later$'
pass "daemon restart: the apple bucket is still empty (1/hour taken before the stop)"

worker=$(worker_pid "$PRESEND_PID")
[ -n "$worker" ] || fail "presend has no worker process"
kill -KILL "$worker"
wait_log "$PRESEND_LOG" 'restarting the worker' 1 10 || fail "the supervisor did not restart the worker"
wait_log "$PRESEND_LOG" 'rates: [0-9]+ buckets in use taken back from' 2 15 || fail "the new worker took no counts back"
wait_until 15 eval 'port_listening "$PF_MILTER_PORT"' || fail "the new worker does not listen"
send_to "c@icloud.com"
expect_rcpt_reply c@icloud.com \
    '^451 4\.7\.1 <c@icloud\.com>: sending rate for acme to apple exceeded \(1/hour\), try again later$'
pass "worker killed and restarted: the apple bucket is still empty"

# ---- Redis: the fleet's store; a Redis that is down gives on_error (451 4.3.0) ---------------------------------
command -v redis-server >/dev/null || skip "redis-server not installed (run contrib/bootstrap); the memory part passed"
REDIS_PORT=$(free_ports 1)
redis_start "$REDIS_PORT"
write_config enforce "    - {tenant: \"*\", group: yahoo, rate: 1, per: minute}" "  backend: redis
  redis: {host: 127.0.0.1, port: $REDIS_PORT, timeout_ms: 200}"
reload_ok
wait_log "$PRESEND_LOG" "rates: store redis://127.0.0.1:$REDIS_PORT/0" 1 10 || fail "the reload did not open the Redis store"
send_to "a@yahoo.com,b@aol.com"
expect_rcpt_reply a@yahoo.com '^250 '
expect_rcpt_reply b@aol.com '^451 4\.7\.1 <b@aol\.com>: sending rate for acme to yahoo exceeded \(1/minute\), try again later$'
expect_reply 250
expect_sink_rcpts "a@yahoo.com "
"$PRESEND_BIN" rates --config "$CONF" --json >"$IT_WORKDIR/rates-redis.json"
grep -qF '"limit": "tenant=*,group=yahoo,per=minute"' "$IT_WORKDIR/rates-redis.json" ||
    fail "presend rates does not show the Redis bucket: $(cat "$IT_WORKDIR/rates-redis.json")"
pass "presend rates reads the bucket from Redis"

redis_stop
send_to "c@yahoo.com"
expect_rcpt_reply c@yahoo.com '^451 4\.3\.0 <c@yahoo\.com>: sending rate check unavailable, try again later$'
expect_item rate_errors 0 rcpt c@yahoo.com
expect_item rate_errors 0 result tempfail
grep -q "rate store redis://127.0.0.1:$REDIS_PORT/0: lookup of <c@yahoo.com> failed" "$PRESEND_LOG" ||
    fail "no log line for the rate store error"
[ "$(metric 'presend_store_errors_total{store="rates-redis"}')" -ge 1 ] || fail "presend_store_errors_total{store=\"rates-redis\"} not counted"
pass "Redis down: 451 4.3.0, recorded, logged and counted"
presend_stop
