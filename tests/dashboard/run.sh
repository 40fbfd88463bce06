#!/bin/sh
# run.sh - runs the dashboard's browser test (e2e.js) with playwright-core
# installed from the pinned package-lock.json into a work directory (default
# $RF_SHOT_DIR/../dashboard-node), never into the source tree. `npm ci` runs
# only when node_modules is missing. The browser is Debian's chromium.
#
# Usage: RF_DASH_URL=... RF_DASH_TOKEN=... RF_SHOT_DIR=... RF_LAMBDA=... run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${RF_SHOT_DIR:?RF_SHOT_DIR is required}"
work=${RF_NODE_DIR:-$(dirname "$RF_SHOT_DIR")/dashboard-node}
command -v node >/dev/null || { echo "run.sh: node is not installed (apt-get install nodejs)" >&2; exit 2; }
command -v npm >/dev/null || { echo "run.sh: npm is not installed (apt-get install npm)" >&2; exit 2; }
mkdir -p "$work"
if [ ! -d "$work/node_modules/playwright-core" ] || ! cmp -s "$here/package-lock.json" "$work/package-lock.json"; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
NODE_PATH="$work/node_modules" exec node "$here/e2e.js"
