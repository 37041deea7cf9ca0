// hand_bench_docker: the docker hand (per-exec primitives) on the real daemon at /var/run/docker.sock
// (or $WAKE_DOCKER_SOCKET), image wake-test-busybox:latest (or $WAKE_DOCKER_IMAGE).
//
// The common hand benchmarks (bench/hand_bench.h) twice:
//   BM_DockerHand_*       per exec: provision is container create + start; a warm `echo hi` is exec
//                         create, start with attached streams, inspect; files go through the archive
//                         endpoints; Health is one container inspect.
//   BM_DockerHandAgent_*  through the hand agent (sandbox/agent; $WAKE_HAND_AGENT or the build's):
//                         provision adds copying the agent in and starting it; a warm `echo hi` and
//                         the files are one RPC each on the agent's open stream (the target
//                         is p50 <= 5 ms).
// and BM_DockerHand_EchoPerExecVsAgent, the two interleaved in one run with the ratio of their p50s.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/hand_bench.h"
#include "benchmark/benchmark.h"
#include "sandbox/docker/docker_hand.h"
#include "sandbox/toolset.h"
#include "schemas/ids.h"

namespace wake {
namespace {

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::unique_ptr<HandProvider> MakeProvider(benchmark::State& state, bool agent) {
  DockerProviderOptions options;
  options.socket_path = EnvOr("WAKE_DOCKER_SOCKET", "/var/run/docker.sock");
  options.image = EnvOr("WAKE_DOCKER_IMAGE", "wake-test-busybox:latest");
  options.labels = {{"wake.bench", "1"}};
  if (agent) {
    options.agent_path = EnvOr("WAKE_HAND_AGENT", WAKE_HAND_AGENT_PATH);
    options.require_agent = true;
  }
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewDockerProvider(options);
  if (!provider.ok()) {
    state.SkipWithError(std::string(provider.status().message()).c_str());
    return nullptr;
  }
  state.SetLabel(absl::StrCat("image=", options.image, agent ? " hand agent" : " per-exec primitives"));
  return *std::move(provider);
}

std::unique_ptr<HandProvider> Provider(benchmark::State& state) { return MakeProvider(state, false); }
std::unique_ptr<HandProvider> AgentProvider(benchmark::State& state) { return MakeProvider(state, true); }

void BM_DockerHand_EchoPerExecVsAgent(benchmark::State& state) {
  bench::BashEchoSideBySide(state, Provider, AgentProvider);
  state.SetLabel("base = per exec, fast = hand agent");
}
BENCHMARK(BM_DockerHand_EchoPerExecVsAgent)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(200);

}  // namespace

WAKE_HAND_BENCHMARKS(DockerHand, Provider);
WAKE_HAND_BENCHMARKS(DockerHandAgent, AgentProvider);

}  // namespace wake

BENCHMARK_MAIN();
