// hand_bench_docker: the docker hand (per-exec primitives) on the real daemon at /var/run/docker.sock
// (or $WAKE_DOCKER_SOCKET), image wake-test-busybox:latest (or $WAKE_DOCKER_IMAGE).
//
// BM_DockerHand_ProvisionCold     Provision (container create + start) until the hand is usable;
//                                 the Release after it is not timed.
// BM_DockerHand_BashEchoWarm      the `bash` tool running `echo hi` through the toolset on a
//                                 provisioned hand: exec create, start with attached streams,
//                                 inspect. The issue's target is p50 <= 5 ms.
// BM_DockerHand_WriteRead1MiB     WriteFile of 1 MiB then ReadFile of it (archive endpoints).
// BM_DockerHand_Health            one container inspect: the floor of any Engine API round trip.
//
// Each reports p50_ms and p95_ms over its iterations (counters), besides Google Benchmark's mean.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "sandbox/docker/docker_hand.h"
#include "sandbox/toolset.h"
#include "schemas/ids.h"

namespace wake {
namespace {

using Clock = std::chrono::steady_clock;

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::unique_ptr<HandProvider> Provider(benchmark::State& state) {
  DockerProviderOptions options;
  options.socket_path = EnvOr("WAKE_DOCKER_SOCKET", "/var/run/docker.sock");
  options.image = EnvOr("WAKE_DOCKER_IMAGE", "wake-test-busybox:latest");
  options.labels = {{"wake.bench", "1"}};
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewDockerProvider(options);
  if (!provider.ok()) {
    state.SkipWithError(std::string(provider.status().message()).c_str());
    return nullptr;
  }
  state.SetLabel(absl::StrCat("image=", options.image, " per-exec primitives"));
  return *std::move(provider);
}

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

void BM_DockerHand_ProvisionCold(benchmark::State& state) {
  std::unique_ptr<HandProvider> provider = Provider(state);
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
BENCHMARK(BM_DockerHand_ProvisionCold)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(20);

// A provisioned hand for the warm benchmarks, released when the benchmark ends.
struct WarmHand {
  std::unique_ptr<HandProvider> provider;
  std::unique_ptr<Hand> hand;
  ~WarmHand() {
    if (hand != nullptr) (void)hand->Release();
  }
};

bool Warm(benchmark::State& state, WarmHand& warm) {
  warm.provider = Provider(state);
  if (warm.provider == nullptr) return false;
  absl::StatusOr<std::unique_ptr<Hand>> hand = warm.provider->Provision(NewSessionId(absl::Now()), HandResources{});
  if (!hand.ok()) {
    state.SkipWithError(std::string(hand.status().message()).c_str());
    return false;
  }
  warm.hand = *std::move(hand);
  return true;
}

void BM_DockerHand_BashEchoWarm(benchmark::State& state) {
  WarmHand warm;
  if (!Warm(state, warm)) return;
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
BENCHMARK(BM_DockerHand_BashEchoWarm)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(200);

void BM_DockerHand_WriteRead1MiB(benchmark::State& state) {
  WarmHand warm;
  if (!Warm(state, warm)) return;
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
BENCHMARK(BM_DockerHand_WriteRead1MiB)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(50);

void BM_DockerHand_Health(benchmark::State& state) {
  WarmHand warm;
  if (!Warm(state, warm)) return;
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
BENCHMARK(BM_DockerHand_Health)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(200);

}  // namespace
}  // namespace wake

BENCHMARK_MAIN();
