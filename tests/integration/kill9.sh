#!/usr/bin/env bash
# kill9: presend killed with SIGKILL under load loses no mail. Concurrent SMTP clients send compliant
# messages through Postfix (milter_default_action = tempfail) while presend is killed twice: the whole
# daemon (then started again), and the worker alone (the supervisor restarts it). Every message must
# end up delivered exactly once: accepted at the first try, or tempfailed to the client and accepted on
# a retry; none refused, none lost. Prints the counts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

k_count=${PRESEND_KILL9_MESSAGES:-240}
k_concurrency=6

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
presend_start --mode enforce --decision-log "$DECISIONS"


"$IT_PYTHON" "$IT_DIR/smtp_load.py" --port "$PF_SMTP_PORT" --message "$FIXTURES/compliant_bulk.eml" \
    --prefix k9 --count "$k_count" --concurrency "$k_concurrency" --deadline 90 >"$IT_WORKDIR/load.json" &
load_pid=$!

# Fault 1: the whole daemon, a quarter into the run; down for a second while clients keep sending.
wait_decisions $((k_count / 4)) 60 || fail "load did not start: $(decision_count) decisions"
old=$PRESEND_PID
kill -KILL "$old" "$(worker_pid "$old")" 2>/dev/null || true
wait "$old" 2>/dev/null || true
PRESEND_PID=""
pass "killed presend (pid $old) with SIGKILL after $(decision_count) decisions"
sleep 1
presend_start --mode enforce --decision-log "$DECISIONS"
pass "presend started again"

# Fault 2: the worker alone, half-way; the supervisor restarts it.
wait_decisions $((k_count / 2)) 60 || fail "load stalled after the restart: $(decision_count) decisions"
worker=$(worker_pid "$PRESEND_PID")
[ -n "$worker" ] || fail "presend has no worker process"
kill -KILL "$worker"
pass "killed the worker (pid $worker) with SIGKILL after $(decision_count) decisions"
wait_log "$PRESEND_LOG" 'restarting the worker' 1 10 || fail "the supervisor did not restart the worker"

wait_until 150 eval '! alive $load_pid' || fail "the load client did not finish within 150s"
wait "$load_pid" || fail "the load client failed (status $?)"
summary=$(cat "$IT_WORKDIR/load.json")
read -r sent accepted refused gave_up tempfails < <("$IT_PYTHON" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["sent"], s["accepted"], s["refused"], s["gave_up"], s["tempfails"])' "$IT_WORKDIR/load.json")

pf_wait_delivered "$accepted" 60 || fail "only $(pf_sink_count) of $accepted accepted messages reached smtp-sink"
# Each copy has its own recipient; count the distinct ones that arrived, and any that arrived twice.
delivered=$(grep -ho 'X-Rcpt-Args: <k9-[0-9]*@' "$PF_SINK_DIR"/* | sort -u | wc -l)
copies=$(grep -ho 'X-Rcpt-Args: <k9-[0-9]*@' "$PF_SINK_DIR"/* | wc -l)
lost=$((sent - delivered))
echo "kill9: sent $sent, delivered $delivered ($copies copies), tempfailed $tempfails times then retried," \
    "refused $refused, gave up $gave_up, lost $lost"
[ "$sent" -eq "$k_count" ] || fail "the client sent $sent of $k_count messages: $summary"
[ "$refused" -eq 0 ] || fail "$refused compliant messages were refused"
[ "$gave_up" -eq 0 ] || fail "$gave_up messages were still tempfailed at the deadline"
[ "$lost" -eq 0 ] || fail "$lost messages were lost"
[ "$tempfails" -gt 0 ] || fail "no client saw a tempfail: the kills did not hit the load"
pass "zero lost: every message delivered, $tempfails tempfails retried"
[ "$copies" -eq "$delivered" ] || echo "note: $((copies - delivered)) messages were delivered twice (a client retried after a lost reply)"
presend_stop
