// wake's API client against the real server: an Engine on a temp dir (RocksDB, the scripted brain,
// local hands) served by StartServer on 127.0.0.1 port 0.

#include "client/client.h"

#include <sys/wait.h>

#include <cstdio>
#include <thread>

#include "client/remote_session_log.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
#include "server/server.h"
#include "simdjson.h"
#include "tests/server/test_engine.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

std::string Field(const std::string& json, const char* pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view value;
  if (parser.parse(json).get(root) != simdjson::SUCCESS || root.at_pointer(pointer).get(value) != simdjson::SUCCESS) {
    return "";
  }
  return std::string(value);
}

ClientOptions At(std::string url) {
  ClientOptions options;
  options.base_url = std::move(url);
  return options;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("client");
    auto provider = NewLocalProvider({.base_dir = dir_ + "/hands", .isolate = false});
    ASSERT_TRUE(provider.ok()) << provider.status();
    local_ = *std::move(provider);
    auto engine = testing::OpenTestEngine(dir_ + "/data", local_.get());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    ServerOptions server_options;
    server_options.keepalive_interval = absl::Milliseconds(100);
    server_options.log = [](std::string_view) {};
    auto server = StartServer(engine_.get(), std::move(server_options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto client = Client::Create(At(absl::StrCat("http://127.0.0.1:", server_->port(), "/")));
    ASSERT_TRUE(client.ok()) << client.status();
    client_.emplace(*std::move(client));
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
    testing::RemoveDir(dir_);
  }

  // A session whose scripted agent runs a bash call on its hand and answers.
  std::string ScriptedSession() {
    auto agent = client_->Post("/v1/agents",
                               R"({"name":"a","model":"scripted","tools":[{"type":"agent_toolset_20260401"}]})");
    EXPECT_TRUE(agent.ok()) << agent.status();
    auto env = client_->Post("/v1/environments", R"({"name":"e","config":{"type":"local"}})");
    EXPECT_TRUE(env.ok()) << env.status();
    auto session = client_->Post("/v1/sessions", absl::StrCat(R"({"agent":")", Field(*agent, "/id"),
                                                              R"(","environment_id":")", Field(*env, "/id"), R"("})"));
    EXPECT_TRUE(session.ok()) << session.status();
    return Field(*session, "/id");
  }
  // Sends a user.message; returns its event id.
  std::string Send(const std::string& session) {
    auto sent = client_->Post(absl::StrCat("/v1/sessions/", session, "/events"),
                              R"({"events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]}]})");
    EXPECT_TRUE(sent.ok()) << sent.status();
    return sent.ok() ? Field(*sent, "/data/0/id") : "";
  }

  // Follows the session's stream from `after` until it is idle, then until the engine is quiet.
  void RunTurnToIdle(const std::string& session, const std::string& after) {
    ASSERT_TRUE(client_->StreamEvents(session, after, [](const SseEvent& e) {
      return e.event != "session.status_idle";
    }).ok());
    engine_->WaitUntilQuiet();
  }

  std::string dir_;
  std::unique_ptr<HandProvider> local_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
  std::optional<Client> client_;
};

TEST(ClientCreateTest, RefusesAUrlThatIsNotHttp) {
  auto client = Client::Create(At("127.0.0.1:8080"));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(client.status().message(), "http://")) << client.status();
}

TEST(ParseRetryAfterTest, SecondsAndHttpDates) {
  const absl::Time now = absl::FromUnixSeconds(784'111'777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(ParseRetryAfter("30", now), absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter(" 1.5\r\n", now), absl::Milliseconds(1500));
  EXPECT_EQ(ParseRetryAfter("0", now), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:50:07 GMT", now), absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter(" Sun, 06 Nov 1994 08:49:37 GMT\r\n", now), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("Sat, 05 Nov 1994 08:49:37 GMT", now), absl::ZeroDuration()) << "a date past is no wait";
  EXPECT_EQ(ParseRetryAfter("-5", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("inf", now), std::nullopt);
}

TEST(StatusFromHttpTest, CarriesTheEnvelopesTypeAndMessage) {
  const absl::Status s =
      StatusFromHttp(404, R"({"type":"error","error":{"type":"not_found_error","message":"no session sesn_x"}})");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "HTTP 404 not_found_error: no session sesn_x");
  EXPECT_EQ(StatusFromHttp(503, "busy").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(503, "busy").message(), "HTTP 503: busy");
  EXPECT_EQ(StatusFromHttp(502, "").code(), absl::StatusCode::kInternal);
}

TEST_F(ClientTest, ErrorsComeBackAsStatusesWithTheServersMessage) {
  auto missing = client_->Get("/v1/sessions/sesn_01M8283G3YJK1CPHJVGZYVQ6XJ");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "not_found_error")) << missing.status();
  auto bad = client_->Post("/v1/agents", "{not json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
}

TEST_F(ClientTest, NoServerIsUnavailable) {
  const uint16_t port = server_->port();
  server_->Stop();
  auto client = Client::Create(At(absl::StrCat("http://127.0.0.1:", port)));
  ASSERT_TRUE(client.ok());
  auto answer = client->Get("/v1/agents");
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable) << answer.status();
}

TEST_F(ClientTest, StreamsATurnFromAfterTheMessageAndStopsWhenAsked) {
  const std::string session = ScriptedSession();
  const std::string message_id = Send(session);
  std::vector<SseEvent> seen;
  absl::Status streamed = client_->StreamEvents(session, message_id, [&](const SseEvent& e) {
    seen.push_back(e);
    return e.event != "session.status_idle";
  });
  ASSERT_TRUE(streamed.ok()) << streamed;
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().event, "session.status_running");
  EXPECT_EQ(seen.back().event, "session.status_idle");
  for (const SseEvent& e : seen) {
    EXPECT_EQ(Field(e.data, "/id"), e.id) << "each frame's id is its event's id";
    EXPECT_EQ(Field(e.data, "/type"), e.event);
  }
  // Resuming after an event picks up with the very next one.
  std::vector<std::string> resumed;
  streamed = client_->StreamEvents(session, seen[1].id, [&](const SseEvent& e) {
    resumed.push_back(e.id);
    return e.event != "session.status_idle";
  });
  ASSERT_TRUE(streamed.ok()) << streamed;
  ASSERT_EQ(resumed.size(), seen.size() - 2);
  for (size_t i = 0; i < resumed.size(); ++i) EXPECT_EQ(resumed[i], seen[i + 2].id);
}

TEST_F(ClientTest, AStreamOfAnUnknownSessionIsNotFound) {
  absl::Status streamed =
      client_->StreamEvents("sesn_01M8283G3YJK1CPHJVGZYVQ6XJ", "", [](const SseEvent&) { return true; });
  EXPECT_EQ(streamed.code(), absl::StatusCode::kNotFound) << streamed;
}

TEST_F(ClientTest, RemoteSessionLogReadsWhatTheStoreHoldsWithTheSameSeqs) {
  const std::string session = ScriptedSession();
  const std::string message_id = Send(session);
  RunTurnToIdle(session, message_id);
  std::unique_ptr<SessionLog> remote = NewRemoteSessionLog(*client_);
  auto stored = engine_->ReadEvents(session);
  ASSERT_TRUE(stored.ok());
  auto read = remote->Read(session);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), stored->size());
  for (size_t i = 0; i < stored->size(); ++i) {
    EXPECT_EQ((*read)[i].seq, (*stored)[i].seq);
    EXPECT_EQ((*read)[i].id, (*stored)[i].id);
    EXPECT_EQ((*read)[i].type, (*stored)[i].type);
  }
  // A window and a type filter, as the local log answers them.
  ReadOptions window;
  window.from_seq = 3;
  window.limit = 2;
  auto part = remote->Read(session, window);
  ASSERT_TRUE(part.ok()) << part.status();
  ASSERT_EQ(part->size(), 2u);
  EXPECT_EQ((*part)[0].seq, 3u);
  ReadOptions results;
  results.types = {EventType::kAgentToolResult};
  auto only = remote->Read(session, results);
  ASSERT_TRUE(only.ok());
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ((*only)[0].type, EventType::kAgentToolResult);

  auto info = remote->GetSession(session);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->status, "idle");
  ListSessionsOptions list;
  list.limit = 1;
  auto page = remote->ListSessions(list);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->sessions.size(), 1u);
  EXPECT_EQ(page->sessions[0].id, session);

  // Writes are refused, saying why.
  auto append = remote->Append(session, {}, kAppendAtHead, kNoLease);
  EXPECT_EQ(append.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(remote->GetSession("sesn_01M8283G3YJK1CPHJVGZYVQ6XJ").status().code(), absl::StatusCode::kNotFound);
}

// GET requests for pages of a session's events the server has answered (counted before each
// response is written).
int64_t EventPagesServed(Engine& engine) {
  int64_t served = 0;
  for (absl::string_view line : absl::StrSplit(engine.metrics().RenderPrometheus(), '\n')) {
    if (!absl::StartsWith(line, "wake_http_requests_total{") || !absl::StrContains(line, "method=\"GET\"") ||
        !absl::StrContains(line, "/events\"") || !absl::StrContains(line, "status=\"200\"")) {
      continue;
    }
    int64_t value = 0;
    if (absl::SimpleAtoi(line.substr(line.rfind(' ') + 1), &value)) served += value;
  }
  return served;
}

// wakectl events/export over --url scan: one walk over the pages, not a walk from the first event
// for each page (what SessionLog's default Scan would make of the remote Read).
TEST_F(ClientTest, ARemoteScanWalksTheEventPagesOnce) {
  const std::string session = ScriptedSession();
  constexpr size_t kEvents = 2500;  // three pages of the client's 1,000
  std::vector<Event> events;
  for (size_t i = 0; i < kEvents; ++i) {
    events.push_back(testing::TextMessage(EventType::kAgentMessage, absl::StrCat(i)));
  }
  ASSERT_TRUE(engine_->log().Append(session, std::move(events), kAppendAtHead, kNoLease).ok());
  absl::StatusOr<std::vector<Event>> stored = engine_->ReadEvents(session);
  ASSERT_TRUE(stored.ok()) << stored.status();
  std::unique_ptr<SessionLog> remote = NewRemoteSessionLog(*client_);

  auto scan = [&](const ReadOptions& options) {
    std::vector<Event> scanned;
    absl::Status status = remote->Scan(session, options, [&](const Event& e) {
      scanned.push_back(e);
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return scanned;
  };
  const int64_t before = EventPagesServed(*engine_);
  const std::vector<Event> all = scan({});
  EXPECT_EQ(EventPagesServed(*engine_) - before, 3);
  ASSERT_EQ(all.size(), stored->size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq, (*stored)[i].seq);
    EXPECT_EQ(all[i].id, (*stored)[i].id);
    EXPECT_EQ(all[i].content, (*stored)[i].content);
  }
  // A window starts where it starts: one page from seq 990 on.
  ReadOptions across_a_page;
  across_a_page.from_seq = 990;
  across_a_page.limit = 20;
  const int64_t before_window = EventPagesServed(*engine_);
  const std::vector<Event> window = scan(across_a_page);
  EXPECT_EQ(EventPagesServed(*engine_) - before_window, 1);
  ASSERT_EQ(window.size(), 20u);
  EXPECT_EQ(window.front().seq, 990u);
  EXPECT_EQ(window.back().seq, 1009u);
  EXPECT_EQ(window.back().id, (*stored)[1008].id);

  // Past the head, as the local log answers: nothing (the server refuses a cursor beyond head + 1).
  for (uint64_t past : {stored->size() + 1, stored->size() + 5}) {
    ReadOptions from_past;
    from_past.from_seq = past;
    absl::StatusOr<std::vector<Event>> read = remote->Read(session, from_past);
    ASSERT_TRUE(read.ok()) << past << ": " << read.status();
    EXPECT_TRUE(read->empty()) << past;
    EXPECT_TRUE(scan(from_past).empty()) << past;
  }
  ReadOptions from5;
  from5.from_seq = 5;
  EXPECT_EQ(remote->Read("sesn_01M8283G3YJK1CPHJVGZYVQ6XJ", from5).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, RemoteSubscriptionDeliversHistoryThenLiveEventsInOrder) {
  const std::string session = ScriptedSession();
  const std::string first = Send(session);
  RunTurnToIdle(session, first);
  const size_t history = engine_->ReadEvents(session)->size();
  std::unique_ptr<SessionLog> remote = NewRemoteSessionLog(*client_);
  auto subscription = remote->Subscribe(session, 2);
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  Send(session);  // a second turn, appended while the subscription follows
  std::vector<Event> seen;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline &&
         (seen.empty() || seen.back().type != EventType::kSessionStatusIdle || seen.size() < history)) {
    auto batch = (*subscription)->Next(100, deadline);
    ASSERT_TRUE(batch.ok()) << batch.status();
    for (Event& e : *batch) seen.push_back(std::move(e));
  }
  engine_->WaitUntilQuiet();
  auto stored = engine_->ReadEvents(session);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(seen.size(), stored->size() - 1) << "everything from #2 on";
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].seq, i + 2);
    EXPECT_EQ(seen[i].id, (*stored)[i + 1].id);
  }
  (*subscription)->Cancel();
}

// wakectl over the API prints what it prints from the data dir.
TEST_F(ClientTest, WakectlOverTheApiMatchesWakectlOnTheStore) {
  const std::string session = ScriptedSession();
  const std::string message_id = Send(session);
  RunTurnToIdle(session, message_id);
  auto run = [](const std::string& args, int* exit_code) {
    std::string out;
    FILE* pipe = ::popen(absl::StrCat(WAKECTL_BINARY, " ", args, " 2>/dev/null").c_str(), "r");
    if (pipe == nullptr) return out;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
    const int status = ::pclose(pipe);
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
  };
  const std::string url = absl::StrCat("--url http://127.0.0.1:", server_->port());
  const std::string data = absl::StrCat("--data ", dir_, "/data");
  int code = -1;
  const std::string remote_events = run(absl::StrCat(url, " events ", session), &code);
  EXPECT_EQ(code, 0);
  const std::string local_events = run(absl::StrCat(data, " events ", session), &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(remote_events, local_events);
  EXPECT_TRUE(absl::StrContains(remote_events, "hello from the hand")) << remote_events;
  EXPECT_EQ(run(absl::StrCat(url, " export ", session), &code), run(absl::StrCat(data, " export ", session), &code));
  run(absl::StrCat(url, " verify ", session), &code);
  EXPECT_EQ(code, 0) << "a clean session";
  run(absl::StrCat(url, " timeline ", session, " --svg ", dir_, "/t.svg"), &code);
  EXPECT_EQ(code, 0);
  const std::string listed = run(absl::StrCat(url, " sessions ls --json"), &code);
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(absl::StrContains(listed, session)) << listed;
  run(absl::StrCat(url, " fork ", session, " --at 2"), &code);
  EXPECT_EQ(code, 1) << "writing needs --data";
  run(absl::StrCat(url, " keys ls"), &code);
  EXPECT_EQ(code, 1) << "keys live beside the store";
  run(absl::StrCat("--url 127.0.0.1:1 events ", session), &code);
  EXPECT_EQ(code, 2) << "not a URL";
}

}  // namespace
}  // namespace wake
