#!/usr/bin/env bash
# The hardened unit: `systemd-analyze verify` accepts it and
# `systemd-analyze security --offline=yes` scores it at 1.2 or lower (Debian's
# own redis-server unit scores 1.2). Runs on a copy whose ExecStart points at
# the built rectifyd, since verify checks that the binary exists.
set -euo pipefail
src=$1 bin=$2
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing (apt-get install systemd)"; exit 1; }
getent passwd rectify >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin rectify 2>/dev/null || true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/bin/rectifyd|$bin/rectifyd|" "$src/systemd/rectifyd.service" > "$tmp/rectifyd.service"
systemd-analyze verify "$tmp/rectifyd.service"
echo "systemd-analyze verify: ok"
out=$(systemd-analyze security --offline=yes "$tmp/rectifyd.service" 2>&1)
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for rectifyd.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || { printf '%s\n' "$out"; echo "no exposure score"; exit 1; }
echo "systemd-analyze security: exposure $score (limit 1.2)"
awk -v s="$score" 'BEGIN { exit !(s <= 1.2) }' || { printf '%s\n' "$out" | grep -v '✓'; exit 1; }
