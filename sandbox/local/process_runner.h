#pragma once
// RunLocalProcess: one process (argv, or /bin/sh -c), run to completion on this machine, the way a hand
// runs it (sandbox/hand.h RunRequest / RunOutcome).
//
//  - The child starts a session of its own (setsid), so it and everything it starts share a process
//    group; a timeout or a cancel kills that whole group with SIGKILL. (A descendant that calls setsid
//    itself leaves the group and survives: use the isolated mode, or a container, when that matters.)
//  - stdin is written, then closed; stdout and stderr are read concurrently with poll(), so the child
//    never blocks on a full pipe; bytes beyond output_cap are read and dropped.
//  - When the child exits, its output is read to the end for up to kDrainAfterExit; a background
//    descendant still holding the pipes after that is killed with the group.
//  - The environment is exactly `env` (nothing of the engine's own environment leaks into a hand).
//  - Every descriptor is O_CLOEXEC: the child inherits nothing but its three pipes; no zombie is left.
//  - With `isolate`, the child runs in new user, network and mount namespaces: no network but a
//    loopback that is down, and a private /tmp.
//
// A program that cannot be executed is an exit code of 127 with the reason on stderr, as a shell
// reports it. The CancelToken is polled every kPollInterval.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/cancel.h"
#include "sandbox/hand.h"

namespace wake::local_internal {

inline constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
inline constexpr absl::Duration kDrainAfterExit = absl::Milliseconds(200);

struct ProcessSpec {
  const RunRequest* request = nullptr;
  std::string cwd;  // absolute
  // The hand's work dir (absolute): kept visible in isolation even when it lies under /tmp.
  std::string work_dir;
  std::vector<std::pair<std::string, std::string>> env;  // the whole environment
  bool isolate = false;
};

// Called with the child's process group id once it runs (and with 0 when it is over), so an owner can
// kill it from outside (a hand being released).
using GroupTracker = std::function<void(int pgid)>;

// Internal (Unavailable) only when the process could not be started at all (no pipes, no fork).
absl::StatusOr<RunOutcome> RunLocalProcess(const ProcessSpec& spec, const CancelToken* cancel,
                                           const GroupTracker& track = {});

// Whether new user + network + mount namespaces can be made here (probed once, in a child).
bool NamespacesAvailable();

}  // namespace wake::local_internal
