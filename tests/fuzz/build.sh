#!/usr/bin/env bash
# build.sh: builds a libFuzzer target with clang (ASan + UBSan) and runs it for a bounded time.
# The fuzzers stay out of the CMake build, whose compiler is g++; each target compiles only the
# engine sources it needs.
#
#   tests/fuzz/build.sh [TARGET] [SECONDS]      TARGET: attestation (default); SECONDS: 30
#
# Environment: FUZZ_CXX (default clang++), PRESEND_FUZZ_DIR (output, default build-fuzz in the
# source root: the binary, the grown corpus, crash artifacts, fuzz-TARGET.log). Extra arguments
# after SECONDS go to libFuzzer (e.g. -jobs=2 -workers=2).
# Exit status: libFuzzer's (0: no crash within the time; otherwise see the artifact it names).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=${1:-attestation}
seconds=${2:-30}
shift $(( $# > 2 ? 2 : $# ))
out=${PRESEND_FUZZ_DIR:-$root/build-fuzz}
cxx=${FUZZ_CXX:-clang++}

case $target in
attestation)
    sources=("$root/milter/engine/attestation.cpp" "$root/milter/engine/file_trust.cpp")
    libs=(-lcrypto)
    ;;
*)
    echo "build.sh: unknown target '$target' (known: attestation)" >&2
    exit 2
    ;;
esac

mkdir -p "$out/corpus-$target" "$out/artifacts-$target"
binary=$out/fuzz_$target
echo "build.sh: compiling $binary" >&2
"$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer -Wall -Wextra \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/include" -I"$root/milter" "$root/tests/fuzz/fuzz_$target.cpp" "${sources[@]}" "${libs[@]}" -o "$binary"

# The first corpus directory receives new inputs, so the checked-in seeds stay as they are.
args=(-max_total_time="$seconds" -max_len=1024 -print_final_stats=1 -artifact_prefix="$out/artifacts-$target/")
dict=$root/tests/fuzz/$target.dict
[[ -f $dict ]] && args+=(-dict="$dict")
echo "build.sh: running $target for ${seconds}s (log: $out/fuzz-$target.log)" >&2
set +e
"$binary" "${args[@]}" "$@" "$out/corpus-$target" "$root/tests/fuzz/corpus/$target" 2>&1 | tee "$out/fuzz-$target.log" |
    grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::|==[0-9]+==|SUMMARY|Done)'
status=${PIPESTATUS[0]}
set -e
exit "$status"
