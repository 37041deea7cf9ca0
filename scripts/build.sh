#!/usr/bin/env bash
# Configures and builds wake into ./build (or $WAKE_BUILD_DIR). Extra arguments go to cmake's
# configure step, e.g. scripts/build.sh -DWAKE_ASAN=ON.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${WAKE_BUILD_DIR:-$root/build}"
jobs="${WAKE_JOBS:-2}"   # the reference machine has 2 cores and 24 GiB
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${WAKE_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$build" -j "$jobs"
