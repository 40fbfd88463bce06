#!/bin/sh
# Clustering: model calls, purity and rows/s of each method and chain.
#   bench/cluster/run.sh [ROWS] [RUNS]      (defaults 1000000 and 3)
# Builds an optimised (-O2), non-sanitized tree in $RF_BENCH_DIR (default
# build-bench-cluster/) and prints the markdown table of BENCHMARKS.md
# "## Clustering", preceded by the machine it ran on.
# Extra arguments after ROWS and RUNS go to bench_cluster (--window, --seed).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${RF_BENCH_DIR:-$ROOT/build-bench-cluster}
ROWS=${1:-1000000}
RUNS=${2:-3}
[ $# -ge 1 ] && shift
[ $# -ge 1 ] && shift
cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRF_SANITIZE=OFF -DRF_TESTS=OFF \
      -DCMAKE_C_FLAGS="-Wno-error=maybe-uninitialized" >/dev/null
cmake --build "$B" -j2 --target bench_cluster >/dev/null
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "command: bench/cluster/run.sh $ROWS $RUNS $*"
echo
exec "$B/bench/cluster/bench_cluster" --rows "$ROWS" --runs "$RUNS" "$@"
