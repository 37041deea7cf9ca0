#pragma once
// The hand benchmarks every backend runs, over a provider it makes (bench/<backend>_hand_bench.cc):
//
//   ProvisionCold   Provision until the hand is usable; the Release after it is not timed.
//   BashEchoWarm    the `bash` tool running `echo hi` through the toolset on a provisioned hand.
//   WriteRead1MiB   WriteFile of 1 MiB, then ReadFile of it.
//   Health          one Health() call: the floor of any round trip to the sandbox.
//   BashEchoSideBySide (registered by a backend with two ways to serve, see below)
//
// Each reports p50_ms, p95_ms and max_ms over its iterations (counters), besides the mean.
// WAKE_HAND_BENCHMARKS(Prefix, factory) registers all four as BM_<Prefix>_<name>.

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "sandbox/hand.h"
#include "sandbox/toolset.h"
#include "schemas/ids.h"

namespace wake::bench {

using Clock = std::chrono::steady_clock;
// Makes the backend's provider, or calls state.SkipWithError and returns null.
using ProviderFactory = std::unique_ptr<HandProvider> (*)(benchmark::State& state);

// Records one latency per iteration and reports percentiles.
class Latencies {
 public:
  void Add(Clock::duration d) { ms_.push_back(std::chrono::duration<double, std::milli>(d).count()); }
  void Report(benchmark::State& state) {
    if (ms_.empty()) return;
    std::sort(ms_.begin(), ms_.end());
    auto at = [&](double q) { return ms_[std::min(ms_.size() - 1, static_cast<size_t>(q * ms_.size()))]; };
    state.counters["p50_ms"] = at(0.50);
    state.counters["p95_ms"] = at(0.95);
    state.counters["max_ms"] = ms_.back();
  }

 private:
  std::vector<double> ms_;
};

inline void ProvisionCold(benchmark::State& state, ProviderFactory make) {
  std::unique_ptr<HandProvider> provider = make(state);
  if (provider == nullptr) return;
  Latencies latencies;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    absl::StatusOr<std::unique_ptr<Hand>> hand = provider->Provision(NewSessionId(absl::Now()), HandResources{});
    const Clock::time_point end = Clock::now();
    if (!hand.ok()) {
      state.SkipWithError(std::string(hand.status().message()).c_str());
      return;
    }
    latencies.Add(end - start);
    state.PauseTiming();
    (void)(*hand)->Release();
    state.ResumeTiming();
  }
  latencies.Report(state);
}

// A provisioned hand for the warm benchmarks, released when the benchmark ends.
struct WarmHand {
  std::unique_ptr<HandProvider> provider;
  std::unique_ptr<Hand> hand;
  ~WarmHand() {
    if (hand != nullptr) (void)hand->Release();
  }
};

inline bool Warm(benchmark::State& state, ProviderFactory make, WarmHand& warm) {
  warm.provider = make(state);
  if (warm.provider == nullptr) return false;
  absl::StatusOr<std::unique_ptr<Hand>> hand = warm.provider->Provision(NewSessionId(absl::Now()), HandResources{});
  if (!hand.ok()) {
    state.SkipWithError(std::string(hand.status().message()).c_str());
    return false;
  }
  warm.hand = *std::move(hand);
  return true;
}

inline void BashEchoWarm(benchmark::State& state, ProviderFactory make) {
  WarmHand warm;
  if (!Warm(state, make, warm)) return;
  const ToolsetOptions options;
  const ToolCall call{"bash", R"({"command":"echo hi"})", "bench"};
  // One untimed call: the first exec of a container pays for things later ones do not.
  (void)RunTool(*warm.hand, call, nullptr, options);
  Latencies latencies;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    absl::StatusOr<ToolResult> result = RunTool(*warm.hand, call, nullptr, options);
    latencies.Add(Clock::now() - start);
    if (!result.ok() || result->is_error || result->content.empty() || result->content[0].text != "hi\n") {
      state.SkipWithError("echo hi did not print hi");
      return;
    }
  }
  latencies.Report(state);
}

inline void WriteRead1MiB(benchmark::State& state, ProviderFactory make) {
  WarmHand warm;
  if (!Warm(state, make, warm)) return;
  std::string content(1 << 20, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 2654435761u >> 24);
  Latencies latencies;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    absl::Status wrote = warm.hand->WriteFile("bench/blob.bin", content);
    absl::StatusOr<std::string> read = warm.hand->ReadFile("bench/blob.bin", 2 << 20);
    latencies.Add(Clock::now() - start);
    if (!wrote.ok() || !read.ok() || *read != content) {
      state.SkipWithError("1 MiB did not round-trip");
      return;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * static_cast<int64_t>(content.size()));
  latencies.Report(state);
}

inline void Health(benchmark::State& state, ProviderFactory make) {
  WarmHand warm;
  if (!Warm(state, make, warm)) return;
  Latencies latencies;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    absl::Status health = warm.hand->Health();
    latencies.Add(Clock::now() - start);
    if (!health.ok()) {
      state.SkipWithError(std::string(health.message()).c_str());
      return;
    }
  }
  latencies.Report(state);
}

// The same warm `bash echo hi` on two hands of one backend made two ways (e.g. per exec and through
// the hand agent), interleaved call by call in one run so both see the same machine: reports each
// one's p50 and p95 and the ratio of the p50s (baseline over fast).
inline void BashEchoSideBySide(benchmark::State& state, ProviderFactory baseline, ProviderFactory fast) {
  WarmHand slow_hand;
  WarmHand fast_hand;
  if (!Warm(state, baseline, slow_hand) || !Warm(state, fast, fast_hand)) return;
  const ToolsetOptions options;
  const ToolCall call{"bash", R"({"command":"echo hi"})", "bench"};
  (void)RunTool(*slow_hand.hand, call, nullptr, options);
  (void)RunTool(*fast_hand.hand, call, nullptr, options);
  std::vector<double> slow_ms;
  std::vector<double> fast_ms;
  bool flip = false;
  for (auto _ : state) {
    for (int k = 0; k < 2; ++k) {
      const bool on_fast = (k == 0) == flip;  // alternate which goes first
      Hand& hand = on_fast ? *fast_hand.hand : *slow_hand.hand;
      const Clock::time_point start = Clock::now();
      absl::StatusOr<ToolResult> result = RunTool(hand, call, nullptr, options);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      (on_fast ? fast_ms : slow_ms).push_back(ms);
      if (!result.ok() || result->is_error || result->content.empty() || result->content[0].text != "hi\n") {
        state.SkipWithError("echo hi did not print hi");
        return;
      }
    }
    flip = !flip;
  }
  auto percentile = [](std::vector<double>& v, double q) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
  };
  if (slow_ms.empty()) return;
  state.counters["base_p50_ms"] = percentile(slow_ms, 0.50);
  state.counters["base_p95_ms"] = percentile(slow_ms, 0.95);
  state.counters["fast_p50_ms"] = percentile(fast_ms, 0.50);
  state.counters["fast_p95_ms"] = percentile(fast_ms, 0.95);
  state.counters["ratio_p50"] = percentile(slow_ms, 0.50) / percentile(fast_ms, 0.50);
}

}  // namespace wake::bench

#define WAKE_HAND_BENCHMARKS(prefix, factory)                                                              \
  static void BM_##prefix##_ProvisionCold(benchmark::State& s) { ::wake::bench::ProvisionCold(s, factory); } \
  BENCHMARK(BM_##prefix##_ProvisionCold)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(20);        \
  static void BM_##prefix##_BashEchoWarm(benchmark::State& s) { ::wake::bench::BashEchoWarm(s, factory); }   \
  BENCHMARK(BM_##prefix##_BashEchoWarm)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(200);       \
  static void BM_##prefix##_WriteRead1MiB(benchmark::State& s) { ::wake::bench::WriteRead1MiB(s, factory); } \
  BENCHMARK(BM_##prefix##_WriteRead1MiB)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(50);       \
  static void BM_##prefix##_Health(benchmark::State& s) { ::wake::bench::Health(s, factory); }               \
  BENCHMARK(BM_##prefix##_Health)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(200)
