#!/usr/bin/env bash
# deb_package: the Debian package on this machine, end to end. cpack builds the .deb from this build tree;
# dpkg -i installs it (user presend, its directories, conffiles, unit, logrotate file; enabled, not started
# without systemd) and a reinstall keeps an edited conffile; the installed
# daemon starts the way its systemd unit would start it (ExecStart as User=, with UMask= and no new
# privileges; only the socket is moved to a free port), judges mail through a private Postfix into
# /var/log/presend, reloads, and survives a logrotate run; dpkg -r keeps the conffiles and dpkg --purge
# removes everything but the presend user. Skips (77) when not root, without dpkg or cpack, or when a
# presend package or /etc/presend is already on the machine (it is never touched).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root: installs a package"
for tool in dpkg dpkg-deb dpkg-query cpack setpriv logrotate; do
    command -v "$tool" >/dev/null || skip "$tool not installed (run contrib/bootstrap)"
done
# One package test per machine at a time (another checkout may run its suite too): dpkg would refuse the
# second anyway, and each expects the machine free of presend.
exec 9>/run/lock/presend-deb-package.lock
flock -w 100 9 || skip "another presend package test held the lock for 100s"
BUILD_DIR=$(dirname "$PRESEND_BIN")
[ -f "$BUILD_DIR/CPackConfig.cmake" ] || skip "no CPackConfig.cmake beside $PRESEND_BIN"
status=$(dpkg-query -W -f='${Status}' presend 2>/dev/null || true)
case $status in "" | *not-installed) ;; *) skip "package presend is on this machine ($status)" ;; esac
[ ! -e /etc/presend ] || skip "/etc/presend exists; not touching it"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
W=$IT_WORKDIR
INSTALLED=""
# Stop the daemon, then purge the package, whatever happened; then lib.sh's own cleanup.
deb_cleanup() {
    local rc=$?
    set +e
    [ -n "$PRESEND_PID" ] && presend_kill
    [ -n "$INSTALLED" ] && dpkg --purge presend >>"$W/dpkg.log" 2>&1
    (exit "$rc")
    it_cleanup
}
trap deb_cleanup EXIT

# ---- build ----
started=$SECONDS
(cd "$BUILD_DIR" && timeout 120 cpack -G DEB -B "$W/pkg") >"$W/cpack.log" 2>&1 ||
    fail "cpack failed: $(tail -n 20 "$W/cpack.log")"
deb=$(find "$W/pkg" -maxdepth 1 -name 'presend_*.deb' | head -n 1)
[ -n "$deb" ] || fail "cpack made no presend_*.deb: $(tail -n 5 "$W/cpack.log")"
pass "cpack: $(basename "$deb"), $(($(stat -c %s "$deb") / 1024)) KiB in $((SECONDS - started))s"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in adduser libhyperscan5 libgmime-3.0-0 libyaml-cpp0.7 libc6; do
    grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
pass "Depends (shlibdeps): $depends"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$W/conffiles"
for f in /etc/presend/presend.yaml /etc/presend/rules/10-bulk-headers.yaml /etc/logrotate.d/presend; do
    grep -qxF "$f" "$W/conffiles" || fail "$f is not a conffile: $(cat "$W/conffiles")"
done
pass "conffiles: $(wc -l <"$W/conffiles") files under /etc"

# ---- install ----
INSTALLED=1
dpkg -i "$deb" >"$W/dpkg.log" 2>&1 || fail "dpkg -i failed: $(cat "$W/dpkg.log")"
for f in /usr/bin/presend /etc/presend/presend.yaml /etc/presend/rules/00-policy.yaml \
    /etc/presend/rules/examples/compliant.eml /lib/systemd/system/presend.service /etc/logrotate.d/presend \
    /usr/share/doc/presend/operations.md /usr/share/doc/presend/examples/main.cf.snippet; do
    [ -f "$f" ] || fail "not installed: $f"
done
getent passwd presend >/dev/null || fail "postinst did not create the user presend"
expect_stat() {
    local got
    got=$(stat -c '%a %U %G' "$1")
    [ "$got" = "$2" ] || fail "$1 is '$got', expected '$2'"
}
expect_stat /var/cache/presend "750 presend presend"
expect_stat /var/log/presend "2750 presend adm"
expect_stat /var/lib/presend "750 presend presend"
expect_stat /etc/presend/rules "755 root root"
pass "installed: binary, config, rules, unit, logrotate, docs; user presend and its directories"
if pgrep -u presend -x presend >/dev/null; then fail "postinst started presend although systemd is not running"; fi
[ -L /etc/systemd/system/multi-user.target.wants/presend.service ] || fail "postinst did not enable presend.service"
pass "enabled for the next boot under systemd, not started without it"

# A reinstall runs postinst as an upgrade: idempotent, and an edited conffile stays as edited.
echo "# edited by the officer" >>/etc/presend/presend.yaml
dpkg -i "$deb" >>"$W/dpkg.log" 2>&1 || fail "reinstalling failed: $(tail -n 20 "$W/dpkg.log")"
tail -n 1 /etc/presend/presend.yaml | grep -qx "# edited by the officer" || fail "reinstall replaced the edited config"
expect_stat /var/log/presend "2750 presend adm"
pass "reinstall (postinst as upgrade): edited conffile kept, directories unchanged"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /lib/systemd/system/presend.service >"$W/verify.log" 2>&1 || true
    if grep -i "presend" "$W/verify.log"; then fail "systemd-analyze verify: $(cat "$W/verify.log")"; fi
    pass "systemd-analyze verify: no complaint about presend.service"
fi
/usr/bin/presend lint >"$W/lint.log" 2>&1 || fail "installed presend lint failed: $(cat "$W/lint.log")"
/usr/bin/presend test >"$W/test.log" 2>&1 || fail "installed presend test failed: $(cat "$W/test.log")"
pass "the installed binary lints and tests /etc/presend/rules by default"

# ---- run as the unit would ----
unit=/lib/systemd/system/presend.service
unit_value() { sed -n "s/^$1=//p" "$unit" | head -n 1; }
read -r -a exec_start <<<"$(unit_value ExecStart)"
cat >"$W/as-unit" <<EOF
#!/bin/sh
umask $(unit_value UMask)
exec setpriv --reuid=$(unit_value User) --regid=$(unit_value Group) --init-groups --no-new-privs -- ${exec_start[0]} "\$@"
EOF
chmod 755 "$W/as-unit"
PRESEND_BIN=$W/as-unit
[ "${exec_start[1]}" = serve ] || fail "ExecStart is not presend serve: ${exec_start[*]}"
presend_start "${exec_start[@]:2}"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$PRESEND_PID/status")
[ "$uid" = "$(id -u presend)" ] || fail "the daemon runs as uid $uid, not presend"
wait_log "$PRESEND_LOG" "listening on inet:$PF_MILTER_PORT@127.0.0.1, mode dry-run, rules /etc/presend/rules" 1 10 ||
    fail "the installed daemon did not start on the shipped config"
pass "ExecStart as user presend: listening, dry-run, rules /etc/presend/rules"

DECISIONS=/var/log/presend/decisions.jsonl
send_mail "$FIXTURES/missing_list_unsubscribe.eml"
expect_reply 250
expect_decision would_action reject
expect_decision mode dry-run
expect_stat "$DECISIONS" "640 presend adm"
ls /var/cache/presend/*.hsdb >/dev/null 2>&1 || fail "no compiled pattern database cached in /var/cache/presend"
pass "decision log and pattern cache written by presend"

presend_reload
wait_log "$PRESEND_LOG" "reload ok" 1 10 || fail "SIGHUP did not reload"
pass "SIGHUP reloaded"

# logrotate moves the log; its postrotate signals presend through systemd, absent here, so the signal
# is sent by hand exactly as the unit's main process would receive it.
logrotate -f -s "$W/logrotate.state" /etc/logrotate.d/presend >"$W/logrotate.log" 2>&1 ||
    fail "logrotate failed: $(cat "$W/logrotate.log")"
[ -f "$DECISIONS.1" ] || fail "logrotate did not rotate $DECISIONS: $(ls -l /var/log/presend)"
kill -USR1 "$PRESEND_PID"
wait_log "$PRESEND_LOG" "decision log reopened" 1 10 || fail "SIGUSR1 did not reopen the decision log"
send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
wait_decisions 1 10 || fail "no decision in the new $DECISIONS after the reopen"
expect_stat "$DECISIONS" "640 presend adm"
pass "logrotate + SIGUSR1: the new decisions.jsonl is written, the old one is decisions.jsonl.1"
presend_stop
PRESEND_BIN=/usr/bin/presend

# ---- remove, purge ----
dpkg -r presend >>"$W/dpkg.log" 2>&1 || fail "dpkg -r failed: $(tail -n 20 "$W/dpkg.log")"
[ ! -e /usr/bin/presend ] || fail "dpkg -r left /usr/bin/presend"
[ -f /etc/presend/presend.yaml ] || fail "dpkg -r removed the conffile /etc/presend/presend.yaml"
pass "dpkg -r: binary gone, conffiles kept"
dpkg --purge presend >>"$W/dpkg.log" 2>&1 || fail "dpkg --purge failed: $(tail -n 20 "$W/dpkg.log")"
INSTALLED=""
for f in /etc/presend /var/cache/presend /var/log/presend /var/lib/presend /lib/systemd/system/presend.service \
    /etc/logrotate.d/presend /usr/share/doc/presend /etc/systemd/system/multi-user.target.wants/presend.service; do
    [ ! -e "$f" ] || fail "dpkg --purge left $f"
done
getent passwd presend >/dev/null || fail "purge removed the user presend; files may still carry its uid"
pass "dpkg --purge: config, rules, cache, logs, unit and enablement gone; the presend user stays"
