// Harness::Wake end to end on a real RocksDB log, with the scripted brain and a recording hand; and
// the crash matrix: a crash after every append, in process and with a real SIGKILL.

#include "harness/harness.h"
#include "harness/next_action.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "base/strings.h"
#include "base/sync.h"
#include "harness/context_builder.h"
#include "harness/scripted_brain.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"
#include "tests/harness/harness_test_util.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::RecordingHands;

// A brain that fails a set number of times before answering like the script.
class FlakyBrain final : public Brain {
 public:
  FlakyBrain(Brain* inner, int failures, absl::Status error) : inner_(inner), failures_(failures), error_(error) {}
  std::string_view kind() const override { return "flaky"; }
  absl::StatusOr<ModelTurn> Stream(const ModelRequest& r, StreamObserver* o, const CancelToken* c) override {
    ++calls;
    if (failures_-- > 0) return error_;
    return inner_->Stream(r, o, c);
  }
  int calls = 0;

 private:
  Brain* inner_;
  int failures_;
  absl::Status error_;
};

class HarnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("harness");
    RocksDbSessionLogOptions options;
    options.path = dir_;
    options.clock = &clock_;
    log_ = *OpenRocksDbSessionLog(options);
    brain_ = *NewScriptedBrain(testing::TestScript());
    agent_ = testing::TestAgent();
  }
  void TearDown() override {
    log_.reset();
    testing::RemoveDir(dir_);
  }

  HarnessOptions Options(const std::string& worker = "worker-1") {
    HarnessOptions o;
    o.worker_id = worker;
    o.clock = &clock_;
    o.lease_ttl = absl::Seconds(30);
    return o;
  }

  std::string NewSessionWithMessage(const std::string& text = "please look around") {
    SessionInfo info;
    info.id = NewSessionId(clock_.Now());
    EXPECT_TRUE(log_->CreateSession(info).ok());
    Event user = testing::TextMessage(EventType::kUserMessage, text);
    EXPECT_TRUE(log_->Append(info.id, {user}, kAppendAtHead, kNoLease).ok());
    return info.id;
  }

  std::vector<Event> Events(const std::string& session, SessionLog* log = nullptr) {
    auto events = (log ? log : log_.get())->Read(session);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *events : std::vector<Event>{};
  }

  static std::vector<EventType> Types(const std::vector<Event>& events) {
    std::vector<EventType> types;
    for (const Event& e : events) types.push_back(e.type);
    return types;
  }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<SessionLog> log_;
  std::unique_ptr<Brain> brain_;
  AgentConfig agent_;
  RecordingHands hands_;
};

TEST_F(HarnessTest, RunsAScriptedSessionToIdle) {
  const std::string s = NewSessionWithMessage();
  Harness harness(log_.get(), brain_.get(), &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  std::vector<Event> events = Events(s);
  using T = EventType;
  EXPECT_EQ(Types(events),
            (std::vector<EventType>{
                T::kUserMessage, T::kHarnessWoke, T::kSessionStatusRunning, T::kSpanModelRequestStart,
                T::kAgentMessage, T::kAgentToolUse, T::kAgentToolUse, T::kSpanModelRequestEnd,  // turn 0
                T::kToolStarted, T::kAgentToolResult, T::kToolStarted, T::kAgentToolResult,    // its tools
                T::kSpanModelRequestStart, T::kAgentMessage, T::kAgentToolUse, T::kSpanModelRequestEnd,
                T::kToolStarted, T::kAgentToolResult,                                          // turn 1
                T::kSpanModelRequestStart, T::kAgentMessage, T::kSpanModelRequestEnd,          // turn 2
                T::kSessionStatusIdle}));
  EXPECT_EQ(events.back().stop_reason.kind, StopReason::Kind::kEndTurn);
  EXPECT_EQ(log_->GetSession(s)->status, "idle");
  // Tool results carry the hand's output and point at their tool_use.
  EXPECT_EQ(events[9].tool_use_id, events[5].id);
  EXPECT_EQ(events[9].content[0].text, R"(read ran: {"file_path":"notes.txt"})");
  EXPECT_EQ(events[8].idempotency_key, absl::StrCat(s, "/", events[5].id));
  EXPECT_EQ(hands_.calls().size(), 3u);
  EXPECT_EQ(events[7].model_usage.output_tokens, 5);
  // The lease was released; a second wake finds nothing to do and writes nothing.
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  EXPECT_EQ(Events(s).size(), events.size());
}

TEST_F(HarnessTest, RetryableModelErrorsBackOffThenSucceed) {
  const std::string s = NewSessionWithMessage();
  FlakyBrain flaky(brain_.get(), 2, BrainError(absl::StatusCode::kUnavailable, "overloaded_error", "busy",
                                               absl::Seconds(7)));
  const absl::Time before = clock_.Now();
  Harness harness(log_.get(), &flaky, &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  std::vector<Event> events = Events(s);
  int rescheduled = 0;
  for (const Event& e : events) rescheduled += e.type == EventType::kSessionStatusRescheduled;
  EXPECT_EQ(rescheduled, 2);
  EXPECT_GE(clock_.Now() - before, absl::Seconds(14));  // retry-after honoured (on the manual clock)
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
  EXPECT_EQ(events.back().stop_reason.kind, StopReason::Kind::kEndTurn);
}

TEST_F(HarnessTest, RetriesExhaustedEndsIdleWithTheError) {
  const std::string s = NewSessionWithMessage();
  FlakyBrain flaky(brain_.get(), 100, BrainError(absl::StatusCode::kUnavailable, "overloaded_error", "busy"));
  Harness harness(log_.get(), &flaky, &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  EXPECT_EQ(flaky.calls, 4);
  std::vector<Event> events = Events(s);
  const Event& error = events[events.size() - 2];
  ASSERT_EQ(error.type, EventType::kSessionError);
  EXPECT_EQ(error.error.type, "model_overloaded_error");
  EXPECT_EQ(error.error.retry_status, SessionErrorInfo::RetryStatus::kExhausted);
  EXPECT_EQ(events.back().stop_reason.kind, StopReason::Kind::kRetriesExhausted);
}

TEST_F(HarnessTest, NonRetryableErrorIsTerminalAtOnce) {
  const std::string s = NewSessionWithMessage();
  FlakyBrain flaky(brain_.get(), 100,
                   BrainError(absl::StatusCode::kInvalidArgument, "invalid_request_error", "bad request"));
  Harness harness(log_.get(), &flaky, &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  EXPECT_EQ(flaky.calls, 1);
  std::vector<Event> events = Events(s);
  EXPECT_EQ(events[events.size() - 2].error.retry_status, SessionErrorInfo::RetryStatus::kTerminal);
}

TEST_F(HarnessTest, DeadHandIsAToolErrorAndTheSessionGoesOn) {
  const std::string s = NewSessionWithMessage();
  hands_.FailWith(absl::UnavailableError("container gone"));
  Harness harness(log_.get(), brain_.get(), &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  std::vector<Event> events = Events(s);
  EXPECT_EQ(events[9].type, EventType::kAgentToolResult);
  EXPECT_TRUE(events[9].is_error.value_or(false));
  EXPECT_NE(events[9].content[0].text.find("container gone"), std::string::npos);
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
}

TEST_F(HarnessTest, CustomToolWaitsForTheClientThenContinues) {
  agent_.custom_tools = {{"read", "client-side read", "{}"}};
  agent_.tools.erase(agent_.tools.begin() + 1);
  const std::string s = NewSessionWithMessage();
  Harness harness(log_.get(), brain_.get(), &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  std::vector<Event> events = Events(s);
  const Event& idle = events.back();
  ASSERT_EQ(idle.type, EventType::kSessionStatusIdle);
  ASSERT_EQ(idle.stop_reason.kind, StopReason::Kind::kRequiresAction);
  ASSERT_EQ(idle.stop_reason.event_ids.size(), 1u);
  const std::string custom_id = idle.stop_reason.event_ids[0];
  // bash (not custom) ran; read waits for the client.
  EXPECT_EQ(hands_.calls().size(), 1u);

  Event answer;
  answer.type = EventType::kUserCustomToolResult;
  answer.id = NewEventId(clock_.Now());
  answer.tool_use_id = custom_id;
  ContentBlock text;
  text.text = "notes: buy milk";
  answer.content.push_back(text);
  ASSERT_TRUE(log_->Append(s, {answer}, kAppendAtHead, kNoLease).ok());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  events = Events(s);
  EXPECT_EQ(events.back().stop_reason.kind, StopReason::Kind::kEndTurn);
}

// What a client's interrupt does to the log: one user.interrupt at the head.
void AppendInterrupt(SessionLog& log, const std::string& session) {
  Event interrupt;
  interrupt.type = EventType::kUserInterrupt;
  interrupt.id = NewEventId(absl::Now());
  ASSERT_TRUE(log.Append(session, {interrupt}, kAppendAtHead, kNoLease).ok());
}

TEST_F(HarnessTest, InterruptClosesTheTurn) {
  agent_.always_ask = {"read", "bash"};
  const std::string s = NewSessionWithMessage();
  Harness harness(log_.get(), brain_.get(), &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  EXPECT_EQ(Events(s).back().stop_reason.kind, StopReason::Kind::kRequiresAction);
  ASSERT_NO_FATAL_FAILURE(AppendInterrupt(*log_, s));
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  std::vector<Event> events = Events(s);
  EXPECT_EQ(events.back().stop_reason.kind, StopReason::Kind::kEndTurn);
  int error_results = 0;
  for (const Event& e : events) error_results += e.type == EventType::kAgentToolResult && e.is_error.value_or(false);
  EXPECT_EQ(error_results, 2);  // both unconfirmed calls closed, none ran
  EXPECT_TRUE(hands_.calls().empty());
}

// A brain that streams until it is cancelled.
class UntilCancelledBrain final : public Brain {
 public:
  std::string_view kind() const override { return "until-cancelled"; }
  absl::StatusOr<ModelTurn> Stream(const ModelRequest&, StreamObserver*, const CancelToken* cancel) override {
    started.Notify();
    // Real brains check the token between chunks; this one has no chunks, so it just watches it.
    while (!cancel->cancelled()) std::this_thread::yield();
    return absl::CancelledError("interrupted");
  }
  Notification started;
};

TEST_F(HarnessTest, InterruptCancelsAModelRequestInFlight) {
  const std::string s = NewSessionWithMessage();
  UntilCancelledBrain brain;
  Harness harness(log_.get(), &brain, &hands_, Options());
  absl::Status status;
  std::thread worker([&] { status = harness.Wake(s, agent_); });
  brain.started.WaitForNotification();
  ASSERT_NO_FATAL_FAILURE(AppendInterrupt(*log_, s));
  worker.join();
  ASSERT_TRUE(status.ok()) << status;
  std::vector<Event> events = Events(s);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
  EXPECT_EQ(events.back().stop_reason.kind, StopReason::Kind::kEndTurn);
  const Event& end = events[events.size() - 2];
  EXPECT_EQ(end.type, EventType::kSpanModelRequestEnd);
  EXPECT_TRUE(end.is_error.value_or(false));
  for (const Event& e : events) EXPECT_NE(e.type, EventType::kSessionError);
}

// One watcher follows the log for the whole wake: an interrupt that lands during the wake's second
// model request (a client's message arrived during the first) cancels that request too, and only it.
class SecondRequestWaitsBrain final : public Brain {
 public:
  explicit SecondRequestWaitsBrain(std::function<void()> during_first) : during_first_(std::move(during_first)) {}
  std::string_view kind() const override { return "second-request-waits"; }
  absl::StatusOr<ModelTurn> Stream(const ModelRequest&, StreamObserver*, const CancelToken* cancel) override {
    if (++calls == 1) {
      during_first_();
      ModelTurn turn;
      TurnBlock text;
      text.text = "first answer";
      turn.blocks.push_back(text);
      turn.stop_reason = "end_turn";
      return turn;
    }
    second_started.Notify();
    while (!cancel->cancelled()) std::this_thread::yield();
    return absl::CancelledError("interrupted");
  }
  std::atomic<int> calls{0};
  Notification second_started;

 private:
  std::function<void()> during_first_;
};

TEST_F(HarnessTest, AnInterruptDuringALaterRequestOfTheWakeCancelsIt) {
  const std::string s = NewSessionWithMessage("first question");
  SecondRequestWaitsBrain brain([&] {
    ASSERT_TRUE(log_->Append(s, {testing::TextMessage(EventType::kUserMessage, "second")}, kAppendAtHead, kNoLease).ok());
  });
  Harness harness(log_.get(), &brain, &hands_, Options());
  absl::Status status;
  std::thread worker([&] { status = harness.Wake(s, agent_); });
  brain.second_started.WaitForNotification();
  ASSERT_NO_FATAL_FAILURE(AppendInterrupt(*log_, s));
  worker.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(brain.calls.load(), 2);
  std::vector<Event> events = Events(s);
  int ends = 0, failed_ends = 0;
  for (const Event& e : events) {
    if (e.type != EventType::kSpanModelRequestEnd) continue;
    ++ends;
    if (e.is_error.value_or(false)) ++failed_ends;
  }
  EXPECT_EQ(ends, 2);
  EXPECT_EQ(failed_ends, 1) << "only the second request was interrupted";
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
}

// A brain whose first request sees a client's new message land while it streams (a chat user typing
// again before the answer came). It answers each request with "answer N (M messages)".
class MessageMidRequestBrain final : public Brain {
 public:
  explicit MessageMidRequestBrain(std::function<void()> during_first) : during_first_(std::move(during_first)) {}
  std::string_view kind() const override { return "message-mid-request"; }
  absl::StatusOr<ModelTurn> Stream(const ModelRequest& request, StreamObserver*, const CancelToken*) override {
    if (calls++ == 0) during_first_();
    ModelTurn turn;
    TurnBlock text;
    text.text = absl::StrCat("answer ", calls, " (", request.messages.size(), " messages)");
    turn.blocks.push_back(text);
    turn.stop_reason = "end_turn";
    return turn;
  }
  int calls = 0;

 private:
  std::function<void()> during_first_;
};

TEST_F(HarnessTest, AMessageThatLandsDuringAModelRequestIsAnsweredInTheSameWake) {
  const std::string s = NewSessionWithMessage("first question");
  MessageMidRequestBrain brain([&] {
    Event second = testing::TextMessage(EventType::kUserMessage, "second question");
    ASSERT_TRUE(log_->Append(s, {second}, kAppendAtHead, kNoLease).ok());
  });
  Harness harness(log_.get(), &brain, &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  EXPECT_EQ(brain.calls, 2) << "the second message needs a model request of its own";
  std::vector<Event> events = Events(s);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
  // Exactly one idle, at the end: the first answer did not settle the second message.
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const Event& e) { return e.type == EventType::kSessionStatusIdle; }),
            1);
  const Event& last_answer = events[events.size() - 3];
  ASSERT_EQ(last_answer.type, EventType::kAgentMessage);
  // The second request saw both questions (user, assistant, user: three messages at least).
  EXPECT_EQ(last_answer.content[0].text.rfind("answer 2", 0), 0u) << last_answer.content[0].text;
  EXPECT_EQ(DecideNextAction(events, agent_).kind, NextAction::Kind::kNone);
}

TEST_F(HarnessTest, TwoHarnessesOnOneSessionExactlyOneProceeds) {
  const std::string s = NewSessionWithMessage();
  std::unique_ptr<Brain> brain2 = *NewScriptedBrain(testing::TestScript());
  Harness a(log_.get(), brain_.get(), &hands_, Options("worker-a"));
  Harness b(log_.get(), brain2.get(), &hands_, Options("worker-b"));
  absl::Status sa, sb;
  std::thread ta([&] { sa = a.Wake(s, agent_); });
  std::thread tb([&] { sb = b.Wake(s, agent_); });
  ta.join();
  tb.join();
  // One finished the session; the other was refused the lease (or found nothing left to do).
  EXPECT_TRUE(sa.ok() || sb.ok()) << sa << " / " << sb;
  if (!sa.ok()) { EXPECT_TRUE(absl::IsAborted(sa)) << sa; }
  if (!sb.ok()) { EXPECT_TRUE(absl::IsAborted(sb)) << sb; }
  std::vector<Event> events = Events(s);
  int turns = 0;
  for (const Event& e : events) turns += e.type == EventType::kSpanModelRequestEnd;
  EXPECT_EQ(turns, 3);
  EXPECT_EQ(hands_.calls().size(), 3u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq, i + 1);
}

TEST_F(HarnessTest, AWorkerThatLostItsLeaseStopsAtOnce) {
  const std::string s = NewSessionWithMessage();
  // worker-a takes the lease and stalls; it expires and worker-b takes over.
  auto stale = log_->AcquireLease(s, "worker-a", absl::Seconds(30));
  ASSERT_TRUE(stale.ok());
  clock_.Advance(absl::Seconds(31));
  Harness b(log_.get(), brain_.get(), &hands_, Options("worker-b"));
  ASSERT_TRUE(b.Wake(s, agent_).ok());
  auto late = log_->Append(s, {testing::TextMessage(EventType::kAgentMessage, "late")}, kAppendAtHead, stale->epoch);
  EXPECT_TRUE(absl::IsAborted(late.status())) << late.status();
}

// The type of the last session.status_* event: what state the session was left in, whatever
// markers follow it.
EventType LastStatus(const std::vector<Event>& events) {
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    if (it->type == EventType::kSessionStatusIdle || it->type == EventType::kSessionStatusRunning) return it->type;
  }
  return EventType::kUserMessage;
}

// What a client sees of a session, with the documented crash markers taken out: wake.* events,
// spans, status events (a re-woken worker may write running/idle again), and the error results of
// non-idempotent tools interrupted by the crash (rule 3) normalised to the tool's name.
std::vector<std::string> ClientView(const std::vector<Event>& events) {
  std::vector<std::string> view;
  for (const Event& e : events) {
    switch (e.type) {
      case EventType::kUserMessage:
      case EventType::kAgentMessage:
        view.push_back(absl::StrCat(ToAbsl(EventTypeName(e.type)), ":", e.content[0].text));
        break;
      case EventType::kAgentToolUse:
        view.push_back(absl::StrCat("tool_use:", e.name, e.input_json));
        break;
      case EventType::kAgentToolResult: {
        const std::string& text = e.content[0].text;
        const bool interrupted = text.find("was interrupted") != std::string::npos;
        view.push_back(interrupted ? "tool_result:<interrupted>" : absl::StrCat("tool_result:", text));
        break;
      }
      default:
        break;
    }
  }
  return view;
}

TEST_F(HarnessTest, CrashAfterEveryAppendResumesCorrectly) {
  // The crash-free run, counting its appends.
  const std::string reference = NewSessionWithMessage();
  testing::CrashingLog counting(log_.get(), 1'000'000);
  RecordingHands reference_hands;
  ASSERT_TRUE(Harness(&counting, brain_.get(), &reference_hands, Options()).Wake(reference, agent_).ok());
  const int total_appends = counting.appends();
  const std::vector<std::string> expected = ClientView(Events(reference));
  ASSERT_GT(total_appends, 10);
  std::printf("crash matrix: a crash after each of appends 1..%d of %d\n", total_appends - 1, total_appends);

  for (int k = 1; k < total_appends; ++k) {
    SCOPED_TRACE(absl::StrCat("crash after append ", k));
    const std::string s = NewSessionWithMessage();
    RecordingHands hands;
    testing::CrashingLog crashing(log_.get(), k);
    absl::Status first = Harness(&crashing, brain_.get(), &hands, Options()).Wake(s, agent_);
    ASSERT_FALSE(first.ok());
    ASSERT_TRUE(crashing.crashed());
    // A fresh worker process would be the same worker id: it re-takes the lease at a new epoch.
    ASSERT_TRUE(Harness(log_.get(), brain_.get(), &hands, Options()).Wake(s, agent_).ok());

    std::vector<Event> events = Events(s);
    EXPECT_EQ(LastStatus(events), EventType::kSessionStatusIdle);
    std::vector<std::string> view = ClientView(events);
    ASSERT_EQ(view.size(), expected.size());
    for (size_t i = 0; i < view.size(); ++i) {
      if (view[i] == "tool_result:<interrupted>") {
        // Only a non-idempotent tool may be reported interrupted; an idempotent one was re-run.
        EXPECT_EQ(expected[i].rfind("tool_result:bash ran", 0), 0u) << expected[i];
      } else {
        EXPECT_EQ(view[i], expected[i]);
      }
    }
    const std::vector<ToolCall> calls = hands.calls();
    for (const auto& [key, count] : hands.executions()) {
      const std::string& call_key = key;  // clang 14 cannot capture a structured binding
      const bool is_read = std::any_of(calls.begin(), calls.end(), [&](const ToolCall& c) {
        return c.idempotency_key == call_key && c.name == "read";
      });
      if (!is_read) { EXPECT_EQ(count, 1) << "non-idempotent call ran twice: " << key; }
      EXPECT_LE(count, 2) << key;
    }
  }
}

// Runs the crash child with `args` and returns what it printed.
std::string RunChild(const std::vector<std::string>& args) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    std::vector<char*> argv{const_cast<char*>(WAKE_HARNESS_CRASH_CHILD)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(WAKE_HARNESS_CRASH_CHILD, argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return out;
}

// Records the canonical JSON of every request it forwards.
class RecordingBrain final : public Brain {
 public:
  explicit RecordingBrain(Brain* inner) : inner_(inner) {}
  std::string_view kind() const override { return "recording"; }
  absl::StatusOr<ModelTurn> Stream(const ModelRequest& r, StreamObserver* o, const CancelToken* c) override {
    requests.push_back(EncodeModelRequestJson(r));
    return inner_->Stream(r, o, c);
  }
  std::vector<std::string> requests;

 private:
  Brain* inner_;
};

// The request a wake would build from the whole log as it stood before the last model request began.
std::string RequestBeforeLastModelCall(const AgentConfig& agent, std::vector<Event> events) {
  auto last_start = std::find_if(events.rbegin(), events.rend(),
                                 [](const Event& e) { return e.type == EventType::kSpanModelRequestStart; });
  events.erase(std::prev(last_start.base()), events.end());
  return EncodeModelRequestJson(BuildModelRequest(agent, events));
}

TEST_F(HarnessTest, WithTheReplayCacheAWakeReadsOnlyWhatWasAppendedSince) {
  const std::string s = NewSessionWithMessage();
  ReplayCache cache(size_t{64} << 20);
  testing::CrashingLog counting(log_.get(), /*appends_before_crash=*/1'000'000);
  RecordingBrain brain(brain_.get());
  HarnessOptions options = Options();
  options.replay_cache = &cache;
  Harness harness(&counting, &brain, &hands_, options);
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  ASSERT_EQ(cache.sessions(), 1u);

  ASSERT_TRUE(log_->Append(s, {testing::TextMessage(EventType::kUserMessage, "and now?")}, kAppendAtHead, kNoLease).ok());
  const size_t log_size = Events(s).size();
  const size_t read_before = counting.events_read();
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  // The cached last event (to check the log still ends the prefix with it) and the new message; not
  // the log_size events a replay from the start reads.
  EXPECT_EQ(counting.events_read() - read_before, 2u);
  EXPECT_GT(log_size, 20u);

  // The model saw the whole conversation, as a wake without the cache would have built it.
  const std::vector<Event> events = Events(s);
  ASSERT_FALSE(brain.requests.empty());
  EXPECT_EQ(brain.requests.back(), RequestBeforeLastModelCall(agent_, events));
  EXPECT_NE(brain.requests.back().find("and now?"), std::string::npos);
  // What the wake gave back is exactly what the log holds, processed_at of its own appends included.
  EXPECT_EQ(cache.Take(s), events);
}

TEST_F(HarnessTest, AReplayCacheEntryTheLogDoesNotEndWithIsNotTrusted) {
  const std::string s = NewSessionWithMessage("the real question");
  ReplayCache cache(size_t{64} << 20);
  // An entry for the same session id whose last event the log does not hold (a session deleted and
  // recreated under its id, a store restored from a backup).
  Event forged = testing::TextMessage(EventType::kUserMessage, "a forged question");
  forged.seq = 1;
  cache.Put(s, {forged});
  RecordingBrain brain(brain_.get());
  HarnessOptions options = Options();
  options.replay_cache = &cache;
  ASSERT_TRUE(Harness(log_.get(), &brain, &hands_, options).Wake(s, agent_).ok());
  ASSERT_FALSE(brain.requests.empty());
  EXPECT_NE(brain.requests.front().find("the real question"), std::string::npos);
  for (const std::string& request : brain.requests) EXPECT_EQ(request.find("forged"), std::string::npos);
  EXPECT_EQ(cache.Take(s), Events(s));
}

TEST_F(HarnessTest, AWakeThatFailsGivesNothingBackToTheReplayCache) {
  const std::string s = NewSessionWithMessage();
  ReplayCache cache(size_t{64} << 20);
  testing::CrashingLog crashing(log_.get(), /*appends_before_crash=*/2);
  HarnessOptions options = Options();
  options.replay_cache = &cache;
  EXPECT_FALSE(Harness(&crashing, brain_.get(), &hands_, options).Wake(s, agent_).ok());
  EXPECT_EQ(cache.sessions(), 0u);
  // The next wake replays the log from the start and finishes the turn.
  ASSERT_TRUE(Harness(log_.get(), brain_.get(), &hands_, options).Wake(s, agent_).ok());
  EXPECT_EQ(Events(s).back().type, EventType::kSessionStatusIdle);
  EXPECT_EQ(cache.Take(s), Events(s));
}

TEST_F(HarnessTest, ContextIsByteIdenticalAcrossRunsAndProcesses) {
  const std::string s = NewSessionWithMessage();
  ASSERT_TRUE(Harness(log_.get(), brain_.get(), &hands_, Options()).Wake(s, agent_).ok());
  const std::string here = EncodeModelRequestJson(BuildModelRequest(agent_, Events(s)));
  EXPECT_EQ(here, EncodeModelRequestJson(BuildModelRequest(agent_, Events(s))));
  auto compact = CompactJsonObject(here);  // it is one valid, already compact JSON object
  ASSERT_TRUE(compact.ok()) << compact.status();
  EXPECT_EQ(*compact, here);
  log_.reset();  // the children open the same data dir
  EXPECT_EQ(RunChild({"--print-context", dir_, s}), here);
  EXPECT_EQ(RunChild({"--print-context", dir_, s}), here);
  RocksDbSessionLogOptions options;
  options.path = dir_;
  log_ = *OpenRocksDbSessionLog(options);
}

TEST_F(HarnessTest, SigkillAtEveryAppendResumesCorrectly) {
  // The child runs one harness on the session and prints a line after each append; it is killed
  // right after the k-th, for every k, and a fresh child finishes the session.
  log_.reset();
  int k = 1;
  for (;; ++k) {
    SCOPED_TRACE(absl::StrCat("SIGKILL after append ", k));
    const std::string data = absl::StrCat(dir_, "/sigkill-", k);
    const std::string hand_log = data + ".hand";
    const std::string session = NewSessionId(absl::Now());
    auto spawn = [&](int kill_after) -> int {  // returns how many appends the child reported
      int fds[2];
      EXPECT_EQ(pipe(fds), 0);
      pid_t pid = fork();
      if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        execl(WAKE_HARNESS_CRASH_CHILD, WAKE_HARNESS_CRASH_CHILD, data.c_str(), session.c_str(), hand_log.c_str(),
              nullptr);
        _exit(127);
      }
      close(fds[1]);
      FILE* out = fdopen(fds[0], "r");
      char line[128];
      int appends = 0;
      bool done = false;
      while (std::fgets(line, sizeof line, out) != nullptr) {
        if (std::string(line) == "done\n") {
          done = true;
          break;
        }
        if (++appends == kill_after) {
          kill(pid, SIGKILL);
          break;
        }
      }
      fclose(out);
      int status = 0;
      waitpid(pid, &status, 0);
      if (kill_after > 0 && !done) { EXPECT_TRUE(WIFSIGNALED(status)); }
      return done ? -appends : appends;
    };
    const int reported = spawn(k);
    if (reported <= 0) break;  // the child finished before append k: every k has been covered
    const int rest = spawn(0);
    EXPECT_LE(rest, 0) << "the second child did not finish the session";

    RocksDbSessionLogOptions options;
    options.path = data;
    auto log = OpenRocksDbSessionLog(options);
    ASSERT_TRUE(log.ok()) << log.status();
    std::vector<Event> events = Events(session, log->get());
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(LastStatus(events), EventType::kSessionStatusIdle);
    EXPECT_EQ(ClientView(events).size(), 10u);
    // The hand's own journal (fsynced per execution): no non-idempotent call ran twice.
    std::map<std::string, int> runs;
    FILE* journal = std::fopen(hand_log.c_str(), "r");
    char entry[512];
    while (journal != nullptr && std::fgets(entry, sizeof entry, journal) != nullptr) ++runs[entry];
    if (journal != nullptr) std::fclose(journal);
    for (const auto& [key, count] : runs) {
      if (key.rfind("read ", 0) != 0) { EXPECT_EQ(count, 1) << key; }
    }
  }
  EXPECT_GT(k, 10) << "the session should take more than ten appends";
  std::printf("SIGKILL matrix: killed after each of appends 1..%d\n", k - 1);
}

TEST_F(HarnessTest, CompactsALongContextAndCarriesOnFromTheSummary) {
  // Turn 2 reads the compacted history through the harness's own tool.
  std::unique_ptr<Brain> brain = *NewScriptedBrain(R"({"turns": [
    {"text": "Let me look around.", "tool_calls": [{"name": "read", "input": {"file_path": "notes.txt"}}]},
    {"text": "One more step.", "tool_calls": [{"name": "bash", "input": {"command": "ls"}}]},
    {"text": "Checking history.", "tool_calls": [{"name": "session_history", "input": {"from_seq": 1, "limit": 1}}]},
    {"text": "All done."}
  ], "summary": "The user asked me to look around; I read notes.txt."})");
  const std::string s = NewSessionWithMessage();
  HarnessOptions options = Options();
  options.compact_above_tokens = 120;
  Harness harness(log_.get(), brain.get(), &hands_, options);
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  std::vector<Event> events = Events(s);

  // Every scripted turn played once, in order, across the compactions.
  std::vector<std::string> said;
  const Event* compacted = nullptr;
  const Event* history = nullptr;
  for (const Event& e : events) {
    if (e.type == EventType::kAgentMessage) said.push_back(e.content[0].text);
    if (e.type == EventType::kAgentThreadContextCompacted && compacted == nullptr) compacted = &e;
    if (e.type == EventType::kAgentToolUse && e.name == "session_history") {
      for (const Event& r : events) {
        if (r.type == EventType::kAgentToolResult && r.tool_use_id == e.id) history = &r;
      }
    }
  }
  EXPECT_EQ(said, (std::vector<std::string>{"Let me look around.", "One more step.", "Checking history.", "All done."}));
  ASSERT_NE(compacted, nullptr);
  EXPECT_EQ(compacted->content[0].text.rfind("The user asked me to look around; I read notes.txt.", 0), 0u);
  EXPECT_GT(compacted->compacted_through_seq, 1u);
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);

  // The tool answered from the log itself (the hand never saw it), with event #1.
  ASSERT_NE(history, nullptr);
  EXPECT_FALSE(history->is_error.value_or(false));
  EXPECT_EQ(history->content[0].text.rfind("#1 {\"type\":\"user.message\"", 0), 0u) << history->content[0].text;
  for (const ToolCall& call : hands_.calls()) EXPECT_NE(call.name, "session_history");

  // The context now starts from the summary and offers session_history.
  ModelRequest request = BuildModelRequest(agent_, events);
  ASSERT_FALSE(request.messages.empty());
  EXPECT_NE(request.messages[0].blocks[0].text.find("compacted"), std::string::npos);
  EXPECT_GT(request.compacted_turns, 0u);
  EXPECT_EQ(request.tools.back().name, "session_history");
}

TEST_F(HarnessTest, SessionHistoryRejectsBadInputAsAToolError) {
  std::unique_ptr<Brain> brain = *NewScriptedBrain(R"({"turns": [
    {"tool_calls": [{"name": "session_history", "input": {"from_seq": 0}}]},
    {"text": "ok"}]})");
  const std::string s = NewSessionWithMessage();
  Harness harness(log_.get(), brain.get(), &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  bool seen = false;
  for (const Event& e : Events(s)) {
    if (e.type != EventType::kAgentToolResult) continue;
    seen = true;
    EXPECT_TRUE(e.is_error.value_or(false));
    EXPECT_NE(e.content[0].text.find("from_seq"), std::string::npos);
  }
  EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace wake
