#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the demo against an embedded RocksDB
# under ./data (or the directory given with --data).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "$root"
exec "${WAKE_BUILD_DIR:-$root/build}/engine/wake_demo" "$@"
