#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs every test with ctest.
# Exits non-zero when any test fails.
#   WAKE_SANITIZER=asan scripts/test.sh   the same suite under AddressSanitizer + UBSan (in build-asan/)
#   WAKE_SANITIZER=tsan scripts/test.sh   under ThreadSanitizer (in build-tsan/; tests/tsan.supp applies)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmake_args=()
case "${WAKE_SANITIZER:-}" in
  "") ;;
  asan) cmake_args=(-DWAKE_ASAN=ON -DWAKE_BUILD_BENCH=OFF); export WAKE_BUILD_DIR="${WAKE_BUILD_DIR:-$root/build-asan}" ;;
  tsan) cmake_args=(-DWAKE_TSAN=ON -DWAKE_BUILD_BENCH=OFF); export WAKE_BUILD_DIR="${WAKE_BUILD_DIR:-$root/build-tsan}"
        export TSAN_OPTIONS="suppressions=$root/tests/tsan.supp ${TSAN_OPTIONS:-}" ;;
  *) echo "scripts/test.sh: WAKE_SANITIZER must be asan or tsan, not '$WAKE_SANITIZER'" >&2; exit 2 ;;
esac
build="${WAKE_BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh"
# The services the integration tests talk to (dockerd and its local test image, sshd's packages):
# each script installs what is missing and starts what is not running.
for service in "$root"/scripts/services/*.sh; do
  [ -e "$service" ] && bash "$service"
done
"$root/scripts/build.sh" "${cmake_args[@]}"
export TEST_TMPDIR="${TEST_TMPDIR:-$(mktemp -d /tmp/wake-test.XXXXXX)}"
cd "$build"
ctest --output-on-failure -j "${WAKE_JOBS:-2}" --timeout 600
