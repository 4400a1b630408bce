#!/usr/bin/env bash
# cli_inputs.sh: the offline commands on the inputs users get wrong or push to the edge, through the real
# executable: each ends in a defined verdict or a message naming what is wrong, with the documented exit
# status. Needs no Postfix and no root.
# shellcheck shell=bash
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -x "$PRESEND_BIN" ] || fail "PRESEND_BIN=$PRESEND_BIN is not executable (build presend first)"
W=$(mktemp -d /tmp/presend-cli-inputs.XXXXXX)
trap 'rm -rf "$W"' EXIT

# A message over limits.max_message_bytes: check judges its headers only and gives it the fact oversize,
# as the daemon does, instead of reading it whole.
printf 'limits: {max_message_bytes: 64K}\n' >"$W/small.yaml"
mkdir "$W/rules"
cat >"$W/rules/r.yaml" <<'YAML'
rules:
  - id: oversize-hold
    description: Messages too large to inspect are held for a person to look at.
    fact: oversize
    action: quarantine
  - id: body-phrase
    description: A phrase only the body carries.
    phrases: ["act now"]
    score: 1
YAML
{
    printf 'From: "Shop" <news@shop.example>\nSubject: big\n\nact now\n'
    head -c 200000 /dev/zero | tr '\0' x | fold -w 900
} >"$W/big.eml"
cli_expect 0 check --config "$W/small.yaml" --rules "$W/rules" "$W/big.eml"
out_contains "big.eml: quarantine"
out_contains "note: oversize"
grep -q body-phrase <<<"$OUT" && fail "an oversize message's body was judged: $OUT"
cli_expect 0 check --rules "$W/rules" "$W/big.eml"
out_contains "big.eml: accept"
out_contains "body-phrase"
pass "check: past max_message_bytes the headers only, with the fact oversize"

# limits.max_headers raised past the assembler's own 10,000: check keeps the headers the daemon keeps, so a
# message of 11,000 header fields is judged whole (its body phrase found), not cut to oversize.
printf 'limits: {max_message_bytes: 300K, max_headers: 12000}
' >"$W/many-headers.yaml"
{
    printf 'From: "Shop" <news@shop.example>
Subject: many
'
    for i in $(seq 11000); do printf 'X-Trace-%05d: %s
' "$i" "$i"; done
    printf '
act now
'
} >"$W/many-headers.eml"
cli_expect 0 check --config "$W/many-headers.yaml" --rules "$W/rules" "$W/many-headers.eml"
out_contains "body-phrase"
grep -q 'oversize' <<<"$OUT" && fail "a message under max_headers was cut as oversize: $OUT"
pass "check: a raised max_headers keeps every header, as the daemon does"

# A message on standard input, as report and suppress import read theirs; an empty one still gets a verdict.
printf 'From: "Shop" <news@shop.example>\nSubject: hi\n\nact now\n' >"$W/small.eml"
cli_expect 0 check --rules "$W/rules" - <"$W/small.eml"
out_contains "-: accept (score 1.0)"
cli_expect 0 check --rules "$W/rules" - </dev/null
out_contains "-: accept"
cli_expect 2 check /nonexistent.eml
out_contains "File does not exist: /nonexistent.eml"
pass "check: - reads standard input"

# A mistyped command is named, with the closest one, not answered with "A subcommand is required".
cli_expect 2 chek "$W/big.eml"
out_contains "unknown command 'chek' (did you mean 'check'?)"
cli_expect 2 --rules "$W/rules" lint
out_contains "unknown option '--rules' before the command"
pass "an unknown command or option is named"

# A directory where a file is expected is named as such, never read as an empty file or with the C++
# library's words.
cli_expect 2 feedback replay "$W"
out_contains "is actually a directory"
cli_expect 2 rates --config "$W"
out_contains "is a directory, not a config file"
pass "a directory given for a file is refused"

# bench: the corpus may follow --phrases (one argument, split at commas); a rules directory without
# examples/ and no corpus given is said, not a filesystem exception.
cli_expect 0 bench --rules "$W/rules" --iterations 1 --phrases 1,2 --json "$W/small.eml"
[ "$(grep -c '"phrases":' <<<"$OUT")" -eq 3 ] || fail "expected runs with 0, 1 and 2 phrases: $OUT"
cli_expect 2 bench --rules "$W/rules" --iterations 1
out_contains "no messages given and no $W/rules/examples to take them from"
pass "bench: corpus after --phrases; no corpus at all"

# Exit status, as the --help footers and docs/rules.md give it: a broken rule file is lint's 1 and the
# 2 of the commands that need the rules to work.
mkdir "$W/broken"
printf 'rules:\n  - id: a\n    description: x\n    header_absent: Date\n    score: 1\n    score: 2\n' >"$W/broken/r.yaml"
cli_expect 1 lint --rules "$W/broken"
out_contains "r.yaml:6:5: rule 'a': key 'score' given twice (first at line 5)"
cli_expect 2 test --rules "$W/broken"
out_contains "r.yaml:6:5: rule 'a': key 'score' given twice"
cli_expect 2 check --rules "$W/broken" "$W/small.eml"
out_contains "r.yaml:6:5: rule 'a': key 'score' given twice"
for command in lint test check; do
    cli_expect 0 "$command" --help
    out_contains "Exit status: 0"
done
pass "exit status of lint, test and check on a broken rule file, and in their --help"

# serve: a unix socket in a directory that does not exist is a usage error, before anything starts.
cli_expect 2 serve --socket "unix:$W/missing/presend.sock"
out_contains "--socket: no directory $W/missing for the socket"
pass "serve: a unix socket's missing directory is named"

# JSON output of bytes that are not UTF-8 (a file name, a source imported from a Latin-1 CSV): U+FFFD
# stands in, as in the decision log, instead of a JSON library exception and exit 2.
cp "$W/small.eml" "$W/caf$(printf '\351').eml"
cli_expect 0 check --rules "$W/rules" --format json "$W/caf$(printf '\351').eml"
out_contains "caf"$'\xef\xbf\xbd'".eml"
cli_expect 0 suppress add --store "sqlite:$W/s.db" --source "caf$(printf '\351')" x@shop.example
cli_expect 0 suppress list --store "sqlite:$W/s.db" --format json
out_contains '"source":"caf'$'\xef\xbf\xbd''"'
cli_expect 1 suppress check --store "sqlite:$W/s.db" --format json x@shop.example
out_contains '"source":"caf'$'\xef\xbf\xbd''"'
pass "JSON output of bytes that are not UTF-8"
