#!/usr/bin/env bash
# oversize: a message over limits.max_message_bytes, through a real Postfix in enforce mode. It carries the
# `oversize` fact that rules may name (docs/rules.md): a rule `fact: oversize` with `action: quarantine`
# holds it in Postfix's hold queue, and the decision log notes `oversize` once. A message under the limit is
# delivered as before. Under the shipped rules, which require a footer in the body, the same compliant message
# past the limit is delivered (on_oversize: accept): its body was not read, so the footer rules are not
# judged, and the multipart its headers announce is not malformed for the parts no one read. Every wait is
# bounded.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
mkdir "$IT_WORKDIR/rules"
cat >"$IT_WORKDIR/rules/oversize.yaml" <<'YAML'
rules:
  - id: oversize-quarantine
    description: Messages too large to inspect are held for a person to look at.
    fact: oversize
    action: quarantine
YAML
cat >"$IT_WORKDIR/presend.yaml" <<EOF
mode: enforce
rules_dir: $IT_WORKDIR/rules
cache_dir: ""
decision_log: $DECISIONS
limits: {max_message_bytes: 64K}
EOF
presend_start --config "$IT_WORKDIR/presend.yaml"

send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 250
expect_delivered
expect_decision action accept

big=$IT_WORKDIR/sent/big.eml
{
    cat "$FIXTURES/compliant_bulk.eml"
    for _ in $(seq 2000); do echo "Padding line to push this message past the 64K limit of this test."; done
} >"$big"
send_mail "$big"
expect_reply 250
pf_wait_hold 1 || fail "the oversize message was not held: $(pf_queue_list)"
expect_not_delivered
expect_decision action quarantine
expect_hit oversize-quarantine
[ "$(decision_field notes | grep -cx oversize)" -eq 1 ] || fail "decision notes: $(decision_field notes)"
pass "oversize: the fact is set, the rule naming it held the message"
presend_stop

cat >"$IT_WORKDIR/shipped.yaml" <<EOF
mode: enforce
rules_dir: $SRC_DIR/rules
cache_dir: ""
decision_log: $DECISIONS
limits: {max_message_bytes: 64K}
EOF
presend_start --config "$IT_WORKDIR/shipped.yaml"
send_mail "$big"
expect_reply 250
expect_delivered
expect_decision action accept
hits=$(decision_field hits)
[ -z "$hits" ] || fail "the shipped rules judged the unread body of a compliant message: $(decision_json -)"
[ "$(decision_field notes | grep -cx oversize)" -eq 1 ] || fail "decision notes: $(decision_field notes)"
pass "oversize: a compliant message past the limit is delivered under the shipped rules, no footer rule judged"

presend_stop
