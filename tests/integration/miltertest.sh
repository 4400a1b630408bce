#!/usr/bin/env bash
# miltertest: the milter protocol alone, no Postfix, driven by Debian's miltertest and the Lua scripts in
# miltertest/. Shipped rules in enforce: compliant → ACCEPT/CONTINUE, missing List-Unsubscribe → REPLYCODE;
# in dry-run the latter is accepted. A rules dir written here pins the exact 550 5.7.1 reply and the tag headers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

it_setup "$(mktemp -d "${TMPDIR:-/tmp}/presend-it.XXXXXX")"

# mt SCRIPT EML [NAME=VALUE...]: one miltertest run against the running presend.
mt() {
    local script=$1 eml=$2 out=$IT_WORKDIR/miltertest.out
    shift 2
    local defs=(-D "SOCKET=inet:$PF_MILTER_PORT@127.0.0.1" -D "LUA_DIR=$IT_DIR/miltertest" -D "EML=$eml")
    local d
    for d in "$@"; do defs+=(-D "$d"); done
    if timeout 60 miltertest "${defs[@]}" -s "$IT_DIR/miltertest/$script" >"$out" 2>&1; then
        pass "$script $(basename "$eml") $*: $(tail -n 1 "$out")"
    else
        cat "$out" >&2
        fail "$script $(basename "$eml") $*"
    fi
}

presend_start --rules "$SRC_DIR/rules" --mode enforce --decision-log "$DECISIONS"
mt accept.lua "$FIXTURES/compliant_bulk.eml"
mt reject.lua "$FIXTURES/missing_list_unsubscribe.eml"
presend_stop

presend_start --rules "$SRC_DIR/rules" --mode dry-run --decision-log "$DECISIONS"
mt accept.lua "$FIXTURES/missing_list_unsubscribe.eml"
presend_stop

mkdir "$IT_WORKDIR/rules"
cat >"$IT_WORKDIR/rules/mt.yaml" <<'YAML'
rules:
  - id: mt-unsubscribe
    description: refuses bulk mail without List-Unsubscribe
    header_absent: List-Unsubscribe
    action: reject
    reply: "List-Unsubscribe header required"
  - id: mt-tag
    description: marks mail whose subject says TAGME
    header_matches: {name: Subject, regex: "TAGME"}
    action: tag
YAML
presend_start --rules "$IT_WORKDIR/rules" --mode enforce --decision-log "$DECISIONS"
mt reject.lua "$FIXTURES/missing_list_unsubscribe.eml" "REPLY=List-Unsubscribe header required"
mt tag.lua "$FIXTURES/compliant_bulk.eml" "SUBJECT=TAGME Acme Weekly" RULE=mt-tag
presend_stop
