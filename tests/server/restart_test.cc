// Crash recovery of waked as a real process: several sessions run scripted turns whose tools are
// bash commands on real hands (local work dirs, or Docker containers with --backend docker), and
// waked is killed with SIGKILL again and again in the middle of those turns, then restarted on the
// same data dir. A libcurl client sends the user messages and follows every session's event stream,
// reconnecting with Last-Event-ID after each restart.
//
// What it proves, against the rules in DESIGN.md ("Rules that make crash recovery correct"):
//  - every session finishes all its turns (session.status_idle with end_turn after its last
//    user.message), so nothing is left behind by a crash;
//  - every event the API acknowledged is in the log (acknowledged means durable);
//  - each session's stream, across all reconnects, is exactly the log in order: no gap, no duplicate;
//  - no tool ran twice: each bash call appends a line to a file in the session's work dir (inside
//    the hand: in a container it is read back by a last `read` tool call of the session, whose
//    result is in the log), and a call the log says succeeded left exactly one line, one the log
//    says was interrupted by the crash (rule 3: bash is not idempotent, so it is not re-run) left at
//    most one;
//  - `wakectl verify --all` finds nothing wrong with the store afterwards;
//  - with docker hands, every session kept its one container across the restarts (re-attached, never
//    lost), only one hand agent runs in it at the end (those of the killed waked processes exited
//    with their connections), and archiving the sessions removed them all: no container of the
//    test's data dir is left.
// waked restarts under the same worker id, so the sessions a killed waked was running are taken over
// at once; each round still puts only a few fresh sessions in flight, so every kill lands in a
// different mix of phases.
//
// usage (ctest passes the first two):
//   restart_test --waked PATH --wakectl PATH [--backend local|docker] [--kills N] [gtest flags]
// --backend docker needs a Docker daemon on $WAKE_DOCKER_SOCKET (default /var/run/docker.sock) with
// the image $WAKE_DOCKER_IMAGE (default wake-test-busybox:latest; scripts/services/docker.sh).

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
#include "curl/curl.h"
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
// The hand backend the sessions' environment names: "local" or "docker".
std::string g_backend = "local";
size_t g_kills = 6;

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}
const std::string g_docker_socket = EnvOr("WAKE_DOCKER_SOCKET", "/var/run/docker.sock");
const std::string g_docker_image = EnvOr("WAKE_DOCKER_IMAGE", "wake-test-busybox:latest");

constexpr size_t kSessions = 12;
// Messages sent per round of kills: each round puts only a few fresh sessions in flight and the
// others stay ready, so the kills land in different mixes of phases.
constexpr size_t kSessionsPerRound = 2;
// Each user message gets three model turns: two with a bash call each, then an answer.
constexpr size_t kModelTurnsPerMessage = 3;
// Generous bounds for waits (a docker hand is re-attached after each restart, its agent started
// again; an ASan build is slower).
constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kTriggerTimeout = absl::Seconds(120);
constexpr absl::Duration kFinishTimeout = absl::Seconds(240);

// User messages with tool calls per session: the first one, enough for every round of kills to
// find idle sessions to send to, and one to spare. After them each session gets one more message,
// the report, whose turn reads the calls file back with the `read` tool.
size_t WorkMessages() {
  return std::max<size_t>(4, 2 + (g_kills * kSessionsPerRound + kSessions - 1) / kSessions);
}
size_t AllMessages() { return WorkMessages() + 1; }
size_t MaxRounds() { return g_kills * 3 + 2; }

// One request to the Docker Engine API on its unix socket: the status (0 when the transfer failed)
// and the body.
std::pair<long, std::string> DockerCall(const std::string& method, const std::string& target) {
  std::pair<long, std::string> out{0, ""};
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return out;
  const std::string url = "http://docker/v1.41" + target;
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, g_docker_socket.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* body) {
    static_cast<std::string*>(body)->append(data, size * n);
    return size * n;
  });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.second);
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.first);
  curl_easy_cleanup(curl);
  return out;
}

// The ids of the containers (running or not) labelled with waked's data dir label for `data_dir`.
std::vector<std::string> ContainersOf(const std::string& data_dir, std::string* error) {
  std::string filter = absl::StrCat(R"({"label":["wake.data=)", data_dir, R"("]})");
  char* escaped = curl_easy_escape(nullptr, filter.c_str(), static_cast<int>(filter.size()));
  auto [status, body] = DockerCall("GET", absl::StrCat("/containers/json?all=true&filters=", escaped));
  curl_free(escaped);
  std::vector<std::string> ids;
  simdjson::dom::parser parser;
  simdjson::dom::array list;
  if (status != 200 || parser.parse(body).get(list)) {
    *error = absl::StrCat("GET /containers/json: ", status, " ", body);
    return ids;
  }
  for (simdjson::dom::element c : list) {
    std::string_view id;
    if (!c["Id"].get_string().get(id)) ids.emplace_back(id);
  }
  return ids;
}

// The only place that knows waked's command line (API key options are changing: waked with
// --no-auth in its usage serves without keys when given it; an older waked serves without keys when
// given none).
std::vector<std::string> WakedArgs(const std::string& data_dir, bool has_no_auth_flag) {
  std::vector<std::string> args = {g_waked, "--data", data_dir, "--host", "127.0.0.1", "--port", "0", "--workers", "8"};
  if (g_backend == "docker") {
    for (const std::string& a : {std::string("--docker-socket"), g_docker_socket, std::string("--docker-image"),
                                 g_docker_image}) {
      args.push_back(a);
    }
  } else {
    args.push_back("--no-docker");
  }
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
  std::string name;          // agent.tool_use
  std::string command;       // agent.tool_use: input.command
  std::string backend;       // wake.hand_*
  std::string hand_id;       // wake.hand_*: the directory, the container id
  std::string reason;        // wake.hand_lost
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
  if (!e["name"].get_string().get(s)) out.name = std::string(s);
  if (!e["input"]["command"].get_string().get(s)) out.command = std::string(s);
  if (!e["backend"].get_string().get(s)) out.backend = std::string(s);
  if (!e["hand_id"].get_string().get(s)) out.hand_id = std::string(s);
  if (!e["reason"].get_string().get(s)) out.reason = std::string(s);
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
    // Absolute, as waked labels its containers with it.
    dir_ = std::filesystem::absolute(tmpl).string();
    data_ = dir_ + "/data";
    waked_ = std::make_unique<Waked>(dir_, data_);
    if (g_backend == "docker") {
      const auto [status, body] = DockerCall("GET", "/_ping");
      ASSERT_EQ(status, 200) << "no Docker daemon answers on " << g_docker_socket
                             << " (scripts/services/docker.sh starts one): " << body;
      const auto [image, answer] = DockerCall("GET", absl::StrCat("/images/", g_docker_image, "/json"));
      ASSERT_EQ(image, 200) << "the image " << g_docker_image
                            << " is not on the daemon (scripts/services/docker.sh imports it): " << answer;
    }
  }
  void TearDown() override {
    for (Session& s : sessions_) s.stream.reset();
    waked_.reset();
    if (g_backend == "docker") {
      // Whatever the test left (it archives its sessions, which removes their containers, unless it
      // failed first): nothing of this data dir stays on the daemon.
      std::string error;
      for (const std::string& id : ContainersOf(data_, &error)) {
        DockerCall("DELETE", absl::StrCat("/containers/", id, "?force=true&v=true"));
      }
    }
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
        LoggedEvent unparsable;
        unparsable.type = f.event;
        unparsable.id = f.id;
        unparsable.stop_reason = "unparsable";
        out.push_back(std::move(unparsable));
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

  // Sends the next message to (up to `limit`) sessions whose turn is over and that have fewer than
  // `messages` sent, those that had fewer first.
  size_t SendToIdleSessions(size_t messages, size_t limit = SIZE_MAX) {
    std::vector<Session*> ready;
    for (Session& s : sessions_) {
      if (s.sent < messages && TurnDone(s)) ready.push_back(&s);
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
  for (size_t m = 0; m < WorkMessages(); ++m) {
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
  // The report: the calls file read back from inside the hand (read is idempotent: a crash before
  // its result re-runs it); in a container also its processes, to count the hand agents.
  turns += R"(,{"text":"report","tool_calls":[{"name":"read","input":{"file_path":"calls.txt"}})";
  if (g_backend == "docker") turns += R"(,{"name":"bash","input":{"command":"ps"}})";
  turns += R"(]},{"text":"reported"})";
  return absl::StrCat(R"({"turns":[)", turns, "]}");
}

// The lines of a `read` tool result ("<number>\t<line>" each), counted.
std::map<std::string, int> CountReadLines(const std::string& text) {
  std::map<std::string, int> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t tab = line.find('\t');
    if (tab != std::string::npos) ++lines[line.substr(tab + 1)];
  }
  return lines;
}

TEST_F(RestartTest, SessionsSurviveKillNineMidTurn) {
  const std::string script = dir_ + "/script.json";
  std::ofstream(script) << Script();
  StartWaked();
  HttpResponse agent = Post("/v1/agents", absl::StrCat(R"({"name":"restart","model":"scripted:)", script,
                                                         R"(","tools":[{"type":"agent_toolset_20260401"}]})"));
  ASSERT_EQ(agent.status, 200) << agent.body;
  HttpResponse env = Post("/v1/environments", absl::StrCat(R"({"name":")", g_backend, R"(","config":{"type":")",
                                                           g_backend, R"("}})"));
  ASSERT_EQ(env.status, 200) << env.body;
  const std::string session_body =
      absl::StrCat(R"({"agent":")", agent.Str("/id"), R"(","environment_id":")", env.Str("/id"), R"("})");
  auto new_session = [&] {
    HttpResponse r = Post("/v1/sessions", session_body);
    EXPECT_EQ(r.status, 200) << r.body;
    Session s;
    s.id = r.Str("/id");
    sessions_.push_back(std::move(s));
    return r.status == 200;
  };
  for (size_t i = 0; i < kSessions; ++i) ASSERT_TRUE(new_session());
  // Streams open before anything is sent: a stream without Last-Event-ID starts at the log's head.
  for (Session& s : sessions_) Connect(s);
  // Each stream has at least one frame before the first kill, so every reconnect can name one: the
  // first turns run without kills.
  for (Session& s : sessions_) SendNext(s);
  for (Session& s : sessions_) {
    ASSERT_TRUE(WaitUntil([&] { return TurnDone(s); }, absl::Seconds(60))) << s.stream->body();
  }

  // Kills at different points of a turn, in turn: a tool running (its `sleep 0.3` just started, or
  // the hand being re-attached after a restart), a tool call just decided (the tool is about to
  // start), a tool result just written (the next model request), a user message just acknowledged
  // (the wake: lease, context, model request), a random moment while tools run, and a new
  // session's first tool call (its hand being provisioned: for docker, a container created,
  // started, the hand agent copied in and started).
  std::mt19937 rng(20261122);
  const std::vector<std::string> kinds = {"tool running", "tool decided", "after tool result", "after ack",
                                          "random", "first call"};
  size_t round = 0;
  const absl::Time kills_started = absl::Now();
  size_t kills_while_provisioning = 0;
  while (kills_.size() < g_kills && round < MaxRounds()) {
    const std::string& kind = kinds[round++ % kinds.size()];
    const size_t sent = SendToIdleSessions(WorkMessages(), kSessionsPerRound);
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
    } else if (kind == "first call") {
      ASSERT_TRUE(new_session());
      Session& fresh = sessions_.back();
      Connect(fresh);
      SendNext(fresh);
      if (HasFatalFailure()) return;
      triggered = fresh.stream->WaitFor(
          [](const Frames& frames) {
            return std::any_of(frames.begin(), frames.end(),
                               [](const SseClient::Frame& f) { return f.event == "wake.tool_started"; });
          },
          kTriggerTimeout);
      if (triggered) absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(0, 300)(rng)));
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
    if (kind == "first call") {
      // Whether the kill came before the new session's hand was provisioned (for docker: while its
      // container was being created, started or given its agent), as the stream showed it.
      const Frames& seen = sessions_.back().seen;
      const bool provisioned = std::any_of(seen.begin(), seen.end(), [](const SseClient::Frame& f) {
        return f.event == "wake.hand_provisioned";
      });
      kills_while_provisioning += provisioned ? 0 : 1;
    }
  }
  ASSERT_EQ(kills_.size(), g_kills) << "too few rounds had a turn in flight to kill";
  const absl::Duration killing = absl::Now() - kills_started;

  // Now let every session finish all its messages, the report last, with no more kills.
  const absl::Time deadline = absl::Now() + kFinishTimeout;
  while (absl::Now() < deadline) {
    // The report goes only to sessions done with their work, so it reads every call's line.
    SendToIdleSessions(WorkMessages());
    SendToIdleSessions(AllMessages());
    if (HasFatalFailure()) return;
    bool all = true;
    for (const Session& s : sessions_) all = all && s.sent == AllMessages() && TurnDone(s);
    if (all) break;
    absl::SleepFor(absl::Milliseconds(10));
  }

  size_t interrupted_tools = 0;
  size_t retried_model_requests = 0;
  size_t wakes = 0;
  size_t events_verified = 0;
  size_t acked_verified = 0;
  size_t bash_calls = 0;
  size_t provisioned = 0;  // wake.hand_provisioned events: the first, then one per re-attach
  size_t sandboxes = 0;
  size_t hands_lost = 0;
  for (Session& s : sessions_) {
    SCOPED_TRACE(s.id);
    EXPECT_EQ(s.sent, AllMessages());
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
    events_verified += log.size();
    acked_verified += s.acked.size();

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

    // Tools: each call ran at most once, and exactly once when the log says it ran. The calls file
    // is counted from the report's `read` result (the hand's own view: in a container, the only one).
    std::map<std::string, std::string> marker_of_use;  // tool_use id -> "call-<k>"
    std::map<std::string, int> uses_per_marker;
    std::set<std::string> started;  // tool_use ids with a wake.tool_started marker
    std::string report_use;         // the tool_use id of the report's read
    std::string ps_use;             // and of its ps (docker)
    std::set<std::string> hand_ids;  // the sandboxes the session's hand_provisioned events name
    for (const LoggedEvent& e : log) {
      if (e.type == "agent.tool_use" && e.name == "read") {
        EXPECT_TRUE(report_use.empty()) << "two report calls in the log";
        report_use = e.id;
      } else if (e.type == "agent.tool_use" && e.command == "ps") {
        ps_use = e.id;
      } else if (e.type == "agent.tool_use") {
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
      if (e.type == "wake.hand_provisioned") {
        EXPECT_EQ(e.backend, g_backend) << "a hand of another backend";
        ++provisioned;
        hand_ids.insert(e.hand_id);
      }
      if (e.type == "wake.hand_lost") {
        ++hands_lost;
        ADD_FAILURE() << "the hand was lost (its calls file with it): " << e.reason;
      }
    }
    // One sandbox for the whole session: every restart found it again (re-attached).
    EXPECT_EQ(hand_ids.size(), 1u) << "the session's calls ran in more than one sandbox";
    sandboxes += hand_ids.size();
    ASSERT_FALSE(report_use.empty()) << "the session has no report call";
    std::map<std::string, int> lines;
    std::set<std::string> results;
    for (const LoggedEvent& e : log) {
      if (e.type != "agent.tool_result" || e.tool_use_id != report_use) continue;
      EXPECT_FALSE(e.is_error) << "the report failed: " << e.text;
      lines = CountReadLines(e.text);
      results.insert(e.tool_use_id);
    }
    ASSERT_EQ(results.size(), 1u) << "the report call has no result";
    if (g_backend == "docker") {
      // The hand agents of the killed waked processes exited with their connections (and killed what
      // they ran): the container has one, the one that serves the restarted waked.
      ASSERT_FALSE(ps_use.empty()) << "the session has no ps call";
      for (const LoggedEvent& e : log) {
        if (e.type != "agent.tool_result" || e.tool_use_id != ps_use) continue;
        EXPECT_FALSE(e.is_error) << "ps failed: " << e.text;
        size_t agents = 0;
        std::istringstream processes(e.text);
        for (std::string line; std::getline(processes, line);) agents += absl::StrContains(line, "/.wake-hand-agent") ? 1 : 0;
        EXPECT_EQ(agents, 1u) << "hand agents in the container:\n" << e.text;
        results.insert(e.tool_use_id);
      }
      ASSERT_EQ(results.size(), 2u) << "the ps call has no result";
    }
    if (g_backend == "local") {
      // The hand's view and the host's agree.
      std::map<std::string, int> on_disk;
      std::ifstream in(absl::StrCat(data_, "/hands/", s.id, "/calls.txt"));
      for (std::string line; std::getline(in, line);) ++on_disk[line];
      EXPECT_EQ(on_disk, lines) << "the report and the file on disk differ";
    }
    for (const LoggedEvent& e : log) {
      if (e.type != "agent.tool_result" || e.tool_use_id == report_use || e.tool_use_id == ps_use) continue;
      auto use = marker_of_use.find(e.tool_use_id);
      ASSERT_NE(use, marker_of_use.end()) << "a tool result for no tool call: " << e.tool_use_id;
      EXPECT_TRUE(results.insert(e.tool_use_id).second) << use->second << ": two results for one call";
      const int ran = lines[use->second];
      ++bash_calls;
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
    EXPECT_EQ(results.size(), marker_of_use.size() + (g_backend == "docker" ? 2 : 1)) << "tool calls without a result";
    for (const auto& [marker, n] : lines) {
      EXPECT_LE(n, 1) << marker << " ran " << n << " times";
      EXPECT_EQ(uses_per_marker.count(marker), 1u) << marker << " ran but the log has no call for it";
    }
  }
  std::fprintf(stderr,
               "%s hands: %zu kills in %.1f s, %d waked starts; %zu sessions, %zu events verified (%zu acknowledged); "
               "%zu bash calls, %zu reported interrupted; %zu model requests without an end (retried), %zu wakes; "
               "%zu sandboxes, %zu hand_provisioned events (re-attaches included), %zu lost; %zu kills while a "
               "new session's first hand was provisioned\n",
               g_backend.c_str(), kills_.size(), absl::ToDoubleSeconds(killing), waked_->starts(), sessions_.size(),
               events_verified, acked_verified, bash_calls, interrupted_tools, retried_model_requests, wakes,
               sandboxes, provisioned, hands_lost, kills_while_provisioning);
  // The kills right after wake.tool_started land while `sleep 0.3` runs, so some call is cut short.
  EXPECT_GE(interrupted_tools, 1u) << "no kill landed while a tool ran";

  for (Session& s : sessions_) s.stream.reset();
  // Archiving a session releases its hand (for docker: removes its container).
  for (const Session& s : sessions_) {
    HttpResponse r = Post(absl::StrCat("/v1/sessions/", s.id, "/archive"), "");
    EXPECT_EQ(r.status, 200) << r.body;
  }
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

  if (g_backend == "docker") {
    std::string error;
    const std::vector<std::string> left = ContainersOf(data_, &error);
    EXPECT_TRUE(error.empty()) << error;
    EXPECT_TRUE(left.empty()) << left.size() << " containers of the test's data dir are left, e.g. " << left[0];
  }
}

}  // namespace
}  // namespace wake

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--waked") == 0) wake::g_waked = argv[++i];
    else if (std::strcmp(argv[i], "--wakectl") == 0) wake::g_wakectl = argv[++i];
    else if (std::strcmp(argv[i], "--backend") == 0) wake::g_backend = argv[++i];
    else if (std::strcmp(argv[i], "--kills") == 0) wake::g_kills = std::strtoul(argv[++i], nullptr, 10);
  }
  if (wake::g_backend != "local" && wake::g_backend != "docker") {
    std::fprintf(stderr, "restart_test: --backend must be local or docker, not %s\n", wake::g_backend.c_str());
    return 2;
  }
  if (wake::g_kills == 0) {
    std::fprintf(stderr, "restart_test: --kills must be a positive number\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);
  return RUN_ALL_TESTS();
}
