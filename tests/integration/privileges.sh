#!/usr/bin/env bash
# privileges: started as root with --user nobody, presend binds its port and opens a decision log in a
# root-only directory, then its worker runs as nobody throughout (real, effective, saved, filesystem
# uid) and still judges mail through Postfix, as does the worker the root supervisor starts after killing
# the first. A unix socket gets socket_mode and socket_group and
# answers miltertest. An unknown user and a world-writable rules dir refuse to start (exit 2), and lint
# names the rules dir it refuses.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
W=$IT_WORKDIR
getent passwd nobody >/dev/null || skip "no user nobody"
nobody_uid=$(id -u nobody)
nobody_gid=$(id -g nobody)

# The decision log's directory is root's alone: only a log opened before the drop can be written.
mkdir -m 0700 "$W/logs"
DECISIONS=$W/logs/decisions.jsonl
presend_start --user nobody --rules "$SRC_DIR/rules" --mode enforce --decision-log "$DECISIONS"
wait_log "$PRESEND_LOG" "running as user nobody \\(uid $nobody_uid, gid $nobody_gid\\)" 1 10 ||
    fail "the worker did not report running as nobody"
worker=$(ps -o pid= --ppid "$PRESEND_PID" | tr -d ' ' | head -n 1)
[ -n "$worker" ] || fail "no worker process under the supervisor $PRESEND_PID"
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$worker/status")
gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$worker/status")
[ "$uids" = "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" ] || fail "worker Uid: $uids"
[ "$gids" = "$nobody_gid $nobody_gid $nobody_gid $nobody_gid" ] || fail "worker Gid: $gids"
pass "worker $worker runs as uid/gid $nobody_uid/$nobody_gid (real, effective, saved, filesystem)"
[ "$(awk '/^Uid:/ { print $3 }' "/proc/$PRESEND_PID/status")" = 0 ] ||
    fail "the supervisor should keep its start identity to restart the worker"

send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
send_mail "$FIXTURES/missing_list_unsubscribe.eml"
expect_reply 550 "5\\.7\\.1"
expect_decision action reject
pass "the worker running as nobody judged mail and wrote to the root-only log directory"

# A worker that dies is replaced by the root supervisor: the new one binds again and drops again.
kill -KILL "$worker"
wait_log "$PRESEND_LOG" "running as user nobody" 2 15 || fail "no replacement worker dropped to nobody"
worker2=$(ps -o pid= --ppid "$PRESEND_PID" | tr -d ' ' | head -n 1)
[ -n "$worker2" ] && [ "$worker2" != "$worker" ] || fail "no new worker under the supervisor"
[ "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$worker2/status")" = "$uids" ] ||
    fail "the replacement worker does not run as nobody"
wait_until "$k_start_timeout" port_listening "$PF_MILTER_PORT" || fail "the replacement worker does not listen"
send_mail "$FIXTURES/missing_list_unsubscribe.eml"
expect_reply 550 "5\\.7\\.1"
pass "replacement worker $worker2 runs as nobody and judges mail"
presend_stop
if grep -q "running as root" "$PRESEND_LOG"; then fail "warned about root although it switched users"; fi

# A unix socket: created by root, handed to group postfix with mode 0660, then the worker drops.
getent group postfix >/dev/null || fail "no group postfix (run contrib/bootstrap)"
mkdir -m 0755 "$W/run"
sock=$W/run/presend.sock
printf '%s\n' "socket: unix:$sock" 'socket_mode: "0660"' "socket_group: postfix" "user: nobody" \
    "rules_dir: $SRC_DIR/rules" 'cache_dir: ""' "decision_log: $DECISIONS" "mode: enforce" >"$W/unix.yaml"
"$PRESEND_BIN" serve --config "$W/unix.yaml" >>"$PRESEND_OUT" 2>>"$PRESEND_LOG" &
PRESEND_PID=$!
wait_until "$k_start_timeout" eval '[ -S "$sock" ] || ! alive "$PRESEND_PID"' || true
[ -S "$sock" ] || fail "presend did not create $sock"
wait_log "$PRESEND_LOG" "running as user nobody" 2 10 || fail "the unix-socket worker did not drop to nobody"
perm=$(stat -c '%a %U %G' "$sock")
[ "$perm" = "660 root postfix" ] || fail "socket is '$perm', expected '660 root postfix'"
pass "unix socket $sock: $perm"
out=$W/miltertest.out
timeout 60 miltertest -D "SOCKET=unix:$sock" -D "LUA_DIR=$IT_DIR/miltertest" \
    -D "EML=$FIXTURES/compliant_bulk.eml" -s "$IT_DIR/miltertest/accept.lua" >"$out" 2>&1 ||
    fail "miltertest over $sock: $(cat "$out")"
pass "miltertest over the unix socket: $(tail -n 1 "$out")"
presend_stop

# Refusals: each names the cause and exits 2 (a bad config: restarting cannot help).
expect_refusal() {
    local pattern=$1 rc=0
    shift
    timeout 30 "$PRESEND_BIN" serve --socket "inet:$PF_MILTER_PORT@127.0.0.1" --decision-log "" "$@" \
        >"$W/refused.out" 2>&1 || rc=$?
    [ "$rc" -eq 2 ] || fail "presend serve $* exited $rc, expected 2: $(cat "$W/refused.out")"
    grep -qE -- "$pattern" "$W/refused.out" || fail "presend serve $* did not say /$pattern/: $(cat "$W/refused.out")"
    pass "refused ($*): $(grep -E -- "$pattern" "$W/refused.out" | head -n 1 | sed 's/.*cannot start: //')"
}
expect_refusal "user presend-no-such-user: no such user" --user presend-no-such-user --rules "$SRC_DIR/rules"

mkdir "$W/open-rules"
cp "$SRC_DIR"/rules/*.yaml "$W/open-rules/"
cp -r "$SRC_DIR/rules/examples" "$W/open-rules/"
chmod 0777 "$W/open-rules"
expect_refusal "open-rules: refused: writable by other users \\(mode 0777\\)" --rules "$W/open-rules"
rc=0
"$PRESEND_BIN" lint --rules "$W/open-rules" >"$W/lint.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "refused: writable by other users (mode 0777); chmod o-w" "$W/lint.out" ||
    fail "lint of a world-writable rules dir: exit $rc: $(cat "$W/lint.out")"
pass "lint refuses the world-writable rules dir (exit 1)"
chmod 0755 "$W/open-rules"
chmod 0666 "$W/open-rules/10-bulk-headers.yaml"
expect_refusal "10-bulk-headers.yaml: refused: writable by other users \\(mode 0666\\)" --rules "$W/open-rules"
