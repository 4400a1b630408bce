#!/usr/bin/env bash
# reload_load: SIGHUP with a broken rule file under load rejects nothing wrongly. Clients send compliant
# messages in enforce mode while the rules directory gets a broken file (reload refused, old rules kept),
# then a valid change (reload taken), each followed by SIGHUP. Every message must be accepted.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

k_count=${PRESEND_RELOAD_MESSAGES:-200}

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
rules=$IT_WORKDIR/rules
cp -r "$SRC_DIR/rules" "$rules"
presend_start --mode enforce --rules "$rules" --decision-log "$DECISIONS"

"$IT_PYTHON" "$IT_DIR/smtp_load.py" --port "$PF_SMTP_PORT" --message "$FIXTURES/compliant_bulk.eml" \
    --prefix rl --count "$k_count" --concurrency 6 --deadline 60 >"$IT_WORKDIR/load.json" &
load_pid=$!

wait_decisions $((k_count / 4)) 60 || fail "load did not start"
printf 'rules:\n  - id: broken\n    regex: "(unclosed"\n    target: subject\n' >"$rules/99-broken.yaml"
presend_reload
wait_log "$PRESEND_LOG" 'reload failed' 1 20 || fail "the broken rule file was not reported"
pass "broken reload refused under load after $(decision_count) decisions"

wait_decisions $((k_count / 2)) 60 || fail "load stalled after the broken reload"
rm "$rules/99-broken.yaml"
printf 'rules:\n  - id: added-under-load\n    description: a rule added during the run\n    regex: "never-in-any-subject-[0-9]{9}"\n    target: subject\n    score: 1\n' \
    >"$rules/99-added.yaml"
presend_reload
wait_log "$PRESEND_LOG" 'reload ok' 1 20 || fail "the valid reload was not taken"
pass "valid reload taken under load after $(decision_count) decisions"

wait_until 120 eval '! alive $load_pid' || fail "the load client did not finish within 120s"
wait "$load_pid" || fail "the load client failed (status $?)"
read -r sent accepted refused gave_up < <("$IT_PYTHON" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["sent"], s["accepted"], s["refused"], s["gave_up"])' "$IT_WORKDIR/load.json")
echo "reload_load: sent $sent, accepted $accepted, refused $refused, gave up $gave_up"
[ "$refused" -eq 0 ] || fail "$refused compliant messages were refused around a reload"
[ "$accepted" -eq "$k_count" ] || fail "only $accepted of $k_count messages were accepted"
pf_wait_delivered "$k_count" 60 || fail "only $(pf_sink_count) of $k_count messages reached smtp-sink"
pass "all $k_count messages accepted and delivered across both reloads"
presend_stop
