#include "sandbox/ssh/ssh_hand.h"

#include <fcntl.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/sync.h"
#include "sandbox/agent/agent_connection.h"

namespace wake {
namespace {

// A single-quoted shell word.
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  out += "'";
  return out;
}

bool SafeName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

// One authenticated connection with its SFTP channel. Every libssh call happens under mu.
class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const SshProviderOptions& o) {
    auto c = std::unique_ptr<Connection>(new Connection());
    c->session_ = ssh_new();
    if (c->session_ == nullptr) return absl::InternalError("ssh: out of memory");
    const long timeout = static_cast<long>(absl::ToInt64Seconds(o.connect_timeout));
    const unsigned int port = static_cast<unsigned int>(o.port);
    ssh_options_set(c->session_, SSH_OPTIONS_HOST, o.host.c_str());
    ssh_options_set(c->session_, SSH_OPTIONS_PORT, &port);
    ssh_options_set(c->session_, SSH_OPTIONS_USER, o.user.c_str());
    ssh_options_set(c->session_, SSH_OPTIONS_KNOWNHOSTS, o.known_hosts_file.c_str());
    ssh_options_set(c->session_, SSH_OPTIONS_TIMEOUT, &timeout);
    // Small request/response exchanges (the hand agent's RPCs) must not wait on Nagle's algorithm.
    const int nodelay = 1;
    ssh_options_set(c->session_, SSH_OPTIONS_NODELAY, &nodelay);
    const std::string where = absl::StrCat(o.user, "@", o.host, ":", o.port);
    if (ssh_connect(c->session_) != SSH_OK) {
      return absl::UnavailableError(absl::StrCat("ssh: connecting to ", where, ": ", ssh_get_error(c->session_)));
    }
    switch (ssh_session_is_known_server(c->session_)) {
      case SSH_KNOWN_HOSTS_OK:
        break;
      case SSH_KNOWN_HOSTS_CHANGED:
      case SSH_KNOWN_HOSTS_OTHER:
        return absl::PermissionDeniedError(absl::StrCat("ssh: the host key of ", where, " is not the one in ",
                                                        o.known_hosts_file, ": refused (it changed)"));
      case SSH_KNOWN_HOSTS_NOT_FOUND:
      case SSH_KNOWN_HOSTS_UNKNOWN:
        return absl::PermissionDeniedError(
            absl::StrCat("ssh: ", where, " is not in ", o.known_hosts_file, ": refused (unknown host key)"));
      case SSH_KNOWN_HOSTS_ERROR:
        return absl::UnavailableError(absl::StrCat("ssh: checking the host key: ", ssh_get_error(c->session_)));
    }
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(o.identity_file.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
      return absl::FailedPreconditionError(absl::StrCat("ssh: cannot read the private key ", o.identity_file));
    }
    const int auth = ssh_userauth_publickey(c->session_, nullptr, key);
    ssh_key_free(key);
    if (auth != SSH_AUTH_SUCCESS) {
      return absl::UnauthenticatedError(absl::StrCat("ssh: ", where, " refused the key ", o.identity_file));
    }
    c->sftp_ = sftp_new(c->session_);
    if (c->sftp_ == nullptr || sftp_init(c->sftp_) != SSH_OK) {
      return absl::UnavailableError(absl::StrCat("ssh: starting SFTP on ", where, ": ", ssh_get_error(c->session_)));
    }
    return c;
  }

  ~Connection() {
    if (sftp_ != nullptr) sftp_free(sftp_);
    if (session_ != nullptr) {
      ssh_disconnect(session_);
      ssh_free(session_);
    }
  }

  Mutex& mu() { return mu_; }
  ssh_session session() { return session_; }
  sftp_session sftp() { return sftp_; }

  // Runs a short command to completion (no output cap, a bounded wait): for mkdir, rm, kill.
  absl::StatusOr<int> Exec(const std::string& command) {
    MutexLock lock(&mu_);
    ssh_channel ch = ssh_channel_new(session_);
    if (ch == nullptr || ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
      if (ch != nullptr) ssh_channel_free(ch);
      return absl::UnavailableError(absl::StrCat("ssh: ", ssh_get_error(session_)));
    }
    char buffer[4096];
    while (ssh_channel_read_timeout(ch, buffer, sizeof(buffer), 0, 30000) > 0) {}
    while (ssh_channel_read_timeout(ch, buffer, sizeof(buffer), 1, 1000) > 0) {}
    ssh_channel_send_eof(ch);
    const int status = ssh_channel_get_exit_status(ch);
    ssh_channel_close(ch);
    ssh_channel_free(ch);
    return status;
  }

 private:
  Connection() = default;
  Mutex mu_;
  ssh_session session_ = nullptr;
  sftp_session sftp_ = nullptr;
};

// Signal names sshd reports in exit-signal, to numbers.
int SignalNumber(const char* name) {
  static const std::pair<const char*, int> kSignals[] = {
      {"KILL", 9}, {"TERM", 15}, {"INT", 2}, {"HUP", 1}, {"QUIT", 3}, {"ABRT", 6}, {"SEGV", 11}, {"PIPE", 13},
      {"ALRM", 14}, {"USR1", 10}, {"USR2", 12}, {"BUS", 7}, {"FPE", 8}, {"ILL", 4},
  };
  for (const auto& [n, v] : kSignals) {
    if (std::strcmp(name, n) == 0) return v;
  }
  return 0;
}

// The hand agent running on the host on one channel of a hand's connection, bridged to a socket pair
// that AgentConnection drives: a pump thread moves bytes between the two, taking the connection's
// mutex for each libssh call (libssh sessions are not thread-safe). It waits on the connection's
// socket and the pair; another thread's libssh call may pull the channel's data into libssh's own
// buffers, so the pump also looks every few milliseconds.
class AgentChannel {
 public:
  static absl::StatusOr<std::unique_ptr<AgentChannel>> Start(Connection& c, const std::string& command) {
    auto agent = std::unique_ptr<AgentChannel>(new AgentChannel(c));
    {
      MutexLock lock(&c.mu());
      agent->ch_ = ssh_channel_new(c.session());
      if (agent->ch_ == nullptr || ssh_channel_open_session(agent->ch_) != SSH_OK ||
          ssh_channel_request_exec(agent->ch_, command.c_str()) != SSH_OK) {
        return absl::UnavailableError(absl::StrCat("ssh: starting the hand agent: ", ssh_get_error(c.session())));
      }
      agent->ssh_fd_ = ssh_get_fd(c.session());
    }
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      return absl::InternalError(absl::StrCat("socketpair: ", std::strerror(errno)));
    }
    agent->pump_fd_ = pair[1];
    agent->pump_ = std::thread([a = agent.get()] { a->Pump(); });
    AgentEndpoint endpoint;
    endpoint.read_fd = endpoint.write_fd = pair[0];
    absl::StatusOr<std::unique_ptr<AgentConnection>> connection =
        AgentConnection::Connect(std::move(endpoint), absl::Seconds(20));
    if (!connection.ok()) {
      const std::string said(absl::StripTrailingAsciiWhitespace(agent->Log()));
      return absl::FailedPreconditionError(absl::StrCat("the hand agent did not start: ", connection.status().message(),
                                                        said.empty() ? "" : "; it said: ", said));
    }
    agent->connection_ = *std::move(connection);
    return agent;
  }

  ~AgentChannel() {
    connection_.reset();  // closes its end of the pair: the pump sends the agent end of file
    stop_.store(true);
    if (pump_.joinable()) pump_.join();
    if (pump_fd_ >= 0) ::close(pump_fd_);
    if (ch_ != nullptr) {
      MutexLock lock(&c_.mu());
      ssh_channel_close(ch_);
      ssh_channel_free(ch_);
    }
  }

  AgentConnection& connection() { return *connection_; }

 private:
  explicit AgentChannel(Connection& c) : c_(c) {}

  std::string Log() {
    MutexLock lock(&log_mu_);
    return log_;
  }

  // To the socketpair's engine end, which may already be closed (the connection being torn down):
  // MSG_NOSIGNAL, so that is EPIPE rather than a SIGPIPE that would kill the embedding process.
  static bool WriteAll(int fd, const char* data, size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  void Pump() {
    char buffer[64 * 1024];
    while (!stop_.load()) {
      pollfd fds[2] = {{pump_fd_, POLLIN, 0}, {ssh_fd_, POLLIN, 0}};
      ::poll(fds, 2, 5);
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        const ssize_t n = ::read(pump_fd_, buffer, sizeof(buffer));
        if (n < 0 && errno == EINTR) continue;
        MutexLock lock(&c_.mu());
        if (n <= 0) {  // the engine's side closed: the agent sees end of file and exits
          ssh_channel_send_eof(ch_);
          break;
        }
        for (ssize_t done = 0; done < n;) {
          const int w = ssh_channel_write(ch_, buffer + done, static_cast<uint32_t>(n - done));
          if (w == SSH_ERROR) break;
          done += w;
        }
      }
      bool over = false;
      {
        MutexLock lock(&c_.mu());
        for (int is_stderr : {0, 1}) {
          while (true) {
            const int n = ssh_channel_read_nonblocking(ch_, buffer, sizeof(buffer), is_stderr);
            if (n == SSH_ERROR) over = true;
            if (n <= 0) break;
            if (is_stderr == 0) {
              if (!WriteAll(pump_fd_, buffer, static_cast<size_t>(n))) over = true;
            } else {
              MutexLock log_lock(&log_mu_);
              log_.append(buffer, static_cast<size_t>(n));
              if (log_.size() > 4096) log_.erase(0, log_.size() - 4096);
            }
          }
        }
        if (ssh_channel_is_eof(ch_) || ssh_channel_is_closed(ch_) || !ssh_is_connected(c_.session())) over = true;
      }
      if (over) break;
    }
    // AgentConnection reads end of file: its calls fail Unavailable.
    ::shutdown(pump_fd_, SHUT_RDWR);
  }

  Connection& c_;
  ssh_channel ch_ = nullptr;
  int ssh_fd_ = -1;
  int pump_fd_ = -1;
  std::thread pump_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<AgentConnection> connection_;
  Mutex log_mu_;
  std::string log_ ABSL_GUARDED_BY(log_mu_);
};

struct ExitState {
  std::atomic<int> signal{0};
};

void OnExitSignal(ssh_session, ssh_channel, const char* signal, int, const char*, const char*, void* userdata) {
  static_cast<ExitState*>(userdata)->signal = SignalNumber(signal);
}

std::atomic<uint64_t> g_run_counter{0};

class SshHand final : public Hand {
 public:
  SshHand(std::unique_ptr<Connection> connection, std::string dir, std::string runs_dir, HandResources resources)
      : connection_(std::move(connection)), dir_(std::move(dir)), runs_dir_(std::move(runs_dir)),
        resources_(std::move(resources)), id_(dir_) {}

  // Starts the agent at `agent_path` (on the host) on a channel of this hand's connection.
  absl::Status StartAgent(const std::string& agent_path) {
    ASSIGN_OR_RETURN(std::unique_ptr<AgentChannel> agent,
                     AgentChannel::Start(*connection_, absl::StrCat("cd ", Quote(dir_), " && exec env -i ", BaseEnv(),
                                                                    " ", Quote(agent_path), " ",
                                                                    Quote(absl::StrCat("--work-dir=", dir_)))));
    MutexLock lock(&mu_);
    agent_ = std::move(agent);
    return absl::OkStatus();
  }

  std::string_view backend() const override { return "ssh"; }
  const std::string& id() const override { return id_; }
  const std::string& work_dir() const override { return dir_; }

  absl::StatusOr<RunOutcome> Run(const RunRequest& request, const CancelToken* cancel) override {
    RETURN_IF_ERROR(CheckOpen());
    std::string cwd = request.cwd.empty() ? dir_ : request.cwd.front() == '/' ? request.cwd : dir_ + "/" + request.cwd;
    if (std::shared_ptr<AgentChannel> agent = Agent(); agent != nullptr) {
      RunRequest resolved = request;
      resolved.cwd = cwd;
      absl::StatusOr<RunOutcome> outcome = agent->connection().Run(resolved, cancel);
      if (outcome.ok() || outcome.status().code() != absl::StatusCode::kUnavailable) return outcome;
      RETURN_IF_ERROR(AfterAgentLoss(agent));
      return absl::InternalError(absl::StrCat(
          "the hand agent died while the command ran (did the command kill it?); the hand runs commands per channel "
          "from now on: the command may or may not have had its effects (", outcome.status().message(), ")"));
    }
    std::string script = request.shell;
    if (!request.argv.empty()) {
      script = "exec";
      for (const std::string& a : request.argv) absl::StrAppend(&script, " ", Quote(a));
    }
    std::string env = BaseEnv();
    for (const auto& kv : request.env) absl::StrAppend(&env, " ", Quote(absl::StrCat(kv.first, "=", kv.second)));
    // Named after the hand, so Release removes them all (one channel less per run than removing each).
    const std::string pid_file = absl::StrCat(RunPrefix(), g_run_counter++, "-", absl::ToUnixNanos(absl::Now()));
    // The command is a session leader (sshd's doing): its pid names the group a kill must reach.
    const std::string command = absl::StrCat("echo $$ > ", Quote(pid_file), " && cd ", Quote(cwd),
                                             " && exec env -i ", env, " /bin/sh -c ", Quote(script));

    ExitState exit_state;
    ssh_channel_callbacks_struct callbacks{};
    callbacks.userdata = &exit_state;
    callbacks.channel_exit_signal_function = OnExitSignal;
    ssh_callbacks_init(&callbacks);
    ssh_channel ch = nullptr;
    {
      MutexLock lock(&connection_->mu());
      ch = ssh_channel_new(connection_->session());
      if (ch == nullptr || ssh_channel_open_session(ch) != SSH_OK) {
        if (ch != nullptr) ssh_channel_free(ch);
        return Lost();
      }
      ssh_set_channel_callbacks(ch, &callbacks);
      if (ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
        ssh_channel_free(ch);
        return Lost();
      }
      if (!request.stdin_data.empty()) {
        ssh_channel_write(ch, request.stdin_data.data(), static_cast<uint32_t>(request.stdin_data.size()));
      }
      ssh_channel_send_eof(ch);
    }

    RunOutcome outcome;
    const absl::Time deadline = absl::Now() + request.timeout;
    bool killed = false;
    std::optional<absl::Time> give_up;
    char buffer[32 * 1024];
    while (true) {
      bool got = false;
      bool eof = false;
      bool broken = false;
      {
        MutexLock lock(&connection_->mu());
        for (int is_stderr : {0, 1}) {
          const int n = ssh_channel_read_nonblocking(ch, buffer, sizeof(buffer), is_stderr);
          if (n == SSH_ERROR) {
            broken = true;
            break;
          }
          if (n > 0) {
            got = true;
            std::string& to = is_stderr ? outcome.stderr_data : outcome.stdout_data;
            bool& truncated = is_stderr ? outcome.stderr_truncated : outcome.stdout_truncated;
            const size_t take = to.size() < request.output_cap ? std::min<size_t>(n, request.output_cap - to.size()) : 0;
            to.append(buffer, take);
            if (take < static_cast<size_t>(n)) truncated = true;
          }
        }
        eof = ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch);
        if (!ssh_is_connected(connection_->session())) broken = true;
      }
      if (broken) {
        MutexLock lock(&connection_->mu());
        ssh_channel_free(ch);
        return Lost();
      }
      if (eof && !got) break;
      if (!killed) {
        if (cancel != nullptr && cancel->cancelled()) outcome.cancelled = true;
        if (absl::Now() >= deadline) outcome.timed_out = true;
        if (outcome.cancelled || outcome.timed_out) {
          killed = true;
          // From a channel of its own: the running one is busy with the command.
          (void)connection_->Exec(absl::StrCat("kill -KILL -$(cat ", Quote(pid_file), ") 2>/dev/null"));
          give_up = absl::Now() + absl::Seconds(5);
        }
      } else if (absl::Now() >= *give_up) {
        break;  // something still holds the channel open: stop waiting for it
      }
      if (!got) absl::SleepFor(absl::Milliseconds(2));
    }
    {
      MutexLock lock(&connection_->mu());
      const int status = ssh_channel_get_exit_status(ch);
      ssh_channel_close(ch);
      ssh_channel_free(ch);
      if (exit_state.signal != 0 || killed) {
        outcome.term_signal = exit_state.signal != 0 ? exit_state.signal.load() : 9;
      } else if (status >= 0) {
        outcome.exited = true;
        outcome.exit_code = status;
      }
    }
    return outcome;
  }

  absl::StatusOr<std::string> ReadFile(std::string_view path, size_t max_bytes) override {
    RETURN_IF_ERROR(CheckOpen());
    const std::string p = Absolute(path);
    if (std::shared_ptr<AgentChannel> agent = Agent(); agent != nullptr) {
      absl::StatusOr<std::string> content = agent->connection().ReadFile(p, max_bytes);
      if (content.ok() || content.status().code() != absl::StatusCode::kUnavailable) return content;
      RETURN_IF_ERROR(AfterAgentLoss(agent));
    }
    MutexLock lock(&connection_->mu());
    sftp_attributes attributes = sftp_stat(connection_->sftp(), p.c_str());
    if (attributes == nullptr) return SftpError("reading", p);
    const uint8_t type = attributes->type;
    const uint64_t size = attributes->size;
    sftp_attributes_free(attributes);
    if (type == SSH_FILEXFER_TYPE_DIRECTORY) return absl::FailedPreconditionError(absl::StrCat(p, " is a directory"));
    if (type != SSH_FILEXFER_TYPE_REGULAR) return absl::FailedPreconditionError(absl::StrCat(p, " is not a regular file"));
    if (size > max_bytes) return absl::OutOfRangeError(absl::StrCat(size, " bytes, more than ", max_bytes));
    sftp_file file = sftp_open(connection_->sftp(), p.c_str(), O_RDONLY, 0);
    if (file == nullptr) return SftpError("reading", p);
    std::string data;
    char buffer[32 * 1024];
    while (true) {
      const ssize_t n = sftp_read(file, buffer, sizeof(buffer));
      if (n < 0) {
        sftp_close(file);
        return SftpError("reading", p);
      }
      if (n == 0) break;
      data.append(buffer, static_cast<size_t>(n));
      if (data.size() > max_bytes) {
        sftp_close(file);
        return absl::OutOfRangeError(absl::StrCat("more than ", max_bytes, " bytes"));
      }
    }
    sftp_close(file);
    return data;
  }

  absl::Status WriteFile(std::string_view path, std::string_view content) override {
    RETURN_IF_ERROR(CheckOpen());
    const std::string p = Absolute(path);
    if (std::shared_ptr<AgentChannel> agent = Agent(); agent != nullptr) {
      absl::Status written = agent->connection().WriteFile(p, content);
      if (written.code() != absl::StatusCode::kUnavailable) return written;
      RETURN_IF_ERROR(AfterAgentLoss(agent));
    }
    const size_t slash = p.rfind('/');
    MutexLock lock(&connection_->mu());
    // Missing parents are made one by one (an existing one is fine).
    if (p.compare(0, dir_.size() + 1, dir_ + "/") == 0) {
      for (size_t at = p.find('/', dir_.size() + 1); at != std::string::npos && at < slash; at = p.find('/', at + 1)) {
        sftp_mkdir(connection_->sftp(), p.substr(0, at).c_str(), 0755);
      }
    }
    sftp_mkdir(connection_->sftp(), p.substr(0, slash).c_str(), 0755);
    if (sftp_attributes existing = sftp_stat(connection_->sftp(), p.c_str()); existing != nullptr) {
      const bool is_dir = existing->type == SSH_FILEXFER_TYPE_DIRECTORY;
      sftp_attributes_free(existing);
      if (is_dir) return absl::FailedPreconditionError(absl::StrCat(p, " is a directory"));
    }
    const std::string temp = absl::StrCat(p.substr(0, slash + 1), ".", p.substr(slash + 1), ".wake-tmp-", g_run_counter++);
    sftp_file file = sftp_open(connection_->sftp(), temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (file == nullptr) return SftpError("writing", p);
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = sftp_write(file, content.data() + done, std::min<size_t>(content.size() - done, 32 * 1024));
      if (n <= 0) {
        sftp_close(file);
        sftp_unlink(connection_->sftp(), temp.c_str());
        return SftpError("writing", p);
      }
      done += static_cast<size_t>(n);
    }
    sftp_close(file);
    // SFTP v3 rename refuses an existing target: remove it first (the window is the only non-atomic part).
    if (sftp_rename(connection_->sftp(), temp.c_str(), p.c_str()) != SSH_OK) {
      sftp_unlink(connection_->sftp(), p.c_str());
      if (sftp_rename(connection_->sftp(), temp.c_str(), p.c_str()) != SSH_OK) {
        sftp_unlink(connection_->sftp(), temp.c_str());
        return SftpError("writing", p);
      }
    }
    return absl::OkStatus();
  }

  absl::Status Health() override {
    {
      MutexLock lock(&mu_);
      if (released_) return absl::FailedPreconditionError("the hand was released");
    }
    MutexLock lock(&connection_->mu());
    sftp_attributes attributes = sftp_stat(connection_->sftp(), dir_.c_str());
    if (attributes == nullptr) {
      return absl::UnavailableError(absl::StrCat("ssh: the hand's connection or work dir ", dir_, " is gone"));
    }
    sftp_attributes_free(attributes);
    return absl::OkStatus();
  }

  absl::Status Release() override {
    {
      MutexLock lock(&mu_);
      if (released_) return absl::OkStatus();
      released_ = true;
    }
    // The agent first: it kills what it still runs and exits before its directory goes.
    std::shared_ptr<AgentChannel> agent;
    {
      MutexLock lock(&mu_);
      agent = std::move(agent_);
    }
    agent.reset();
    // A dead connection: nothing to remove.
    (void)connection_->Exec(absl::StrCat("rm -rf ", Quote(dir_), " ", Quote(RunPrefix()), "*"));
    return absl::OkStatus();
  }

 private:
  absl::Status CheckOpen() {
    MutexLock lock(&mu_);
    if (released_) return absl::FailedPreconditionError("the hand was released");
    return absl::OkStatus();
  }
  // The whole environment of a process on the host (the host's own does not leak in).
  std::string BaseEnv() const {
    std::string env = absl::StrCat("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=",
                                   Quote(dir_));
    for (const auto& kv : resources_.env) absl::StrAppend(&env, " ", Quote(absl::StrCat(kv.first, "=", kv.second)));
    return env;
  }
  std::shared_ptr<AgentChannel> Agent() {
    MutexLock lock(&mu_);
    return agent_;
  }
  // `lost` failed Unavailable: the hand is lost when its connection is; otherwise only the agent
  // died, and the hand serves per channel from now on.
  absl::Status AfterAgentLoss(const std::shared_ptr<AgentChannel>& lost) {
    {
      MutexLock lock(&connection_->mu());
      if (!ssh_is_connected(connection_->session())) return Lost();
    }
    MutexLock lock(&mu_);
    if (agent_ == lost) agent_ = nullptr;
    return absl::OkStatus();
  }
  std::string RunPrefix() const { return absl::StrCat(runs_dir_, "/", dir_.substr(dir_.rfind('/') + 1), "-"); }
  std::string Absolute(std::string_view path) const {
    std::string p(path);
    return !p.empty() && p.front() == '/' ? p : absl::StrCat(dir_, "/", p);
  }
  absl::Status Lost() {
    return absl::UnavailableError(absl::StrCat("ssh: the connection of hand ", dir_, " is lost: ",
                                               ssh_get_error(connection_->session())));
  }
  // REQUIRES: the connection's mutex.
  absl::Status SftpError(std::string_view what, const std::string& path) {
    if (!ssh_is_connected(connection_->session())) {
      return absl::UnavailableError(absl::StrCat("ssh: the connection of hand ", dir_, " is lost"));
    }
    const int error = sftp_get_error(connection_->sftp());
    const std::string text = absl::StrCat(ToAbsl(what), " ", path);
    switch (error) {
      case SSH_FX_NO_SUCH_FILE:
      case SSH_FX_NO_SUCH_PATH:
        return absl::NotFoundError(absl::StrCat(text, ": no such file"));
      case SSH_FX_PERMISSION_DENIED:
        return absl::PermissionDeniedError(absl::StrCat(text, ": permission denied"));
      case SSH_FX_CONNECTION_LOST:
      case SSH_FX_NO_CONNECTION:
        return absl::UnavailableError(absl::StrCat(text, ": the connection is lost"));
      default:
        return absl::InternalError(absl::StrCat(text, ": SFTP error ", error));
    }
  }

  const std::unique_ptr<Connection> connection_;
  const std::string dir_;
  const std::string runs_dir_;
  const HandResources resources_;
  const std::string id_;
  Mutex mu_;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  // Null when the primitives are served per channel. Destroyed before the connection.
  std::shared_ptr<AgentChannel> agent_ ABSL_GUARDED_BY(mu_);
};

class SshProvider final : public HandProvider {
 public:
  SshProvider(SshProviderOptions options, std::shared_ptr<const std::string> agent_binary)
      : options_(std::move(options)), agent_binary_(std::move(agent_binary)) {}
  std::string_view backend() const override { return "ssh"; }

  absl::StatusOr<std::unique_ptr<Hand>> Provision(std::string_view session_id, const HandResources& resources) override {
    ASSIGN_OR_RETURN(std::string dir, DirOf(session_id));
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Connection::Open(options_));
    ASSIGN_OR_RETURN(int status, c->Exec(absl::StrCat("mkdir -p ", Quote(dir), " ", Quote(RunsDir()))));
    if (status != 0) return absl::UnavailableError(absl::StrCat("ssh: cannot make ", dir, " on ", options_.host));
    return MakeHand(std::move(c), dir, resources);
  }

  absl::StatusOr<std::unique_ptr<Hand>> Reattach(std::string_view session_id, const HandResources& resources) override {
    ASSIGN_OR_RETURN(std::string dir, DirOf(session_id));
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Connection::Open(options_));
    ASSIGN_OR_RETURN(int status, c->Exec(absl::StrCat("test -d ", Quote(dir))));
    if (status != 0) return absl::NotFoundError(absl::StrCat("no ssh hand for ", ToAbsl(session_id)));
    return MakeHand(std::move(c), dir, resources);
  }

  absl::StatusOr<size_t> ReapExcept(absl::FunctionRef<bool(std::string_view session_id)> keep) override {
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Connection::Open(options_));
    std::vector<std::string> reap;
    {
      MutexLock lock(&c->mu());
      sftp_dir dir = sftp_opendir(c->sftp(), options_.base_dir.c_str());
      if (dir == nullptr) return absl::UnavailableError(absl::StrCat("ssh: listing ", options_.base_dir));
      while (sftp_attributes entry = sftp_readdir(c->sftp(), dir)) {
        const std::string name = entry->name != nullptr ? entry->name : "";
        const bool is_dir = entry->type == SSH_FILEXFER_TYPE_DIRECTORY;
        sftp_attributes_free(entry);
        if (!is_dir || name.empty() || name.front() == '.' || keep(name)) continue;
        reap.push_back(name);
      }
      sftp_closedir(dir);
    }
    for (const std::string& name : reap) {
      ASSIGN_OR_RETURN(int status, c->Exec(absl::StrCat("rm -rf ", Quote(options_.base_dir + "/" + name))));
      if (status != 0) return absl::InternalError(absl::StrCat("ssh: removing ", name));
    }
    return reap.size();
  }

 private:
  absl::StatusOr<std::string> DirOf(std::string_view session_id) const {
    if (!SafeName(session_id)) {
      return absl::InvalidArgumentError(absl::StrCat("\"", ToAbsl(session_id), "\" cannot name a work dir"));
    }
    return absl::StrCat(options_.base_dir, "/", ToAbsl(session_id));
  }
  absl::StatusOr<std::unique_ptr<Hand>> MakeHand(std::unique_ptr<Connection> c, const std::string& dir,
                                                  const HandResources& resources) {
    Connection& connection = *c;
    auto hand = std::make_unique<SshHand>(std::move(c), dir, RunsDir(), resources);
    if (agent_binary_ == nullptr) return std::unique_ptr<Hand>(std::move(hand));
    absl::Status started = CopyAgent(connection);
    if (started.ok()) started = hand->StartAgent(AgentPath());
    if (!started.ok()) {
      if (options_.require_agent || started.code() == absl::StatusCode::kUnavailable) return started;
      std::fprintf(stderr, "wake: ssh hand %s: %s; serving per channel\n", dir.c_str(),
                   std::string(started.message()).c_str());
    }
    return std::unique_ptr<Hand>(std::move(hand));
  }

  std::string AgentPath() const { return options_.base_dir + "/.wake-agent"; }

  // Copies the agent to AgentPath() unless a file of its size is there (the size tells builds apart
  // with near certainty; a stale one of equal size fails the ping's version check).
  absl::Status CopyAgent(Connection& c) {
    const std::string path = AgentPath();
    MutexLock lock(&c.mu());
    if (sftp_attributes existing = sftp_stat(c.sftp(), path.c_str()); existing != nullptr) {
      const bool same = existing->size == agent_binary_->size() && (existing->permissions & 0100) != 0;
      sftp_attributes_free(existing);
      if (same) return absl::OkStatus();
    }
    const std::string temp = absl::StrCat(path, ".", getpid(), ".", g_run_counter++);
    sftp_file file = sftp_open(c.sftp(), temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (file == nullptr) return absl::UnavailableError(absl::StrCat("ssh: copying the hand agent to ", temp, ": ", ssh_get_error(c.session())));
    const std::string& bytes = *agent_binary_;
    for (size_t done = 0; done < bytes.size();) {
      const ssize_t n = sftp_write(file, bytes.data() + done, std::min<size_t>(bytes.size() - done, 32 * 1024));
      if (n <= 0) {
        sftp_close(file);
        sftp_unlink(c.sftp(), temp.c_str());
        return absl::UnavailableError(absl::StrCat("ssh: copying the hand agent: ", ssh_get_error(c.session())));
      }
      done += static_cast<size_t>(n);
    }
    sftp_close(file);
    sftp_chmod(c.sftp(), temp.c_str(), 0755);
    // Replaces a stale copy even while an old agent runs it (rename, not rewrite).
    if (sftp_rename(c.sftp(), temp.c_str(), path.c_str()) != SSH_OK) {
      sftp_unlink(c.sftp(), path.c_str());
      if (sftp_rename(c.sftp(), temp.c_str(), path.c_str()) != SSH_OK) {
        sftp_unlink(c.sftp(), temp.c_str());
        return absl::InternalError(absl::StrCat("ssh: installing the hand agent at ", path));
      }
    }
    return absl::OkStatus();
  }

  // The run markers (pid files) of every hand on the host, apart from the work dirs.
  std::string RunsDir() const { return options_.base_dir + "/.wake-runs"; }

  const SshProviderOptions options_;
  const std::shared_ptr<const std::string> agent_binary_;  // null: per channel only
};

}  // namespace

absl::StatusOr<std::unique_ptr<HandProvider>> NewSshProvider(SshProviderOptions options) {
  if (options.user.empty() || options.identity_file.empty() || options.known_hosts_file.empty()) {
    return absl::InvalidArgumentError("ssh hands need a user, an identity_file and a known_hosts_file");
  }
  if (options.base_dir.empty() || options.base_dir.front() != '/') {
    return absl::InvalidArgumentError("ssh hands need an absolute base_dir on the host");
  }
  while (options.base_dir.size() > 1 && options.base_dir.back() == '/') options.base_dir.pop_back();
  // One connection now: wrong keys or an unknown host fail here, not at the first tool call.
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Connection::Open(options));
  ASSIGN_OR_RETURN(int status, c->Exec(absl::StrCat("mkdir -p ", Quote(options.base_dir + "/.wake-runs"))));
  if (status != 0) return absl::UnavailableError(absl::StrCat("ssh: cannot make ", options.base_dir));
  std::shared_ptr<const std::string> agent_binary;
  if (!options.agent_path.empty()) {
    absl::StatusOr<std::shared_ptr<const std::string>> read = ReadAgentBinary(options.agent_path);
    if (!read.ok()) return absl::InvalidArgumentError(absl::StrCat("ssh provider: ", read.status().message()));
    agent_binary = *std::move(read);
  } else if (options.require_agent) {
    return absl::InvalidArgumentError("ssh provider: require_agent without an agent_path");
  }
  return std::unique_ptr<HandProvider>(new SshProvider(std::move(options), std::move(agent_binary)));
}

}  // namespace wake
