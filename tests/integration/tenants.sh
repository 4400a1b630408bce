#!/usr/bin/env bash
# tenants: a tenant selected by client address (127.0.0.1, no SMTP AUTH) with an attestation key, shipped
# rules, enforce mode, through a real Postfix. A bulk message carrying a token signed with the tenant's key
# is delivered, without the header (attestation.strip); one without a token is refused 550 5.7.1 with the
# consent-missing reply; a forged token (signed with another key) with the consent-bad-signature reply. A
# transactional tenant selected by a platform header (stripped before relay) needs neither token nor
# List-Unsubscribe.
# The decision log names the tenant, the class and the attestation that let the message through. A reload
# whose key file has become readable by others fails, naming the file, and the old key stays in force.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"
keys=$IT_WORKDIR/keys
mkdir -m 0700 "$keys"
"$PRESEND_BIN" attest keygen --out "$keys/acme.key" >/dev/null || fail "presend attest keygen failed"
"$PRESEND_BIN" attest keygen --out "$keys/forger.key" >/dev/null || fail "presend attest keygen failed"
cat >"$IT_WORKDIR/presend.yaml" <<YAML
attestation: {strip: true}
tenants:
  - id: receipts
    selectors: {header: {name: X-Platform-Tenant, value: receipts-tx, strip_header: true}}
    class: transactional
  - id: acme
    selectors: {client_addr: [127.0.0.1, "::1"]}
    key_file: $keys/acme.key
    allowed_bases: [double-opt-in]
YAML
presend_start --config "$IT_WORKDIR/presend.yaml" --rules "$SRC_DIR/rules" --mode enforce \
    --decision-log "$DECISIONS"

# with_token KEY_FILE: compliant_bulk.eml with an X-Consent-Attestation header signed with KEY_FILE for
# tenant acme and its From domain; prints the copy's path.
with_token() {
    local out header
    out=$(mktemp "$IT_WORKDIR/sent/msg.XXXXXX")
    header=$("$PRESEND_BIN" attest sign --tenant acme --list weekly-2025 --basis double-opt-in --ttl 1h \
        --key-file "$1" --sender-domain example.com --header) || fail "presend attest sign failed"
    { printf '%s\n' "$header"; cat "$FIXTURES/compliant_bulk.eml"; } >"$out"
    echo "$out"
}

send_mail "$(with_token "$keys/acme.key")"
expect_reply 250
expect_delivered
expect_decision action accept
expect_decision tenant acme
expect_decision class bulk
expect_decision attestation '{"basis": "double-opt-in", "list": "weekly-2025", "tenant": "acme"}'
! grep -qi '^X-Consent-Attestation:' "$DELIVERED" || fail "the attestation header was relayed despite strip: true"
pass "attestation header stripped before relay"

send_mail "$FIXTURES/compliant_bulk.eml"
expect_reply 550 '^550 5\.7\.1 Bulk mail from this account must carry a consent attestation \(X-Consent-Attestation\)$'
expect_not_delivered
expect_decision action reject
expect_decision tenant acme
expect_hit consent-missing

send_mail "$(with_token "$keys/forger.key")"
expect_reply 550 '^550 5\.7\.1 The X-Consent-Attestation signature does not verify$'
expect_not_delivered
expect_hit consent-bad-signature

# A platform header selects the transactional tenant first: no List-Unsubscribe needed, no token, and the
# selector header does not leave.
receipt=$(mktemp "$IT_WORKDIR/sent/msg.XXXXXX")
{ echo "X-Platform-Tenant: receipts-tx"; cat "$FIXTURES/missing_list_unsubscribe.eml"; } >"$receipt"
send_mail "$receipt"
expect_reply 250
expect_delivered
expect_decision tenant receipts
expect_decision class transactional
! grep -qi '^X-Platform-Tenant:' "$DELIVERED" || fail "the tenant header was relayed despite strip_header: true"
pass "tenant selector header stripped before relay"

signed=$(with_token "$keys/acme.key") # signed before the key file is opened up: attest sign refuses it too
chmod 0644 "$keys/acme.key"
presend_reload
wait_log "$PRESEND_LOG" 'reload failed' 1 10 || fail "no 'reload failed' in presend.log after SIGHUP"
grep -m1 'reload failed' "$PRESEND_LOG" | grep -qF "tenant 'acme': key file $keys/acme.key: readable or writable by other users" ||
    fail "the reload error does not name the key file: $(grep -m1 'reload failed' "$PRESEND_LOG")"
pass "key file refused on reload: $(grep -m1 'reload failed' "$PRESEND_LOG")"
send_mail "$signed"
expect_reply 250
expect_delivered
pass "the old config, key included, stays in force"

presend_stop
pass "presend stopped cleanly on SIGTERM"

# The report breaks the messages down by class and by the basis of the attestation that let them through.
report=$("$PRESEND_BIN" report "$DECISIONS")
grep -qE '^ *double-opt-in +2 ' <<<"$report" || fail "presend report has no 'double-opt-in 2' row: $report"
grep -qE '^ *transactional +1 ' <<<"$report" || fail "presend report has no 'transactional 1' row: $report"
pass "report: messages by class and by attestation basis"
