#!/usr/bin/env bash
# actions: each verdict as Postfix applies it, with a rules dir written here (one rule per action, chosen by
# a word in the Subject): tempfail → 451 4.7.1; quarantine → hold queue; tag → X-Presend-Verdict and
# X-Presend-Hits in the delivered copy; discard → 250 and nothing delivered; accept → delivered unchanged.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
mkdir "$IT_WORKDIR/rules"
cat >"$IT_WORKDIR/rules/actions.yaml" <<'YAML'
rules:
  - id: test-tempfail
    description: defers mail whose subject says DEFERME
    header_matches: {name: Subject, regex: "DEFERME"}
    action: tempfail
    reply: "try again later"
  - id: test-quarantine
    description: holds mail whose subject says HOLDME
    header_matches: {name: Subject, regex: "HOLDME"}
    action: quarantine
    reply: "held for review"
  - id: test-tag
    description: marks mail whose subject says TAGME
    header_matches: {name: Subject, regex: "TAGME"}
    action: tag
  - id: test-discard
    description: drops mail whose subject says DROPME
    header_matches: {name: Subject, regex: "DROPME"}
    action: discard
  - id: test-accept
    description: passes mail whose subject says PASSME
    header_matches: {name: Subject, regex: "PASSME"}
    action: accept
YAML
presend_start --rules "$IT_WORKDIR/rules" --mode enforce --decision-log "$DECISIONS"
msg() { with_subject "$FIXTURES/compliant_bulk.eml" "$1 Acme Weekly"; }

send_mail "$(msg DEFERME)"
expect_reply 451 '^451 4\.7\.1 '
expect_not_delivered
expect_decision action tempfail

send_mail "$(msg HOLDME)"
expect_reply 250
pf_wait_hold 1 || fail "not in the hold queue: $(pf_queue_list)"
pass "message $LAST_QID is in the hold queue"
expect_not_delivered
expect_decision action quarantine

send_mail "$(msg TAGME)"
expect_reply 250
expect_delivered
grep -q '^X-Presend-Verdict: ' "$DELIVERED" || fail "no X-Presend-Verdict in $DELIVERED"
grep -q '^X-Presend-Hits: .*test-tag' "$DELIVERED" || fail "no X-Presend-Hits naming test-tag in $DELIVERED"
pass "tagged: $(grep '^X-Presend-' "$DELIVERED" | tr '\n' ' ')"
expect_decision action tag

send_mail "$(msg DROPME)"
expect_reply 250
expect_not_delivered
expect_decision action discard

send_mail "$(msg PASSME)"
expect_reply 250
expect_delivered
! grep -qi '^X-Presend-' "$DELIVERED" || fail "accepted message was changed: $(grep -i '^X-Presend-' "$DELIVERED")"
[ "$(body_of "$DELIVERED")" = "$(body_of "$FIXTURES/compliant_bulk.eml")" ] ||
    fail "accepted message body differs from what was sent"
pass "accepted message delivered unchanged"
expect_decision action accept
expect_hit test-accept

presend_stop
