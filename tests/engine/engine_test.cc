// The Engine on real parts: RocksDB on disk, the local hand backend, the scripted brain (and a
// brain that hangs, for shutdown and restart).

#include "engine/engine.h"

#include <atomic>
#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
#include "schemas/ids.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

// Streams nothing until cancelled (by a shutdown), then says so; counts its calls.
class HangingBrain final : public Brain {
 public:
  std::string_view kind() const override { return "hanging (test)"; }
  absl::StatusOr<ModelTurn> Stream(const ModelRequest&, StreamObserver*, const CancelToken* cancel) override {
    ++calls;
    while (cancel == nullptr || !cancel->cancelled()) absl::SleepFor(absl::Milliseconds(5));
    return absl::CancelledError("stopped");
  }
  std::atomic<int> calls{0};
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("engine");
    LocalProviderOptions local;
    local.base_dir = dir_ + "/hands";
    local_ = *NewLocalProvider(local);
    Open();
  }
  void TearDown() override {
    engine_.reset();
    testing::RemoveDir(dir_);
  }

  void Open(std::function<absl::StatusOr<Brain*>(std::string_view)> brain = nullptr) {
    engine_.reset();
    EngineOptions options;
    options.data_dir = dir_ + "/data";
    options.hand_providers = {{"local", local_.get()}};
    options.workers = 2;
    options.shutdown_grace = absl::Milliseconds(200);
    options.brain_override = std::move(brain);
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(std::move(options));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  std::string NewSession(const std::string& model = "scripted", const std::string& environment = "") {
    AgentSpec spec;
    spec.name = "tester";
    spec.model = model;
    absl::StatusOr<Agent> agent = engine_->CreateAgent(spec);
    EXPECT_TRUE(agent.ok()) << agent.status();
    CreateSessionRequest request;
    request.agent_id = agent->id;
    request.environment_id = environment;
    absl::StatusOr<SessionInfo> session = engine_->CreateSession(request);
    EXPECT_TRUE(session.ok()) << session.status();
    return session->id;
  }

  static Event UserMessage(const std::string& text) {
    Event e;
    e.type = EventType::kUserMessage;
    ContentBlock block;
    block.text = text;
    e.content.push_back(block);
    return e;
  }

  std::vector<Event> Events(const std::string& id) { return *engine_->ReadEvents(id); }

  std::string dir_;
  std::unique_ptr<HandProvider> local_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, AgentsAreVersioned) {
  AgentSpec spec;
  spec.name = "a";
  spec.model = "scripted";
  absl::StatusOr<Agent> v1 = engine_->CreateAgent(spec);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_TRUE(absl::StartsWith(v1->id, "agent_"));
  EXPECT_EQ(v1->version, 1u);
  spec.system = "be brief";
  absl::StatusOr<Agent> v2 = engine_->UpdateAgent(v1->id, 1, spec);
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version, 2u);
  EXPECT_EQ(engine_->UpdateAgent(v1->id, 1, spec).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(engine_->GetAgent(v1->id, 1)->spec.system, "");
  EXPECT_EQ(engine_->GetAgent(v1->id)->spec.system, "be brief");
  EXPECT_EQ(engine_->GetAgent(v1->id, 3).status().code(), absl::StatusCode::kNotFound);
  AgentSpec no_model;
  EXPECT_EQ(engine_->CreateAgent(no_model).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(engine_->ArchiveAgent(v1->id).ok());
  EXPECT_EQ(engine_->ListAgents("", 10, false)->items.size(), 0u);
  EXPECT_EQ(engine_->ListAgents("", 10, true)->items.size(), 1u);
  CreateSessionRequest request;
  request.agent_id = v1->id;
  EXPECT_EQ(engine_->CreateSession(request).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(EngineTest, EnvironmentsNameAKnownBackend) {
  EnvironmentSpec spec;
  spec.name = "e";
  spec.backend = "teleporter";
  absl::StatusOr<Environment> bad = engine_->CreateEnvironment(spec);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "local")) << bad.status();
  spec.backend = "local";
  spec.resources.memory_bytes = 1 << 28;
  absl::StatusOr<Environment> env = engine_->CreateEnvironment(spec);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_TRUE(absl::StartsWith(env->id, "env_"));
  EXPECT_EQ(engine_->GetEnvironment(env->id)->spec.resources.memory_bytes, 1 << 28);
  ASSERT_TRUE(engine_->DeleteEnvironment(env->id).ok());
  EXPECT_EQ(engine_->GetEnvironment(env->id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EngineTest, AUserMessageRunsATurnWithARealHand) {
  const std::string s = NewSession();
  absl::StatusOr<std::vector<Event>> sent = engine_->SendEvents(s, {UserMessage("hi")});
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->size(), 1u);
  EXPECT_EQ((*sent)[0].seq, 1u);
  EXPECT_TRUE((*sent)[0].processed_at.has_value());
  engine_->WaitUntilQuiet();
  std::vector<Event> events = Events(s);
  bool provisioned = false;
  std::string tool_output;
  for (const Event& e : events) {
    if (e.type == EventType::kHandProvisioned) provisioned = true;
    if (e.type == EventType::kAgentToolResult) tool_output = e.content[0].text;
  }
  EXPECT_TRUE(provisioned);
  EXPECT_TRUE(absl::StrContains(tool_output, "hello from the hand")) << tool_output;
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
  EXPECT_EQ(engine_->GetSession(s)->status, "idle");
  std::vector<Event> scanned;
  ASSERT_TRUE(engine_->ScanEvents(s, {}, [&](const Event& e) {
                        scanned.push_back(e);
                        return absl::OkStatus();
                      }).ok());
  EXPECT_EQ(scanned, events);
}

// The value of an unlabelled gauge or counter in the engine's /metrics text; -1 when absent.
int64_t MetricValue(Engine& engine, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(engine.metrics().RenderPrometheus(), '\n')) {
    int64_t value = 0;
    if (absl::ConsumePrefix(&line, name + " ") && absl::SimpleAtoi(line, &value)) return value;
  }
  return -1;
}

TEST_F(EngineTest, TheNextTurnStartsFromTheReplayCacheAndDeletingTheSessionFreesIt) {
  const std::string s = NewSession();
  ASSERT_TRUE(engine_->SendEvents(s, {UserMessage("hi")}).ok());
  engine_->WaitUntilQuiet();
  const int64_t kept = MetricValue(*engine_, "wake_replay_cache_bytes");
  EXPECT_GT(kept, static_cast<int64_t>(Events(s).size() * sizeof(Event)));
  // The second turn's wake starts from the cached events: its model request still holds the first
  // turn (the scripted brain answers by the number of assistant turns it sees, so a context that lost
  // them would repeat the first reply).
  ASSERT_TRUE(engine_->SendEvents(s, {UserMessage("and again")}).ok());
  engine_->WaitUntilQuiet();
  std::vector<std::string> replies;
  for (const Event& e : Events(s)) {
    if (e.type == EventType::kAgentMessage) replies.push_back(e.content[0].text);
  }
  ASSERT_EQ(replies.size(), 3u);  // the first turn's two replies, then the second turn's
  EXPECT_NE(replies[2], replies[0]);
  EXPECT_NE(replies[2], replies[1]);
  EXPECT_EQ(Events(s).back().type, EventType::kSessionStatusIdle);
  EXPECT_GT(MetricValue(*engine_, "wake_replay_cache_bytes"), kept);
  // The second wake started from the first one's events, and read from the log only what came since.
  const int64_t from_cache = MetricValue(*engine_, "wake_replay_events_total{from=\"cache\"}");
  const int64_t from_log = MetricValue(*engine_, "wake_replay_events_total{from=\"log\"}");
  EXPECT_GT(from_cache, 2);
  EXPECT_EQ(from_log, 2);  // the first wake read the first message from the log, the second the second
  ASSERT_TRUE(engine_->DeleteSession(s).ok());
  EXPECT_EQ(MetricValue(*engine_, "wake_replay_cache_bytes"), 0);
}

TEST_F(EngineTest, BadEventsAreRefusedAndChangeNothing) {
  const std::string s = NewSession();
  Event agent_message;
  agent_message.type = EventType::kAgentMessage;
  EXPECT_EQ(engine_->SendEvents(s, {agent_message}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->SendEvents(s, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->SendEvents("sesn_01M81Z5JVK8FP61MGMCJRZJRYF", {UserMessage("x")}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(Events(s).empty());
  ASSERT_TRUE(engine_->ArchiveSession(s).ok());
  EXPECT_EQ(engine_->SendEvents(s, {UserMessage("x")}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Events(s).empty());
}

TEST_F(EngineTest, AnAgentWithoutAModelClientGetsASessionError) {
  const char* key = std::getenv("ANTHROPIC_API_KEY");
  if (key != nullptr && *key != '\0') GTEST_SKIP() << "ANTHROPIC_API_KEY is set here";
  const std::string s = NewSession("claude-opus-4-6");
  ASSERT_TRUE(engine_->SendEvents(s, {UserMessage("hi")}).ok());
  engine_->WaitUntilQuiet();
  std::vector<Event> events = Events(s);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[events.size() - 2].type, EventType::kSessionError);
  EXPECT_TRUE(absl::StrContains(events[events.size() - 2].error.message, "ANTHROPIC_API_KEY"));
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
}

TEST_F(EngineTest, ShutdownMidTurnAndTheNextEngineFinishesTheSession) {
  HangingBrain hanging;
  Open([&](std::string_view) -> absl::StatusOr<Brain*> { return &hanging; });
  const std::string s = NewSession();
  ASSERT_TRUE(engine_->SendEvents(s, {UserMessage("hi")}).ok());
  while (hanging.calls.load() == 0) absl::SleepFor(absl::Milliseconds(5));
  engine_->Shutdown();  // the turn is stopped at its stream; the session stays running
  EXPECT_EQ(engine_->GetSession(s)->status, "running");
  EXPECT_EQ(engine_->SendEvents(s, {UserMessage("late")}).status().code(), absl::StatusCode::kUnavailable);

  Open();  // the scripted brain again: the new engine wakes the session by itself
  engine_->WaitUntilQuiet();
  std::vector<Event> events = Events(s);
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
  int messages = 0;
  for (const Event& e : events) messages += e.type == EventType::kAgentMessage ? 1 : 0;
  EXPECT_EQ(messages, 2);
}

TEST_F(EngineTest, VaultSecretsReachOnlyTheHandsThatAskAndNeverTheLog) {
  ASSERT_TRUE(engine_->vault().Put("token", "s3cr3t-value-42").ok());
  EnvironmentSpec spec;
  spec.secret_env = {{"DEPLOY_TOKEN", "token"}};
  absl::StatusOr<Environment> env = engine_->CreateEnvironment(spec);
  ASSERT_TRUE(env.ok());
  AgentSpec agent;
  agent.model = "scripted:" + dir_ + "/script.json";
  {
    std::ofstream script(dir_ + "/script.json");
    script << R"({"turns":[{"tool_calls":[{"name":"bash","input":{"command":"echo token=$DEPLOY_TOKEN"}}]},{"text":"done"}]})";
  }
  absl::StatusOr<Agent> created = engine_->CreateAgent(agent);
  ASSERT_TRUE(created.ok());
  CreateSessionRequest request;
  request.agent_id = created->id;
  request.environment_id = env->id;
  const std::string s = engine_->CreateSession(request)->id;
  ASSERT_TRUE(engine_->SendEvents(s, {UserMessage("my token is s3cr3t-value-42, use it")}).ok());
  engine_->WaitUntilQuiet();
  std::string all;
  for (const Event& e : Events(s)) {
    for (const ContentBlock& b : e.content) all += b.text + "\n";
  }
  EXPECT_TRUE(absl::StrContains(all, "token=[secret:token]")) << all;
  EXPECT_TRUE(absl::StrContains(all, "my token is [secret:token]")) << all;
  EXPECT_FALSE(absl::StrContains(all, "s3cr3t-value-42")) << all;
}

TEST_F(EngineTest, ASessionLeasedByADeadWorkerIsWokenWhenTheLeaseExpires) {
  const std::string s = NewSession();
  // Another process took the lease, marked the session running, and died without releasing it.
  absl::StatusOr<Lease> dead = engine_->log().AcquireLease(s, "worker-that-died", absl::Seconds(1));
  ASSERT_TRUE(dead.ok());
  Event user = UserMessage("hi");
  user.id = NewEventId(absl::Now());
  Event running;
  running.type = EventType::kSessionStatusRunning;
  running.id = NewEventId(absl::Now());
  ASSERT_TRUE(engine_->log().Append(s, {user, running}, kAppendAtHead, kNoLease).ok());
  Open();  // a new engine finds the session running, waits out the lease, then finishes the turn
  engine_->WaitUntilQuiet();
  std::vector<Event> events = Events(s);
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
  // It did not take the lease from under its holder: it woke after the lease ran out.
  for (const Event& e : events) {
    if (e.type != EventType::kHarnessWoke) continue;
    EXPECT_GT(e.lease_epoch, dead->epoch);
    EXPECT_GE(*e.processed_at, dead->expires_at);
  }
}

}  // namespace
}  // namespace wake
