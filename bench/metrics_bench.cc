// metrics_bench: what wake's metrics cost.
//
// BM_Metrics_HistogramObserve[/threads:N]: one Histogram::Observe (16 buckets, shared by N threads).
// BM_Metrics_CounterIncrement: one Counter::Increment.
// BM_Metrics_WithLabelsObserve: a labelled family's WithLabels lookup (its mutex and map) + Observe,
//   as the hand pool and the HTTP server do per call.
// BM_Metrics_Render/<series>: RenderPrometheus of a registry shaped like the engine's, with <series>
//   series in an HTTP histogram family besides.
// BM_Metrics_TurnOverhead/<durable>: whole harness turns (model call, one tool call, model call,
//   idle; scripted brain, a hand that does nothing, a fresh session per turn) without and with
//   HarnessOptions::metrics, interleaved in batches so drift hits both alike; reports microseconds
//   per turn of each and their ratio (wall time, and the process's CPU time, which a loaded machine
//   disturbs less). <durable> 1: fsynced appends (the engine's default); 0: buffered,
//   where the CPU cost of the metrics is the larger share.
//
// Conditions are printed in each benchmark's label; data lives under $WAKE_BENCH_DIR (default
// /tmp/wake-bench).

#include <time.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/metrics.h"
#include "benchmark/benchmark.h"
#include "harness/harness.h"
#include "harness/scripted_brain.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"

namespace wake {
namespace {

using SteadyClock = std::chrono::steady_clock;

double ProcessCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

std::string BenchDir(const std::string& name) {
  const char* base = std::getenv("WAKE_BENCH_DIR");
  std::filesystem::path dir = std::filesystem::path(base != nullptr ? base : "/tmp/wake-bench") / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void BM_Metrics_HistogramObserve(benchmark::State& state) {
  static MetricsRegistry* registry = new MetricsRegistry;
  static Histogram* histogram = &registry->AddHistogram("bench_seconds", "x", LatencyBuckets());
  double v = 0.0001;
  for (auto _ : state) {
    histogram->Observe(v);
    v = v < 100 ? v * 1.7 : 0.0001;  // walk the buckets
  }
  state.SetLabel(absl::StrCat("16 buckets, ", state.threads(), " thread(s) on one histogram"));
}
BENCHMARK(BM_Metrics_HistogramObserve)->Threads(1)->Threads(2);

void BM_Metrics_CounterIncrement(benchmark::State& state) {
  MetricsRegistry registry;
  Counter& counter = registry.AddCounter("bench_total", "x");
  for (auto _ : state) counter.Increment();
  benchmark::DoNotOptimize(counter.value());
}
BENCHMARK(BM_Metrics_CounterIncrement);

void BM_Metrics_WithLabelsObserve(benchmark::State& state) {
  MetricsRegistry registry;
  HistogramFamily& family = registry.AddHistogramFamily("bench_seconds", "x", {"method", "route"}, LatencyBuckets());
  const std::vector<std::string> routes = {"/v1/agents", "/v1/sessions", "/v1/sessions/{id}", "/v1/sessions/{id}/events",
                                           "/v1/sessions/{id}/events/stream", "/metrics"};
  for (const std::string& r : routes) family.WithLabels({"GET", r});
  size_t i = 0;
  for (auto _ : state) family.WithLabels({"GET", routes[i++ % routes.size()]}).Observe(0.002);
  state.SetLabel("2 labels, 6 series");
}
BENCHMARK(BM_Metrics_WithLabelsObserve);

void BM_Metrics_Render(benchmark::State& state) {
  MetricsRegistry registry;
  HarnessMetrics::Register(registry);
  registry.AddGauge("wake_sessions_running", "x").Set(3);
  HistogramFamily& http = registry.AddHistogramFamily("wake_http_request_seconds", "x", {"method", "route"},
                                                      FastLatencyBuckets(), 1000);
  for (int64_t i = 0; i < state.range(0); ++i) http.WithLabels({"GET", absl::StrCat("/route", i)}).Observe(0.001);
  size_t bytes = 0;
  for (auto _ : state) bytes = registry.RenderPrometheus().size();
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetLabel(absl::StrCat("harness families + ", state.range(0), " 16-bucket series"));
}
BENCHMARK(BM_Metrics_Render)->Arg(10)->Arg(100);

// A hand that does nothing: the benchmark measures the engine, not a sandbox.
class NoopHands final : public SessionHands {
 public:
  absl::StatusOr<ToolResult> Execute(std::string_view, const ToolCall&, const CancelToken*, std::vector<Event>*) override {
    ToolResult r;
    ContentBlock b;
    b.text = "ok";
    r.content.push_back(std::move(b));
    return r;
  }
};

void BM_Metrics_TurnOverhead(benchmark::State& state) {
  const bool durable = state.range(0) != 0;
  RocksDbSessionLogOptions options;
  options.path = BenchDir(absl::StrCat("metrics-turns-", durable));
  options.durability = durable ? Durability::kSync : Durability::kBuffered;
  auto log = *OpenRocksDbSessionLog(options);
  auto brain = *NewScriptedBrain(R"({"turns":[
      {"text":"Running it.","tool_calls":[{"name":"bash","input":{"command":"true"}}]},
      {"text":"Done."}]})");
  NoopHands hands;
  AgentConfig agent;
  agent.model = "bench";
  agent.system = "You are a benchmark.";
  agent.tools = {{"bash", "Run a command.", R"({"type":"object"})"}};
  MetricsRegistry registry;
  const HarnessMetrics metrics = HarnessMetrics::Register(registry);
  HarnessOptions without;
  without.worker_id = "bench";
  HarnessOptions with = without;
  with.metrics = &metrics;
  Harness plain(log.get(), brain.get(), &hands, without);
  Harness measured(log.get(), brain.get(), &hands, with);

  constexpr int kBatch = 25;
  double without_us = 0, with_us = 0;          // wall time
  double without_cpu_us = 0, with_cpu_us = 0;  // the process' CPU time (all threads, RocksDB's too)
  int64_t turns = 0;
  auto run = [&](Harness& harness, double& wall_us, double& cpu_us) {
    const double cpu_start = ProcessCpuMicros();
    const auto start = SteadyClock::now();
    for (int t = 0; t < kBatch; ++t) {
      SessionInfo info;
      info.id = NewSessionId(absl::Now());
      (void)log->CreateSession(info);
      Event message;
      message.type = EventType::kUserMessage;
      message.id = NewEventId(absl::Now());
      ContentBlock text;
      text.text = "run it";
      message.content.push_back(std::move(text));
      (void)log->Append(info.id, {std::move(message)}, kAppendAtHead, kNoLease);
      if (!harness.Wake(info.id, agent).ok()) std::abort();
    }
    wall_us += std::chrono::duration<double, std::micro>(SteadyClock::now() - start).count();
    cpu_us += ProcessCpuMicros() - cpu_start;
  };
  // Warm-up, not counted: the log's first writes, the brain's and the allocator's first use.
  double ignored_wall = 0, ignored_cpu = 0;
  run(plain, ignored_wall, ignored_cpu);
  run(measured, ignored_wall, ignored_cpu);
  for (auto _ : state) {
    // Alternate which goes first, so neither always runs on a warmer cache.
    if (turns % (2 * kBatch) == 0) {
      run(plain, without_us, without_cpu_us);
      run(measured, with_us, with_cpu_us);
    } else {
      run(measured, with_us, with_cpu_us);
      run(plain, without_us, without_cpu_us);
    }
    turns += kBatch;
  }
  const double n = static_cast<double>(turns);
  state.counters["us_per_turn_without"] = without_us / n;
  state.counters["us_per_turn_with"] = with_us / n;
  state.counters["ratio"] = with_us / without_us;
  state.counters["cpu_us_per_turn_without"] = without_cpu_us / n;
  state.counters["cpu_us_per_turn_with"] = with_cpu_us / n;
  state.counters["cpu_ratio"] = with_cpu_us / without_cpu_us;
  state.counters["turns_each"] = static_cast<double>(turns);
  state.SetLabel(absl::StrCat(durable ? "durable (fsync)" : "buffered",
                              " log, 1 thread, turn = 2 model calls + 1 tool call, scripted brain, no-op hand"));
}
BENCHMARK(BM_Metrics_TurnOverhead)->Arg(0)->Iterations(40)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Metrics_TurnOverhead)->Arg(1)->Iterations(8)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wake

BENCHMARK_MAIN();
