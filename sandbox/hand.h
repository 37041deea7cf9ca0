#pragma once
// Hands: where tools run (DESIGN.md "Hands").
//
// Three layers, each in this folder:
//   - `Hand` (this header): one provisioned sandbox (a local work dir, a container, an SSH host) and
//     the three primitives every backend implements: run a process, read a file, write a file.
//     `HandProvider` makes hands of one backend, finds them again after a crash and reaps leftovers.
//   - the toolset (toolset.h): bash / read / write / edit / glob / grep with the Managed Agents
//     input shapes, written once over the primitives.
//   - `HandPool` (hand_pool.h): the `SessionHands` the harness calls; provisions a session's hand
//     lazily on its first tool call, shares one provisioning among concurrent first calls, reuses it,
//     reaps idle ones and replaces dead ones.
//
// Errors. A tool's own failure (non-zero exit, missing file, timeout) is a ToolResult with is_error,
// worded so a model can act on it. A non-OK Status means the hand could not run the call at all:
// Unavailable when the hand is dead or unreachable (container gone, connection lost); the pool drops
// such a hand and the next call provisions a fresh one.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/cancel.h"
#include "schemas/event.h"

namespace wake {

// ---------------------------------------------------------------------------------------------
// What the harness sees.

struct ToolCall {
  std::string name;
  std::string input_json;  // compact JSON object
  // Stable across retries of the same call (the harness derives it from the session and the
  // tool-use event): a hand that sees a key again returns the stored result instead of re-running.
  std::string idempotency_key;
};

struct ToolResult {
  std::vector<ContentBlock> content;
  bool is_error = false;

  friend bool operator==(const ToolResult&, const ToolResult&) = default;
};

// The hands of every session, as the harness uses them. Thread-safe.
class SessionHands {
 public:
  virtual ~SessionHands() = default;
  // Runs `call` on the session's hand, provisioning one on first use. `cancel` (may be null) stops
  // a running call: its process tree is killed and the result says it was cancelled. Events about
  // the hand itself that the harness should append before the tool result (wake.hand_provisioned,
  // wake.hand_lost) are added to `hand_events` when it is not null; the harness gives them their ids.
  virtual absl::StatusOr<ToolResult> Execute(std::string_view session_id, const ToolCall& call,
                                             const CancelToken* cancel, std::vector<Event>* hand_events) = 0;
  // The session has ended (archived or deleted): whatever its calls hold (a hand, a remote session)
  // is let go. A later Execute for it starts afresh. Hands that hold nothing keep the default.
  virtual absl::Status ReleaseSession(std::string_view /*session_id*/) { return absl::OkStatus(); }
};

// Sends the calls of some tools to SessionHands of their own (e.g. `delegate` to the managed-agents
// hand) and every other call to `others` (usually the HandPool). ReleaseSession reaches all of them
// and reports the first failure. None is owned; all outlive the router.
class ToolRouter final : public SessionHands {
 public:
  ToolRouter(std::vector<std::pair<std::string, SessionHands*>> routes, SessionHands* others)
      : routes_(std::move(routes)), others_(others) {}
  absl::StatusOr<ToolResult> Execute(std::string_view session_id, const ToolCall& call, const CancelToken* cancel,
                                     std::vector<Event>* hand_events) override;
  absl::Status ReleaseSession(std::string_view session_id) override;

 private:
  const std::vector<std::pair<std::string, SessionHands*>> routes_;
  SessionHands* const others_;
};

// Tools whose re-execution has no effect beyond the first (DESIGN.md rule 3): after a crash between
// "tool started" and its result, these are re-run with the same idempotency key; others are not.
bool IsIdempotentTool(std::string_view name);

// ---------------------------------------------------------------------------------------------
// The primitives a backend implements.

struct RunRequest {
  // The program and its arguments, run directly (no shell) when non-empty; otherwise `shell` runs
  // as `/bin/sh -c <shell>`.
  std::vector<std::string> argv;
  std::string shell;
  std::string stdin_data;  // written to the process's stdin, which is then closed
  // Added to (or overriding) the hand's base environment.
  std::vector<std::pair<std::string, std::string>> env;
  // The working directory: relative to the hand's work dir, or absolute; "" is the work dir.
  std::string cwd;
  // When it elapses the whole process tree (not only the direct child) is killed.
  absl::Duration timeout = absl::Minutes(2);
  // Per stream: bytes beyond this are read and dropped (the process never blocks on a full pipe),
  // and the outcome says it was truncated.
  size_t output_cap = 1 << 20;
};

struct RunOutcome {
  bool exited = false;  // exited normally, with exit_code
  int exit_code = -1;
  int term_signal = 0;  // killed by this signal (0 when it exited)
  bool timed_out = false;
  bool cancelled = false;
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
};

// Limits and options for a new hand. Backends ignore what does not apply to them (and say so in
// their header).
struct HandResources {
  int64_t memory_bytes = int64_t{1} << 30;  // 0: unlimited
  double cpus = 1.0;                        // 0: unlimited
  int64_t pids = 512;                       // 0: unlimited
  bool network = false;                     // docker: network "none" unless true
  // Added to every process's environment (e.g. secrets a tool's resource asked the vault for).
  std::vector<std::pair<std::string, std::string>> env;
};

// One provisioned sandbox. Thread-safe: Run, ReadFile and WriteFile may be called concurrently.
//
// Paths given to ReadFile / WriteFile are absolute within the hand or relative to work_dir(). The
// toolset has already refused paths that leave the work dir lexically; a backend whose files are the
// engine host's own (local) must also refuse to follow a symlink out of it (InvalidArgument).
//
// Errors: Unavailable (and only then) when the hand itself is dead or unreachable. For files:
// NotFound (no such file), FailedPrecondition (a directory, or not a regular file), OutOfRange (larger
// than max_bytes), InvalidArgument (the path escapes the work dir), PermissionDenied.
class Hand {
 public:
  virtual ~Hand() = default;

  virtual std::string_view backend() const = 0;  // "local", "docker", "ssh"
  // Identifies the sandbox in events and logs: a directory, a container id, user@host:port.
  virtual const std::string& id() const = 0;
  // The absolute directory inside the hand where tools start and to which paths are confined.
  virtual const std::string& work_dir() const = 0;

  // Runs a process to completion (or timeout, or cancel). A process that ran and failed is an OK
  // outcome; a non-OK status means the hand could not start it.
  virtual absl::StatusOr<RunOutcome> Run(const RunRequest& request, const CancelToken* cancel) = 0;
  virtual absl::StatusOr<std::string> ReadFile(std::string_view path, size_t max_bytes) = 0;
  // Creates or replaces the file (and its missing parent directories) with `content`.
  virtual absl::Status WriteFile(std::string_view path, std::string_view content) = 0;

  // OK while the sandbox is alive; Unavailable (with why) once it is not.
  virtual absl::Status Health() = 0;
  // Destroys the sandbox (container removed, remote work dir left to its host). Idempotent. After
  // Release, every other call fails FailedPrecondition.
  virtual absl::Status Release() = 0;
};

// Makes hands of one backend. Thread-safe.
class HandProvider {
 public:
  virtual ~HandProvider() = default;
  virtual std::string_view backend() const = 0;

  // A new sandbox for `session_id`, labelled with it so a later process can find it again.
  virtual absl::StatusOr<std::unique_ptr<Hand>> Provision(std::string_view session_id,
                                                          const HandResources& resources) = 0;
  // The live sandbox an earlier process provisioned for `session_id` (after a crash or restart), or
  // NotFound when there is none (or it is dead: then it is removed first).
  virtual absl::StatusOr<std::unique_ptr<Hand>> Reattach(std::string_view session_id,
                                                         const HandResources& resources) = 0;
  // Gives `spare`, a hand this provider provisioned under an id of its own (a warm pool's spare), to
  // `session_id`: afterwards Reattach(session_id) finds it (after a restart too) and ReapExcept
  // counts it as the session's. Unimplemented (the default) where a backend cannot: the spare still
  // serves the session, but a later process provisions a new sandbox instead of re-attaching it.
  virtual absl::Status Adopt(Hand& /*spare*/, std::string_view /*session_id*/) {
    return absl::UnimplementedError(std::string(backend()) + " hands cannot be given to another session");
  }
  // Releases every sandbox of this provider whose session `keep` says no to (the sessions were
  // deleted, or their hands idled out while no process was running). Returns how many it released.
  virtual absl::StatusOr<size_t> ReapExcept(absl::FunctionRef<bool(std::string_view session_id)> keep) = 0;
};

}  // namespace wake
