// Faults under the hands, in the middle of a tool call, through a real Engine (RocksDB on a temp
// dir, the scripted brain, the real backends):
//   - the Docker daemon killed with SIGKILL, or restarted (SIGTERM, start), while a docker hand runs
//     `sleep 60` (with the hand agent in the container, and with an exec per call);
//   - sshd killed (the listener and every process serving a connection) while an ssh hand runs
//     `sleep 60` (through the hand agent, and per channel), then started again.
// Each time: the in-flight call comes back, well before its `sleep` would end, as an is_error tool
// result that says the tool could not run and why; the hand is reported lost; the turn ends
// normally (no session.error); and once the daemon is back, the session's next tool call gets a
// fresh hand (a new container; for ssh a new connection to the hand's directory) and works.
//
// The Docker daemon is a private one (tests/chaos/private_dockerd.h), never the machine's: other
// tests use that one at the same time. The sshd is the test's own (tests/sandbox/ssh_test_server.h).

#include <signal.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "sandbox/docker/docker_hand.h"
#include "sandbox/ssh/ssh_hand.h"
#include "tests/chaos/private_dockerd.h"
#include "tests/sandbox/ssh_test_server.h"
#include "tests/server/waked_process.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::PrivateDockerd;
using testing::SshTestServer;

// How long a call cut off by a fault may take to come back, and a session to finish a turn: a
// bound on hangs, far above what either takes, and far below the `sleep 60` in flight.
constexpr absl::Duration kBound = absl::Seconds(40);

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string TextOf(const Event& e) {
  std::string text;
  for (const ContentBlock& block : e.content) text += block.text;
  return text;
}

template <typename F>
bool WaitUntil(F done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// Turn 0 runs the long call the fault cuts off; turn 1 answers after its (failed) result and ends
// the turn; each later user message gets a call on whatever hand the session has then (turns 2 and
// 4) and an answer that ends its turn. `started` is left in the work dir by the first call, so a
// fresh sandbox is one without it.
constexpr char kScript[] = R"json({"turns": [
  {"text": "long", "tool_calls": [{"name": "bash", "input": {"command": "echo $$ > started; exec sleep 60"}}]},
  {"text": "the call failed"},
  {"text": "again", "tool_calls": [{"name": "bash", "input": {"command": "ls; echo fresh-$((40 + 2))"}}]},
  {"text": "done"},
  {"text": "again", "tool_calls": [{"name": "bash", "input": {"command": "ls; echo fresh-$((40 + 2))"}}]},
  {"text": "done"}
]})json";

// What happened to a session, read from its log.
struct Outcome {
  std::vector<Event> events;
  // Per user message (0-based): its tool results, hand events, and whether it ended idle.
  std::map<size_t, std::vector<const Event*>> results, provisioned, lost;
  std::map<size_t, bool> idle;
  bool session_error = false;

  explicit Outcome(std::vector<Event> read) : events(std::move(read)) {
    int message = -1;
    for (const Event& e : events) {
      switch (e.type) {
        case EventType::kUserMessage: ++message; break;
        case EventType::kAgentToolResult: results[message].push_back(&e); break;
        case EventType::kHandProvisioned: provisioned[message].push_back(&e); break;
        case EventType::kHandLost: lost[message].push_back(&e); break;
        case EventType::kSessionStatusIdle: idle[message] = true; break;
        case EventType::kSessionError: session_error = true; break;
        default: break;
      }
    }
  }
};

// An Engine on a temp dir whose sessions' hands come from one provider.
class EngineRig {
 public:
  EngineRig(HandProvider* provider, const std::string& backend) : dir_(testing::MakeTempDir("hand-faults")) {
    std::ofstream(dir_ + "/script.json") << kScript;
    EngineOptions options;
    options.data_dir = dir_ + "/data";
    options.hand_providers = {{backend, provider}};
    options.default_backend = backend;
    options.workers = 2;
    options.shutdown_grace = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(std::move(options));
    EXPECT_TRUE(engine.ok()) << engine.status();
    if (!engine.ok()) return;
    engine_ = *std::move(engine);
    AgentSpec agent_spec;
    agent_spec.name = "faults";
    agent_spec.model = "scripted:" + dir_ + "/script.json";
    absl::StatusOr<Agent> agent = engine_->CreateAgent(agent_spec);
    EXPECT_TRUE(agent.ok()) << agent.status();
    EnvironmentSpec env_spec;
    env_spec.name = backend;
    env_spec.backend = backend;
    absl::StatusOr<Environment> env = engine_->CreateEnvironment(env_spec);
    EXPECT_TRUE(env.ok()) << env.status();
    if (!agent.ok() || !env.ok()) return;
    CreateSessionRequest request;
    request.agent_id = agent->id;
    request.environment_id = env->id;
    absl::StatusOr<SessionInfo> session = engine_->CreateSession(request);
    EXPECT_TRUE(session.ok()) << session.status();
    if (session.ok()) session_ = session->id;
  }
  ~EngineRig() {
    engine_.reset();  // shuts down; the pool lets go of its hands
    testing::RemoveDir(dir_);
  }

  bool ok() const { return engine_ != nullptr && !session_.empty(); }
  const std::string& session() const { return session_; }
  Engine& engine() { return *engine_; }

  void Send(const std::string& text) {
    Event message;
    message.type = EventType::kUserMessage;
    ContentBlock block;
    block.text = text;
    message.content = {block};
    absl::StatusOr<std::vector<Event>> sent = engine_->SendEvents(session_, {message});
    ASSERT_TRUE(sent.ok()) << sent.status();
    ++sent_;
  }

  // Waits (bounded) until the turn of the last message sent is over; the log then.
  Outcome WaitForTurnEnd() {
    std::vector<Event> events;
    const bool ended = WaitUntil(
        [&] {
          absl::StatusOr<std::vector<Event>> read = engine_->ReadEvents(session_);
          if (!read.ok()) return false;
          events = *std::move(read);
          Outcome o(events);
          return o.idle[sent_ - 1] || o.session_error;
        },
        kBound);
    EXPECT_TRUE(ended) << "the turn of message " << sent_ << " did not end";
    return Outcome(std::move(events));
  }

 private:
  const std::string dir_;
  std::unique_ptr<Engine> engine_;
  std::string session_;
  size_t sent_ = 0;
};

// The scenario every fault goes through. `in_flight` waits until the session's first call runs its
// `sleep`; `fault` strikes then; `recover` brings the service back after the turn ended. With
// `fresh_sandbox`, the call after the fault must run in another sandbox (a new container): the
// first call's `started` is not there. With `call_while_down`, a message comes before `recover`:
// its call finds no hand to provision and is a tool error too.
void FaultMidCall(HandProvider* provider, const std::string& backend,
                  const std::function<bool(const std::string& session)>& in_flight, const std::function<void()>& fault,
                  const std::function<void()>& recover, bool fresh_sandbox, bool call_while_down = false) {
  EngineRig rig(provider, backend);
  ASSERT_TRUE(rig.ok());
  rig.Send("go");
  ASSERT_TRUE(WaitUntil([&] { return in_flight(rig.session()); }, kBound)) << "the first call never ran its sleep";
  fault();
  if (::testing::Test::HasFatalFailure()) return;

  // The call cut off: a tool error naming what went wrong, the hand reported lost, the turn over.
  Outcome first = rig.WaitForTurnEnd();
  EXPECT_FALSE(first.session_error) << "the turn ended in session.error";
  ASSERT_EQ(first.results[0].size(), 1u);
  const Event& failed = *first.results[0][0];
  const std::string failed_text = TextOf(failed);
  std::fprintf(stderr, "  the cut-off call's result: %s\n", failed_text.c_str());
  EXPECT_TRUE(failed.is_error.value_or(false)) << failed_text;
  EXPECT_TRUE(absl::StartsWith(failed_text, "The tool could not run: ")) << failed_text;
  EXPECT_TRUE(absl::StrContains(failed_text, backend)) << "the message does not say what failed: " << failed_text;
  ASSERT_EQ(first.provisioned[0].size(), 1u);
  const std::string first_hand = first.provisioned[0][0]->hand_id;
  ASSERT_EQ(first.lost[0].size(), 1u) << "the hand was not reported lost";
  EXPECT_EQ(first.lost[0][0]->hand_id, first_hand);
  EXPECT_TRUE(first.idle[0]);

  size_t next = 1;  // the user message whose call runs on the fresh hand
  if (call_while_down) {
    rig.Send("while down");
    Outcome down = rig.WaitForTurnEnd();
    EXPECT_FALSE(down.session_error) << "the turn ended in session.error";
    ASSERT_EQ(down.results[1].size(), 1u);
    const std::string text = TextOf(*down.results[1][0]);
    std::fprintf(stderr, "  the call while down: %s\n", text.c_str());
    EXPECT_TRUE(down.results[1][0]->is_error.value_or(false)) << text;
    EXPECT_TRUE(absl::StartsWith(text, "The tool could not run: provisioning a hand failed: ")) << text;
    EXPECT_TRUE(absl::StrContains(text, backend)) << text;
    EXPECT_TRUE(down.provisioned[1].empty());
    EXPECT_TRUE(down.idle[1]);
    next = 2;
  }

  recover();
  if (::testing::Test::HasFatalFailure()) return;

  // The session carries on: its next call gets a fresh hand and works.
  rig.Send("again");
  Outcome second = rig.WaitForTurnEnd();
  EXPECT_FALSE(second.session_error) << "the turn ended in session.error";
  ASSERT_EQ(second.results[next].size(), 1u);
  const Event& worked = *second.results[next][0];
  EXPECT_FALSE(worked.is_error.value_or(false)) << TextOf(worked);
  EXPECT_TRUE(absl::StrContains(TextOf(worked), "fresh-42")) << TextOf(worked);
  ASSERT_EQ(second.provisioned[next].size(), 1u) << "no hand was provisioned for the next call";
  if (fresh_sandbox) {
    EXPECT_NE(second.provisioned[next][0]->hand_id, first_hand) << "the next call ran in the lost sandbox";
    EXPECT_FALSE(absl::StrContains(TextOf(worked), "started")) << "the lost sandbox's file is there: " << TextOf(worked);
  }
  EXPECT_TRUE(second.lost[next].empty());
  EXPECT_TRUE(second.idle[next]);
  const EngineStats stats = rig.engine().stats();
  EXPECT_EQ(stats.hands.lost, 1);
  EXPECT_EQ(stats.wake_errors, 0);
}

// ---------------------------------------------------------------------------------------------
// Docker: a private daemon, shared by the docker tests of this binary.

std::unique_ptr<PrivateDockerd>& DaemonHolder() {
  static auto* holder = new std::unique_ptr<PrivateDockerd>();
  return *holder;
}

class StopDaemon : public ::testing::Environment {
 public:
  void TearDown() override { DaemonHolder().reset(); }
};
const auto* const kStopDaemon = ::testing::AddGlobalTestEnvironment(new StopDaemon);

class DockerFaultsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::unique_ptr<PrivateDockerd>& daemon = DaemonHolder();
    if (daemon == nullptr) {
      absl::StatusOr<std::unique_ptr<PrivateDockerd>> started = PrivateDockerd::Start(WAKE_SOURCE_DIR);
      ASSERT_TRUE(started.ok()) << started.status();
      daemon = *std::move(started);
    }
    daemon_ = daemon.get();
    DockerProviderOptions options;
    options.socket_path = daemon_->socket();
    options.image = "wake-test-busybox:latest";
    if (GetParam()) {
      options.agent_path = WAKE_HAND_AGENT_PATH;
      options.require_agent = true;
    }
    absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewDockerProvider(options);
    ASSERT_TRUE(provider.ok()) << provider.status();
    provider_ = *std::move(provider);
  }
  void TearDown() override {
    // The next test starts from a running daemon with no container.
    if (daemon_->Call("GET", "/_ping").first != 200) {
      daemon_->StopDockerd().IgnoreError();  // reaps one that hangs
      EXPECT_TRUE(daemon_->StartDockerd().ok());
    }
    if (provider_) provider_->ReapExcept([](std::string_view) { return false; }).IgnoreError();
  }

  // Whether the session's container runs the first call's `sleep 60` (GET /containers/{id}/top).
  bool SleepRuns(const std::string& session) {
    const std::string filter = absl::StrCat(R"({"label":["wake.session=)", session, R"("]})");
    std::string escaped;
    for (char c : filter) {
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') {
        escaped += c;
      } else {
        absl::StrAppend(&escaped, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
      }
    }
    auto [status, body] = daemon_->Call("GET", "/containers/json?filters=" + escaped);
    const size_t at = body.find(R"("Id":")");
    if (status != 200 || at == std::string::npos) return false;
    const std::string id = body.substr(at + 6, 64);
    auto [top_status, top] = daemon_->Call("GET", absl::StrCat("/containers/", id, "/top"));
    return top_status == 200 && absl::StrContains(top, "sleep 60");
  }

  PrivateDockerd* daemon_ = nullptr;
  std::unique_ptr<HandProvider> provider_;
};

TEST_P(DockerFaultsTest, DockerdKilledMidCall) {
  FaultMidCall(
      provider_.get(), "docker", [&](const std::string& s) { return SleepRuns(s); },
      [&] { daemon_->KillDockerd(); },
      [&] { ASSERT_TRUE(daemon_->StartDockerd().ok()); },
      /*fresh_sandbox=*/true);
}

TEST_P(DockerFaultsTest, DockerdKilledMidCallAndStillDownAtTheNextCall) {
  FaultMidCall(
      provider_.get(), "docker", [&](const std::string& s) { return SleepRuns(s); },
      [&] { daemon_->KillDockerd(); },
      [&] { ASSERT_TRUE(daemon_->StartDockerd().ok()); },
      /*fresh_sandbox=*/true, /*call_while_down=*/true);
}

TEST_P(DockerFaultsTest, DockerdRestartedMidCall) {
  FaultMidCall(
      provider_.get(), "docker", [&](const std::string& s) { return SleepRuns(s); },
      [&] {
        // A restart as an operator does it: stop (the daemon stops the containers), start.
        ASSERT_TRUE(daemon_->StopDockerd().ok());
        ASSERT_TRUE(daemon_->StartDockerd().ok());
      },
      [] {}, /*fresh_sandbox=*/true);
}

INSTANTIATE_TEST_SUITE_P(HandAgentOrExec, DockerFaultsTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Agent" : "Exec"; });

// ---------------------------------------------------------------------------------------------
// SSH: an sshd of each test's own.

// The pids of `root` and of its descendants, from /proc, with their command names.
std::map<pid_t, std::string> ProcessTree(pid_t root) {
  std::map<pid_t, std::pair<pid_t, std::string>> all;  // pid -> (parent, comm)
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = Slurp(entry.path().string() + "/stat");
    const size_t open = stat.find('(');
    const size_t close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    pid_t parent = 0;
    rest >> state >> parent;
    all[std::stoi(name)] = {parent, stat.substr(open + 1, close - open - 1)};
  }
  std::map<pid_t, std::string> tree;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    if (auto it = all.find(p); it != all.end()) tree[p] = it->second.second;
    for (const auto& [pid, info] : all) {
      if (info.first == p && !tree.contains(pid)) todo.push_back(pid);
    }
  }
  return tree;
}

class SshFaultsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SshTestServer>> server = SshTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    SshProviderOptions options;
    options.port = server_->port();
    options.user = server_->user();
    options.identity_file = server_->identity_file();
    options.known_hosts_file = server_->known_hosts_file();
    options.base_dir = server_->dir() + "/hands";
    if (GetParam()) {
      options.agent_path = WAKE_HAND_AGENT_PATH;
      options.require_agent = true;
    }
    absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewSshProvider(options);
    ASSERT_TRUE(provider.ok()) << provider.status();
    provider_ = *std::move(provider);
  }
  void TearDown() override {
    provider_.reset();
    // The sshd started again, and what it serves.
    if (restarted_ > 0) {
      for (const auto& [pid, comm] : ProcessTree(restarted_)) {
        if (pid != restarted_ && comm == "sshd") kill(pid, SIGKILL);
      }
      kill(restarted_, SIGTERM);
      if (!testing::WaitExit(restarted_, absl::Seconds(10))) {
        kill(restarted_, SIGKILL);
        testing::WaitExit(restarted_, absl::Seconds(10));
      }
    }
    // A per-channel command outlives its connection: the cut-off `sleep 60`, if still there.
    if (sleep_pid_ > 0 && absl::StrContains(Slurp(absl::StrCat("/proc/", sleep_pid_, "/cmdline")), "sleep")) {
      kill(sleep_pid_, SIGKILL);
    }
    server_.reset();
  }

  // The session's work dir on the (local) host.
  std::string WorkDir(const std::string& session) const { return absl::StrCat(server_->dir(), "/hands/", session); }

  // Whether the first call's `sleep 60` runs (it wrote its pid, then exec'd).
  bool SleepRuns(const std::string& session) {
    const std::string pid_text = Slurp(WorkDir(session) + "/started");
    if (pid_text.empty()) return false;
    sleep_pid_ = std::stoi(pid_text);
    std::string cmdline = Slurp(absl::StrCat("/proc/", sleep_pid_, "/cmdline"));
    return cmdline == std::string("sleep\0" "60\0", 9);
  }

  // kill -9 of the listener and of every sshd process serving a connection (not the commands).
  void KillSshd() {
    const pid_t listener = std::stoi(Slurp(server_->dir() + "/sshd.pid"));
    const std::map<pid_t, std::string> tree = ProcessTree(listener);
    size_t killed = 0;
    for (const auto& [pid, comm] : tree) {
      if (comm == "sshd") killed += kill(pid, SIGKILL) == 0 ? 1 : 0;
    }
    ASSERT_GE(killed, 2u) << "expected the listener and a connection's sshd";
    // The port is free once the listener is gone (it was the test server's child: a zombie until
    // the server reaps it, but its socket is closed).
  }

  void RestartSshd() {
    const std::string dir = server_->dir();
    restarted_ = testing::Spawn({"/usr/sbin/sshd", "-D", "-f", dir + "/sshd_config", "-E", dir + "/sshd-again.log"},
                                dir + "/sshd-again.out", dir + "/sshd-again.out");
    ASSERT_GT(restarted_, 0);
    // Up once a fresh connection gets sshd's banner.
    const bool up = WaitUntil(
        [&] {
          absl::StatusOr<std::unique_ptr<HandProvider>> probe = [&] {
            SshProviderOptions options;
            options.port = server_->port();
            options.user = server_->user();
            options.identity_file = server_->identity_file();
            options.known_hosts_file = server_->known_hosts_file();
            options.base_dir = server_->dir() + "/hands";
            options.connect_timeout = absl::Seconds(2);
            return NewSshProvider(options);
          }();
          return probe.ok();
        },
        kBound);
    ASSERT_TRUE(up) << "sshd did not come back: " << Slurp(dir + "/sshd-again.log");
  }

  std::unique_ptr<SshTestServer> server_;
  std::unique_ptr<HandProvider> provider_;
  pid_t restarted_ = -1;
  pid_t sleep_pid_ = -1;
};

TEST_P(SshFaultsTest, SshdKilledMidCall) {
  FaultMidCall(
      provider_.get(), "ssh", [&](const std::string& s) { return SleepRuns(s); }, [&] { KillSshd(); },
      [&] { RestartSshd(); },
      // The ssh hand is its directory: the fresh hand is a new connection to it.
      /*fresh_sandbox=*/false);
}

TEST_P(SshFaultsTest, SshdKilledMidCallAndStillDownAtTheNextCall) {
  FaultMidCall(
      provider_.get(), "ssh", [&](const std::string& s) { return SleepRuns(s); }, [&] { KillSshd(); },
      [&] { RestartSshd(); }, /*fresh_sandbox=*/false, /*call_while_down=*/true);
}

INSTANTIATE_TEST_SUITE_P(HandAgentOrChannel, SshFaultsTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Agent" : "Channel"; });

}  // namespace
}  // namespace wake
