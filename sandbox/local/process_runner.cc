#include "sandbox/local/process_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <algorithm>
#include <functional>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace wake::local_internal {
namespace {

// Closes on scope exit.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

bool MakePipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end.fd = fds[0];
  write_end.fd = fds[1];
  return true;
}

// What the child reports when it cannot become the command (before exec succeeds).
enum Stage : int { kUnshare = 1, kUidMap, kGidMap, kMountPrivate, kMountTmp, kKeepWorkDir, kChdir, kExec };

struct ChildFailure {
  int stage = 0;
  int error = 0;
};

std::string Describe(const ChildFailure& f, const std::string& program, const std::string& cwd) {
  const char* why = std::strerror(f.error);
  switch (f.stage) {
    case kUnshare: return absl::StrCat("isolation: unshare: ", why);
    case kUidMap: return absl::StrCat("isolation: writing uid_map: ", why);
    case kGidMap: return absl::StrCat("isolation: writing gid_map: ", why);
    case kMountPrivate: return absl::StrCat("isolation: making mounts private: ", why);
    case kMountTmp: return absl::StrCat("isolation: mounting a private /tmp: ", why);
    case kKeepWorkDir: return absl::StrCat("isolation: keeping the work dir visible under the private /tmp: ", why);
    case kChdir: return absl::StrCat("cd ", cwd, ": ", why);
    default: return absl::StrCat(program, ": ", why);
  }
}

// Everything the child needs, made before fork: after fork in a threaded process the child may only
// make system calls (no allocation, no locks).
struct Prepared {
  std::string program;  // resolved against PATH when it has no '/'
  std::vector<std::string> args;
  std::vector<std::string> env_strings;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string cwd;
  bool isolate = false;
  std::string uid_map;
  std::string gid_map;
  // Isolation with the work dir under /tmp: the directories to make in the private /tmp, then the
  // work dir bind-mounted back in place (from a descriptor the child opens, in its own namespace,
  // before /tmp is covered, at kHeldFd).
  std::vector<std::string> tmp_dirs;
  std::string work_dir;
};

constexpr int kHeldFd = 200;
constexpr char kHeldFdPath[] = "/proc/self/fd/200";

std::string Resolve(const std::string& name, const std::vector<std::pair<std::string, std::string>>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& [k, v] : env) {
    if (k == "PATH") path = v;
  }
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find(':', start), path.size());
    const std::string candidate = absl::StrCat(path.substr(start, end - start), "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;  // exec fails with ENOENT, reported as such
}

void Prepare(const ProcessSpec& spec, Prepared& p) {
  p.args = spec.request->argv;
  if (p.args.empty()) p.args = {"/bin/sh", "-c", spec.request->shell};
  p.program = Resolve(p.args[0], spec.env);
  for (std::string& a : p.args) p.argv.push_back(a.data());
  p.argv.push_back(nullptr);
  for (const auto& [k, v] : spec.env) p.env_strings.push_back(absl::StrCat(k, "=", v));
  for (std::string& e : p.env_strings) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  p.cwd = spec.cwd;
  p.isolate = spec.isolate;
  p.uid_map = absl::StrCat("0 ", ::getuid(), " 1\n");
  p.gid_map = absl::StrCat("0 ", ::getgid(), " 1\n");
  if (p.isolate && spec.work_dir.rfind("/tmp/", 0) == 0) {
    for (size_t slash = spec.work_dir.find('/', 5); ; slash = spec.work_dir.find('/', slash + 1)) {
      p.tmp_dirs.push_back(spec.work_dir.substr(0, slash));
      if (slash == std::string::npos) break;
    }
    p.work_dir = spec.work_dir;
  }
}

// System calls only.
bool WriteSmall(const char* path, const std::string& text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// New user, network and mount namespaces and a private /tmp; 0 or the failed Stage (errno set).
int EnterNamespaces(const Prepared& p) {
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS) != 0) return kUnshare;
  WriteSmall("/proc/self/setgroups", "deny");
  if (!WriteSmall("/proc/self/uid_map", p.uid_map)) return kUidMap;
  if (!WriteSmall("/proc/self/gid_map", p.gid_map)) return kGidMap;
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return kMountPrivate;
  if (!p.work_dir.empty()) {
    const int held = ::open(p.work_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (held < 0 || ::dup3(held, kHeldFd, O_CLOEXEC) < 0) return kKeepWorkDir;
    ::close(held);
  }
  if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777") != 0) return kMountTmp;
  for (const std::string& dir : p.tmp_dirs) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return kKeepWorkDir;
  }
  if (!p.work_dir.empty() && ::mount(kHeldFdPath, p.work_dir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return kKeepWorkDir;
  }
  return 0;
}

// The child's side: system calls only, never returns.
[[noreturn]] void Child(const Prepared& p, int in, int out, int err, int report) {
  // When memory runs out, the OOM killer is to pick the tool, not what runs it (waked, or the hand
  // agent in a container, which the docker confinement test once saw killed in the hog's place).
  // Raising one's own score needs no privilege; best effort.
  WriteSmall("/proc/self/oom_score_adj", "1000");
  ::setsid();
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  // Signals the engine may ignore or block are back to their defaults for the tool.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  ChildFailure failure;
  if (p.isolate) failure.stage = EnterNamespaces(p);
  if (failure.stage == 0 && ::chdir(p.cwd.c_str()) != 0) failure.stage = kChdir;
  if (failure.stage == 0) {
    ::execve(p.program.c_str(), p.argv.data(), p.envp.data());
    failure.stage = kExec;
  }
  failure.error = errno;
  if (::write(report, &failure, sizeof(failure)) < 0) ::_exit(126);
  ::_exit(127);
}

void Append(std::string& to, const char* data, size_t n, size_t cap, bool& truncated) {
  if (to.size() < cap) {
    const size_t take = std::min(n, cap - to.size());
    to.append(data, take);
    if (take < n) truncated = true;
  } else if (n > 0) {
    truncated = true;
  }
}

}  // namespace

absl::StatusOr<RunOutcome> RunLocalProcess(const ProcessSpec& spec, const CancelToken* cancel,
                                           const GroupTracker& track) {
  const RunRequest& request = *spec.request;
  Fd in_r, in_w, out_r, out_w, err_r, err_w, rep_r, rep_w;
  if (!MakePipe(in_r, in_w) || !MakePipe(out_r, out_w) || !MakePipe(err_r, err_w) || !MakePipe(rep_r, rep_w)) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  Prepared prepared;
  Prepare(spec, prepared);
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) Child(prepared, in_r.fd, out_w.fd, err_w.fd, rep_w.fd);

  // The child leads its own group: its pid is the group id (setsid may not have run yet: setpgid
  // from here too, so a kill right away still reaches the group).
  ::setpgid(pid, pid);
  if (track) track(pid);
  // Readable once the child exits, so the loop wakes at once instead of polling for its exit (when
  // the child closed its pipes before becoming a zombie). Without pidfds (kernels before 5.3) the
  // loop polls.
  Fd exit_fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  in_r.Close();
  out_w.Close();
  err_w.Close();
  rep_w.Close();
  ::fcntl(in_w.fd, F_SETFL, O_NONBLOCK);

  RunOutcome outcome;
  std::string report;
  size_t stdin_done = 0;
  if (request.stdin_data.empty()) in_w.Close();
  const absl::Time deadline = absl::Now() + request.timeout;
  std::optional<absl::Time> drain_until;
  bool exited = false;
  int status = 0;
  bool killed = false;
  auto kill_group = [&] {
    ::kill(-pid, SIGKILL);
    killed = true;
  };

  char buffer[64 * 1024];
  while (out_r.fd >= 0 || err_r.fd >= 0 || rep_r.fd >= 0 || !exited) {
    if (!killed) {
      if (cancel != nullptr && cancel->cancelled()) {
        outcome.cancelled = true;
        kill_group();
      } else if (absl::Now() >= deadline) {
        outcome.timed_out = true;
        kill_group();
      } else if (drain_until && absl::Now() >= *drain_until) {
        kill_group();  // a background descendant kept the pipes open after the command ended
      }
    }
    if (!exited) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        exited = true;
        drain_until = absl::Now() + kDrainAfterExit;
      }
    }
    if (exited && killed) {
      // Whatever still holds the pipes was just killed: stop reading.
      out_r.Close();
      err_r.Close();
      rep_r.Close();
      break;
    }
    pollfd fds[5];
    int n = 0;
    for (int fd : {out_r.fd, err_r.fd, rep_r.fd}) {
      if (fd >= 0) fds[n++] = pollfd{fd, POLLIN, 0};
    }
    if (in_w.fd >= 0) fds[n++] = pollfd{in_w.fd, POLLOUT, 0};
    if (!exited && exit_fd.fd >= 0) fds[n++] = pollfd{exit_fd.fd, POLLIN, 0};
    if (n == 0) {
      if (!exited) ::usleep(static_cast<useconds_t>(absl::ToInt64Microseconds(kPollInterval) / 4));
      continue;
    }
    const int ready = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(absl::ToInt64Milliseconds(kPollInterval)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == exit_fd.fd) continue;  // the waitpid above collects it
      if (fds[i].fd == in_w.fd) {
        const ssize_t w = ::write(in_w.fd, request.stdin_data.data() + stdin_done, request.stdin_data.size() - stdin_done);
        if (w > 0) stdin_done += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN) in_w.Close();  // the child closed its stdin: it reads no more
        if (stdin_done == request.stdin_data.size()) in_w.Close();
        continue;
      }
      const ssize_t r = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        if (fds[i].fd == out_r.fd) out_r.Close();
        else if (fds[i].fd == err_r.fd) err_r.Close();
        else rep_r.Close();
        continue;
      }
      if (fds[i].fd == out_r.fd) {
        Append(outcome.stdout_data, buffer, static_cast<size_t>(r), request.output_cap, outcome.stdout_truncated);
      } else if (fds[i].fd == err_r.fd) {
        Append(outcome.stderr_data, buffer, static_cast<size_t>(r), request.output_cap, outcome.stderr_truncated);
      } else {
        report.append(buffer, static_cast<size_t>(r));
      }
    }
  }
  in_w.Close();
  if (!exited) ::waitpid(pid, &status, 0);
  // Anything left of the group (a background descendant) goes with the command.
  ::kill(-pid, SIGKILL);
  if (track) track(0);

  if (report.size() >= sizeof(ChildFailure)) {
    // The child could not become the command: tell it the way a shell would.
    ChildFailure failure;
    std::memcpy(&failure, report.data(), sizeof(failure));
    const std::string why = Describe(failure, prepared.args[0], prepared.cwd) + "\n";
    Append(outcome.stderr_data, why.data(), why.size(), request.output_cap, outcome.stderr_truncated);
    outcome.exited = true;
    outcome.exit_code = 127;
    return outcome;
  }
  if (WIFEXITED(status)) {
    outcome.exited = true;
    outcome.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.term_signal = WTERMSIG(status);
  }
  return outcome;
}

bool NamespacesAvailable() {
  static const bool available = [] {
    RunRequest probe;
    ProcessSpec spec;
    spec.request = &probe;
    spec.isolate = true;
    Prepared prepared;
    Prepare(spec, prepared);
    const pid_t pid = ::fork();
    if (pid < 0) return false;  // (the probe has no work dir to keep)
    if (pid == 0) ::_exit(EnterNamespaces(prepared) == 0 ? 0 : 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }();
  return available;
}

}  // namespace wake::local_internal
