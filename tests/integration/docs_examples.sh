#!/usr/bin/env bash
# docs_examples: every rules file shown in docs/rules.md and the README (a ```yaml block starting with
# rules: or policy:) is copied into its own directory and must pass `presend lint` and `presend test`, so the
# reference never shows an example that does not work. A ```text block whose first line is
# "# NAME: ..." is a file the examples may name (a phrase list); `examples/` is the shipped rules' one.
# Every other ```yaml block of docs/*.md is a piece of presend.yaml (Prometheus alert rules, starting with
# groups:, aside) and must pass `presend lint --config`, its key files made with `presend attest keygen`; so
# must contrib/presend.yaml as shipped and with every section it leaves commented out switched on.
# The transcripts of lint and test over the shipped rules in docs/rules.md must be what the commands print.
# No root, no Postfix.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/presend-docs.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$IT_PYTHON" - "$SRC_DIR" "$work" <<'EOF'
import glob, os, re, sys
src, out = sys.argv[1], sys.argv[2]
def blocks(path):
    return re.findall(r"^```(\w+)\n(.*?)^```", open(path, encoding="utf-8").read(), re.S | re.M)
def write(d, name, text):
    open(os.path.join(d, name), "w", encoding="utf-8").write(text)
files = {}
for lang, body in blocks(os.path.join(src, "docs/rules.md")):
    m = re.match(r"# ([\w.-]+): ", body.split("\n", 1)[0])
    if lang == "text" and m:
        files[m.group(1)] = body
n = {"example": 0, "config": 0}
def secrets_here(text):
    # Key files are made by the test, in a directory of its own.
    return text.replace("/etc/presend/keys/", os.path.join(out, "keys") + "/")
shipped = open(os.path.join(src, "contrib/presend.yaml"), encoding="utf-8").read()
on, lines = False, []
for line in shipped.split("\n"):
    if line == "tenants: []":
        continue  # the commented tenants: below replace it
    if re.match(r"# (metrics|suppression|rates|tenants|feedback):\s*$", line):
        on = True
    elif not (on and line.startswith("#   ")):
        on = False
    lines.append(line[2:] if on else line)
for text in (shipped, "\n".join(lines)):
    n["config"] += 1
    d = os.path.join(out, "config%02d" % n["config"])
    os.makedirs(d)
    write(d, "from", "contrib/presend.yaml")
    write(d, "presend.yaml", secrets_here(text))
for doc in [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs/*.md"))):
    for lang, body in blocks(doc):
        if lang != "yaml" or body.startswith("groups:"):
            continue
        kind = "example" if re.match(r"(rules|policy):", body) else "config"
        n[kind] += 1
        d = os.path.join(out, "%s%02d" % (kind, n[kind]))
        os.makedirs(d)
        write(d, "from", os.path.relpath(doc, src))
        if kind == "config":
            write(d, "presend.yaml", secrets_here(body))
            continue
        write(d, "rules.yaml", body)
        if "examples/" in body:
            os.symlink(os.path.join(src, "rules/examples"), os.path.join(d, "examples"))
        for name, text in files.items():
            if name in body:
                write(d, name, text)
EOF
count=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'example*' | wc -l)
[ "$count" -ge 10 ] || fail "found only $count rules examples in docs/rules.md and the README"
for dir in "$work"/example*; do
    what="$(cat "$dir/from") example $(basename "$dir")"
    "$PRESEND_BIN" lint --rules "$dir" >"$dir/lint.out" 2>&1 ||
        fail "$what: lint failed: $(cat "$dir/lint.out")"$'\n'"$(cat "$dir/rules.yaml")"
    ! grep -q ": warning: " "$dir/lint.out" ||
        fail "$what: lint warns: $(cat "$dir/lint.out")"
    "$PRESEND_BIN" test --rules "$dir" >"$dir/test.out" 2>&1 ||
        fail "$what: test failed: $(cat "$dir/test.out")"$'\n'"$(cat "$dir/rules.yaml")"
done
pass "$count rules files from docs/rules.md and the README pass lint (no warnings) and test"

mkdir -m 0700 "$work/keys"
configs=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'config*' | wc -l)
[ "$configs" -ge 8 ] || fail "found only $configs presend.yaml examples in docs/*.md"
for dir in "$work"/config*; do
    for key in $(grep -o "$work/keys/[A-Za-z0-9._-]*" "$dir/presend.yaml" | sort -u); do
        [ -e "$key" ] || "$PRESEND_BIN" attest keygen --out "$key" >/dev/null
    done
    "$PRESEND_BIN" lint --config "$dir/presend.yaml" --rules "$SRC_DIR/rules" >"$dir/lint.out" 2>&1 ||
        fail "$(cat "$dir/from") config example $(basename "$dir"): lint failed: $(cat "$dir/lint.out")"$'\n'"$(cat "$dir/presend.yaml")"
done
pass "$configs presend.yaml examples from docs/*.md and contrib/presend.yaml pass lint --config"

# A transcript: the lines after "$ presend CMD --rules /etc/presend/rules" up to the next command or the end
# of the block, compared with what CMD prints for the shipped rules, their path and version hash aside.
transcript() {
    awk -v cmd="\$ presend $1 --rules /etc/presend/rules" \
        '$0 == cmd { on = 1; next } on && (/^\$ / || /^```/) { exit } on' "$SRC_DIR/docs/rules.md"
}
normalise() { sed -E -e "s#^$SRC_DIR/rules:#/etc/presend/rules:#" -e 's/version [0-9a-f]+/version V/'; }
for cmd in lint test; do
    shown=$(transcript $cmd | normalise)
    [ -n "$shown" ] || fail "docs/rules.md shows no output of presend $cmd --rules /etc/presend/rules"
    printed=$("$PRESEND_BIN" $cmd --rules "$SRC_DIR/rules" 2>&1 | normalise) || true
    [ "$shown" = "$printed" ] ||
        fail "docs/rules.md shows for presend $cmd:"$'\n'"$shown"$'\n'"but it prints:"$'\n'"$printed"
done
pass "docs/rules.md shows what presend lint and presend test print for the shipped rules"
