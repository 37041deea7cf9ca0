// Load on waked as a real process, from this (second) process over the loopback.
//
// Fan-out: `--sessions` sessions, each watched by `--per-session` SSE subscribers (Boost.Beast
// sockets on one Asio thread, HTTP/1.1 chunked, as browsers and the SDKs read a stream), while
// `--senders` threads send `--sends` user.messages at `--rate` per second in all (round robin over
// the sessions; each message starts a scripted turn, whose events every subscriber also receives).
// Checked: every request answered 200, every subscriber opened and stayed open, and each received
// every user.message of its session exactly once. Measured: ack (POST sent -> 200), fan-out (200 ->
// the event at the last of its session's subscribers; 0 when all had it before the 200 arrived,
// since subscribers are woken before an append returns) and end to end (POST sent -> the last
// subscriber), p50/p99/max; waked's RSS (/proc/<pid>/status VmRSS) before the subscribers connect,
// once they are connected and after the load, and its peak (VmHWM).
//
// Slow clients: one busy session, `--slow` raw-socket subscribers with a small receive buffer that
// never read, and `--fast` ordinary subscribers, while `--slow-sends` large user.messages
// (`--slow-event-bytes`) are sent (the session's turn runs a long tool meanwhile, so no further turn
// runs). Checked: the ordinary subscribers receive every message, waked closes each stalled stream
// once a write stalls for its --write-timeout (its log says why), a subscriber resuming with
// Last-Event-ID after the first message gets every later one in order, and what the stalled streams
// cost in memory (the same load on a fresh waked without them is the baseline) stays bounded.
//
// Fails (exit 1) on any error, lost or duplicated event, or a peak RSS over the bounds; it never
// asserts a time (latencies are reported, not checked). Prints one line per figure; bench/README.md
// ("Load: SSE fan-out and slow clients") records a run.
//
// usage: load_test --waked PATH [--scenario all|fanout|slow] [--sessions 100] [--per-session 10]
//                  [--sends 3000] [--rate 100] [--senders 4] [--slow 16] [--fast 2] [--slow-sends 1000]
//                  [--slow-event-bytes 16384] [--max-rss-mb 512] [--slow-max-rss-mb 2048] [--keep DIR]

// Boost 1.74 with g++ 12 in C++20: some Asio headers use std::exchange without including <utility>.
#include <utility>

#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/sync.h"
#include "tests/server/http_client.h"
#include "tests/server/waked_process.h"

namespace wake::load {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using testing::HttpClient;
using testing::HttpResponse;

struct Options {
  std::string waked;
  std::string scenario = "all";
  size_t sessions = 100;
  size_t per_session = 10;
  size_t sends = 3000;
  double rate = 100;
  size_t senders = 4;
  size_t slow = 16;
  size_t fast = 2;
  size_t slow_sends = 1000;
  size_t slow_event_bytes = 16 * 1024;
  size_t max_rss_mb = 512;       // fan-out
  size_t slow_max_rss_mb = 2048;  // slow clients (see SlowClients)
  std::string keep;  // a dir to keep waked's data and logs in ("" = a temp dir, removed)
};

// Errors of a run: printed at the end, and any makes it fail.
class Errors {
 public:
  void Add(std::string error) {
    MutexLock lock(&mu_);
    if (errors_.size() < 50) std::fprintf(stderr, "ERROR: %s\n", error.c_str());
    errors_.push_back(std::move(error));
  }
  size_t count() const {
    MutexLock lock(&mu_);
    return errors_.size();
  }

 private:
  mutable Mutex mu_;
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
};

// --- waked ------------------------------------------------------------------------------------------

// A field of /proc/<pid>/status in kB ("VmRSS", "VmHWM"); -1 when unreadable.
long ProcStatusKb(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field + ":")) {
      long kb = -1;
      std::istringstream(line.substr(field.size() + 1)) >> kb;
      return kb;
    }
  }
  return -1;
}

// The soft "Max open files" of /proc/<pid>/limits ("unlimited" = -1).
long OpenFileLimit(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/limits"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "Max open files")) {
      std::istringstream fields(line.substr(14));
      std::string soft;
      fields >> soft;
      long n = -1;
      return absl::SimpleAtoi(soft, &n) ? n : -1;
    }
  }
  return 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

class Waked {
 public:
  // Starts waked on a fresh data dir under `dir` (no auth, no docker, the local hand).
  bool Start(const Options& options, const std::string& dir, const std::vector<std::string>& extra,
             Errors* errors) {
    dir_ = dir;
    std::filesystem::create_directories(dir_);
    // A kept dir starts afresh: its old output would show WaitForUrl the last run's URL before the
    // child truncates it, its log (appended to) the last run's closed streams, its data old sessions.
    std::error_code ec;
    std::filesystem::remove(out(), ec);
    std::filesystem::remove(err(), ec);
    std::filesystem::remove_all(dir_ + "/data", ec);
    std::vector<std::string> args = {options.waked, "--data", dir_ + "/data", "--host", "127.0.0.1", "--port", "0",
                                     "--no-docker", "--no-auth"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = testing::Spawn(args, out(), err());
    if (pid_ < 0) {
      errors->Add("cannot fork waked");
      return false;
    }
    std::string error;
    url_ = testing::WaitForUrl(pid_, out(), err(), absl::Seconds(60), &error);
    if (url_.empty()) {
      errors->Add(absl::StrCat("waked did not start: ", error));
      pid_ = -1;
      return false;
    }
    return true;
  }
  // SIGTERM (a graceful stop), then SIGKILL if it takes over a minute.
  void Stop(Errors* errors) {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    std::optional<int> status = testing::WaitExit(pid_, absl::Seconds(60));
    if (!status) {
      errors->Add("waked did not stop within a minute of SIGTERM");
      kill(pid_, SIGKILL);
      testing::WaitExit(pid_, absl::Seconds(10));
    } else if (*status != 0) {
      errors->Add(absl::StrCat("waked exited with status ", *status, "; its log: ", err()));
    }
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }
  const std::string& url() const { return url_; }
  std::string out() const { return dir_ + "/waked.out"; }
  std::string err() const { return dir_ + "/waked.log"; }
  long RssMb() const { return ProcStatusKb(pid_, "VmRSS") / 1024; }
  long PeakMb() const { return ProcStatusKb(pid_, "VmHWM") / 1024; }
  uint16_t port() const {
    const size_t colon = url_.rfind(':');
    int port = 0;
    return colon != std::string::npos && absl::SimpleAtoi(url_.substr(colon + 1), &port) ? static_cast<uint16_t>(port)
                                                                                         : 0;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  std::string url_;
};

// An agent on the scripted brain and a local environment. `script`: the brain's turns.
struct Fixture {
  std::string agent;
  std::string environment;
};

std::optional<Fixture> MakeAgent(const HttpClient& client, const std::string& dir, std::string_view turns,
                                 Errors* errors) {
  const std::string script = dir + "/script.json";
  std::ofstream(script) << R"({"turns":)" << turns << "}";
  HttpResponse agent = client.Post("/v1/agents", absl::StrCat(R"({"name":"load","model":"scripted:)", script,
                                                              R"(","tools":[{"type":"agent_toolset_20260401"}]})"));
  HttpResponse env = client.Post("/v1/environments", R"({"name":"local","config":{"type":"local"}})");
  if (agent.status != 200 || env.status != 200) {
    errors->Add(absl::StrCat("agent/environment: ", agent.status, " ", agent.body, " ", env.status, " ", env.body));
    return std::nullopt;
  }
  return Fixture{agent.Str("/id"), env.Str("/id")};
}

std::string NewSession(const HttpClient& client, const Fixture& fixture, Errors* errors) {
  HttpResponse r = client.Post("/v1/sessions", absl::StrCat(R"({"agent":")", fixture.agent, R"(","environment_id":")",
                                                            fixture.environment, R"("})"));
  if (r.status != 200) {
    errors->Add(absl::StrCat("create session: ", r.status, " ", r.body, r.error));
    return "";
  }
  return r.Str("/id");
}

// --- subscribers ------------------------------------------------------------------------------------

// One SSE subscriber on a Beast socket. Touched only by the Asio thread, except the atomics.
class Subscriber : public std::enable_shared_from_this<Subscriber> {
 public:
  // `last_event_id`: resume after that event ("" = from the session's head).
  Subscriber(net::io_context& ioc, tcp::endpoint endpoint, std::string session_id, std::string last_event_id,
             Errors* errors)
      : socket_(ioc),
        endpoint_(endpoint),
        session_id_(std::move(session_id)),
        last_event_id_(std::move(last_event_id)),
        errors_(errors) {}

  void Start() {
    request_ = absl::StrCat("GET /v1/sessions/", session_id_, "/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                            last_event_id_.empty() ? "" : absl::StrCat("Last-Event-ID: ", last_event_id_, "\r\n"),
                            "Accept: text/event-stream\r\n\r\n");
    socket_.async_connect(endpoint_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->Fail(absl::StrCat("connect: ", ec.message()));
      net::async_write(self->socket_, net::buffer(self->request_), [self](beast::error_code ec, size_t) {
        if (ec) return self->Fail(absl::StrCat("write request: ", ec.message()));
        self->ReadHead();
      });
    });
  }
  // On the Asio thread: ends the stream (its read completes as aborted).
  void Close() {
    closing_ = true;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  const std::string& session_id() const { return session_id_; }
  bool open() const { return open_.load(); }
  size_t user_messages() const { return user_messages_.load(); }
  size_t frames() const { return frames_.load(); }  // events of every type
  // After the Asio thread is joined: each user.message id and when it arrived.
  const std::vector<std::pair<std::string, Clock::time_point>>& arrivals() const { return arrivals_; }

 private:
  void ReadHead() {
    parser_.body_limit(boost::none);
    // The parser keeps a reference to the callback, which lives as long as this subscriber.
    on_chunk_ = [this](std::uint64_t, beast::string_view body, beast::error_code&) {
      Consume(std::string_view(body.data(), body.size()));
      return body.size();
    };
    parser_.on_chunk_body(on_chunk_);
    http::async_read_header(socket_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail(absl::StrCat("read head: ", ec.message()));
      if (self->parser_.get().result_int() != 200) {
        return self->Fail(absl::StrCat("stream answered ", self->parser_.get().result_int()));
      }
      self->open_ = true;
      http::async_read(self->socket_, self->buffer_, self->parser_, [self](beast::error_code ec, size_t) {
        self->open_ = false;
        if (self->closing_) return;
        self->Fail(ec ? absl::StrCat("stream read: ", ec.message()) : "the server ended the stream");
      });
    });
  }

  // SSE lines: only `event:` and `id:` matter here; data lines (possibly large) are skipped as they
  // stream by.
  void Consume(std::string_view body) {
    while (!body.empty()) {
      const size_t nl = body.find('\n');
      const std::string_view piece = body.substr(0, nl);
      if (!skipping_ && line_.size() + piece.size() <= 256) {
        line_.append(piece);
      } else {
        skipping_ = true;  // a data line: not needed
      }
      if (nl == std::string_view::npos) return;
      body.remove_prefix(nl + 1);
      if (!skipping_) Line(line_);
      line_.clear();
      skipping_ = false;
    }
  }

  void Line(std::string_view line) {
    if (line.empty()) {
      if (!event_.empty()) frames_.fetch_add(1);
      if (event_ == "user.message") {
        arrivals_.emplace_back(id_, Clock::now());
        user_messages_.fetch_add(1);
      }
      event_.clear();
      id_.clear();
    } else if (line.starts_with("event: ")) {
      event_ = std::string(line.substr(7));
    } else if (line.starts_with("id: ")) {
      id_ = std::string(line.substr(4));
    }
  }

  void Fail(const std::string& what) {
    if (closing_) return;
    errors_->Add(absl::StrCat("subscriber of ", session_id_, ": ", what));
  }

  tcp::socket socket_;
  const tcp::endpoint endpoint_;
  const std::string session_id_;
  const std::string last_event_id_;
  Errors* const errors_;
  std::string request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::empty_body> parser_;
  std::function<size_t(std::uint64_t, beast::string_view, beast::error_code&)> on_chunk_;
  std::string line_;
  bool skipping_ = false;
  std::string event_;
  std::string id_;
  bool closing_ = false;
  std::atomic<bool> open_{false};
  std::atomic<size_t> user_messages_{0};
  std::atomic<size_t> frames_{0};
  std::vector<std::pair<std::string, Clock::time_point>> arrivals_;
};

// Subscribers on one Asio thread.
class SubscriberSet {
 public:
  SubscriberSet() : work_(net::make_work_guard(ioc_)) {}
  ~SubscriberSet() { Join(); }

  std::shared_ptr<Subscriber> Add(uint16_t port, const std::string& session_id, Errors* errors,
                                  const std::string& last_event_id = "") {
    auto s = std::make_shared<Subscriber>(ioc_, tcp::endpoint(net::ip::address_v4::loopback(), port), session_id,
                                          last_event_id, errors);
    all_.push_back(s);
    net::post(ioc_, [s] { s->Start(); });
    return s;
  }
  void Run() {
    thread_ = std::thread([this] { ioc_.run(); });
  }
  // Waits until every subscriber's head has come (or `timeout`); how many are open.
  size_t WaitOpen(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    size_t open = 0;
    while (true) {
      open = static_cast<size_t>(std::count_if(all_.begin(), all_.end(), [](const auto& s) { return s->open(); }));
      if (open == all_.size() || absl::Now() > deadline) return open;
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  // Closes every stream and joins the thread.
  void Join() {
    if (!thread_.joinable()) return;
    net::post(ioc_, [this] {
      for (const auto& s : all_) s->Close();
    });
    work_.reset();
    thread_.join();
  }
  const std::vector<std::shared_ptr<Subscriber>>& all() const { return all_; }

 private:
  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::shared_ptr<Subscriber>> all_;
  std::thread thread_;
};

// --- sends ------------------------------------------------------------------------------------------

struct Send {
  size_t session = 0;
  std::string id;  // the user.message's event id ("" when the send failed)
  Clock::time_point sent;
  Clock::time_point acked;
};

std::string MessageBody(size_t n, size_t padding) {
  return absl::StrCat(R"({"events":[{"type":"user.message","content":[{"type":"text","text":"message )", n, " ",
                      std::string(padding, 'x'), R"("}]}]})");
}

// `count` sends at `rate` per second in all from `senders` threads, round robin over `sessions`
// (send i goes to session i % sessions from thread i % senders). Every send is recorded.
std::vector<Send> SendMessages(const std::string& url, const std::vector<std::string>& sessions, size_t count,
                               double rate, size_t senders, size_t padding, Errors* errors) {
  std::vector<Send> sends(count);
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  for (size_t t = 0; t < senders; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client(url);
      for (size_t i = t; i < count; i += senders) {
        Send& send = sends[i];
        send.session = i % sessions.size();
        // Sends keep to a schedule: a late one goes at once (a closed loop would hide queueing).
        std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(interval * i));
        send.sent = Clock::now();
        HttpResponse r = client.Post(absl::StrCat("/v1/sessions/", sessions[send.session], "/events"),
                                     MessageBody(i, padding));
        send.acked = Clock::now();
        if (r.status != 200 || r.Str("/data/0/id").empty()) {
          errors->Add(absl::StrCat("send ", i, ": ", r.status, " ", r.body, r.error));
          continue;
        }
        send.id = r.Str("/data/0/id");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return sends;
}

// Waits until the subscribers have received `expected(s)` user.messages each (or `timeout`).
bool WaitDelivered(const std::vector<std::shared_ptr<Subscriber>>& subscribers,
                   const std::function<size_t(const Subscriber&)>& expected, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    bool all = true;
    for (const auto& s : subscribers) all = all && s->user_messages() >= expected(*s);
    if (all) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
};
Percentiles Of(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  return {at(0.50), at(0.99), v.back()};
}
void Print(const std::string& name, const Percentiles& p) {
  std::printf("%-34s p50 %8.2f ms   p99 %8.2f ms   max %8.2f ms\n", name.c_str(), p.p50, p.p99, p.max);
}

// Checks every subscriber got each of its session's messages exactly once; prints the latencies.
void Report(const std::vector<Send>& sends, const std::vector<std::string>& sessions,
            const std::vector<std::shared_ptr<Subscriber>>& subscribers, Errors* errors) {
  std::map<std::string, size_t> send_of;
  for (size_t i = 0; i < sends.size(); ++i) {
    if (!sends[i].id.empty()) send_of[sends[i].id] = i;
  }
  std::map<std::string, size_t> session_index;
  for (size_t i = 0; i < sessions.size(); ++i) session_index[sessions[i]] = i;
  std::vector<Clock::time_point> last(sends.size(), Clock::time_point::min());
  std::vector<size_t> got(sends.size(), 0);
  size_t delivered = 0;
  size_t frames = 0;
  for (const auto& s : subscribers) {
    frames += s->frames();
    std::set<std::string> seen;
    for (const auto& [id, at] : s->arrivals()) {
      if (!seen.insert(id).second) errors->Add(absl::StrCat("subscriber of ", s->session_id(), " got ", id, " twice"));
      auto it = send_of.find(id);
      if (it == send_of.end()) {
        errors->Add(absl::StrCat("subscriber of ", s->session_id(), " got ", id, ", which no send returned"));
        continue;
      }
      if (sends[it->second].session != session_index[s->session_id()]) {
        errors->Add(absl::StrCat("subscriber of ", s->session_id(), " got ", id, " of another session"));
      }
      last[it->second] = std::max(last[it->second], at);
      ++got[it->second];
      ++delivered;
    }
  }
  std::map<size_t, size_t> subscribers_of;
  for (const auto& s : subscribers) ++subscribers_of[session_index[s->session_id()]];
  std::vector<double> ack, fanout, end_to_end;
  size_t lost = 0;
  for (size_t i = 0; i < sends.size(); ++i) {
    if (sends[i].id.empty()) continue;
    if (got[i] != subscribers_of[sends[i].session]) {
      lost += subscribers_of[sends[i].session] - std::min(got[i], subscribers_of[sends[i].session]);
      continue;
    }
    ack.push_back(Ms(sends[i].acked - sends[i].sent));
    fanout.push_back(std::max(0.0, Ms(last[i] - sends[i].acked)));
    end_to_end.push_back(Ms(last[i] - sends[i].sent));
  }
  if (lost > 0) errors->Add(absl::StrCat(lost, " deliveries of user.messages are missing"));
  std::printf("user.messages delivered                %zu (of %zu sends x their subscribers)\n", delivered,
              sends.size());
  std::printf("events delivered, all types            %zu (the turns' events too)\n", frames);
  Print("ack (POST -> 200)", Of(ack));
  Print("fan-out (200 -> all subscribers)", Of(fanout));
  Print("end to end (POST -> all subscribers)", Of(end_to_end));
}

// Raises this process's soft open-file limit to its hard limit; false (and says why) when the hard
// limit is too small for `needed` descriptors.
bool RaiseOwnFileLimit(size_t needed, Errors* errors) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    errors->Add(absl::StrCat("the open-file hard limit is ", limit.rlim_cur, ", below the ", needed,
                             " this run needs (raise it with ulimit -Hn)"));
    return false;
  }
  return true;
}

// --- scenarios --------------------------------------------------------------------------------------

void FanOut(const Options& o, const std::string& dir, Errors* errors) {
  const size_t subscribers = o.sessions * o.per_session;
  std::printf("== fan-out: %zu sessions x %zu subscribers = %zu SSE streams; %zu sends at %.0f/s from %zu threads\n",
              o.sessions, o.per_session, subscribers, o.sends, o.rate, o.senders);
  if (!RaiseOwnFileLimit(subscribers + 256, errors)) return;
  Waked waked;
  if (!waked.Start(o, dir, {"--max-streams", std::to_string(subscribers + 16)}, errors)) return;
  const long fd_limit = OpenFileLimit(waked.pid());
  std::printf("waked open-file limit                  %ld\n", fd_limit);
  if (fd_limit >= 0 && static_cast<size_t>(fd_limit) < subscribers + 256) {
    errors->Add(absl::StrCat("waked's open-file limit is ", fd_limit, ", too small for ", subscribers, " streams"));
  }
  HttpClient client(waked.url());
  // Each message gets one short reply (past the script's end the brain says it is exhausted).
  std::optional<Fixture> fixture = MakeAgent(client, dir, R"([{"text":"noted"}])", errors);
  std::vector<std::string> sessions;
  for (size_t i = 0; fixture && i < o.sessions; ++i) sessions.push_back(NewSession(client, *fixture, errors));
  if (errors->count() > 0) return waked.Stop(errors);
  const long rss_before = waked.RssMb();

  SubscriberSet set;
  for (const std::string& session : sessions) {
    for (size_t k = 0; k < o.per_session; ++k) set.Add(waked.port(), session, errors);
  }
  const Clock::time_point connecting = Clock::now();
  set.Run();
  const size_t open = set.WaitOpen(absl::Seconds(120));
  std::printf("streams open                           %zu of %zu (all open after %.0f ms)\n", open, subscribers,
              Ms(Clock::now() - connecting));
  if (open != subscribers) errors->Add(absl::StrCat("only ", open, " of ", subscribers, " streams opened"));
  const long rss_connected = waked.RssMb();

  const Clock::time_point load_start = Clock::now();
  std::vector<Send> sends = SendMessages(waked.url(), sessions, o.sends, o.rate, o.senders, 0, errors);
  const double send_seconds = Ms(Clock::now() - load_start) / 1000;
  std::vector<size_t> per_session(sessions.size(), 0);
  for (const Send& s : sends) per_session[s.session] += s.id.empty() ? 0 : 1;
  std::map<std::string, size_t> expected;
  for (size_t i = 0; i < sessions.size(); ++i) expected[sessions[i]] = per_session[i];
  if (!WaitDelivered(set.all(), [&](const Subscriber& s) { return expected[s.session_id()]; }, absl::Seconds(120))) {
    errors->Add("not every subscriber received every message within two minutes of the last send");
  }
  std::printf("sends                                  %zu in %.1f s\n", sends.size(), send_seconds);
  const long rss_after = waked.RssMb();
  const long peak = waked.PeakMb();
  const size_t still_open =
      static_cast<size_t>(std::count_if(set.all().begin(), set.all().end(), [](const auto& s) { return s->open(); }));
  if (still_open != subscribers) errors->Add(absl::StrCat(subscribers - still_open, " streams ended during the load"));
  set.Join();
  Report(sends, sessions, set.all(), errors);
  std::printf("waked RSS                              %ld MB before streams, %ld MB with %zu streams, %ld MB after "
              "the load; peak %ld MB\n",
              rss_before, rss_connected, subscribers, rss_after, peak);
  if (peak > static_cast<long>(o.max_rss_mb)) {
    errors->Add(absl::StrCat("waked's peak RSS ", peak, " MB is over the bound of ", o.max_rss_mb, " MB"));
  }
  waked.Stop(errors);
}

// A subscriber that never reads: a plain socket with a small receive buffer, the request sent, then
// nothing. Returns the descriptor (-1 on failure).
int StalledSubscriber(uint16_t port, const std::string& session_id) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string request =
      absl::StrCat("GET /v1/sessions/", session_id, "/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return -1;
  }
  return fd;
}

size_t CountOf(const std::string& text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// Runs the slow-clients load with `stalled` subscribers that never read; returns waked's peak RSS in
// MB (-1 when it did not run).
long SlowClients(const Options& o, const std::string& dir, size_t stalled_count, Errors* errors) {
  // Well inside the sends' duration (slow_sends / rate), so the load goes on after the stalled streams
  // stall and after waked drops them.
  constexpr int kWriteTimeoutSeconds = 2;
  std::printf("== slow clients: 1 session, %zu subscribers that never read, %zu that do; %zu sends of %zu bytes at "
              "%.0f/s; waked --write-timeout %d\n",
              stalled_count, o.fast, o.slow_sends, o.slow_event_bytes, o.rate, kWriteTimeoutSeconds);
  Waked waked;
  if (!waked.Start(o, dir, {"--write-timeout", std::to_string(kWriteTimeoutSeconds)}, errors)) return -1;
  HttpClient client(waked.url());
  // The first message starts a turn whose tool outlasts the sends, so the others wait in the log
  // (no turns: their contexts, which grow with the session, would drown the streams' memory).
  std::optional<Fixture> fixture = MakeAgent(
      client, dir, R"([{"text":"busy","tool_calls":[{"name":"bash","input":{"command":"sleep 25"}}]}])", errors);
  const std::string session = fixture ? NewSession(client, *fixture, errors) : "";
  if (errors->count() > 0) {
    waked.Stop(errors);
    return -1;
  }
  const long rss_before = waked.RssMb();

  std::vector<int> stalled;
  for (size_t i = 0; i < stalled_count; ++i) {
    const int fd = StalledSubscriber(waked.port(), session);
    if (fd < 0) errors->Add("cannot open a stalled subscriber");
    stalled.push_back(fd);
  }
  SubscriberSet set;
  for (size_t i = 0; i < o.fast; ++i) set.Add(waked.port(), session, errors);
  set.Run();
  if (set.WaitOpen(absl::Seconds(60)) != o.fast) errors->Add("the reading subscribers did not open");

  std::vector<Send> sends =
      SendMessages(waked.url(), {session}, o.slow_sends, o.rate, 1, o.slow_event_bytes, errors);
  size_t acked = 0;
  for (const Send& s : sends) acked += s.id.empty() ? 0 : 1;
  if (!WaitDelivered(set.all(), [&](const Subscriber&) { return acked; }, absl::Seconds(120))) {
    errors->Add("the reading subscribers did not receive every message within two minutes of the last send");
  }
  const long rss_loaded = waked.RssMb();
  // A subscriber that comes back (Last-Event-ID: the first message) reads the whole backlog, in
  // writes of about 1 MiB (server.h, "Slow clients"): every later message, in order, once.
  std::vector<std::string> acked_ids;
  for (const Send& s : sends) {
    if (!s.id.empty()) acked_ids.push_back(s.id);
  }
  if (acked_ids.size() > 1) {
    SubscriberSet late;
    std::shared_ptr<Subscriber> resumed = late.Add(waked.port(), session, errors, acked_ids.front());
    late.Run();
    const bool all = WaitDelivered({resumed}, [&](const Subscriber&) { return acked_ids.size() - 1; },
                                   absl::Seconds(120));
    late.Join();
    std::vector<std::string> got;
    for (const auto& [id, at] : resumed->arrivals()) got.push_back(id);
    const std::vector<std::string> want(acked_ids.begin() + 1, acked_ids.end());
    std::printf("resumed with Last-Event-ID             %zu of %zu later messages, %s\n", got.size(), want.size(),
                got == want ? "in order" : "NOT the messages sent, in order");
    if (!all || got != want) {
      errors->Add(absl::StrCat("a subscriber resuming after the first message got ", got.size(), " of ", want.size(),
                               got == want ? "" : " (or not in order)"));
    }
  }
  // Every stalled stream is closed by waked once a write has stalled for write_timeout.
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  size_t timed_out = 0;
  while (absl::Now() < deadline) {
    timed_out = CountOf(ReadFile(waked.err()), "write timed out: the client does not read");
    if (timed_out >= stalled_count) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  std::printf("stalled streams closed by waked        %zu of %zu (\"write timed out\" in its log)\n", timed_out,
              stalled_count);
  if (timed_out != stalled_count) {
    errors->Add(absl::StrCat("waked closed ", timed_out, " of ", stalled_count, " stalled streams"));
  }
  const long peak = waked.PeakMb();
  const long rss_after = waked.RssMb();
  set.Join();
  for (int fd : stalled) {
    if (fd >= 0) close(fd);
  }
  Report(sends, {session}, set.all(), errors);
  std::printf("waked RSS                              %ld MB before, %ld MB after the sends, %ld MB after the "
              "resumed reader and the stalled streams' end; peak %ld MB\n",
              rss_before, rss_loaded, rss_after, peak);
  if (peak > static_cast<long>(o.slow_max_rss_mb)) {
    errors->Add(absl::StrCat("waked's peak RSS ", peak, " MB is over the bound of ", o.slow_max_rss_mb, " MB"));
  }
  waked.Stop(errors);
  return peak;
}

// What stalled streams cost: the same load with and without them, each on a fresh waked (measured:
// +1 MB for 16). A stalled stream holds one write (server.h, "Slow clients"), here a few events;
// 2 MB each plus 96 MB for the allocator's noise (an ASan build's quarantine, say) is generous, and
// well below what queueing the sends for them would take (slow_sends x slow_event_bytes each, less
// the ~4 MB the kernel's buffers absorb: 12 MB each by default).
void SlowClients(const Options& o, const std::string& dir, Errors* errors) {
  const long without = SlowClients(o, dir + "/without", 0, errors);
  const long with = SlowClients(o, dir + "/with", o.slow, errors);
  if (without < 0 || with < 0) return;
  const long bound = static_cast<long>(o.slow) * 2 + 96;
  std::printf("stalled streams' cost                  peak %ld MB with %zu, %ld MB without: %+ld MB (bound %ld MB)\n",
              with, o.slow, without, with - without, bound);
  if (with - without > bound) {
    errors->Add(absl::StrCat(o.slow, " stalled streams raised waked's peak RSS by ", with - without, " MB, over ",
                             bound, " MB"));
  }
}

bool ParseFlags(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    auto size = [&](size_t* out) {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(value, &n)) return false;
      *out = static_cast<size_t>(n);
      return true;
    };
    bool ok = true;
    if (arg == "--waked") {
      o->waked = value;
    } else if (arg == "--scenario") {
      o->scenario = value;
      ok = value == "all" || value == "fanout" || value == "slow";
    } else if (arg == "--sessions") {
      ok = size(&o->sessions) && o->sessions > 0;
    } else if (arg == "--per-session") {
      ok = size(&o->per_session) && o->per_session > 0;
    } else if (arg == "--sends") {
      ok = size(&o->sends);
    } else if (arg == "--rate") {
      ok = absl::SimpleAtod(value, &o->rate) && o->rate > 0;
    } else if (arg == "--senders") {
      ok = size(&o->senders) && o->senders > 0;
    } else if (arg == "--slow") {
      ok = size(&o->slow);
    } else if (arg == "--fast") {
      ok = size(&o->fast) && o->fast > 0;
    } else if (arg == "--slow-sends") {
      ok = size(&o->slow_sends);
    } else if (arg == "--slow-event-bytes") {
      ok = size(&o->slow_event_bytes);
    } else if (arg == "--max-rss-mb") {
      ok = size(&o->max_rss_mb);
    } else if (arg == "--slow-max-rss-mb") {
      ok = size(&o->slow_max_rss_mb);
    } else if (arg == "--keep") {
      o->keep = value;
    } else {
      ok = false;
    }
    if (!ok) return false;
  }
  return !o->waked.empty();
}

int Main(int argc, char** argv) {
  Options o;
  if (!ParseFlags(argc, argv, &o)) {
    std::fprintf(stderr,
                 "usage: load_test --waked PATH [--scenario all|fanout|slow] [--sessions N] [--per-session N]\n"
                 "                 [--sends N] [--rate PER_SECOND] [--senders N] [--slow N] [--fast N]\n"
                 "                 [--slow-sends N] [--slow-event-bytes N] [--max-rss-mb N] [--slow-max-rss-mb N]\n"
                 "                 [--keep DIR]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  std::string root = o.keep;
  if (root.empty()) {
    char pattern[] = "/tmp/wake_load_XXXXXX";
    if (mkdtemp(pattern) == nullptr) return 1;
    root = pattern;
  }
  std::printf("machine: %u cores; waked and this client share them\n", std::thread::hardware_concurrency());
  Errors errors;
  if (o.scenario == "all" || o.scenario == "fanout") FanOut(o, root + "/fanout", &errors);
  if (o.scenario == "all" || o.scenario == "slow") SlowClients(o, root + "/slow", &errors);
  if (o.keep.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  if (errors.count() > 0) {
    std::printf("FAILED: %zu errors\n", errors.count());
    return 1;
  }
  std::printf("PASSED\n");
  return 0;
}

}  // namespace
}  // namespace wake::load

int main(int argc, char** argv) { return wake::load::Main(argc, argv); }
