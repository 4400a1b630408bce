#!/usr/bin/env bash
# secrets: no secret presend holds reaches a log, the decision log, /metrics or a command's error output,
# even at log.level debug. Against a private redis-server with requirepass: a wrong password in
# redis.password_file makes recipients wait (451 4.3.0) and the error say so without quoting either password;
# the right one lets the suppression list answer (550). `presend suppress` with the wrong password fails
# (exit 2) without printing it. A tenant's attestation key signs a token that is accepted, a forged one is
# refused, and neither the key nor the token's signature is written anywhere.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pf_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"

RIGHT=Rp-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
WRONG=Wp-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
REDIS_PORT=$(free_ports 1)
METRICS_PORT=$(free_ports 1)
redis_start "$REDIS_PORT" --requirepass "$RIGHT"

keys=$IT_WORKDIR/keys
mkdir -m 0700 "$keys"
"$PRESEND_BIN" attest keygen --out "$keys/acme.key" >/dev/null || fail "presend attest keygen failed"
"$PRESEND_BIN" attest keygen --out "$keys/forger.key" >/dev/null || fail "presend attest keygen failed"
umask 077
printf '%s\n' "$WRONG" >"$keys/redis.pass"
CONF=$IT_WORKDIR/presend.yaml
cat >"$CONF" <<YAML
mode: enforce
log: {level: debug}
decision_log: $DECISIONS
cache_dir: ""
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
suppression:
  backend: redis
  redis: {host: 127.0.0.1, port: $REDIS_PORT, timeout_ms: 500, password_file: $keys/redis.pass}
  on_error: tempfail
tenants:
  - id: acme
    selectors: {client_addr: [127.0.0.1, "::1"]}
    key_file: $keys/acme.key
YAML

# no_secret WHAT TEXT: none of the secrets (both passwords, each key file's contents, each signature sent)
# appears in TEXT.
no_secret() {
    local secret signatures
    mapfile -t signatures <"$SIGNATURES"
    for secret in "$RIGHT" "$WRONG" "$(sed 's/^base64://' "$keys/acme.key")" "$(sed 's/^base64://' "$keys/forger.key")" \
        "${signatures[@]}"; do
        [ -n "$secret" ] || continue
        ! grep -qF -- "$secret" <<<"$2" || fail "$1 contains a secret: ${secret:0:6}..."
    done
    pass "$1: no password, key or signature"
}
SIGNATURES=$IT_WORKDIR/signatures
: >"$SIGNATURES"

# with_token KEY_FILE: compliant_bulk.eml with a token for tenant acme signed with KEY_FILE; its signature
# (the sig= field) is added to the file SIGNATURES, as a secret (this runs in a subshell).
with_token() {
    local out header
    out=$(mktemp "$IT_WORKDIR/sent/msg.XXXXXX")
    header=$("$PRESEND_BIN" attest sign --tenant acme --list weekly --basis double-opt-in --ttl 1h \
        --key-file "$1" --sender-domain example.com --header) || fail "presend attest sign failed"
    sed -n 's/.*sig=\([A-Za-z0-9_-]*\).*/\1/p' <<<"$header" >>"$SIGNATURES"
    { printf '%s\n' "$header"; cat "$FIXTURES/compliant_bulk.eml"; } >"$out"
    echo "$out"
}

# ---- a wrong Redis password ----------------------------------------------------------------------------------
presend_start --config "$CONF"
SEND_TO=gone@example.net send_mail "$(with_token "$keys/acme.key")"
expect_reply 451 '^451 4\.3\.0 '
wait_log "$PRESEND_LOG" 'redis' 1 10 || fail "no Redis error in the log"
grep -qiE 'WRONGPASS|invalid (username-)?password|auth' "$PRESEND_LOG" ||
    fail "the log does not say that Redis refused the password: $(grep -i redis "$PRESEND_LOG" | tail -n 3)"
pass "the log says Redis refused the password"
err=$("$PRESEND_BIN" suppress add --config "$CONF" --reason complaint gone@example.net 2>&1) && rc=0 || rc=$?
[ "$rc" -eq 2 ] || fail "presend suppress add with a wrong password exited $rc, expected 2: $err"
no_secret "presend suppress add's error" "$err"
pass "presend suppress add with a wrong password: exit 2"

# ---- the right one -------------------------------------------------------------------------------------------
presend_stop
printf '%s\n' "$RIGHT" >"$keys/redis.pass"
"$PRESEND_BIN" suppress add --config "$CONF" --reason complaint gone@example.net >/dev/null ||
    fail "presend suppress add with the right password failed"
presend_start --config "$CONF"
SEND_TO=gone@example.net send_mail "$(with_token "$keys/acme.key")"
expect_reply 550 '^550 5\.7\.1 <gone@example.net>: recipient suppressed'
send_mail "$(with_token "$keys/acme.key")"
expect_reply 250
expect_delivered
expect_decision tenant acme
send_mail "$(with_token "$keys/forger.key")"
expect_reply 550 'signature does not verify'
metrics=$(curl -sS --fail --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics") || fail "GET /metrics failed"
presend_stop

[ "$(grep -c . "$SIGNATURES")" -eq 4 ] || fail "could not read the tokens' signatures: $(cat "$SIGNATURES")"
no_secret "the daemon's log (level debug, $(wc -l <"$PRESEND_LOG") lines)" "$(cat "$PRESEND_LOG")"
no_secret "the decision log" "$(cat "$DECISIONS")"
no_secret "/metrics" "$metrics"
no_secret "presend report" "$("$PRESEND_BIN" report --format json "$DECISIONS")"
