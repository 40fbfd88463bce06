#!/bin/sh
# The offline synthesizer on a generated dirty/clean dataset with ground truth.
#   bench/synth/run.sh [MESSAGES] [SEED]      (defaults 60000 and 1)
# Builds an optimised, non-sanitized tree in $RF_BENCH_DIR (default
# build-bench-synth/) and prints the per-family table, precision, recall,
# model calls avoided and every wrong fix. Exits 1 when precision < 99%.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${RF_BENCH_DIR:-$ROOT/build-bench-synth}
cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRF_SANITIZE=OFF -DRF_TESTS=OFF \
      -DCMAKE_C_FLAGS="-Wno-error=maybe-uninitialized" >/dev/null
cmake --build "$B" -j2 --target bench_synth >/dev/null
echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "command: bench/synth/run.sh ${1:-60000} ${2:-1}"
echo
exec "$B/bench/synth/bench_synth" --messages "${1:-60000}" --seed "${2:-1}"
