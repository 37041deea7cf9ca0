// The local hand backend: the conformance suite, and what only a local hand must get right itself:
// paths and symlinks confined to the work dir, a clean environment, isolation where available.

#include "sandbox/local/local_hand.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sandbox/local/process_runner.h"
#include "schemas/ids.h"
#include "tests/sandbox/hand_conformance.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::HandConformanceTest;

std::string BaseDir() {
  static const std::string* dir = new std::string(testing::MakeTempDir("local-hands"));
  return *dir;
}

const testing::HandBackendFixture kLocalFixture = {
    "local",
    [] { return NewLocalProvider(LocalProviderOptions{BaseDir(), false}); },
    [](Hand& hand) -> absl::Status {
      // The sandbox disappears: its processes killed, its directory removed.
      std::filesystem::remove_all(hand.work_dir());
      return absl::OkStatus();
    },
};

INSTANTIATE_TEST_SUITE_P(Local, HandConformanceTest, ::testing::Values(&kLocalFixture),
                         [](const auto&) { return std::string("local"); });

class LocalHandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_ = *NewLocalProvider(LocalProviderOptions{BaseDir(), false});
    hand_ = *provider_->Provision(NewSessionId(absl::Now()), HandResources{});
    outside_ = testing::MakeTempDir("outside");
    ASSERT_TRUE(hand_->WriteFile("inside.txt", "in").ok());
  }
  void TearDown() override {
    EXPECT_TRUE(hand_->Release().ok());
    testing::RemoveDir(outside_);
  }
  std::unique_ptr<HandProvider> provider_;
  std::unique_ptr<Hand> hand_;
  std::string outside_;
};

TEST_F(LocalHandTest, SymlinksOutOfTheWorkDirAreRefused) {
  std::filesystem::create_symlink(outside_, hand_->work_dir() + "/link_dir");
  std::filesystem::create_symlink("/etc/hostname", hand_->work_dir() + "/link_file");
  {
    std::ofstream secret(outside_ + "/secret.txt");
    secret << "outside";
  }
  for (const char* path : {"link_dir/secret.txt", "link_file", "../x"}) {
    EXPECT_EQ(hand_->ReadFile(path, 1000).status().code(), absl::StatusCode::kInvalidArgument) << path;
  }
  EXPECT_EQ(hand_->WriteFile("link_dir/new.txt", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(hand_->WriteFile("link_file", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(outside_ + "/new.txt"));
  EXPECT_EQ(hand_->ReadFile("/etc/hostname", 1000).status().code(), absl::StatusCode::kInvalidArgument);
  // A symlink that stays inside is fine.
  std::filesystem::create_symlink("inside.txt", hand_->work_dir() + "/alias");
  EXPECT_EQ(hand_->ReadFile("alias", 100).value_or("?"), "in");
}

TEST_F(LocalHandTest, TheEnvironmentIsCleanOfTheEngines) {
  ::setenv("WAKE_ENGINE_ONLY_SECRET", "do-not-leak", 1);
  RunRequest env;
  env.argv = {"env"};
  absl::StatusOr<RunOutcome> out = hand_->Run(env, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(absl::StrContains(out->stdout_data, "do-not-leak"));
  EXPECT_TRUE(absl::StrContains(out->stdout_data, absl::StrCat("HOME=", hand_->work_dir())));
  ::unsetenv("WAKE_ENGINE_ONLY_SECRET");
}

// A tool that runs the machine out of memory is what the OOM killer takes, not the engine.
TEST_F(LocalHandTest, ToolsAreTheOomKillersFirstChoice) {
  RunRequest score;
  score.argv = {"cat", "/proc/self/oom_score_adj"};
  absl::StatusOr<RunOutcome> out = hand_->Run(score, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->stdout_data, "1000\n");
}

TEST_F(LocalHandTest, AReleasedHandKillsItsRunningProcesses) {
  absl::StatusOr<RunOutcome> outcome;
  std::thread runner([&] {
    RunRequest sleep;
    sleep.shell = "touch started; sleep 60";
    outcome = hand_->Run(sleep, nullptr);
  });
  while (!std::filesystem::exists(hand_->work_dir() + "/started")) absl::SleepFor(absl::Milliseconds(5));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(hand_->Release().ok());
  runner.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // not the sleep's 60 s
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->term_signal, SIGKILL);
  EXPECT_FALSE(std::filesystem::exists(hand_->work_dir()));
}

TEST_F(LocalHandTest, BadSessionIdsCannotNameADirectory) {
  for (const char* id : {"../escape", "a/b", "", ".."}) {
    EXPECT_EQ(provider_->Provision(id, HandResources{}).status().code(), absl::StatusCode::kInvalidArgument) << id;
  }
}

TEST(LocalIsolationTest, IsolatedProcessesHaveNoNetworkAndAPrivateTmp) {
  if (!local_internal::NamespacesAvailable()) GTEST_SKIP() << "this machine does not allow user namespaces";
  const std::string base = testing::MakeTempDir("isolated");
  std::unique_ptr<HandProvider> provider = *NewLocalProvider(LocalProviderOptions{base, true});
  std::unique_ptr<Hand> hand = *provider->Provision(NewSessionId(absl::Now()), HandResources{});
  const std::string marker = absl::StrCat("/tmp/wake-isolation-", ::getpid());
  { std::ofstream(marker) << "host"; }
  RunRequest probe;
  probe.shell = absl::StrCat("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; test -e ", marker,
                             " && echo host-tmp-visible || echo private-tmp");
  absl::StatusOr<RunOutcome> out = hand->Run(probe, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->stdout_data, "lo\nprivate-tmp\n") << out->stderr_data << " exit " << out->exit_code;
  std::filesystem::remove(marker);
  EXPECT_TRUE(hand->Release().ok());
  testing::RemoveDir(base);
}

}  // namespace
}  // namespace wake
