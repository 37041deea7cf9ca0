// Docker hands are confined: against the real daemon and the local test image (scripts/services/
// docker.sh), a container runs unprivileged with every capability dropped, no-new-privileges, its
// pids, memory and CPU limits, no host mount and no network unless asked; and through a real Engine
// (RocksDB on a temp dir, the scripted brain, docker hands) a fork bomb and a memory hog end as tool
// errors while the session carries on and the engine serves the next session. Both with the hand
// agent in the container and with an exec per call.

#include <fstream>
#include <sstream>
#include <tuple>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "sandbox/docker/docker_hand.h"
#include "schemas/ids.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

DockerProviderOptions Options(bool with_agent) {
  DockerProviderOptions options;
  options.socket_path = EnvOr("WAKE_DOCKER_SOCKET", "/var/run/docker.sock");
  options.image = EnvOr("WAKE_DOCKER_IMAGE", "wake-test-busybox:latest");
  options.labels = {{"wake.test", absl::StrCat("confinement-", getpid(), "-", absl::ToUnixNanos(absl::Now()))}};
  if (with_agent) {
    options.agent_path = WAKE_HAND_AGENT_PATH;
    options.require_agent = true;
  }
  return options;
}

// The text of an event's content blocks.
std::string TextOf(const Event& e) {
  std::string text;
  for (const ContentBlock& block : e.content) text += block.text;
  return text;
}

class DockerConfinementTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewDockerProvider(Options(GetParam()));
    ASSERT_TRUE(provider.ok()) << provider.status();
    provider_ = *std::move(provider);
  }
  void TearDown() override {
    if (provider_) provider_->ReapExcept([](std::string_view) { return false; }).IgnoreError();
  }

  std::unique_ptr<HandProvider> provider_;
};

RunOutcome MustRun(Hand& hand, const std::string& shell, absl::Duration timeout = absl::Seconds(30)) {
  RunRequest request;
  request.shell = shell;
  request.timeout = timeout;
  absl::StatusOr<RunOutcome> outcome = hand.Run(request, nullptr);
  EXPECT_TRUE(outcome.ok()) << shell << ": " << outcome.status();
  return outcome.ok() ? *std::move(outcome) : RunOutcome{};
}

TEST_P(DockerConfinementTest, AContainerHasNoPrivilegesCapabilitiesOrHostMounts) {
  HandResources resources;
  resources.memory_bytes = 64 << 20;
  resources.cpus = 0.5;
  resources.pids = 64;
  absl::StatusOr<std::unique_ptr<Hand>> hand = provider_->Provision(NewSessionId(absl::Now()), resources);
  ASSERT_TRUE(hand.ok()) << hand.status();

  // Inside: no effective, permitted or bounding capability; no_new_privs set; the limits' cgroup.
  RunOutcome status = MustRun(**hand, "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs):' /proc/self/status");
  if (GetParam()) {
    // Through the hand agent, a command is the OOM killer's first choice, not the agent.
    EXPECT_EQ(MustRun(**hand, "cat /proc/self/oom_score_adj").stdout_data, "1000\n");
  }
  EXPECT_TRUE(absl::StrContains(status.stdout_data, "CapEff:\t0000000000000000")) << status.stdout_data;
  EXPECT_TRUE(absl::StrContains(status.stdout_data, "CapPrm:\t0000000000000000")) << status.stdout_data;
  EXPECT_TRUE(absl::StrContains(status.stdout_data, "CapBnd:\t0000000000000000")) << status.stdout_data;
  EXPECT_TRUE(absl::StrContains(status.stdout_data, "NoNewPrivs:\t1")) << status.stdout_data;
  // What a root with capabilities could do, refused: changing an owner, mounting, a raw socket.
  RunOutcome chown = MustRun(**hand, "touch f && chown 1234 f");
  EXPECT_NE(chown.exit_code, 0) << chown.stdout_data << chown.stderr_data;
  RunOutcome mount = MustRun(**hand, "mkdir -p m && mount -t tmpfs none m");
  EXPECT_NE(mount.exit_code, 0) << mount.stdout_data << mount.stderr_data;
  // No network device but loopback.
  RunOutcome net = MustRun(**hand, "ls /sys/class/net");
  EXPECT_EQ(net.stdout_data, "lo\n");
  // Host mounts: only the runtime's own (/proc, /sys, /dev, the files Docker writes: /etc/hosts,
  // /etc/hostname, /etc/resolv.conf, and docker-init read-only); no bind of a host directory.
  RunOutcome mounts = MustRun(**hand, "cat /proc/self/mounts");
  std::istringstream lines(mounts.stdout_data);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string device, where, type, options;
    fields >> device >> where >> type >> options;
    // docker-init (HostConfig Init) is bound read-only from the daemon's host.
    const bool init = where == "/sbin/docker-init" && absl::StartsWith(options, "ro,");
    const bool runtime = init || where == "/" || absl::StartsWith(where, "/proc") || absl::StartsWith(where, "/sys") ||
                         absl::StartsWith(where, "/dev") || where == "/etc/hosts" || where == "/etc/hostname" ||
                         where == "/etc/resolv.conf";
    EXPECT_TRUE(runtime) << "unexpected mount: " << line;
  }
  EXPECT_TRUE((*hand)->Release().ok());
}

TEST_P(DockerConfinementTest, UnlimitedOrExcessiveRequestsGetTheProvidersCeilings) {
  DockerProviderOptions options = Options(GetParam());
  options.max_memory_bytes = 96 << 20;
  options.max_pids = 48;
  options.max_cpus = 0.5;
  absl::StatusOr<std::unique_ptr<HandProvider>> capped = NewDockerProvider(options);
  ASSERT_TRUE(capped.ok()) << capped.status();
  for (const auto& [memory, pids, cpus] : {std::tuple<int64_t, int64_t, double>{0, 0, 0},
                                           std::tuple<int64_t, int64_t, double>{int64_t{1} << 40, 100000, 64}}) {
    HandResources resources;
    resources.memory_bytes = memory;
    resources.pids = pids;
    resources.cpus = cpus;
    absl::StatusOr<std::unique_ptr<Hand>> hand = (*capped)->Provision(NewSessionId(absl::Now()), resources);
    ASSERT_TRUE(hand.ok()) << hand.status();
    RunOutcome limits = MustRun(
        **hand,
        "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; "
        "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
        "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us");
    EXPECT_TRUE(absl::StartsWith(limits.stdout_data, absl::StrCat("48\n", 96 << 20, "\n"))) << limits.stdout_data;
    EXPECT_TRUE(absl::StrContains(limits.stdout_data, "50000")) << limits.stdout_data;  // half of a 100 ms period
    EXPECT_TRUE((*hand)->Release().ok());
  }
  (*capped)->ReapExcept([](std::string_view) { return false; }).IgnoreError();
  options.max_pids = -1;
  EXPECT_EQ(NewDockerProvider(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(DockerConfinementTest, AForkBombAndAMemoryHogEndAsFailedRunsAndTheHandCarriesOn) {
  HandResources resources;
  resources.memory_bytes = 64 << 20;
  resources.cpus = 0.5;
  resources.pids = 64;
  absl::StatusOr<std::unique_ptr<Hand>> hand = provider_->Provision(NewSessionId(absl::Now()), resources);
  ASSERT_TRUE(hand.ok()) << hand.status();

  RunOutcome bomb = MustRun(**hand, "b(){ b | b & }; b; sleep 30", absl::Seconds(5));
  EXPECT_TRUE(bomb.timed_out || !bomb.exited || bomb.exit_code != 0)
      << bomb.exit_code << " " << bomb.stdout_data.substr(0, 200) << bomb.stderr_data.substr(0, 200);
  // The tree was killed: the pids come back, and the hand runs commands again.
  bool recovered = false;
  for (int i = 0; i < 50 && !recovered; ++i) {
    RunRequest request;
    request.shell = "echo alive";
    request.timeout = absl::Seconds(10);
    absl::StatusOr<RunOutcome> outcome = (*hand)->Run(request, nullptr);
    recovered = outcome.ok() && outcome->exit_code == 0 && outcome->stdout_data == "alive\n";
    if (!recovered) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(recovered);

  // 200 MB into a 64 MB container: the OOM killer ends the hog (SIGKILL), not the container.
  RunOutcome hog = MustRun(**hand, "head -c 200000000 /dev/zero | tr '\\0' x | sort > /dev/null; echo done-$?");
  EXPECT_FALSE(hog.stdout_data == "done-0\n" && hog.exited && hog.exit_code == 0) << hog.stdout_data;
  EXPECT_EQ(MustRun(**hand, "echo alive").stdout_data, "alive\n");
  EXPECT_TRUE((*hand)->Health().ok());
  EXPECT_TRUE((*hand)->Release().ok());
}

// Through the Engine: a session whose script runs the bomb, the hog, then a plain command.
TEST_P(DockerConfinementTest, ThroughTheEngineBothAreToolErrorsAndTheEngineStaysHealthy) {
  const std::string dir = testing::MakeTempDir("confinement");
  const std::string script = dir + "/script.json";
  {
    std::ofstream out(script);
    out << R"({"turns": [
      {"text": "bomb", "tool_calls": [{"name": "bash", "input": {"command": "b(){ b | b & }; b; sleep 30", "timeout_ms": 5000}}]},
      {"text": "hog", "tool_calls": [{"name": "bash", "input": {"command": "head -c 200000000 /dev/zero | tr '\\0' x | sort > /dev/null"}}]},
      {"text": "check", "tool_calls": [{"name": "bash", "input": {"command": "echo still-here"}}]},
      {"text": "done"}
    ]})";
  }
  {
    EngineOptions options;
    options.data_dir = dir + "/data";
    options.hand_providers = {{"docker", provider_.get()}};
    options.default_backend = "docker";
    options.workers = 2;
    options.shutdown_grace = absl::Milliseconds(500);
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(std::move(options));
    ASSERT_TRUE(engine.ok()) << engine.status();
    AgentSpec agent_spec;
    agent_spec.name = "bomber";
    agent_spec.model = "scripted:" + script;
    absl::StatusOr<Agent> agent = (*engine)->CreateAgent(agent_spec);
    ASSERT_TRUE(agent.ok()) << agent.status();
    EnvironmentSpec env_spec;
    env_spec.name = "tight";
    env_spec.backend = "docker";
    env_spec.resources.memory_bytes = 64 << 20;
    env_spec.resources.cpus = 0.5;
    env_spec.resources.pids = 64;
    absl::StatusOr<Environment> env = (*engine)->CreateEnvironment(env_spec);
    ASSERT_TRUE(env.ok()) << env.status();

    auto run_session = [&]() -> std::vector<Event> {
      CreateSessionRequest request;
      request.agent_id = agent->id;
      request.environment_id = env->id;
      absl::StatusOr<SessionInfo> session = (*engine)->CreateSession(request);
      EXPECT_TRUE(session.ok()) << session.status();
      if (!session.ok()) return {};
      Event message;
      message.type = EventType::kUserMessage;
      ContentBlock text;
      text.text = "go";
      message.content = {text};
      absl::StatusOr<std::vector<Event>> sent = (*engine)->SendEvents(session->id, {message});
      EXPECT_TRUE(sent.ok()) << sent.status();
      (*engine)->WaitUntilQuiet();
      absl::StatusOr<std::vector<Event>> events = (*engine)->ReadEvents(session->id);
      EXPECT_TRUE(events.ok()) << events.status();
      return events.ok() ? *std::move(events) : std::vector<Event>{};
    };

    for (int round = 0; round < 2; ++round) {  // the second session: the engine is still serving
      SCOPED_TRACE(absl::StrCat("session ", round + 1));
      std::vector<Event> events = run_session();
      std::vector<const Event*> results;
      bool idle = false, error = false;
      for (const Event& e : events) {
        if (e.type == EventType::kAgentToolResult) results.push_back(&e);
        if (e.type == EventType::kSessionStatusIdle) idle = true;
        if (e.type == EventType::kSessionError) error = true;
      }
      ASSERT_EQ(results.size(), 3u);
      EXPECT_TRUE(results[0]->is_error.value_or(false)) << TextOf(*results[0]);
      EXPECT_TRUE(results[1]->is_error.value_or(false)) << TextOf(*results[1]);
      EXPECT_FALSE(results[2]->is_error.value_or(false)) << TextOf(*results[2]);
      EXPECT_TRUE(absl::StrContains(TextOf(*results[2]), "still-here")) << TextOf(*results[2]);
      EXPECT_TRUE(idle);
      EXPECT_FALSE(error);
    }
    EXPECT_EQ((*engine)->stats().wake_errors, 0);
  }
  testing::RemoveDir(dir);
}

INSTANTIATE_TEST_SUITE_P(HandAgentOrExec, DockerConfinementTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Agent" : "Exec"; });

}  // namespace
}  // namespace wake
