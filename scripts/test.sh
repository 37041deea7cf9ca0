#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs every test with ctest.
# Exits non-zero when any test fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${WAKE_BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
export TEST_TMPDIR="${TEST_TMPDIR:-$(mktemp -d /tmp/wake-test.XXXXXX)}"
cd "$build"
ctest --output-on-failure -j "${WAKE_JOBS:-2}" --timeout 600
