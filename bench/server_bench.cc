// server_bench: wake's HTTP/SSE server under many concurrent sessions, end to end over the loopback.
// An in-process Engine (durable RocksDB log in a temp dir, the scripted brain, local hands) behind
// StartServer; libcurl clients, one SSE stream and one driver thread per session, as an SDK would:
// send a user.message (POST /events), follow /events/stream until session.status_idle, repeat.
//
// Workloads, each on a fresh engine and data dir:
//   tools    every turn: a model turn with one bash call (`true`, on the session's local hand), the
//            tool's result, a model turn that ends it. Sustained turns/s; user.message accepted
//            (POST answered) -> first event the engine streams back (session.status_running) and
//            -> first agent event (agent.message); accepted -> session.status_idle (the turn).
//   notool   every turn: one model turn that ends it, no tool. The scripted model answers in
//            microseconds, so the turn's time is the engine's and the server's own overhead per turn:
//            HTTP in, the durable append, scheduling, the wake (lease, log read, context), the model
//            turn's append, the frames out.
//   idle     memory: RSS growth for S sessions that each had one `tools` turn and are now idle
//            (streams closed), after malloc_trim on both sides of the measurement.
// The client runs in the same process on the same cores: its CPU is part of what is measured.
//
// Options: --think-ms P makes each session wait uniform [0, 2P] ms before each message (without it
// every session sends its next message as soon as its turn ends: a saturated closed loop, whose
// latency is the queue's, sessions / throughput); --waked PATH serves from a waked process instead of
// an in-process server (then CPU and RSS are waked's, tools included, and the client has its own
// process; no malloc_trim in waked, so its RSS growth is an upper bound); --buffered opens the
// in-process engine's log with Durability::kBuffered (acknowledged before fsync), to see how much of
// a turn is waiting for the disk.
//
// usage: server_bench [--sessions N] [--turns T] [--idle-sessions S] [--workers W] [--think-ms MS]
//                     [--workloads idle,tools,notool] [--waked PATH] [--dir DIR]

#include <malloc.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "sandbox/local/local_hand.h"
#include "server/server.h"

namespace wake {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Flags {
  size_t sessions = 100;
  size_t turns = 20;
  size_t idle_sessions = 1000;
  size_t workers = 8;  // waked's default
  std::string workloads = "idle,tools,notool";
  std::string dir = "/tmp/wake-server-bench";
  double think_ms = 0;  // each session waits uniform [0, 2 * think_ms] before each message
  std::string waked;    // serve from this waked binary (a process of its own) instead of in-process
  bool buffered = false;  // in-process only: the log acknowledges before fsync (Durability::kBuffered)
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return v[i];
}

size_t RssKiB(const std::string& pid = "self") {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) return std::stoul(line.substr(6));
  }
  return 0;
}

// CPU seconds of this process and its reaped children (the tools the local hands ran).
double CpuSeconds() {
  double total = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage u{};
    getrusage(who, &u);
    total += static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
             static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  }
  return total;
}

// The same for another process: utime, stime, cutime, cstime of /proc/<pid>/stat.
double CpuSecondsOf(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  // Fields from the state (field 3); utime is field 14.
  double ticks = 0;
  for (size_t f = 14; f <= 17; ++f) ticks += std::stod(fields[f - 3]);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// --- the client ------------------------------------------------------------------------------------

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// POSTs on one connection (kept alive); one per driver thread.
class Poster {
 public:
  Poster() : curl_(curl_easy_init()) {
    headers_ = curl_slist_append(nullptr, "content-type: application/json");
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &body_);
  }
  ~Poster() {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }
  // The status (0 when the transfer failed); the body in body().
  long Post(const std::string& url, const std::string& body) {
    body_.clear();
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    if (curl_easy_perform(curl_) != CURLE_OK) return 0;
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    return status;
  }
  const std::string& body() const { return body_; }

 private:
  CURL* curl_;
  curl_slist* headers_;
  std::string body_;
};

// One session's event stream on a thread of its own; frame types with their arrival times.
class Stream {
 public:
  struct Frame {
    std::string type;
    Clock::time_point at;
  };

  explicit Stream(const std::string& url) {
    thread_ = std::thread([this, url] {
      CURL* curl = curl_easy_init();
      curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
      curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnData);
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
      curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
      curl_easy_setopt(curl, CURLOPT_HEADERDATA, this);
      curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
      curl_easy_setopt(curl, CURLOPT_XFERINFODATA, this);
      curl_easy_setopt(curl, CURLOPT_SOCKOPTFUNCTION, OnSocket);
      curl_easy_setopt(curl, CURLOPT_SOCKOPTDATA, this);
      curl_easy_perform(curl);
      curl_easy_cleanup(curl);
      std::lock_guard lock(mu_);
      ended_ = true;
      head_ = true;
      cv_.notify_all();
    });
  }
  ~Stream() {
    RequestStop();
    thread_.join();
  }
  // Ends the transfer now (libcurl would only look at the flag about once a second while idle).
  void RequestStop() {
    stop_ = true;
    if (const int fd = fd_.load(); fd >= 0) shutdown(fd, SHUT_RDWR);
  }

  bool WaitForHead() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return head_; }) && !ended_;
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return frames_.size();
  }
  // Waits for a frame of `type` at index >= from; its index, or SIZE_MAX after 60 s or the end.
  size_t WaitFor(const std::string& type, size_t from) {
    std::unique_lock lock(mu_);
    size_t found = SIZE_MAX;
    cv_.wait_for(lock, std::chrono::seconds(60), [&] {
      for (size_t i = from; i < frames_.size(); ++i) {
        if (frames_[i].type == type) {
          found = i;
          return true;
        }
      }
      return ended_;
    });
    return found;
  }
  std::vector<Frame> frames() {
    std::lock_guard lock(mu_);
    return frames_;
  }

 private:
  static size_t OnHeader(char*, size_t size, size_t n, void* self_ptr) {
    Stream* self = static_cast<Stream*>(self_ptr);
    if (size * n <= 2) {  // the blank line after the head
      std::lock_guard lock(self->mu_);
      self->head_ = true;
      self->cv_.notify_all();
    }
    return size * n;
  }
  static size_t OnData(char* data, size_t size, size_t n, void* self_ptr) {
    Stream* self = static_cast<Stream*>(self_ptr);
    const Clock::time_point now = Clock::now();
    if (self->stop_) return 0;
    self->pending_.append(data, size * n);
    bool any = false;
    while (true) {
      const size_t end = self->pending_.find("\n\n");
      if (end == std::string::npos) break;
      std::string_view block(self->pending_.data(), end);
      if (block.substr(0, 7) == "event: ") {
        const size_t eol = block.find('\n');
        std::lock_guard lock(self->mu_);
        self->frames_.push_back(Frame{std::string(block.substr(7, eol - 7)), now});
        any = true;
      }
      self->pending_.erase(0, end + 2);
    }
    if (any) self->cv_.notify_all();
    return size * n;
  }
  static int OnSocket(void* self_ptr, curl_socket_t fd, curlsocktype) {
    static_cast<Stream*>(self_ptr)->fd_ = fd;
    return CURL_SOCKOPT_OK;
  }
  static int OnProgress(void* self_ptr, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<Stream*>(self_ptr)->stop_ ? 1 : 0;
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> fd_{-1};
  std::string pending_;  // the curl thread's only
  std::mutex mu_;
  std::condition_variable cv_;
  bool head_ = false;
  bool ended_ = false;
  std::vector<Frame> frames_;
  std::thread thread_;
};

// --- one engine + server -----------------------------------------------------------------------------

class Stack {
 public:
  static std::unique_ptr<Stack> Start(const Flags& flags, const std::string& name) {
    auto stack = std::unique_ptr<Stack>(new Stack);
    stack->dir_ = absl::StrCat(flags.dir, "/", name);
    std::filesystem::remove_all(stack->dir_);
    std::filesystem::create_directories(stack->dir_);
    if (!flags.waked.empty()) return stack->StartWaked(flags) ? std::move(stack) : nullptr;
    LocalProviderOptions local;
    local.base_dir = stack->dir_ + "/hands";
    auto provider = NewLocalProvider(local);
    if (!provider.ok()) return Fail("local hands", provider.status());
    stack->local_ = *std::move(provider);
    EngineOptions options;
    options.data_dir = stack->dir_ + "/data";
    options.hand_providers = {{"local", stack->local_.get()}};
    options.workers = flags.workers;
    if (flags.buffered) options.durability = Durability::kBuffered;
    auto engine = Engine::Open(std::move(options));
    if (!engine.ok()) return Fail("engine", engine.status());
    stack->engine_ = *std::move(engine);
    stack->buffered_ = flags.buffered;
    ServerOptions server_options;
    server_options.max_sse_subscribers = 4096;
    server_options.log = [](std::string_view) {};  // formatted, then dropped (waked writes it to stderr)
    auto server = StartServer(stack->engine_.get(), std::move(server_options));
    if (!server.ok()) return Fail("server", server.status());
    stack->server_ = *std::move(server);
    stack->base_ = absl::StrCat("http://127.0.0.1:", stack->server_->port());
    return stack;
  }
  ~Stack() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      if (!WaitExit(absl::Seconds(60))) {
        kill(pid_, SIGKILL);
        WaitExit(absl::Seconds(10));
      }
    }
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
    local_.reset();
    std::filesystem::remove_all(dir_);
  }

  // An agent running `turns` user turns of the given kind, and an environment; their ids.
  bool Setup(bool tools, size_t turns) {
    std::string script;
    for (size_t t = 0; t < turns; ++t) {
      if (!script.empty()) script += ",";
      if (tools) {
        script += R"({"text":"running it","tool_calls":[{"name":"bash","input":{"command":"true"}}]},{"text":"done"})";
      } else {
        script += R"({"text":"done"})";
      }
    }
    const std::string path = dir_ + "/script.json";
    std::ofstream(path) << R"({"turns":[)" << script << "]}";
    Poster p;
    if (p.Post(base_ + "/v1/agents", absl::StrCat(R"({"name":"bench","model":"scripted:)", path,
                                                   R"(","tools":[{"type":"agent_toolset_20260401"}]})")) != 200) {
      std::fprintf(stderr, "agent: %s\n", p.body().c_str());
      return false;
    }
    agent_ = Field(p.body(), "id");
    if (p.Post(base_ + "/v1/environments", R"({"name":"local","config":{"type":"local"}})") != 200) return false;
    environment_ = Field(p.body(), "id");
    return true;
  }

  std::string NewSession(Poster& p) {
    if (p.Post(base_ + "/v1/sessions", absl::StrCat(R"({"agent":")", agent_, R"(","environment_id":")", environment_,
                                                    R"("})")) != 200) {
      return "";
    }
    return Field(p.body(), "id");
  }

  const std::string& base() const { return base_; }
  double Cpu() const { return pid_ > 0 ? CpuSecondsOf(pid_) : CpuSeconds(); }
  size_t Rss() const { return pid_ > 0 ? RssKiB(absl::StrCat(pid_)) : RssKiB(); }
  // Gives freed heap back to the OS (in-process only: waked's heap is its own business).
  void Trim() const {
    if (pid_ <= 0) malloc_trim(0);
  }
  const char* where() const {
    return pid_ > 0 ? "waked process" : buffered_ ? "in-process server, buffered log" : "in-process server";
  }

 private:
  Stack() = default;

  bool WaitExit(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  // Runs waked on a data dir of its own (port 0) and reads its URL from its output.
  bool StartWaked(const Flags& flags) {
    const std::string out = dir_ + "/waked.out";
    const std::string err = dir_ + "/waked.err";
    std::vector<std::string> argv = {flags.waked,  "--data",    dir_ + "/data", "--port", "0",
                                     "--no-docker", "--workers", absl::StrCat(flags.workers)};
    // Newer waked wants keys unless told --no-auth; older ones serve without keys when given none.
    {
      const std::string usage = dir_ + "/usage";
      const std::string cmd = absl::StrCat("'", flags.waked, "' --usage > '", usage, "' 2>&1");
      if (std::system(cmd.c_str()) == -1) return false;
      std::ifstream in(usage);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (absl::StrContains(text, "--no-auth")) argv.push_back("--no-auth");
    }
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out_fd < 0 || err_fd < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
      execv(args[0], args.data());
      _exit(127);
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      std::ifstream in(out);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const size_t at = text.find("listening on http://");
      const size_t end = at == std::string::npos ? at : text.find(' ', at + 13);
      if (end != std::string::npos) {
        base_ = text.substr(at + 13, end - at - 13);
        return true;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        std::fprintf(stderr, "server_bench: waked exited; see %s\n", err.c_str());
        return false;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    std::fprintf(stderr, "server_bench: waked printed no URL\n");
    return false;
  }
  static std::unique_ptr<Stack> Fail(const char* what, const absl::Status& status) {
    std::fprintf(stderr, "server_bench: %s: %s\n", what, std::string(status.message()).c_str());
    return nullptr;
  }
  // The first "key":"value" of a JSON body (ids of created resources come first).
  static std::string Field(const std::string& body, const std::string& key) {
    const std::string needle = absl::StrCat("\"", key, "\":\"");
    const size_t at = body.find(needle);
    if (at == std::string::npos) return "";
    const size_t start = at + needle.size();
    return body.substr(start, body.find('"', start) - start);
  }

  std::string dir_;
  std::string base_;
  std::string agent_;
  std::string environment_;
  std::unique_ptr<HandProvider> local_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
  pid_t pid_ = -1;
  bool buffered_ = false;
};

struct TurnSample {
  double first_event_ms = 0;  // accepted -> the first event after the user.message
  double first_agent_ms = 0;  // accepted -> the first agent.* event
  double turn_ms = 0;         // accepted -> session.status_idle
  bool event_before_ack = false;
};

// Runs `turns` turns on one session; false on any failure (printed).
bool DriveSession(Stack& stack, size_t turns, double think_ms, std::vector<TurnSample>* samples) {
  std::minstd_rand rng(std::random_device{}());
  std::uniform_real_distribution<double> think(0, 2 * think_ms);
  Poster p;
  const std::string id = stack.NewSession(p);
  if (id.empty()) {
    std::fprintf(stderr, "session: %s\n", p.body().c_str());
    return false;
  }
  Stream stream(absl::StrCat(stack.base(), "/v1/sessions/", id, "/events/stream"));
  if (!stream.WaitForHead()) {
    std::fprintf(stderr, "stream of %s did not open\n", id.c_str());
    return false;
  }
  const std::string url = absl::StrCat(stack.base(), "/v1/sessions/", id, "/events");
  for (size_t t = 0; t < turns; ++t) {
    if (think_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(think(rng)));
    const size_t from = stream.size();
    if (p.Post(url, R"({"events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}]})") != 200) {
      std::fprintf(stderr, "send: %s\n", p.body().c_str());
      return false;
    }
    const Clock::time_point accepted = Clock::now();
    const size_t idle = stream.WaitFor("session.status_idle", from);
    if (idle == SIZE_MAX) {
      std::fprintf(stderr, "session %s: no session.status_idle within 60 s\n", id.c_str());
      return false;
    }
    const std::vector<Stream::Frame> frames = stream.frames();
    TurnSample s;
    bool first = true;
    bool agent = true;
    for (size_t i = from; i <= idle; ++i) {
      const Stream::Frame& f = frames[i];
      if (f.type == "user.message") continue;
      const double ms = Ms(f.at - accepted);
      if (first) {
        s.first_event_ms = std::max(0.0, ms);
        s.event_before_ack = ms < 0;
        first = false;
      }
      if (agent && absl::StartsWith(f.type, "agent.")) {
        s.first_agent_ms = std::max(0.0, ms);
        agent = false;
      }
    }
    s.turn_ms = Ms(frames[idle].at - accepted);
    samples->push_back(s);
  }
  stream.RequestStop();
  return true;
}

void Report(const char* name, const std::vector<TurnSample>& samples, double seconds, double cpu, size_t sessions,
            double think_ms, const char* where) {
  std::vector<double> first, agent, turn;
  size_t before_ack = 0;
  for (const TurnSample& s : samples) {
    first.push_back(s.first_event_ms);
    agent.push_back(s.first_agent_ms);
    turn.push_back(s.turn_ms);
    before_ack += s.event_before_ack ? 1 : 0;
  }
  std::printf("%s (%s, think %.0f ms): %zu sessions, %zu turns in %.2f s = %.0f turns/s; CPU %.2f s (%.2f cores, "
              "%.3f ms/turn)\n",
              name, where, think_ms, sessions, samples.size(), seconds, static_cast<double>(samples.size()) / seconds,
              cpu, cpu / seconds, cpu * 1000 / static_cast<double>(samples.size()));
  std::printf("  accepted -> first event (session.status_running): p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
              Percentile(first, 50), Percentile(first, 99), Percentile(first, 100));
  std::printf("  accepted -> first agent event (agent.message):    p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
              Percentile(agent, 50), Percentile(agent, 99), Percentile(agent, 100));
  std::printf("  accepted -> session.status_idle (the turn):        p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
              Percentile(turn, 50), Percentile(turn, 99), Percentile(turn, 100));
  std::printf("  (%zu turns had their first event on the stream before the POST's answer: counted as 0 ms)\n",
              before_ack);
  std::fflush(stdout);
}

bool RunConcurrent(const Flags& flags, bool tools) {
  const char* name = tools ? "tools" : "notool";
  std::unique_ptr<Stack> stack = Stack::Start(flags, name);
  if (!stack || !stack->Setup(tools, flags.turns)) return false;
  std::vector<std::vector<TurnSample>> samples(flags.sessions);
  std::atomic<bool> ok{true};
  const double cpu0 = stack->Cpu();
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> drivers;
  for (size_t i = 0; i < flags.sessions; ++i) {
    drivers.emplace_back([&, i] {
      if (!DriveSession(*stack, flags.turns, flags.think_ms, &samples[i])) ok = false;
    });
  }
  for (std::thread& t : drivers) t.join();
  const double seconds = Ms(Clock::now() - start) / 1000;
  const double cpu = stack->Cpu() - cpu0;
  if (!ok) return false;
  std::vector<TurnSample> all;
  for (const auto& s : samples) all.insert(all.end(), s.begin(), s.end());
  Report(name, all, seconds, cpu, flags.sessions, flags.think_ms, stack->where());
  return true;
}

bool RunIdle(const Flags& flags) {
  std::unique_ptr<Stack> stack = Stack::Start(flags, "idle");
  if (!stack || !stack->Setup(/*tools=*/true, 1)) return false;
  // Warm up: a few sessions' turns, so thread pools, caches and arenas exist before the baseline.
  constexpr size_t kWarm = 20;
  constexpr size_t kConcurrency = 20;
  auto run = [&](size_t n) {
    std::atomic<size_t> next{0};
    std::atomic<bool> ok{true};
    std::vector<std::thread> threads;
    for (size_t c = 0; c < kConcurrency; ++c) {
      threads.emplace_back([&] {
        std::vector<TurnSample> samples;
        while (next.fetch_add(1) < n) {
          if (!DriveSession(*stack, 1, 0, &samples)) ok = false;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    return ok.load();
  };
  if (!run(kWarm)) return false;
  stack->Trim();
  const size_t before = stack->Rss();
  const Clock::time_point start = Clock::now();
  if (!run(flags.idle_sessions)) return false;
  const double seconds = Ms(Clock::now() - start) / 1000;
  stack->Trim();
  const size_t after = stack->Rss();
  const double grown = static_cast<double>(after) - static_cast<double>(before);
  std::printf("idle (%s): %zu sessions with one tools turn each (%zu at a time, %.1f s); RSS %.1f -> %.1f MiB: "
              "+%.1f MiB, %.1f KiB per idle session\n",
              stack->where(), flags.idle_sessions, kConcurrency, seconds, static_cast<double>(before) / 1024,
              static_cast<double>(after) / 1024, grown / 1024, grown / static_cast<double>(flags.idle_sessions));
  std::fflush(stdout);
  return true;
}

}  // namespace
}  // namespace wake

int main(int argc, char** argv) {
  wake::Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--sessions" && has_value) {
      flags.sessions = std::stoul(argv[++i]);
    } else if (arg == "--turns" && has_value) {
      flags.turns = std::stoul(argv[++i]);
    } else if (arg == "--idle-sessions" && has_value) {
      flags.idle_sessions = std::stoul(argv[++i]);
    } else if (arg == "--workers" && has_value) {
      flags.workers = std::stoul(argv[++i]);
    } else if (arg == "--workloads" && has_value) {
      flags.workloads = argv[++i];
    } else if (arg == "--think-ms" && has_value) {
      flags.think_ms = std::stod(argv[++i]);
    } else if (arg == "--buffered") {
      flags.buffered = true;
    } else if (arg == "--waked" && has_value) {
      flags.waked = argv[++i];
    } else if (arg == "--dir" && has_value) {
      flags.dir = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: server_bench [--sessions N] [--turns T] [--idle-sessions S] [--workers W]\n"
                   "                    [--think-ms MS] [--workloads idle,tools,notool] [--waked PATH | --buffered]\n"
                   "                    [--dir DIR]\n");
      return 2;
    }
  }
  curl_global_init(CURL_GLOBAL_ALL);
  std::printf("server_bench: workers %zu, %u cores online\n", flags.workers, std::thread::hardware_concurrency());
  bool ok = true;
  for (absl::string_view w : absl::StrSplit(flags.workloads, ',')) {
    if (w == "idle") ok = wake::RunIdle(flags) && ok;
    if (w == "tools") ok = wake::RunConcurrent(flags, true) && ok;
    if (w == "notool") ok = wake::RunConcurrent(flags, false) && ok;
  }
  std::filesystem::remove_all(flags.dir);
  curl_global_cleanup();
  return ok ? 0 : 1;
}
