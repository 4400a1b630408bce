#!/usr/bin/env bash
# syslog: with `log: {target: syslog}` the daemon's lines reach the syslog socket as ident "presend" with the
# pid, facility mail: <22> is mail.info, <19> mail.err. The test runs in its own mount namespace with a private
# /dev (links to the real entries) whose /dev/log is a socket the test reads; the host's /dev is not touched.
set -euo pipefail
if [ "${PRESEND_IN_MOUNT_NS:-}" != 1 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root: mounts a private /dev"; exit 77; }
    command -v unshare >/dev/null && unshare -m true 2>/dev/null ||
        { echo "SKIP: cannot create a private mount namespace here"; exit 77; }
    PRESEND_IN_MOUNT_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

it_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
# Fd 9 keeps the real /dev reachable as /proc/$$/fd/9 once a tmpfs covers it (no bind mount: nothing under
# the work directory may lead into the real /dev when the EXIT trap removes it).
exec 9</dev
mount -t tmpfs -o mode=0755,size=1m presend-dev /dev
for entry in /proc/$$/fd/9/*; do
    ln -s "$entry" "/dev/${entry##*/}"
done
[ -e /dev/null ] || fail "private /dev has no null"

SYSLOG=$IT_WORKDIR/syslog.txt
: >"$SYSLOG"
# The syslog daemon of this test: one datagram per line; it quits on its own after k_smtp_timeout.
"$IT_PYTHON" - "$SYSLOG" "$k_smtp_timeout" <<'PY' &
import socket, sys, time
out, deadline = open(sys.argv[1], "ab", buffering=0), time.time() + int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(0.5)
while time.time() < deadline:
    try:
        out.write(s.recv(65536).rstrip(b"\n") + b"\n")
    except socket.timeout:
        pass
PY
listener=$!
wait_until "$k_start_timeout" test -S /dev/log || fail "the test's syslog socket did not appear"

config=$IT_WORKDIR/presend.yaml
printf 'cache_dir: ""\ndecision_log: ""\nlog: {level: info, target: syslog}\n' >"$config"
presend_start --config "$config" --rules "$SRC_DIR/rules"
# syslog(3) writes "<PRI>Mmm dd hh:mm:ss IDENT[PID]: message".
stamp='[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}'
wait_log "$SYSLOG" "^<22>$stamp presend\[[0-9]+\]: presend .* listening on " 1 10 ||
    fail "no mail.info 'listening on' line from presend on /dev/log: $(head -c 600 "$SYSLOG")"
pass "syslog: $(grep -m1 'listening on' "$SYSLOG" | cut -c1-100)"

printf 'no_such_setting: 1\n' >>"$config"
presend_reload
wait_log "$SYSLOG" "^<19>$stamp presend\[[0-9]+\]: reload failed" 1 10 || fail "no mail.err 'reload failed' line on /dev/log"
pass "syslog: errors as mail.err"
! grep -q 'listening on' "$PRESEND_LOG" || fail "the log went to stderr as well as to syslog"
pass "nothing on stderr once syslog is the target"

presend_stop
kill "$listener" 2>/dev/null || true
wait "$listener" 2>/dev/null || true
