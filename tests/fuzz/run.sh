#!/usr/bin/env bash
# run.sh: runs one libFuzzer target the way CI does. First every saved regression input of the
# target (regressions/TARGET/, inputs that once crashed), then new inputs for SECONDS from the seed
# corpora. A crash, leak, timeout or sanitizer report fails the run; its input is copied into
# regressions/TARGET/ of the source tree and printed in base64, so it can be committed from a CI log.
#
#   run.sh BINARY TARGET SECONDS [libFuzzer flags...]
#
# PRESEND_FUZZ_WORK: where the grown corpus and artifacts go (default: a temporary directory).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$1 target=$2 seconds=$3
shift 3
work=${PRESEND_FUZZ_WORK:-$(mktemp -d)}/$target
mkdir -p "$work/corpus" "$work/artifacts"
regressions=$here/regressions/$target

# Seed corpora: checked-in seeds of the target, plus the project's own inputs of that kind.
seeds=()
[[ -d $here/corpus/$target ]] && seeds+=("$here/corpus/$target")
case $target in
message) seeds+=("$root/rules/examples" "$root/tests/fixtures") max_len=16384 ;;
rules) seeds+=("$root/rules") max_len=4096 ;;
milter) max_len=4096 ;;
*) max_len=1024 ;;
esac
flags=(-max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$work/artifacts/")
[[ -f $here/$target.dict ]] && flags+=(-dict="$here/$target.dict")

keep_artifacts() {
    local found=0 artifact
    mkdir -p "$regressions"
    for artifact in "$work"/artifacts/*; do
        [[ -f $artifact ]] || continue
        found=1
        cp "$artifact" "$regressions/"
        echo "run.sh: $target: kept $regressions/$(basename "$artifact"); base64:" >&2
        base64 -w 0 "$artifact" >&2
        echo >&2
    done
    return $found
}

if [[ -d $regressions ]] && compgen -G "$regressions/*" >/dev/null; then
    count=$(find "$regressions" -type f | wc -l)
    echo "run.sh: $target: replaying $count regression input(s)" >&2
    "$binary" "${flags[@]}" "$regressions"/* >"$work/regressions.log" 2>&1 || {
        tail -n 40 "$work/regressions.log" >&2
        echo "run.sh: $target: a regression input fails again" >&2
        exit 1
    }
fi

echo "run.sh: $target: fuzzing for ${seconds}s" >&2
status=0
"$binary" "${flags[@]}" -max_total_time="$seconds" "$@" "$work/corpus" "${seeds[@]}" >"$work/fuzz.log" 2>&1 ||
    status=$?
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY)|^==[0-9]+==' "$work/fuzz.log" >&2 || true
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
echo "run.sh: $target: ${runs:-?} executions in ${seconds}s, corpus $(find "$work/corpus" -type f | wc -l) files" >&2
if ((status != 0)); then
    tail -n 60 "$work/fuzz.log" >&2
    keep_artifacts || true
    exit "$status"
fi
