// The managed-agents hand and `wakectl probe`:
//   - against waked's real server (StartServer over an Engine on a temp dir, API keys required, the
//     scripted brain, local hands): the probe passes with its continuity check (and fails when the
//     remote agent does not remember); the hand creates the environment, agent and session through
//     the public API and completes delegated tasks for a calling session run by a real Harness on
//     RocksDB, reusing one remote session, and ReleaseSession archives it;
//   - against ReplayServer, which answers with Managed Agents events in the SDK's shapes
//     (testdata/), byte for byte: a stream cut mid-turn (reconnect, listing, dedupe), 429 and 529 with
//     retry-after, session.error ending in retries_exhausted, an idle with requires_action, a stream
//     that never goes idle (timeout);
//   - everywhere: the API key is sent only as x-api-key, and appears in no tool result and no event
//     of the calling session.

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/strings.h"
#include "engine/engine.h"
#include "engine/probe.h"
#include "gtest/gtest.h"
#include "harness/harness.h"
#include "harness/scripted_brain.h"
#include "sandbox/hand_pool.h"
#include "sandbox/toolset.h"
#include "sandbox/local/local_hand.h"
#include "sandbox/managed_agents/managed_agents_api.h"
#include "sandbox/managed_agents/managed_agents_hand.h"
#include "sandbox/vault.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "server/server.h"
#include "simdjson.h"
#include "tests/server/test_engine.h"
#include "storage/api_key_store.h"
#include "storage/rocksdb_session_log.h"
#include "tests/managed_agents/replay_server.h"
#include "tests/server/waked_process.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::CannedResponse;
using testing::ReplayServer;
using testing::SseBody;
using testing::TestDataLines;

std::string ResultText(const ToolResult& result) {
  std::string text;
  for (const ContentBlock& block : result.content) text += block.text;
  return text;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path);
  out << content;
}

// Runs wakectl with `args`; its stdout, and its exit status in `code`.
std::string RunWakectl(const std::string& args, int* code) {
  std::string out;
  FILE* pipe = ::popen(absl::StrCat(WAKECTL_BINARY, " ", args, " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  const int status = ::pclose(pipe);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// The "id" of the first element of `json`'s "data" list, "" when there is none.
std::string FirstId(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array data;
  std::string_view id;
  if (parser.parse(json).get(root) != simdjson::SUCCESS || root["data"].get_array().get(data) != simdjson::SUCCESS ||
      data.size() == 0 || data.at(0)["id"].get_string().get(id) != simdjson::SUCCESS) {
    return "";
  }
  return std::string(id);
}

// ---------------------------------------------------------------------------------------------
// Against waked.

// The remote agent's script: turn 1 runs a command on its hand and acknowledges; turn 2 quotes the
// first user message of its conversation (so it answers from the session's history, not by rote).
constexpr char kRemoteScript[] = R"({"turns": [
  {"text": "Let me note that on my hand.", "tool_calls": [{"name": "bash", "input": {"command": "echo noted"}}]},
  {"text": "Noted."},
  {"text": "You told me: {{user_message:1}}"}
]})";
// The probe's remote script: OK, then a quote of the first message.
constexpr char kProbeScript[] = R"({"turns": [
  {"text": "OK"},
  {"text": "You asked me to remember: {{user_message:1}}"}
]})";
// A remote agent that does not remember: it answers turn 2 with a fixed text.
constexpr char kForgetfulScript[] = R"({"turns": [
  {"text": "OK"},
  {"text": "I do not remember any token."}
]})";

class WakedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("managed_agents");
    auto provider = NewLocalProvider({.base_dir = dir_ + "/hands", .isolate = false});
    ASSERT_TRUE(provider.ok()) << provider.status();
    local_ = *std::move(provider);
    auto engine = testing::OpenTestEngine(dir_ + "/data", local_.get());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    ApiKeyStoreOptions key_options;
    key_options.data_dir = dir_ + "/data";
    keys_ = std::make_unique<ApiKeyStore>(key_options);
    auto key = keys_->Create("managed-agents-test", "");
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = key->key;
    ServerOptions server_options;
    server_options.require_api_key = true;
    server_options.api_keys = keys_.get();
    server_options.keepalive_interval = absl::Milliseconds(100);
    server_options.log = [](std::string_view) {};
    auto server = StartServer(engine_.get(), std::move(server_options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    url_ = absl::StrCat("http://127.0.0.1:", server_->port());
    for (const auto& [name, script] : {std::pair{"remote.json", kRemoteScript}, std::pair{"probe.json", kProbeScript},
                                       std::pair{"forgetful.json", kForgetfulScript}}) {
      WriteFile(absl::StrCat(dir_, "/", name), script);
    }
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
    testing::RemoveDir(dir_);
  }

  Client ProbeClient(const std::string& key, const std::string& url = "") {
    ClientOptions options;
    options.base_url = url.empty() ? url_ : url;
    options.api_key = key;
    options.anthropic_version = std::string(kManagedAgentsApiVersion);
    return *Client::Create(options);
  }

  std::string dir_;
  std::string url_;
  std::string key_;
  std::unique_ptr<HandProvider> local_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ApiKeyStore> keys_;
  std::unique_ptr<Server> server_;
};

TEST_F(WakedTest, ProbePassesWithContinuity) {
  ProbeOptions options;
  options.model = absl::StrCat("scripted:", dir_, "/probe.json");
  options.turn_timeout = absl::Seconds(60);
  const ProbeReport report = RunProbe(ProbeClient(key_), options);
  std::vector<std::string> names;
  for (const ProbeStep& s : report.steps) {
    names.push_back(s.name);
    EXPECT_TRUE(s.ok) << s.name << ": " << s.detail;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"environment_create", "agent_create", "session_create", "turn_1",
                                             "turn_2", "session_archive"}));
  EXPECT_TRUE(absl::StartsWith(report.token, "wake-probe-")) << report.token;
  EXPECT_EQ(report.steps[3].detail, "OK");
  EXPECT_TRUE(absl::StrContains(report.steps[4].detail, report.token)) << report.steps[4].detail;
  EXPECT_TRUE(report.continuity);
  EXPECT_TRUE(report.passed);
  std::fputs(ProbeReportText(report).c_str(), stdout);  // the timings, for the record
  // The session is archived on the server.
  auto session = ProbeClient(key_).Get(absl::StrCat("/v1/sessions/", report.session_id));
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_FALSE(absl::StrContains(*session, R"("archived_at":null)")) << *session;
}

TEST_F(WakedTest, WakectlProbeExitsZeroOnPassAndOneOnFailure) {
  int code = -1;
  const std::string common = absl::StrCat("--url ", url_, " --api-key ", key_, " probe --json --timeout 60s");
  const std::string passed = RunWakectl(absl::StrCat(common, " --model scripted:", dir_, "/probe.json"), &code);
  EXPECT_EQ(code, 0) << passed;
  EXPECT_TRUE(absl::StrContains(passed, R"("passed":true,"continuity":true)")) << passed;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(passed).get(root), simdjson::SUCCESS) << passed;
  simdjson::dom::array steps;
  ASSERT_EQ(root["steps"].get_array().get(steps), simdjson::SUCCESS);
  EXPECT_EQ(steps.size(), 6u);
  for (simdjson::dom::element step : steps) {
    double ms = -1;
    EXPECT_EQ(step["ms"].get(ms), simdjson::SUCCESS);
    EXPECT_GE(ms, 0);
  }

  // A remote agent that forgets: every step works, the continuity check fails, exit 1.
  const std::string forgot = RunWakectl(absl::StrCat(common, " --model scripted:", dir_, "/forgetful.json"), &code);
  EXPECT_EQ(code, 1) << forgot;
  EXPECT_TRUE(absl::StrContains(forgot, R"("passed":false,"continuity":false)")) << forgot;
  EXPECT_TRUE(absl::StrContains(forgot, "I do not remember any token.")) << forgot;

  // A wrong key: the first step fails, exit 1; the readable report says where.
  const std::string refused =
      RunWakectl(absl::StrCat("--url ", url_, " --api-key sk-wake-wrong probe --timeout 60s"), &code);
  EXPECT_EQ(code, 1) << refused;
  EXPECT_TRUE(absl::StrContains(refused, "environment_create FAIL")) << refused;
  EXPECT_TRUE(absl::StrContains(refused, "401")) << refused;

  // Without --url it is a usage error.
  RunWakectl("probe", &code);
  EXPECT_EQ(code, 2);
}

TEST_F(WakedTest, HandDelegatesTasksToWakedAndKeepsTheRemoteSession) {
  Vault vault;
  ASSERT_TRUE(vault.Put("WAKED_KEY", key_).ok());
  ManagedAgentsHandOptions options;
  options.base_url = url_;
  options.vault = &vault;
  options.api_key_secret = "WAKED_KEY";
  options.agent_json = absl::StrCat(R"({"name":"delegate target","model":)",
                                    JsonQuote(absl::StrCat("scripted:", dir_, "/remote.json")),
                                    R"(,"tools":[{"type":"agent_toolset_20260401"}]})");
  options.environment_json = R"({"name":"delegate env","config":{"type":"local"}})";
  options.turn.timeout = absl::Seconds(60);
  auto hands = ManagedAgentsHands::Create(options);
  ASSERT_TRUE(hands.ok()) << hands.status();

  // The calling session: a harness on its own RocksDB log, whose scripted brain delegates twice.
  RocksDbSessionLogOptions log_options;
  log_options.path = dir_ + "/caller";
  auto log = OpenRocksDbSessionLog(log_options);
  ASSERT_TRUE(log.ok()) << log.status();
  auto brain = NewScriptedBrain(R"({"turns": [
    {"text": "Delegating.", "tool_calls": [{"name": "bash", "input": {"command": "echo on the local hand"}},
                                           {"name": "delegate", "input": {"task": "Remember the word lighthouse-42."}}]},
    {"text": "Asking back.", "tool_calls": [{"name": "delegate", "input": {"task": "Which word did I give you?"}}]},
    {"text": "Done."}
  ]})");
  ASSERT_TRUE(brain.ok()) << brain.status();
  AgentConfig agent;
  agent.model = "scripted";
  const ToolSpec tool = (*hands)->tool();
  agent.tools.push_back(ToolDefinition{tool.name, tool.description, tool.input_schema_json});
  for (const ToolSpec& standard : StandardTools()) {
    agent.tools.push_back(ToolDefinition{standard.name, standard.description, standard.input_schema_json});
  }
  // delegate goes to the managed-agents hand, bash to a local hand of the caller's own pool.
  HandPoolOptions pool_options;
  pool_options.placement = [this](std::string_view) -> absl::StatusOr<HandPlacement> {
    return HandPlacement{local_.get(), HandResources{}};
  };
  HandPool pool(pool_options);
  ToolRouter routed({{(*hands)->tool().name, hands->get()}}, &pool);
  HarnessOptions harness_options;
  harness_options.worker_id = "caller";
  Harness harness(log->get(), brain->get(), &routed, harness_options);

  SessionInfo info;
  info.id = NewSessionId(absl::Now());
  ASSERT_TRUE((*log)->CreateSession(info).ok());
  Event user;
  user.type = EventType::kUserMessage;
  user.id = NewEventId(absl::Now());
  ContentBlock text;
  text.text = "Use the delegate.";
  user.content.push_back(text);
  ASSERT_TRUE((*log)->Append(info.id, {user}, kAppendAtHead, kNoLease).ok());
  ASSERT_TRUE(harness.Wake(info.id, agent).ok());

  auto events = (*log)->Read(info.id);
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<const Event*> results;
  std::vector<std::string> provisioned;
  for (const Event& e : *events) {
    if (e.type == EventType::kAgentToolResult) results.push_back(&e);
    if (e.type == EventType::kHandProvisioned) {
      provisioned.push_back(e.hand_backend);
      if (e.hand_backend == "managed_agents") {
        EXPECT_TRUE(absl::StartsWith(e.hand_id, "sesn_")) << e.hand_id;
      }
    }
    EXPECT_FALSE(absl::StrContains(EncodeEventJson(e), key_)) << "the key leaked into " << EncodeEventJson(e);
  }
  EXPECT_EQ(provisioned, (std::vector<std::string>{"local", "managed_agents"}))
      << "the local hand, and one remote session for both tasks";
  ASSERT_EQ(results.size(), 3u);
  std::vector<std::string> texts;
  for (const Event* e : results) {
    std::string t;
    for (const ContentBlock& b : e->content) t += b.text;
    EXPECT_FALSE(e->is_error.value_or(false)) << t;
    EXPECT_FALSE(absl::StrContains(t, key_));
    texts.push_back(t);
  }
  const std::string remote = (*hands)->RemoteSessionId(info.id);
  ASSERT_FALSE(remote.empty());
  EXPECT_TRUE(absl::StrContains(texts[0], "on the local hand")) << texts[0];
  EXPECT_TRUE(absl::StrContains(texts[1], "Let me note that on my hand.")) << texts[1];
  EXPECT_TRUE(absl::StrContains(texts[1], "Noted.")) << texts[1];
  EXPECT_TRUE(absl::StrContains(texts[1], "tools used: bash")) << texts[1];
  EXPECT_TRUE(absl::StrContains(texts[1], remote)) << texts[1];
  // The second task was answered from the remote session's history of the first.
  EXPECT_TRUE(absl::StrContains(texts[2], "You told me: Remember the word lighthouse-42.")) << texts[2];

  // The remote session really ran the command on its hand, and is archived on ReleaseSession.
  auto remote_events = engine_->ReadEvents(remote, ReadOptions{});
  ASSERT_TRUE(remote_events.ok()) << remote_events.status();
  bool ran = false;
  for (const Event& e : *remote_events) {
    for (const ContentBlock& b : e.content) {
      ran = ran || (e.type == EventType::kAgentToolResult && absl::StrContains(b.text, "noted"));
    }
  }
  EXPECT_TRUE(ran);
  ASSERT_TRUE((*hands)->ReleaseSession(info.id).ok());
  EXPECT_EQ((*hands)->RemoteSessionId(info.id), "");
  auto archived = ProbeClient(key_).Get(absl::StrCat("/v1/sessions/", remote));
  ASSERT_TRUE(archived.ok()) << archived.status();
  EXPECT_FALSE(absl::StrContains(*archived, R"("archived_at":null)")) << *archived;
}

// waked --delegate URL, as a process: it serves `delegate` to its agents with the endpoint's key from
// its environment (never in an event), a task reaches the remote agent on this fixture's waked, and
// archiving the calling session archives the remote one. Without a key it refuses to start.
TEST_F(WakedTest, WakedWithTheDelegateFlagServesTheToolAndArchivesTheRemoteSession) {
  WriteFile(dir_ + "/caller.json", R"({"turns": [
    {"text": "Delegating.", "tool_calls": [{"name": "delegate", "input": {"task": "Remember the word lighthouse-42."}}]},
    {"text": "Done."}
  ]})");
  const std::vector<std::string> args = {WAKED_BINARY, "--data", dir_ + "/caller", "--host", "127.0.0.1", "--port", "0",
                                         "--no-auth", "--no-docker", "--delegate", url_, "--delegate-model",
                                         absl::StrCat("scripted:", dir_, "/remote.json")};
  if (std::getenv("WAKE_DELEGATE_API_KEY") == nullptr && std::getenv("ANTHROPIC_API_KEY") == nullptr) {
    const pid_t keyless = testing::Spawn(args, dir_ + "/keyless.out", dir_ + "/keyless.err");
    ASSERT_GT(keyless, 0);
    const std::optional<int> status = testing::WaitExit(keyless, absl::Seconds(60));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
    std::ifstream err(dir_ + "/keyless.err");
    const std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(absl::StrContains(text, "WAKE_DELEGATE_API_KEY")) << text;
  }

  const pid_t pid =
      testing::Spawn(args, dir_ + "/caller.out", dir_ + "/caller.err", {absl::StrCat("WAKE_DELEGATE_API_KEY=", key_)});
  ASSERT_GT(pid, 0);
  std::string error;
  const std::string caller_url =
      testing::WaitForUrl(pid, dir_ + "/caller.out", dir_ + "/caller.err", absl::Seconds(60), &error);
  ASSERT_FALSE(caller_url.empty()) << error;
  struct Stopper {
    pid_t pid;
    ~Stopper() {
      kill(pid, SIGTERM);
      if (testing::WaitExit(pid, absl::Seconds(30))) return;
      kill(pid, SIGKILL);
      testing::WaitExit(pid, absl::Seconds(10));
    }
  } stopper{pid};

  const Client caller = ProbeClient("unused-with-no-auth", caller_url);
  auto environment = CreateResource(caller, "/v1/environments", R"({"name":"caller","config":{"type":"cloud"}})");
  ASSERT_TRUE(environment.ok()) << environment.status();
  auto agent = CreateResource(caller, "/v1/agents",
                              absl::StrCat(R"({"name":"caller","model":)",
                                           JsonQuote(absl::StrCat("scripted:", dir_, "/caller.json")),
                                           R"(,"tools":[{"type":"agent_toolset_20260401"}]})"));
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto session = CreateResource(caller, "/v1/sessions",
                                absl::StrCat(R"({"agent":)", JsonQuote(*agent), R"(,"environment_id":)",
                                             JsonQuote(*environment), "}"));
  ASSERT_TRUE(session.ok()) << session.status();
  TurnOptions turn;
  turn.timeout = absl::Seconds(60);
  auto outcome = RunTurn(caller, *session, "Use the delegate.", turn, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->stop_reason, "end_turn");
  EXPECT_EQ(outcome->tools_used, std::vector<std::string>{"delegate"});
  EXPECT_TRUE(absl::StrContains(outcome->text, "Done.")) << outcome->text;

  // The delegate's result is in the calling session's log; the key is nowhere in it.
  auto events = caller.Get(absl::StrCat("/v1/sessions/", *session, "/events?limit=1000"));
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_TRUE(absl::StrContains(*events, "Noted.")) << *events;
  EXPECT_TRUE(absl::StrContains(*events, "tools used: bash")) << *events;
  EXPECT_FALSE(absl::StrContains(*events, key_));

  // The remote session this fixture's waked ran, still open; archiving the caller archives it.
  auto remote_sessions = ProbeClient(key_).Get("/v1/sessions");
  ASSERT_TRUE(remote_sessions.ok()) << remote_sessions.status();
  const std::string remote = FirstId(*remote_sessions);
  ASSERT_FALSE(remote.empty()) << *remote_sessions;
  auto before = ProbeClient(key_).Get(absl::StrCat("/v1/sessions/", remote));
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_TRUE(absl::StrContains(*before, R"("archived_at":null)")) << *before;
  ASSERT_TRUE(caller.Post(absl::StrCat("/v1/sessions/", *session, "/archive"), "{}").ok());
  auto after = ProbeClient(key_).Get(absl::StrCat("/v1/sessions/", remote));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_FALSE(absl::StrContains(*after, R"("archived_at":null)")) << *after;
}

// An Engine serving the delegate tool (EngineOptions::served_tools): its agents see it beside the
// standard tools, and their calls reach the remote agent on the other engine's server.
TEST_F(WakedTest, EngineServesTheDelegateTool) {
  Vault vault;
  ASSERT_TRUE(vault.Put("WAKED_KEY", key_).ok());
  ManagedAgentsHandOptions options;
  options.base_url = url_;
  options.vault = &vault;
  options.api_key_secret = "WAKED_KEY";
  options.model = absl::StrCat("scripted:", dir_, "/remote.json");
  options.environment_json = R"({"name":"delegate env","config":{"type":"local"}})";
  options.turn.timeout = absl::Seconds(60);
  auto hands = ManagedAgentsHands::Create(options);
  ASSERT_TRUE(hands.ok()) << hands.status();

  WriteFile(dir_ + "/caller.json", R"({"turns": [
    {"text": "Delegating.", "tool_calls": [{"name": "delegate", "input": {"task": "Remember the word lighthouse-42."}}]},
    {"text": "Done."}
  ]})");
  EngineOptions caller_options;
  caller_options.data_dir = dir_ + "/caller-engine";
  caller_options.hand_providers = {{"local", local_.get()}};
  caller_options.workers = 1;
  caller_options.shutdown_grace = absl::Milliseconds(200);
  caller_options.served_tools = {{(*hands)->tool(), hands->get()}};
  auto caller = Engine::Open(caller_options);
  ASSERT_TRUE(caller.ok()) << caller.status();
  AgentSpec spec;
  spec.name = "caller";
  spec.model = absl::StrCat("scripted:", dir_, "/caller.json");
  auto agent = (*caller)->CreateAgent(spec);
  ASSERT_TRUE(agent.ok()) << agent.status();
  CreateSessionRequest request;
  request.agent_id = agent->id;
  auto session = (*caller)->CreateSession(request);
  ASSERT_TRUE(session.ok()) << session.status();
  Event user;
  user.type = EventType::kUserMessage;
  ContentBlock text;
  text.text = "Use the delegate.";
  user.content.push_back(text);
  ASSERT_TRUE((*caller)->SendEvents(session->id, {user}).ok());
  auto follow = (*caller)->Subscribe(session->id, 1);
  ASSERT_TRUE(follow.ok()) << follow.status();
  std::vector<Event> events;
  bool idle = false;
  while (!idle) {
    auto batch = (*follow)->Next(64, absl::Now() + absl::Seconds(60));
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_FALSE(batch->empty()) << "no event for a minute";
    for (Event& e : *batch) {
      idle = idle || e.type == EventType::kSessionStatusIdle;
      events.push_back(std::move(e));
    }
  }
  std::string result;
  for (const Event& e : events) {
    EXPECT_FALSE(absl::StrContains(EncodeEventJson(e), key_));
    if (e.type != EventType::kAgentToolResult) continue;
    EXPECT_FALSE(e.is_error.value_or(false));
    for (const ContentBlock& b : e.content) result += b.text;
  }
  EXPECT_TRUE(absl::StrContains(result, "Noted.")) << result;
  EXPECT_TRUE(absl::StrContains(result, "tools used: bash")) << result;

  // A served tool needs its hands and a name of its own.
  EngineOptions clash = caller_options;
  clash.data_dir = dir_ + "/clash-engine";
  clash.served_tools = {{ToolSpec{"bash", "", "{}"}, hands->get()}};
  EXPECT_TRUE(absl::IsInvalidArgument(Engine::Open(clash).status()));
}

// ---------------------------------------------------------------------------------------------
// Against recorded streams.

constexpr char kKey[] = "sk-ant-api03-replay-test-key-0123456789";
constexpr char kSession[] = "sesn_011CZkZAtmR3yMPDzynEDxu7";

CannedResponse Json(std::string body, int status = 200) {
  CannedResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

CannedResponse Stream(const std::vector<std::string>& events, CannedResponse::End end) {
  CannedResponse r;
  r.content_type = "text/event-stream";
  r.body = SseBody(events);
  r.end = end;
  return r;
}

std::vector<std::string> Slice(const std::vector<std::string>& lines, size_t from, size_t to) {
  return std::vector<std::string>(lines.begin() + static_cast<std::ptrdiff_t>(from),
                                  lines.begin() + static_cast<std::ptrdiff_t>(std::min(to, lines.size())));
}

std::string Listing(const std::vector<std::string>& events) {
  return absl::StrCat(R"({"data":[)", absl::StrJoin(events, ","), R"(],"next_page":null})");
}

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(vault_.Put("ANTHROPIC_API_KEY", kKey).ok()); }

  // The creations, the answer to a sent event (`turn`'s user.message, its first line), the listing
  // of the session's events (`listed`, else the whole turn) and the archive.
  void Routes(const std::vector<std::string>& turn, std::optional<std::vector<std::string>> listed = std::nullopt) {
    server_.Add("POST", "/v1/environments",
                Json(R"({"id":"env_011CZkZ9MAq2mnHNmLfgjnFZ","type":"environment","name":"wake delegate"})"));
    server_.Add("POST", "/v1/agents",
                Json(R"({"id":"agent_011CZkYpogX7uDKUyvBTophP","type":"agent","name":"wake delegate","version":1})"));
    server_.Add("POST", "/v1/sessions", Json(absl::StrCat(R"({"id":")", kSession, R"(","type":"session","status":"idle"})")));
    server_.Add("POST", absl::StrCat("/v1/sessions/", kSession, "/events"), Json(absl::StrCat(R"({"data":[)", turn[0], "]}")));
    server_.Add("GET", absl::StrCat("/v1/sessions/", kSession, "/events"), Json(Listing(listed.value_or(turn))));
    server_.Add("POST", absl::StrCat("/v1/sessions/", kSession, "/archive"),
                Json(absl::StrCat(R"({"id":")", kSession, R"(","type":"session","archived_at":"2026-11-23T02:00:00Z"})")));
  }
  std::string StreamPath() const { return absl::StrCat("/v1/sessions/", kSession, "/events/stream"); }
  std::string EventsPath() const { return absl::StrCat("/v1/sessions/", kSession, "/events"); }
  // Blocks until the hand has sent the remote session its task (a POST of events).
  void WaitUntilTaskSent() {
    while (server_.Count("POST", EventsPath()) == 0) absl::SleepFor(absl::Milliseconds(5));
  }

  std::unique_ptr<ManagedAgentsHands> Hands(absl::Duration timeout = absl::Seconds(30)) {
    ManagedAgentsHandOptions options;
    options.base_url = server_.url();
    options.vault = &vault_;
    options.retry_base_delay = absl::Milliseconds(10);
    options.turn.timeout = timeout;
    options.stream_idle_timeout = absl::Seconds(5);
    auto hands = ManagedAgentsHands::Create(options);
    EXPECT_TRUE(hands.ok()) << hands.status();
    return hands.ok() ? *std::move(hands) : nullptr;
  }

  ToolResult Delegate(ManagedAgentsHands& hands, const std::string& task, const CancelToken* cancel = nullptr) {
    ToolCall call;
    call.name = "delegate";
    call.input_json = absl::StrCat(R"({"task":)", JsonQuote(task), "}");
    std::vector<Event> hand_events;
    auto result = hands.Execute("sesn_caller", call, cancel, &hand_events);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return ToolResult{};
    EXPECT_FALSE(absl::StrContains(ResultText(*result), kKey)) << ResultText(*result);
    for (const Event& e : hand_events) EXPECT_FALSE(absl::StrContains(EncodeEventJson(e), kKey));
    return *result;
  }

  // Delegates `task` and cancels it `delay` after the task was sent, as the caller's user.interrupt would.
  ToolResult DelegateCancelledOnceSent(const std::string& task, absl::Duration delay = absl::ZeroDuration()) {
    auto hands = Hands();
    CancelToken cancel;
    std::thread canceller([&] {
      WaitUntilTaskSent();
      absl::SleepFor(delay);
      cancel.Cancel();
    });
    const ToolResult result = Delegate(*hands, task, &cancel);
    canceller.join();
    return result;
  }

  // Every request carried the key as x-api-key (and nowhere else), the version and the beta header.
  void ExpectHeaders() {
    const auto requests = server_.requests();
    ASSERT_FALSE(requests.empty());
    for (const testing::RecordedRequest& r : requests) {
      EXPECT_EQ(r.headers.count("x-api-key") ? r.headers.at("x-api-key") : "", kKey) << r.target;
      EXPECT_EQ(r.headers.count("anthropic-version") ? r.headers.at("anthropic-version") : "", kManagedAgentsApiVersion);
      EXPECT_TRUE(r.headers.count("anthropic-beta") && absl::StrContains(r.headers.at("anthropic-beta"), ToAbsl(kManagedAgentsBeta)))
          << r.target;
      EXPECT_FALSE(absl::StrContains(r.target, kKey));
      EXPECT_FALSE(absl::StrContains(r.body, kKey));
    }
  }

  // Requests whose body holds an event of this type.
  int Sent(std::string_view event_type) const {
    int n = 0;
    const std::string quoted = absl::StrCat("\"", ToAbsl(event_type), "\"");
    for (const testing::RecordedRequest& r : server_.requests()) n += absl::StrContains(r.body, quoted) ? 1 : 0;
    return n;
  }
  int Interrupts() const { return Sent("user.interrupt"); }

  Vault vault_;
  ReplayServer server_;
};

TEST_F(ReplayTest, CompleteTurnIsTheToolResultAndTheSessionIsReused) {
  const auto turn = TestDataLines("turn.jsonl");
  Routes(turn);
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 1, turn.size()), CannedResponse::End::kComplete));
  auto hands = Hands();
  const ToolResult first = Delegate(*hands, "Run the tests and report.");
  EXPECT_FALSE(first.is_error) << ResultText(first);
  EXPECT_EQ(ResultText(first), absl::StrCat("All 42 tests pass.\n\n[remote session ", kSession, "; tools used: bash]"));
  const ToolResult second = Delegate(*hands, "Run the tests and report.");
  EXPECT_FALSE(second.is_error) << ResultText(second);
  EXPECT_EQ(server_.Count("POST", "/v1/sessions"), 1) << "the remote session is reused";
  EXPECT_EQ(server_.Count("POST", "/v1/agents"), 1);
  // The stream was opened before the message was sent, each time.
  std::vector<std::string> order;
  for (const auto& r : server_.requests()) {
    if (r.target.find("/events") != std::string::npos) order.push_back(absl::StrCat(r.method, " ", r.target));
  }
  ASSERT_GE(order.size(), 4u);
  EXPECT_TRUE(absl::StartsWith(order[0], "GET ")) << absl::StrJoin(order, " | ");
  EXPECT_TRUE(absl::StartsWith(order[1], "POST ")) << absl::StrJoin(order, " | ");
  ASSERT_TRUE(hands->ReleaseSession("sesn_caller").ok());
  EXPECT_EQ(server_.Count("POST", absl::StrCat("/v1/sessions/", kSession, "/archive")), 1);
  ExpectHeaders();
}

TEST_F(ReplayTest, StreamCutMidTurnReconnectsListsAndSkipsDuplicates) {
  const auto turn = TestDataLines("turn.jsonl");
  // The listing was taken while the agent was still at work (up to the tool result).
  Routes(turn, Slice(turn, 0, 6));
  // The first stream breaks after the tool result; the second repeats from the tool use on.
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 0, 5), CannedResponse::End::kCut));
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 3, turn.size()), CannedResponse::End::kComplete));
  ClientOptions options;
  options.base_url = server_.url();
  options.api_key = kKey;
  const Client client = *Client::Create(options);
  auto outcome = RunTurn(client, kSession, "Run the tests and report.", TurnOptions{}, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->reconnects, 1);
  EXPECT_EQ(outcome->text, "All 42 tests pass.") << "each event counted once";
  EXPECT_EQ(outcome->tools_used, std::vector<std::string>{"bash"});
  EXPECT_EQ(outcome->stop_reason, "end_turn");
  // After the cut: the listing repeats turn[1..4] (and adds turn[5]); the second stream repeats
  // turn[3..5] before the new turn[6..7].
  EXPECT_EQ(outcome->duplicates_skipped, 4 + 3);
  EXPECT_EQ(server_.Count("GET", StreamPath()), 2);
  EXPECT_EQ(server_.Count("GET", absl::StrCat("/v1/sessions/", kSession, "/events")), 1);
}

TEST_F(ReplayTest, HandSurvivesACutStream) {
  const auto turn = TestDataLines("turn.jsonl");
  Routes(turn, Slice(turn, 0, 6));
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 0, 3), CannedResponse::End::kCut));
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 6, turn.size()), CannedResponse::End::kComplete));
  auto hands = Hands();
  const ToolResult result = Delegate(*hands, "Run the tests and report.");
  EXPECT_FALSE(result.is_error) << ResultText(result);
  EXPECT_EQ(ResultText(result), absl::StrCat("All 42 tests pass.\n\n[remote session ", kSession, "; tools used: bash]"));
  EXPECT_EQ(server_.Count("GET", StreamPath()), 2);
  ExpectHeaders();
}

TEST_F(ReplayTest, RateLimitAndOverloadAreRetriedAfterRetryAfter) {
  const auto turn = TestDataLines("turn.jsonl");
  CannedResponse limited = Json(R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}})", 429);
  limited.headers = {{"retry-after", "0"}};
  server_.Add("POST", "/v1/sessions", limited);
  Routes(turn);
  CannedResponse overloaded = Json(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", 529);
  overloaded.headers = {{"retry-after", "0"}};
  server_.Add("GET", StreamPath(), overloaded);
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 1, turn.size()), CannedResponse::End::kComplete));
  auto hands = Hands();
  const ToolResult result = Delegate(*hands, "Run the tests and report.");
  EXPECT_FALSE(result.is_error) << ResultText(result);
  EXPECT_TRUE(absl::StartsWith(ResultText(result), "All 42 tests pass.")) << ResultText(result);
  EXPECT_EQ(server_.Count("POST", "/v1/sessions"), 2);
  EXPECT_EQ(server_.Count("GET", StreamPath()), 2);
  ExpectHeaders();
}

TEST_F(ReplayTest, RetriesRunOutAsAClearToolError) {
  const auto turn = TestDataLines("turn.jsonl");
  CannedResponse limited = Json(R"({"type":"error","error":{"type":"rate_limit_error","message":"rate limited"}})", 429);
  limited.headers = {{"retry-after", "0"}};
  server_.Add("POST", "/v1/environments", limited);
  auto hands = Hands();
  const ToolResult result = Delegate(*hands, "Run the tests and report.");
  EXPECT_TRUE(result.is_error);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "HTTP 429 rate_limit_error: rate limited")) << ResultText(result);
  EXPECT_EQ(server_.Count("POST", "/v1/environments"), 5) << "one try and four retries";
}

TEST_F(ReplayTest, SessionErrorThatExhaustsRetriesIsAToolError) {
  const auto turn = TestDataLines("retries_exhausted.jsonl");
  Routes(turn);
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 1, turn.size()), CannedResponse::End::kComplete));
  auto hands = Hands();
  const ToolResult result = Delegate(*hands, "Summarize the repository.");
  EXPECT_TRUE(result.is_error);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "gave up")) << ResultText(result);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "model_overloaded_error: Overloaded")) << ResultText(result);
}

TEST_F(ReplayTest, RequiresActionIsReportedAndTheRemoteSessionInterrupted) {
  const auto turn = TestDataLines("requires_action.jsonl");
  Routes(turn);
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 1, turn.size()), CannedResponse::End::kComplete));
  auto hands = Hands();
  const ToolResult result = Delegate(*hands, "Where is order 1234?");
  EXPECT_TRUE(result.is_error);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "sevt_011CZkZAtmR3yMPDzynEDx24")) << ResultText(result);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "Let me look the order up.")) << ResultText(result);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "tools used: lookup_order")) << ResultText(result);
  EXPECT_EQ(Interrupts(), 1);
}

TEST_F(ReplayTest, StreamThatNeverGoesIdleTimesOut) {
  const auto turn = TestDataLines("never_idle.jsonl");
  Routes(turn);
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 1, turn.size()), CannedResponse::End::kPinging));
  auto hands = Hands(/*timeout=*/absl::Milliseconds(500));
  const ToolResult result = Delegate(*hands, "Think about it forever.");
  EXPECT_TRUE(result.is_error);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "timed out")) << ResultText(result);
  EXPECT_EQ(Interrupts(), 1);
  EXPECT_EQ(server_.Count("GET", StreamPath()), 1) << "a live stream is not a dropped one";
}

TEST_F(ReplayTest, CancelStopsTheTurnAndInterruptsTheRemoteSession) {
  const auto turn = TestDataLines("never_idle.jsonl");
  Routes(turn);
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 1, turn.size()), CannedResponse::End::kPinging));
  const ToolResult result = DelegateCancelledOnceSent("Think about it forever.");  // the caller's user.interrupt
  EXPECT_TRUE(result.is_error);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "cancelled")) << ResultText(result);
  EXPECT_EQ(Interrupts(), 1);
}

// The caller cancels while the task is on its way (sent, not yet answered): the remote session may
// have it, so it is interrupted too.
TEST_F(ReplayTest, CancelWhileTheTaskIsOnItsWayStillInterrupts) {
  const auto turn = TestDataLines("never_idle.jsonl");
  CannedResponse unanswered;
  unanswered.end = CannedResponse::End::kNever;
  server_.Add("POST", EventsPath(), unanswered);
  Routes(turn);  // then answers the interrupt
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 1, turn.size()), CannedResponse::End::kPinging));
  const ToolResult result = DelegateCancelledOnceSent("Think about it forever.");
  EXPECT_TRUE(result.is_error);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "cancelled")) << ResultText(result);
  EXPECT_EQ(Sent("user.message"), 1);
  EXPECT_EQ(Interrupts(), 1);
}

// The remote service says to come back in 30 s; the caller cancels meanwhile: the call ends then,
// without the retry (a wait that ignored the token would send it after 30 s).
TEST_F(ReplayTest, CancelEndsAWaitBeforeARetry) {
  const auto turn = TestDataLines("turn.jsonl");
  CannedResponse overloaded = Json(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", 529);
  overloaded.headers = {{"retry-after", "30"}};
  server_.Add("POST", EventsPath(), overloaded);
  Routes(turn);
  server_.Add("GET", StreamPath(), Stream(Slice(turn, 1, turn.size()), CannedResponse::End::kPinging));
  // 200 ms: into the wait.
  const ToolResult result = DelegateCancelledOnceSent("Run the tests and report.", absl::Milliseconds(200));
  EXPECT_TRUE(result.is_error);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "cancelled")) << ResultText(result);
  EXPECT_EQ(Sent("user.message"), 1) << "retried after the cancel";
}

TEST_F(ReplayTest, KeyEchoedByTheServerIsMaskedAndAMissingKeyIsNamed) {
  // A server that puts the key it was sent in its error message.
  server_.Add("POST", "/v1/environments",
              Json(absl::StrCat(R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key )",
                                kKey, R"("}})"), 401));
  auto hands = Hands();
  const ToolResult result = Delegate(*hands, "anything");
  EXPECT_TRUE(result.is_error);
  EXPECT_TRUE(absl::StrContains(ResultText(result), "[secret:ANTHROPIC_API_KEY]")) << ResultText(result);

  Vault empty;
  ManagedAgentsHandOptions options;
  options.base_url = server_.url();
  options.vault = &empty;
  auto keyless = ManagedAgentsHands::Create(options);
  ASSERT_TRUE(keyless.ok());
  ToolCall call;
  call.name = "delegate";
  call.input_json = R"({"task":"anything"})";
  auto missing = (*keyless)->Execute("sesn_caller", call, nullptr, nullptr);
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->is_error);
  EXPECT_TRUE(absl::StrContains(ResultText(*missing), "vault secret ANTHROPIC_API_KEY")) << ResultText(*missing);
  call.input_json = R"({"job":"anything"})";
  auto malformed = (*keyless)->Execute("sesn_caller", call, nullptr, nullptr);
  ASSERT_TRUE(malformed.ok());
  EXPECT_TRUE(malformed->is_error);
  EXPECT_TRUE(absl::StrContains(ResultText(*malformed), R"(needs {"task")")) << ResultText(*malformed);
}

}  // namespace
}  // namespace wake
