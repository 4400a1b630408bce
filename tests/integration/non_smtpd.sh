#!/usr/bin/env bash
# non_smtpd: mail submitted with Postfix's sendmail (pickup → cleanup → non_smtpd_milters) is inspected too:
# a compliant message is delivered and has its decision-log line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
presend_start --rules "$SRC_DIR/rules" --mode enforce --decision-log "$DECISIONS"

send_local "$FIXTURES/compliant_bulk.eml"
expect_delivered
expect_decision action accept
qid=$(decision_field queue_id)
grep -q "$qid: uid=" "$PF_LOG" || fail "decision-log queue_id '$qid' is not the queue id of a sendmail submission"
pass "decision-log line for sendmail submission $qid"

presend_stop
