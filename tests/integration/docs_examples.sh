#!/usr/bin/env bash
# docs_examples: every rules file shown in docs/rules.md (a ```yaml block starting with rules: or
# policy:) is copied into its own directory and must pass `presend lint` and `presend test`, so the
# reference never shows an example that does not work. A ```text block whose first line is
# "# NAME: ..." is a file the examples may name (a phrase list). No root, no Postfix.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/presend-docs.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$IT_PYTHON" - "$SRC_DIR/docs/rules.md" "$work" <<'EOF'
import os, re, sys
doc, out = sys.argv[1], sys.argv[2]
blocks = re.findall(r"^```(\w+)\n(.*?)^```", open(doc, encoding="utf-8").read(), re.S | re.M)
files = {}
for lang, body in blocks:
    first = body.split("\n", 1)[0]
    m = re.match(r"# ([\w.-]+): ", first)
    if lang == "text" and m:
        files[m.group(1)] = body
n = 0
for lang, body in blocks:
    if lang != "yaml" or not re.match(r"(rules|policy):", body):
        continue
    n += 1
    d = os.path.join(out, "example%02d" % n)
    os.makedirs(d)
    open(os.path.join(d, "rules.yaml"), "w", encoding="utf-8").write(body)
    for name, text in files.items():
        if name in body:
            open(os.path.join(d, name), "w", encoding="utf-8").write(text)

EOF
count=$(find "$work" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$count" -ge 10 ] || fail "found only $count rules examples in docs/rules.md"
for dir in "$work"/example*; do
    "$PRESEND_BIN" lint --rules "$dir" >"$dir/lint.out" 2>&1 ||
        fail "docs/rules.md example $(basename "$dir"): lint failed: $(cat "$dir/lint.out")$(printf '\n')$(cat "$dir/rules.yaml")"
    ! grep -q ": warning: " "$dir/lint.out" ||
        fail "docs/rules.md example $(basename "$dir"): lint warns: $(cat "$dir/lint.out")"
    "$PRESEND_BIN" test --rules "$dir" >"$dir/test.out" 2>&1 ||
        fail "docs/rules.md example $(basename "$dir"): test failed: $(cat "$dir/test.out")$(printf '\n')$(cat "$dir/rules.yaml")"
done
pass "$count rules files from docs/rules.md pass lint (no warnings) and test"
