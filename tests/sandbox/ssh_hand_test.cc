// The ssh hand backend against a real sshd started by the test (127.0.0.1, a free port, generated
// keys): the conformance suite, and the host-key and key checks only ssh has.

#include "sandbox/ssh/ssh_hand.h"

#include <fstream>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "schemas/ids.h"
#include "tests/sandbox/hand_conformance.h"
#include "tests/sandbox/ssh_test_server.h"

namespace wake {
namespace {

using testing::HandConformanceTest;
using testing::SshTestServer;

std::unique_ptr<SshTestServer>& ServerHolder() {
  static auto* holder = new std::unique_ptr<SshTestServer>();
  return *holder;
}

SshTestServer& Server() {
  std::unique_ptr<SshTestServer>& holder = ServerHolder();
  if (holder == nullptr) {
    absl::StatusOr<std::unique_ptr<SshTestServer>> started = SshTestServer::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "ssh_hand_test: %s\n", std::string(started.status().message()).c_str());
      std::abort();
    }
    holder = *std::move(started);
  }
  return *holder;
}

// Stops the test's sshd when the tests are done.
class StopServer : public ::testing::Environment {
 public:
  void TearDown() override { ServerHolder().reset(); }
};
const auto* const kStopServer = ::testing::AddGlobalTestEnvironment(new StopServer);

SshProviderOptions Options() {
  SshProviderOptions options;
  options.port = Server().port();
  options.user = Server().user();
  options.identity_file = Server().identity_file();
  options.known_hosts_file = Server().known_hosts_file();
  options.base_dir = Server().dir() + "/hands";
  return options;
}

const testing::HandBackendFixture kSshFixture = {
    "ssh",
    [] { return NewSshProvider(Options()); },
    [](Hand&) -> absl::Status {
      Server().KillConnections();  // the sshd serving the hand's connection dies
      return absl::OkStatus();
    },
};

INSTANTIATE_TEST_SUITE_P(Ssh, HandConformanceTest, ::testing::Values(&kSshFixture),
                         [](const auto&) { return std::string("ssh"); });

TEST(SshHandTest, AnUnknownHostKeyIsRefused) {
  SshProviderOptions options = Options();
  options.known_hosts_file = Server().dir() + "/empty_known_hosts";
  std::ofstream(options.known_hosts_file).close();
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewSshProvider(options);
  EXPECT_EQ(provider.status().code(), absl::StatusCode::kPermissionDenied) << provider.status();
  EXPECT_TRUE(absl::StrContains(provider.status().message(), "unknown host key")) << provider.status();
}

TEST(SshHandTest, AChangedHostKeyIsRefused) {
  SshProviderOptions options = Options();
  options.known_hosts_file = Server().dir() + "/wrong_known_hosts";
  ASSERT_EQ(std::system(("ssh-keygen -q -t ed25519 -N '' -f " + Server().dir() + "/other_key >/dev/null 2>&1").c_str()), 0);
  {
    std::ifstream other(Server().dir() + "/other_key.pub");
    std::string key((std::istreambuf_iterator<char>(other)), std::istreambuf_iterator<char>());
    std::ofstream(options.known_hosts_file) << "[127.0.0.1]:" << Server().port() << " " << key;
  }
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewSshProvider(options);
  EXPECT_EQ(provider.status().code(), absl::StatusCode::kPermissionDenied) << provider.status();
  EXPECT_TRUE(absl::StrContains(provider.status().message(), "changed")) << provider.status();
}

TEST(SshHandTest, AKeyTheServerDoesNotKnowIsRefused) {
  SshProviderOptions options = Options();
  options.identity_file = Server().dir() + "/stranger_key";
  ASSERT_EQ(std::system(("ssh-keygen -q -t ed25519 -N '' -f " + options.identity_file + " >/dev/null 2>&1").c_str()), 0);
  EXPECT_EQ(NewSshProvider(options).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(SshHandTest, BadOptionsAreRefusedBeforeConnecting) {
  SshProviderOptions options = Options();
  options.base_dir = "relative/dir";
  EXPECT_EQ(NewSshProvider(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = Options();
  options.user = "";
  EXPECT_EQ(NewSshProvider(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wake
