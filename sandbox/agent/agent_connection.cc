#include "sandbox/agent/agent_connection.h"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "capnp/message.h"
#include "capnp/rpc-twoparty.h"
#include "kj/async-io.h"
#include "sandbox/agent/fd_stream.h"
#include "sandbox/agent/wire.h"

namespace wake {
namespace {

using agent_internal::AsData;
using agent_internal::AsText;
using agent_internal::FromWire;
using agent_internal::ToWire;
using agent_internal::View;

// How often a waiting caller looks at its cancel token.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(5);

absl::Status FromKj(const kj::Exception& e) {
  const std::string why(e.getDescription().cStr());
  if (e.getType() == kj::Exception::Type::DISCONNECTED || e.getType() == kj::Exception::Type::OVERLOADED) {
    return absl::UnavailableError(absl::StrCat("hand agent: connection lost: ", why));
  }
  return absl::InternalError(absl::StrCat("hand agent: ", why));
}

// One call's result, handed from the loop thread to the caller.
template <typename T>
struct Slot {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::StatusOr<T> result = absl::InternalError("no result");

  void Set(absl::StatusOr<T> value) {
    std::lock_guard<std::mutex> lock(mu);
    result = std::move(value);
    done = true;
    cv.notify_all();
  }
  // True when done; false at the deadline.
  bool WaitUntil(absl::Time deadline) {
    std::unique_lock<std::mutex> lock(mu);
    const absl::Duration left = std::max(absl::ZeroDuration(), deadline - absl::Now());
    cv.wait_for(lock, absl::ToChronoNanoseconds(left), [&] { return done; });
    return done;
  }
};

class IgnoreErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&&) override {}  // every task reports its own errors to its slot
};

}  // namespace

// The event loop thread. Work reaches it through a queue of jobs guarded by a std::mutex and an
// eventfd the loop reads (rather than kj::Executor): every hand-off between threads is then a plain
// mutex, which ThreadSanitizer sees (it cannot see inside Debian's uninstrumented libkj).
class AgentConnection::Loop {
 public:
  explicit Loop(AgentEndpoint endpoint) : endpoint_(std::move(endpoint)) {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      setup_status_ = absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
      state_ = State::kStopped;
      alive_.store(false);
      for (int fd : {endpoint_.read_fd, endpoint_.write_fd}) {
        if (fd >= 0) ::close(fd);
        if (endpoint_.read_fd == endpoint_.write_fd) break;
      }
      return;
    }
    thread_ = std::thread([this] { Main(); });
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return state_ != State::kStarting; });
  }

  ~Loop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    Wake();
    if (thread_.joinable()) thread_.join();
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  bool alive() const { return alive_.load(std::memory_order_acquire); }
  absl::Status setup_status() {
    std::lock_guard<std::mutex> lock(mu_);
    return setup_status_;
  }

  // Runs `f` on the loop thread with the agent's capability and the task set, and waits for it.
  template <typename F>
  absl::Status Post(F&& f) {
    Job job;
    job.run = [&f](agent_wire::HandAgent::Client& agent, kj::TaskSet& tasks) { f(agent, tasks); };
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kRunning || stopping_ || !alive()) {
        return absl::UnavailableError("hand agent: the connection is closed");
      }
      jobs_.push_back(&job);
    }
    Wake();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return job.done; });
    return job.status;
  }

  // Waits for `slot` until `deadline`, polling `cancel` (when given) and calling `on_cancel` once
  // when it fires. Unavailable when the connection died or the deadline passed.
  template <typename T>
  absl::StatusOr<T> Wait(Slot<T>& slot, absl::Time deadline, const CancelToken* cancel = nullptr,
                         const std::function<void()>& on_cancel = {}) {
    bool cancel_sent = false;
    while (true) {
      const absl::Time next = cancel != nullptr ? std::min(deadline, absl::Now() + kCancelPoll) : deadline;
      if (slot.WaitUntil(next)) {
        if (slot.result.status().code() == absl::StatusCode::kUnavailable) {
          alive_.store(false, std::memory_order_release);  // the connection is lost for every call
        }
        return std::move(slot.result);
      }
      if (!alive()) {
        // The call is rejected as the connection goes down: give that a moment to arrive.
        if (slot.WaitUntil(absl::Now() + absl::Milliseconds(100))) return std::move(slot.result);
        return absl::UnavailableError("hand agent: the connection was lost");
      }
      if (absl::Now() >= deadline) {
        return absl::UnavailableError("hand agent: no answer in time (the agent or its host is stuck)");
      }
      if (cancel != nullptr && !cancel_sent && cancel->cancelled()) {
        cancel_sent = true;
        if (on_cancel) on_cancel();
      }
    }
  }

 private:
  enum class State { kStarting, kRunning, kStopped };

  struct Job {
    std::function<void(agent_wire::HandAgent::Client&, kj::TaskSet&)> run;
    bool done = false;  // guarded by mu_
    absl::Status status;
  };

  void Wake() {
    const uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof(one));
  }

  // Runs the queued jobs each time the eventfd is signalled, until the loop is told to stop.
  kj::Promise<void> Serve(kj::AsyncInputStream& wake, agent_wire::HandAgent::Client& agent, kj::TaskSet& tasks) {
    return wake.read(&wake_count_, sizeof(wake_count_)).then([this, &wake, &agent, &tasks]() -> kj::Promise<void> {
      std::deque<Job*> jobs;
      bool stop = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        jobs.swap(jobs_);
        stop = stopping_;
      }
      for (Job* job : jobs) {
        absl::Status status;
        try {
          job->run(agent, tasks);
        } catch (const kj::Exception& e) {
          status = FromKj(e);
        }
        std::lock_guard<std::mutex> lock(mu_);
        job->status = std::move(status);
        job->done = true;
      }
      cv_.notify_all();
      if (stop) return kj::READY_NOW;
      return Serve(wake, agent, tasks);
    });
  }

  void Main() {
    // The stream is a socket or pipe to a daemon, sshd or agent that can die at any moment (a
    // dockerd killed mid-call): a write to it must fail with EPIPE, not raise SIGPIPE, whose default
    // action kills the whole process embedding the engine. Blocked on this thread only (KJ writes
    // with writev, which has no MSG_NOSIGNAL); a SIGPIPE raised here stays pending on it and is
    // discarded when the thread exits.
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    try {
      kj::AsyncIoContext io = kj::setupAsyncIo();
      agent_internal::FdStreamOptions options;
      options.read_fd = endpoint_.read_fd;
      options.write_fd = endpoint_.write_fd;
      options.docker_multiplexed = endpoint_.docker_multiplexed;
      options.on_stderr = endpoint_.on_stderr;
      endpoint_.read_fd = endpoint_.write_fd = -1;  // owned by the stream now
      kj::Own<kj::AsyncIoStream> stream = agent_internal::NewFdStream(*io.lowLevelProvider, std::move(options));
      kj::Own<kj::AsyncInputStream> wake =
          io.lowLevelProvider->wrapInputFd(wake_fd_, kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
      capnp::ReaderOptions reader;
      reader.traversalLimitInWords = agent_internal::kMaxMessageWords;
      capnp::TwoPartyVatNetwork network(*stream, capnp::rpc::twoparty::Side::CLIENT, reader);
      auto rpc = capnp::makeRpcClient(network);
      capnp::MallocMessageBuilder vat_message(16);
      auto vat = vat_message.initRoot<capnp::rpc::twoparty::VatId>();
      vat.setSide(capnp::rpc::twoparty::Side::SERVER);
      agent_wire::HandAgent::Client agent = rpc.bootstrap(vat).castAs<agent_wire::HandAgent>();
      IgnoreErrors errors;
      kj::TaskSet tasks(errors);
      tasks.add(network.onDisconnect().then([this] { alive_.store(false, std::memory_order_release); }));
      {
        std::lock_guard<std::mutex> lock(mu_);
        state_ = State::kRunning;
      }
      cv_.notify_all();
      Serve(*wake, agent, tasks).wait(io.waitScope);
      alive_.store(false, std::memory_order_release);
    } catch (const kj::Exception& e) {
      alive_.store(false, std::memory_order_release);
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ == State::kStarting) setup_status_ = FromKj(e);
    }
    {
      // Nothing runs jobs any more: whoever still waits on one is told.
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kStopped;
      for (Job* job : jobs_) {
        job->status = absl::UnavailableError("hand agent: the connection is closed");
        job->done = true;
      }
      jobs_.clear();
    }
    cv_.notify_all();
    for (int fd : {endpoint_.read_fd, endpoint_.write_fd}) {
      if (fd >= 0) ::close(fd);
      if (endpoint_.read_fd == endpoint_.write_fd) break;
    }
  }

  AgentEndpoint endpoint_;
  std::thread thread_;
  std::atomic<bool> alive_{true};
  int wake_fd_ = -1;
  uint64_t wake_count_ = 0;  // the loop thread's read buffer for the eventfd

  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kStarting;
  absl::Status setup_status_;
  bool stopping_ = false;
  std::deque<Job*> jobs_;
};

AgentConnection::AgentConnection(std::unique_ptr<Loop> loop) : loop_(std::move(loop)) {}

AgentConnection::~AgentConnection() = default;

bool AgentConnection::alive() const { return loop_->alive(); }

absl::StatusOr<std::unique_ptr<AgentConnection>> AgentConnection::Connect(AgentEndpoint endpoint,
                                                                          absl::Duration ping_timeout) {
  auto loop = std::make_unique<Loop>(std::move(endpoint));
  if (absl::Status s = loop->setup_status(); !s.ok()) return s;
  std::unique_ptr<AgentConnection> connection(new AgentConnection(std::move(loop)));
  auto slot = std::make_shared<Slot<AgentInfo>>();
  absl::Status posted = connection->loop_->Post([&](agent_wire::HandAgent::Client& agent, kj::TaskSet& tasks) {
    tasks.add(agent.pingRequest().send().then(
        [slot](capnp::Response<agent_wire::HandAgent::PingResults>&& response) {
          AgentInfo info;
          info.version = response.getVersion();
          info.pid = response.getPid();
          info.work_dir = std::string(View(response.getWorkDir()));
          slot->Set(std::move(info));
        },
        [slot](kj::Exception&& e) { slot->Set(FromKj(e)); }));
  });
  if (!posted.ok()) return posted;
  absl::StatusOr<AgentInfo> info = connection->loop_->Wait(*slot, absl::Now() + ping_timeout);
  if (!info.ok()) {
    return absl::UnavailableError(absl::StrCat("hand agent did not answer a ping: ", info.status().message()));
  }
  if (info->version != agent_internal::kProtocolVersion) {
    return absl::FailedPreconditionError(absl::StrCat("hand agent speaks protocol version ", info->version,
                                                      ", this engine ", agent_internal::kProtocolVersion));
  }
  connection->info_ = *std::move(info);
  return connection;
}

absl::Status AgentConnection::Ping(absl::Duration timeout) {
  auto slot = std::make_shared<Slot<bool>>();
  absl::Status posted = loop_->Post([&](agent_wire::HandAgent::Client& agent, kj::TaskSet& tasks) {
    tasks.add(agent.pingRequest().send().then([slot](auto&&) { slot->Set(true); },
                                              [slot](kj::Exception&& e) { slot->Set(FromKj(e)); }));
  });
  if (!posted.ok()) return posted;
  return loop_->Wait(*slot, absl::Now() + timeout).status();
}

absl::StatusOr<RunOutcome> AgentConnection::Run(const RunRequest& request, const CancelToken* cancel) {
  static std::atomic<uint64_t> next_run_id{1};
  const uint64_t run_id = next_run_id.fetch_add(1);
  auto slot = std::make_shared<Slot<RunOutcome>>();
  absl::Status posted = loop_->Post([&](agent_wire::HandAgent::Client& agent, kj::TaskSet& tasks) {
    auto call = agent.runRequest();
    ToWire(request, run_id, call.initRequest());
    tasks.add(call.send().then(
        [slot](capnp::Response<agent_wire::HandAgent::RunResults>&& response) {
          if (response.hasStatus()) {
            if (absl::Status s = FromWire(response.getStatus()); !s.ok()) return slot->Set(s);
          }
          slot->Set(FromWire(response.getOutcome()));
        },
        [slot](kj::Exception&& e) { slot->Set(FromKj(e)); }));
  });
  if (!posted.ok()) return posted;
  const absl::Time deadline = absl::Now() + request.timeout + kReplyGrace;
  return loop_->Wait(*slot, deadline, cancel, [&] {
    (void)loop_->Post([&](agent_wire::HandAgent::Client& agent, kj::TaskSet& tasks) {
      auto call = agent.cancelRequest();
      call.setRunId(run_id);
      tasks.add(call.send().ignoreResult().catch_([](kj::Exception&&) {}));
    });
  });
}

absl::StatusOr<std::string> AgentConnection::ReadFile(std::string_view path, size_t max_bytes) {
  auto slot = std::make_shared<Slot<std::string>>();
  absl::Status posted = loop_->Post([&](agent_wire::HandAgent::Client& agent, kj::TaskSet& tasks) {
    auto call = agent.readFileRequest();
    call.setPath(AsText(path));
    call.setMaxBytes(max_bytes);
    tasks.add(call.send().then(
        [slot](capnp::Response<agent_wire::HandAgent::ReadFileResults>&& response) {
          if (response.hasStatus()) {
            if (absl::Status s = FromWire(response.getStatus()); !s.ok()) return slot->Set(s);
          }
          slot->Set(std::string(View(response.getContent())));
        },
        [slot](kj::Exception&& e) { slot->Set(FromKj(e)); }));
  });
  if (!posted.ok()) return posted;
  return loop_->Wait(*slot, absl::Now() + kReplyGrace);
}

absl::Status AgentConnection::WriteFile(std::string_view path, std::string_view content) {
  // A Data blob holds less than 2^29 bytes; a message at most kMaxMessageWords.
  if (content.size() >= (size_t{1} << 29)) {
    return absl::InvalidArgumentError(absl::StrCat("hand agent: ", content.size(), " bytes are too many for one file write"));
  }
  auto slot = std::make_shared<Slot<bool>>();
  absl::Status posted = loop_->Post([&](agent_wire::HandAgent::Client& agent, kj::TaskSet& tasks) {
    auto call = agent.writeFileRequest();
    call.setPath(AsText(path));
    call.setContent(AsData(content));
    tasks.add(call.send().then(
        [slot](capnp::Response<agent_wire::HandAgent::WriteFileResults>&& response) {
          if (response.hasStatus()) {
            if (absl::Status s = FromWire(response.getStatus()); !s.ok()) return slot->Set(s);
          }
          slot->Set(true);
        },
        [slot](kj::Exception&& e) { slot->Set(FromKj(e)); }));
  });
  if (!posted.ok()) return posted;
  return loop_->Wait(*slot, absl::Now() + kReplyGrace).status();
}

absl::StatusOr<std::shared_ptr<const std::string>> ReadAgentBinary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) bytes.clear();
  if (bytes.empty()) return absl::InvalidArgumentError(absl::StrCat("cannot read the hand agent at \"", path, "\""));
  return std::make_shared<const std::string>(std::move(bytes));
}

}  // namespace wake
