#pragma once
// AgentConnection: the engine's end of a running wake_hand_agent (sandbox/agent/agent_main.cc),
// reached over one byte stream, which serves a hand's primitives (sandbox/hand.h) with Cap'n Proto
// RPC (schemas/hand.capnp). The docker and ssh backends use it for their fast path: one request and
// one response on an open stream per primitive, instead of a new exec or channel.
//
// The connection runs a kj event loop on a thread of its own; the primitives are synchronous and
// may be called from any threads, concurrently (calls are pipelined on the one stream).
//
// Errors: Unavailable when the agent cannot be reached (its stream ended or broke: the agent, or its
// container or host, died; or it did not answer in time). The primitives' own errors are Hand's.
// Once Unavailable, a connection stays so (`alive()` false): make a new one.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/cancel.h"
#include "sandbox/hand.h"

namespace wake {

struct AgentEndpoint {
  // The stream to the agent: what it writes is read from read_fd, what is written to write_fd is
  // its input. Both are owned by the connection (closed with it, or on failure). One socket: equal.
  int read_fd = -1;
  int write_fd = -1;
  // The agent's output arrives as a Docker exec's multiplexed stream (stdout and stderr frames).
  bool docker_multiplexed = false;
  // The agent's own diagnostics (stderr frames), when docker_multiplexed. May be empty.
  std::function<void(std::string_view)> on_stderr;
};

struct AgentInfo {
  uint32_t version = 0;
  int pid = 0;
  std::string work_dir;
};

class AgentConnection {
 public:
  // Starts the connection's thread and pings the agent; Unavailable when no answer comes by
  // `ping_timeout` (the endpoint's descriptors are closed then).
  static absl::StatusOr<std::unique_ptr<AgentConnection>> Connect(AgentEndpoint endpoint, absl::Duration ping_timeout);

  // Closes the stream (the agent kills what it still runs and exits) and joins the thread.
  // REQUIRES: no call is in progress.
  ~AgentConnection();

  const AgentInfo& info() const { return info_; }
  bool alive() const;

  // As Hand::Run. The cancel token is polled every few milliseconds; a cancel asks the agent to
  // kill the process group, and the outcome says cancelled, with the output so far. A run gets
  // its timeout plus `reply_grace` to answer before the agent is taken for dead.
  absl::StatusOr<RunOutcome> Run(const RunRequest& request, const CancelToken* cancel);
  // As Hand::ReadFile / WriteFile. Relative paths resolve against the agent's work dir.
  absl::StatusOr<std::string> ReadFile(std::string_view path, size_t max_bytes);
  absl::Status WriteFile(std::string_view path, std::string_view content);
  // A round trip.
  absl::Status Ping(absl::Duration timeout);

  // How long a file call or a run past its timeout may wait for its answer.
  static constexpr absl::Duration kReplyGrace = absl::Seconds(30);

  class Loop;  // the event loop side, in the .cc

 private:
  explicit AgentConnection(std::unique_ptr<Loop> loop);

  std::unique_ptr<Loop> loop_;
  AgentInfo info_;
};

// The wake_hand_agent program at `path` on this machine, read whole (backends copy it into hands).
// InvalidArgument when it cannot be read or is empty.
absl::StatusOr<std::shared_ptr<const std::string>> ReadAgentBinary(const std::string& path);

}  // namespace wake
