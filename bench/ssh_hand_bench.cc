// hand_bench_ssh: the common hand benchmarks (bench/hand_bench.h) on the ssh backend, as
// BM_SshHand_*, against an sshd of its own on 127.0.0.1 (tests/sandbox/ssh_test_server.h). A warm
// `echo hi` is a new channel on the hand's open connection; files go over SFTP.

#include "bench/hand_bench.h"
#include "sandbox/ssh/ssh_hand.h"
#include "tests/sandbox/ssh_test_server.h"

namespace wake {
namespace {

testing::SshTestServer* server = nullptr;

std::unique_ptr<HandProvider> Provider(benchmark::State& state) {
  SshProviderOptions options;
  options.port = server->port();
  options.user = server->user();
  options.identity_file = server->identity_file();
  options.known_hosts_file = server->known_hosts_file();
  options.base_dir = server->dir() + "/hands";
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewSshProvider(options);
  if (!provider.ok()) {
    state.SkipWithError(std::string(provider.status().message()).c_str());
    return nullptr;
  }
  return *std::move(provider);
}

}  // namespace

WAKE_HAND_BENCHMARKS(SshHand, Provider);

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
