#!/usr/bin/env bash
# bench_e2e: contrib/bench/e2e still works. Runs (a) no milter and (b) presend in enforce mode on 100
# messages (rspamd is never needed here) and checks the JSON report and the table rendered from it: every
# figure is a number, presend refused the probe carrying a phrase with its bench-phrases rule, and (b)
# accepted and delivered every compliant message of the corpus, and the report names the socket; then (n),
# the filter that does nothing, and (b) with --socket unix in two rounds (--repeat 2), each kept in the JSON,
# (n) accepting everything and (b) set against it; then (b) under callgrind (--callgrind), whose
# instructions per message by stage must all be there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

k_count=100
k_timeout=120 # seconds for the whole benchmark; it takes about 20 on an idle 2-core box

[ "$(id -u)" -eq 0 ] || skip "needs root: the benchmark runs a private Postfix and smtp-sink as root"
out=$(mktemp -d "${TMPDIR:-/tmp}/presend-bench-e2e.XXXXXX")
trap 'rm -rf "$out"' EXIT

rc=0
timeout "$k_timeout" "$SRC_DIR/contrib/bench/e2e" --count "$k_count" --only a,b --json \
    >"$out/report.json" 2>"$out/e2e.log" || rc=$?
[ "$rc" -ne 77 ] || skip "$(grep SKIP "$out/report.json" "$out/e2e.log" | head -n 1)"
if [ "$rc" -ne 0 ]; then
    tail -n 40 "$out/e2e.log" "$out/report.json" >&2
    fail "contrib/bench/e2e exited with status $rc"
fi

"$IT_PYTHON" - "$out/report.json" "$k_count" <<'PY' || fail "the JSON report is incomplete: $(cat "$out/report.json")"
import json, sys
report, count = json.load(open(sys.argv[1])), int(sys.argv[2])
runs = {r["run"]: r for r in report["runs"]}
assert sorted(runs) == ["a", "b"], sorted(runs)
for r in runs.values():
    for key in ("msg_per_s", "ratio_to_a", "eod_p50_ms", "eod_p99_ms", "mta_cpu_s_per_1k", "cpu_bound_msg_per_s"):
        assert isinstance(r[key], (int, float)) and r[key] > 0, (r["run"], key, r[key])
    assert r["accepted"] == count and r["delivered"] == count, (r["run"], r["accepted"], r["delivered"])
    assert r["refused"] == r["tempfailed"] == r["errors"] == 0, r
b = runs["b"]
for key in ("filter_cpu_s_per_1k", "filter_p99_ms", "peak_rss_mib", "peak_rss_sum_mib"):
    assert isinstance(b[key], (int, float)) and b[key] > 0, (key, b[key])
assert isinstance(b["p99_added_ms"], (int, float)), b["p99_added_ms"]
assert b["filter_timed"] == count, b["filter_timed"]
assert b["probe"]["reply"].startswith("5") and "bench-phrases" in b["probe"]["hits"], b["probe"]
assert report["socket"] == "inet" and runs["a"]["milter"] is None, (report["socket"], runs["a"]["milter"])
assert b["milter"].startswith("inet:127.0.0.1:"), b["milter"]
PY
pass "JSON report: (a) and (b) measured; (b) accepted and delivered $k_count of $k_count, refused the phrase probe"

"$IT_PYTHON" "$SRC_DIR/contrib/bench/e2e-report" --render "$out/report.json" >"$out/table.txt"
cat "$out/table.txt"
number='[0-9]+\.[0-9]+'
grep -qE "^\(a\) no milter +$number +1\.00 +- +$number +[0-9]+ +$number +$number " "$out/table.txt" ||
    fail "the table has no row of figures for (a)"
grep -qE "^\(b\) presend.* +$number +$number +$number +$number +[0-9]+ +$number +$number +[-+]$number +$number +[0-9]+ \([0-9]+\) +$k_count/$k_count +$k_count\$" \
    "$out/table.txt" || fail "the table has no complete row of figures for (b)"
grep -q "milters on loopback TCP" "$out/table.txt" || fail "the table's header does not name the socket"
grep -qE "^\(b\) milter inet:127\.0\.0\.1:[0-9]+; probe: 5" "$out/table.txt" || fail "the table's note gives no milter for (b)"
pass "table: a row of figures for (a) and (b)"

# --socket unix: Postfix reaches the null milter (n) and presend (b) over unix sockets; the same checks on a few
# messages, in two rounds with each filter started afresh in each.
k_unix_count=20
rc=0
timeout "$k_timeout" "$SRC_DIR/contrib/bench/e2e" --count "$k_unix_count" --only b,n --socket unix --repeat 2 --json \
    >"$out/unix.json" 2>"$out/unix.log" || rc=$?
if [ "$rc" -ne 0 ]; then
    tail -n 40 "$out/unix.log" "$out/unix.json" >&2
    fail "contrib/bench/e2e --socket unix exited with status $rc"
fi
"$IT_PYTHON" - "$out/unix.json" "$k_unix_count" <<'PY' || fail "the --socket unix report: $(cat "$out/unix.json")"
import json, sys
report, count = json.load(open(sys.argv[1])), int(sys.argv[2])
runs = {r["run"]: r for r in report["runs"]}
assert [r["run"] for r in report["runs"]] == ["n", "b"], report["runs"]  # in the rounds' order, not --only's
b, n = runs["b"], runs["n"]
assert "--socket unix" in report["command"], report["command"]
assert n["accepted"] == n["delivered"] == 2 * count and n["refused"] == 0, n
assert n["probe"]["reply"].startswith("250") and n["milter"].startswith("unix:/"), n
assert isinstance(n["filter_cpu_s_per_1k"], (int, float)) and n["filter_cpu_s_per_1k"] >= 0, n
assert n["filter_p99_ms"] is None and n["ratio_to_n"] is None, n  # it keeps no timing; it is the base
# The kernel's part of each filter's CPU, counted in clock ticks (10 ms): (n) may use none over 20 messages.
assert 0 <= b["filter_sys_share"] <= 1, b["filter_sys_share"]
assert n["filter_sys_share"] is None or 0 <= n["filter_sys_share"] <= 1, n["filter_sys_share"]
for r in b["rounds"]:
    assert isinstance(r["ratio_to_n"], (int, float)) and r["ratio_to_n"] > 0, r
    assert isinstance(r["p99_added_to_n_ms"], (int, float)), r
assert report["socket"] == "unix" and report["repeat"] == 2 and b["repeat"] == 2, (report["socket"], report["repeat"])
assert b["run"] == "b" and b["accepted"] == b["delivered"] == 2 * count, b
assert b["msg_per_s_min"] <= b["msg_per_s"] <= b["msg_per_s_max"], b
assert [r["round"] for r in b["rounds"]] == [1, 2], b["rounds"]
for r in b["rounds"]:
    assert r["accepted"] == r["delivered"] == r["filter_timed"] == count, r
    assert r["probe"]["reply"].startswith("5") and "bench-phrases" in r["probe"]["hits"], r["probe"]
    assert r["milter"].startswith("unix:/"), r["milter"]
PY
"$IT_PYTHON" "$SRC_DIR/contrib/bench/e2e-report" --render "$out/unix.json" >"$out/unix.txt"
grep -qE "^\(b\) presend.* +$number +$number-$number +" "$out/unix.txt" ||
    fail "the two-round table has no msg/s spread for (b): $(cat "$out/unix.txt")"
grep -qE "^\(n\) null milter.* +$number +$number-$number +- +$number " "$out/unix.txt" ||
    fail "the two-round table has no row for (n): $(cat "$out/unix.txt")"
grep -qE "^\(b\) against \(n\).*: x\(n\) $number, p99 added to \(n\)'s [-+]$number ms, CPU s/1k [-+]$number\$" \
    "$out/unix.txt" || fail "the table does not set (b) against (n): $(cat "$out/unix.txt")"
grep -qE "^\(b\) milter unix:/.*; the kernel's share of its CPU [0-9]+%; " "$out/unix.txt" ||
    fail "the table's note gives no kernel share for (b): $(cat "$out/unix.txt")"
pass "--socket unix --repeat 2: (n) and (b) accepted and delivered $k_unix_count of $k_unix_count in each round over" \
    "unix sockets, (b) refused the phrase probe and is set against (n)"

# --callgrind: presend under valgrind behind the same Postfix; its instructions per message by stage (valgrind
# is installed by the benchmark on first use).
k_callgrind_count=20
k_callgrind_timeout=300 # valgrind slows presend 20 to 50 times; about 30 s on an idle 2-core box
rc=0
timeout "$k_callgrind_timeout" "$SRC_DIR/contrib/bench/e2e" --count "$k_callgrind_count" --only b --socket unix \
    --callgrind "$out/cg" --json >"$out/cg.json" 2>"$out/cg.log" || rc=$?
if [ "$rc" -ne 0 ]; then
    tail -n 40 "$out/cg.log" "$out/cg.json" >&2
    fail "contrib/bench/e2e --callgrind exited with status $rc"
fi
"$IT_PYTHON" - "$out/cg.json" "$k_callgrind_count" <<'PY' || fail "the --callgrind figures: $(cat "$out/cg.json")"
import json, sys
report, count = json.load(open(sys.argv[1])), int(sys.argv[2])
per = report["instructions_per_message"]
assert report["messages"] >= count + 2, report["messages"]  # the run, the two probes, the warm-up
for stage in ("workers", "eom", "parse", "gmime", "html", "inspect", "scan", "log", "assemble"):
    assert per[stage] > 0, (stage, per)
assert per["parse"] < per["eom"] < per["workers"], per
assert per["html"] < per["parse"] and per["scan"] < per["inspect"], per
PY
[ -s "$out/cg/callgrind.b-1.out" ] || fail "--callgrind kept no profile in $out/cg"
pass "--callgrind: presend's instructions per message by stage, from a profile of its worker under Postfix"
