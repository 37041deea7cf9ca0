// The per-exec primitives (container_primitives.h): a Run is one exec, files go through the archive
// endpoints.
//
// Killing a process tree. runc starts every exec as the leader of a new session, and Run gives it a
// marker in its environment, WAKE_RUN_ID=<random>, which every descendant inherits. On timeout or
// cancel a second exec (as root) finds the processes whose environment holds the marker, kills
// their process groups and them, and repeats until a round finds none: a child forked between the
// scan and the kill is caught by the next round, and one that made itself a new session is still
// found by its environment. (Only a process that both leaves the group and clears its environment
// escapes; the container's pids limit bounds what it can do, and Release removes it.) Docker-init
// (tini) as PID 1 reaps the orphans, so killed trees leave no zombies behind.
//
// The exit status. The daemon reports a process killed by signal N as exit code 128+N (containerd
// records no separate signal), so a code in 129..192 is reported as that signal, the convention of
// POSIX shells; a program that itself exits 130 is indistinguishable.

#include <algorithm>
#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "sandbox/docker/internal/container_primitives.h"
#include "sandbox/docker/internal/stream_demux.h"
#include "sandbox/docker/internal/tar.h"
#include "schemas/event_json.h"
#include "simdjson.h"

namespace wake::docker_internal {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kRunIdVar = "WAKE_RUN_ID";
// How often a running exec is checked for its deadline and cancel when it is silent.
constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
constexpr size_t kHelperOutputCap = 64 * 1024;
// A tar stream holds a file's content plus headers, a PAX record and padding: a few KiB.
constexpr size_t kTarOverhead = 64 * 1024;
constexpr int kMaxSymlinkHops = 8;
// How long a container whose exec was SIGKILLed must stay "running" to be believed alive.
constexpr absl::Duration kDeathSettle = absl::Milliseconds(300);

// Kills every process whose environment holds the marker $1, with its process group, until none is
// left (see the comment at the top of this file). Exits 0 when none is left, 1 when it gave up.
constexpr std::string_view kKillTreeScript = R"sh(t="$1"; n=0
while [ "$n" -lt 100 ]; do
  n=$((n+1)); found=
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    grep -qsF -- "$t" "$d/environ" 2>/dev/null && found="$found $p"
  done
  [ -z "$found" ] && exit 0
  for p in $found; do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }; set -- $s
    [ "${3:-0}" -gt 1 ] 2>/dev/null && kill -9 -"$3" 2>/dev/null
  done
  kill -9 $found 2>/dev/null
done
exit 1)sh";

std::string RandomHex(size_t bytes) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    const auto b = static_cast<unsigned>(rng() & 0xFF);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

void AppendStringArray(std::string& out, const std::vector<std::string>& items) {
  out.push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(out, items[i]);
  }
  out.push_back(']');
}

std::string_view Dirname(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? std::string_view("/") : path.substr(0, slash);
}

std::string_view Basename(std::string_view path) { return path.substr(path.rfind('/') + 1); }

// What the archive endpoints say about a path (X-Docker-Container-Path-Stat): Go's os.FileMode bits.
struct PathStat {
  uint64_t size = 0;
  uint32_t mode = 0;
  std::string link_target;

  static constexpr uint32_t kDir = 1u << 31;
  static constexpr uint32_t kSymlink = 1u << 27;
  // Directory, append-only, exclusive, temporary, symlink, device, named pipe, socket, setuid,
  // setgid, char device, sticky, irregular: everything but a plain file's type.
  static constexpr uint32_t kTypeBits = kDir | (1u << 27) | (1u << 26) | (1u << 25) | (1u << 24) | (1u << 21) |
                                        (1u << 19);
  bool is_dir() const { return (mode & kDir) != 0; }
  bool is_symlink() const { return (mode & kSymlink) != 0; }
  bool is_regular() const { return (mode & kTypeBits) == 0; }
  // Permission bits, with setuid/setgid/sticky moved back to their Unix places.
  uint32_t unix_mode() const {
    return (mode & 0777) | ((mode & (1u << 23)) ? 04000 : 0) | ((mode & (1u << 22)) ? 02000 : 0) |
           ((mode & (1u << 20)) ? 01000 : 0);
  }
};

absl::StatusOr<PathStat> ParsePathStat(std::string_view header) {
  std::string json;
  if (!absl::Base64Unescape(ToAbsl(header), &json)) {
    return absl::InternalError("docker daemon sent a malformed X-Docker-Container-Path-Stat header");
  }
  dom::parser parser;
  simdjson::padded_string padded(json);
  dom::element root;
  PathStat stat;
  int64_t size = 0;
  uint64_t mode = 0;
  std::string_view link;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS || root["size"].get(size) != simdjson::SUCCESS ||
      root["mode"].get(mode) != simdjson::SUCCESS) {
    return absl::InternalError(absl::StrCat("docker daemon sent an unexpected path stat: ", json));
  }
  stat.size = static_cast<uint64_t>(std::max<int64_t>(0, size));
  stat.mode = static_cast<uint32_t>(mode);
  if (root["linkTarget"].get(link) == simdjson::SUCCESS) stat.link_target = std::string(link);
  return stat;
}

class ExecPrimitives : public ContainerPrimitives {
 public:
  ExecPrimitives(std::shared_ptr<const EngineClient> client, std::string container_id, ExecPrimitivesOptions options)
      : client_(std::move(client)), id_(std::move(container_id)), options_(std::move(options)) {}

  absl::StatusOr<RunOutcome> Run(const RunRequest& request, const CancelToken* cancel) override {
    Exec exec;
    if (!request.argv.empty()) {
      exec.cmd = request.argv;
    } else if (!request.shell.empty()) {
      exec.cmd = {"/bin/sh", "-c", request.shell};
    } else {
      return absl::InvalidArgumentError("nothing to run: both argv and shell are empty");
    }
    RETURN_IF_ERROR(CheckEnvironment(request.env));
    for (const auto& [name, value] : request.env) exec.env.push_back(absl::StrCat(name, "=", value));
    if (request.timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("the timeout must be positive");
    }
    exec.run_id = RandomHex(16);
    exec.env.push_back(absl::StrCat(ToAbsl(kRunIdVar), "=", exec.run_id));
    exec.cwd = request.cwd;
    exec.user = options_.user;
    exec.stdin_data = request.stdin_data;
    exec.output_cap = request.output_cap;
    exec.deadline = absl::Now() + request.timeout;
    exec.cancel = cancel;
    return RunExec(exec);
  }

  // The archive endpoints work on a stopped container too; a dead hand's files are not to be used
  // (what is written would be lost with it), so both file primitives check first (~0.3 ms).
  absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) override {
    RETURN_IF_ERROR(CheckRunning());
    std::string current = path;
    for (int hop = 0; hop <= kMaxSymlinkHops; ++hop) {
      const std::string target = ArchiveTarget(current);
      CallOptions options;
      options.timeout = options_.helper_timeout;
      options.max_body = max_bytes > SIZE_MAX - kTarOverhead ? SIZE_MAX : max_bytes + kTarOverhead;
      ASSIGN_OR_RETURN(EngineResponse response, client_->Call("GET", target, {}, options));
      if (response.status != 200) return FileError("GET", target, response, path, /*reading=*/true);
      ASSIGN_OR_RETURN(PathStat stat, ParsePathStat(response.path_stat));
      if (stat.is_symlink()) {
        ASSIGN_OR_RETURN(current, FollowLink(current, stat));
        continue;
      }
      if (stat.is_dir()) return absl::FailedPreconditionError(absl::StrCat(path, " is a directory"));
      if (!stat.is_regular()) return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
      if (stat.size > max_bytes || response.body_limited) {
        return absl::OutOfRangeError(absl::StrCat(path, " has ", stat.size, " bytes, more than the ", max_bytes, " allowed"));
      }
      absl::StatusOr<TarEntry> entry = FirstTarEntry(response.body);
      if (!entry.ok()) {
        return absl::DataLossError(absl::StrCat("docker daemon sent a bad archive of ", path, ": ", entry.status().message()));
      }
      if (entry->type != '0' && entry->type != '7') {
        return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
      }
      if (entry->content.size() > max_bytes) {
        return absl::OutOfRangeError(absl::StrCat(path, " has more than the ", max_bytes, " bytes allowed"));
      }
      return std::move(entry->content);
    }
    return absl::FailedPreconditionError(absl::StrCat(path, ": too many levels of symbolic links"));
  }

  absl::Status WriteFile(const std::string& path, std::string_view content) override {
    if (path == "/" || Basename(path).empty()) return absl::InvalidArgumentError(absl::StrCat(path, " is not a file path"));
    RETURN_IF_ERROR(CheckRunning());
    // What is there now: a directory is refused, a symlink written through, a file's mode kept (an
    // edited script stays executable).
    std::string current = path;
    uint32_t mode = 0644;
    for (int hop = 0;; ++hop) {
      if (hop > kMaxSymlinkHops) {
        return absl::FailedPreconditionError(absl::StrCat(path, ": too many levels of symbolic links"));
      }
      // HEAD answers from a stat (about 1 ms); a GET would archive the file first (about 45 ms).
      const std::string target = ArchiveTarget(current);
      CallOptions options;
      options.timeout = options_.helper_timeout;
      ASSIGN_OR_RETURN(EngineResponse response, client_->Call("HEAD", target, {}, options));
      if (response.status == 404) break;  // a new file (the container was there a moment ago)
      if (response.status != 200) {
        // A HEAD response has no body to say why; a GET's has.
        options.max_body = 0;
        ASSIGN_OR_RETURN(response, client_->Call("GET", target, {}, options));
        if (response.status != 200) return FileError("GET", target, response, path, /*reading=*/false);
      }
      ASSIGN_OR_RETURN(PathStat stat, ParsePathStat(response.path_stat));
      if (stat.is_symlink()) {
        ASSIGN_OR_RETURN(current, FollowLink(current, stat));
        continue;
      }
      if (stat.is_dir()) return absl::FailedPreconditionError(absl::StrCat(path, " is a directory"));
      if (!stat.is_regular()) return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
      mode = stat.unix_mode();
      break;
    }

    const std::string parent(Dirname(current));
    const std::string archive =
        TarOneFile(Basename(current), content, mode, absl::ToUnixSeconds(absl::Now()));
    // noOverwriteDirNonDir: without it the daemon would replace a directory by the file, recursively.
    // copyUIDGID: the file belongs to the container's user, who can then change it.
    const std::string target = absl::StrCat("/containers/", id_, "/archive?path=", QueryEscape(parent),
                                            "&noOverwriteDirNonDir=true&copyUIDGID=true");
    CallOptions options;
    options.content_type = "application/x-tar";
    options.timeout = options_.helper_timeout;
    for (int attempt = 0;; ++attempt) {
      ASSIGN_OR_RETURN(EngineResponse response, client_->Call("PUT", target, archive, options));
      if (response.status == 200) return absl::OkStatus();
      if (response.status == 404 && !ContainerGone(response) && attempt == 0) {
        // The parent directory is missing: make it (and its parents), then try once more.
        RETURN_IF_ERROR(MakeDirectories(parent));
        continue;
      }
      return FileError("PUT", target, response, path, /*reading=*/false);
    }
  }

 private:
  struct Exec {
    std::vector<std::string> cmd;
    std::vector<std::string> env;
    std::string cwd;
    std::string user;
    std::string stdin_data;
    size_t output_cap = 0;
    absl::Time deadline = absl::InfiniteFuture();
    const CancelToken* cancel = nullptr;
    // The environment marker of the process tree; empty for helper execs, which are not killed
    // (they are short and bounded by their deadline).
    std::string run_id;
  };

  std::string ArchiveTarget(std::string_view path) const {
    return absl::StrCat("/containers/", id_, "/archive?path=", QueryEscape(path));
  }

  absl::Status Gone(std::string_view method, std::string_view target, const EngineResponse& response) const {
    return absl::UnavailableError(absl::StrCat("docker container ", id_.substr(0, 12), " is gone or stopped (",
                                               DaemonError(method, target, response).message(), ")"));
  }

  // The status for an archive endpoint's error response about `path`. `reading`: for ReadFile,
  // where a path through a non-directory simply does not exist.
  absl::Status FileError(std::string_view method, std::string_view target, const EngineResponse& response,
                         const std::string& path, bool reading) const {
    if (ContainerGone(response)) return Gone(method, target, response);
    const std::string message = DaemonMessage(response);
    if (response.status == 404) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    if (absl::StrContains(message, "not a directory")) {
      // The daemon's message names its own overlay directory: say it in the container's terms.
      const std::string why = absl::StrCat(path, ": a component of the path is not a directory");
      return reading ? absl::NotFoundError(why) : absl::FailedPreconditionError(why);
    }
    if (response.status == 403) return absl::PermissionDeniedError(absl::StrCat(path, ": ", message));
    if (absl::StrContains(message, "cannot overwrite")) {
      return absl::FailedPreconditionError(absl::StrCat(path, ": ", message));
    }
    return DaemonError(method, target, response);
  }

  // The target of a symlink `path` as the daemon resolved it (absolute within the container).
  absl::StatusOr<std::string> FollowLink(const std::string& path, const PathStat& stat) const {
    if (stat.link_target.empty() || stat.link_target[0] != '/' || stat.link_target == path) {
      return absl::FailedPreconditionError(absl::StrCat(path, " is a symbolic link that cannot be followed"));
    }
    return stat.link_target;
  }

  absl::Status MakeDirectories(const std::string& dir) {
    Exec exec;
    exec.cmd = {"mkdir", "-p", "--", dir};
    exec.user = options_.user;
    exec.output_cap = kHelperOutputCap;
    exec.deadline = absl::Now() + options_.helper_timeout;
    ASSIGN_OR_RETURN(RunOutcome outcome, RunExec(exec));
    if (outcome.exited && outcome.exit_code == 0) return absl::OkStatus();
    std::string why = outcome.stderr_data.empty() ? outcome.stdout_data : outcome.stderr_data;
    while (!why.empty() && why.back() == '\n') why.pop_back();
    if (outcome.timed_out) why = "timed out";
    return absl::FailedPreconditionError(absl::StrCat("cannot create directory ", dir, ": ", why));
  }

  // Kills the process tree marked `run_id` (see the top of this file). Best effort: when the
  // container is gone there is nothing left to kill.
  void KillTree(const std::string& run_id) {
    Exec kill;
    kill.cmd = {"/bin/sh", "-c", std::string(kKillTreeScript), "wake-kill", absl::StrCat(ToAbsl(kRunIdVar), "=", run_id)};
    kill.user = "0";
    kill.output_cap = kHelperOutputCap;
    kill.deadline = absl::Now() + options_.helper_timeout;
    (void)RunExec(kill);
  }

  absl::StatusOr<RunOutcome> RunExec(const Exec& exec) {
    const bool attach_stdin = !exec.stdin_data.empty();
    std::string body = R"({"AttachStdin":)";
    absl::StrAppend(&body, attach_stdin ? "true" : "false", R"(,"AttachStdout":true,"AttachStderr":true,"Tty":false)");
    if (!exec.user.empty()) {
      body += R"(,"User":)";
      AppendJsonString(body, exec.user);
    }
    if (!exec.cwd.empty()) {
      body += R"(,"WorkingDir":)";
      AppendJsonString(body, exec.cwd);
    }
    body += R"(,"Env":)";
    AppendStringArray(body, exec.env);
    body += R"(,"Cmd":)";
    AppendStringArray(body, exec.cmd);
    body += "}";

    const std::string create_target = absl::StrCat("/containers/", id_, "/exec");
    ASSIGN_OR_RETURN(EngineResponse created, client_->Call("POST", create_target, body));
    if (created.status != 201) {
      if (ContainerGone(created)) return Gone("POST", create_target, created);
      return DaemonError("POST", create_target, created);
    }
    ASSIGN_OR_RETURN(std::string exec_id, JsonStringField(created.body, "Id", "POST", create_target));

    const std::string start_target = absl::StrCat("/exec/", exec_id, "/start");
    ASSIGN_OR_RETURN(Upgraded upgraded, client_->Upgrade(start_target, R"({"Detach":false,"Tty":false})",
                                                         absl::Now() + options_.helper_timeout));
    if (upgraded.stream == nullptr) {
      if (ContainerGone(upgraded.response) || upgraded.response.status == 404) {
        return Gone("POST", start_target, upgraded.response);
      }
      return DaemonError("POST", start_target, upgraded.response);
    }

    bool killed = false;
    absl::StatusOr<RunOutcome> outcome = Drive(exec, exec_id, *upgraded.stream, killed);
    if (!outcome.ok() && !killed && !exec.run_id.empty()) {
      // The hand lost track of the process (the stream broke, the daemon stopped answering): it
      // must not keep running unsupervised. Best effort; a dead container has nothing to kill.
      KillTree(exec.run_id);
    }
    return outcome;
  }

  // Pumps a started exec's streams until they end (or the tree is killed and the grace ran out),
  // then collects its exit status. `killed` says whether the tree was killed.
  absl::StatusOr<RunOutcome> Drive(const Exec& exec, const std::string& exec_id, RawStream& stream, bool& killed) {
    RunOutcome outcome;
    absl::Time give_up = absl::InfiniteFuture();  // set once the tree is killed
    // Kills the tree once, when the deadline passes or the caller cancels.
    auto check_kill = [&] {
      if (killed) return;
      if (exec.cancel != nullptr && exec.cancel->cancelled()) {
        outcome.cancelled = true;
      } else if (absl::Now() >= exec.deadline) {
        outcome.timed_out = true;
      } else {
        return;
      }
      killed = true;
      if (!exec.run_id.empty()) KillTree(exec.run_id);
      give_up = absl::Now() + options_.kill_grace;
    };

    // The streams, until the daemon closes them (every holder of the pipes exited).
    StreamDemux demux(exec.output_cap);
    std::string_view unsent = exec.stdin_data;
    bool stdin_open = !exec.stdin_data.empty();  // attached exactly then
    bool eof = false;
    char buffer[64 * 1024];
    while (!eof) {
      check_kill();
      if (absl::Now() >= give_up) break;  // a process outside the tree keeps the stream open
      if (stdin_open && killed) {
        stdin_open = false;
        stream.CloseWrite();
      }
      ASSIGN_OR_RETURN(RawStream::Ready ready, stream.Wait(stdin_open, NextWait(exec.deadline, killed)));
      if (ready.writable && stdin_open) {
        absl::StatusOr<size_t> n = stream.Write(unsent);
        if (n.ok()) unsent.remove_prefix(*n);
        // A process that exits without reading its input is no error; its stdin is just closed.
        if (!n.ok() || unsent.empty()) {
          stdin_open = false;
          stream.CloseWrite();
        }
      }
      while (ready.readable && !eof) {
        ASSIGN_OR_RETURN(size_t n, stream.Read(buffer, sizeof(buffer), &eof));
        if (n == 0) break;
        demux.Feed(std::string_view(buffer, n));
      }
    }

    // The exit code: the exec can still be finishing after its streams closed, or still running
    // when it closed them itself.
    const std::string inspect_target = absl::StrCat("/exec/", exec_id, "/json");
    absl::Duration backoff = absl::Milliseconds(1);
    bool finished = false;
    while (true) {
      ASSIGN_OR_RETURN(EngineResponse inspected, client_->Call("GET", inspect_target));
      if (inspected.status == 404) break;  // the container went away with the exec
      if (inspected.status != 200) return DaemonError("GET", inspect_target, inspected);
      ASSIGN_OR_RETURN(std::optional<int64_t> exit_code, ExecExitCode(inspected.body, inspect_target));
      if (exit_code) {
        finished = true;
        if (*exit_code > 128 && *exit_code <= 128 + 64) {
          outcome.term_signal = static_cast<int>(*exit_code - 128);
        } else {
          outcome.exited = true;
          outcome.exit_code = static_cast<int>(*exit_code);
        }
        break;
      }
      check_kill();
      if (absl::Now() >= give_up) break;
      absl::SleepFor(std::min(backoff, NextWait(exec.deadline, killed)));
      backoff = std::min(backoff * 2, kPollInterval);
    }
    if (!finished || (outcome.term_signal == 9 && !killed)) {
      // SIGKILLed by someone else, or vanished: was it the whole container that died?
      RETURN_IF_ERROR(CheckRunning(kDeathSettle));
    }
    if (!finished) outcome.term_signal = 9;  // killed by the hand, or gone without a trace

    outcome.stdout_truncated = demux.stdout_truncated();
    outcome.stderr_truncated = demux.stderr_truncated();
    outcome.stdout_data = std::move(demux.stdout_data());
    outcome.stderr_data = std::move(demux.stderr_data());
    // When runc cannot start the process (no such program, no such working directory) the daemon
    // writes its error to stdout and reports exit code 126 or 127; it is the process's error, not
    // its output.
    if (outcome.exited && (outcome.exit_code == 126 || outcome.exit_code == 127) && outcome.stderr_data.empty() &&
        absl::StartsWith(outcome.stdout_data, "OCI runtime exec failed")) {
      std::swap(outcome.stdout_data, outcome.stderr_data);
      std::swap(outcome.stdout_truncated, outcome.stderr_truncated);
    }
    return outcome;
  }

  // How long to wait for the stream before checking deadline and cancel again.
  static absl::Duration NextWait(absl::Time deadline, bool killed) {
    if (killed) return kPollInterval;
    return std::clamp(deadline - absl::Now(), absl::ZeroDuration(), kPollInterval);
  }

  // OK while the container runs; Unavailable once it does not. A container being killed takes
  // the daemon some time (about 50 ms here) to mark as stopped after its processes died, so when
  // that is the question a "running" answer is trusted only once it held for `settle`.
  absl::Status CheckRunning(absl::Duration settle = absl::ZeroDuration()) const {
    const absl::Time until = absl::Now() + settle;
    const std::string target = absl::StrCat("/containers/", id_, "/json");
    while (true) {
      ASSIGN_OR_RETURN(EngineResponse response, client_->Call("GET", target));
      if (response.status == 404) return Gone("GET", target, response);
      if (response.status != 200) return DaemonError("GET", target, response);
      dom::parser parser;
      simdjson::padded_string padded(response.body);
      dom::element root;
      bool running = false;
      if (parser.parse(padded).get(root) != simdjson::SUCCESS ||
          root["State"]["Running"].get(running) != simdjson::SUCCESS) {
        return absl::InternalError(absl::StrCat("docker daemon: GET ", target, ": unexpected response"));
      }
      if (!running) return absl::UnavailableError(absl::StrCat("docker container ", id_.substr(0, 12), " is not running"));
      if (absl::Now() >= until) return absl::OkStatus();
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

  // The exit code from an exec inspect, or nullopt while it runs.
  static absl::StatusOr<std::optional<int64_t>> ExecExitCode(const std::string& json, const std::string& target) {
    dom::parser parser;
    simdjson::padded_string padded(json);
    dom::element root;
    bool running = true;
    if (parser.parse(padded).get(root) != simdjson::SUCCESS || root["Running"].get(running) != simdjson::SUCCESS) {
      return absl::InternalError(absl::StrCat("docker daemon: GET ", target, ": unexpected response"));
    }
    if (running) return std::nullopt;
    int64_t code = 0;
    if (root["ExitCode"].get(code) != simdjson::SUCCESS) code = -1;  // the daemon recorded none
    return code;
  }

  static absl::StatusOr<std::string> JsonStringField(const std::string& json, std::string_view key,
                                                     std::string_view method, std::string_view target) {
    dom::parser parser;
    simdjson::padded_string padded(json);
    dom::element root;
    std::string_view value;
    if (parser.parse(padded).get(root) != simdjson::SUCCESS || root[key].get(value) != simdjson::SUCCESS) {
      return absl::InternalError(absl::StrCat("docker daemon: ", ToAbsl(method), " ", ToAbsl(target),
                                              ": no \"", ToAbsl(key), "\" in the response"));
    }
    return std::string(value);
  }

  const std::shared_ptr<const EngineClient> client_;
  const std::string id_;
  const ExecPrimitivesOptions options_;
};

}  // namespace

std::unique_ptr<ContainerPrimitives> NewExecPrimitives(std::shared_ptr<const EngineClient> client,
                                                       std::string container_id, ExecPrimitivesOptions options) {
  return std::make_unique<ExecPrimitives>(std::move(client), std::move(container_id), std::move(options));
}

absl::Status CheckEnvironment(const std::vector<std::pair<std::string, std::string>>& env) {
  for (const auto& [name, value] : env) {
    if (name.empty() || name.find('=') != std::string::npos || name.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad environment variable name \"", name, "\""));
    }
    if (value.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, " holds a NUL byte"));
    }
  }
  return absl::OkStatus();
}

bool ContainerGone(const EngineResponse& response) {
  const std::string message = DaemonMessage(response);
  if (response.status == 404) {
    // A live container always has its root: the archive endpoint cannot find "/" only in one whose
    // filesystem is already torn down by a removal under way.
    return absl::StartsWith(message, "No such container") ||
           absl::StartsWith(message, "Could not find the file / in container");
  }
  if (response.status == 409 || response.status == 500) {
    return absl::StrContains(message, "is not running") || absl::StrContains(message, "is paused") ||
           absl::StrContains(message, "is restarting") || absl::StrContains(message, "is dead") ||
           absl::StrContains(message, "marked for removal");
  }
  return false;
}

}  // namespace wake::docker_internal
