// hand_bench_ssh: the common hand benchmarks (bench/hand_bench.h) on the ssh backend, against an sshd
// of its own on 127.0.0.1 (tests/sandbox/ssh_test_server.h):
//   BM_SshHand_*       per channel: a warm `echo hi` is a new channel on the hand's open connection;
//                      files go over SFTP.
//   BM_SshHandAgent_*  through the hand agent ($WAKE_HAND_AGENT or the build's) on one channel: each
//                      primitive is one RPC on it (the target: warm echo p50 <= 3 ms).
// and BM_SshHand_EchoPerChannelVsAgent, the two interleaved in one run with the ratio of their p50s.

#include <cstdlib>

#include "bench/hand_bench.h"
#include "sandbox/ssh/ssh_hand.h"
#include "tests/sandbox/ssh_test_server.h"

namespace wake {
namespace {

testing::SshTestServer* server = nullptr;

std::unique_ptr<HandProvider> MakeProvider(benchmark::State& state, bool agent) {
  SshProviderOptions options;
  options.port = server->port();
  options.user = server->user();
  options.identity_file = server->identity_file();
  options.known_hosts_file = server->known_hosts_file();
  options.base_dir = server->dir() + "/hands";
  if (agent) {
    const char* path = std::getenv("WAKE_HAND_AGENT");
    options.agent_path = path != nullptr && *path != '\0' ? path : WAKE_HAND_AGENT_PATH;
    options.require_agent = true;
  }
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewSshProvider(options);
  if (!provider.ok()) {
    state.SkipWithError(std::string(provider.status().message()).c_str());
    return nullptr;
  }
  state.SetLabel(agent ? "hand agent" : "per channel");
  return *std::move(provider);
}

std::unique_ptr<HandProvider> Provider(benchmark::State& state) { return MakeProvider(state, false); }
std::unique_ptr<HandProvider> AgentProvider(benchmark::State& state) { return MakeProvider(state, true); }

void BM_SshHand_EchoPerChannelVsAgent(benchmark::State& state) {
  bench::BashEchoSideBySide(state, Provider, AgentProvider);
  state.SetLabel("base = per channel, fast = hand agent");
}
BENCHMARK(BM_SshHand_EchoPerChannelVsAgent)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(200);

}  // namespace

WAKE_HAND_BENCHMARKS(SshHand, Provider);
WAKE_HAND_BENCHMARKS(SshHandAgent, AgentProvider);

}  // namespace wake

int main(int argc, char** argv) {
  absl::StatusOr<std::unique_ptr<wake::testing::SshTestServer>> server = wake::testing::SshTestServer::Start();
  if (!server.ok()) return std::fprintf(stderr, "%s\n", std::string(server.status().message()).c_str()), 1;
  wake::server = server->get();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
