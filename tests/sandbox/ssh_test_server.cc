#include "tests/sandbox/ssh_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/storage/test_util.h"

namespace wake::testing {
namespace {

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool Connectable(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SshTestServer>> SshTestServer::Start() {
  auto server = std::unique_ptr<SshTestServer>(new SshTestServer());
  server->dir_ = MakeTempDir("sshd");
  const std::string& d = server->dir_;
  if (std::system(absl::StrCat("ssh-keygen -q -t ed25519 -N '' -f ", d, "/host_key && ssh-keygen -q -t ed25519 -N '' -f ",
                               d, "/user_key && cp ", d, "/user_key.pub ", d, "/authorized_keys && chmod 600 ", d,
                               "/authorized_keys")
                      .c_str()) != 0) {
    return absl::FailedPreconditionError("ssh-keygen failed (is openssh-client installed? scripts/services/sshd.sh)");
  }
  server->port_ = FreePort();
  const passwd* pw = ::getpwuid(::getuid());
  server->user_ = pw != nullptr ? pw->pw_name : "root";
  server->identity_ = d + "/user_key";
  server->known_hosts_ = d + "/known_hosts";
  {
    std::ofstream config(d + "/sshd_config");
    config << "Port " << server->port_ << "\nListenAddress 127.0.0.1\nHostKey " << d << "/host_key\n"
           << "AuthorizedKeysFile " << d << "/authorized_keys\nPidFile " << d << "/sshd.pid\n"
           << "UsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
           << "PubkeyAuthentication yes\nPermitRootLogin yes\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
           << "MaxSessions 64\nMaxStartups 64\n";
    std::ofstream known(server->known_hosts_);
    known << "[127.0.0.1]:" << server->port_ << " " << Slurp(d + "/host_key.pub");
  }
  std::filesystem::create_directories("/run/sshd");
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string config = d + "/sshd_config";
    const std::string log = d + "/sshd.log";
    // Nothing of the test's own stdio: a runner waiting for its output must not wait for sshd.
    const int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, 0);
    ::dup2(null_fd, 1);
    ::dup2(null_fd, 2);
    ::setsid();
    execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-f", config.c_str(), "-E", log.c_str(), nullptr);
    _exit(127);
  }
  server->pid_ = pid;
  for (int i = 0; i < 500 && !Connectable(server->port_); ++i) absl::SleepFor(absl::Milliseconds(10));
  if (!Connectable(server->port_)) {
    return absl::UnavailableError(absl::StrCat("sshd did not start: ", Slurp(d + "/sshd.log")));
  }
  return server;
}

void SshTestServer::KillConnections() {
  // The listener's children serve the connections.
  std::system(absl::StrCat("pkill -KILL -P ", pid_).c_str());
}

SshTestServer::~SshTestServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    std::system(absl::StrCat("pkill -KILL -P ", pid_, " 2>/dev/null").c_str());
  }
  RemoveDir(dir_);
}

}  // namespace wake::testing
