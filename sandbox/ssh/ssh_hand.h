#pragma once
// The ssh hand backend: a session's hand is a directory on a host reached over SSH,
// <base_dir>/<session id>, and one libssh connection per hand: a channel per process run, SFTP for
// files.
//
// Security: key authentication only (identity_file), and the host key must be in known_hosts_file:
// an unknown or changed key is refused (PermissionDenied), never accepted.
//
// Processes: each run is `sh -c` under `env -i` (the host's environment does not leak in; HOME is the
// work dir) in its own session (sshd starts each channel's command as a session leader); a timeout or
// a cancel kills that process group with SIGKILL from a second channel. Output caps as for every hand.
// The connection is shared: libssh calls are serialized, and a running command is polled without
// holding the connection, so concurrent runs on one hand make progress together.
//
// With agent_path, the primitives go through the hand agent (sandbox/agent) on one long-lived channel
// instead: it runs each process in its own process group, killed with it on timeout or cancel (and
// with it the descendants that left the group but carry the run's WAKE_RUN_ID marker), with the same
// environment. If the agent dies while the connection lives, the hand serves per channel
// from then on (a run in flight then fails Internal).
//
// A hand lives as long as its directory: Reattach reconnects to it after an engine restart; a lost
// connection makes the hand Unavailable. Release removes the directory and disconnects. Resource
// limits (HandResources memory, cpus, pids) are not applied: use the docker backend for them.
// Thread-safe.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sandbox/hand.h"

namespace wake {

struct SshProviderOptions {
  std::string host = "127.0.0.1";
  int port = 22;
  std::string user;
  std::string identity_file;     // private key
  std::string known_hosts_file;  // must hold the host's key
  std::string base_dir;          // absolute, on the host; made when missing
  absl::Duration connect_timeout = absl::Seconds(10);
  // The wake_hand_agent program on this machine (static; it must suit the host's architecture).
  // When set, it is copied with SFTP to <base_dir>/.wake-agent and run on one channel of each hand's
  // connection; Run, ReadFile and WriteFile are then one Cap'n Proto RPC each on that channel (a new
  // channel costs sshd a session setup per call). "" serves per channel. Read once by NewSshProvider.
  std::string agent_path;
  // Provision and Reattach fail when the agent cannot be started, instead of serving per channel.
  bool require_agent = false;
};

// Connects once to check the options (host key, key authentication, base_dir).
absl::StatusOr<std::unique_ptr<HandProvider>> NewSshProvider(SshProviderOptions options);

}  // namespace wake
