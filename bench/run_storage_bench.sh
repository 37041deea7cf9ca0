#!/usr/bin/env bash
# Builds storage_bench (Release) when needed, runs it, keeps the JSON results in
# bench/results/storage-<UTC date-time>.json and prints a markdown summary of the key numbers, with
# wake's ratio to the best baseline.
#
# Usage:
#   bench/run_storage_bench.sh [google-benchmark flags...]    e.g. --benchmark_filter=BM_Read
#   bench/run_storage_bench.sh --table bench/results/storage-....json   (summary of an earlier run)
# Environment:
#   WAKE_BENCH_BUILD_DIR       build directory (default <repo>/build-bench, git-ignored; created as a
#                              Release build without tests, an existing one is used as it is)
#   WAKE_BENCH_DIR             data directory, wiped at start (default /tmp/wake-bench)
#   WAKE_BENCH_APPEND_SECONDS  measurement window of each append benchmark (default 3)
#   WAKE_BENCH_JOBS            build parallelism (default 2: the reference machine has 2 cores)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

print_table() {
  python3 - "$1" <<'PY'
import json, sys

with open(sys.argv[1]) as f:
    report = json.load(f)

# "BM_Append_WakeSync/sessions:64/iterations:1/manual_time" -> ("BM_Append_WakeSync", "64").
# With --benchmark_repetitions the median of the repetitions stands for the run.
runs, labels = {}, {}
for b in report["benchmarks"]:
    is_median = b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median"
    if b.get("run_type") == "aggregate" and not is_median:
        continue
    parts = b.get("run_name", b["name"]).split("/")
    arg = next((p.split(":")[-1] for p in parts[1:] if not p.startswith(("iterations:", "manual_time", "real_time"))), "")
    if is_median or (parts[0], arg) not in runs:
        runs[(parts[0], arg)] = b
    if b.get("label"):
        labels[(parts[0], arg)] = b["label"]
reps = max((b.get("repetitions", 1) for b in report["benchmarks"]), default=1)

def get(name, arg, counter):
    b = runs.get((name, str(arg)))
    if b is None or b.get("error_occurred"):
        return None
    return b.get(counter)

def rate(v):
    if v is None:
        return "n/a"
    return f"{v / 1e6:.2f} M/s" if v >= 1e6 else f"{v / 1e3:.1f} k/s"

def us(v):
    return "n/a" if v is None else f"{v:,.0f}"

def ratio(a, b):
    return "n/a" if a is None or not b else f"{a / b:.2f}x"

baselines = [("JsonlFdatasync", "JSONL+fdatasync"), ("FilePerEventFsync", "file/event+fsync"),
             ("SqliteWalFull", "SQLite WAL FULL")]

ctx = report.get("context", {})
print(f"Run {ctx.get('date', '?')} on {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} CPUs, "
      f"wake revision {ctx.get('wake_rev', '?')}, data on {ctx.get('data_fs', '?')} ({ctx.get('data_dir', '?')}). "
      f"The google-benchmark library itself is Debian's {ctx.get('library_build_type', '?')} build; wake is Release."
      + (f" Each number is the median of {reps} repetitions." if reps > 1 else "") + "\n")

print("### Durable append, single writer (1 event per append)\n")
print("| contender | p50 µs | p99 µs | events/s | p50 ÷ fdatasync p50 |")
print("|---|---:|---:|---:|---:|")
ref = get("BM_Fdatasync_Append300B", 1, "p50_us")
rows = [("BM_Fdatasync_Append300B", "reference: write 300 B + fdatasync"), ("BM_Append_WakeSync", "**wake kSync**")]
rows += [("BM_Append_" + n, label) for n, label in baselines]
for name, label in rows:
    p50 = get(name, 1, "p50_us")
    print(f"| {label} | {us(p50)} | {us(get(name, 1, 'p99_us'))} | {rate(get(name, 1, 'events_per_s'))} | {ratio(p50, ref)} |")
print("\nTarget: wake p50 within 1.2x of one fdatasync.\n")

print("### Durable append throughput, one writer thread per session\n")
print("| sessions | **wake kSync** (p99 µs) | " + " | ".join(f"{label} (p99 µs)" for _, label in baselines)
      + " | wake ÷ best baseline |")
print("|---:|---:|" + "---:|" * len(baselines) + "---:|")
for s in (1, 8, 64):
    cells, best = [], 0
    for name, _ in [("WakeSync", "")] + baselines:
        r = get("BM_Append_" + name, s, "events_per_s")
        cells.append(f"{rate(r)} ({us(get('BM_Append_' + name, s, 'p99_us'))})")
        if name != "WakeSync" and r:
            best = max(best, r)
    print(f"| {s} | " + " | ".join(cells) + f" | {ratio(get('BM_Append_WakeSync', s, 'events_per_s'), best)} |")
print("\nTarget: wake >= 100 k events/s at 64 sessions with p99 < 2,000 µs.\n")

print("### Buffered append throughput (acknowledged once in the OS, not synced)\n")
print("| sessions | **wake kBuffered** (p99 µs) | JSONL, write only (p99 µs) | wake ÷ JSONL |")
print("|---:|---:|---:|---:|")
for s in (1, 64):
    w, j = get("BM_Append_WakeBuffered", s, "events_per_s"), get("BM_Append_JsonlBuffered", s, "events_per_s")
    print(f"| {s} | {rate(w)} ({us(get('BM_Append_WakeBuffered', s, 'p99_us'))}) | "
          f"{rate(j)} ({us(get('BM_Append_JsonlBuffered', s, 'p99_us'))}) | {ratio(w, j)} |")

print("\n### Read a whole session, decoded (warm caches)\n")
readers = [("Wake", "**wake**"), ("Jsonl", "JSONL"), ("FilePerEvent", "file/event"), ("Sqlite", "SQLite")]
print("| events | " + " | ".join(label for _, label in readers) + " | wake ÷ best baseline | wake `Scan` (nothing kept) |")
print("|---:|" + "---:|" * len(readers) + "---:|---:|")
for n in (1000, 100000):
    values = [get("BM_Read_" + name, n, "events_per_s") for name, _ in readers]
    best = max((v for v in values[1:] if v), default=0)
    print(f"| {n:,} | " + " | ".join(rate(v) for v in values) + f" | {ratio(values[0], best)} | "
          f"{rate(get('BM_Scan_Wake', n, 'events_per_s'))} |")
print("\nTarget: wake >= 2 M events/s.\n")

print("### Load a 1,000-event session in wake (SessionLog::Read)\n")
print("| case | p50 µs | p99 µs | log open p50 µs |")
print("|---|---:|---:|---:|")
for name, label in (("BM_Load_WakeWarm", "warm: log open, caches warm"), ("BM_Load_WakeCold", "cold: reopened log")):
    print(f"| {label} | {us(get(name, 1000, 'p50_us'))} | {us(get(name, 1000, 'p99_us'))} | "
          f"{us(get(name, 1000, 'open_p50_us')) if name.endswith('Cold') else '-'} |")
cold_label = labels.get(("BM_Load_WakeCold", "1000"))
if cold_label:
    print(f"\nCold conditions: {cold_label.split(';')[1].strip()}.")
print("\nTarget: p50 < 1,000 µs.")

failed = [b for b in report["benchmarks"] if b.get("error_occurred")]
if failed:
    print("\n**Failed:** " + "; ".join(f"{b['name']}: {b.get('error_message', '?')}" for b in failed))
PY
}

if [[ "${1:-}" == "--table" ]]; then
  print_table "${2:?usage: $0 --table results.json}"
  exit 0
fi

build="${WAKE_BENCH_BUILD_DIR:-$repo/build-bench}"
# A new build dir is configured for Release without tests (not needed to benchmark). An existing one is
# used as it is, so pointing WAKE_BENCH_BUILD_DIR at a development build does not change its settings.
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWAKE_BUILD_TESTS=OFF >/dev/null
fi
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")"
if [[ "$build_type" != "Release" ]]; then
  echo "warning: $build is a '$build_type' build, not Release: numbers are not comparable" >&2
fi
cmake --build "$build" --target storage_bench -j "${WAKE_BENCH_JOBS:-2}"

mkdir -p "$repo/bench/results"
out="$repo/bench/results/storage-$(date -u +%Y%m%dT%H%M%SZ).json"
# Recorded in the JSON so a result file says what it measured.
data_dir="${WAKE_BENCH_DIR:-/tmp/wake-bench}"
rev="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo no-commit)"
if [[ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]]; then rev="$rev+uncommitted"; fi
data_fs="$(findmnt -no FSTYPE -T "$(dirname "$data_dir")" 2>/dev/null || echo unknown)"
"$build/bench/storage_bench" --benchmark_format=console --benchmark_out="$out" --benchmark_out_format=json \
  --benchmark_context="wake_rev=$rev,data_fs=$data_fs,data_dir=$data_dir" "$@"
echo
echo "JSON results: $out"
echo
print_table "$out"
