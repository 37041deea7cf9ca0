#pragma once
// The docker hand backend: one container per hand, driven through the Docker Engine API over the
// daemon's unix socket (libcurl; never the docker CLI).
//
//   Provision   create a container from `image` with the session's limits (HostConfig Memory and
//               MemorySwap, NanoCpus, PidsLimit; NetworkMode "none" unless resources.network),
//               unprivileged with every capability dropped (CapDrop ALL), no-new-privileges and no
//               host mounts (limits above the provider's ceilings, or 0 = unlimited, get the
//               ceilings); a fork bomb stops at the pids limit and a memory hog is OOM-killed
//               inside the container, both ending as a failed tool call,
//               labels wake.hand=1 and wake.session=<id>, docker-init as PID 1 and an idle command,
//               then start it. The daemon creates the work dir (the container's WorkingDir).
//               The container's name is derived from the session id and the provider's labels
//               (wake-<id>-<hash>), so the daemon itself keeps a session to one container: a
//               container a killed process left under that name (half-made, or a dead hand not yet
//               removed) is removed and the create repeated. Without it, a waked killed while it
//               provisioned left a create its successor raced, and the session's files could end
//               up in the container the successor removed.
//   Agent       with agent_path set, the hand agent (sandbox/agent) is copied into the container
//               and started as one exec whose attached stream stays open; Run, ReadFile and WriteFile
//               are then one Cap'n Proto RPC each on that stream (the fast path: about a millisecond
//               for a warm `echo`, against tens for an exec). The agent runs each process in its own
//               process group and kills it on timeout or cancel, with every descendant that carries
//               the run's WAKE_RUN_ID marker in its environment (one that made itself a new session
//               included), as the per-exec path does.
//               When the agent cannot be started, the per-exec path serves (unless require_agent);
//               when it dies while the container lives, it is started again.
//   Run         (per exec) an exec (create + start with its streams attached), see
//               internal/container_primitives.h; timeout and cancel kill the whole process tree.
//               The daemon reports a process killed by signal N as exit code 128+N, so such codes
//               come back as term_signal N (a program exiting 137 by itself reads as SIGKILL).
//   Read/Write  (per exec) the archive endpoints (GET / PUT /containers/{id}/archive), tar read and
//               written here.
//   Health      the container's State.Running.
//   Release     remove the container, forced (idempotent).
//   Reattach    the running container labelled with the session, or named for it (an adopted
//               spare); stopped ones are removed.
//   Adopt       a warm spare's container is renamed to the session's name (its label keeps the
//               spare's id; the name is what counts).
//   ReapExcept  remove every wake.hand=1 container whose session (its name's, else its label's) the
//               predicate rejects.
//
// The image must already be on the daemon (nothing is ever pulled) and hold /bin/sh, grep, mkdir
// and sleep (busybox is enough). HandResources::env becomes the container's environment, which every
// Run inherits. Paths may point anywhere in the container (it is the sandbox); relative ones resolve
// against the work dir. Files under the runtime's mounts (/proc, /sys, /dev) are not visible to
// ReadFile / WriteFile: the archive endpoints see the container's own filesystem only. Writing keeps
// an existing file's mode and writes through a symlink; a directory in the way is refused.
//
// Thread-safe: the provider and its hands may be used from any threads, concurrently.
//
// Errors: the daemon's own errors come back naming the endpoint and carrying its message; a
// container that is gone or stopped, or a daemon that cannot be reached, is Unavailable.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sandbox/hand.h"

namespace wake {

struct DockerProviderOptions {
  std::string socket_path = "/var/run/docker.sock";
  // The image hands are made from, e.g. "wake-test-busybox:latest". Required.
  std::string image;
  // Absolute; where tools start and relative paths resolve.
  std::string work_dir = "/work";
  // The user processes run as (Config.User); "" keeps the image's.
  std::string user;
  // What the container runs while idle (as the entrypoint; the image's own is replaced).
  std::vector<std::string> idle_command = {"sleep", "infinity"};
  // Run docker-init (tini) as PID 1 so the orphans of killed process trees are reaped, not left as
  // zombies counting against the pids limit.
  bool init = true;
  // More labels on every container. They also scope the provider: Reattach and ReapExcept only
  // consider containers carrying all of them, so engines (or test runs) sharing a daemon, each with
  // a label of its own, never reap each other's hands. Without any, every wake.hand=1 container on
  // the daemon is this provider's.
  std::vector<std::pair<std::string, std::string>> labels;
  // Bounds each Engine API request (an archive transfer included) and each helper exec.
  absl::Duration request_timeout = absl::Seconds(60);
  // After a timeout or cancel killed a Run's tree, how long its output may take to end.
  absl::Duration kill_grace = absl::Seconds(5);
  // The wake_hand_agent program on this machine (the build's sandbox/agent/wake_hand_agent, fully
  // static: it needs nothing from the image). "" serves every primitive per exec. Read once, by
  // NewDockerProvider.
  std::string agent_path;
  // Provision and Reattach fail when the agent cannot be started, instead of serving per exec.
  bool require_agent = false;
  // Ceilings on the limits an environment asks for (HandResources), so no environment config (a
  // tenant's, through the API) can lift a container's limits: a request of 0 ("unlimited") or above
  // a ceiling gets the ceiling. 0: no ceiling for that resource.
  int64_t max_memory_bytes = int64_t{8} << 30;
  double max_cpus = 4.0;
  int64_t max_pids = 4096;
};

// A provider for `options`. InvalidArgument when an option is malformed. Does not contact the
// daemon: an unreachable one makes Provision fail Unavailable.
absl::StatusOr<std::unique_ptr<HandProvider>> NewDockerProvider(DockerProviderOptions options);

}  // namespace wake
