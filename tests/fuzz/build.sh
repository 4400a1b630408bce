#!/usr/bin/env bash
# build.sh: builds the libFuzzer targets with clang (ASan + UBSan, coverage on the whole engine) in
# build-fuzz/ and runs one of them for a bounded time, the way CI does (run.sh).
#
#   tests/fuzz/build.sh [TARGET] [SECONDS] [libFuzzer flags...]
#
# TARGET: attestation (default), message, rules or milter; SECONDS: 30.
# Environment: PRESEND_FUZZ_DIR (the build directory, default build-fuzz in the source root).
# Exit status: run.sh's (0: no crash within the time).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=${1:-attestation}
seconds=${2:-30}
shift $(( $# > 2 ? 2 : $# ))
case $target in
attestation | message | rules | milter) ;;
*)
    echo "build.sh: unknown target '$target' (known: attestation, message, rules, milter)" >&2
    exit 2
    ;;
esac
out=${PRESEND_FUZZ_DIR:-$root/build-fuzz}

cmake -S "$root" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DPRESEND_SANITIZE=address,undefined -DPRESEND_FUZZ=ON >/dev/null
cmake --build "$out" -j2 --target "fuzz_$target"
PRESEND_FUZZ_WORK=$out/tests/fuzz/work exec "$root/tests/fuzz/run.sh" "$out/tests/fuzz/fuzz_$target" \
    "$target" "$seconds" "$@"
