#!/bin/sh
# Lambda throughput: rectify vs CPython on typical fixes (1M values each).
#   bench/lambda/run.sh [N] [RUNS]     (defaults 1000000 and 5)
# Builds an optimised (-O2), non-sanitized tree in $RF_BENCH_DIR (default
# build-bench-lambda/) and prints a markdown table of medians and ratios.
# Exits 1 when rectify is not at least 5x faster than CPython on every fix.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${RF_BENCH_DIR:-$ROOT/build-bench-lambda}
cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRF_SANITIZE=OFF -DRF_TESTS=OFF \
      -DCMAKE_C_FLAGS= >/dev/null
cmake --build "$B" -j2 --target bench_lambda >/dev/null
exec python3 "$HERE/bench.py" --driver "$B/bench/lambda/bench_lambda" --n "${1:-1000000}" --runs "${2:-5}"
