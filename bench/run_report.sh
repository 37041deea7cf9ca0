#!/usr/bin/env bash
# One command for the performance report: runs the storage, harness, hand and TTFT benchmarks with
# short settings and writes their numbers side by side, with ratios, into bench/results/report.md
# (plus the TTFT benchmark's JSON, markdown and SVG plots, and each benchmark's JSON, in
# bench/results/report/). Expect ~5-10 minutes with docker, ~3 without.
#
# Usage: bench/run_report.sh
# Environment:
#   WAKE_BENCH_BUILD_DIR   build directory (default: <repo>/build when it exists, else <repo>/build-bench,
#                          configured Release without tests); the report says which build type it used
#   WAKE_BENCH_JOBS        build parallelism (default 2)
#   WAKE_BENCH_DIR         storage_bench's data directory (default /tmp/wake-bench-report)
#   WAKE_REPORT_DOCKER     "0" skips the docker runs even when dockerd answers (default: use it when it does)
#   WAKE_REPORT_SESSIONS   sessions per TTFT mode (default 24)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${WAKE_BENCH_BUILD_DIR:-}"
if [[ -z "$build" ]]; then
  if [[ -f "$repo/build/CMakeCache.txt" ]]; then build="$repo/build"; else build="$repo/build-bench"; fi
fi
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWAKE_BUILD_TESTS=OFF >/dev/null
fi
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")"

docker=0
if [[ "${WAKE_REPORT_DOCKER:-1}" != "0" ]] && curl -sf --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
  docker=1
fi
targets=(storage_bench harness_bench hand_bench_local ttft_bench)
if [[ $docker == 1 ]]; then targets+=(hand_bench_docker); fi
cmake --build "$build" -j "${WAKE_BENCH_JOBS:-2}" --target "${targets[@]}"

out="$repo/bench/results/report"
mkdir -p "$out"
sessions="${WAKE_REPORT_SESSIONS:-24}"
step() { echo "== $*" >&2; }

step "storage_bench (short: 1 s append windows, the main contenders)"
WAKE_BENCH_APPEND_SECONDS=1 WAKE_BENCH_DIR="${WAKE_BENCH_DIR:-/tmp/wake-bench-report}" "$build/bench/storage_bench" \
  --benchmark_filter='^BM_(Fdatasync_Append300B|Append_(WakeSync|JsonlFdatasync|FilePerEventFsync|SqliteWalFull)/sessions:(1|64)/|Append_(WakeBuffered|JsonlBuffered)/sessions:1/|Read_(Wake|Jsonl|FilePerEvent|Sqlite)/1000/|Scan_Wake/1000/|Load_WakeWarm)' \
  --benchmark_out="$out/storage.json" --benchmark_out_format=json >&2

step "harness_bench"
"$build/bench/harness_bench" --benchmark_out="$out/harness.json" --benchmark_out_format=json >&2

step "hand_bench_local"
"$build/bench/hand_bench_local" --benchmark_out="$out/hand_local.json" --benchmark_out_format=json >&2
if [[ $docker == 1 ]]; then
  step "hand_bench_docker"
  "$build/bench/hand_bench_docker" --benchmark_out="$out/hand_docker.json" --benchmark_out_format=json >&2
fi

# TTFT: first turns whose model TTFT is comparable to a container start; then a mixed workload; then
# long sessions (1,000 events) for the engine overhead target.
ttft=("$build/bench/ttft_bench" --out-dir "$out")
if [[ $docker == 1 ]]; then
  step "ttft_bench: docker hands, first turns"
  "${ttft[@]}" --backend docker --tag ttft-docker-first --sessions "$sessions" --concurrency 4 \
    --model-ttft-ms 250 --model-ttft-sigma 0.3 --tokens-per-s 80 --tokens-sigma 0.3 --warm-spares 4 >/dev/null
  step "ttft_bench: docker hands, mixed turns, open loop"
  "${ttft[@]}" --backend docker --tag ttft-docker-mixed --sessions "$sessions" --followups 3 --tool-fraction 0.5 \
    --arrival-rate 4 --model-ttft-ms 400 --model-ttft-sigma 0.5 --tokens-per-s 80 --tokens-sigma 0.3 \
    --warm-spares 4 >/dev/null
  step "ttft_bench: docker hands, through waked's HTTP API"
  "${ttft[@]}" --backend docker --e2e --tag ttft-docker-e2e --sessions "$sessions" --followups 2 --tool-fraction 0.5 \
    --concurrency 4 --model-ttft-ms 250 --model-ttft-sigma 0.3 --tokens-per-s 80 --tokens-sigma 0.3 \
    --warm-spares 4 >/dev/null
fi
step "ttft_bench: local hands, first turns (control)"
"${ttft[@]}" --backend local --tag ttft-local-first --sessions "$sessions" --concurrency 4 \
  --model-ttft-ms 250 --model-ttft-sigma 0.3 --tokens-per-s 80 --tokens-sigma 0.3 >/dev/null
step "ttft_bench: local hands, sessions of 1,000 events (engine overhead)"
"${ttft[@]}" --backend local --tag ttft-local-history1000 --modes lazy --sessions "$sessions" --followups 2 \
  --tool-fraction 0.5 --concurrency 4 --history 1000 --model-ttft-ms 50 --tokens-per-s 500 >/dev/null

step "report"
python3 - "$out" "$build_type" "$docker" "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo ?)$([[ -n "$(git -C "$repo" status --porcelain -- . ':!bench/results' 2>/dev/null)" ]] && echo +uncommitted || true)" \
  > "$repo/bench/results/report.md" <<'PY'
import json, os, sys, platform, datetime

out, build_type, docker, rev = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]

def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None

def bench_runs(report):
    runs = {}
    for b in (report or {}).get("benchmarks", []):
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        runs[b.get("run_name", b["name"])] = b
    return runs

def find(runs, prefix):
    for name, b in runs.items():
        if name.startswith(prefix):
            return b
    return None

def f(v, unit="", digits=1):
    return "n/a" if v is None else f"{v:,.{digits}f}{unit}"

def ratio(a, b):
    return "n/a" if a is None or not b else f"{a / b:.2f}x"

cpu = "?"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
print("# wake performance report\n")
print(f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, wake {rev}, {build_type} build, {os.cpu_count()} CPUs ({cpu}), "
      f"load average {os.getloadavg()[0]:.1f} at the end. Short settings (bench/run_report.sh): read the ratios "
      "more than the absolute values; bench/README.md has the longer runs.\n")

# --- storage
s = bench_runs(load("storage.json"))
def st(name, counter):
    b = find(s, name)
    return None if b is None else b.get(counter)
print("## Storage (storage_bench, 1 s append windows)\n")
print("| measure | wake | JSONL | file per event | SQLite | wake ÷ best baseline |")
print("|---|---:|---:|---:|---:|---:|")
ref = st("BM_Fdatasync_Append300B/", "p50_us")
for label, arg, counter, unit, lower_better in [
        ("durable append, 1 writer, p50 µs", "sessions:1/", "p50_us", "", True),
        ("durable append, 1 writer, events/s", "sessions:1/", "events_per_s", "", False),
        ("durable append, 64 writers, events/s", "sessions:64/", "events_per_s", "", False),
        ("durable append, 64 writers, p99 µs", "sessions:64/", "p99_us", "", True)]:
    vals = [st(f"BM_Append_{n}/{arg}", counter) for n in ("WakeSync", "JsonlFdatasync", "FilePerEventFsync", "SqliteWalFull")]
    others = [v for v in vals[1:] if v]
    best = (min(others) if lower_better else max(others)) if others else None
    print(f"| {label} | " + " | ".join(f(v, digits=0) for v in vals) + f" | {ratio(vals[0], best)} |")
reads = [st(f"BM_Read_{n}/1000/", "events_per_s") for n in ("Wake", "Jsonl", "FilePerEvent", "Sqlite")]
others = [v for v in reads[1:] if v]
print("| read 1,000 events, events/s | " + " | ".join(f(v, digits=0) for v in reads) +
      f" | {ratio(reads[0], max(others) if others else None)} |")
print(f"| scan 1,000 events (`SessionLog::Scan`, nothing kept), events/s | "
      f"{f(st('BM_Scan_Wake/1000/', 'events_per_s'), digits=0)} | | | | |")
print(f"\nOne fdatasync of 300 B: p50 {f(ref, ' µs', 0)}; wake's durable append p50 is "
      f"{ratio(st('BM_Append_WakeSync/sessions:1/', 'p50_us'), ref)} of it. Buffered append, 1 writer: wake "
      f"{f(st('BM_Append_WakeBuffered/sessions:1/', 'events_per_s'), ' events/s', 0)} vs JSONL write-only "
      f"{f(st('BM_Append_JsonlBuffered/sessions:1/', 'events_per_s'), ' events/s', 0)}. Load of a 1,000-event "
      f"session (warm): p50 {f(st('BM_Load_WakeWarm', 'p50_us'), ' µs', 0)}, p99 {f(st('BM_Load_WakeWarm', 'p99_us'), ' µs', 0)}.\n")

# --- harness
h = bench_runs(load("harness.json"))
print("## Harness: engine overhead per turn (harness_bench; model and hand taken out)\n")
print("| measure | p50 | p99 | target |")
print("|---|---:|---:|---|")
wakes = [("10", "0", "0"), ("10", "1", "0"), ("1000", "0", "0"), ("1000", "1", "0"), ("100000", "0", "1"),
         ("100000", "1", "1")]
for events, cache, compacted in wakes:
    b = find(h, f"BM_Harness_WakeToModelRequest/events:{events}/cache:{cache}/compacted:{compacted}/")
    p50, p99 = (b or {}).get("p50_us"), (b or {}).get("p99_us")
    target = ""
    if events == "1000" and cache == "0" and p50 is not None:  # the target holds without the cache too
        met = p50 < 2000 and p99 < 10000
        target = f"p50 < 2 ms, p99 < 10 ms: **{'met' if met else 'missed'}**"
    what = f"session of {events} events" + (" ending in a compaction" if compacted == "1" else "")
    what += ", replay cache" if cache == "1" else ", whole log read"
    print(f"| wake -> model request, {what} | {f(p50 and p50 / 1000, ' ms', 2)} | {f(p99 and p99 / 1000, ' ms', 2)} | {target} |")
for arg in ("1", "8", "64"):
    b = find(h, f"BM_Harness_Turns/{arg}/")
    print(f"| turns/s with {arg} sessions at once | {f((b or {}).get('turns_per_s'), '', 0)} | | |")
print()

# --- hands
print("## Hands: provision and execute per backend (hand_bench_*)\n")
backends = [("local", bench_runs(load("hand_local.json")))]
if docker:
    backends.append(("docker", bench_runs(load("hand_docker.json"))))
print("| benchmark | " + " | ".join(f"{b} p50 ms | {b} p95 ms" for b, _ in backends) +
      (" | docker ÷ local p50 |" if docker else " |"))
print("|---|" + "---:|---:|" * len(backends) + ("---:|" if docker else ""))
for bench in ("ProvisionCold", "BashEchoWarm", "WriteRead1MiB", "Health"):
    cells, p50s = [], []
    for name, runs in backends:
        b = find(runs, f"BM_{name.capitalize()}Hand_{bench}") or next(
            (v for k, v in runs.items() if k.endswith(bench) or f"_{bench}/" in k), None)
        p50s.append((b or {}).get("p50_ms"))
        cells += [f((b or {}).get("p50_ms"), "", 3), f((b or {}).get("p95_ms"), "", 3)]
    print(f"| {bench} | " + " | ".join(cells) + (f" | {ratio(p50s[1], p50s[0])} |" if docker else " |"))
print()

# --- TTFT
def ttft_section(tag, title, slice_key="first_tool"):
    r = load(f"{tag}.json")
    if r is None:
        return None
    modes = list(r["modes"].keys())
    summ = {m: r["modes"][m]["summary"].get(slice_key) for m in modes}
    if not any(summ.values()):
        return None
    print(f"### {title}\n\n{r['conditions']}. Full tables: `report/{tag}.md`; plots: `report/{tag}-ttft-cdf.svg`, "
          f"`report/{tag}-breakdown.svg`.\n")
    ratio_modes = [m for m in modes if m != "eager" and "eager" in modes]
    print("| ms | " + " | ".join(f"{m} p50 | {m} p95 | {m} p99" for m in modes) +
          "".join(f" | {m}/eager p50 | {m}/eager p95" for m in ratio_modes) + " |")
    print("|---|" + "---:|---:|---:|" * len(modes) + "---:|---:|" * len(ratio_modes))
    for key, label in [("ttft_ms", "**time to first token**"), ("total_ms", "turn total"), ("queue_ms", "queueing"),
                       ("wake_ms", "wake (lease + read + context)"), ("model_ttft_ms", "model TTFT"),
                       ("provision_ms", "hand provision"), ("execute_ms", "tool execute"),
                       ("overhead_ms", "engine overhead (total - model - hand - queue)"),
                       ("accepted_ms", "HTTP: POST user.message -> accepted"),
                       ("first_event_ms", "HTTP: accepted -> first agent event (SSE)")]:
        if all(((summ[m] or {}).get(key) or {}).get("p50") is None for m in modes):
            continue
        row = []
        for m in modes:
            v = (summ[m] or {}).get(key) or {}
            row += [f(v.get("p50")), f(v.get("p95")), f(v.get("p99"))]
        for m in ratio_modes:
            v, e = (summ[m] or {}).get(key) or {}, (summ["eager"] or {}).get(key) or {}
            row += [ratio(v.get("p50"), e.get("p50")), ratio(v.get("p95"), e.get("p95"))]
        print(f"| {label} | " + " | ".join(row) + " |")
    print(f"\n![TTFT CDF](report/{tag}-ttft-cdf.svg)\n![breakdown](report/{tag}-breakdown.svg)\n")
    return summ

print("## Time to first token: eager vs lazy vs warm pool (ttft_bench)\n")
verdicts = []
if docker:
    summ = ttft_section("ttft-docker-first", "Docker hands, first turns with a tool call")
    if summ and summ.get("eager") and summ.get("lazy"):
        e, l = summ["eager"]["ttft_ms"], summ["lazy"]["ttft_ms"]
        cut50, cut95 = 1 - l["p50"] / e["p50"], 1 - l["p95"] / e["p95"]
        verdicts.append(f"lazy vs eager, docker hands, first turns: TTFT p50 -{cut50 * 100:.0f} % (target -60 %: "
                        f"**{'met' if cut50 >= 0.6 else 'missed'}**), p95 -{cut95 * 100:.0f} % (target -90 %: "
                        f"**{'met' if cut95 >= 0.9 else 'missed'}**)")
    ttft_section("ttft-docker-mixed", "Docker hands, mixed turns (open loop), all turns", "all")
    ttft_section("ttft-docker-e2e", "Docker hands, through waked's HTTP API (--e2e), all turns", "all")
ttft_section("ttft-local-first", "Local hands, first turns with a tool call (control: provisioning is a mkdir)")
summ = ttft_section("ttft-local-history1000", "Local hands, sessions of 1,000 events, all turns (engine overhead)", "all")
if summ and summ.get("lazy"):
    w = summ["lazy"]["wake_ms"]
    verdicts.append(f"engine overhead (wake: lease + log read + context) at 1,000 events per session, through the "
                    f"Engine: p50 {w['p50']:.2f} ms, p99 {w['p99']:.2f} ms (target p50 < 2 ms, p99 < 10 ms: "
                    f"**{'met' if w['p50'] < 2 and w['p99'] < 10 else 'missed'}**)")
print("## Targets\n")
for v in verdicts:
    print(f"- {v}")
if not docker:
    print("- docker was not available: the lazy vs eager target is not measured in this report")
PY
echo "wrote $repo/bench/results/report.md" >&2
