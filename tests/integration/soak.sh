#!/usr/bin/env bash
# soak: many concurrent SMTP sessions for a while without memory growth. Two clients (compliant mail and
# spam that enforce mode refuses) keep 8 sessions busy for PRESEND_SOAK_SECONDS (default 40; `contrib/soak`
# runs it for longer). The worker's RSS is read after a warm-up (a quarter of the run: allocator pools
# and caches filled) and at the end; it may not grow by more than 20% + 8 MiB. Prints the figures.
# PRESEND_SOAK_RSS=0 skips the RSS limit (a ThreadSanitizer build keeps access history that grows by design:
# contrib/test-sanitizers runs this script under TSan to find races in the daemon's threads).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

k_seconds=${PRESEND_SOAK_SECONDS:-40}

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
presend_start --mode enforce --decision-log "$DECISIONS"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

worker=$(worker_pid "$PRESEND_PID")
[ -n "$worker" ] || fail "presend has no worker process"
start_rss=$(rss_kib "$worker")

for kind in compliant spam; do
    file=$FIXTURES/compliant_bulk.eml
    [ "$kind" = spam ] && file=$SRC_DIR/rules/examples/spammy.eml
    "$IT_PYTHON" "$IT_DIR/smtp_load.py" --port "$PF_SMTP_PORT" --message "$file" --prefix "soak-$kind" \
        --duration "$k_seconds" --concurrency 4 --deadline 30 >"$IT_WORKDIR/load-$kind.json" &
    eval "load_$kind=\$!"
done

sleep $((k_seconds / 4))
warm_rss=$(rss_kib "$worker")
warm_decisions=$(decision_count)
wait_until $((k_seconds + 60)) eval '! alive $load_compliant && ! alive $load_spam' ||
    fail "the load clients did not finish within $((k_seconds + 60))s"
wait "$load_compliant" || fail "the compliant load client failed"
wait "$load_spam" || fail "the spam load client failed"
end_rss=$(rss_kib "$worker")
[ "$(worker_pid "$PRESEND_PID")" = "$worker" ] || fail "the worker was restarted during the run (a crash?)"

read -r sent_c accepted_c refused_c < <("$IT_PYTHON" -c '
import json, sys
s = json.load(open(sys.argv[1])); print(s["sent"], s["accepted"], s["refused"])' "$IT_WORKDIR/load-compliant.json")
read -r sent_s accepted_s refused_s < <("$IT_PYTHON" -c '
import json, sys
s = json.load(open(sys.argv[1])); print(s["sent"], s["accepted"], s["refused"])' "$IT_WORKDIR/load-spam.json")
decisions=$(decision_count)
echo "soak: ${k_seconds}s, 8 sessions: $decisions messages judged ($(( decisions / k_seconds ))/s);" \
    "compliant sent $sent_c accepted $accepted_c; spam sent $sent_s refused $refused_s"
echo "soak: worker RSS start $((start_rss / 1024)) MiB, after warm-up ($warm_decisions messages)" \
    "$((warm_rss / 1024)) MiB, end $((end_rss / 1024)) MiB"
[ "$accepted_c" -eq "$sent_c" ] || fail "$((sent_c - accepted_c)) compliant messages were not accepted"
[ "$refused_s" -eq "$sent_s" ] || fail "$((sent_s - refused_s)) spam messages were not refused"
if [ "${PRESEND_SOAK_RSS:-1}" != 0 ]; then
    limit=$((warm_rss * 12 / 10 + 8192))
    [ "$end_rss" -le "$limit" ] || fail "worker RSS grew from $warm_rss KiB to $end_rss KiB (limit $limit KiB)"
    pass "RSS stable: $((warm_rss / 1024)) → $((end_rss / 1024)) MiB over $((decisions - warm_decisions)) messages"
fi
presend_stop
