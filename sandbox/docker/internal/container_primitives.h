#pragma once
// ContainerPrimitives: how a DockerHand runs a process and reads and writes files inside its
// container, apart from the container's lifecycle (create, inspect, remove), which the hand keeps.
//
// Two ways to do it, behind this one interface:
//   - per exec (NewExecPrimitives, here): the Engine API alone. A Run is an exec create + start with
//     its streams attached on an upgraded connection; files go through the archive endpoints. Needs
//     nothing in the image but /bin/sh, grep and mkdir. Costs a runc exec per Run (tens of ms).
//   - through the hand agent (NewAgentPrimitives, agent_primitives.cc): wake_hand_agent
//     (sandbox/agent) is copied into the container and started as one exec whose attached stream
//     stays open; every primitive is then one Cap'n Proto RPC round trip on it (well under a
//     millisecond of transport, against tens for an exec).
//
// Paths and the working directory given here are absolute and normal: the hand resolves them
// against its work dir first. Errors follow Hand's contract (sandbox/hand.h): Unavailable only when
// the container is gone or stopped, or the daemon unreachable.
//
// Thread-safe: calls may run concurrently.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/cancel.h"
#include "sandbox/docker/internal/engine_client.h"
#include "sandbox/hand.h"

namespace wake::docker_internal {

class ContainerPrimitives {
 public:
  virtual ~ContainerPrimitives() = default;
  // REQUIRES: request.cwd is absolute.
  virtual absl::StatusOr<RunOutcome> Run(const RunRequest& request, const CancelToken* cancel) = 0;
  // REQUIRES: `path` is absolute and normal.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) = 0;
  virtual absl::Status WriteFile(const std::string& path, std::string_view content) = 0;
};

struct ExecPrimitivesOptions {
  std::string user;  // the user execs run as; "" is the container's
  // After a timeout or cancel killed the process tree, how long its stream may take to end before
  // the hand stops waiting (a process that left the tree and kept the stream open).
  absl::Duration kill_grace = absl::Seconds(5);
  // Bounds the helper execs (the tree kill, mkdir) and each archive transfer.
  absl::Duration helper_timeout = absl::Seconds(30);
};

// Per-exec primitives for container `container_id` on `client`'s daemon.
std::unique_ptr<ContainerPrimitives> NewExecPrimitives(std::shared_ptr<const EngineClient> client,
                                                       std::string container_id, ExecPrimitivesOptions options);

struct AgentPrimitivesOptions {
  // The wake_hand_agent program (its bytes), copied into the container as /.wake-hand-agent.
  std::shared_ptr<const std::string> binary;
  std::string user;      // the user the agent (and so every process) runs as; "" is the container's
  std::string work_dir;  // the agent's work dir: absolute
  // Bounds starting the agent (copy, exec, first ping).
  absl::Duration start_timeout = absl::Seconds(20);
};

// Starts the agent in container `container_id` and returns primitives served through it. When the
// agent dies while the container lives (a command killed it, or the kernel did for lack of memory)
// it is started again; when that fails, `fallback` (the per-exec primitives) serves from then on.
// A run in flight when the agent died fails Internal (it may or may not have had its effects); the
// file primitives are retried. Error (and no primitives) when the first start fails.
absl::StatusOr<std::unique_ptr<ContainerPrimitives>> NewAgentPrimitives(
    std::shared_ptr<const EngineClient> client, std::string container_id, AgentPrimitivesOptions options,
    std::unique_ptr<ContainerPrimitives> fallback);

// InvalidArgument when a variable's name is empty or holds '=' or NUL, or its value holds NUL (the
// Engine API passes the environment as "NAME=value" strings).
absl::Status CheckEnvironment(const std::vector<std::pair<std::string, std::string>>& env);

// Whether an error response says the container itself is gone or not running (the hand is dead),
// as opposed to a problem with the request.
bool ContainerGone(const EngineResponse& response);

}  // namespace wake::docker_internal
