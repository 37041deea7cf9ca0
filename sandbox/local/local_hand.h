#pragma once
// The local hand backend: each session gets a work dir on this machine, <base_dir>/<session id>, and
// its tools run as child processes of the engine (sandbox/local/process_runner.h: own process group,
// killed as a group on timeout or cancel, output capped, a clean environment).
//
// Files are confined to the work dir: paths resolve beneath it with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS), so neither `..` nor a symlink (file or directory) leads out; such a path is
// InvalidArgument. Writes are atomic (a temporary file renamed over the target) and make missing
// parent directories. This needs Linux 5.6 or later (openat2): older kernels fail NewLocalProvider.
//
// With `isolate`, processes run in new user, network and mount namespaces (no network, a private
// /tmp); where the machine does not allow that, NewLocalProvider fails FailedPrecondition rather than
// run unisolated. Resource limits (HandResources memory, cpus, pids) are not applied by this backend:
// use the docker backend for them.
//
// A hand lives as long as its directory: Reattach finds it after an engine restart; a removed
// directory makes the hand Unavailable. Release kills the hand's running processes and removes the
// directory. Thread-safe.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "sandbox/hand.h"

namespace wake {

struct LocalProviderOptions {
  std::string base_dir;  // created when missing
  bool isolate = false;
};

absl::StatusOr<std::unique_ptr<HandProvider>> NewLocalProvider(LocalProviderOptions options);

}  // namespace wake
