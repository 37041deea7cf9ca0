// hand_bench_docker: the docker hand (per-exec primitives) on the real daemon at /var/run/docker.sock
// (or $WAKE_DOCKER_SOCKET), image wake-test-busybox:latest (or $WAKE_DOCKER_IMAGE).
//
// The common hand benchmarks (bench/hand_bench.h) as BM_DockerHand_*: provision is container create +
// start; a warm `echo hi` is exec create, start with attached streams, inspect (the target is
// p50 <= 5 ms); files go through the archive endpoints; Health is one container inspect.

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

}  // namespace

WAKE_HAND_BENCHMARKS(DockerHand, Provider);

}  // namespace wake

BENCHMARK_MAIN();
