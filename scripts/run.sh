#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts waked on an embedded RocksDB under ./data
# (or --data DIR) and runs a demo session end to end through its HTTP/SSE API, streaming the events
# to the terminal (see scripts/demo.sh for the options).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "$root"
exec "$root/scripts/demo.sh" "${WAKE_BUILD_DIR:-$root/build}" "$@"
