#!/usr/bin/env bash
# The concurrency tests under ThreadSanitizer, built with clang, which also checks the locking
# annotations of every library target at compile time (-Wthread-safety, as errors). In build-tsan/.
# Exits non-zero on a build error, a failed test or a race report (TSan makes the test exit 66).
#   scripts/tsan.sh                    the tests below
#   scripts/tsan.sh storage_test       only these
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${WAKE_TSAN_BUILD_DIR:-$root/build-tsan}"
# The binaries whose tests run threads against each other: group commit and subscriptions of the log,
# single-flight provisioning and the warm pool, leases and wakes, the engine's scheduler, the server's
# streams, the client's resumable streams.
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(base_test storage_test hand_pool_test harness_test engine_test server_test client_test)
# clang and its sanitizer runtimes (libclang-rt-14-dev, Debian 12's clang 14).
"$root/scripts/setup.sh" clang libclang-rt-14-dev
for service in "$root"/scripts/services/*.sh; do
  [ -e "$service" ] && bash "$service"
done
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAKE_TSAN=ON \
  -DWAKE_BUILD_BENCH=OFF >/dev/null
# Every library target (so -Wthread-safety sees all of wake's locking), then the tests to run.
mapfile -t libraries < <(ninja -C "$build" -t targets all | sed -n 's/^\([^:]*lib[^:/]*\.a\): .*/\1/p')
cmake --build "$build" -j "${WAKE_JOBS:-2}" --target "${libraries[@]}" "${tests[@]}" >"$build/build.log" 2>&1 || {
  grep -E -m 20 -A3 'error' "$build/build.log" >&2; exit 1; }
export TSAN_OPTIONS="suppressions=$root/tests/tsan.supp halt_on_error=0 exitcode=66 ${TSAN_OPTIONS:-}"
export TEST_TMPDIR="${TEST_TMPDIR:-$(mktemp -d /tmp/wake-tsan.XXXXXX)}"
failed=0
for t in "${tests[@]}"; do
  binary=$(find "$build/tests" -type f -name "$t" -perm -u+x | head -n1)
  [ -n "$binary" ] || { echo "tsan.sh: no test binary $t" >&2; exit 2; }
  log="$build/$t.log"
  if (cd "$(dirname "$binary")" && "$binary" >"$log" 2>&1); then
    printf '%-18s ok (%s tests)\n' "$t" "$(grep -c '^\[       OK \]' "$log")"
  else
    printf '%-18s FAILED (see %s)\n' "$t" "$log"
    grep -m5 -E 'WARNING: ThreadSanitizer|\[  FAILED  \]' "$log" || true
    failed=1
  fi
done
exit $failed
