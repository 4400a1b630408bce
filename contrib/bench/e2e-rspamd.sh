# e2e-rspamd.sh: rspamd as the comparison milter of contrib/bench/e2e, sourced by it after lib.sh.
# rspamd_install puts Debian's rspamd 3.4 on the host (the benchmark's own step: CI never needs it);
# rspamd_start runs it in the foreground under WORKDIR with contrib/bench/rspamd/rspamd.conf (milter mode,
# self-scan, no network checks) as the package's _rspamd user; rspamd_stop ends it. The package's stock
# files under /etc/rspamd are read, never changed; nothing is written outside WORKDIR.
# shellcheck shell=bash disable=SC2016,SC2034
# (SC2016, SC2034: the single-quoted wait_until condition is eval'ed on each poll, where $ready is read.)

RSPAMD_CONF_DIR=$SRC_DIR/contrib/bench/rspamd
RSPAMD_PID="" RSPAMD_DIR="" RSPAMD_LOG="" RSPAMD_MILTER=""
# A start compiles Hyperscan databases for rspamd's 9,600 URL suffixes and its regexps: two minutes on a busy
# 2-core box. E2E_RSPAMD_CACHE=DIR keeps the compiled files there between invocations (rspamd names them by
# a hash of what they hold, so a changed rule is compiled anew).
k_rspamd_start_timeout=600
: "${E2E_RSPAMD_CACHE:=}"

# Installs the package without letting it start the system's own rspamd (which would take CPU during the
# runs): a policy-rc.d that refuses service starts is put in place for the install when none exists.
rspamd_install() {
    command -v rspamd >/dev/null && return 0
    echo "e2e: installing rspamd (Debian package)" >&2
    local policy=/usr/sbin/policy-rc.d made=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q --no-install-recommends rspamd \
        >"$IT_WORKDIR/apt-rspamd.log" 2>&1 || rc=$?
    [ -z "$made" ] || rm -f "$policy"
    [ "$rc" -eq 0 ] || fail "apt-get install rspamd failed (status $rc): $(tail -n 5 "$IT_WORKDIR/apt-rspamd.log")"
}

# rspamd_start SOCKET WORKERS PHRASES_MAP: proxy workers listening on SOCKET, `inet:PORT` (127.0.0.1:PORT) or
# `unix` (RSPAMD_DIR/milter/rspamd.sock); sets RSPAMD_MILTER to the address Postfix is to use. Returns once the
# main process has loaded the full Hyperscan database that hs_helper compiled and handed it to the workers
# (before that, the regexp rules run on PCRE and rspamd would be measured slow).
rspamd_start() {
    local socket=$1 workers=$2 phrases=$3 bind listening
    id _rspamd >/dev/null 2>&1 || fail "no _rspamd user: is the rspamd package installed?"
    RSPAMD_DIR=$IT_WORKDIR/rspamd
    RSPAMD_LOG=$RSPAMD_DIR/log/rspamd.log
    mkdir -p "$RSPAMD_DIR/db" "$RSPAMD_DIR/run" "$RSPAMD_DIR/log"
    case $socket in
    inet:*)
        bind=127.0.0.1:${socket#inet:}
        RSPAMD_MILTER=inet:$bind
        listening="port_listening ${socket#inet:}"
        ;;
    unix)
        # A directory of its own that Postfix's smtpd and cleanup (user postfix) may traverse; mode=0666 lets
        # them connect. rspamd's main process binds the socket before it forks the workers and keeps root
        # here; the directory is _rspamd's all the same, so the bind does not depend on that.
        mkdir -p "$RSPAMD_DIR/milter"
        rm -f "$RSPAMD_DIR/milter/rspamd.sock" # an earlier round's: the wait below must see this start's
        chown _rspamd:_rspamd "$RSPAMD_DIR/milter"
        chmod 755 "$RSPAMD_DIR" "$RSPAMD_DIR/milter"
        bind="$RSPAMD_DIR/milter/rspamd.sock mode=0666"
        RSPAMD_MILTER=unix:$RSPAMD_DIR/milter/rspamd.sock
        listening="[ -S '$RSPAMD_DIR/milter/rspamd.sock' ]"
        ;;
    *) fail "rspamd_start: socket '$socket': expected inet:PORT or unix" ;;
    esac
    # The log is appended to by every start (one per round of --repeat): this start's own line is awaited.
    local ready='hyperscan database of [0-9]+ regexps has been loaded' loaded
    loaded=$(log_count "$RSPAMD_LOG" "$ready")
    loaded=${loaded:-0} # no log yet: grep counts nothing
    if [ -n "$E2E_RSPAMD_CACHE" ] && [ -d "$E2E_RSPAMD_CACHE" ]; then
        find "$E2E_RSPAMD_CACHE" -maxdepth 1 -type f -name '*.hs*' -exec cp -p {} "$RSPAMD_DIR/db/" \;
    fi
    chown -R _rspamd:_rspamd "$RSPAMD_DIR/db" "$RSPAMD_DIR/run" "$RSPAMD_DIR/log"
    printf 'bind_socket = "%s";\ncount = %s;\n' "$bind" "$workers" >"$RSPAMD_DIR/worker.inc"
    chmod 644 "$RSPAMD_DIR/worker.inc" "$phrases"
    rspamd -f -u _rspamd -g _rspamd -c "$RSPAMD_CONF_DIR/rspamd.conf" \
        "--var=LOCAL_CONFDIR=$RSPAMD_CONF_DIR" "--var=DBDIR=$RSPAMD_DIR/db" "--var=RUNDIR=$RSPAMD_DIR/run" \
        "--var=LOGDIR=$RSPAMD_DIR/log" "--var=BENCH_WORKER=$RSPAMD_DIR/worker.inc" "--var=BENCH_PHRASES=$phrases" \
        >"$RSPAMD_DIR/stdout" 2>&1 &
    RSPAMD_PID=$!
    wait_until "$k_rspamd_start_timeout" eval \
        '! alive "$RSPAMD_PID" || { '"$listening"' && [ "$(log_count "$RSPAMD_LOG" "$ready")" -gt '"$loaded"' ]; }' ||
        fail "rspamd was not ready within ${k_rspamd_start_timeout}s (log: $RSPAMD_LOG)"
    alive "$RSPAMD_PID" || fail "rspamd exited during start-up: $(tail -n 5 "$RSPAMD_DIR/stdout" "$RSPAMD_LOG" 2>/dev/null)"
}

rspamd_stop() {
    [ -n "$RSPAMD_PID" ] || return 0
    local pid=$RSPAMD_PID
    RSPAMD_PID=""
    stop_pid "$pid" rspamd || true
    wait "$pid" 2>/dev/null || true
    if [ -n "$E2E_RSPAMD_CACHE" ]; then
        mkdir -p "$E2E_RSPAMD_CACHE"
        find "$RSPAMD_DIR/db" -maxdepth 1 -type f -name '*.hs*' -exec cp -p {} "$E2E_RSPAMD_CACHE/" \;
    fi
}

# rspamd_symbol_logged SYMBOL RCPT: rspamd's log names SYMBOL in the scan result of the message to RCPT (proof
# that it scanned that message: the log outlives a restart, so an earlier round's hit must not count).
rspamd_symbol_logged() { grep -F "rcpts: <$2>" "$RSPAMD_LOG" | grep -q "\[.*$1("; }
