#!/usr/bin/env bash
# bench/scale/run.sh - horizontal scale: throughput of 1 and 2 rectifyd
# instances on one Redis stream and on one Kafka topic (librdkafka mock).
#
#   bench/scale/run.sh [--runs 3] [--redis-count 200000] [--kafka-count 60000]
#                      [--partitions 6] [--build DIR] [--no-build]
#
# For each source, each instance count (1, 2) and each run: fresh PostgreSQL
# (+ Redis, or a kafka_mock process with a topic of --partitions partitions).
# Redis: COUNT valid messages pre-filled with `rectifyctl produce`, then the
# instances are started together. Kafka: the instances are started first and
# the run waits until the group is stable (every instance has its partitions
# and no rebalance for 2 s), then COUNT messages are produced at full speed
# (a pre-filled topic would be drained by the first member during the next
# one's ~3 s join and the rebalance would be measured instead). The run ends
# when every message has an outcome and the source is drained; SIGTERM then
# commits the last offsets. Throughput is
# COUNT / (last batch written - first window opened), taken from
# rectify.batches, so process start-up and the ~3 s group join of the Kafka
# mock are not counted. Prints medians and the 2/1 ratio and saves them
# under bench/results/.
#
# The mock keeps only ~5 MiB per partition (librdkafka 2.0.2) and drops older
# data silently: keep --kafka-count * ~400 bytes / --partitions below that.
#
# Environment: RF_BENCH_BUILD_TYPE (default Release), RF_BENCH_CMAKE_ARGS
# (extra cmake arguments, word-split).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

RUNS=3
REDIS_COUNT=200000
KAFKA_COUNT=60000
PARTS=6
BUILD=$ROOT/build-bench-scale
DO_BUILD=1
STREAM=needs_ai
TOPIC=needs_ai
GROUP=rectify
POLL=0.25

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while (($#)); do
  case $1 in
  --runs) RUNS=$2; shift 2 ;;
  --redis-count) REDIS_COUNT=$2; shift 2 ;;
  --kafka-count) KAFKA_COUNT=$2; shift 2 ;;
  --partitions) PARTS=$2; shift 2 ;;
  --build) BUILD=$2; shift 2 ;;
  --no-build) DO_BUILD=0; shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
  esac
done
for v in RUNS REDIS_COUNT KAFKA_COUNT PARTS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || rf_die "$v must be a positive integer"
done

WORK=
PIDS=()
KM_PID=
kill_all() {
  local p
  for p in "${PIDS[@]}"; do
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
  if [[ -n $KM_PID ]]; then
    kill -TERM "$KM_PID" 2>/dev/null || true
    wait "$KM_PID" 2>/dev/null || true
    KM_PID=
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  kill_all
  rf_services_stop ""
  [[ -z $WORK || -n ${RF_BENCH_KEEP:-} ]] || rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rf_install_deps
if ((DO_BUILD)); then
  rf_bench_build "$BUILD" rectifyd rectifyctl kafka_mock
fi
CTL=$BUILD/rectifyctl
DAEMON=$BUILD/rectifyd
KMOCK=$BUILD/tests/harness/kafka_mock
for b in "$CTL" "$DAEMON" "$KMOCK"; do
  [[ -x $b ]] || rf_die "$b not built"
done

WORK=$(mktemp -d /tmp/rf-bench-scale-XXXXXX)
chmod 755 "$WORK"
calc() { python3 -c "print($1)"; }

# start_source NAME SOURCE COUNT: fresh services, COUNT messages pre-filled.
start_source() {
  local name=$1 source=$2 count=$3
  kill_all
  rf_services_stop ""
  mkdir -p "$WORK/$name"
  rf_pg_start "$WORK/$name/pg"
  if [[ $source == redis ]]; then
    rf_redis_start "$WORK/$name/redis"
    "$CTL" produce --redis "127.0.0.1:$RF_REDIS_PORT" --stream "$STREAM" --count "$count" \
      --seed 5 --id-prefix "m-" >"$WORK/$name/produce.out"
  else
    "$KMOCK" "$TOPIC:$PARTS" >"$WORK/$name/kafka_mock.log" 2>&1 &
    KM_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
      BOOTSTRAP=$(sed -n 's/^bootstrap=//p' "$WORK/$name/kafka_mock.log")
      [[ -n $BOOTSTRAP ]] && break
      sleep 0.1
    done
    [[ -n $BOOTSTRAP ]] || rf_die "kafka_mock did not start"
    return 0 # produced once the group is stable (run_one)
  fi
  rf_log "$(cat "$WORK/$name/produce.out")"
}

write_conf() {
  local name=$1 source=$2 inst=$3
  mkdir -p "$WORK/$name/$inst"
  cat >"$WORK/$name/$inst.conf" <<EOF
[daemon]
instance_name = $inst
log_level = info
state_dir = $WORK/$name/$inst
http_listen =
source = $source

[redis]
host = 127.0.0.1
port = ${RF_REDIS_PORT:-6379}
stream = $STREAM
group = $GROUP

[kafka]
brokers = ${BOOTSTRAP:-127.0.0.1:9}
topic = $TOPIC
group = $GROUP
session.timeout.ms = 6000

[postgres]
conninfo = $RF_PG_CONNINFO
EOF
}

# done_yet SOURCE COUNT: every message has an outcome and the source is drained.
done_yet() {
  local received
  received=$(rf_psql -c "SELECT coalesce(sum(received), 0) FROM rectify.batches" 2>/dev/null || echo 0)
  ((received >= $2)) || return 1
  if [[ $1 == redis ]]; then
    rf_redis_drained "$RF_REDIS_PORT" "$STREAM" "$GROUP"
  else
    return 0 # the drain (SIGTERM) commits the last offsets
  fi
}

# group_stable NAME N: every instance has partitions, no rebalance for 2 s.
group_stable() {
  local name=$1 n=$2 i events last=-1 stable_since=$SECONDS deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    events=$(cat "$WORK/$name"/inst*.log | grep -c "partitions assigned\|partitions being revoked" || true)
    local ready=1
    for ((i = 1; i <= n; i++)); do
      grep -q "partitions assigned" "$WORK/$name/inst$i.log" || ready=0
    done
    if ((events != last)); then
      last=$events
      stable_since=$SECONDS
    elif ((ready && SECONDS - stable_since >= 2)); then
      return 0
    fi
    sleep 0.2
  done
  rf_die "$name: the consumer group did not settle"
}

declare -A rates=()

run_one() {
  local source=$1 n=$2 run=$3 count name i
  count=$([[ $source == redis ]] && echo "$REDIS_COUNT" || echo "$KAFKA_COUNT")
  name=$source-$n-$run
  start_source "$name" "$source" "$([[ $source == redis ]] && echo "$count" || echo 0)"
  for ((i = 1; i <= n; i++)); do
    write_conf "$name" "$source" "inst$i"
    "$DAEMON" -c "$WORK/$name/inst$i.conf" >>"$WORK/$name/inst$i.log" 2>&1 &
    PIDS+=("$!")
  done
  if [[ $source == kafka ]]; then
    group_stable "$name" "$n"
    "$CTL" produce --kafka "$BOOTSTRAP" --topic "$TOPIC" --count "$count" --seed 5 \
      --id-prefix "m-" >"$WORK/$name/produce.out"
    rf_log "$(cat "$WORK/$name/produce.out")"
  fi
  local deadline=$((SECONDS + 600))
  until done_yet "$source" "$count"; do
    for p in "${PIDS[@]}"; do
      kill -0 "$p" 2>/dev/null || { tail -n 20 "$WORK/$name"/inst*.log >&2; rf_die "rectifyd exited early"; }
    done
    ((SECONDS < deadline)) || rf_die "$name: not done after 600 s"
    sleep "$POLL"
  done
  for p in "${PIDS[@]}"; do
    kill -TERM "$p"
  done
  local st
  for p in "${PIDS[@]}"; do
    st=0
    wait "$p" || st=$?
    ((st == 0)) || { tail -n 20 "$WORK/$name"/inst*.log >&2; rf_die "rectifyd exited with $st"; }
  done
  PIDS=()
  local rows span chains
  rows=$(rf_psql -c "SELECT (SELECT count(*) FROM rectify.staging) + (SELECT count(*) FROM rectify.quarantine)")
  ((rows == count)) || rf_die "$name: $rows outcomes, expected $count"
  chains=$(rf_psql -c "SELECT count(DISTINCT chain_id) FROM rectify.batches")
  # From the first batch written to the last: start-up and the group join
  # are not counted (opened_us is loop time, not wall-clock time).
  local first measured
  first=$(rf_psql -c "SELECT received FROM rectify.batches ORDER BY written_us LIMIT 1")
  measured=$((count - first))
  span=$(rf_psql -c "SELECT (max(written_us) - min(written_us)) / 1e6 FROM rectify.batches")
  local rate
  rate=$(calc "round($measured / $span)")
  rates[$source-$n]+="$rate "
  rf_log "$name: $count messages by $chains instance(s) in $span s = $rate msg/s"
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= RUNS; r++)); do
  for source in ${RF_BENCH_SOURCES:-redis kafka}; do
    for n in 1 2; do
      run_one "$source" "$n" "$r"
    done
  done
done
kill_all
rf_services_stop ""

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
row() {
  local source=$1 count=$2 m1 m2
  [[ -n ${rates[$source-1]:-} && -n ${rates[$source-2]:-} ]] || return 0
  # shellcheck disable=SC2086
  m1=$(median ${rates[$source-1]})
  # shellcheck disable=SC2086
  m2=$(median ${rates[$source-2]})
  echo "| $source | $count | ${rates[$source-1]}| $m1 | ${rates[$source-2]}| $m2 | $(calc "round($m2 / $m1, 2)") |"
}
report=$(
  cat <<EOF
### scale-out throughput, 1 and 2 instances ($(date -u +%Y-%m-%dT%H:%MZ), commit $commit)

Command: \`bench/scale/run.sh --runs $RUNS --redis-count $REDIS_COUNT --kafka-count $KAFKA_COUNT --partitions $PARTS\`
Machine: $(rf_machine); load average before/after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)

| source | messages | 1 instance runs (msg/s) | median | 2 instances runs (msg/s) | median | 2/1 |
|---|---|---|---|---|---|---|
$(row redis "$REDIS_COUNT")
$(row kafka "$KAFKA_COUNT")
EOF
)
mkdir -p "$ROOT/bench/results"
out=$ROOT/bench/results/scale-$(date -u +%Y%m%dT%H%M%SZ).md
printf '%s\n' "$report" >"$out"
printf '%s\n' "$report"
rf_log "saved $out"
