#!/usr/bin/env bash
# dry_run: shipped rules, --mode dry-run. The message without List-Unsubscribe, refused in enforce mode, is
# delivered untouched and logged with action accept and would_action reject.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
presend_start --rules "$SRC_DIR/rules" --mode dry-run --decision-log "$DECISIONS"

send_mail "$FIXTURES/missing_list_unsubscribe.eml"
expect_reply 250
expect_delivered
expect_decision mode dry-run
expect_decision action accept
expect_decision would_action reject
expect_hit list-unsubscribe-missing
! grep -qi '^X-Presend-' "$DELIVERED" || fail "dry-run changed the message: $(grep -i '^X-Presend-' "$DELIVERED")"
pass "delivered copy carries no X-Presend headers"

presend_stop
