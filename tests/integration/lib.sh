# lib.sh: harness for presend's end-to-end tests, sourced by tests/integration/*.sh and contrib/demo.
# pf_setup builds a private Postfix instance under WORKDIR (own config, queue, data dir and maillog; loopback
# only) that relays everything to smtp-sink and hands every message to presend's milter port. Nothing outside
# WORKDIR is touched. Every wait is bounded; the EXIT trap stops whatever was started here and removes WORKDIR
# (kept when IT_KEEP=1). Runs as root: Postfix drops to the postfix user, smtp-sink is told to do the same.
# shellcheck shell=bash disable=SC2016,SC2034
# (SC2016: the single-quoted wait_until conditions are eval'ed on each poll. SC2034: the variables set here
# are read by the tests that source this file.)
set -euo pipefail

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$IT_DIR/../.." && pwd)
FIXTURES=$SRC_DIR/tests/fixtures
: "${PRESEND_BIN:=$SRC_DIR/build/presend}"
# Debian's python3 first: a version-manager shim earlier in PATH costs ~0.5s per call in polling loops.
IT_PYTHON=$(command -v /usr/bin/python3 || command -v python3)
PATH=$PATH:/usr/sbin:/sbin # postfix, postqueue, sendmail and smtp-sink live there

# Limits, each a ceiling on a wait that normally takes milliseconds; a slow 2-core CI box stays well inside.
k_start_timeout=20   # seconds for Postfix, smtp-sink or presend to listen
k_stop_timeout=10    # seconds for a process to exit after SIGTERM before SIGKILL
k_smtp_timeout=60    # seconds for one swaks or sendmail run, milter included
k_deliver_timeout=20 # seconds for queued mail to reach smtp-sink (retries every 1s)

IT_WORKDIR="" PF_CONF="" PF_SINK_PID="" PRESEND_PID="" IT_SEQ=0 IT_LOGS_SHOWN=""

# ---- reporting ---------------------------------------------------------------------------------------------

pass() { printf 'PASS: %s\n' "$*"; }

# In a $(...) subshell only the message is printed; the main shell's EXIT trap then shows the logs.
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    [ "$BASHPID" = "$$" ] && it_show_logs
    exit 1
}

# Exit status 77: CTest's SKIP_RETURN_CODE for these tests.
skip() {
    printf 'SKIP: %s\n' "$*"
    exit 77
}

# Tails of the logs that explain a failure; shown once, whether fail() or set -e ended the test.
it_show_logs() {
    [ -n "$IT_LOGS_SHOWN" ] && return 0
    IT_LOGS_SHOWN=1
    local f
    if [ -s "${LAST_SWAKS_LOG:-}" ]; then
        printf -- '---- SMTP dialogue in %s (message lines left out) ----\n' "$LAST_SWAKS_LOG" >&2
        grep -v '^ -> ' "$LAST_SWAKS_LOG" | tail -n 25 >&2 || true
    fi
    for f in "${PRESEND_LOG:-}" "${PF_LOG:-}"; do
        if [ -z "$f" ] || [ ! -s "$f" ]; then continue; fi
        printf -- '---- last lines of %s ----\n' "$f" >&2
        tail -n 25 "$f" >&2
    done
}

# ---- waiting -----------------------------------------------------------------------------------------------

# wait_until SECONDS CMD...: polls CMD every 0.1s; returns 1 when SECONDS pass without success.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# free_ports N: N distinct ports free on 127.0.0.1 right now (bound all at once, so no two are the same).
free_ports() {
    "$IT_PYTHON" -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# Listening check without opening a connection (a probe connection would reach the milter as a bogus client).
port_listening() {
    if command -v ss >/dev/null; then
        ss -Hltn "sport = :$1" | grep -q .
    else
        timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
    fi
}

smtp_banner_ok() {
    local banner
    banner=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; head -c 3 <&3; printf 'QUIT\r\n' >&3" 2>/dev/null) || return 1
    [ "$banner" = 220 ]
}

# wait_log FILE PATTERN [COUNT] [SECONDS]: waits until FILE has COUNT lines matching the ERE PATTERN.
log_count() { grep -cE -- "$2" "$1" 2>/dev/null || true; }
wait_log() {
    local file=$1 pattern=$2 count=${3:-1} secs=${4:-10}
    wait_until "$secs" eval '[ "$(log_count "$file" "$pattern")" -ge "$count" ]'
}

# ---- workdir and cleanup -----------------------------------------------------------------------------------

# it_setup WORKDIR: the layout and ports shared by the Postfix and miltertest harnesses; installs the EXIT trap.
it_setup() {
    IT_WORKDIR=$1
    trap it_cleanup EXIT
    trap 'exit 130' INT # so an interrupted, timed-out or `| head` test still cleans up
    trap 'exit 143' TERM
    trap 'exit 141' PIPE
    [ -d "$IT_WORKDIR" ] || fail "it_setup: no such directory: $IT_WORKDIR"
    [ "$(id -u)" -eq 0 ] || skip "needs root: runs a private Postfix and smtp-sink as root"
    local tool
    for tool in postfix postqueue sendmail smtp-sink swaks miltertest "$IT_PYTHON"; do
        command -v "$tool" >/dev/null || skip "$tool not installed (run contrib/bootstrap)"
    done
    chmod 755 "$IT_WORKDIR" # Postfix daemons run as the postfix user and must reach their queue under it
    PRESEND_LOG=$IT_WORKDIR/presend.log
    PRESEND_OUT=$IT_WORKDIR/presend.stdout
    DECISIONS=$IT_WORKDIR/decisions.jsonl
    read -r PF_MILTER_PORT PF_SMTP_PORT PF_SINK_PORT <<<"$(free_ports 3)"
    : >"$PRESEND_LOG"
    : >"$PRESEND_OUT"
}

it_cleanup() {
    local rc=$?
    trap - EXIT
    trap '' PIPE # a reader that went away must not cut the cleanup short
    set +e
    case $rc in 0 | 77 | 141) ;; *) it_show_logs ;; esac # 77 skipped, 141 reader gone
    [ -n "$PRESEND_PID" ] && presend_kill
    redis_stop
    [ -n "$PF_CONF" ] && pf_stop
    if [ -n "$IT_WORKDIR" ] && [ -d "$IT_WORKDIR" ]; then
        if [ "${IT_KEEP:-0}" = 1 ]; then
            echo "kept $IT_WORKDIR" >&2
        else
            rm -rf "$IT_WORKDIR"
        fi
    fi
    exit "$rc"
}

# alive PID: running and not a zombie (our own children stay zombies until waited for).
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]; }

# stop_pid PID NAME: SIGTERM, bounded wait, then SIGKILL to PID, its process group when it leads one (Postfix's
# master) and its direct children (presend's worker); returns 1 if SIGKILL was needed.
stop_pid() {
    local pid=$1 name=$2 kids
    kill -TERM "$pid" 2>/dev/null || return 0
    if wait_until "$k_stop_timeout" eval "! alive $pid"; then
        return 0
    fi
    echo "$name (pid $pid) ignored SIGTERM for ${k_stop_timeout}s; sending SIGKILL" >&2
    kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
    kill -KILL -- "-$pid" 2>/dev/null || true
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL "$pid" $kids 2>/dev/null || true
    return 1
}

# ---- private Redis -----------------------------------------------------------------------------------------

# redis_start PORT [redis-server options]: a throwaway redis-server on 127.0.0.1:PORT, nothing saved, its
# files in REDIS_DIR (default IT_WORKDIR); waits until it answers PING. Stopped by redis_stop (it_cleanup calls it).
REDIS_PID=""
redis_start() {
    local port=$1
    shift
    command -v redis-server >/dev/null || skip "redis-server not installed (run contrib/bootstrap)"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        --dir "${REDIS_DIR:-$IT_WORKDIR}" --logfile "${REDIS_DIR:-$IT_WORKDIR}/redis.log" "$@" &
    REDIS_PID=$!
    wait_until "$k_start_timeout" port_listening "$port" || fail "redis-server did not listen on $port"
}

# redis_stop: SIGKILL, as a crashed Redis would go; nothing to do when none runs.
redis_stop() {
    [ -n "$REDIS_PID" ] || return 0
    kill -KILL "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
}

# ---- private Postfix ---------------------------------------------------------------------------------------

# pf_setup WORKDIR: Postfix on 127.0.0.1:PF_SMTP_PORT → smtp-sink on PF_SINK_PORT (one file per message in
# PF_SINK_DIR); smtpd_milters and non_smtpd_milters = inet:127.0.0.1:PF_MILTER_PORT. No default main.cf is
# needed: as root, `postfix -c DIR` accepts any config directory.
pf_setup() {
    it_setup "$1"
    local w=$IT_WORKDIR
    PF_CONF=$w/postfix
    PF_LOG=$w/maillog
    PF_SINK_DIR=$w/sink
    mkdir -p "$PF_CONF" "$PF_SINK_DIR" "$w/spool" "$w/sent"
    chown postfix "$PF_SINK_DIR"

    cat >"$PF_CONF/main.cf" <<EOF
# Private test instance written by tests/integration/lib.sh; see contrib/postfix/main.cf.snippet for the
# production settings.
compatibility_level = 3.6
queue_directory = $w/spool
data_directory = $w/data
maillog_file = $PF_LOG
maillog_file_prefixes = $w
myhostname = mta.presend.test
mydomain = presend.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:$PF_SINK_PORT
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
# Let presend see the message exactly as the client wrote it: no Message-ID or Date added by cleanup.
local_header_rewrite_clients =
# Deferred mail is retried within seconds, so tests need not wait minutes.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s

smtpd_milters = inet:127.0.0.1:$PF_MILTER_PORT
non_smtpd_milters = inet:127.0.0.1:$PF_MILTER_PORT
milter_protocol = 6
milter_default_action = tempfail
milter_connect_timeout = 5s
milter_command_timeout = 10s
milter_content_timeout = 30s
milter_connect_macros = {client_addr}
milter_helo_macros =
milter_mail_macros = i {auth_authen} {mail_addr}
milter_rcpt_macros = i {rcpt_addr}
milter_data_macros = i
milter_end_of_header_macros = i
milter_end_of_data_macros = i
EOF

    # Only the services a relay-only instance uses; no chroot (the queue lives in a temporary directory).
    cat >"$PF_CONF/master.cf" <<EOF
127.0.0.1:$PF_SMTP_PORT inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF

    smtp-sink -4 -u postfix -d "$PF_SINK_DIR/%Y%m%d%H%M%S." "127.0.0.1:$PF_SINK_PORT" 64 \
        >"$w/smtp-sink.log" 2>&1 &
    PF_SINK_PID=$!
    wait_until "$k_start_timeout" port_listening "$PF_SINK_PORT" || fail "smtp-sink did not listen on $PF_SINK_PORT"

    timeout "$k_start_timeout" postfix -c "$PF_CONF" start >"$w/postfix-start.log" 2>&1 ||
        fail "postfix -c $PF_CONF start failed: $(cat "$w/postfix-start.log")"
    # Before presend is up, this probe leaves one "milter-reject: CONNECT" line in the maillog; harmless.
    wait_until "$k_start_timeout" smtp_banner_ok "$PF_SMTP_PORT" ||
        fail "Postfix smtpd did not answer on 127.0.0.1:$PF_SMTP_PORT"
}

pf_stop() {
    [ -n "$PF_CONF" ] || return 0
    local pidfile=$IT_WORKDIR/spool/pid/master.pid pid=""
    [ -s "$pidfile" ] && pid=$(awk '{ print $1; exit }' "$pidfile")
    timeout "$k_stop_timeout" postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
    [ -n "$pid" ] && { stop_pid "$pid" "postfix master" || true; }
    [ -n "$PF_SINK_PID" ] && { stop_pid "$PF_SINK_PID" smtp-sink || true; }
    wait "$PF_SINK_PID" 2>/dev/null || true
    PF_CONF="" PF_SINK_PID=""
}

pf_log() { echo "$PF_LOG"; }

# Messages Postfix still holds, by queue; maildrop counts too (sendmail mail not yet picked up).
pf_queue_list() { postqueue -c "$PF_CONF" -j 2>/dev/null || true; }
pf_queue_count() { pf_queue_list | grep -cE '"queue_name": *"(maildrop|incoming|active|deferred|hold)"' || true; }
pf_hold_count() { pf_queue_list | grep -cE '"queue_name": *"hold"' || true; }

# pf_wait_settled [SECONDS]: until nothing is in flight: every message delivered, refused, dropped or held.
# shellcheck disable=SC2120 # the timeout argument is optional
pf_wait_settled() {
    wait_until "${1:-$k_deliver_timeout}" eval '[ "$(pf_queue_count)" -le "$(pf_hold_count)" ]'
}

pf_wait_hold() {
    wait_until "${2:-10}" eval '[ "$(pf_hold_count)" -ge '"$1"' ]'
}

pf_sink_count() { find "$PF_SINK_DIR" -type f | wc -l; }

# pf_wait_delivered N [SECONDS]: until smtp-sink holds N messages and Postfix logged N deliveries (the log
# line comes after the sink's final 250, so the files are complete).
pf_wait_delivered() {
    local n=$1 secs=${2:-$k_deliver_timeout}
    wait_until "$secs" eval '[ "$(pf_sink_count)" -ge '"$n"' ] && [ "$(log_count "$PF_LOG" "status=sent")" -ge '"$n"' ]'
}

# ---- presend -----------------------------------------------------------------------------------------------

# cli_expect RC ARGS...: runs `presend ARGS...` (stdin as given, 60 s at most), stdout and stderr in OUT;
# fails unless it exits RC. out_contains TEXT: fails unless OUT holds TEXT.
cli_expect() {
    local want=$1 rc=0
    shift
    OUT=$(timeout 60 "$PRESEND_BIN" "$@" 2>&1) || rc=$?
    [ "$rc" -eq "$want" ] || fail "presend $* exited $rc, expected $want; output:
$OUT"
}
out_contains() { grep -qF -- "$1" <<<"$OUT" || fail "expected '$1' in:
$OUT"; }


# presend_start ARGS...: `presend serve` on PF_MILTER_PORT (or PRESEND_SOCKET, e.g. unix:/path, when set) in
# the background, run from the source tree; stderr (the daemon's log) to PRESEND_LOG, stdout (the decision log
# unless --decision-log) to PRESEND_OUT. Waits until the milter socket listens.
# shellcheck disable=SC2120 # no arguments: the embedded defaults
presend_start() {
    [ -x "$PRESEND_BIN" ] || fail "PRESEND_BIN=$PRESEND_BIN is not executable (build presend first)"
    local socket=${PRESEND_SOCKET:-inet:$PF_MILTER_PORT@127.0.0.1}
    # A unix socket counts as listening once its file exists: one left by the previous presend would let the
    # wait below end before this one has bound it, and Postfix's next connection be refused.
    case $socket in unix:*) rm -f "${socket#unix:}" ;; esac
    (cd "$SRC_DIR" && exec "$PRESEND_BIN" serve --socket "$socket" "$@") >>"$PRESEND_OUT" 2>>"$PRESEND_LOG" &
    PRESEND_PID=$!
    wait_until "$k_start_timeout" eval 'presend_listening "$socket" || ! alive "$PRESEND_PID"' || true
    if ! alive "$PRESEND_PID"; then
        wait "$PRESEND_PID" 2>/dev/null || true
        PRESEND_PID=""
        fail "presend serve $* exited during start-up"
    fi
    presend_listening "$socket" || fail "presend did not listen on $socket within ${k_start_timeout}s"
}

# presend_listening SOCKET: a unix socket file exists, or the inet socket's port listens.
presend_listening() {
    case $1 in
    unix:*) [ -S "${1#unix:}" ] ;;
    *) port_listening "$PF_MILTER_PORT" ;;
    esac
}

# presend_stop: SIGTERM must end the daemon within k_stop_timeout with exit status 0.
presend_stop() {
    [ -n "$PRESEND_PID" ] || return 0
    local pid=$PRESEND_PID rc=0
    PRESEND_PID=""
    stop_pid "$pid" presend || fail "presend did not stop within ${k_stop_timeout}s of SIGTERM"
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "presend exited with status $rc after SIGTERM"
}

presend_kill() {
    local pid=$PRESEND_PID
    PRESEND_PID=""
    stop_pid "$pid" presend || true
    wait "$pid" 2>/dev/null || true
}

# worker_pid SUPERVISOR: the pid of presend's worker process (the supervisor's one child), or "".
worker_pid() { ps -o pid= --ppid "$1" 2>/dev/null | head -n 1 | tr -d ' '; }

presend_reload() {
    [ -n "$PRESEND_PID" ] || fail "presend_reload: presend is not running"
    kill -HUP "$PRESEND_PID"
}

# ---- sending -----------------------------------------------------------------------------------------------

# send_mail FILE.eml [swaks options]: one SMTP transaction to the private smtpd. Each message gets its own
# envelope (VERP-style sender bounce+N@example.com, recipient rcptN@example.net) so the decision log line and
# the delivered copy can be found again. Sets LAST_FROM, LAST_RCPT, LAST_QID, LAST_SWAKS_RC, LAST_SWAKS_LOG.
send_mail() {
    local file=$1
    shift
    [ -r "$file" ] || fail "send_mail: cannot read $file"
    IT_SEQ=$((IT_SEQ + 1))
    LAST_FROM=${SEND_FROM:-bounce+$IT_SEQ@example.com}
    LAST_RCPT=${SEND_TO:-rcpt$IT_SEQ@example.net}
    LAST_SWAKS_LOG=$IT_WORKDIR/sent/$IT_SEQ.swaks
    LAST_SWAKS_RC=0
    timeout "$k_smtp_timeout" swaks --server 127.0.0.1 --port "$PF_SMTP_PORT" --helo client.example.com \
        --from "$LAST_FROM" --to "$LAST_RCPT" --data "@$file" --timeout 30 "$@" \
        >"$LAST_SWAKS_LOG" 2>&1 || LAST_SWAKS_RC=$?
    LAST_QID=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' "$LAST_SWAKS_LOG" | tail -n 1)
}

# The Postfix master's pid, from its pid file.
pf_master_pid() { awk '{ print $1; exit }' "$IT_WORKDIR/spool/pid/master.pid"; }

# none_alive "PID PID...": none of them is still running (an empty list: true).
none_alive() {
    local pid
    for pid in $1; do alive "$pid" && return 1; done
    return 0
}

# pf_milter SPEC: the milter Postfix hands every message to ("" for none). SIGHUP is what `postfix reload`
# sends the master after its checks (2-3 s on a busy box). smtpd processes started before it keep the old
# milter until they exit, a second or two later when idle: a new session must not meet one of them. The
# probes that follow show which filter answers.
pf_milter() {
    local master old
    master=$(pf_master_pid)
    old=$(ps -o pid=,comm= --ppid "$master" | awk '$2 == "smtpd" { print $1 }')
    postconf -c "$PF_CONF" -e "smtpd_milters=$1" "non_smtpd_milters=$1"
    kill -HUP "$master" || fail "could not signal the Postfix master to reload"
    wait_until "$k_stop_timeout" none_alive "$old" ||
        fail "Postfix's smtpd processes did not exit within ${k_stop_timeout}s of a reload"
}

# send_local FILE.eml: submission through Postfix's sendmail (pickup → cleanup → non_smtpd_milters).
send_local() {
    local file=$1
    IT_SEQ=$((IT_SEQ + 1))
    LAST_FROM=${SEND_FROM:-bounce+$IT_SEQ@example.com}
    LAST_RCPT=${SEND_TO:-rcpt$IT_SEQ@example.net}
    LAST_SWAKS_LOG="" LAST_QID=""
    timeout "$k_smtp_timeout" sendmail -C "$PF_CONF" -f "$LAST_FROM" -- "$LAST_RCPT" <"$file" ||
        fail "sendmail -C $PF_CONF exited with status $?"
}

# send_local_to RCPT...: compliant_bulk.eml through the sendmail command to these recipients.
send_local_to() {
    IT_SEQ=$((IT_SEQ + 1))
    LAST_FROM=bounce+$IT_SEQ@example.com LAST_SWAKS_LOG=""
    timeout "$k_smtp_timeout" sendmail -C "$PF_CONF" -f "$LAST_FROM" -- "$@" <"$FIXTURES/compliant_bulk.eml" ||
        fail "sendmail -C $PF_CONF exited with status $?"
}

# The server's reply to the end of DATA, or else to the first refused command ("<**" lines are errors).
last_reply() {
    local reply
    reply=$(awk '/^ -> \.$/ { dot = 1; next } dot && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print; exit }' \
        "$LAST_SWAKS_LOG")
    [ -n "$reply" ] || reply=$(sed -n '/^<\*\* */{s///p;q}' "$LAST_SWAKS_LOG")
    printf '%s\n' "$reply"
}

# expect_reply CODE [ERE]: the final reply (see last_reply) starts with CODE and matches ERE.
expect_reply() {
    local reply
    reply=$(last_reply)
    [[ "$reply" == "$1"* ]] || fail "expected SMTP reply $1, got '${reply:-none}' (swaks exit $LAST_SWAKS_RC)"
    [ -z "${2:-}" ] || grep -qE -- "$2" <<<"$reply" || fail "SMTP reply '$reply' does not match /$2/"
    pass "SMTP reply: $reply"
}

# The smtp-sink copy of the last message, found by its unique envelope recipient.
delivered_file() { grep -lF "X-Rcpt-Args: <$LAST_RCPT>" "$PF_SINK_DIR"/* 2>/dev/null | head -n 1 || true; }

# shellcheck disable=SC2120 # the timeout argument is optional
expect_delivered() {
    wait_until "${1:-$k_deliver_timeout}" eval '[ -n "$(delivered_file)" ] && grep -q "to=<$LAST_RCPT>.*status=sent" "$PF_LOG"' ||
        fail "message to $LAST_RCPT was not delivered to smtp-sink within ${1:-$k_deliver_timeout}s"
    DELIVERED=$(delivered_file)
    pass "delivered to the next hop: $LAST_RCPT"
}

# Not delivered: once Postfix holds nothing in flight (hold excepted), no sink copy exists for it.
expect_not_delivered() {
    pf_wait_settled || fail "Postfix queue did not settle: $(pf_queue_list)"
    [ -z "$(delivered_file)" ] || fail "message to $LAST_RCPT reached the next hop: $(delivered_file)"
    pass "not delivered: $LAST_RCPT"
}

# ---- decision log ------------------------------------------------------------------------------------------

# wait_decisions N [SECONDS]: until the decision log has N lines.
decision_count() { grep -c '^{' "$DECISIONS" 2>/dev/null || true; }
wait_decisions() {
    wait_until "${2:-10}" eval '[ "$(decision_count)" -ge '"$1"' ]'
}

# decision_field FIELD: FIELD of the decision-log line for the last message (matched by its unique envelope
# sender); lists print one item per line, objects in `hits` print their `rule`. Waits for the line.
decision_json() {
    "$IT_PYTHON" - "$DECISIONS" "$LAST_FROM" "$@" <<'EOF'
import json, sys
path, sender, field = sys.argv[1], sys.argv[2].strip("<>"), sys.argv[3]
try:
    lines = open(path, encoding="utf-8").read().splitlines()
except FileNotFoundError:
    sys.exit(1)
for line in lines:
    try:
        rec = json.loads(line)
    except ValueError:  # not a decision, or one still being written
        continue
    if not isinstance(rec, dict) or str(rec.get("mail_from", "")).strip("<>") != sender:
        continue
    if field == "-":
        print(line)
        sys.exit(0)
    if field not in rec:
        sys.exit(3)
    value = rec[field]
    if isinstance(value, list):
        for item in value:
            print(item.get("rule", "") if isinstance(item, dict) else item)
    elif isinstance(value, (dict, bool)) or value is None:
        print(json.dumps(value))
    else:
        print(value)
    sys.exit(0)
sys.exit(1)
EOF
}

decision_field() {
    local out rc=0
    wait_until 10 decision_json - >/dev/null ||
        fail "no decision-log line for mail_from=$LAST_FROM in $DECISIONS"
    out=$(decision_json "$1") || rc=$?
    [ "$rc" -ne 3 ] || fail "decision-log line for $LAST_FROM has no field '$1': $(decision_json -)"
    [ "$rc" -eq 0 ] || fail "reading $DECISIONS failed (status $rc)"
    printf '%s\n' "$out"
}

expect_decision() {
    local got
    got=$(decision_field "$1")
    [ "$got" = "$2" ] || fail "decision log: $1 is '$got', expected '$2' in: $(decision_json -)"
    pass "decision log: $1=$2"
}

expect_hit() {
    local hits
    hits=$(decision_field hits)
    grep -qxF "$1" <<<"$hits" || fail "decision log: no hit for rule '$1' in: $(decision_json -)"
    pass "decision log: rule $1 hit"
}

# ---- feedback (back-off from Postfix's log) ----------------------------------------------------------------

# feedback_start LOG METRICS_PORT [YAML]: presend in dry-run following LOG with the metrics endpoint on
# METRICS_PORT; YAML (lines indented two spaces) adds keys of the feedback: section. Waits for both.
feedback_start() {
    local config=$IT_WORKDIR/presend.yaml
    FEEDBACK_METRICS_PORT=$2
    {
        printf 'mode: dry-run\ncache_dir: ""\ndecision_log: %s\n' "$DECISIONS"
        printf 'metrics:\n  listen: "127.0.0.1:%s"\nfeedback:\n  log: %s\n' "$2" "$1"
        [ -z "${3:-}" ] || printf '%s\n' "$3"
    } >"$config"
    presend_start --config "$config"
    wait_until "$k_start_timeout" port_listening "$2" || fail "nothing listens on metrics port $2"
    wait_log "$PRESEND_LOG" "feedback: following $1" 1 10 || fail "the feedback follower did not start"
}

# backoff_factor GROUP: presend_backoff_factor{group=GROUP} in a fresh scrape ("" when absent).
backoff_factor() {
    curl -sS --fail --max-time 5 "http://127.0.0.1:$FEEDBACK_METRICS_PORT/metrics" 2>/dev/null |
        sed -n "s/^presend_backoff_factor{group=\"$1\"} \\(.*\\)$/\\1/p"
}

# wait_backoff_factor GROUP VALUE [SECONDS]: until the gauge reads VALUE.
wait_backoff_factor() {
    wait_until "${3:-10}" eval '[ "$(backoff_factor '"$1"')" = '"$2"' ]' ||
        fail "presend_backoff_factor{group=\"$1\"} is '$(backoff_factor "$1")', expected $2"
    pass "presend_backoff_factor{group=\"$1\"} = $2"
}

# ---- fixtures ----------------------------------------------------------------------------------------------

# body_of FILE: the body (after the first empty line), CRs and trailing empty lines dropped: swaks ends DATA
# with an empty line of its own and smtp-sink ends each dump with another.
body_of() {
    sed -n '/^\r\{0,1\}$/,$p' "$1" | tr -d '\r' | awk '{ line[NR] = $0 } NF { last = NR } END { for (i = 1; i <= last; i++) print line[i] }'
}

# with_subject FILE SUBJECT: a copy of FILE under WORKDIR whose Subject is SUBJECT; prints its path.
with_subject() {
    local out
    out=$(mktemp "$IT_WORKDIR/sent/msg.XXXXXX")
    awk -v s="$2" '!done && /^Subject:/ { print "Subject: " s; done = 1; next } { print }' "$1" >"$out"
    echo "$out"
}

# ---- recipients at RCPT TO (suppression list, volume guard) ------------------------------------------------

# config_head MODE: the first lines of a test's presend.yaml: the mode, the decision log, no pattern cache and
# the metrics endpoint on METRICS_PORT.
config_head() {
    printf 'mode: %s\ndecision_log: %s\ncache_dir: ""\nmetrics: {listen: "127.0.0.1:%s"}\n' "$1" "$DECISIONS" "$METRICS_PORT"
}

# reload_ok: SIGHUP, then a new 'reload ok' line in the daemon's log.
reload_ok() {
    local before
    before=$(log_count "$PRESEND_LOG" 'reload ok')
    presend_reload
    wait_log "$PRESEND_LOG" 'reload ok' $((before + 1)) 20 || fail "no 'reload ok' after SIGHUP"
}

# The smtp-sink copy of the last message, found by its unique envelope sender; its recipients, one a line.
sink_file() { grep -lF "X-Mail-Args: <$LAST_FROM>" "$PF_SINK_DIR"/* 2>/dev/null | head -n 1 || true; }
sink_rcpts() { sed -n 's/^X-Rcpt-Args: <\(.*\)>.*/\1/p' "$(sink_file)" | sort | tr '\n' ' '; }
expect_sink_rcpts() {
    wait_until "$k_deliver_timeout" eval '[ -n "$(sink_file)" ] && grep -q "from=<$LAST_FROM>" "$PF_LOG" && pf_wait_settled 1' ||
        fail "message from $LAST_FROM was not delivered to smtp-sink"
    [ "$(sink_rcpts)" = "$1" ] || fail "smtp-sink got the message for '$(sink_rcpts)', expected '$1'"
    pass "delivered to the next hop for: $1"
}

# rcpt_reply ADDRESS: the server's reply to RCPT TO:<ADDRESS> in the last SMTP dialogue.
rcpt_reply() {
    awk -v rcpt="RCPT TO:<$1>" '$0 ~ /^ -> / { want = index($0, rcpt) > 0; next }
        want && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print; exit }' "$LAST_SWAKS_LOG"
}
expect_rcpt_reply() {
    local reply
    reply=$(rcpt_reply "$1")
    grep -qE -- "$2" <<<"$reply" || fail "RCPT TO:<$1> got '${reply:-no reply}', expected /$2/"
    pass "RCPT TO:<$1>: $reply"
}

# decision_item LIST INDEX KEY: KEY of item INDEX of LIST (suppressed, rate_limited...) in the last message's
# decision line; expect_item LIST INDEX KEY VALUE checks it.
decision_item() {
    decision_field - >/dev/null
    "$IT_PYTHON" -c 'import json, sys
rec = json.loads(sys.stdin.read())
items = rec.get(sys.argv[1], [])
print(items[int(sys.argv[2])][sys.argv[3]] if int(sys.argv[2]) < len(items) else "(none)")' "$@" <<<"$(decision_json -)"
}
expect_item() {
    local got
    got=$(decision_item "$1" "$2" "$3")
    [ "$got" = "$4" ] || fail "decision log: $1[$2].$3 is '$got', expected '$4' in: $(decision_json -)"
    pass "decision log: $1[$2].$3=$4"
}
