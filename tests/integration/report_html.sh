#!/usr/bin/env bash
# report_html: `presend report --format html` over the two-day fixture log (gzip'd, rotated and current
# files), opened offline by headless Chromium: the rendered page has its title, the totals, every rule id
# and both SVG charts, and a screenshot of it is drawn. Also the command line around it: stdin, --since and
# --until, and exit 2 for a missing file or a bad --since. Needs no Postfix. IT_KEEP=1 keeps the work dir
# (report.html, dom.html, report.png).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

k_browser_timeout=60 # seconds for one headless Chromium run; a cold start takes a few

[ -x "$PRESEND_BIN" ] || fail "no presend binary at $PRESEND_BIN (build first)"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || skip "chromium not installed (run contrib/bootstrap)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/presend-report.XXXXXX")
cleanup() {
    if [ "${IT_KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

D=$FIXTURES/decisions
LOGS=("$D/decisions.jsonl.2.gz" "$D/decisions.jsonl.1" "$D/decisions.jsonl")

# ---- the page ------------------------------------------------------------------------------------------

"$PRESEND_BIN" report --format html --output "$WORK/report.html" "${LOGS[@]}" 2>"$WORK/stderr" ||
    fail "presend report --format html failed: $(cat "$WORK/stderr")"
grep -q '4 malformed lines skipped; first at .*decisions.jsonl.1:3' "$WORK/stderr" ||
    fail "no malformed-lines warning on stderr: $(cat "$WORK/stderr")"
pass "HTML report written, malformed lines reported on stderr"

browser() {
    local profile
    profile=$(mktemp -d "$WORK/profile.XXXXXX")
    timeout "$k_browser_timeout" "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$profile" \
        "$@" 2>>"$WORK/chromium.log"
}

browser --dump-dom "file://$WORK/report.html" >"$WORK/dom.html" || fail "chromium --dump-dom failed: $(tail -5 "$WORK/chromium.log")"
dom=$WORK/dom.html
expect_dom() {
    grep -qE "$1" "$dom" || fail "rendered page lacks $2 (pattern: $1)"
}
expect_dom '<title>presend report: 2026-11-26 to 2026-11-27</title>' "the title"
expect_dom 'id="total-messages"><span class="n">29</span>' "29 messages in the totals"
expect_dom 'id="total-would-block"><span class="n">15</span><span class="l">would block \(51.7%\)' "15 would block"
expect_dom 'id="total-malformed"><span class="n">4</span>' "4 malformed lines"
expect_dom '<svg[^>]*id="verdict-chart"' "the verdict chart"
expect_dom '<svg[^>]*id="timeline-chart"' "the timeline chart"
for rule in list-unsubscribe-missing list-unsubscribe-post-missing url-shortener spam-phrases message-id-missing \
    known-spam-trap trial-link-domain from-no-display-name subject-shouting; do
    expect_dom "<code>$rule</code>" "rule $rule"
done
expect_dom '&lt;promo&amp;"deal"@globex.example&gt;' "the escaped Message-ID"
bars=$(grep -o '<rect class="block"' "$dom" | wc -l)
[ "$bars" -eq 13 ] || fail "timeline has $bars would-block bars, expected 13 (one per hour with blocks)"
! grep -q '<script' "$dom" || fail "the page carries a script"
pass "rendered page: title, totals, 9 rule ids, verdict and timeline charts (13 hours with would-block bars)"

png=$WORK/report.png
browser --screenshot="$png" --window-size=1280,2000 "file://$WORK/report.html" >/dev/null ||
    fail "chromium --screenshot failed: $(tail -5 "$WORK/chromium.log")"
[ -s "$png" ] || fail "no screenshot written"
size=$(stat -c %s "$png")
[ "$size" -gt 30000 ] || fail "screenshot is only $size bytes: a blank page?"
dims=$("$IT_PYTHON" -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); assert d[:8]==b"\x89PNG\r\n\x1a\n"; print("%dx%d" % struct.unpack(">II", d[16:24]))' "$png") ||
    fail "screenshot is not a PNG"
[ "$dims" = 1280x2000 ] || fail "screenshot is $dims, expected 1280x2000"
if [ -n "${REPORT_SCREENSHOT:-}" ]; then cp "$png" "$REPORT_SCREENSHOT"; fi
pass "screenshot $dims, $size bytes"

# ---- the command line around it --------------------------------------------------------------------------

json_field() { "$IT_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["lines"][sys.argv[1]])' "$1"; }

n=$("$PRESEND_BIN" report --format json - <"$D/decisions.jsonl" 2>/dev/null | json_field messages)
[ "$n" = 7 ] || fail "stdin: $n messages, expected 7"
n=$(zcat "$D/decisions.jsonl.2.gz" | "$PRESEND_BIN" report --format json - | json_field messages)
[ "$n" = 14 ] || fail "stdin from zcat: $n messages, expected 14"
pass "reads standard input"

n=$("$PRESEND_BIN" report --format json --since 2026-11-27 --until 2026-11-27T12:00:00Z "${LOGS[@]}" 2>/dev/null |
    json_field messages)
[ "$n" = 8 ] || fail "--since/--until: $n messages, expected 8"
pass "--since 2026-11-27 --until 2026-11-27T12:00:00Z counts the 8 messages of that morning"

rc=0
"$PRESEND_BIN" report "$WORK/absent.jsonl" >/dev/null 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] || fail "missing file: exit $rc, expected 2"
grep -q "cannot read $WORK/absent.jsonl: No such file or directory" "$WORK/err" || fail "missing file: $(cat "$WORK/err")"
rc=0
"$PRESEND_BIN" report --since yesterday "${LOGS[@]}" >/dev/null 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] || fail "bad --since: exit $rc, expected 2"
grep -q "\-\-since 'yesterday' is not a time" "$WORK/err" || fail "bad --since: $(cat "$WORK/err")"
pass "exit 2 with a clear message for a missing file and for a bad --since"
