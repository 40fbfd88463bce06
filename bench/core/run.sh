#!/usr/bin/env bash
# bench/core/run.sh - throughput of rectify's durable core on the quarantine
# path, against the minimal hand-written loop (bench/core/baseline.c).
#
#   bench/core/run.sh [--runs 3] [--count 1000000] [--build DIR] [--no-build]
#
# For each run: fresh PostgreSQL + Redis (scripts/lib.sh; fsync on, loopback,
# free ports), pre-fill COUNT valid messages with `rectifyctl produce` (no
# column contracts and no fix generators apply, so every one ends as a
# quarantine row), time the baseline until it has drained the stream; then
# fresh services again, the same pre-fill, and time rectifyd from start until
# every message is committed and acknowledged (group has read every entry,
# nothing pending, sum(received) of rectify.batches = COUNT), recording its
# peak RSS (VmHWM) just before SIGTERM. Prints the medians, the ratio and the
# machine, and saves them under bench/results/.
#
# Environment: RF_BENCH_BUILD_TYPE (default Release), RF_BENCH_CMAKE_ARGS
# (extra cmake arguments, word-split).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

RUNS=3
COUNT=1000000
BUILD=$ROOT/build-bench
DO_BUILD=1
STREAM=needs_ai
GROUP=rectify
POLL=0.25

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while (($#)); do
  case $1 in
  --runs) RUNS=$2; shift 2 ;;
  --count) COUNT=$2; shift 2 ;;
  --build) BUILD=$2; shift 2 ;;
  --no-build) DO_BUILD=0; shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || rf_die "--runs must be a positive integer"
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || rf_die "--count must be a positive integer"

WORK=
RECTIFYD_PID=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $RECTIFYD_PID ]]; then
    kill -KILL "$RECTIFYD_PID" 2>/dev/null || true
    wait "$RECTIFYD_PID" 2>/dev/null || true
  fi
  rf_services_stop ""
  [[ -z $WORK ]] || rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rf_install_deps
if ((DO_BUILD)); then
  rf_bench_build "$BUILD" rectifyd rectifyctl bench_core_baseline
fi
CTL=$BUILD/rectifyctl
DAEMON=$BUILD/rectifyd
BASELINE=$BUILD/bench/core/bench_core_baseline
for b in "$CTL" "$DAEMON" "$BASELINE"; do
  [[ -x $b ]] || rf_die "$b not built"
done

WORK=$(mktemp -d /tmp/rf-bench-core-XXXXXX)
chmod 755 "$WORK"

now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }

# fresh_services NAME SEED: new PostgreSQL and Redis, COUNT messages pre-filled.
fresh_services() {
  rf_services_stop ""
  rf_pg_start "$WORK/$1/pg"
  rf_redis_start "$WORK/$1/redis"
  "$CTL" produce --redis "127.0.0.1:$RF_REDIS_PORT" --stream "$STREAM" --count "$COUNT" \
    --malformed 0 --seed "$2" --id-prefix "m$2-" >"$WORK/$1/produce.out"
  rf_log "$(cat "$WORK/$1/produce.out")"
}

declare -a base_rates=() base_rss=() base_cpu=() core_rates=() core_rss=() core_cpu=() ratios=()

run_baseline() {
  local name=baseline-$1 t0 t1 out
  fresh_services "$name" "$1"
  t0=$(now)
  out=$("$BASELINE" --redis "127.0.0.1:$RF_REDIS_PORT" --stream "$STREAM" --group "$GROUP" \
    --db "$RF_PG_CONNINFO" --count 1000)
  t1=$(now)
  rf_redis_drained "$RF_REDIS_PORT" "$STREAM" "$GROUP" || rf_die "baseline left the stream undrained"
  local rows
  rows=$(rf_psql -c "SELECT count(*) FROM baseline_quarantine")
  ((rows == COUNT)) || rf_die "baseline wrote $rows rows, expected $COUNT"
  local rate rss
  rate=$(calc "round($COUNT / ($t1 - $t0))")
  rss=$(sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' <<<"$out")
  base_rates+=("$rate")
  base_rss+=("$rss")
  base_cpu+=("$(sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p' <<<"$out")")
  rf_log "run $1 baseline: $COUNT messages in $(calc "round($t1 - $t0, 2)") s = $rate msg/s, peak RSS ${rss} kB ($out)"
}

run_rectifyd() {
  local name=rectifyd-$1 t0 t1 rss received
  fresh_services "$name" "$1"
  mkdir -p "$WORK/$name/state"
  cat >"$WORK/$name/rectify.conf" <<EOF
[daemon]
instance_name = bench
http_listen = 127.0.0.1:$(rf_free_port)
log_level = notice
state_dir = $WORK/$name/state

[redis]
host = 127.0.0.1
port = $RF_REDIS_PORT
stream = $STREAM
group = $GROUP

[postgres]
conninfo = $RF_PG_CONNINFO
EOF
  t0=$(now)
  "$DAEMON" -c "$WORK/$name/rectify.conf" >>"$WORK/$name/rectifyd.log" 2>&1 &
  RECTIFYD_PID=$!
  while :; do
    if ! kill -0 "$RECTIFYD_PID" 2>/dev/null; then
      tail -n 20 "$WORK/$name/rectifyd.log" >&2
      rf_die "rectifyd exited early"
    fi
    if rf_redis_drained "$RF_REDIS_PORT" "$STREAM" "$GROUP"; then
      received=$(rf_psql -c "SELECT coalesce(sum(received), 0) FROM rectify.batches")
      ((received >= COUNT)) && break
    fi
    sleep "$POLL"
  done
  t1=$(now)
  rss=$(rf_peak_rss_kb "$RECTIFYD_PID")
  local cpu
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
    "/proc/$RECTIFYD_PID/stat")
  kill -TERM "$RECTIFYD_PID"
  local st=0
  wait "$RECTIFYD_PID" || st=$?
  RECTIFYD_PID=
  ((st == 0)) || { tail -n 20 "$WORK/$name/rectifyd.log" >&2; rf_die "rectifyd exited with $st"; }
  local rows
  rows=$(rf_psql -c "SELECT count(*) FROM rectify.quarantine")
  ((rows == COUNT)) || rf_die "rectifyd wrote $rows quarantine rows, expected $COUNT"
  local rate
  rate=$(calc "round($COUNT / ($t1 - $t0))")
  core_rates+=("$rate")
  core_rss+=("$rss")
  core_cpu+=("$cpu")
  ratios+=("$(calc "round($rate / ${base_rates[-1]}, 3)")")
  rf_log "run $1 rectifyd: $COUNT messages in $(calc "round($t1 - $t0, 2)") s = $rate msg/s, peak RSS ${rss} kB, cpu_s=$cpu"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((i = 1; i <= RUNS; i++)); do
  run_baseline "$i"
  run_rectifyd "$i"
done
rf_services_stop ""

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mb=$(median "${base_rates[@]}")
mc=$(median "${core_rates[@]}")
rb=$(median "${base_rss[@]}")
rc=$(median "${core_rss[@]}")
ratio=$(calc "round($mc / $mb, 3)")
verdict=$(calc "'PASS' if $mc >= 0.8 * $mb else 'FAIL'")
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt" 2>/dev/null; }
build_desc="build $(basename "$BUILD"): CMAKE_BUILD_TYPE=$(cache CMAKE_BUILD_TYPE) RF_SANITIZE=$(cache RF_SANITIZE) CMAKE_C_FLAGS='$(cache CMAKE_C_FLAGS)'"

report=$(
  cat <<EOF
### core throughput, quarantine path ($(date -u +%Y-%m-%dT%H:%MZ), commit $commit)

Command: \`bench/core/run.sh --runs $RUNS --count $COUNT\` ($build_desc)
Machine: $(rf_machine); load average before/after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)

| | runs (msg/s) | median msg/s | median peak RSS | median CPU s (process) |
|---|---|---|---|---|
| baseline (bench/core/baseline.c) | ${base_rates[*]} | $mb | $(calc "round($rb / 1024, 1)") MiB | $(median "${base_cpu[@]}") |
| rectifyd | ${core_rates[*]} | $mc | $(calc "round($rc / 1024, 1)") MiB | $(median "${core_cpu[@]}") |

rectifyd / baseline = $ratio (target >= 0.80: $verdict); per run (adjacent in time, so
under the same load): ${ratios[*]}, median $(median "${ratios[@]}")
EOF
)
echo
echo "$report"
mkdir -p "$ROOT/bench/results"
out=$ROOT/bench/results/core-$(date -u +%Y%m%dT%H%M%SZ).md
echo "$report" >"$out"
rf_log "saved $out"
