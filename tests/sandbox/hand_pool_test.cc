// HandPool on the real local backend: lazy single-flight provisioning, reuse, idempotency memory, idle
// release, a lost hand replaced, re-attachment after a restart; and the vault end to end through a
// harness on a real RocksDB log (no secret reaches the log, or a hand that did not ask for it).

#include "sandbox/hand_pool.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "harness/harness.h"
#include "harness/scripted_brain.h"
#include "sandbox/local/local_hand.h"
#include "sandbox/vault.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

std::string TextOf(const ToolResult& result) {
  std::string text;
  for (const ContentBlock& block : result.content) text += block.text;
  return text;
}

ToolCall Bash(std::string command, std::string key) {
  std::string input;
  AppendJsonString(input, command);
  return ToolCall{"bash", absl::StrCat(R"({"command":)", input, "}"), std::move(key)};
}

class HandPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("hand-pool");
    provider_ = MakeProvider();
  }
  void TearDown() override { testing::RemoveDir(dir_); }

  std::unique_ptr<HandProvider> MakeProvider() {
    LocalProviderOptions options;
    options.base_dir = dir_ + "/hands";
    absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewLocalProvider(options);
    EXPECT_TRUE(provider.ok()) << provider.status();
    return provider.ok() ? *std::move(provider) : nullptr;
  }

  HandPoolOptions Options(HandProvider* provider) {
    HandPoolOptions options;
    options.placement = [provider](std::string_view) -> absl::StatusOr<HandPlacement> {
      HandPlacement placement;
      placement.provider = provider;
      return placement;
    };
    options.clock = &clock_;
    options.on_released = [this](std::string_view session, Event e) {
      MutexLock lock(&mu_);
      released_.emplace_back(std::string(session), std::move(e));
    };
    return options;
  }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<HandProvider> provider_;
  Mutex mu_;
  std::vector<std::pair<std::string, Event>> released_;
};

TEST_F(HandPoolTest, ProvisionsOnTheFirstCallOnlyAndReusesTheHand) {
  HandPool pool(Options(provider_.get()));
  const std::string s = NewSessionId(absl::Now());
  EXPECT_FALSE(pool.HasHand(s));
  std::vector<Event> events;
  absl::StatusOr<ToolResult> first = pool.Execute(s, Bash("echo one > f; cat f", "k1"), nullptr, &events);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(TextOf(*first), "one\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kHandProvisioned);
  EXPECT_EQ(events[0].hand_backend, "local");
  EXPECT_FALSE(events[0].hand_id.empty());
  EXPECT_TRUE(events[0].reason.empty());
  EXPECT_TRUE(pool.HasHand(s));

  events.clear();
  absl::StatusOr<ToolResult> second = pool.Execute(s, Bash("cat f", "k2"), nullptr, &events);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(TextOf(*second), "one\n");  // the same sandbox
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(pool.stats().provisions, 1);
  EXPECT_EQ(pool.stats().executions, 2);
}

TEST_F(HandPoolTest, ConcurrentFirstCallsShareOneProvisioning) {
  HandPool pool(Options(provider_.get()));
  const std::string s = NewSessionId(absl::Now());
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<std::string> outputs(kThreads);
  std::atomic<int> provisioned_events{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      std::vector<Event> events;
      absl::StatusOr<ToolResult> r = pool.Execute(s, Bash(absl::StrCat("echo ", i), absl::StrCat("c", i)), nullptr, &events);
      if (r.ok()) outputs[i] = TextOf(*r);
      provisioned_events += static_cast<int>(events.size());
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(outputs[i], absl::StrCat(i, "\n"));
  EXPECT_EQ(pool.stats().provisions, 1);
  EXPECT_EQ(provisioned_events.load(), 1);
}

TEST_F(HandPoolTest, ARepeatedIdempotencyKeyGetsTheStoredResult) {
  HandPool pool(Options(provider_.get()));
  const std::string s = NewSessionId(absl::Now());
  ToolCall append = Bash("echo x >> counter; wc -l < counter", "same-key");
  absl::StatusOr<ToolResult> first = pool.Execute(s, append, nullptr, nullptr);
  absl::StatusOr<ToolResult> again = pool.Execute(s, append, nullptr, nullptr);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(*first, *again);
  EXPECT_EQ(TextOf(*pool.Execute(s, Bash("wc -l < counter", "other"), nullptr, nullptr)), "1\n");
  EXPECT_EQ(pool.stats().remembered_hits, 1);
}

TEST_F(HandPoolTest, IdleHandsAreReleasedAndTheNextCallProvisionsAgain) {
  HandPoolOptions options = Options(provider_.get());
  options.idle_release_after = absl::Minutes(10);
  HandPool pool(options);
  const std::string s = NewSessionId(absl::Now());
  ASSERT_TRUE(pool.Execute(s, Bash("true", "a"), nullptr, nullptr).ok());
  clock_.SleepFor(absl::Minutes(9));
  EXPECT_EQ(pool.ReleaseIdle(), 0u);
  clock_.SleepFor(absl::Minutes(2));
  EXPECT_EQ(pool.ReleaseIdle(), 1u);
  EXPECT_FALSE(pool.HasHand(s));
  {
    MutexLock lock(&mu_);
    ASSERT_EQ(released_.size(), 1u);
    EXPECT_EQ(released_[0].first, s);
    EXPECT_EQ(released_[0].second.type, EventType::kHandReleased);
    EXPECT_EQ(released_[0].second.reason, "idle");
  }
  std::vector<Event> events;
  ASSERT_TRUE(pool.Execute(s, Bash("true", "b"), nullptr, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kHandProvisioned);
  EXPECT_EQ(pool.stats().provisions, 2);
}

TEST_F(HandPoolTest, ALostHandIsAnErrorAndTheNextCallGetsAFreshOne) {
  HandPool pool(Options(provider_.get()));
  const std::string s = NewSessionId(absl::Now());
  ASSERT_TRUE(pool.Execute(s, Bash("echo data > f", "a"), nullptr, nullptr).ok());
  // The sandbox disappears under the engine.
  std::filesystem::remove_all(dir_ + "/hands/" + s);
  std::vector<Event> events;
  absl::StatusOr<ToolResult> lost = pool.Execute(s, Bash("cat f", "b"), nullptr, &events);
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable) << lost.status();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kHandLost);
  EXPECT_FALSE(events[0].reason.empty());
  EXPECT_FALSE(pool.HasHand(s));

  events.clear();
  absl::StatusOr<ToolResult> fresh = pool.Execute(s, Bash("echo fresh", "c"), nullptr, &events);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(TextOf(*fresh), "fresh\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kHandProvisioned);
  EXPECT_EQ(pool.stats().lost, 1);
}

TEST_F(HandPoolTest, ARestartedEngineReattachesTheSessionsHand) {
  const std::string s = NewSessionId(absl::Now());
  {
    HandPool pool(Options(provider_.get()));
    ASSERT_TRUE(pool.Execute(s, Bash("echo kept > state", "a"), nullptr, nullptr).ok());
  }  // the engine stops without releasing: the sandbox stays
  std::unique_ptr<HandProvider> provider = MakeProvider();
  HandPool pool(Options(provider.get()));
  std::vector<Event> events;
  absl::StatusOr<ToolResult> r = pool.Execute(s, Bash("cat state", "b"), nullptr, &events);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(TextOf(*r), "kept\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "reattached");
  EXPECT_EQ(pool.stats().reattaches, 1);
  EXPECT_EQ(pool.stats().provisions, 0);
}

TEST_F(HandPoolTest, ReleaseSessionRemovesTheSandboxEvenOneLeftByAnEarlierProcess) {
  const std::string s = NewSessionId(absl::Now());
  {
    HandPool pool(Options(provider_.get()));
    ASSERT_TRUE(pool.Execute(s, Bash("true", "a"), nullptr, nullptr).ok());
  }
  HandPool pool(Options(provider_.get()));
  ASSERT_TRUE(pool.ReleaseSession(s).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/hands/" + s));
  EXPECT_EQ(provider_->Reattach(s, HandResources{}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(pool.ReleaseSession(s).ok());  // nothing left: still fine
}

TEST_F(HandPoolTest, AProvisioningFailureIsAnErrorForEveryWaitingCall) {
  HandPoolOptions options = Options(provider_.get());
  options.placement = [](std::string_view) -> absl::StatusOr<HandPlacement> {
    return absl::ResourceExhaustedError("no capacity for another sandbox");
  };
  HandPool pool(options);
  absl::StatusOr<ToolResult> r = pool.Execute(NewSessionId(absl::Now()), Bash("true", "a"), nullptr, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "no capacity"));
  EXPECT_EQ(pool.stats().provision_failures, 1);
}

// --- the warm pool ---------------------------------------------------------------------------------

// Waits (without asserting any time) until the pool has `n` spares ready; false after a generous bound.
bool AwaitSpares(const HandPool& pool, size_t n) {
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (pool.stats().spares_ready != n) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

std::vector<std::string> SpareDirs(const std::string& hands_dir) {
  std::vector<std::string> dirs;
  if (!std::filesystem::exists(hands_dir)) return dirs;
  for (const auto& entry : std::filesystem::directory_iterator(hands_dir)) {
    if (absl::StartsWith(entry.path().filename().string(), "warm_")) dirs.push_back(entry.path().string());
  }
  return dirs;
}

TEST_F(HandPoolTest, WarmPoolIsOffByDefault) {
  {
    HandPool pool(Options(provider_.get()));
    ASSERT_TRUE(pool.Execute(NewSessionId(absl::Now()), Bash("true", "a"), nullptr, nullptr).ok());
    EXPECT_EQ(pool.stats().spares_provisioned, 0);
    EXPECT_EQ(pool.stats().warm_hits, 0);
  }
  EXPECT_TRUE(SpareDirs(dir_ + "/hands").empty());
}

TEST_F(HandPoolTest, WarmPoolHandsOutASpareAndRefills) {
  MetricsRegistry metrics;
  HandPoolOptions options = Options(provider_.get());
  options.metrics = &metrics;
  options.warm.push_back(WarmHands{provider_.get(), HandResources{}, 2});
  HandPool pool(options);
  ASSERT_TRUE(AwaitSpares(pool, 2));
  const std::vector<std::string> before = SpareDirs(dir_ + "/hands");
  ASSERT_EQ(before.size(), 2u);
  // Readiness is on /metrics: as many spares ready as the pool keeps.
  const std::string ready = metrics.RenderPrometheus();
  EXPECT_TRUE(absl::StrContains(ready, "wake_hand_spares_ready{backend=\"local\"} 2\n")) << ready;
  EXPECT_TRUE(absl::StrContains(ready, "wake_hand_spares_target{backend=\"local\"} 2\n")) << ready;

  const std::string s = NewSessionId(absl::Now());
  std::vector<Event> events;
  absl::StatusOr<ToolResult> r = pool.Execute(s, Bash("echo warm > f; pwd", "k1"), nullptr, &events);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kHandProvisioned);
  EXPECT_EQ(events[0].reason, "warm");
  // The session runs in one of the spares made before it asked, not in a sandbox of its own name.
  EXPECT_TRUE(std::find(before.begin(), before.end(), events[0].hand_id) != before.end()) << events[0].hand_id;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/hands/" + s));
  EXPECT_TRUE(std::filesystem::exists(events[0].hand_id + "/f"));
  // The hand stays the session's; the next call uses it and takes no spare.
  events.clear();
  absl::StatusOr<ToolResult> again = pool.Execute(s, Bash("cat f", "k2"), nullptr, &events);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(TextOf(*again), "warm\n");
  EXPECT_TRUE(events.empty());

  // The pool refills behind the session.
  ASSERT_TRUE(AwaitSpares(pool, 2));
  HandPoolStats stats = pool.stats();
  EXPECT_EQ(stats.warm_hits, 1);
  EXPECT_EQ(stats.provisions, 0);
  EXPECT_EQ(stats.spares_provisioned, 3);
  EXPECT_EQ(SpareDirs(dir_ + "/hands").size(), 3u);  // two spares + the session's
  EXPECT_TRUE(absl::StrContains(metrics.RenderPrometheus(), "wake_hand_spares_ready{backend=\"local\"} 2\n"));
  // The session's provisioning is observed as a warm one.
  const std::string text = metrics.RenderPrometheus();
  EXPECT_TRUE(absl::StrContains(text, R"(wake_hand_provision_seconds_count{backend="local",kind="warm"} 1)")) << text;
  EXPECT_FALSE(absl::StrContains(text, R"(kind="new")")) << text;
}

TEST_F(HandPoolTest, AWarmSpareThatDiedIsDiscardedNotHandedOut) {
  HandPoolOptions options = Options(provider_.get());
  options.warm.push_back(WarmHands{provider_.get(), HandResources{}, 1});
  HandPool pool(options);
  ASSERT_TRUE(AwaitSpares(pool, 1));
  std::vector<std::string> spares = SpareDirs(dir_ + "/hands");
  ASSERT_EQ(spares.size(), 1u);
  std::filesystem::remove_all(spares[0]);  // the local hand's Health fails without its work dir

  std::vector<Event> events;
  absl::StatusOr<ToolResult> r = pool.Execute(NewSessionId(absl::Now()), Bash("echo ok", "k"), nullptr, &events);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(TextOf(*r), "ok\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].hand_id, spares[0]);
  EXPECT_EQ(pool.stats().spares_discarded, 1);
}

TEST_F(HandPoolTest, ASessionWithOtherLimitsGetsNoSpare) {
  HandPoolOptions options = Options(provider_.get());
  options.warm.push_back(WarmHands{provider_.get(), HandResources{}, 1});
  options.placement = [this](std::string_view) -> absl::StatusOr<HandPlacement> {
    HandPlacement placement;
    placement.provider = provider_.get();
    placement.resources.memory_bytes = int64_t{2} << 30;
    return placement;
  };
  HandPool pool(options);
  ASSERT_TRUE(AwaitSpares(pool, 1));
  const std::string s = NewSessionId(absl::Now());
  std::vector<Event> events;
  ASSERT_TRUE(pool.Execute(s, Bash("true", "k"), nullptr, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].reason.empty());
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/hands/" + s));
  EXPECT_EQ(pool.stats().warm_hits, 0);
  EXPECT_EQ(pool.stats().spares_ready, 1u);
}

TEST_F(HandPoolTest, SparesAreReleasedWhenThePoolGoesButSessionHandsStay) {
  const std::string s = NewSessionId(absl::Now());
  std::string session_hand;
  {
    HandPoolOptions options = Options(provider_.get());
    options.warm.push_back(WarmHands{provider_.get(), HandResources{}, 3});
    HandPool pool(options);
    ASSERT_TRUE(AwaitSpares(pool, 3));
    std::vector<Event> events;
    ASSERT_TRUE(pool.Execute(s, Bash("true", "k"), nullptr, &events).ok());
    ASSERT_EQ(events.size(), 1u);
    session_hand = events[0].hand_id;
  }
  // Only the session's hand is left (a spare being refilled at destruction was waited for and released).
  EXPECT_EQ(SpareDirs(dir_ + "/hands"), std::vector<std::string>{session_hand});
}

// --- the vault, end to end ------------------------------------------------------------------------

std::string ReadAllFilesUnder(const std::string& dir) {
  std::string all;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    all += content.str();
  }
  return all;
}

TEST_F(HandPoolTest, SecretsNeverReachTheLogAndOnlyHandsThatAskForThem) {
  constexpr char kSecret[] = "sk-live-7f3a9c2e41b8d6";
  Vault vault;
  ASSERT_TRUE(vault.Put("deploy_token", kSecret).ok());

  RocksDbSessionLogOptions log_options;
  log_options.path = dir_ + "/log";
  std::unique_ptr<SessionLog> log = *OpenRocksDbSessionLog(log_options);
  // Session A's hand did not ask for the secret; session B's asked for it as $DEPLOY_TOKEN.
  const std::string a = NewSessionId(absl::Now());
  const std::string b = NewSessionId(absl::Now());
  HandPoolOptions options = Options(provider_.get());
  options.placement = [&](std::string_view session) -> absl::StatusOr<HandPlacement> {
    HandPlacement placement;
    placement.provider = provider_.get();
    if (session == b) {
      absl::StatusOr<std::vector<std::pair<std::string, std::string>>> env =
          vault.ResolveEnv({{"DEPLOY_TOKEN", "deploy_token"}});
      if (!env.ok()) return env.status();
      placement.resources.env = *std::move(env);
    }
    return placement;
  };
  HandPool pool(options);

  std::unique_ptr<Brain> brain = *NewScriptedBrain(R"({"turns": [
    {"text": "Looking.", "tool_calls": [
      {"name": "bash", "input": {"command": "env; cat /proc/self/environ | tr '\\000' '\\n'; ls -la; cat * 2>/dev/null; echo token=$DEPLOY_TOKEN"}}]},
    {"text": "Done."}]})");
  AgentConfig agent;
  agent.model = "scripted";
  agent.tools = {{"bash", "Run a command.", R"({"type":"object"})"}};
  HarnessOptions harness_options;
  harness_options.redact = [&vault](Event& e) { vault.MaskEvent(e); };
  Harness harness(log.get(), brain.get(), &pool, harness_options);

  std::map<std::string, std::string> outputs;
  for (const std::string& s : {a, b}) {
    SessionInfo info;
    info.id = s;
    ASSERT_TRUE(log->CreateSession(info).ok());
    Event user;
    user.type = EventType::kUserMessage;
    user.id = NewEventId(absl::Now());
    ContentBlock text;
    text.text = "show me your environment";
    user.content.push_back(text);
    ASSERT_TRUE(log->Append(s, {user}, kAppendAtHead, kNoLease).ok());
    ASSERT_TRUE(harness.Wake(s, agent).ok());
    absl::StatusOr<std::vector<Event>> events = log->Read(s);
    ASSERT_TRUE(events.ok()) << events.status();
    for (const Event& e : *events) {
      if (e.type == EventType::kAgentToolResult) outputs[s] = e.content[0].text;
    }
  }
  // A's hand never saw it; B's did, and the log says only its name.
  EXPECT_TRUE(absl::StrContains(outputs[a], "token=\n")) << outputs[a];
  EXPECT_TRUE(absl::StrContains(outputs[b], "token=[secret:deploy_token]")) << outputs[b];
  EXPECT_FALSE(absl::StrContains(outputs[a], kSecret));
  EXPECT_FALSE(absl::StrContains(outputs[b], kSecret));
  // Nothing on disk holds it: not the log (WAL and tables), not A's sandbox.
  log.reset();
  EXPECT_FALSE(absl::StrContains(ReadAllFilesUnder(dir_ + "/log"), kSecret));
  EXPECT_FALSE(absl::StrContains(ReadAllFilesUnder(dir_ + "/hands/" + a), kSecret));
}

}  // namespace
}  // namespace wake
