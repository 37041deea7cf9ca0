// A2A on real parts: an Engine on a temp dir (RocksDB, scripted brains, local hands), the server on
// 127.0.0.1 port 0, and libcurl as the A2A client. The agent card, message/send and SendMessage
// answered with the scripted reply, message/stream and SendStreamingMessage frames, tasks/get and
// tasks/cancel, the ends a turn can have (failed, input-required, canceled), every JSON-RPC error
// (with nothing appended), unknown sessions, API keys, and a server that stops while a send waits.

#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
#include "server/server.h"
#include "storage/api_key_store.h"
#include "tests/server/http_client.h"
#include "tests/server/served_engine_test.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::HttpClient;
using testing::HttpResponse;

// Three turns: each message the session gets is answered with the next one.
constexpr char kScript[] =
    R"({"turns":[{"text":"pong: the answer is 42"},{"text":"second reply"},{"text":"third reply"}]})";

class A2aTest : public ServedEngineTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenEngine("a2a"));
    ASSERT_NO_FATAL_FAILURE(Serve(Options()));
  }

  ServerOptions Options() {
    ServerOptions options;
    options.blocking_threads = 4;
    options.log = [this](std::string_view line) {
      MutexLock lock(&log_mu_);
      log_.emplace_back(line);
      log_mu_.SignalAll();
    };
    return options;
  }

  // A session whose agent runs `script` (JSON) with `tools` (the agent's tools JSON, may be empty).
  std::string Session(const std::string& script = kScript, const std::string& tools = "",
                      const std::string& name = "pinger") {
    const std::string path = absl::StrCat(dir_, "/script", ++scripts_, ".json");
    std::ofstream(path) << script;
    return SessionWithModel("scripted:" + path, tools, name);
  }
  std::string SessionWithModel(const std::string& model, const std::string& tools = "",
                               const std::string& name = "pinger") {
    HttpResponse agent = client_->Post(
        "/v1/agents", absl::StrCat(R"({"name":")", name, R"(","description":"answers pings","model":")", model, R"(")",
                                   tools.empty() ? "" : absl::StrCat(R"(,"tools":)", tools), "}"));
    EXPECT_EQ(agent.status, 200) << agent.body;
    HttpResponse environment = client_->Post("/v1/environments", R"({"name":"env","config":{"type":"local"}})");
    EXPECT_EQ(environment.status, 200) << environment.body;
    HttpResponse session = client_->Post(
        "/v1/sessions",
        absl::StrCat(R"({"agent":")", agent.Str("/id"), R"(","environment_id":")", environment.Str("/id"), R"("})"));
    EXPECT_EQ(session.status, 200) << session.body;
    return session.Str("/id");
  }

  HttpResponse Rpc(const std::string& session, const std::string& body, const std::vector<std::string>& headers = {}) {
    return client_->Call("POST", "/a2a/" + session, body, headers);
  }
  static std::string Request(const std::string& method, const std::string& params, const std::string& id = "7") {
    return absl::StrCat(R"({"jsonrpc":"2.0","id":)", id, R"(,"method":")", method, R"(","params":)", params, "}");
  }
  // A v1.0 SendMessage params / a v0.3 message/send params with one text part.
  static std::string V10Params(const std::string& text, const std::string& configuration = "") {
    return absl::StrCat(R"({"message":{"messageId":"m-1","role":"ROLE_USER","parts":[{"text":")", text, R"("}]})",
                        configuration.empty() ? "" : absl::StrCat(R"(,"configuration":)", configuration), "}");
  }
  static std::string V03Params(const std::string& text) {
    return absl::StrCat(R"({"message":{"kind":"message","messageId":"m-2","role":"user",)",
                        R"("parts":[{"kind":"text","text":")", text, R"("}]}})");
  }

  // The `data:` payloads of an SSE body, each a JSON-RPC response.
  static std::vector<HttpResponse> SseResults(const std::string& body) {
    std::vector<HttpResponse> out;
    for (absl::string_view frame : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
      for (absl::string_view line : absl::StrSplit(frame, '\n')) {
        if (absl::StartsWith(line, "data: ")) {
          HttpResponse r;
          r.status = 200;
          r.body = std::string(line.substr(6));
          out.push_back(std::move(r));
        }
      }
    }
    return out;
  }

  std::vector<Event> Events(const std::string& session) {
    absl::StatusOr<std::vector<Event>> events = engine_->ReadEvents(session);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *events : std::vector<Event>{};
  }
  // The user.messages of a session, in order.
  std::vector<Event> UserMessages(const std::string& session) {
    std::vector<Event> out;
    for (Event& e : Events(session)) {
      if (e.type == EventType::kUserMessage) out.push_back(std::move(e));
    }
    return out;
  }

  static void ExpectRpcError(const HttpResponse& r, int64_t code, const std::string& id_json = "7") {
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Str("/jsonrpc"), "2.0") << r.body;
    EXPECT_EQ(r.Int("/error/code"), code) << r.body;
    EXPECT_FALSE(r.Str("/error/message").empty()) << r.body;
    EXPECT_TRUE(absl::StrContains(r.body, absl::StrCat("\"id\":", id_json))) << r.body;
  }

  int scripts_ = 0;
  Mutex log_mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(log_mu_);
};

// Waits until a wake.tool_started is in the session's log.
void AwaitToolStarted(Engine& engine, const std::string& session) {
  absl::StatusOr<std::unique_ptr<Subscription>> follow = engine.Subscribe(session, 1);
  ASSERT_TRUE(follow.ok()) << follow.status();
  bool started = false;
  while (!started) {
    absl::StatusOr<std::vector<Event>> batch = (*follow)->Next(64, absl::Now() + absl::Seconds(60));
    ASSERT_TRUE(batch.ok() && !batch->empty());
    for (const Event& e : *batch) started |= e.type == EventType::kToolStarted;
  }
}

TEST_F(A2aTest, TheAgentCardDescribesTheSessionsEndpoint) {
  const std::string session = Session();
  HttpResponse card = client_->Get("/a2a/" + session + "/.well-known/agent-card.json");
  ASSERT_EQ(card.status, 200) << card.body;
  const std::string url = absl::StrCat(client_->base(), "/a2a/", session);
  EXPECT_EQ(card.Str("/name"), "pinger");
  EXPECT_EQ(card.Str("/description"), "answers pings");
  EXPECT_EQ(card.Str("/version"), "1");
  EXPECT_EQ(card.Size("/supportedInterfaces"), 2u);
  EXPECT_EQ(card.Str("/supportedInterfaces/0/url"), url);
  EXPECT_EQ(card.Str("/supportedInterfaces/0/protocolBinding"), "JSONRPC");
  EXPECT_EQ(card.Str("/supportedInterfaces/0/protocolVersion"), "1.0");
  EXPECT_EQ(card.Str("/supportedInterfaces/1/protocolVersion"), "0.3");
  EXPECT_EQ(card.Str("/url"), url);
  EXPECT_EQ(card.Str("/protocolVersion"), "0.3.0");
  EXPECT_EQ(card.Str("/preferredTransport"), "JSONRPC");
  EXPECT_TRUE(card.json()["capabilities"]["streaming"].get_bool().value());
  EXPECT_EQ(card.Str("/defaultInputModes/0"), "text/plain");
  EXPECT_EQ(card.Str("/skills/0/tags/0"), "wake");
  EXPECT_FALSE(absl::StrContains(card.body, "securitySchemes"));  // no keys are required here

  // A proxy's address wins over the server's own.
  HttpResponse proxied = client_->Call("GET", "/a2a/" + session + "/.well-known/agent-card.json", "",
                                       {"X-Forwarded-Host: agents.example", "X-Forwarded-Proto: https"});
  EXPECT_EQ(proxied.Str("/url"), "https://agents.example/a2a/" + session);
}

TEST_F(A2aTest, SendMessageAnswersWithTheAgentsReplyAsACompletedTask) {
  const std::string session = Session();
  HttpResponse r = Rpc(session, Request("SendMessage", V10Params("ping")));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Str("/jsonrpc"), "2.0");
  EXPECT_EQ(r.Int("/id"), 7);
  std::vector<Event> users = UserMessages(session);
  ASSERT_EQ(users.size(), 1u);
  ASSERT_EQ(users[0].content.size(), 1u);
  EXPECT_EQ(users[0].content[0].text, "ping");
  EXPECT_EQ(r.Str("/result/task/id"), users[0].id);
  EXPECT_EQ(r.Str("/result/task/contextId"), session);
  EXPECT_EQ(r.Str("/result/task/status/state"), "TASK_STATE_COMPLETED");
  EXPECT_EQ(r.Str("/result/task/status/message/role"), "ROLE_AGENT");
  EXPECT_EQ(r.Str("/result/task/status/message/parts/0/text"), "pong: the answer is 42");
  EXPECT_EQ(r.Str("/result/task/status/message/taskId"), users[0].id);
  EXPECT_FALSE(r.Str("/result/task/status/timestamp").empty());
  EXPECT_EQ(r.Str("/result/task/artifacts/0/artifactId"), "reply");
  EXPECT_EQ(r.Str("/result/task/artifacts/0/parts/0/text"), "pong: the answer is 42");

  // The v0.3 spelling on the same endpoint, for the session's next turn; a string id is echoed.
  HttpResponse legacy = Rpc(session, Request("message/send", V03Params("again"), R"("req-2")"));
  ASSERT_EQ(legacy.status, 200) << legacy.body;
  EXPECT_EQ(legacy.Str("/id"), "req-2");
  EXPECT_EQ(legacy.Str("/result/kind"), "task");
  EXPECT_EQ(legacy.Str("/result/contextId"), session);
  EXPECT_EQ(legacy.Str("/result/status/state"), "completed");
  EXPECT_EQ(legacy.Str("/result/status/message/kind"), "message");
  EXPECT_EQ(legacy.Str("/result/status/message/role"), "agent");
  EXPECT_EQ(legacy.Str("/result/status/message/parts/0/kind"), "text");
  EXPECT_EQ(legacy.Str("/result/status/message/parts/0/text"), "second reply");
  EXPECT_EQ(UserMessages(session).size(), 2u);

  // tasks/get (and GetTask) tell the first task as it ended.
  HttpResponse got = Rpc(session, Request("tasks/get", absl::StrCat(R"({"id":")", users[0].id, R"("})")));
  EXPECT_EQ(got.Str("/result/kind"), "task") << got.body;
  EXPECT_EQ(got.Str("/result/status/state"), "completed");
  EXPECT_EQ(got.Str("/result/status/message/parts/0/text"), "pong: the answer is 42");
  HttpResponse got10 = Rpc(session, Request("GetTask", absl::StrCat(R"({"id":")", users[0].id, R"("})")));
  EXPECT_EQ(got10.Str("/result/id"), users[0].id) << got10.body;
  EXPECT_EQ(got10.Str("/result/status/state"), "TASK_STATE_COMPLETED");
  // An ended task cannot be canceled.
  ExpectRpcError(Rpc(session, Request("CancelTask", absl::StrCat(R"({"id":")", users[0].id, R"("})"))), -32002);
}

TEST_F(A2aTest, ReturnImmediatelyAnswersTheSubmittedTaskAndGetTaskFollowsIt) {
  const std::string session = Session();
  HttpResponse r = Rpc(session, Request("SendMessage", V10Params("ping", R"({"returnImmediately":true})")));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Str("/result/task/status/state"), "TASK_STATE_SUBMITTED");
  const std::string task = r.Str("/result/task/id");
  engine_->WaitUntilQuiet();
  HttpResponse got = Rpc(session, Request("GetTask", absl::StrCat(R"({"id":")", task, R"("})")));
  EXPECT_EQ(got.Str("/result/status/state"), "TASK_STATE_COMPLETED") << got.body;
  EXPECT_EQ(got.Str("/result/artifacts/0/parts/0/text"), "pong: the answer is 42");
}

TEST_F(A2aTest, MessageStreamSendsTheTaskItsWorkTheReplyAndAFinalStatus) {
  // A turn with a tool call on the hand, then the answer: two agent messages, streamed as appended.
  const std::string session = Session(
      R"({"turns":[{"text":"Let me look.","tool_calls":[{"name":"bash","input":{"command":"echo hi"}}]},)"
      R"({"text":"Done looking."}]})",
      R"([{"type":"agent_toolset_20260401"}])");
  HttpResponse r = Rpc(session, Request("message/stream", V03Params("look around"), "11"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "text/event-stream");
  std::vector<HttpResponse> results = SseResults(r.body);
  ASSERT_GE(results.size(), 5u) << r.body;
  const std::string task = UserMessages(session).at(0).id;
  for (const HttpResponse& result : results) {
    EXPECT_EQ(result.Int("/id"), 11) << result.body;
    EXPECT_EQ(result.Str("/result/contextId"), session) << result.body;
  }
  EXPECT_EQ(results[0].Str("/result/kind"), "task");
  EXPECT_EQ(results[0].Str("/result/id"), task);
  EXPECT_EQ(results[0].Str("/result/status/state"), "submitted");
  EXPECT_EQ(results[1].Str("/result/kind"), "status-update");
  EXPECT_EQ(results[1].Str("/result/status/state"), "working");
  EXPECT_FALSE(results[1].json()["result"]["final"].get_bool().value());
  std::vector<std::string> texts;
  for (const HttpResponse& result : results) {
    if (result.Str("/result/kind") == "artifact-update") {
      EXPECT_EQ(result.Str("/result/taskId"), task);
      texts.push_back(result.Str("/result/artifact/parts/0/text"));
    }
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"Let me look.", "Done looking."}));
  const HttpResponse& last = results.back();
  EXPECT_EQ(last.Str("/result/kind"), "status-update");
  EXPECT_EQ(last.Str("/result/status/state"), "completed");
  EXPECT_TRUE(last.json()["result"]["final"].get_bool().value());
  EXPECT_EQ(last.Str("/result/status/message/parts/0/text"), "Let me look.");
  EXPECT_EQ(last.Str("/result/status/message/parts/1/text"), "Done looking.");
}

TEST_F(A2aTest, SendStreamingMessageSpeaksV10) {
  const std::string session = Session();
  HttpResponse r = Rpc(session, Request("SendStreamingMessage", V10Params("ping"), R"("s")"));
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<HttpResponse> results = SseResults(r.body);
  ASSERT_GE(results.size(), 3u) << r.body;
  EXPECT_EQ(results[0].Str("/id"), "s");
  EXPECT_EQ(results[0].Str("/result/task/status/state"), "TASK_STATE_SUBMITTED");
  bool artifact = false;
  for (const HttpResponse& result : results) {
    if (result.Str("/result/artifactUpdate/artifact/parts/0/text") == "pong: the answer is 42") artifact = true;
  }
  EXPECT_TRUE(artifact) << r.body;
  EXPECT_EQ(results.back().Str("/result/statusUpdate/status/state"), "TASK_STATE_COMPLETED");
  EXPECT_EQ(results.back().Str("/result/statusUpdate/status/message/parts/0/text"), "pong: the answer is 42");
}

TEST_F(A2aTest, ATurnThatNeedsACustomToolResultEndsAsInputRequired) {
  const std::string session = Session(
      R"({"turns":[{"text":"asking","tool_calls":[{"name":"lookup","input":{"q":"x"}}]},{"text":"thanks"}]})",
      R"([{"type":"custom","name":"lookup","description":"looks up","input_schema":{"type":"object"}}])");
  HttpResponse r = Rpc(session, Request("message/send", V03Params("look it up")));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Str("/result/status/state"), "input-required");
  EXPECT_TRUE(absl::StrContains(r.Str("/result/status/message/parts/0/text"), "/v1/sessions/" + session + "/events"))
      << r.body;
  EXPECT_EQ(r.Str("/result/artifacts/0/parts/0/text"), "asking");
}

TEST_F(A2aTest, ATurnThatEndsInSessionErrorFails) {
  // A brain that cannot be made ends the turn with session.error.
  const std::string session = SessionWithModel("scripted:" + dir_ + "/no-such-script.json");
  HttpResponse r = Rpc(session, Request("SendMessage", V10Params("ping")));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Str("/result/task/status/state"), "TASK_STATE_FAILED");
  std::string error;
  for (const Event& e : Events(session)) {
    if (e.type == EventType::kSessionError) error = e.error.message;
  }
  ASSERT_FALSE(error.empty());
  EXPECT_EQ(r.Str("/result/task/status/message/parts/0/text"), error);
}

TEST_F(A2aTest, CancelTaskInterruptsTheTurn) {
  const std::string session = Session(
      R"({"turns":[{"text":"waiting","tool_calls":[{"name":"bash","input":{"command":"sleep 60"}}]},)"
      R"({"text":"never"}]})",
      R"([{"type":"agent_toolset_20260401"}])");
  HttpResponse r = Rpc(session, Request("SendMessage", V10Params("wait", R"({"returnImmediately":true})")));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string task = r.Str("/result/task/id");
  AwaitToolStarted(*engine_, session);
  HttpResponse canceled = Rpc(session, Request("tasks/cancel", absl::StrCat(R"({"id":")", task, R"("})")));
  ASSERT_EQ(canceled.status, 200) << canceled.body;
  EXPECT_EQ(canceled.Str("/result/id"), task);
  EXPECT_EQ(canceled.Str("/result/status/state"), "canceled") << canceled.body;
  bool interrupted = false;
  for (const Event& e : Events(session)) interrupted |= e.type == EventType::kUserInterrupt;
  EXPECT_TRUE(interrupted);
  ExpectRpcError(Rpc(session, Request("tasks/cancel", absl::StrCat(R"({"id":")", task, R"("})"))), -32002);
}

TEST_F(A2aTest, ResubscribeFollowsARunningTaskToItsEnd) {
  // The tool blocks on a FIFO until the test writes to it, so the task is running while the
  // subscription opens.
  const std::string fifo = dir_ + "/go";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string session = Session(
      absl::StrCat(R"({"turns":[{"text":"waiting","tool_calls":[{"name":"bash","input":{"command":"cat )", fifo,
                   R"("}}]},{"text":"done"}]})"),
      R"([{"type":"agent_toolset_20260401"}])");
  HttpResponse sent = Rpc(session, Request("message/send", R"({"message":{"role":"user","parts":[{"kind":"text",)"
                                                            R"("text":"go"}]},"configuration":{"blocking":false}})"));
  ASSERT_EQ(sent.status, 200) << sent.body;
  const std::string task = sent.Str("/result/id");
  AwaitToolStarted(*engine_, session);
  HttpResponse stream;
  std::thread subscriber([&] {
    stream = Rpc(session, Request("tasks/resubscribe", absl::StrCat(R"({"id":")", task, R"("})"), "3"));
  });
  bool opened = false;
  {
    // The server logs a request once its answer (here: the stream's subscription) exists.
    MutexLock lock(&log_mu_);
    opened = log_mu_.AwaitWithDeadline(
        [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(log_mu_) {
          size_t a2a = 0;
          for (const std::string& line : log_) a2a += absl::StrContains(line, "\"target\":\"/a2a/") ? 1 : 0;
          return a2a == 2;
        },
        absl::Now() + absl::Seconds(60));
  }
  std::ofstream(fifo) << "go\n";  // the tool ends (and with it the turn) either way
  subscriber.join();
  ASSERT_TRUE(opened);
  ASSERT_EQ(stream.status, 200) << stream.body;
  std::vector<HttpResponse> results = SseResults(stream.body);
  ASSERT_GE(results.size(), 3u) << stream.body;
  EXPECT_EQ(results[0].Str("/result/kind"), "task");
  EXPECT_EQ(results[0].Str("/result/status/state"), "working");
  EXPECT_EQ(results[0].Str("/result/artifacts/0/parts/0/text"), "waiting");
  EXPECT_EQ(results[1].Str("/result/kind"), "artifact-update");
  EXPECT_EQ(results[1].Str("/result/artifact/parts/0/text"), "done");
  EXPECT_TRUE(results[1].json()["result"]["append"].get_bool().value());
  EXPECT_EQ(results.back().Str("/result/status/state"), "completed");
  EXPECT_TRUE(results.back().json()["result"]["final"].get_bool().value());
  // Once it has ended there is nothing to follow.
  ExpectRpcError(Rpc(session, Request("SubscribeToTask", absl::StrCat(R"({"id":")", task, R"("})"))), -32004);
}

TEST_F(A2aTest, BadRequestsAreJsonRpcErrorsAndAppendNothing) {
  const std::string session = Session();
  const size_t before = Events(session).size();
  ExpectRpcError(Rpc(session, "{not json"), -32700, "null");
  ExpectRpcError(Rpc(session, "[1,2]"), -32600, "null");
  ExpectRpcError(Rpc(session, R"({"jsonrpc":"1.0","id":7,"method":"SendMessage","params":{}})"), -32600);
  ExpectRpcError(Rpc(session, R"({"jsonrpc":"2.0","id":7,"params":{}})"), -32600);
  ExpectRpcError(Rpc(session, R"({"jsonrpc":"2.0","id":{"x":1},"method":"SendMessage","params":{}})"), -32600, "null");
  ExpectRpcError(Rpc(session, Request("tasks/pushNotificationConfig/set", "{}")), -32601);
  ExpectRpcError(Rpc(session, Request("tasks/resubscribe", "{}")), -32602);
  ExpectRpcError(Rpc(session, Request("SendMessage", "[]")), -32602);
  ExpectRpcError(Rpc(session, Request("SendMessage", "{}")), -32602);
  ExpectRpcError(Rpc(session, Request("SendMessage", R"({"message":{"role":"ROLE_AGENT","parts":[{"text":"x"}]}})")),
                 -32602);
  ExpectRpcError(Rpc(session, Request("SendMessage", R"({"message":{"role":"ROLE_USER","parts":[]}})")), -32602);
  ExpectRpcError(
      Rpc(session, Request("SendMessage", R"({"message":{"role":"ROLE_USER","parts":[{"url":"http://x"}]}})")), -32005);
  ExpectRpcError(
      Rpc(session, Request("message/send",
                           R"({"message":{"role":"user","parts":[{"kind":"file","file":{"uri":"http://x"}}]}})")),
      -32005);
  ExpectRpcError(
      Rpc(session, Request("SendMessage", R"({"message":{"role":"ROLE_USER","contextId":"sesn_other",)"
                                          R"("parts":[{"text":"x"}]}})")),
      -32602);
  ExpectRpcError(Rpc(session, Request("SendMessage",
                                      R"({"message":{"role":"ROLE_USER","taskId":"t-1","parts":[{"text":"x"}]}})")),
                 -32602);
  ExpectRpcError(Rpc(session, Request("SendStreamingMessage", "{}")), -32602);
  ExpectRpcError(Rpc(session, Request("GetTask", "{}")), -32602);
  ExpectRpcError(Rpc(session, Request("GetTask", R"({"id":"sevt_01M8283M3PMRA5E008YZRKBNBS"})")), -32001);
  ExpectRpcError(Rpc(session, Request("tasks/cancel", R"({"id":"nope"})")), -32001);
  EXPECT_EQ(Events(session).size(), before);
}

TEST_F(A2aTest, UnknownSessionsAndRoutesAre404) {
  const std::string session = Session();
  for (const std::string& id : {std::string("sesn_01M8283KKK3HDJS2D1YMHMDV2E"), std::string("nope")}) {
    HttpResponse card = client_->Get("/a2a/" + id + "/.well-known/agent-card.json");
    EXPECT_EQ(card.status, 404) << card.body;
    EXPECT_EQ(card.Str("/error/type"), "not_found_error") << card.body;
    EXPECT_EQ(Rpc(id, Request("SendMessage", V10Params("ping"))).status, 404);
  }
  EXPECT_EQ(client_->Get("/a2a/" + session + "/.well-known/other.json").status, 404);
  EXPECT_EQ(client_->Get("/a2a/" + session).status, 405);
  EXPECT_EQ(client_->Post("/a2a/" + session + "/.well-known/agent-card.json", "{}").status, 405);
}

TEST_F(A2aTest, EveryA2aRouteNeedsAnApiKey) {
  ApiKeyStoreOptions key_options;
  key_options.data_dir = dir_ + "/data";
  ApiKeyStore keys(key_options);
  absl::StatusOr<CreatedApiKey> created = keys.Create("a2a test", "default");
  ASSERT_TRUE(created.ok()) << created.status();
  ServerOptions options = Options();
  options.require_api_key = true;
  options.api_keys = &keys;
  ASSERT_NO_FATAL_FAILURE(Serve(options));
  const std::vector<std::string> key = {"x-api-key: " + created->key};
  HttpResponse agent = client_->Call("POST", "/v1/agents", R"({"name":"a","model":"scripted"})", key);
  HttpResponse session = client_->Call(
      "POST", "/v1/sessions", absl::StrCat(R"({"agent":")", agent.Str("/id"), R"("})"), key);
  ASSERT_EQ(session.status, 200) << session.body;
  const std::string id = session.Str("/id");
  EXPECT_EQ(client_->Get("/a2a/" + id + "/.well-known/agent-card.json").status, 401);
  EXPECT_EQ(Rpc(id, Request("SendMessage", V10Params("ping"))).status, 401);
  EXPECT_EQ(Rpc(id, Request("SendMessage", V10Params("ping")), {"x-api-key: wrong"}).status, 401);
  EXPECT_TRUE(UserMessages(id).empty());
  HttpResponse card =
      client_->Call("GET", "/a2a/" + id + "/.well-known/agent-card.json", "", {"Authorization: Bearer " + created->key});
  ASSERT_EQ(card.status, 200) << card.body;
  EXPECT_EQ(card.Str("/securitySchemes/apiKey/type"), "apiKey");
  EXPECT_EQ(card.Str("/securitySchemes/apiKey/name"), "x-api-key");
}

TEST_F(A2aTest, WaitingSendsHoldNoThread) {
  // One thread for every Engine call: two sends waiting for their turns (one per engine worker),
  // and the API still answers.
  ServerOptions options = Options();
  options.blocking_threads = 1;
  ASSERT_NO_FATAL_FAILURE(Serve(options));
  constexpr int kSends = 2;
  std::vector<std::string> sessions, fifos;
  for (int i = 0; i < kSends; ++i) {
    fifos.push_back(absl::StrCat(dir_, "/go", i));
    ASSERT_EQ(mkfifo(fifos.back().c_str(), 0600), 0);
    sessions.push_back(Session(
        absl::StrCat(R"({"turns":[{"text":"waiting","tool_calls":[{"name":"bash","input":{"command":"cat )",
                     fifos.back(), R"("}}]},{"text":"released )", i, R"("}]})"),
        R"([{"type":"agent_toolset_20260401"}])"));
  }
  std::vector<HttpResponse> answers(kSends);
  std::vector<std::thread> senders;
  for (int i = 0; i < kSends; ++i) {
    senders.emplace_back([&, i] { answers[i] = Rpc(sessions[i], Request("SendMessage", V10Params("wait"))); });
  }
  for (const std::string& session : sessions) AwaitToolStarted(*engine_, session);
  // The requests are in flight (their tools run); the single Engine thread is free for others.
  HttpResponse listed = client_->Get("/v1/sessions");
  EXPECT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.Size("/data"), static_cast<size_t>(kSends));
  for (const std::string& fifo : fifos) std::ofstream(fifo) << "go\n";
  for (std::thread& t : senders) t.join();
  for (int i = 0; i < kSends; ++i) {
    EXPECT_EQ(answers[i].Str("/result/task/status/state"), "TASK_STATE_COMPLETED") << answers[i].body;
    EXPECT_EQ(answers[i].Str("/result/task/status/message/parts/1/text"), absl::StrCat("released ", i))
        << answers[i].body;
  }
}

TEST_F(A2aTest, AnArchivedSessionTakesNoMessage) {
  const std::string session = Session();
  ASSERT_EQ(client_->Post("/v1/sessions/" + session + "/archive", "").status, 200);
  HttpResponse r = Rpc(session, Request("SendMessage", V10Params("ping")));
  ExpectRpcError(r, -32603);
  EXPECT_TRUE(absl::StrContains(r.Str("/error/message"), "archived")) << r.body;
  ExpectRpcError(Rpc(session, Request("message/stream", V03Params("ping"))), -32603);
  EXPECT_TRUE(Events(session).empty());
}

TEST_F(A2aTest, StoppingTheServerEndsASendThatWaitsForItsTurn) {
  const std::string session = Session(
      R"({"turns":[{"text":"waiting","tool_calls":[{"name":"bash","input":{"command":"sleep 120"}}]},)"
      R"({"text":"never"}]})",
      R"([{"type":"agent_toolset_20260401"}])");
  HttpResponse answer;
  std::thread sender([&] { answer = Rpc(session, Request("SendMessage", V10Params("wait"))); });
  AwaitToolStarted(*engine_, session);
  // Stop returns although the turn goes on (the test's timeout would catch a Stop that waited for it).
  server_->Stop();
  sender.join();
  // Either the connection closed first, or the send answered the task as it stood.
  EXPECT_TRUE(answer.status != 200 || answer.Str("/result/task/status/state") == "TASK_STATE_WORKING") << answer.body;
  // Interrupt the sleeping tool so the engine shuts down quickly.
  Event interrupt;
  interrupt.type = EventType::kUserInterrupt;
  EXPECT_TRUE(engine_->SendEvents(session, {interrupt}).ok());
}

}  // namespace
}  // namespace wake
