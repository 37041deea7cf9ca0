// wake_hand_agent, run as a local child process over two pipes and driven through AgentConnection:
// every primitive, timeouts and cancels killing the whole process tree, the output cap, concurrent
// runs on the one stream, and a dead agent turning calls into Unavailable.

#include "sandbox/agent/agent_connection.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sandbox/agent/fd_stream.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

// A wake_hand_agent child of this test on `work_dir`, and the connection to it.
struct LocalAgent {
  pid_t pid = -1;
  std::unique_ptr<AgentConnection> connection;

  ~LocalAgent() {
    connection.reset();  // the agent reads end of file and exits
    if (pid > 0) {
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }
};

std::unique_ptr<LocalAgent> StartAgent(const std::string& work_dir) {
  int to_agent[2];
  int from_agent[2];
  if (::pipe2(to_agent, O_CLOEXEC) != 0 || ::pipe2(from_agent, O_CLOEXEC) != 0) return nullptr;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(to_agent[0], 0);
    ::dup2(from_agent[1], 1);
    const std::string flag = "--work-dir=" + work_dir;
    ::execl(WAKE_HAND_AGENT_PATH, "wake_hand_agent", flag.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(to_agent[0]);
  ::close(from_agent[1]);
  auto agent = std::make_unique<LocalAgent>();
  agent->pid = pid;
  AgentEndpoint endpoint;
  endpoint.read_fd = from_agent[0];
  endpoint.write_fd = to_agent[1];
  absl::StatusOr<std::unique_ptr<AgentConnection>> connection =
      AgentConnection::Connect(std::move(endpoint), absl::Seconds(10));
  EXPECT_TRUE(connection.ok()) << connection.status();
  if (!connection.ok()) return nullptr;
  agent->connection = *std::move(connection);
  return agent;
}

RunRequest Shell(std::string command, absl::Duration timeout = absl::Seconds(30)) {
  RunRequest request;
  request.shell = std::move(command);
  request.timeout = timeout;
  return request;
}

// Gone, or killed and not yet reaped by whoever adopted it.
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close_paren = text.rfind(')');
  return close_paren == std::string::npos || (text.size() > close_paren + 2 && text[close_paren + 2] == 'Z');
}

// Waits until `pid` is gone: SIGKILL is sent by then, its delivery is the kernel's (a process left
// alive shows as the test's timeout).
void AwaitGone(pid_t pid) {
  while (!ProcessGone(pid)) absl::SleepFor(absl::Milliseconds(2));
}

// Waits (bounded by the test's own timeout) until `path` exists with content.
std::string AwaitFile(const std::string& path) {
  while (true) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!text.str().empty() && text.str().back() == '\n') return text.str();
    absl::SleepFor(absl::Milliseconds(5));
  }
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_dir_ = testing::MakeTempDir("agent");
    agent_ = StartAgent(work_dir_);
    ASSERT_NE(agent_, nullptr);
  }
  AgentConnection& agent() { return *agent_->connection; }

  std::string work_dir_;
  std::unique_ptr<LocalAgent> agent_;
};

TEST_F(AgentTest, PingReportsTheAgent) {
  EXPECT_EQ(agent().info().pid, agent_->pid);
  EXPECT_EQ(agent().info().work_dir, work_dir_);
  EXPECT_TRUE(agent().Ping(absl::Seconds(10)).ok());
  EXPECT_TRUE(agent().alive());
}

TEST_F(AgentTest, RunsArgvAndShellWithStdinEnvAndCwd) {
  RunRequest argv;
  argv.argv = {"printf", "%s|%s", "a b", "c"};
  absl::StatusOr<RunOutcome> out = agent().Run(argv, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->exited);
  EXPECT_EQ(out->exit_code, 0);
  EXPECT_EQ(out->stdout_data, "a b|c");

  std::filesystem::create_directories(work_dir_ + "/sub");
  RunRequest shell = Shell("read line; echo \"$line/$WAKE_X/$(pwd)\"; echo err >&2; exit 3");
  shell.stdin_data = "hello\n";
  shell.env = {{"WAKE_X", "x y"}};
  shell.cwd = "sub";
  out = agent().Run(shell, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->exited);
  EXPECT_EQ(out->exit_code, 3);
  EXPECT_EQ(out->stdout_data, absl::StrCat("hello/x y/", work_dir_, "/sub\n"));
  EXPECT_EQ(out->stderr_data, "err\n");

  out = agent().Run(Shell("kill -TERM $$"), nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->exited);
  EXPECT_EQ(out->term_signal, SIGTERM);

  RunRequest missing;
  missing.argv = {"/no/such/program"};
  out = agent().Run(missing, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->exit_code, 127);
  EXPECT_NE(out->stderr_data.find("/no/such/program"), std::string::npos) << out->stderr_data;
}

TEST_F(AgentTest, RefusesBadRequests) {
  EXPECT_EQ(agent().Run(RunRequest{}, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  RunRequest escape = Shell("true");
  escape.cwd = "../..";
  EXPECT_EQ(agent().Run(escape, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  RunRequest bad_env = Shell("true");
  bad_env.env = {{"A=B", "c"}};
  EXPECT_EQ(agent().Run(bad_env, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  // The agent is still serving.
  EXPECT_TRUE(agent().Ping(absl::Seconds(10)).ok());
}

TEST_F(AgentTest, WritesAndReadsFiles) {
  std::string binary(300000, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7919 >> 3);
  ASSERT_TRUE(agent().WriteFile("deep/er/blob.bin", binary).ok());
  absl::StatusOr<std::string> read = agent().ReadFile("deep/er/blob.bin", 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, binary);
  // Absolute paths are the host's (or container's) own.
  read = agent().ReadFile(work_dir_ + "/deep/er/blob.bin", 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size(), binary.size());

  // Replacing keeps the mode; a symlink is written through.
  ASSERT_TRUE(agent().WriteFile("run.sh", "#!/bin/sh\necho one\n").ok());
  ASSERT_EQ(::chmod((work_dir_ + "/run.sh").c_str(), 0755), 0);
  ASSERT_TRUE(agent().WriteFile("run.sh", "#!/bin/sh\necho two\n").ok());
  struct stat st;
  ASSERT_EQ(::stat((work_dir_ + "/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  absl::StatusOr<RunOutcome> ran = agent().Run(Shell("./run.sh"), nullptr);
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(ran->stdout_data, "two\n");
  std::filesystem::create_symlink("run.sh", work_dir_ + "/link");
  ASSERT_TRUE(agent().WriteFile("link", "through").ok());
  read = agent().ReadFile("run.sh", 100);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "through");

  EXPECT_EQ(agent().ReadFile("missing.txt", 100).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(agent().ReadFile("deep", 100).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(agent().ReadFile("deep/er/blob.bin", 1000).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(agent().ReadFile("../outside", 100).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(agent().WriteFile("a/../../outside", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(agent().WriteFile("deep", "x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(agent().WriteFile("run.sh/below", "x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(work_dir_).parent_path() / "outside"));
}

TEST_F(AgentTest, TimeoutKillsTheWholeTree) {
  const std::string pids = work_dir_ + "/pids";
  absl::StatusOr<RunOutcome> out = agent().Run(
      Shell(absl::StrCat("sleep 60 & echo $! > ", pids, "; echo $$ >> ", pids, "; wait"), absl::Milliseconds(500)),
      nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->timed_out);
  EXPECT_FALSE(out->exited);
  EXPECT_EQ(out->term_signal, SIGKILL);
  std::istringstream lines(AwaitFile(pids));
  for (std::string line; std::getline(lines, line);) {
    pid_t pid = 0;
    ASSERT_TRUE(absl::SimpleAtoi(line, &pid)) << line;
    AwaitGone(pid);  // a hang here (the test's timeout) is a process of the tree left alive
  }
}

TEST_F(AgentTest, TimeoutKillsEvenADescendantInANewSession) {
  const std::string pid_file = work_dir_ + "/escaper";
  absl::StatusOr<RunOutcome> out = agent().Run(
      Shell(absl::StrCat("setsid sleep 60 > /dev/null 2>&1 < /dev/null & echo $! > ", pid_file, "; sleep 60"),
            absl::Milliseconds(500)),
      nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->timed_out);
  pid_t pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(AwaitFile(pid_file)), &pid));
  AwaitGone(pid);  // a hang here (the test's timeout) is the escaped process left alive
}

TEST_F(AgentTest, CancelKillsTheTreeAndKeepsTheOutput) {
  const std::string pid_file = work_dir_ + "/sleeper";
  CancelToken cancel;
  absl::StatusOr<RunOutcome> out;
  std::thread runner([&] {
    out = agent().Run(Shell(absl::StrCat("echo started; sleep 60 & echo $! > ", pid_file, "; wait")), &cancel);
  });
  const std::string pid_text = AwaitFile(pid_file);
  cancel.Cancel();
  runner.join();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->cancelled);
  EXPECT_FALSE(out->timed_out);
  EXPECT_EQ(out->stdout_data, "started\n");
  pid_t pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(pid_text), &pid));
  AwaitGone(pid);
}

TEST_F(AgentTest, OutputBeyondTheCapIsDropped) {
  RunRequest request = Shell("head -c 5000000 /dev/zero; head -c 300 /dev/zero >&2");
  request.output_cap = 1 << 20;
  absl::StatusOr<RunOutcome> out = agent().Run(request, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->exited);
  EXPECT_EQ(out->stdout_data.size(), size_t{1} << 20);
  EXPECT_TRUE(out->stdout_truncated);
  EXPECT_EQ(out->stderr_data.size(), 300u);
  EXPECT_FALSE(out->stderr_truncated);
}

TEST_F(AgentTest, ConcurrentRunsShareTheStream) {
  constexpr int kRuns = 8;
  std::vector<absl::StatusOr<RunOutcome>> outs(kRuns, absl::InternalError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&, i] {
      RunRequest request = Shell(absl::StrCat("cat; echo ", i));
      request.stdin_data = std::string(100000 + i, 'a' + i);
      outs[i] = agent().Run(request, nullptr);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kRuns; ++i) {
    ASSERT_TRUE(outs[i].ok()) << outs[i].status();
    EXPECT_TRUE(outs[i]->stdout_data == absl::StrCat(std::string(100000 + i, 'a' + i), i, "\n"))
        << "run " << i << " printed " << outs[i]->stdout_data.size() << " bytes";
  }
}

TEST_F(AgentTest, ADeadAgentIsUnavailable) {
  // A run in flight when the agent dies, and the calls after it.
  absl::StatusOr<RunOutcome> in_flight;
  const std::string marker = work_dir_ + "/running";
  std::thread runner([&] { in_flight = agent().Run(Shell(absl::StrCat("echo $$ > ", marker, "; sleep 60")), nullptr); });
  pid_t group = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(AwaitFile(marker)), &group));
  ASSERT_EQ(::kill(agent_->pid, SIGKILL), 0);
  runner.join();
  ::kill(-group, SIGKILL);  // a SIGKILLed agent could not: the test cleans up
  EXPECT_EQ(in_flight.status().code(), absl::StatusCode::kUnavailable) << in_flight.status();
  EXPECT_EQ(agent().Run(Shell("true"), nullptr).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(agent().ReadFile("x", 10).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(agent().alive());
}

// The engine going away is the agent's stream ending: the agent kills the runs in flight and exits.
TEST(AgentLifetimeTest, TheEndOfItsInputEndsTheAgentAndItsRuns) {
  const std::string work_dir = testing::MakeTempDir("agent-end");
  int sockets[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(sockets[1], 0);
    ::dup2(sockets[1], 1);
    ::execl(WAKE_HAND_AGENT_PATH, "wake_hand_agent", ("--work-dir=" + work_dir).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(sockets[1]);
  const int engine_end = ::dup(sockets[0]);  // kept to end the agent's input from here
  AgentEndpoint endpoint;
  endpoint.read_fd = endpoint.write_fd = sockets[0];
  absl::StatusOr<std::unique_ptr<AgentConnection>> connection = AgentConnection::Connect(endpoint, absl::Seconds(10));
  ASSERT_TRUE(connection.ok()) << connection.status();

  const std::string pid_file = work_dir + "/group";
  absl::StatusOr<RunOutcome> out;
  std::thread runner([&] { out = (*connection)->Run(Shell(absl::StrCat("echo $$ > ", pid_file, "; sleep 60")), nullptr); });
  pid_t group = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(AwaitFile(pid_file)), &group));
  ASSERT_EQ(::shutdown(engine_end, SHUT_WR), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  runner.join();
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable) << out.status();
  EXPECT_FALSE((*connection)->alive());
  // The run's process group went with the agent (SIGKILL is sent; its delivery is the kernel's).
  AwaitGone(group);
  ::close(engine_end);
}

// The docker stream format: stdout frames are the stream, stderr frames go aside, wherever the
// reads cut the frames (headers included: the bytes arrive one write at a time).
TEST(FdStreamTest, DockerFramesAreDemultiplexed) {
  auto frame = [](char stream, std::string_view payload) {
    std::string f = {stream, 0, 0, 0};
    const auto n = static_cast<uint32_t>(payload.size());
    f += static_cast<char>(n >> 24);
    f += static_cast<char>(n >> 16);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n);
    return f + std::string(payload);
  };
  const std::string wire = frame(1, "hel") + frame(2, "warn") + frame(1, "") + frame(1, "lo world") + frame(2, "!");
  int sockets[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets), 0);
  std::thread writer([&] {
    for (char c : wire) ASSERT_EQ(::write(sockets[1], &c, 1), 1);
    ::shutdown(sockets[1], SHUT_WR);
  });
  std::string out;
  std::string err;
  {
    kj::AsyncIoContext io = kj::setupAsyncIo();
    agent_internal::FdStreamOptions options;
    options.read_fd = options.write_fd = sockets[0];
    options.docker_multiplexed = true;
    options.on_stderr = [&](std::string_view bytes) { err.append(bytes); };
    kj::Own<kj::AsyncIoStream> stream = agent_internal::NewFdStream(*io.lowLevelProvider, std::move(options));
    char buffer[3];
    while (true) {
      const size_t n = stream->tryRead(buffer, 1, sizeof(buffer)).wait(io.waitScope);
      if (n == 0) break;
      out.append(buffer, n);
    }
  }
  writer.join();
  ::close(sockets[1]);
  EXPECT_EQ(out, "hello world");
  EXPECT_EQ(err, "warn!");
}

}  // namespace
}  // namespace wake
