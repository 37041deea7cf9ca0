// Crash recovery of waked as a real process: several sessions run scripted turns whose tools are
// bash commands on local hands, and waked is killed with SIGKILL again and again in the middle of
// those turns, then restarted on the same data dir. A libcurl client sends the user messages and
// follows every session's event stream, reconnecting with Last-Event-ID after each restart.
//
// What it proves, against the rules in DESIGN.md ("Rules that make crash recovery correct"):
//  - every session finishes all its turns (session.status_idle with end_turn after its last
//    user.message), so nothing is left behind by a crash;
//  - every event the API acknowledged is in the log (acknowledged means durable);
//  - each session's stream, across all reconnects, is exactly the log in order: no gap, no duplicate;
//  - no tool ran twice: each bash call appends a line to a file in the session's work dir, and a call
//    the log says succeeded left exactly one line, one the log says was interrupted by the crash
//    (rule 3: bash is not idempotent, so it is not re-run) left at most one;
//  - `wakectl verify --all` finds nothing wrong with the store afterwards.
// A session whose lease the killed waked held resumes only when that lease expires (the harness's
// 60 s TTL: the restarted waked is another worker), so each round of kills puts only a few fresh
// sessions in flight, and the test takes a little over a minute.
//
// usage (ctest passes both): restart_test --waked PATH --wakectl PATH [gtest flags]

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/server/http_client.h"
#include "tests/server/waked_process.h"

namespace wake {
namespace {

using testing::HttpClient;
using testing::Spawn;
using testing::WaitExit;
using testing::HttpResponse;
using testing::SseClient;
using Frames = std::vector<SseClient::Frame>;

std::string g_waked;
std::string g_wakectl;

constexpr size_t kSessions = 12;
constexpr size_t kMessagesPerSession = 4;
// Messages sent per round of kills: a kill blocks the sessions it interrupts until their lease
// expires, so each round puts only a few fresh sessions in flight and the others stay ready.
constexpr size_t kSessionsPerRound = 2;
// Each user message gets three model turns: two with a bash call each, then an answer.
constexpr size_t kModelTurnsPerMessage = 3;
constexpr size_t kKills = 6;
constexpr size_t kMaxRounds = 20;
// Generous bounds for waits: a session whose lease a killed waked held is only woken again once the
// lease (60 s, the harness default) has expired.
constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kTriggerTimeout = absl::Seconds(120);
constexpr absl::Duration kFinishTimeout = absl::Seconds(240);

// The only place that knows waked's command line (API key options are changing: waked with
// --no-auth in its usage serves without keys when given it; an older waked serves without keys when
// given none).
std::vector<std::string> WakedArgs(const std::string& data_dir, bool has_no_auth_flag) {
  std::vector<std::string> args = {g_waked, "--data", data_dir, "--host", "127.0.0.1", "--port", "0", "--no-docker",
                                   "--workers", "8"};
  if (has_no_auth_flag) args.push_back("--no-auth");
  return args;
}

// Polls `done` until it holds or `timeout` passes; returns whether it held.
template <typename F>
bool WaitUntil(F done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string Tail(const std::string& text, size_t n = 3000) { return text.size() > n ? text.substr(text.size() - n) : text; }

// One waked process on a data dir.
class Waked {
 public:
  Waked(std::string dir, std::string data) : dir_(std::move(dir)), data_(std::move(data)) {}
  ~Waked() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      WaitExit(pid_, absl::Seconds(10));
    }
  }

  // Starts it and waits for the line with its URL. Returns "" (and says why in `error`) on failure.
  std::string Start(std::string* error) {
    ++starts_;
    const std::string out = absl::StrCat(dir_, "/waked.out");
    // Emptied here, not only in the child: the last run's URL must not be read before it is gone.
    std::ofstream(out, std::ios::trunc).close();
    if (!no_auth_flag_) {
      // waked prints its usage for an unknown flag.
      const std::string usage = absl::StrCat(dir_, "/waked.usage");
      const pid_t probe = Spawn({g_waked, "--usage-please"}, usage, usage);
      if (probe > 0 && !WaitExit(probe, absl::Seconds(30))) kill(probe, SIGKILL);
      no_auth_flag_ = absl::StrContains(ReadFile(usage), "--no-auth");
    }
    pid_ = Spawn(WakedArgs(data_, *no_auth_flag_), out, err_path());
    if (pid_ < 0) {
      *error = "fork failed";
      return "";
    }
    const std::string url = testing::WaitForUrl(pid_, out, err_path(), kStartTimeout, error);
    if (url.empty()) {
      pid_ = -1;
      *error = absl::StrCat("waked: ", *error);
    }
    return url;
  }

  // kill -9, and reaps it. False when it had already died (a crash of its own).
  bool Kill9() {
    int status = 0;
    const bool alive = waitpid(pid_, &status, WNOHANG) == 0;
    kill(pid_, SIGKILL);
    WaitExit(pid_, absl::Seconds(10));
    pid_ = -1;
    return alive;
  }

  // SIGTERM, and its exit status (nullopt when it did not stop in time: then it is killed).
  std::optional<int> Stop() {
    kill(pid_, SIGTERM);
    std::optional<int> status = WaitExit(pid_, absl::Seconds(60));
    if (!status) {
      kill(pid_, SIGKILL);
      WaitExit(pid_, absl::Seconds(10));
    }
    pid_ = -1;
    return status;
  }

  std::string err_path() const { return absl::StrCat(dir_, "/waked.err"); }
  int starts() const { return starts_; }

 private:
  const std::string dir_;
  const std::string data_;
  pid_t pid_ = -1;
  int starts_ = 0;
  std::optional<bool> no_auth_flag_;
};

// A parsed event (from the list endpoint or a stream frame's data).
struct LoggedEvent {
  std::string type;
  std::string id;
  std::string tool_use_id;   // agent.tool_result, wake.tool_started
  std::string command;       // agent.tool_use: input.command
  std::string text;          // agent.tool_result: the text content
  bool is_error = false;     // agent.tool_result
  std::string stop_reason;   // session.status_idle
};

LoggedEvent ParseEvent(simdjson::dom::element e) {
  LoggedEvent out;
  std::string_view s;
  if (!e["type"].get_string().get(s)) out.type = std::string(s);
  if (!e["id"].get_string().get(s)) out.id = std::string(s);
  if (!e["tool_use_id"].get_string().get(s)) out.tool_use_id = std::string(s);
  if (!e["input"]["command"].get_string().get(s)) out.command = std::string(s);
  if (!e["stop_reason"]["type"].get_string().get(s)) out.stop_reason = std::string(s);
  bool b = false;
  if (!e["is_error"].get_bool().get(b)) out.is_error = b;
  simdjson::dom::array content;
  if (!e["content"].get_array().get(content)) {
    for (simdjson::dom::element block : content) {
      if (!block["text"].get_string().get(s)) out.text += std::string(s);
    }
  }
  return out;
}

// Where a session's harness was (as its stream showed it) when waked was killed.
std::string PhaseOf(const std::vector<LoggedEvent>& seen) {
  if (seen.empty()) return "no events";
  const std::string& last = seen.back().type;
  if (last == "session.status_idle") return "idle";
  if (last == "wake.tool_started") return "tool running";
  if (last == "agent.tool_use") return "tool about to start";
  if (last == "span.model_request_start") return "model request";
  if (last == "agent.tool_result") return "model request next";
  if (last == "user.message") return "waking";
  return absl::StrCat("after ", last);
}

struct Session {
  std::string id;
  std::vector<std::string> acked;     // ids of every event the API acknowledged, in order
  size_t sent = 0;                    // user messages acknowledged
  std::vector<SseClient::Frame> seen; // every frame of every connection, in order
  std::unique_ptr<SseClient> stream;
  size_t connections = 0;
};

class RestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(g_waked.empty()) << "pass --waked PATH";
    ASSERT_FALSE(g_wakectl.empty()) << "pass --wakectl PATH";
    std::string tmpl = absl::StrCat(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp", "/restart.XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    data_ = dir_ + "/data";
    waked_ = std::make_unique<Waked>(dir_, data_);
  }
  void TearDown() override {
    for (Session& s : sessions_) s.stream.reset();
    waked_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
    else std::fprintf(stderr, "restart_test: kept %s for a look\n", dir_.c_str());
  }

  void StartWaked() {
    std::string error;
    const std::string url = waked_->Start(&error);
    ASSERT_FALSE(url.empty()) << error;
    client_ = std::make_unique<HttpClient>(url);
  }

  HttpResponse Post(const std::string& path, const std::string& body) {
    return client_->Call("POST", path, body);
  }
  HttpResponse Get(const std::string& path) { return client_->Get(path); }

  void Connect(Session& s) {
    std::vector<std::string> headers;
    if (!s.seen.empty()) headers.push_back("Last-Event-ID: " + s.seen.back().id);
    s.stream = std::make_unique<SseClient>(
        absl::StrCat(client_->base(), "/v1/sessions/", s.id, "/events/stream?include_internal=true"), headers);
    ASSERT_EQ(s.stream->WaitForHead(), 200) << s.stream->body();
    ++s.connections;
  }

  // The frames of `s` so far: those of earlier connections, then the current one's.
  Frames Seen(const Session& s) const {
    Frames all = s.seen;
    if (s.stream) {
      Frames now = s.stream->frames();
      all.insert(all.end(), now.begin(), now.end());
    }
    return all;
  }
  static std::vector<LoggedEvent> Parsed(const Frames& frames) {
    std::vector<LoggedEvent> out;
    simdjson::dom::parser parser;
    for (const auto& f : frames) {
      simdjson::dom::element e;
      if (parser.parse(f.data).get(e)) {
        out.push_back(LoggedEvent{f.event, f.id, "", "", "", false, "unparsable"});
      } else {
        out.push_back(ParseEvent(e));
      }
    }
    return out;
  }

  // Whether the session has finished the turn of its last acknowledged user message: every message
  // sent is on its stream, and a session.status_idle with end_turn follows the last one. (Polled
  // often, so it looks at frame types and the idle frames' text only.)
  bool TurnDone(const Session& s) const {
    const Frames frames = Seen(s);
    bool done = s.sent == 0;
    size_t messages = 0;
    for (const auto& f : frames) {
      if (f.event == "user.message") {
        ++messages;
        done = false;
      }
      if (f.event == "session.status_idle" && absl::StrContains(f.data, R"("stop_reason":{"type":"end_turn")")) {
        done = true;
      }
    }
    return done && messages == s.sent;
  }

  void SendNext(Session& s) {
    const size_t n = s.sent;
    HttpResponse r = Post(absl::StrCat("/v1/sessions/", s.id, "/events"),
                          absl::StrCat(R"({"events":[{"type":"user.message","content":[{"type":"text","text":"message )",
                                       n, R"("}]}]})"));
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    ASSERT_EQ(r.Size("/data"), 1u) << r.body;
    s.acked.push_back(r.Str("/data/0/id"));
    ++s.sent;
  }

  // Sends the next message to (up to `limit`) sessions whose turn is over and that have messages
  // left, those that had fewer first.
  size_t SendToIdleSessions(size_t limit = SIZE_MAX) {
    std::vector<Session*> ready;
    for (Session& s : sessions_) {
      if (s.sent < kMessagesPerSession && TurnDone(s)) ready.push_back(&s);
    }
    std::stable_sort(ready.begin(), ready.end(), [](const Session* a, const Session* b) { return a->sent < b->sent; });
    size_t sent = 0;
    for (Session* s : ready) {
      if (sent == limit) break;
      {
        SendNext(*s);
        ++sent;
      }
    }
    return sent;
  }

  // Kills waked, keeps what every stream saw, restarts it and reconnects the streams.
  void KillAndRestart(const std::string& why) {
    std::vector<std::string> phases;
    for (Session& s : sessions_) {
      // A session with nothing new since the last restart is still waiting (for the lease a killed
      // waked held, or for its next message).
      const bool quiet = s.connections > 1 && s.stream->frames().empty();
      phases.push_back(absl::StrCat(quiet ? "still " : "", PhaseOf(Parsed(Seen(s)))));
    }
    ASSERT_TRUE(waked_->Kill9()) << "waked had died on its own: " << Tail(ReadFile(waked_->err_path()));
    for (Session& s : sessions_) {
      EXPECT_TRUE(s.stream->WaitForEnd(absl::Seconds(30))) << "the stream of " << s.id << " did not end";
      s.stream->Stop();
      Frames frames = s.stream->frames();
      s.seen.insert(s.seen.end(), frames.begin(), frames.end());
      s.stream.reset();
    }
    std::fprintf(stderr, "kill %zu (%s): %s\n", kills_.size() + 1, why.c_str(), absl::StrJoin(phases, ", ").c_str());
    kills_.push_back(why);
    StartWaked();
    for (Session& s : sessions_) Connect(s);
  }

  // Waits until some session's stream shows an event of `type` that arrives from now on; returns
  // whether one did.
  bool WaitForTrigger(const std::string& type, absl::Duration timeout) {
    std::vector<size_t> before;
    for (const Session& s : sessions_) before.push_back(s.stream->frames().size());
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      for (size_t i = 0; i < sessions_.size(); ++i) {
        // A zero timeout: the predicate runs once, on the stream's frames in place (no copy).
        const bool seen = sessions_[i].stream->WaitFor(
            [&](const Frames& frames) {
              for (size_t j = before[i]; j < frames.size(); ++j) {
                if (frames[j].event == type) return true;
              }
              return false;
            },
            absl::ZeroDuration());
        if (seen) return true;
      }
      // Sessions blocked by a dead worker's lease, or done: nothing may come for a while.
      absl::SleepFor(absl::Milliseconds(1));
    }
    return false;
  }

  // Reads the whole log of a session (internal events included) through the API.
  std::vector<LoggedEvent> ReadLog(const Session& s, Frames* raw) {
    std::vector<LoggedEvent> out;
    std::string page;
    simdjson::dom::parser parser;
    for (int pages = 0; pages < 100; ++pages) {
      HttpResponse r = Get(absl::StrCat("/v1/sessions/", s.id, "/events?limit=1000&include_internal=true",
                                        page.empty() ? "" : "&page=" + page));
      EXPECT_EQ(r.status, 200) << r.body;
      if (r.status != 200) break;
      simdjson::dom::array data;
      EXPECT_FALSE(r.json()["data"].get_array().get(data)) << r.body;
      for (simdjson::dom::element e : data) {
        out.push_back(ParseEvent(e));
        raw->push_back(SseClient::Frame{out.back().type, out.back().id, std::string(simdjson::minify(e))});
      }
      if (r.IsNull("/next_page")) break;
      page = r.Str("/next_page");
    }
    return out;
  }

  std::string dir_;
  std::string data_;
  std::unique_ptr<Waked> waked_;
  std::unique_ptr<HttpClient> client_;
  std::vector<Session> sessions_;
  std::vector<std::string> kills_;
};

std::string Script() {
  std::string turns;
  for (size_t m = 0; m < kMessagesPerSession; ++m) {
    for (size_t j = 0; j < kModelTurnsPerMessage; ++j) {
      const size_t k = m * kModelTurnsPerMessage + j;
      if (!turns.empty()) turns += ",";
      if (j + 1 < kModelTurnsPerMessage) {
        // The line goes in first, so a call that started left its mark even if it was cut short.
        turns += absl::StrCat(R"({"text":"step )", k, R"(","tool_calls":[{"name":"bash","input":{"command":)",
                              R"("echo call-)", k, R"( >> calls.txt && sleep 0.3 && echo ran )", k, R"("}}]})");
      } else {
        turns += absl::StrCat(R"({"text":"done with message )", m, R"("})");
      }
    }
  }
  return absl::StrCat(R"({"turns":[)", turns, "]}");
}

TEST_F(RestartTest, SessionsSurviveKillNineMidTurn) {
  const std::string script = dir_ + "/script.json";
  std::ofstream(script) << Script();
  StartWaked();
  HttpResponse agent = Post("/v1/agents", absl::StrCat(R"({"name":"restart","model":"scripted:)", script,
                                                         R"(","tools":[{"type":"agent_toolset_20260401"}]})"));
  ASSERT_EQ(agent.status, 200) << agent.body;
  HttpResponse env = Post("/v1/environments", R"({"name":"local","config":{"type":"local"}})");
  ASSERT_EQ(env.status, 200) << env.body;
  for (size_t i = 0; i < kSessions; ++i) {
    HttpResponse r = Post("/v1/sessions", absl::StrCat(R"({"agent":")", agent.Str("/id"), R"(","environment_id":")",
                                                         env.Str("/id"), R"("})"));
    ASSERT_EQ(r.status, 200) << r.body;
    Session s;
    s.id = r.Str("/id");
    sessions_.push_back(std::move(s));
  }
  // Streams open before anything is sent: a stream without Last-Event-ID starts at the log's head.
  for (Session& s : sessions_) Connect(s);
  // Each stream has at least one frame before the first kill, so every reconnect can name one: the
  // first turns run without kills.
  for (Session& s : sessions_) SendNext(s);
  for (Session& s : sessions_) {
    ASSERT_TRUE(WaitUntil([&] { return TurnDone(s); }, absl::Seconds(60))) << s.stream->body();
  }

  // Kills at different points of a turn, in turn: a tool running (its `sleep 0.3` just started), a
  // tool call just decided (the tool is about to start), a tool result just written (the next model
  // request), a user message just acknowledged (the wake: lease, context, model request), and a
  // random moment while tools run.
  std::mt19937 rng(20261122);
  const std::vector<std::string> kinds = {"tool running", "tool decided", "after tool result", "after ack",
                                          "random"};
  size_t round = 0;
  while (kills_.size() < kKills && round < kMaxRounds) {
    const std::string& kind = kinds[round++ % kinds.size()];
    const size_t sent = SendToIdleSessions(kSessionsPerRound);
    if (HasFatalFailure()) return;
    bool triggered = true;
    if (kind == "tool running") {
      triggered = WaitForTrigger("wake.tool_started", kTriggerTimeout);
    } else if (kind == "tool decided") {
      triggered = WaitForTrigger("agent.tool_use", kTriggerTimeout);
    } else if (kind == "after tool result") {
      triggered = WaitForTrigger("agent.tool_result", kTriggerTimeout);
    } else if (kind == "after ack") {
      triggered = sent > 0;
    } else {
      if (WaitForTrigger("wake.tool_started", kTriggerTimeout)) {
        absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(0, 400)(rng)));
      } else {
        triggered = false;
      }
    }
    if (!triggered) {
      // Nothing in flight (every session done, or waiting for a lease): no kill this round.
      std::fprintf(stderr, "round %zu (%s): nothing to kill in\n", round, kind.c_str());
      continue;
    }
    KillAndRestart(kind);
    if (HasFatalFailure()) return;
  }
  ASSERT_EQ(kills_.size(), kKills) << "too few rounds had a turn in flight to kill";

  // Now let every session finish all its messages, with no more kills.
  const absl::Time deadline = absl::Now() + kFinishTimeout;
  while (absl::Now() < deadline) {
    SendToIdleSessions();
    if (HasFatalFailure()) return;
    bool all = true;
    for (const Session& s : sessions_) all = all && s.sent == kMessagesPerSession && TurnDone(s);
    if (all) break;
    absl::SleepFor(absl::Milliseconds(10));
  }

  size_t interrupted_tools = 0;
  size_t retried_model_requests = 0;
  size_t wakes = 0;
  for (Session& s : sessions_) {
    SCOPED_TRACE(s.id);
    EXPECT_EQ(s.sent, kMessagesPerSession);
    EXPECT_TRUE(TurnDone(s)) << "the session did not finish its turns; its stream ends with "
                             << PhaseOf(Parsed(Seen(s)));
    Frames log_frames;
    const std::vector<LoggedEvent> log = ReadLog(s, &log_frames);
    ASSERT_FALSE(log.empty());

    // The stream has caught up with the log (nothing more is appended once the session is idle).
    const std::string last_id = log.back().id;
    EXPECT_TRUE(s.stream->WaitFor([&](const Frames& f) { return !f.empty() && f.back().id == last_id; },
                                  absl::Seconds(30)));

    // Every acknowledged event is in the log, in the order acknowledged.
    std::map<std::string, size_t> position;
    for (size_t i = 0; i < log.size(); ++i) {
      EXPECT_TRUE(position.emplace(log[i].id, i).second) << "event id twice in the log: " << log[i].id;
    }
    size_t previous = 0;
    for (const std::string& id : s.acked) {
      auto it = position.find(id);
      EXPECT_NE(it, position.end()) << "acknowledged event " << id << " is not in the log";
      if (it == position.end()) continue;
      EXPECT_GE(it->second, previous) << "acknowledged events out of order";
      previous = it->second;
    }
    size_t messages = 0;
    for (const LoggedEvent& e : log) messages += e.type == "user.message" ? 1 : 0;
    EXPECT_EQ(messages, s.acked.size()) << "user messages in the log that were never acknowledged";

    // The last user message is followed by its turn's end.
    size_t last_message = 0;
    for (size_t i = 0; i < log.size(); ++i) {
      if (log[i].type == "user.message") last_message = i;
    }
    bool ended = false;
    for (size_t i = last_message; i < log.size(); ++i) {
      ended = ended || (log[i].type == "session.status_idle" && log[i].stop_reason == "end_turn");
    }
    EXPECT_TRUE(ended) << "no session.status_idle end_turn after the last user.message";

    // The stream, across reconnects, is exactly the log: same events, same order, no gap, no duplicate.
    const Frames streamed = Seen(s);
    EXPECT_EQ(streamed.size(), log_frames.size()) << "over " << s.connections << " connections";
    for (size_t i = 0; i < std::min(streamed.size(), log_frames.size()); ++i) {
      if (streamed[i].id != log_frames[i].id || streamed[i].event != log_frames[i].event) {
        ADD_FAILURE() << "stream and log differ at index " << i << ": streamed " << streamed[i].event << " "
                      << streamed[i].id << ", logged " << log_frames[i].event << " " << log_frames[i].id;
        break;
      }
      EXPECT_TRUE(absl::StrContains(streamed[i].data, absl::StrCat("\"id\":\"", streamed[i].id, "\"")));
    }

    // Tools: each call ran at most once, and exactly once when the log says it ran.
    std::map<std::string, std::string> marker_of_use;  // tool_use id -> "call-<k>"
    std::map<std::string, int> uses_per_marker;
    std::set<std::string> started;  // tool_use ids with a wake.tool_started marker
    for (const LoggedEvent& e : log) {
      if (e.type == "agent.tool_use") {
        const size_t at = e.command.find("call-");
        ASSERT_NE(at, std::string::npos) << e.command;
        const std::string marker = e.command.substr(at, e.command.find(' ', at) - at);
        marker_of_use[e.id] = marker;
        EXPECT_EQ(++uses_per_marker[marker], 1) << marker << ": the model's tool call is twice in the log";
      }
      if (e.type == "wake.tool_started") started.insert(e.tool_use_id);
      if (e.type == "span.model_request_start") ++retried_model_requests;
      if (e.type == "span.model_request_end") --retried_model_requests;
      if (e.type == "wake.harness_woke") ++wakes;
    }
    std::map<std::string, int> lines;
    {
      std::ifstream in(absl::StrCat(data_, "/hands/", s.id, "/calls.txt"));
      std::string line;
      while (std::getline(in, line)) ++lines[line];
    }
    std::set<std::string> results;
    for (const LoggedEvent& e : log) {
      if (e.type != "agent.tool_result") continue;
      auto use = marker_of_use.find(e.tool_use_id);
      ASSERT_NE(use, marker_of_use.end()) << "a tool result for no tool call: " << e.tool_use_id;
      EXPECT_TRUE(results.insert(e.tool_use_id).second) << use->second << ": two results for one call";
      const int ran = lines[use->second];
      if (!e.is_error) {
        EXPECT_EQ(ran, 1) << use->second << ": the log says it ran once; its line is in calls.txt " << ran
                          << " times";
        EXPECT_TRUE(absl::StrContains(e.text, "ran ")) << e.text;
      } else {
        // Rule 3: a bash call cut short by the crash is reported as interrupted, not re-run.
        ++interrupted_tools;
        EXPECT_TRUE(absl::StrContains(e.text, "interrupted")) << use->second << ": " << e.text;
        EXPECT_LE(ran, 1) << use->second << ": an interrupted call ran " << ran << " times";
        EXPECT_TRUE(started.contains(e.tool_use_id))
            << use->second << ": reported interrupted, but the log has no wake.tool_started for it";
      }
    }
    EXPECT_EQ(results.size(), marker_of_use.size()) << "tool calls without a result";
    for (const auto& [marker, n] : lines) {
      EXPECT_LE(n, 1) << marker << " ran " << n << " times";
      EXPECT_EQ(uses_per_marker.count(marker), 1u) << marker << " ran but the log has no call for it";
    }
  }
  std::fprintf(stderr,
               "%zu kills, %d waked starts; %zu tool calls reported interrupted, %zu model requests without an "
               "end (retried), %zu wakes\n",
               kills_.size(), waked_->starts(), interrupted_tools, retried_model_requests, wakes);
  // The kills right after wake.tool_started land while `sleep 0.3` runs, so some call is cut short.
  EXPECT_GE(interrupted_tools, 1u) << "no kill landed while a tool ran";

  for (Session& s : sessions_) s.stream.reset();
  std::optional<int> stopped = waked_->Stop();
  ASSERT_TRUE(stopped.has_value()) << "waked did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << "waked exit status " << *stopped;

  const std::string verify_out = dir_ + "/verify.out";
  const pid_t verify = Spawn({g_wakectl, "--data", data_, "verify", "--all"}, verify_out, verify_out);
  ASSERT_GT(verify, 0);
  std::optional<int> verified = WaitExit(verify, absl::Seconds(120));
  if (!verified) kill(verify, SIGKILL);
  ASSERT_TRUE(verified.has_value()) << "wakectl verify did not finish";
  EXPECT_TRUE(WIFEXITED(*verified) && WEXITSTATUS(*verified) == 0)
      << "wakectl verify --all: status " << *verified << "\n" << Tail(ReadFile(verify_out));
}

}  // namespace
}  // namespace wake

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--waked") == 0) wake::g_waked = argv[++i];
    else if (std::strcmp(argv[i], "--wakectl") == 0) wake::g_wakectl = argv[++i];
  }
  signal(SIGPIPE, SIG_IGN);
  return RUN_ALL_TESTS();
}
