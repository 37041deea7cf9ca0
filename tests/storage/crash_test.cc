// Acknowledged means durable: a child appends with kSync and reports each acknowledged seq; the parent
// SIGKILLs it at a random moment, reopens the log and checks that every acknowledged event is there,
// intact, and that no session has a gap. Repeated over many rounds on the same data dir.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
};

Child SpawnAppender(const std::string& dir, const std::vector<std::string>& sessions) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    std::string binary = WAKE_CRASH_APPENDER;
    argv.push_back(binary.data());
    std::string d = dir;
    argv.push_back(d.data());
    std::vector<std::string> copies = sessions;
    for (auto& s : copies) argv.push_back(s.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  return Child{pid, fdopen(fds[0], "r")};
}

TEST(CrashTest, EveryAcknowledgedAppendSurvivesSigkill) {
  constexpr int kRounds = 60;
  const std::string dir = testing::MakeTempDir("crash");
  std::vector<std::string> sessions;
  for (int i = 0; i < 3; ++i) sessions.push_back(NewSessionId(absl::Now()));
  std::map<std::string, uint64_t> max_acked;  // over all rounds
  std::mt19937 rng(20261122);
  uint64_t total_acked = 0;

  for (int round = 0; round < kRounds; ++round) {
    Child child = SpawnAppender(dir, sessions);
    ASSERT_GT(child.pid, 0);
    ASSERT_NE(child.out, nullptr);
    // Kill after a random number of acknowledgements: the child is then somewhere inside further
    // appends (encoding, queued, in the WAL write, in fsync, ...). Round 0 sometimes kills before any.
    const int kill_after = static_cast<int>(rng() % 120);
    int acks = 0;
    char line[256];
    while (acks < kill_after && std::fgets(line, sizeof line, child.out) != nullptr) {
      std::istringstream in(line);
      std::string word, session;
      uint64_t seq = 0;
      in >> word >> session >> seq;
      ASSERT_EQ(word, "ack") << line;
      max_acked[session] = std::max(max_acked[session], seq);
      ++acks;
    }
    kill(child.pid, SIGKILL);
    // Acks the child wrote before dying are acknowledged too: drain them.
    while (std::fgets(line, sizeof line, child.out) != nullptr) {
      std::istringstream in(line);
      std::string word, session;
      uint64_t seq = 0;
      in >> word >> session >> seq;
      if (word == "ack") max_acked[session] = std::max(max_acked[session], seq);
    }
    fclose(child.out);
    int status = 0;
    ASSERT_EQ(waitpid(child.pid, &status, 0), child.pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own with " << WEXITSTATUS(status);
    total_acked += acks;

    RocksDbSessionLogOptions options;
    options.path = dir;
    auto log = OpenRocksDbSessionLog(options);
    ASSERT_TRUE(log.ok()) << "round " << round << ": " << log.status();
    for (const auto& [session, acked] : max_acked) {
      auto events = (*log)->Read(session);
      ASSERT_TRUE(events.ok()) << "round " << round << ": " << events.status();
      ASSERT_GE(events->size(), acked) << "round " << round << ": acknowledged seq " << acked
                                       << " of " << session << " is lost";
      for (size_t i = 0; i < events->size(); ++i) {
        const Event& e = (*events)[i];
        ASSERT_EQ(e.seq, i + 1) << "gap in " << session;
        ASSERT_EQ(e.content.size(), 1u);
        const std::string expected = absl::StrCat("message ", session, ":", e.seq);
        ASSERT_EQ(e.content[0].text.substr(0, expected.size()), expected) << "round " << round;
      }
      auto info = (*log)->GetSession(session);
      ASSERT_TRUE(info.ok());
      ASSERT_EQ(info->next_seq, events->size() + 1) << "session record disagrees with its events";
    }
  }
  std::printf("crash test: %d rounds, %llu acknowledged appends checked\n", kRounds,
              static_cast<unsigned long long>(total_acked));
  testing::RemoveDir(dir);
}

}  // namespace
}  // namespace wake
