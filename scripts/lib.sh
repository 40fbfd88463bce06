# shellcheck shell=bash
# scripts/lib.sh - shared by scripts/test, scripts/demo and bench/*/run.sh.
#
# Source it (". scripts/lib.sh"); it defines functions and variables only.
#   rf_install_deps            install the missing Debian packages of RF_DEB_PACKAGES
#   rf_pg_start DIR / rf_pg_stop     a throwaway PostgreSQL cluster in DIR (loopback, free port)
#   rf_redis_start DIR / rf_redis_stop   a throwaway redis-server in DIR (no persistence)
#   rf_services_stop           stop whatever of the two is running (use in a trap)
#   rf_redis_drained PORT STREAM GROUP   true when the group has read everything and acked it
# Services started here are never the system's: they live in the given
# directory, listen on 127.0.0.1 on a free port and are stopped by
# rf_services_stop.

# The one list of Debian packages rectify needs to build, test and demo.
# (Add packages here only; scripts/test and scripts/demo both use it.)
RF_DEB_PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libhiredis-dev librdkafka-dev libpq-dev libcjson-dev libcurl4-openssl-dev libssl-dev
  libuv1-dev libcmocka-dev libinih-dev libpcre2-dev libsystemd-dev libmicrohttpd-dev libgmp-dev
  redis-server postgresql python3
  uthash-dev python3-prometheus-client systemd libicu-dev chromium libjemalloc-dev
)

rf_log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
rf_die() { rf_log "error: $*"; exit 1; }

rf_root_dir() { (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); }

# Installs the packages of RF_DEB_PACKAGES that dpkg does not report as
# installed. apt-get update runs once, only when something is missing.
rf_install_deps() {
  local missing=() p
  command -v dpkg >/dev/null || rf_die "dpkg not found: scripts expect Debian 12"
  for p in "${RF_DEB_PACKAGES[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
      missing+=("$p")
    fi
  done
  # Node.js and npm drive the dashboard's browser test. A machine that already
  # has them (e.g. from another repository) keeps its own: Debian's nodejs/npm
  # packages would conflict with it.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
  fi
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || rf_die "missing packages (${missing[*]}) and not root"
    sudo=(sudo)
  fi
  rf_log "installing: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

# A free TCP port on 127.0.0.1 in 20000-60000 (bind-probed).
rf_free_port() {
  python3 - <<'EOF'
import random, socket, sys
for _ in range(500):
    port = random.randint(20000, 60000)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit("no free port in 20000-60000")
EOF
}

# PostgreSQL server binaries: $RF_PG_BINDIR, pg_config --bindir, or the
# highest /usr/lib/postgresql/*/bin.
rf_pg_bindir() {
  local d
  if [[ -n ${RF_PG_BINDIR:-} ]]; then
    echo "$RF_PG_BINDIR"
    return 0
  fi
  d=$(pg_config --bindir 2>/dev/null || true)
  if [[ -n $d && -x $d/initdb ]]; then
    echo "$d"
    return 0
  fi
  d=$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [[ -n $d && -x $d/initdb ]] || rf_die "PostgreSQL server binaries not found (install postgresql)"
  echo "$d"
}

# Runs a command as the postgres user when we are root (initdb and postgres
# refuse to run as root), else as ourselves.
rf_as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# rf_pg_start DIR: initdb into DIR/data, start on 127.0.0.1:<free port> with
# its socket in DIR, create database `rectify`. Sets RF_PG_DIR, RF_PG_PORT,
# RF_PG_CONNINFO. fsync stays on (benchmarks must be honest).
rf_pg_start() {
  local dir=$1 bindir
  bindir=$(rf_pg_bindir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres:postgres "$dir"
  fi
  rf_as_pg test -w "$dir" ||
    rf_die "the postgres user cannot reach $dir (make its parent directories searchable, e.g. chmod 755)"
  (cd "$dir" && rf_as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C --no-instructions >"$dir/initdb.log" 2>&1) ||
    { cat "$dir/initdb.log" >&2; rf_die "initdb failed in $dir"; }
  rf_as_pg sh -c "echo \"include 'rf_local.conf'\" >> '$dir/data/postgresql.conf'"
  for _ in 1 2 3 4 5; do
    RF_PG_PORT=$(rf_free_port)
    rf_as_pg tee "$dir/data/rf_local.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $RF_PG_PORT
unix_socket_directories = '$dir'
fsync = on
max_connections = 50
EOF
    if (cd "$dir" && rf_as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" \
      -w -t 60 start >/dev/null 2>&1); then
      RF_PG_DIR=$dir
      RF_PG_CONNINFO="host=127.0.0.1 port=$RF_PG_PORT dbname=rectify user=postgres"
      "$bindir/psql" -X -q -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$RF_PG_PORT dbname=postgres user=postgres" \
        -c "CREATE DATABASE rectify" || rf_die "CREATE DATABASE rectify failed"
      rf_log "postgres: up on 127.0.0.1:$RF_PG_PORT (dir $dir)"
      return 0
    fi
    if ! grep -q "could not bind\|Address already in use" "$dir/postgresql.log" 2>/dev/null; then
      tail -n 20 "$dir/postgresql.log" >&2 || true
      rf_die "postgres did not start (log $dir/postgresql.log)"
    fi
    rf_log "postgres: port $RF_PG_PORT taken, retrying"
  done
  rf_die "postgres could not bind a port"
}

# rf_pg_stop [--keep]: fast shutdown; removes RF_PG_DIR unless --keep.
rf_pg_stop() {
  [[ -n ${RF_PG_DIR:-} ]] || return 0
  local bindir
  bindir=$(rf_pg_bindir)
  (cd "$RF_PG_DIR" && rf_as_pg "$bindir/pg_ctl" -D "$RF_PG_DIR/data" -m fast -w -t 60 stop \
    >/dev/null 2>&1) || rf_log "postgres: stop failed (log $RF_PG_DIR/postgresql.log)"
  if [[ ${1:-} != --keep ]]; then
    rm -rf "$RF_PG_DIR"
  fi
  RF_PG_DIR=
}

# Runs SQL against the running cluster's rectify database; prints unaligned
# tuples (fields separated by |).
rf_psql() {
  "$(rf_pg_bindir)/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$RF_PG_CONNINFO" "$@"
}

rf_redis_cli() { redis-cli -h 127.0.0.1 -p "$RF_REDIS_PORT" "$@"; }

# rf_redis_start DIR: redis-server on 127.0.0.1:<free port>, no persistence,
# log in DIR/redis.log. Sets RF_REDIS_DIR, RF_REDIS_PORT, RF_REDIS_PID.
rf_redis_start() {
  local dir=$1 i
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  command -v redis-server >/dev/null || rf_die "redis-server not found (install redis-server)"
  for _ in 1 2 3 4 5; do
    RF_REDIS_PORT=$(rf_free_port)
    redis-server --port "$RF_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$dir" --daemonize no >>"$dir/redis.log" 2>&1 &
    RF_REDIS_PID=$!
    for ((i = 0; i < 200; i++)); do
      if [[ $(redis-cli -h 127.0.0.1 -p "$RF_REDIS_PORT" ping 2>/dev/null) == PONG ]]; then
        RF_REDIS_DIR=$dir
        rf_log "redis: up on 127.0.0.1:$RF_REDIS_PORT (pid $RF_REDIS_PID)"
        return 0
      fi
      kill -0 "$RF_REDIS_PID" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "$RF_REDIS_PID" 2>/dev/null; then
      kill "$RF_REDIS_PID"
      rf_die "redis-server did not answer PING (log $dir/redis.log)"
    fi
    wait "$RF_REDIS_PID" 2>/dev/null || true
    if ! grep -q "Address already in use" "$dir/redis.log"; then
      tail -n 20 "$dir/redis.log" >&2
      rf_die "redis-server did not start (log $dir/redis.log)"
    fi
    rf_log "redis: port $RF_REDIS_PORT taken, retrying"
  done
  rf_die "redis-server could not bind a port"
}

# rf_redis_stop [--keep]: SIGTERM (SIGKILL after 10 s); removes RF_REDIS_DIR unless --keep.
rf_redis_stop() {
  [[ -n ${RF_REDIS_PID:-} ]] || return 0
  local i
  kill "$RF_REDIS_PID" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$RF_REDIS_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$RF_REDIS_PID" 2>/dev/null || true
  wait "$RF_REDIS_PID" 2>/dev/null || true
  if [[ ${1:-} != --keep && -n ${RF_REDIS_DIR:-} ]]; then
    rm -rf "$RF_REDIS_DIR"
  fi
  RF_REDIS_PID=
  RF_REDIS_DIR=
}

rf_services_stop() {
  rf_redis_stop "$@"
  rf_pg_stop "$@"
}

# rf_xinfo_field PORT STREAM GROUP FIELD: one field of the group's XINFO GROUPS entry.
rf_xinfo_field() {
  redis-cli -h 127.0.0.1 -p "$1" XINFO GROUPS "$2" 2>/dev/null |
    awk -v g="$3" -v f="$4" '
      NR % 2 == 1 { k = $0; next }
      k == "name" { cur = $0 }
      cur == g && k == f { print; exit }'
}

# rf_redis_drained PORT STREAM GROUP: the group exists, has read every entry
# ever added to the stream (entries-read == entries-added), and nothing is
# pending (every delivered message was acked, i.e. committed).
rf_redis_drained() {
  local port=$1 stream=$2 group=$3 added read pending
  added=$(redis-cli -h 127.0.0.1 -p "$port" XINFO STREAM "$stream" 2>/dev/null |
    awk 'NR % 2 == 1 { k = $0; next } k == "entries-added" { print; exit }')
  read=$(rf_xinfo_field "$port" "$stream" "$group" entries-read)
  pending=$(rf_xinfo_field "$port" "$stream" "$group" pending)
  [[ -n $added && -n $read && -n $pending ]] || return 1
  [[ $read =~ ^[0-9]+$ ]] || return 1
  ((read >= added && pending == 0))
}

# rf_peak_rss_kb PID: VmHWM of a running process in kB (empty if gone).
rf_peak_rss_kb() {
  awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# One line describing the machine, for benchmark reports.
rf_machine() {
  local cpu mem
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  echo "nproc=$(nproc) cpu=\"${cpu:-unknown}\" mem=$mem kernel=$(uname -r)"
}

# rf_bench_build BUILD TARGET...: configures BUILD for a benchmark (Release,
# no sanitizers; RF_BENCH_BUILD_TYPE and RF_BENCH_CMAKE_ARGS change that) and
# builds the targets.
rf_bench_build() {
  local build=$1 extra
  shift
  read -r -a extra <<<"${RF_BENCH_CMAKE_ARGS:-}"
  rf_log "building (${RF_BENCH_BUILD_TYPE:-Release}) in $build"
  cmake -S "$(rf_root_dir)" -B "$build" -DCMAKE_BUILD_TYPE="${RF_BENCH_BUILD_TYPE:-Release}" \
    -DRF_SANITIZE=OFF "${extra[@]}" >/dev/null
  cmake --build "$build" -j2 --target "$@" >/dev/null
}
