#!/usr/bin/env bash
# Builds wake's libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ and runs each for a
# bounded time on a copy of its committed seed corpus (fuzz/corpus/<target>: seeds and the inputs of
# past findings, which run first as regression tests). Fails on any crash, leak or property
# violation; the input that found it is kept in build-fuzz/findings/. See fuzz/README.md.
#   scripts/fuzz.sh                      every target, WAKE_FUZZ_SECONDS (default 20) each
#   scripts/fuzz.sh event_json sse_parser
# WAKE_FUZZ_SEED fixes libFuzzer's random seed (.ci/run sets it, so the gate is reproducible; unset,
# each run explores afresh and the log names the seed it drew).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${WAKE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${WAKE_FUZZ_SECONDS:-20}"
# clang and its libFuzzer runtime (libclang-rt-14-dev, Debian 12's clang 14).
"$root/scripts/setup.sh" clang libclang-rt-14-dev
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAKE_FUZZ=ON \
  -DWAKE_BUILD_TESTS=OFF -DWAKE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "${WAKE_JOBS:-2}" --target fuzz_all

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for dir in "$root"/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi
mkdir -p "$build/findings"
work="$(mktemp -d /tmp/wake-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
failed=0
printf '%-12s %12s %10s %8s  %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  binary="$build/fuzz/${t}_fuzz"
  [ -x "$binary" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
  mkdir -p "$work/$t"
  cp "$root/fuzz/corpus/$t/"* "$work/$t/"
  log="$build/findings/$t.log"
  # -rss_limit_mb guards the 24 GiB machine; -timeout flags an input that hangs for 30 s.
  if "$binary" ${WAKE_FUZZ_SEED:+-seed="$WAKE_FUZZ_SEED"} -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/findings/$t-" "$work/$t" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log)"
    failed=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  printf '%-12s %12s %10s %8s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "$(ls "$work/$t" | wc -l)" "$result"
  [ "$result" = ok ] || grep -m5 -E 'ERROR|property failed|SUMMARY' "$log" || true
done
exit $failed
