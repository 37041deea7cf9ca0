#pragma once
// PrivateDockerd: a Docker daemon of a test's own, so the test can kill and restart it without
// touching the machine's dockerd that other tests use at the same time. Everything lives under a
// temporary directory: dockerd's socket, --data-root, --exec-root and --pidfile, and a containerd
// of its own (run beside dockerd, as Debian's packaging runs it: killing dockerd leaves containerd
// and the containers' shims alive, and a restarted dockerd finds them again). dockerd runs in a
// network namespace of its own (unshare --net), with no bridge and no iptables rules (hands run
// with network "none"): nothing of the host's network (docker0 above all) is touched. The test
// image is imported into it by scripts/services/docker.sh pointed at its socket (WAKE_DOCKER_SOCKET).
//
// The destructor removes every container, stops both daemons, unmounts what dockerd left mounted
// under the directory and removes it. Not thread-safe: one test thread drives it.

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace wake::testing {

class PrivateDockerd {
 public:
  // Starts containerd and dockerd and imports the test image. `source_dir` is the repository (for
  // scripts/services/docker.sh).
  static absl::StatusOr<std::unique_ptr<PrivateDockerd>> Start(const std::string& source_dir);
  ~PrivateDockerd();

  PrivateDockerd(const PrivateDockerd&) = delete;
  PrivateDockerd& operator=(const PrivateDockerd&) = delete;

  const std::string& socket() const { return socket_; }
  const std::string& dir() const { return dir_; }

  // kill -9 of dockerd (containerd and the containers live on), reaped.
  void KillDockerd();
  // SIGTERM to dockerd and waits for it to exit (it stops the running containers on the way out).
  absl::Status StopDockerd();
  // Starts dockerd (again) and waits until it answers /_ping.
  absl::Status StartDockerd();

  // One Engine API request (target e.g. "/containers/json"): the HTTP status (0 when the daemon
  // could not be reached) and the body.
  std::pair<long, std::string> Call(const std::string& method, const std::string& target,
                                    const std::string& body = "") const;

 private:
  PrivateDockerd() = default;
  absl::Status StartContainerd();
  void RemoveContainers();

  std::string dir_;
  std::string socket_;
  pid_t containerd_ = -1;
  pid_t dockerd_ = -1;
};

}  // namespace wake::testing
