#!/usr/bin/env bash
# enforce_verdicts: shipped rules, --mode enforce, through a real Postfix. A compliant bulk message reaches
# the next hop; one without List-Unsubscribe is refused at end of DATA with 550 5.7.1, never delivered, and
# logged with action reject and the rule that fired.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
presend_start --rules "$SRC_DIR/rules" --mode enforce --decision-log "$DECISIONS"

send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
expect_delivered
expect_decision action accept
expect_decision mode enforce
expect_decision queue_id "$LAST_QID"

send_mail "$FIXTURES/missing_list_unsubscribe.eml"
expect_reply 550 '^550 5\.7\.1 '
expect_not_delivered
expect_decision action reject
expect_decision would_action reject
expect_hit list-unsubscribe-missing

presend_stop
pass "presend stopped cleanly on SIGTERM"
