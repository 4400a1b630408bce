#!/usr/bin/env bash
# milter_down: with presend not running, Postfix's milter_default_action = tempfail makes the client retry
# later: it gets a 4xx, Postfix never takes responsibility for the message, nothing reaches the next hop.
# Needs no presend binary.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"

send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 4 '4\.7\.1'
[ -z "$LAST_QID" ] || fail "Postfix queued the message as $LAST_QID although the milter is down"
[ "$LAST_SWAKS_RC" -ne 0 ] || fail "swaks reported success although the milter is down"
expect_not_delivered
[ "$(pf_queue_count)" -eq 0 ] || fail "Postfix holds mail although it refused it: $(pf_queue_list)"
pass "queue empty; the client keeps the message"
grep -q 'milter.*Connection refused\|Milter service' "$PF_LOG" || fail "maillog does not mention the unreachable milter"
pass "maillog names the unreachable milter"
