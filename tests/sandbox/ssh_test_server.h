#pragma once
// SshTestServer: a real sshd for tests, of its own: 127.0.0.1 on a free port, run as the current
// user, with a generated host key and user key, an authorized_keys and a known_hosts file, all in a
// temporary directory. Stopped (and the directory removed) by the destructor.

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace wake::testing {

class SshTestServer {
 public:
  static absl::StatusOr<std::unique_ptr<SshTestServer>> Start();
  ~SshTestServer();

  int port() const { return port_; }
  const std::string& user() const { return user_; }
  const std::string& identity_file() const { return identity_; }
  const std::string& known_hosts_file() const { return known_hosts_; }
  const std::string& dir() const { return dir_; }
  // Kills the sshd processes serving connections (not the listener): every open connection drops.
  void KillConnections();

 private:
  SshTestServer() = default;
  std::string dir_;
  std::string user_;
  std::string identity_;
  std::string known_hosts_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace wake::testing
