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

// The same, with every primitive served by the hand agent on one channel.
SshProviderOptions AgentOptions() {
  SshProviderOptions options = Options();
  options.agent_path = WAKE_HAND_AGENT_PATH;
  options.require_agent = true;
  return options;
}

const testing::HandBackendFixture kSshAgentFixture = {
    "ssh_agent",
    [] { return NewSshProvider(AgentOptions()); },
    [](Hand&) -> absl::Status {
      Server().KillConnections();
      return absl::OkStatus();
    },
};

INSTANTIATE_TEST_SUITE_P(Ssh, HandConformanceTest, ::testing::Values(&kSshFixture, &kSshAgentFixture),
                         [](const auto& info) { return info.param->name; });

TEST(SshAgentTest, ProcessesRunUnderTheAgentAndSurviveItsDeathPerChannel) {
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewSshProvider(AgentOptions());
  ASSERT_TRUE(provider.ok()) << provider.status();
  absl::StatusOr<std::unique_ptr<Hand>> hand = (*provider)->Provision(NewSessionId(absl::Now()), HandResources{});
  ASSERT_TRUE(hand.ok()) << hand.status();
  RunRequest request;
  request.shell = "tr '\\0' ' ' < /proc/$PPID/cmdline";
  absl::StatusOr<RunOutcome> out = (*hand)->Run(request, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(absl::StrContains(out->stdout_data, "/.wake-agent --work-dir=")) << out->stdout_data;
  // A command that kills the agent: that run fails, the hand goes on per channel.
  request.shell = "kill -KILL $PPID; sleep 5";
  out = (*hand)->Run(request, nullptr);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal) << out.status();
  request.shell = "echo per channel";
  out = (*hand)->Run(request, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->stdout_data, "per channel\n");
  EXPECT_TRUE((*hand)->Release().ok());
}

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
