#!/usr/bin/env bash
# suppress_cli.sh: `presend suppress` end to end, through the real executable: add, check (exit 0/1), list as
# JSON, Postfix-log and CSV imports (idempotent; bad lines named by number; exit 1), remove, --config, and a
# store that is down (exit 2, fast). Against a temporary SQLite file, then against a private redis-server on a
# free loopback port when one is installed. Needs no Postfix and no root.
# shellcheck shell=bash
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -x "$PRESEND_BIN" ] || fail "PRESEND_BIN=$PRESEND_BIN is not executable (build presend first)"
W=$(mktemp -d /tmp/presend-suppress-cli.XXXXXX)
cleanup() {
    local rc=$?
    set +e
    redis_stop
    rm -rf "$W"
    exit "$rc"
}
trap cleanup EXIT
LOGS=$FIXTURES/postfix

# expect RC CMD...: presend suppress CMD..., output in $OUT, exiting RC (cli_expect in lib.sh).
expect() {
    local want=$1
    shift
    cli_expect "$want" suppress "$@"
}
contains() { out_contains "$1"; }

run_suite() {
    local store=$1
    expect 0 add --store "$store" --reason complaint --source "yahoo fbl" John.Doe@Example.COM
    contains "added john.doe@example.com (complaint, global)"
    expect 0 add --store "$store" --tenant shop-42 --reason unsubscribe --expires 30d @old-partner.example
    contains "added every address at old-partner.example (unsubscribe, tenant shop-42)"

    expect 1 check --store "$store" '<JOHN.DOE@example.com>'
    contains 'suppressed: john.doe@example.com: complaint (address entry, global'
    contains 'source "yahoo fbl"'
    expect 0 check --store "$store" jane@example.com
    contains "jane@example.com: not suppressed"
    expect 0 check --store "$store" anyone@old-partner.example
    expect 1 check --store "$store" --tenant shop-42 anyone@old-partner.example
    contains "domain old-partner.example: unsubscribe (domain entry, tenant shop-42"
    pass "$store: add and check"

    expect 0 import --store "$store" --format postfix-log "$LOGS/postlog.log"
    contains "29 lines, 5 entries: added 4, updated 1, skipped 0"
    contains "1 policy bounces (5.7.x) left out, 1 bounced non-delivery notices left out, 0 bad"
    expect 0 import --store "$store" --format postfix-log "$LOGS/postlog.log"
    contains "added 0, updated 0, skipped 5 (already present)"
    expect 1 import --store "$store" --format postfix-log "$LOGS/malformed.log"
    contains "malformed.log:2: status=bounced without a dsn"
    contains "malformed.log:3: to=<not an address> is not an address"
    contains "2 entries: added 2"
    expect 1 check --store "$store" gone.user@gmail.com
    contains "hard_bounce (address entry, global"
    pass "$store: Postfix log import, idempotent, bad lines reported"

    printf 'address,reason,source,expires,scope\nlist1@example.com,unsubscribe,esp export,,\n@closed.example,manual,"legal, 4411",,\nnot an address,manual,,,\n' >"$W/list.csv"
    expect 1 import --store "$store" --format csv "$W/list.csv"
    contains "list.csv:4: 'not an address' is not an address or domain"
    contains "added 2"
    expect 1 import --store "$store" --format csv "$W/list.csv"
    contains "added 0, updated 0, skipped 2"
    expect 0 import --store "$store" --format postfix-log --dry-run - <"$LOGS/syslog-rfc3339.log"
    contains "-: 8 lines, 2 entries (dry run, nothing written)"
    pass "$store: CSV import, idempotent"

    expect 0 list --store "$store" --format json --limit 0
    local n
    n=$(grep -c '^{' <<<"$OUT")
    [ "$n" -eq 10 ] || fail "list --format json: $n entries, expected 10:
$OUT"
    "$IT_PYTHON" -c 'import json, sys
for line in sys.stdin: json.loads(line)' <<<"$OUT" || fail "list --format json: not one JSON object per line"
    expect 0 list --store "$store" --tenant shop-42
    contains "@old-partner.example"
    pass "$store: list"

    expect 0 remove --store "$store" john.doe@example.com
    expect 1 remove --store "$store" john.doe@example.com
    contains "not found: john.doe@example.com (global)"
    expect 0 check --store "$store" john.doe@example.com
    pass "$store: remove"
}

run_suite "sqlite:$W/suppression.db"

# --config reads the store from the suppression: section, relative to the file.
printf 'mode: enforce\nsuppression:\n  backend: sqlite\n  path: other.db\n' >"$W/presend.yaml"
expect 0 add --config "$W/presend.yaml" cfg@example.com
[ -s "$W/other.db" ] || fail "--config: $W/other.db not written"
printf 'suppression:\n  bakend: sqlite\n' >"$W/bad.yaml"
expect 2 check --config "$W/bad.yaml" x@example.com
contains "bad.yaml:2:3: unknown key 'bakend' (did you mean 'backend'?)"
pass "--config"

# A store that is down: exit 2 at once, naming it.
read -r DEAD_PORT <<<"$(free_ports 1)"
start=$SECONDS
expect 2 check --store "redis://127.0.0.1:$DEAD_PORT" x@example.com
contains "redis 127.0.0.1:$DEAD_PORT"
[ $((SECONDS - start)) -le 2 ] || fail "a dead Redis took $((SECONDS - start)) s to report"
expect 2 check --store "mysql://x" x@example.com
contains "expected sqlite:PATH or redis://HOST[:PORT][/DB]"
pass "store errors exit 2"

if ! command -v redis-server >/dev/null; then
    echo "redis-server not installed: Redis part skipped"
    exit 0
fi
read -r REDIS_PORT <<<"$(free_ports 1)"
REDIS_DIR=$W redis_start "$REDIS_PORT"
redis_up() { [ "$(timeout 2 redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
wait_until 10 redis_up || fail "redis-server did not answer on $REDIS_PORT"
run_suite "redis://127.0.0.1:$REDIS_PORT/0"
