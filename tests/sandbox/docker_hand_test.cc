// The docker hand backend against the real daemon at /var/run/docker.sock (or $WAKE_DOCKER_SOCKET)
// with the local test image (scripts/services/docker.sh builds it; nothing is pulled): the
// conformance suite, then what is particular to containers. Every container these tests make
// carries a label unique to this test process and is removed at the end, even after a failure.

#include <atomic>
#include <cstdio>
#include <fstream>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/docker/docker_hand.h"
#include "sandbox/docker/internal/engine_client.h"
#include "sandbox/hand_pool.h"
#include "sandbox/toolset.h"
#include "schemas/ids.h"
#include "simdjson.h"
#include "tests/sandbox/hand_conformance.h"

namespace wake {
namespace {

using ::testing::HasSubstr;
using docker_internal::EngineClient;
using docker_internal::EngineResponse;
using docker_internal::QueryEscape;
namespace dom = simdjson::dom;

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

const std::string& SocketPath() {
  static const std::string path = EnvOr("WAKE_DOCKER_SOCKET", "/var/run/docker.sock");
  return path;
}

const std::string& Image() {
  static const std::string image = EnvOr("WAKE_DOCKER_IMAGE", "wake-test-busybox:latest");
  return image;
}

// This process's label value: its containers, and no one else's, are cleaned up at exit.
const std::string& RunLabel() {
  static const std::string label = absl::StrCat(getpid(), "-", absl::ToUnixNanos(absl::Now()));
  return label;
}

DockerProviderOptions TestOptions() {
  DockerProviderOptions options;
  options.socket_path = SocketPath();
  options.image = Image();
  options.labels = {{"wake.test", RunLabel()}};
  return options;
}

// With the hand agent, required (so a test of it never silently runs per exec).
DockerProviderOptions AgentOptions() {
  DockerProviderOptions options = TestOptions();
  options.agent_path = WAKE_HAND_AGENT_PATH;
  options.require_agent = true;
  return options;
}

std::unique_ptr<HandProvider> MakeProvider(DockerProviderOptions options = TestOptions()) {
  absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewDockerProvider(std::move(options));
  EXPECT_TRUE(provider.ok()) << provider.status();
  return provider.ok() ? *std::move(provider) : nullptr;
}

// The daemon, for looking at containers from outside the hand.
const EngineClient& Daemon() {
  static const EngineClient* client = new EngineClient(SocketPath(), absl::Seconds(30));
  return *client;
}

absl::Status KillContainer(const std::string& id) {
  absl::StatusOr<EngineResponse> response = Daemon().Call("POST", absl::StrCat("/containers/", id, "/kill"));
  if (!response.ok()) return response.status();
  if (response->status != 204) return absl::InternalError(absl::StrCat("kill: HTTP ", response->status, " ", response->body));
  // The kill is sent; the container is down once the daemon says so.
  response = Daemon().Call("POST", absl::StrCat("/containers/", id, "/wait?condition=not-running"));
  if (!response.ok()) return response.status();
  if (response->status != 200) return absl::InternalError(absl::StrCat("wait: HTTP ", response->status, " ", response->body));
  return absl::OkStatus();
}

// The container's inspect JSON, or "" when it does not exist.
std::string Inspect(const std::string& id) {
  absl::StatusOr<EngineResponse> response = Daemon().Call("GET", absl::StrCat("/containers/", id, "/json"));
  EXPECT_TRUE(response.ok()) << response.status();
  if (!response.ok() || response->status == 404) return "";
  EXPECT_EQ(response->status, 200) << response->body;
  return response->body;
}

// The ids of the containers carrying `label` ("key=value"), running or not.
std::vector<std::string> ContainersLabelled(const std::string& label) {
  const std::string filters = absl::StrCat(R"({"label":[")", label, R"("]})");
  absl::StatusOr<EngineResponse> response =
      Daemon().Call("GET", absl::StrCat("/containers/json?all=true&filters=", QueryEscape(filters)));
  EXPECT_TRUE(response.ok()) << response.status();
  std::vector<std::string> ids;
  if (!response.ok()) return ids;
  dom::parser parser;
  simdjson::padded_string padded(response->body);
  dom::array array;
  EXPECT_EQ(parser.parse(padded).get(array), simdjson::SUCCESS) << response->body;
  for (dom::element item : array) {
    std::string_view id;
    if (item["Id"].get(id) == simdjson::SUCCESS) ids.emplace_back(id);
  }
  return ids;
}

// Removes every container of this test process at the end, whatever the tests left.
class CleanupEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const std::string& id : ContainersLabelled(absl::StrCat("wake.test=", RunLabel()))) {
      (void)Daemon().Call("DELETE", absl::StrCat("/containers/", id, "?force=true&v=true"));
    }
  }
};
const ::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new CleanupEnvironment);

}  // namespace

namespace testing {
namespace {

const HandBackendFixture kDockerFixture = {
    "docker",
    [] { return NewDockerProvider(TestOptions()); },
    [](Hand& hand) { return KillContainer(hand.id()); },
};

// The same, with every primitive served by the hand agent inside the container.
const HandBackendFixture kDockerAgentFixture = {
    "docker_agent",
    [] { return NewDockerProvider(AgentOptions()); },
    [](Hand& hand) { return KillContainer(hand.id()); },
};

INSTANTIATE_TEST_SUITE_P(Docker, HandConformanceTest, ::testing::Values(&kDockerFixture, &kDockerAgentFixture),
                         [](const auto& info) { return info.param->name; });

}  // namespace
}  // namespace testing

namespace {

// A hand of its own per test, released at the end.
class DockerHandTest : public ::testing::Test {
 protected:
  virtual DockerProviderOptions Options() const { return TestOptions(); }

  void SetUp() override {
    provider_ = MakeProvider(Options());
    ASSERT_NE(provider_, nullptr);
    session_ = NewSessionId(absl::Now());
    absl::StatusOr<std::unique_ptr<Hand>> hand = provider_->Provision(session_, resources_);
    ASSERT_TRUE(hand.ok()) << hand.status();
    hand_ = *std::move(hand);
  }

  void TearDown() override {
    if (hand_ != nullptr) {
      EXPECT_TRUE(hand_->Release().ok());
    }
  }

  RunOutcome Shell(const std::string& command, absl::Duration timeout = absl::Seconds(60), size_t cap = 1 << 20) {
    RunRequest request;
    request.shell = command;
    request.timeout = timeout;
    request.output_cap = cap;
    absl::StatusOr<RunOutcome> outcome = hand_->Run(request, nullptr);
    EXPECT_TRUE(outcome.ok()) << command << ": " << outcome.status();
    return outcome.ok() ? *std::move(outcome) : RunOutcome{};
  }

  // Polls (bounded) until process `pid` of the hand is gone or a zombie; returns whether it was.
  bool ProcessGone(const std::string& pid) {
    RunOutcome check = Shell(absl::StrCat(
        "for i in $(seq 1 100); do if [ ! -e /proc/", pid, " ] || grep -q '^[0-9]* ([^)]*) Z' /proc/", pid,
        "/stat; then echo gone; exit 0; fi; sleep 0.05; done; echo alive"));
    return check.stdout_data == "gone\n";
  }

  void CheckTimeoutKillsTheTreeEvenANewSession() {
  // A grandchild in the same process group, and one that made itself a new session (so killing
  // the process group alone would miss it).
  RunOutcome outcome = Shell(
      "sh -c 'echo $$ > group.pid; exec sleep 60' & setsid sh -c 'echo $$ > session.pid; exec sleep 60' & sleep 60",
      absl::Milliseconds(700));
  EXPECT_TRUE(outcome.timed_out);
  EXPECT_FALSE(outcome.cancelled);
  EXPECT_FALSE(outcome.exited);
  EXPECT_EQ(outcome.term_signal, 9);
  absl::StatusOr<std::string> group = hand_->ReadFile("group.pid", 100);
  absl::StatusOr<std::string> session = hand_->ReadFile("session.pid", 100);
  ASSERT_TRUE(group.ok()) << group.status();
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_TRUE(ProcessGone(std::string(absl::StripTrailingAsciiWhitespace(*group))));
  EXPECT_TRUE(ProcessGone(std::string(absl::StripTrailingAsciiWhitespace(*session))));
  // Nothing of the tree is left, and no zombie either (docker-init reaps them).
  EXPECT_EQ(Shell("ps -o stat,args | grep -c '[s]leep 60' || true").stdout_data, "0\n");
}

  HandResources resources_;
  std::unique_ptr<HandProvider> provider_;
  std::string session_;
  std::unique_ptr<Hand> hand_;
};

TEST(DockerProviderTest, MalformedOptionsAreRefused) {
  DockerProviderOptions no_image = TestOptions();
  no_image.image = "";
  EXPECT_EQ(NewDockerProvider(no_image).status().code(), absl::StatusCode::kInvalidArgument);
  DockerProviderOptions relative = TestOptions();
  relative.work_dir = "work";
  EXPECT_EQ(NewDockerProvider(relative).status().code(), absl::StatusCode::kInvalidArgument);
  DockerProviderOptions reserved = TestOptions();
  reserved.labels = {{"wake.session", "x"}};
  EXPECT_EQ(NewDockerProvider(reserved).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DockerProviderTest, AnUnreachableDaemonIsUnavailableAndNamesTheSocket) {
  DockerProviderOptions options = TestOptions();
  options.socket_path = "/nonexistent/docker.sock";
  options.request_timeout = absl::Seconds(5);
  std::unique_ptr<HandProvider> provider = MakeProvider(options);
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::unique_ptr<Hand>> hand = provider->Provision(NewSessionId(absl::Now()), HandResources{});
  EXPECT_EQ(hand.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(hand.status().message()), HasSubstr("/nonexistent/docker.sock"));
  EXPECT_THAT(std::string(hand.status().message()), HasSubstr("/containers/create"));
}

TEST(DockerProviderTest, AMissingImageIsAFailedPreconditionNamingIt) {
  DockerProviderOptions options = TestOptions();
  options.image = "wake-no-such-image:never";
  std::unique_ptr<HandProvider> provider = MakeProvider(options);
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::unique_ptr<Hand>> hand = provider->Provision(NewSessionId(absl::Now()), HandResources{});
  EXPECT_EQ(hand.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(hand.status().message()), HasSubstr("wake-no-such-image:never"));
}

TEST(DockerProviderTest, BadResourcesAreRefusedBeforeTheDaemonSeesThem) {
  std::unique_ptr<HandProvider> provider = MakeProvider();
  ASSERT_NE(provider, nullptr);
  HandResources negative;
  negative.memory_bytes = -1;
  EXPECT_EQ(provider->Provision(NewSessionId(absl::Now()), negative).status().code(),
            absl::StatusCode::kInvalidArgument);
  HandResources bad_env;
  bad_env.env = {{"A=B", "c"}};
  EXPECT_EQ(provider->Provision(NewSessionId(absl::Now()), bad_env).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DockerProviderTest, AWorkDirTheImageLacksIsCreated) {
  DockerProviderOptions options = TestOptions();
  options.work_dir = "/srv/deep/project";
  std::unique_ptr<HandProvider> provider = MakeProvider(options);
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::unique_ptr<Hand>> hand = provider->Provision(NewSessionId(absl::Now()), HandResources{});
  ASSERT_TRUE(hand.ok()) << hand.status();
  EXPECT_EQ((*hand)->work_dir(), "/srv/deep/project");
  RunRequest request;
  request.argv = {"pwd"};
  absl::StatusOr<RunOutcome> outcome = (*hand)->Run(request, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->stdout_data, "/srv/deep/project\n");
  ASSERT_TRUE((*hand)->WriteFile("notes.txt", "here").ok());
  EXPECT_EQ((*hand)->ReadFile("/srv/deep/project/notes.txt", 100).value_or("?"), "here");
  EXPECT_TRUE((*hand)->Release().ok());
}

TEST(DockerProviderTest, LimitsLabelsAndEnvironmentAreApplied) {
  std::unique_ptr<HandProvider> provider = MakeProvider();
  ASSERT_NE(provider, nullptr);
  const std::string session = NewSessionId(absl::Now());
  HandResources resources;
  resources.memory_bytes = 256 << 20;
  resources.cpus = 0.5;
  resources.pids = 64;
  resources.env = {{"WAKE_SECRET_THING", "s3cret value"}};
  absl::StatusOr<std::unique_ptr<Hand>> hand = provider->Provision(session, resources);
  ASSERT_TRUE(hand.ok()) << hand.status();
  const std::string json = Inspect((*hand)->id());
  dom::parser parser;
  simdjson::padded_string padded(json);
  dom::element root;
  ASSERT_EQ(parser.parse(padded).get(root), simdjson::SUCCESS);
  int64_t memory = 0, swap = 0, nano_cpus = 0, pids = 0;
  bool init = false;
  std::string_view network, session_label, hand_label, working_dir;
  EXPECT_EQ(root["HostConfig"]["Memory"].get(memory), simdjson::SUCCESS);
  EXPECT_EQ(root["HostConfig"]["MemorySwap"].get(swap), simdjson::SUCCESS);
  EXPECT_EQ(root["HostConfig"]["NanoCpus"].get(nano_cpus), simdjson::SUCCESS);
  EXPECT_EQ(root["HostConfig"]["PidsLimit"].get(pids), simdjson::SUCCESS);
  EXPECT_EQ(root["HostConfig"]["Init"].get(init), simdjson::SUCCESS);
  EXPECT_EQ(root["HostConfig"]["NetworkMode"].get(network), simdjson::SUCCESS);
  EXPECT_EQ(root["Config"]["Labels"]["wake.session"].get(session_label), simdjson::SUCCESS);
  EXPECT_EQ(root["Config"]["Labels"]["wake.hand"].get(hand_label), simdjson::SUCCESS);
  EXPECT_EQ(root["Config"]["WorkingDir"].get(working_dir), simdjson::SUCCESS);
  EXPECT_EQ(memory, 256 << 20);
  EXPECT_EQ(swap, 256 << 20);
  EXPECT_EQ(nano_cpus, 500'000'000);
  EXPECT_EQ(pids, 64);
  EXPECT_TRUE(init);
  EXPECT_EQ(network, "none");
  EXPECT_EQ(session_label, session);
  EXPECT_EQ(hand_label, "1");
  EXPECT_EQ(working_dir, "/work");

  // The limits hold inside: the cgroup says so, and the environment reaches every process.
  RunRequest request;
  request.shell = "echo \"$WAKE_SECRET_THING\"; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max";
  absl::StatusOr<RunOutcome> outcome = (*hand)->Run(request, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->stdout_data, "s3cret value\n64\n");
  EXPECT_TRUE((*hand)->Release().ok());
}

TEST_F(DockerHandTest, NetworkIsNoneUnlessAsked) {
  EXPECT_EQ(Shell("ls /sys/class/net").stdout_data, "lo\n");

  HandResources networked;
  networked.network = true;
  absl::StatusOr<std::unique_ptr<Hand>> other = provider_->Provision(NewSessionId(absl::Now()), networked);
  ASSERT_TRUE(other.ok()) << other.status();
  RunRequest request;
  request.shell = "ls /sys/class/net";
  absl::StatusOr<RunOutcome> outcome = (*other)->Run(request, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_THAT(outcome->stdout_data, HasSubstr("eth0"));
  EXPECT_TRUE((*other)->Release().ok());
}

TEST_F(DockerHandTest, TimeoutKillsTheProcessTreeEvenANewSession) { CheckTimeoutKillsTheTreeEvenANewSession(); }

// The same through the hand agent.
class DockerHandAgentTest : public DockerHandTest {
 protected:
  DockerProviderOptions Options() const override { return AgentOptions(); }
};

TEST_F(DockerHandAgentTest, TimeoutKillsTheProcessTreeEvenANewSession) { CheckTimeoutKillsTheTreeEvenANewSession(); }

TEST_F(DockerHandTest, CancelStopsARunThatHoldsItsOutputOpen) {
  CancelToken cancel;
  std::thread canceller([&] {
    for (int i = 0; i < 600 && !hand_->ReadFile("started", 16).ok(); ++i) absl::SleepFor(absl::Milliseconds(10));
    cancel.Cancel();
  });
  RunRequest request;
  request.shell = "touch started; while :; do echo tick; sleep 0.01; done";
  absl::StatusOr<RunOutcome> outcome = hand_->Run(request, &cancel);
  canceller.join();
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->cancelled);
  EXPECT_FALSE(outcome->timed_out);
  EXPECT_THAT(outcome->stdout_data, HasSubstr("tick\n"));
}

TEST_F(DockerHandTest, LargeOutputIsCappedPerStreamAndDrained) {
  RunOutcome outcome =
      Shell("head -c 5000000 /dev/zero; echo err >&2; head -c 3000 /dev/zero >&2; echo done", absl::Seconds(60), 1000);
  EXPECT_TRUE(outcome.exited);
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_EQ(outcome.stdout_data, std::string(1000, '\0'));
  EXPECT_TRUE(outcome.stdout_truncated);
  EXPECT_EQ(outcome.stderr_data.substr(0, 4), "err\n");
  EXPECT_EQ(outcome.stderr_data.size(), 1000u);
  EXPECT_TRUE(outcome.stderr_truncated);
}

TEST_F(DockerHandTest, BinaryOutputAndLargeStdinPassThroughUnchanged) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  std::string input;
  for (int i = 0; i < 4096; ++i) input += all_bytes;  // 1 MiB: more than any pipe buffer
  RunRequest request;
  request.argv = {"cat"};
  request.stdin_data = input;
  request.output_cap = 2 << 20;
  absl::StatusOr<RunOutcome> outcome = hand_->Run(request, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->exited);
  EXPECT_EQ(outcome->exit_code, 0);
  EXPECT_TRUE(outcome->stdout_data == input) << outcome->stdout_data.size();
  EXPECT_FALSE(outcome->stdout_truncated);

  // A process that never reads its input still finishes.
  request.argv = {"true"};
  outcome = hand_->Run(request, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->exited);
  EXPECT_EQ(outcome->exit_code, 0);
  // Without stdin data the process reads end of file at once.
  RunRequest no_input;
  no_input.argv = {"cat"};
  no_input.timeout = absl::Seconds(30);
  outcome = hand_->Run(no_input, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_FALSE(outcome->timed_out);
  EXPECT_EQ(outcome->stdout_data, "");
}

TEST_F(DockerHandTest, EnvironmentAndWorkingDirectory) {
  RunRequest request;
  request.shell = "echo \"$A|$B\"; pwd";
  request.env = {{"A", "one two"}, {"B", "ü'\"$"}};
  request.cwd = "/tmp";
  absl::StatusOr<RunOutcome> outcome = hand_->Run(request, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->stdout_data, "one two|ü'\"$\n/tmp\n");

  request.cwd = "no/such/dir";
  outcome = hand_->Run(request, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->exited);
  EXPECT_NE(outcome->exit_code, 0);
  EXPECT_EQ(outcome->stdout_data, "");
  EXPECT_THAT(outcome->stderr_data, HasSubstr("/work/no/such/dir"));

  request.env = {{"BAD=NAME", "x"}};
  request.cwd = "";
  EXPECT_EQ(hand_->Run(request, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DockerHandTest, ConcurrentRunsOnOneHand) {
  constexpr int kThreads = 8;
  std::vector<std::string> outputs(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 3; ++round) {
        RunRequest request;
        request.shell = absl::StrCat("echo ", i, "-", round, "; echo e", i, " >&2");
        absl::StatusOr<RunOutcome> outcome = hand_->Run(request, nullptr);
        if (outcome.ok() && outcome->stderr_data == absl::StrCat("e", i, "\n")) outputs[i] += outcome->stdout_data;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(outputs[i], absl::StrCat(i, "-0\n", i, "-1\n", i, "-2\n"));
}

TEST_F(DockerHandTest, FilesRoundTripWithTheirDetails) {
  // 1 MiB of every byte value, and an empty file.
  std::string binary(1 << 20, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>((i * 7919) >> 3);
  ASSERT_TRUE(hand_->WriteFile("/tmp/deep/er/blob.bin", binary).ok());
  absl::StatusOr<std::string> back = hand_->ReadFile("/tmp/deep/er/blob.bin", 1 << 20);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == binary);
  EXPECT_EQ(Shell("wc -c < /tmp/deep/er/blob.bin").stdout_data, "1048576\n");

  // A name longer than the tar header's 100 bytes.
  const std::string long_name = std::string(150, 'n') + ".txt";
  ASSERT_TRUE(hand_->WriteFile(long_name, "long").ok());
  EXPECT_EQ(hand_->ReadFile(long_name, 100).value_or("?"), "long");
  EXPECT_EQ(Shell("cat " + long_name).stdout_data, "long");

  // Rewriting keeps an executable executable.
  ASSERT_TRUE(hand_->WriteFile("run.sh", "#!/bin/sh\necho one\n").ok());
  Shell("chmod 755 run.sh");
  ASSERT_TRUE(hand_->WriteFile("run.sh", "#!/bin/sh\necho two\n").ok());
  EXPECT_EQ(Shell("./run.sh").stdout_data, "two\n");

  // Through a symlink: the target changes, the link stays.
  Shell("echo old > target.txt && ln -s target.txt link.txt");
  ASSERT_TRUE(hand_->WriteFile("link.txt", "new\n").ok());
  EXPECT_EQ(Shell("cat target.txt; [ -L link.txt ] && echo still-a-link").stdout_data, "new\nstill-a-link\n");
  EXPECT_EQ(hand_->ReadFile("link.txt", 100).value_or("?"), "new\n");
}

TEST_F(DockerHandTest, FileErrorsSayWhatIsWrongAndChangeNothing) {
  Shell("mkdir -p adir/inner && echo keep > adir/inner/f && echo plain > afile");
  EXPECT_EQ(hand_->WriteFile("adir", "x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Shell("cat adir/inner/f").stdout_data, "keep\n");  // the directory was not replaced
  EXPECT_EQ(hand_->WriteFile("afile/below", "x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(hand_->ReadFile("afile/below", 100).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(hand_->ReadFile("adir", 100).status().code(), absl::StatusCode::kFailedPrecondition);
  Shell("mkfifo pipe");
  EXPECT_EQ(hand_->ReadFile("pipe", 100).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::Status too_big = hand_->ReadFile("afile", 3).status();
  EXPECT_EQ(too_big.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(too_big.message()), HasSubstr("/work/afile"));
  EXPECT_EQ(Shell("cat afile").stdout_data, "plain\n");
}

TEST_F(DockerHandTest, AKilledContainerMakesEveryCallUnavailable) {
  ASSERT_TRUE(KillContainer(hand_->id()).ok());
  absl::Status health = hand_->Health();
  EXPECT_EQ(health.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(health.message()), HasSubstr("not running"));
  RunRequest request;
  request.shell = "echo hi";
  EXPECT_EQ(hand_->Run(request, nullptr).status().code(), absl::StatusCode::kUnavailable);
  // The daemon would still serve a stopped container's files; the hand does not.
  EXPECT_EQ(hand_->ReadFile("/bin/sh", 10 << 20).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(hand_->WriteFile("lost.txt", "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(hand_->Release().ok());
  EXPECT_EQ(Inspect(hand_->id()), "");
  EXPECT_EQ(hand_->Health().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(DockerHandTest, AContainerKilledDuringARunMakesItUnavailable) {
  std::thread killer([&] {
    for (int i = 0; i < 600 && !hand_->ReadFile("started", 16).ok(); ++i) absl::SleepFor(absl::Milliseconds(10));
    EXPECT_TRUE(KillContainer(hand_->id()).ok());
  });
  RunRequest request;
  request.shell = "touch started; sleep 60";
  absl::StatusOr<RunOutcome> outcome = hand_->Run(request, nullptr);
  killer.join();
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kUnavailable)
      << outcome.status() << " "
      << (outcome.ok() ? absl::StrCat("exited ", outcome->exited, " code ", outcome->exit_code, " signal ",
                                      outcome->term_signal, " out ", outcome->stdout_data, " err ", outcome->stderr_data)
                       : "");
}

TEST_F(DockerHandTest, AContainerRemovedFromOutsideIsUnavailable) {
  ASSERT_TRUE(Daemon().Call("DELETE", absl::StrCat("/containers/", hand_->id(), "?force=true")).ok());
  EXPECT_EQ(hand_->Health().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(hand_->ReadFile("x", 10).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(hand_->WriteFile("x", "y").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(hand_->Release().ok());
}

TEST_F(DockerHandTest, ANewProviderReattachesAfterTheFirstIsGone) {
  ASSERT_TRUE(hand_->WriteFile("state.txt", "kept").ok());
  const std::string id = hand_->id();
  // The engine "crashes": provider and hand objects are dropped without Release.
  hand_.reset();
  provider_.reset();
  provider_ = MakeProvider();
  absl::StatusOr<std::unique_ptr<Hand>> again = provider_->Reattach(session_, HandResources{});
  ASSERT_TRUE(again.ok()) << again.status();
  hand_ = *std::move(again);
  EXPECT_EQ(hand_->id(), id);
  EXPECT_EQ(hand_->work_dir(), "/work");
  EXPECT_EQ(hand_->ReadFile("state.txt", 100).value_or("?"), "kept");

  // A session whose container died: Reattach removes it and says there is none.
  const std::string dead_session = NewSessionId(absl::Now());
  absl::StatusOr<std::unique_ptr<Hand>> dead = provider_->Provision(dead_session, HandResources{});
  ASSERT_TRUE(dead.ok()) << dead.status();
  const std::string dead_id = (*dead)->id();
  ASSERT_TRUE(KillContainer(dead_id).ok());
  EXPECT_EQ(provider_->Reattach(dead_session, HandResources{}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Inspect(dead_id), "");
}

// A session has one container at most, kept so by the daemon through the container's name: what a
// killed process left under the session's name (here: a dead hand, and provisionings racing each
// other, as a crashed waked's in-flight create races its successor's) is replaced, never doubled.
// Another scope (labels) with the same session id has a container of its own.
TEST_F(DockerHandTest, ASessionHasOneContainerWhateverWasLeftUnderItsName) {
  const std::string session_label = absl::StrCat("wake.session=", session_);
  const std::string first = hand_->id();
  EXPECT_NE(Inspect(first).find(absl::StrCat("\"Name\":\"/wake-", session_, "-")), std::string::npos) << Inspect(first);

  // A dead hand not yet removed: the next Provision removes it and makes a fresh one.
  ASSERT_TRUE(KillContainer(first).ok());
  absl::StatusOr<std::unique_ptr<Hand>> fresh = provider_->Provision(session_, HandResources{});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_NE((*fresh)->id(), first);
  EXPECT_EQ(Inspect(first), "");
  EXPECT_TRUE((*fresh)->Health().ok());
  EXPECT_EQ(ContainersLabelled(session_label), std::vector<std::string>{(*fresh)->id()});
  hand_ = *std::move(fresh);

  // The same session id in another scope: its own container, ours untouched.
  DockerProviderOptions scoped_options = TestOptions();
  scoped_options.labels.emplace_back("wake.scope", "other-engine");
  std::unique_ptr<HandProvider> scoped = MakeProvider(scoped_options);
  ASSERT_NE(scoped, nullptr);
  absl::StatusOr<std::unique_ptr<Hand>> theirs = scoped->Provision(session_, HandResources{});
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_TRUE(hand_->Health().ok());
  EXPECT_TRUE((*theirs)->Release().ok());

  // Four provisionings of one session at once, from four providers (four processes, as far as the
  // daemon can tell): one container is left, and it is one a provisioning returned.
  std::vector<std::unique_ptr<HandProvider>> providers;
  for (int i = 0; i < 4; ++i) providers.push_back(MakeProvider());
  std::vector<absl::StatusOr<std::unique_ptr<Hand>>> made;
  for (size_t i = 0; i < providers.size(); ++i) made.emplace_back(absl::UnknownError("not run"));
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < providers.size(); ++i) {
      threads.emplace_back([&, i] { made[i] = providers[i]->Provision(session_, HandResources{}); });
    }
    for (std::thread& t : threads) t.join();
  }
  const std::vector<std::string> left = ContainersLabelled(session_label);
  ASSERT_EQ(left.size(), 1u);
  bool returned = false;
  for (const auto& m : made) returned = returned || (m.ok() && (*m)->id() == left[0]);
  EXPECT_TRUE(returned) << "the container left is none of those the provisionings returned";
  EXPECT_EQ(Inspect(hand_->id()), "") << "the earlier hand outlived a new provisioning of its session";
  for (auto& m : made) {
    if (m.ok() && (*m)->id() == left[0]) {
      EXPECT_TRUE((*m)->Health().ok());
      hand_ = *std::move(m);  // released at the end
    }
  }
}

// What a waked killed between its create and its start leaves: the session's container, made and
// never started. A restarted waked starts it and re-attaches it rather than removing it (a removal
// raced the dead waked's start still under way in the daemon, and the next re-attach got a container
// dying under it).
TEST_F(DockerHandTest, ANeverStartedContainerOfTheSessionIsStartedAndReattached) {
  // The same create a provider makes, from the inspect of one it made.
  const std::string inspect = Inspect(hand_->id());
  dom::parser parser;
  simdjson::padded_string padded(inspect);
  dom::element root;
  ASSERT_EQ(parser.parse(padded).get(root), simdjson::SUCCESS) << inspect;
  std::string_view name;
  dom::element config, host_config;
  ASSERT_EQ(root["Name"].get(name), simdjson::SUCCESS);
  ASSERT_EQ(root["Config"].get(config), simdjson::SUCCESS);
  ASSERT_EQ(root["HostConfig"].get(host_config), simdjson::SUCCESS);
  std::string body = simdjson::minify(config);
  ASSERT_EQ(body.back(), '}');
  body.pop_back();
  absl::StrAppend(&body, R"(,"HostConfig":)", simdjson::minify(host_config), "}");
  const std::string container_name(name.substr(1));  // the inspect's name has a leading slash
  ASSERT_TRUE(hand_->Release().ok());
  hand_.reset();

  absl::StatusOr<EngineResponse> created =
      Daemon().Call("POST", absl::StrCat("/containers/create?name=", container_name), body);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->status, 201) << created->body;
  dom::parser created_parser;
  simdjson::padded_string created_body(created->body);
  std::string_view created_id;
  ASSERT_EQ(created_parser.parse(created_body)["Id"].get(created_id), simdjson::SUCCESS);
  const std::string left(created_id);
  EXPECT_NE(Inspect(left).find(R"("Status":"created")"), std::string::npos);

  absl::StatusOr<std::unique_ptr<Hand>> reattached = MakeProvider()->Reattach(session_, HandResources{});
  ASSERT_TRUE(reattached.ok()) << reattached.status();
  hand_ = *std::move(reattached);
  EXPECT_EQ(hand_->id(), left);
  EXPECT_TRUE(hand_->Health().ok());
  EXPECT_EQ(Shell("echo started").stdout_data, "started\n");
  EXPECT_EQ(ContainersLabelled(absl::StrCat("wake.session=", session_)), std::vector<std::string>{left});
}

// A warm spare, provisioned under an id of its own, adopted by a session: a new provider (a restarted
// process) re-attaches it with its files, and reaping counts it as the session's, not the spare id's.
TEST_F(DockerHandTest, AnAdoptedSpareIsReattachedAndReapedAsTheSessions) {
  const std::string spare_id = absl::StrCat("warm_", NewSessionId(absl::Now()));
  absl::StatusOr<std::unique_ptr<Hand>> spare = provider_->Provision(spare_id, HandResources{});
  ASSERT_TRUE(spare.ok()) << spare.status();
  const std::string session = NewSessionId(absl::Now());
  ASSERT_TRUE(provider_->Adopt(**spare, session).ok());
  ASSERT_TRUE((*spare)->WriteFile("state.txt", "kept").ok());
  const std::string id = (*spare)->id();
  spare->reset();  // the process "crashes"

  std::unique_ptr<HandProvider> restarted = MakeProvider();
  absl::StatusOr<std::unique_ptr<Hand>> again = restarted->Reattach(session, HandResources{});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->id(), id);
  EXPECT_EQ((*again)->ReadFile("state.txt", 100).value_or("?"), "kept");
  EXPECT_EQ(restarted->Reattach(spare_id, HandResources{}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(Inspect(id).empty()) << "re-attaching the spare id removed the session's container";

  // Kept while its session is; reaped once it is not, whatever its label says.
  absl::StatusOr<size_t> reaped = restarted->ReapExcept([&](std::string_view s) { return s == session || s == session_; });
  ASSERT_TRUE(reaped.ok()) << reaped.status();
  EXPECT_EQ(*reaped, 0u);
  EXPECT_TRUE((*again)->Health().ok());
  reaped = restarted->ReapExcept([&](std::string_view s) { return s == session_; });
  ASSERT_TRUE(reaped.ok()) << reaped.status();
  EXPECT_EQ(*reaped, 1u);
  EXPECT_EQ(Inspect(id), "");
  EXPECT_TRUE(hand_->Health().ok());
}

// The same through the warm pool: the session's first call takes a spare, and after a "restart"
// (a new provider) the session's hand is that container again, with its files.
TEST_F(DockerHandTest, ASessionsHandFromTheWarmPoolSurvivesARestart) {
  HandPoolOptions options;
  HandProvider* provider = provider_.get();
  options.placement = [provider](std::string_view) -> absl::StatusOr<HandPlacement> {
    HandPlacement placement;
    placement.provider = provider;
    return placement;
  };
  options.warm.push_back(WarmHands{provider, HandResources{}, 1});
  const std::string session = NewSessionId(absl::Now());
  std::string hand_id;
  {
    HandPool pool(options);
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (pool.stats().spares_ready != 1 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
    ASSERT_EQ(pool.stats().spares_ready, 1);
    std::vector<Event> events;
    absl::StatusOr<ToolResult> r =
        pool.Execute(session, ToolCall{"bash", R"({"command":"echo warm > f"})", "k1"}, nullptr, &events);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].reason, "warm");
    hand_id = events[0].hand_id;
    EXPECT_EQ(pool.stats().adopt_failures, 0);
    // The pool goes away without releasing the session's hand (its spares it does release).
  }
  std::unique_ptr<HandProvider> restarted = MakeProvider();
  absl::StatusOr<std::unique_ptr<Hand>> again = restarted->Reattach(session, HandResources{});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->id(), hand_id);
  EXPECT_EQ((*again)->ReadFile("f", 100).value_or("?"), "warm\n");
  EXPECT_TRUE((*again)->Release().ok());
}

TEST_F(DockerHandTest, ReapRemovesOnlyTheSessionsNotKept) {
  const std::string doomed_a = NewSessionId(absl::Now());
  const std::string doomed_b = NewSessionId(absl::Now());
  std::vector<std::string> doomed_ids;
  for (const std::string& session : {doomed_a, doomed_b}) {
    absl::StatusOr<std::unique_ptr<Hand>> hand = provider_->Provision(session, HandResources{});
    ASSERT_TRUE(hand.ok()) << hand.status();
    doomed_ids.push_back((*hand)->id());
  }
  ASSERT_TRUE(KillContainer(doomed_ids[1]).ok());  // stopped ones are reaped too
  absl::StatusOr<size_t> reaped = provider_->ReapExcept(
      [&](std::string_view session) { return session != doomed_a && session != doomed_b; });
  ASSERT_TRUE(reaped.ok()) << reaped.status();
  EXPECT_EQ(*reaped, 2u);
  EXPECT_EQ(Inspect(doomed_ids[0]), "");
  EXPECT_EQ(Inspect(doomed_ids[1]), "");
  EXPECT_TRUE(hand_->Health().ok());
  EXPECT_EQ(Shell("echo alive").stdout_data, "alive\n");
}

TEST_F(DockerHandTest, ProvidersWithTheirOwnLabelsNeverReapEachOther) {
  DockerProviderOptions scoped_options = TestOptions();
  scoped_options.labels.emplace_back("wake.scope", "other-engine");
  std::unique_ptr<HandProvider> scoped = MakeProvider(scoped_options);
  ASSERT_NE(scoped, nullptr);
  const std::string session = NewSessionId(absl::Now());
  absl::StatusOr<std::unique_ptr<Hand>> theirs = scoped->Provision(session, HandResources{});
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  // It keeps nothing, yet sees only its own hand; ours is not its to reap or reattach.
  absl::StatusOr<size_t> reaped = scoped->ReapExcept([](std::string_view) { return false; });
  ASSERT_TRUE(reaped.ok()) << reaped.status();
  EXPECT_EQ(*reaped, 1u);
  EXPECT_EQ(Inspect((*theirs)->id()), "");
  EXPECT_TRUE(hand_->Health().ok());
  EXPECT_EQ(scoped->Reattach(session_, HandResources{}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(hand_->Health().ok());
}

TEST_F(DockerHandTest, ReleaseIsIdempotentAndRemovesTheContainer) {
  const std::string id = hand_->id();
  EXPECT_TRUE(hand_->Release().ok());
  EXPECT_TRUE(hand_->Release().ok());
  EXPECT_EQ(Inspect(id), "");
  RunRequest request;
  request.shell = "true";
  EXPECT_EQ(hand_->Run(request, nullptr).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(hand_->WriteFile("x", "y").code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace wake

namespace wake {
namespace {

// What only the hand agent path does: survive its own death, fall back when it cannot run.
class DockerAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_ = MakeProvider(AgentOptions());
    ASSERT_NE(provider_, nullptr);
    absl::StatusOr<std::unique_ptr<Hand>> hand = provider_->Provision(NewSessionId(absl::Now()), HandResources{});
    ASSERT_TRUE(hand.ok()) << hand.status();
    hand_ = *std::move(hand);
  }
  void TearDown() override {
    if (hand_ != nullptr) {
      EXPECT_TRUE(hand_->Release().ok());
    }
  }

  absl::StatusOr<RunOutcome> Shell(const std::string& command) {
    RunRequest request;
    request.shell = command;
    request.timeout = absl::Seconds(60);
    return hand_->Run(request, nullptr);
  }

  std::unique_ptr<HandProvider> provider_;
  std::unique_ptr<Hand> hand_;
};

TEST_F(DockerAgentTest, ProcessesRunUnderTheAgentWithARealSignal) {
  absl::StatusOr<RunOutcome> out = Shell("cat /proc/$PPID/cmdline | tr '\\0' ' '; kill -KILL $$");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->stdout_data, HasSubstr(".wake-hand-agent --work-dir=/work"));
  // The agent waits for its children itself: a signal is a signal, not an exit code of 128+N.
  EXPECT_FALSE(out->exited);
  EXPECT_EQ(out->term_signal, 9);
}

TEST_F(DockerAgentTest, AnAgentKilledByACommandIsStartedAgain) {
  absl::StatusOr<RunOutcome> killer = Shell("kill -KILL $PPID; sleep 5");
  ASSERT_FALSE(killer.ok());
  EXPECT_EQ(killer.status().code(), absl::StatusCode::kInternal) << killer.status();
  EXPECT_THAT(std::string(killer.status().message()), HasSubstr("hand agent died"));
  // The container lives: the next calls are served by a new agent.
  absl::StatusOr<RunOutcome> after = Shell("echo again; cat /proc/$PPID/cmdline | tr '\\0' ' '");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_THAT(after->stdout_data, HasSubstr("again\n/.wake-hand-agent"));
  ASSERT_TRUE(hand_->WriteFile("f.txt", "x").ok());
  EXPECT_TRUE(hand_->Health().ok());
}

TEST_F(DockerAgentTest, AReattachedHandRunsOneAgent) {
  // The engine lets go of the hand without releasing it (as a crash would): the agent's stream
  // closes and it exits; the reattached hand starts its own.
  const std::string id = hand_->id();
  hand_.reset();
  std::unique_ptr<HandProvider> again = MakeProvider(AgentOptions());
  ASSERT_NE(again, nullptr);
  std::string session;
  {
    const std::string body = Inspect(id);
    dom::parser parser;
    simdjson::padded_string padded(body);
    dom::element root;
    std::string_view value;
    ASSERT_EQ(parser.parse(padded).get(root), simdjson::SUCCESS);
    ASSERT_EQ(root["Config"]["Labels"]["wake.session"].get(value), simdjson::SUCCESS);
    session = std::string(value);
  }
  absl::StatusOr<std::unique_ptr<Hand>> hand = again->Reattach(session, HandResources{});
  ASSERT_TRUE(hand.ok()) << hand.status();
  hand_ = *std::move(hand);
  EXPECT_EQ(hand_->id(), id);
  // Counted until only one is left (the old one exits once it reads the end of its input).
  absl::StatusOr<RunOutcome> count = Shell(
      "for i in $(seq 1 200); do n=$(for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | "
      "grep -c '^/.wake-hand-agent'); [ \"$n\" = 1 ] && break; sleep 0.05; done; echo $n");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(count->stdout_data, "1\n");
}

TEST(DockerAgentFallbackTest, AnAgentThatCannotRunLeavesThePerExecPath) {
  // Not a program: the exec of it fails, the hand serves per exec (or, when required, is refused
  // and leaves no container behind).
  const std::string bogus = absl::StrCat(::testing::TempDir(), "/not-an-agent-", getpid());
  {
    std::ofstream out(bogus);
    out << "this is not an executable\n";
  }
  ASSERT_EQ(::chmod(bogus.c_str(), 0755), 0);
  DockerProviderOptions options = TestOptions();
  options.agent_path = bogus;
  options.labels.emplace_back("wake.fallback", RunLabel());
  std::unique_ptr<HandProvider> provider = MakeProvider(options);
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::unique_ptr<Hand>> hand = provider->Provision(NewSessionId(absl::Now()), HandResources{});
  ASSERT_TRUE(hand.ok()) << hand.status();
  RunRequest request;
  request.shell = "echo per exec";
  absl::StatusOr<RunOutcome> out = (*hand)->Run(request, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->stdout_data, "per exec\n");
  EXPECT_TRUE((*hand)->Release().ok());

  options.require_agent = true;
  provider = MakeProvider(options);
  ASSERT_NE(provider, nullptr);
  hand = provider->Provision(NewSessionId(absl::Now()), HandResources{});
  EXPECT_FALSE(hand.ok());
  for (const std::string& id : ContainersLabelled(absl::StrCat("wake.fallback=", RunLabel()))) {
    EXPECT_EQ(Inspect(id), "") << "container " << id << " left behind";
  }
  std::remove(bogus.c_str());
}

}  // namespace
}  // namespace wake
