// wake_hand_agent: the process that lives inside a hand (a container, an SSH host) and serves the
// hand primitives (sandbox/hand.h: run a process, read a file, write a file) to the engine over
// its stdin and stdout with Cap'n Proto two-party RPC (schemas/hand.capnp), so a tool call costs
// one round trip on a stream that is already open instead of a new exec or channel.
//
//   wake_hand_agent [--work-dir=DIR]
//
// It confines nothing itself: the container or host is the boundary. Paths are absolute or
// relative to the work dir (default: the directory it starts in); a relative path that climbs out
// of the work dir is refused, as the other backends refuse it. Processes run as in the local
// backend (sandbox/local/process_runner.h): each in its own session and process group, killed with
// the group on timeout or cancel (and with it every process that carries the run's WAKE_RUN_ID
// marker, see KillMarked), with the agent's environment plus the request's.
//
// When the stream ends (the engine went away) every running process group is killed and the agent
// exits. Built fully static: the test image has no libc.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/strings.h"
#include "capnp/rpc-twoparty.h"
#include "kj/async-io.h"
#include "sandbox/agent/fd_stream.h"
#include "sandbox/agent/wire.h"
#include "sandbox/local/process_runner.h"

extern char** environ;

namespace wake::agent_internal {
namespace {

// Process groups of running commands (killed when the engine goes away) and the cancel tokens of
// runs by id. Shared with the runner threads.
struct Running {
  std::mutex mu;
  std::set<int> groups;
  std::map<uint64_t, std::shared_ptr<CancelToken>> by_id;

  void KillAll() {
    std::lock_guard<std::mutex> lock(mu);
    for (int group : groups) ::kill(-group, SIGKILL);
  }
};

// Every run's processes carry WAKE_RUN_ID=<marker> in their environment (as in the docker backend's
// per-exec path), so that after a timeout or cancel the descendants that left the process group
// (setsid, daemons) are found and killed too: a process whose environment holds the marker, and its
// group, until a round finds none (a child forked between the scan and the kill is caught by the next
// round). Only a process that both leaves the group and clears its environment escapes.
constexpr std::string_view kRunIdVar = "WAKE_RUN_ID";

bool EnvironHolds(pid_t pid, const std::string& entry) {
  const int fd = ::open(absl::StrCat("/proc/", pid, "/environ").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string environ_text;
  char buffer[16 * 1024];
  while (environ_text.size() < (1 << 20)) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    environ_text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  for (size_t at = environ_text.find(entry); at != std::string::npos; at = environ_text.find(entry, at + 1)) {
    const size_t end = at + entry.size();
    if ((at == 0 || environ_text[at - 1] == '\0') && (end == environ_text.size() || environ_text[end] == '\0')) {
      return true;
    }
  }
  return false;
}

void KillMarked(const std::string& entry) {
  const pid_t self = ::getpid();
  const pid_t own_group = ::getpgrp();
  for (int round = 0; round < 100; ++round) {
    std::vector<pid_t> found;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return;
    while (dirent* e = ::readdir(proc)) {
      char* end = nullptr;
      const long pid = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || pid <= 1 || pid == self) continue;
      if (EnvironHolds(static_cast<pid_t>(pid), entry)) found.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    if (found.empty()) return;
    for (pid_t pid : found) {
      const pid_t group = ::getpgid(pid);
      if (group > 1 && group != own_group) ::kill(-group, SIGKILL);
      ::kill(pid, SIGKILL);
    }
  }
}

absl::Status Errno(int error, std::string_view what, std::string_view path) {
  const std::string text = absl::StrCat(ToAbsl(what), " ", ToAbsl(path), ": ", std::strerror(error));
  switch (error) {
    case ENOENT: return absl::NotFoundError(absl::StrCat(ToAbsl(path), " does not exist"));
    case ENOTDIR: return absl::NotFoundError(absl::StrCat(ToAbsl(path), ": a component of the path is not a directory"));
    case EACCES:
    case EPERM:
    case EROFS: return absl::PermissionDeniedError(text);
    case EISDIR: return absl::FailedPreconditionError(absl::StrCat(ToAbsl(path), " is a directory"));
    case ELOOP: return absl::FailedPreconditionError(absl::StrCat(ToAbsl(path), ": too many levels of symbolic links"));
    default: return absl::InternalError(text);
  }
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

class Agent final : public agent_wire::HandAgent::Server {
 public:
  explicit Agent(std::string work_dir, std::shared_ptr<Running> running)
      : work_dir_(std::move(work_dir)), running_(std::move(running)) {
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const size_t eq = entry.find('=');
      if (eq != std::string::npos) env_.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
    }
  }

  kj::Promise<void> ping(PingContext context) override {
    auto results = context.getResults();
    results.setVersion(kProtocolVersion);
    results.setPid(::getpid());
    results.setWorkDir(AsText(work_dir_));
    return kj::READY_NOW;
  }

  kj::Promise<void> run(RunContext context) override {
    auto job = std::make_shared<Job>();
    job->request = FromWire(context.getParams().getRequest());
    const uint64_t run_id = context.getParams().getRequest().getRunId();
    context.releaseParams();
    absl::Status invalid = Check(job->request);
    if (invalid.ok()) {
      absl::StatusOr<std::string> cwd = Resolve(job->request.cwd.empty() ? "." : job->request.cwd);
      if (cwd.ok()) {
        job->spec.cwd = *cwd;
      } else {
        invalid = cwd.status();
      }
    }
    if (!invalid.ok()) {
      ToWire(invalid, context.getResults().initStatus());
      return kj::READY_NOW;
    }
    job->spec.request = &job->request;
    job->spec.work_dir = work_dir_;
    job->spec.env = env_;
    for (const auto& kv : job->request.env) {
      bool replaced = false;
      for (auto& existing : job->spec.env) {
        if (existing.first == kv.first) {
          existing.second = kv.second;
          replaced = true;
        }
      }
      if (!replaced) job->spec.env.push_back(kv);
    }
    static std::atomic<uint64_t> runs{0};
    job->marker = absl::StrCat(ToAbsl(kRunIdVar), "=agent-", ::getpid(), "-", runs.fetch_add(1), "-",
                               absl::ToUnixNanos(absl::Now()));
    job->spec.env.emplace_back(std::string(kRunIdVar), job->marker.substr(kRunIdVar.size() + 1));
    if (run_id != 0) {
      std::lock_guard<std::mutex> lock(running_->mu);
      running_->by_id[run_id] = job->cancel;
    }
    // The run blocks (it polls its pipes): a thread of its own, which fulfills the promise on the
    // event loop's thread when done. A dropped call (the engine cancelled it, or went away)
    // cancels the run.
    context.allowCancellation();
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    job->done = kj::mv(paf.fulfiller);
    std::thread([job, running = running_] {
      int group = 0;
      job->outcome = local_internal::RunLocalProcess(job->spec, job->cancel.get(), [&](int pgid) {
        std::lock_guard<std::mutex> lock(running->mu);
        if (pgid != 0) {
          group = pgid;
          running->groups.insert(pgid);
        } else {
          running->groups.erase(group);
        }
      });
      if (job->outcome.ok() && (job->outcome->timed_out || job->outcome->cancelled)) KillMarked(job->marker);
      job->done->fulfill();
    }).detach();
    return paf.promise
        .then([job, context]() mutable {
          auto results = context.getResults();
          if (!job->outcome.ok()) {
            ToWire(job->outcome.status(), results.initStatus());
          } else {
            ToWire(*job->outcome, results.initOutcome());
          }
        })
        .attach(kj::defer([job, run_id, running = running_] {
          job->cancel->Cancel();  // a no-op once the run is over
          if (run_id == 0) return;
          std::lock_guard<std::mutex> lock(running->mu);
          running->by_id.erase(run_id);
        }));
  }

  kj::Promise<void> cancel(CancelContext context) override {
    std::lock_guard<std::mutex> lock(running_->mu);
    auto it = running_->by_id.find(context.getParams().getRunId());
    if (it != running_->by_id.end()) it->second->Cancel();
    return kj::READY_NOW;
  }

  kj::Promise<void> readFile(ReadFileContext context) override {
    const std::string path(View(context.getParams().getPath()));
    absl::StatusOr<std::string> content = Read(path, context.getParams().getMaxBytes());
    auto results = context.getResults();
    if (!content.ok()) {
      ToWire(content.status(), results.initStatus());
    } else {
      results.setContent(AsData(*content));
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> writeFile(WriteFileContext context) override {
    const std::string path(View(context.getParams().getPath()));
    const absl::Status status = Write(path, View(context.getParams().getContent()));
    if (!status.ok()) ToWire(status, context.getResults().initStatus());
    return kj::READY_NOW;
  }

 private:
  struct Job {
    RunRequest request;
    local_internal::ProcessSpec spec;
    std::shared_ptr<CancelToken> cancel = std::make_shared<CancelToken>();
    absl::StatusOr<RunOutcome> outcome = absl::InternalError("not run");
    kj::Own<const kj::CrossThreadPromiseFulfiller<void>> done;
    std::string marker;  // "WAKE_RUN_ID=..." in the run's environment
  };

  static absl::Status Check(const RunRequest& request) {
    if (request.argv.empty() && request.shell.empty()) {
      return absl::InvalidArgumentError("nothing to run: both argv and shell are empty");
    }
    if (request.timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("the timeout must be positive");
    for (const auto& [name, value] : request.env) {
      if (name.empty() || name.find('=') != std::string::npos || name.find('\0') != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("bad environment variable name \"", name, "\""));
      }
      if (value.find('\0') != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, " holds a NUL byte"));
      }
    }
    return absl::OkStatus();
  }

  // `path` absolute and lexically normal; a relative one is taken from the work dir and may not
  // climb out of it.
  absl::StatusOr<std::string> Resolve(std::string_view path) const {
    if (path.empty()) return absl::InvalidArgumentError("empty path");
    if (path.find('\0') != std::string_view::npos) return absl::InvalidArgumentError("the path holds a NUL byte");
    const bool relative = path[0] != '/';
    std::vector<std::string> parts;
    size_t base_depth = 0;
    auto add = [&](std::string_view p, bool is_base) {
      size_t start = 0;
      while (start <= p.size()) {
        const size_t end = std::min(p.find('/', start), p.size());
        const std::string_view part = p.substr(start, end - start);
        start = end + 1;
        if (part.empty() || part == ".") continue;
        if (part == "..") {
          if (!is_base && relative && parts.size() <= base_depth) {
            return false;
          }
          if (!parts.empty()) parts.pop_back();
          continue;
        }
        parts.emplace_back(part);
      }
      return true;
    };
    if (relative) {
      add(work_dir_, true);
      base_depth = parts.size();
    }
    if (!add(path, false)) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(path), " leads outside the work dir; refused"));
    }
    std::string out;
    for (const std::string& part : parts) absl::StrAppend(&out, "/", part);
    return out.empty() ? "/" : out;
  }

  absl::StatusOr<std::string> Read(const std::string& raw_path, uint64_t max_bytes) const {
    absl::StatusOr<std::string> path = Resolve(raw_path);
    if (!path.ok()) return path.status();
    Fd file(::open(path->c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (file.fd < 0) return Errno(errno, "reading", raw_path);
    struct stat st;
    if (::fstat(file.fd, &st) != 0) return Errno(errno, "reading", raw_path);
    if (S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(raw_path, " is a directory"));
    if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(raw_path, " is not a regular file"));
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
      return absl::OutOfRangeError(
          absl::StrCat(raw_path, " has ", st.st_size, " bytes, more than the ", max_bytes, " allowed"));
    }
    std::string data(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (true) {
      if (done == data.size()) data.resize(done + 4096);  // the file grew meanwhile
      const ssize_t n = ::read(file.fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno(errno, "reading", raw_path);
      if (n == 0) break;
      done += static_cast<size_t>(n);
      if (done > max_bytes) {
        return absl::OutOfRangeError(absl::StrCat(raw_path, " has more than the ", max_bytes, " bytes allowed"));
      }
    }
    data.resize(done);
    return data;
  }

  absl::Status Write(const std::string& raw_path, std::string_view content) const {
    absl::StatusOr<std::string> path = Resolve(raw_path);
    if (!path.ok()) return path.status();
    if (*path == "/") return absl::InvalidArgumentError(absl::StrCat(raw_path, " is not a file path"));
    // The missing parent directories, from the top.
    for (size_t slash = path->find('/', 1); slash != std::string::npos; slash = path->find('/', slash + 1)) {
      const std::string dir = path->substr(0, slash);
      if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) continue;
      if (errno == ENOTDIR) {
        return absl::FailedPreconditionError(absl::StrCat(raw_path, ": a component of the path is not a directory"));
      }
      return Errno(errno, "making the directory", dir);
    }
    // O_NONBLOCK: a FIFO in the way must not block the open; it is refused below.
    Fd file(::open(path->c_str(), O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644));
    if (file.fd < 0) {
      if (errno == ENOTDIR) {
        return absl::FailedPreconditionError(absl::StrCat(raw_path, ": a component of the path is not a directory"));
      }
      return Errno(errno, "writing", raw_path);
    }
    struct stat st;
    if (::fstat(file.fd, &st) != 0) return Errno(errno, "writing", raw_path);
    if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(raw_path, " is not a regular file"));
    if (::ftruncate(file.fd, 0) != 0) return Errno(errno, "writing", raw_path);
    ::fcntl(file.fd, F_SETFL, 0);
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::write(file.fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno(errno, "writing", raw_path);
      done += static_cast<size_t>(n);
    }
    if (::close(file.fd) != 0) {
      file.fd = -1;
      return Errno(errno, "writing", raw_path);
    }
    file.fd = -1;
    return absl::OkStatus();
  }

  const std::string work_dir_;
  const std::shared_ptr<Running> running_;
  std::vector<std::pair<std::string, std::string>> env_;
};

int Main(int argc, char** argv) {
  std::string work_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--work-dir=", 0) == 0) {
      work_dir = arg.substr(11);
    } else {
      std::fprintf(stderr, "wake_hand_agent: unknown argument %s\nusage: wake_hand_agent [--work-dir=DIR]\n", argv[i]);
      return 2;
    }
  }
  if (work_dir.empty()) {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd)) == nullptr) {
      std::perror("wake_hand_agent: getcwd");
      return 1;
    }
    work_dir = cwd;
  }
  if (work_dir[0] != '/') {
    std::fprintf(stderr, "wake_hand_agent: the work dir must be absolute, not %s\n", work_dir.c_str());
    return 2;
  }
  ::mkdir(work_dir.c_str(), 0755);
  // A write to a closed stream is an error the event loop reports, not a signal that kills.
  ::signal(SIGPIPE, SIG_IGN);

  auto running = std::make_shared<Running>();
  try {
    kj::AsyncIoContext io = kj::setupAsyncIo();
    FdStreamOptions options;
    options.read_fd = ::dup(0);
    options.write_fd = ::dup(1);
    // Nothing else may read or write the protocol stream: stdin becomes /dev/null (where there is
    // one) and stdout stderr. (Closing them instead would let the next pipe take descriptor 0 or 1,
    // which the runner's dup2 into a child's stdio would then leave close-on-exec.)
    ::dup2(2, 1);
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, 0);
      ::close(null);
    }
    kj::Own<kj::AsyncIoStream> stream = NewFdStream(*io.lowLevelProvider, std::move(options));
    capnp::ReaderOptions reader;
    reader.traversalLimitInWords = kMaxMessageWords;
    capnp::TwoPartyVatNetwork network(*stream, capnp::rpc::twoparty::Side::SERVER, reader);
    auto rpc = capnp::makeRpcServer(network, kj::heap<Agent>(work_dir, running));
    network.onDisconnect().wait(io.waitScope);
  } catch (const kj::Exception& e) {
    std::fprintf(stderr, "wake_hand_agent: %s\n", e.getDescription().cStr());
  }
  // The engine is gone: nothing it started may keep running unsupervised.
  running->KillAll();
  std::fflush(stderr);
  ::_exit(0);
}

}  // namespace
}  // namespace wake::agent_internal

int main(int argc, char** argv) { return wake::agent_internal::Main(argc, argv); }
