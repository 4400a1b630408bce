#!/usr/bin/env bash
# feedback_postfix: the whole loop with Postfix's own log. Mail for hotmail.com is routed to a loopback SMTP
# server that answers MAIL FROM with Microsoft's "451 4.7.650 ... temporarily rate limited due to IP
# reputation"; Postfix defers it and writes its usual deferral lines to its maillog_file, which presend
# follows. Three deferred messages put the microsoft group into back-off (presend_backoff_factor 0.5 in
# /metrics, a log line naming the signature); mail to other domains is still delivered. Every wait is
# bounded; the throttling server exits by itself after k_server_lifetime.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

k_server_lifetime=120 # seconds: longer than this test, so a failed run leaves nothing behind for long

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
command -v curl >/dev/null || skip "curl not installed (run contrib/bootstrap)"
read -r METRICS_PORT THROTTLE_PORT <<<"$(free_ports 2)"

# A receiving server that throttles every sender, as Outlook.com does to an IP of poor reputation.
timeout "$k_server_lifetime" "$IT_PYTHON" - "$THROTTLE_PORT" >"$IT_WORKDIR/throttler.log" 2>&1 <<'EOF' &
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(16)
def serve(conn):
    f = conn.makefile("rwb")
    def say(text):
        f.write(text.encode() + b"\r\n")
        f.flush()
    say("220 throttler.outlook.test ESMTP")
    for line in f:
        verb = line.decode(errors="replace").strip().split(" ")[0].upper()
        if verb in ("EHLO", "HELO"):
            say("250 throttler.outlook.test")
        elif verb == "MAIL":
            say("451 4.7.650 The mail server [127.0.0.1] has been temporarily rate limited due to IP "
                "reputation. For e-mail delivery information, see https://postmaster.live.com (S775)")
        elif verb == "QUIT":
            say("221 2.0.0 Bye")
            break
        else:
            say("503 5.5.1 Bad sequence of commands")
    conn.close()
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
EOF
THROTTLER_PID=$!
wait_until "$k_start_timeout" port_listening "$THROTTLE_PORT" || fail "the throttling server did not listen"

postconf -c "$PF_CONF" -e "transport_maps = inline:{hotmail.com=smtp:[127.0.0.1]:$THROTTLE_PORT}"
postfix -c "$PF_CONF" reload >/dev/null 2>&1 || fail "postfix reload failed"

feedback_start "$PF_LOG" "$METRICS_PORT" "  threshold: 3
  window: 5m"

for n in 1 2 3; do
    SEND_TO=user$n@hotmail.com send_mail "$FIXTURES/compliant_bulk.eml"
    expect_reply 250
done
wait_log "$PF_LOG" 'to=<user[0-9]@hotmail.com>.*dsn=4\.7\.650, status=deferred' 3 30 ||
    fail "Postfix did not log three throttled deferrals"
pass "Postfix deferred the hotmail.com mail with the throttling reply"

wait_backoff_factor microsoft 0.5
wait_log "$PRESEND_LOG" 'back-off: microsoft enters back-off: factor 1 → 0.5 \(3 throttle events, signature microsoft-ip-reputation' 1 5 ||
    fail "no log line for microsoft entering back-off"
[ "$(backoff_factor google)" = 1 ] || fail "google backs off too: $(backoff_factor google)"
pass "Postfix's own deferral lines put microsoft into back-off"

send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
expect_delivered

presend_stop
kill "$THROTTLER_PID" 2>/dev/null || true
wait "$THROTTLER_PID" 2>/dev/null || true
