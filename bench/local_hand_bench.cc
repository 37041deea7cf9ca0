// hand_bench_local: the common hand benchmarks (bench/hand_bench.h) on the local backend, as
// BM_LocalHand_*: a work dir under $WAKE_BENCH_DIR (default /tmp/wake-bench)/local-hands; a warm
// `echo hi` is a fork + exec of /bin/sh with its own process group.

#include <cstdlib>
#include <filesystem>

#include "bench/hand_bench.h"
#include "sandbox/local/local_hand.h"

namespace wake {
namespace {

std::unique_ptr<HandProvider> Provider(benchmark::State& state) {
  const char* base = std::getenv("WAKE_BENCH_DIR");
  LocalProviderOptions options;
  options.base_dir = (std::filesystem::path(base != nullptr ? base : "/tmp/wake-bench") / "local-hands").string();
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewLocalProvider(options);
  if (!provider.ok()) {
    state.SkipWithError(std::string(provider.status().message()).c_str());
    return nullptr;
  }
  return *std::move(provider);
}

}  // namespace

WAKE_HAND_BENCHMARKS(LocalHand, Provider);

}  // namespace wake

BENCHMARK_MAIN();
