#include "tests/server/waked_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace wake::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

pid_t Spawn(const std::vector<std::string>& argv, const std::string& out, const std::string& err,
            const std::vector<std::string>& env) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0 || err_fd < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  return pid;
}

std::optional<int> WaitExit(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return std::nullopt;
    if (absl::Now() > deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

std::string WaitForUrl(pid_t pid, const std::string& out, const std::string& err, absl::Duration timeout,
                       std::string* error) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    const std::string text = ReadAll(out);
    if (const size_t at = text.find("listening on http://"); at != std::string::npos) {
      const size_t end = text.find(' ', at + 13);
      if (end != std::string::npos) return text.substr(at + 13, end - at - 13);
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      const std::string stderr_text = ReadAll(err);
      *error = absl::StrCat("it exited at start (status ", status, "): ",
                            stderr_text.size() > 3000 ? stderr_text.substr(stderr_text.size() - 3000) : stderr_text);
      return "";
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  kill(pid, SIGKILL);
  WaitExit(pid, absl::Seconds(10));
  *error = absl::StrCat("it printed no URL within ", absl::FormatDuration(timeout));
  return "";
}

}  // namespace wake::testing
