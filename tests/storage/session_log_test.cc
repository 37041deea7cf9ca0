// SessionLog contract tests against the RocksDB implementation on a real disk.

#include <chrono>
#include <filesystem>
#include <atomic>
#include <memory>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/sync.h"
#include "gtest/gtest.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "schemas/ids.h"
#include "storage/key_encoding.h"
#include "storage/rocksdb_session_log.h"
#include "rocksdb/db.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::MakeTempDir;
using testing::RemoveDir;
using testing::TextMessage;
using testing::RawDb;
using testing::ToolUse;

class SessionLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("log");
    Reopen();
  }
  void TearDown() override {
    log_.reset();
    RemoveDir(dir_);
  }

  void Reopen() {
    log_.reset();
    RocksDbSessionLogOptions options;
    options.path = dir_;
    options.clock = &clock_;
    options.blob_threshold = blob_threshold_;
    options.max_event_bytes = 256 * 1024;
    options.env = env_;
    auto log = OpenRocksDbSessionLog(options);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
  }

  std::string NewSession(const std::string& workspace = "wrkspc_test") {
    SessionInfo info;
    info.id = NewSessionId(clock_.Now());
    info.workspace_id = workspace;
    info.title = "test";
    auto created = log_->CreateSession(info);
    EXPECT_TRUE(created.ok()) << created.status();
    return info.id;
  }

  std::vector<Event> ReadAll(const std::string& session) {
    auto events = log_->Read(session);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *events : std::vector<Event>{};
  }

  std::string dir_;
  ManualClock clock_;
  size_t blob_threshold_ = 1024;
  rocksdb::Env* env_ = nullptr;
  std::unique_ptr<SessionLog> log_;
};

TEST_F(SessionLogTest, CreateGetAndDefaults) {
  SessionInfo info;
  info.id = NewSessionId(clock_.Now());
  info.workspace_id = "wrkspc_a";
  info.agent_id = "agent_1";
  info.agent_version = 3;
  info.environment_id = "env_1";
  info.title = "hello";
  info.metadata = {{"b", "2"}, {"a", "1"}};
  auto created = log_->CreateSession(info);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status, "idle");
  EXPECT_EQ(created->next_seq, 1u);
  EXPECT_EQ(created->created_at, clock_.Now());

  auto got = log_->GetSession(info.id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, *created);
  EXPECT_EQ(got->metadata, info.metadata);  // caller's order kept

  EXPECT_TRUE(absl::IsAlreadyExists(log_->CreateSession(info).status()));
}

TEST_F(SessionLogTest, WrongSessionIdsAreClearErrors) {
  EXPECT_TRUE(absl::IsInvalidArgument(log_->GetSession("nope").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(log_->Read("sevt_01JD3Z4V6W8X9Y0ZABCDEFGHJK").status()));
  const std::string unknown = NewSessionId(clock_.Now());
  EXPECT_TRUE(absl::IsNotFound(log_->GetSession(unknown).status()));
  EXPECT_TRUE(absl::IsNotFound(log_->Read(unknown).status()));
  auto append = log_->Append(unknown, {TextMessage(EventType::kUserMessage, "x")}, 1, kNoLease);
  EXPECT_TRUE(absl::IsNotFound(append.status())) << append.status();
  EXPECT_TRUE(absl::IsNotFound(log_->AcquireLease(unknown, "w", absl::Seconds(1)).status()));
  SessionInfo bad;
  bad.id = "sesn_short";
  EXPECT_TRUE(absl::IsInvalidArgument(log_->CreateSession(bad).status()));
}

TEST_F(SessionLogTest, AppendAssignsSeqsAndReadReturnsThem) {
  const std::string s = NewSession();
  auto r1 = log_->Append(s, {TextMessage(EventType::kUserMessage, "1")}, 1, kNoLease);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->first_seq, 1u);
  EXPECT_EQ(r1->last_seq, 1u);
  clock_.Advance(absl::Seconds(1));
  auto r2 = log_->Append(s,
                         {TextMessage(EventType::kAgentMessage, "2"), ToolUse("bash", R"({"command":"ls"})"),
                          TextMessage(EventType::kAgentMessage, "4")},
                         2, kNoLease);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->first_seq, 2u);
  EXPECT_EQ(r2->last_seq, 4u);

  std::vector<Event> events = ReadAll(s);
  ASSERT_EQ(events.size(), 4u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq, i + 1);
  EXPECT_EQ(events[0].content[0].text, "message 1");
  EXPECT_EQ(events[2].input_json, R"({"command":"ls"})");
  EXPECT_EQ(*events[1].processed_at, clock_.Now());  // set by the log when absent
  EXPECT_EQ(r2->processed_at, clock_.Now());          // and returned, so a caller's copy can match

  auto info = log_->GetSession(s);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->next_seq, 5u);
  EXPECT_EQ(info->updated_at, clock_.Now());

  ReadOptions from3;
  from3.from_seq = 3;
  from3.limit = 1;
  auto slice = log_->Read(s, from3);
  ASSERT_TRUE(slice.ok());
  ASSERT_EQ(slice->size(), 1u);
  EXPECT_EQ((*slice)[0].seq, 3u);

  ReadOptions past;
  past.from_seq = 99;
  EXPECT_TRUE(log_->Read(s, past)->empty());

  ReadOptions only_agent;
  only_agent.types = {EventType::kAgentMessage};
  auto filtered = log_->Read(s, only_agent);
  ASSERT_TRUE(filtered.ok());
  ASSERT_EQ(filtered->size(), 2u);
  EXPECT_EQ((*filtered)[0].seq, 2u);
  EXPECT_EQ((*filtered)[1].seq, 4u);
}

TEST_F(SessionLogTest, SeqMismatchIsAbortedAndWritesNothing) {
  const std::string s = NewSession();
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kUserMessage, "1")}, 1, kNoLease).ok());
  auto stale = log_->Append(s, {TextMessage(EventType::kUserMessage, "dup")}, 1, kNoLease);
  EXPECT_TRUE(absl::IsAborted(stale.status())) << stale.status();
  EXPECT_NE(stale.status().message().find("head is 2"), std::string::npos) << stale.status();
  auto ahead = log_->Append(s, {TextMessage(EventType::kUserMessage, "gap")}, 5, kNoLease);
  EXPECT_TRUE(absl::IsAborted(ahead.status()));
  EXPECT_EQ(ReadAll(s).size(), 1u);

  auto at_head = log_->Append(s, {TextMessage(EventType::kUserMessage, "2")}, kAppendAtHead, kNoLease);
  ASSERT_TRUE(at_head.ok());
  EXPECT_EQ(at_head->first_seq, 2u);
}

TEST_F(SessionLogTest, LeaseFencing) {
  const std::string s = NewSession();
  auto a = log_->AcquireLease(s, "worker-a", absl::Seconds(10));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->epoch, 1u);
  // Another worker cannot take an unexpired lease.
  EXPECT_TRUE(absl::IsAborted(log_->AcquireLease(s, "worker-b", absl::Seconds(10)).status()));
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kAgentMessage, "a1")}, 1, a->epoch).ok());
  // The holder re-acquiring gets a new epoch (e.g. after its own restart).
  clock_.Advance(absl::Seconds(11));
  auto b = log_->AcquireLease(s, "worker-b", absl::Seconds(10));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->epoch, 2u);
  // Worker A's lease expired and B holds epoch 2: A's append is fenced off, whatever its seq.
  auto fenced = log_->Append(s, {TextMessage(EventType::kAgentMessage, "a2")}, 2, a->epoch);
  EXPECT_TRUE(absl::IsAborted(fenced.status())) << fenced.status();
  EXPECT_NE(fenced.status().message().find("stale lease"), std::string::npos);
  EXPECT_TRUE(absl::IsAborted(log_->RenewLease(s, a->epoch, absl::Seconds(5)).status()));
  // B proceeds; client events need no lease.
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kAgentMessage, "b1")}, 2, b->epoch).ok());
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kUserMessage, "u")}, kAppendAtHead, kNoLease).ok());

  auto renewed = log_->RenewLease(s, b->epoch, absl::Seconds(30));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(renewed->expires_at, clock_.Now() + absl::Seconds(30));
  ASSERT_TRUE(log_->ReleaseLease(s, b->epoch).ok());
  // After release the epoch stays, so B's old epoch works no more once C takes over.
  auto c = log_->AcquireLease(s, "worker-c", absl::Seconds(10));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->epoch, 3u);
  EXPECT_TRUE(absl::IsAborted(log_->Append(s, {TextMessage(EventType::kAgentMessage, "b2")}, 5, b->epoch).status()));

  // Epochs survive a restart: the next grant is larger than every earlier one.
  Reopen();
  auto lease = log_->GetLease(s);
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->epoch, 3u);
  EXPECT_EQ(lease->owner, "worker-c");
  clock_.Advance(absl::Seconds(11));
  auto d = log_->AcquireLease(s, "worker-d", absl::Seconds(10));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->epoch, 4u);
  EXPECT_EQ(ReadAll(s).size(), 3u);
}

TEST_F(SessionLogTest, ConcurrentAppendersOneSessionNoGapsExactlyOneWinnerPerSeq) {
  const std::string s = NewSession();
  constexpr int kThreads = 8;
  constexpr int kAttemptsPerThread = 150;
  std::atomic<int> wins{0};
  std::atomic<int> aborts{0};
  Mutex mu;
  std::set<uint64_t> won_seqs;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAttemptsPerThread; ++i) {
        auto info = log_->GetSession(s);
        ASSERT_TRUE(info.ok());
        auto r = log_->Append(s, {TextMessage(EventType::kAgentMessage, absl::StrCat(t, "-", i))},
                              info->next_seq, kNoLease);
        if (r.ok()) {
          ++wins;
          MutexLock lock(&mu);
          EXPECT_TRUE(won_seqs.insert(r->first_seq).second) << "seq won twice: " << r->first_seq;
        } else {
          ASSERT_TRUE(absl::IsAborted(r.status())) << r.status();
          ++aborts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins + aborts, kThreads * kAttemptsPerThread);
  std::vector<Event> events = ReadAll(s);
  ASSERT_EQ(static_cast<int>(events.size()), wins.load());
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].seq, i + 1);
  EXPECT_EQ(won_seqs.size(), events.size());
}

TEST_F(SessionLogTest, ConcurrentSessionsAllAppendsLand) {
  constexpr int kSessions = 16;
  constexpr int kAppends = 100;
  std::vector<std::string> sessions;
  for (int i = 0; i < kSessions; ++i) sessions.push_back(NewSession());
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kAppends; ++j) {
        auto r = log_->Append(sessions[i], {TextMessage(EventType::kUserMessage, absl::StrCat(j))},
                              j + 1, kNoLease);
        ASSERT_TRUE(r.ok()) << r.status();
        ASSERT_EQ(r->first_seq, static_cast<uint64_t>(j + 1));
      }
    });
  }
  for (auto& t : threads) t.join();
  Reopen();
  for (const auto& s : sessions) {
    std::vector<Event> events = ReadAll(s);
    ASSERT_EQ(events.size(), static_cast<size_t>(kAppends));
    for (int j = 0; j < kAppends; ++j) EXPECT_EQ(events[j].content[0].text, absl::StrCat("message ", j));
  }
}

TEST_F(SessionLogTest, AppendAsyncCompletesOnCommit) {
  const std::string s = NewSession();
  constexpr int kAppends = 50;
  Mutex mu;
  int done = 0;
  std::vector<uint64_t> seqs;
  for (int i = 0; i < kAppends; ++i) {
    log_->AppendAsync(s, {TextMessage(EventType::kUserMessage, absl::StrCat(i))}, kAppendAtHead, kNoLease,
                      [&](absl::StatusOr<AppendResult> r) {
                        MutexLock lock(&mu);
                        ASSERT_TRUE(r.ok()) << r.status();
                        seqs.push_back(r->first_seq);
                        ++done;
                        mu.SignalAll();
                      });
  }
  MutexLock lock(&mu);
  mu.Await([&] { return done == kAppends; });
  std::sort(seqs.begin(), seqs.end());
  for (int i = 0; i < kAppends; ++i) EXPECT_EQ(seqs[i], static_cast<uint64_t>(i + 1));
}

TEST_F(SessionLogTest, AppendAsyncMayContinueFromItsCompletion) {
  // The contract allows a completion to issue the next AppendAsync (it only queues): a chain of appends
  // with no thread of its own, as an engine coroutine makes them.
  const std::string s = NewSession();
  constexpr uint64_t kChain = 100;
  Notification finished;
  std::function<void(uint64_t)> next = [&](uint64_t seq) {
    if (seq > kChain) return finished.Notify();
    log_->AppendAsync(s, {TextMessage(EventType::kUserMessage, absl::StrCat(seq))}, seq, kNoLease,
                      [&, seq](absl::StatusOr<AppendResult> r) {
                        EXPECT_TRUE(r.ok()) << r.status();
                        EXPECT_EQ(r->first_seq, seq);
                        next(seq + 1);
                      });
  };
  next(1);
  finished.WaitForNotification();
  EXPECT_EQ(ReadAll(s).size(), kChain);
}

TEST_F(SessionLogTest, BlockingAndAsyncWritersInterleave) {
  // Blocking writers commit groups themselves when no group is in progress; async writers rely on the
  // committer thread. Mixed, every append must land exactly once and every waiter must be completed.
  constexpr int kWriters = 4;
  constexpr int kAppends = 60;
  const std::string blocking = NewSession();
  const std::string async = NewSession();
  Mutex mu;
  int async_done = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        log_->AppendAsync(async, {TextMessage(EventType::kUserMessage, absl::StrCat(t, "/", i))}, kAppendAtHead,
                          kNoLease, [&](absl::StatusOr<AppendResult> r) {
                            EXPECT_TRUE(r.ok()) << r.status();
                            MutexLock lock(&mu);
                            ++async_done;
                            mu.SignalAll();
                          });
        auto r = log_->Append(blocking, {TextMessage(EventType::kUserMessage, absl::StrCat(t, "/", i))},
                              kAppendAtHead, kNoLease);
        ASSERT_TRUE(r.ok()) << r.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  {
    MutexLock lock(&mu);
    mu.Await([&] { return async_done == kWriters * kAppends; });
  }
  EXPECT_EQ(ReadAll(blocking).size(), static_cast<size_t>(kWriters * kAppends));
  EXPECT_EQ(ReadAll(async).size(), static_cast<size_t>(kWriters * kAppends));
}

TEST_F(SessionLogTest, StatusFollowsStatusEvents) {
  const std::string s = NewSession();
  Event running;
  running.type = EventType::kSessionStatusRunning;
  running.id = NewEventId(clock_.Now());
  ASSERT_TRUE(log_->Append(s, {running}, kAppendAtHead, kNoLease).ok());
  EXPECT_EQ(log_->GetSession(s)->status, "running");
  Event idle;
  idle.type = EventType::kSessionStatusIdle;
  idle.id = NewEventId(clock_.Now());
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kAgentMessage, "hi"), idle}, kAppendAtHead, kNoLease).ok());
  EXPECT_EQ(log_->GetSession(s)->status, "idle");

  ListSessionsOptions idle_only;
  idle_only.status = "idle";
  EXPECT_EQ(log_->ListSessions(idle_only)->sessions.size(), 1u);

  Event terminated;
  terminated.type = EventType::kSessionStatusTerminated;
  terminated.id = NewEventId(clock_.Now());
  ASSERT_TRUE(log_->Append(s, {terminated}, kAppendAtHead, kNoLease).ok());
  auto after = log_->Append(s, {TextMessage(EventType::kUserMessage, "late")}, kAppendAtHead, kNoLease);
  EXPECT_TRUE(absl::IsFailedPrecondition(after.status())) << after.status();
  EXPECT_EQ(ReadAll(s).size(), 4u);
}

TEST_F(SessionLogTest, BadEventsAreRejectedAndChangeNothing) {
  const std::string s = NewSession();
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kUserMessage, "ok")}, 1, kNoLease).ok());

  Event no_id = TextMessage(EventType::kUserMessage, "no id");
  no_id.id.clear();
  auto r = log_->Append(s, {TextMessage(EventType::kUserMessage, "fine"), no_id}, 2, kNoLease);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("valid id"), std::string::npos);

  // Oversized even after blobs: many small blocks, each under the blob threshold.
  Event huge = TextMessage(EventType::kAgentMessage, "huge", 500);
  for (int i = 0; i < 1000; ++i) huge.content.push_back(huge.content[0]);
  r = log_->Append(s, {huge}, 2, kNoLease);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("over the limit"), std::string::npos) << r.status();

  EXPECT_TRUE(absl::IsInvalidArgument(log_->Append(s, {}, 2, kNoLease).status()));

  std::vector<Event> events = ReadAll(s);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(log_->GetSession(s)->next_seq, 2u);
  EXPECT_TRUE(log_->health().ok());
}

TEST_F(SessionLogTest, LargePayloadsGoToBlobsOnceAndReadBackWhole) {
  const std::string a = NewSession();
  const std::string b = NewSession();
  Event big = TextMessage(EventType::kAgentToolResult, "big", 100'000);
  big.tool_use_id = NewEventId(clock_.Now());
  Event big_again = big;
  big_again.id = NewEventId(clock_.Now());
  ASSERT_TRUE(log_->Append(a, {big}, 1, kNoLease).ok());
  ASSERT_TRUE(log_->Append(b, {big_again}, 1, kNoLease).ok());
  Event big_input = ToolUse("write", absl::StrCat(R"({"content":")", std::string(5000, 'z'), R"("})"));
  ASSERT_TRUE(log_->Append(a, {big_input}, 2, kNoLease).ok());
  Reopen();
  auto events = ReadAll(a);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].content[0].text, big.content[0].text);
  EXPECT_EQ(events[1].input_json, big_input.input_json);
  EXPECT_EQ(ReadAll(b)[0].content[0].text, big.content[0].text);
}

// Scan, RocksDbSessionLog's one pass and the paged default every other log inherits.
enum class ScanImpl { kLog, kPagedDefault };

absl::Status ScanWith(ScanImpl impl, SessionLog& log, const std::string& session, const ReadOptions& options,
                      absl::FunctionRef<absl::Status(const Event&)> visit) {
  return impl == ScanImpl::kLog ? log.Scan(session, options, visit) : log.SessionLog::Scan(session, options, visit);
}

absl::StatusOr<std::vector<Event>> ScanAll(ScanImpl impl, SessionLog& log, const std::string& session,
                                           const ReadOptions& options) {
  std::vector<Event> visited;
  RETURN_IF_ERROR(ScanWith(impl, log, session, options, [&](const Event& e) {
    visited.push_back(e);
    return absl::OkStatus();
  }));
  return visited;
}

// Events of every shape a reused Event must not carry over: 0-3 content blocks of 0-3 KB (some over
// the blob threshold), tool uses, status events, over more than two of the default's pages.
std::vector<Event> MixedEvents(size_t count) {
  std::vector<Event> events;
  for (size_t i = 0; i < count; ++i) {
    switch (i % 5) {
      case 0: {
        Event e = TextMessage(EventType::kUserMessage, absl::StrCat(i), (i * 37) % 3000);
        for (size_t b = 0; b < i % 4; ++b) e.content.push_back(e.content[0]);
        events.push_back(std::move(e));
        break;
      }
      case 1:
        events.push_back(ToolUse("bash", absl::StrCat(R"({"i":)", i, "}")));
        break;
      case 2: {
        Event e = TextMessage(EventType::kAgentToolResult, absl::StrCat(i), (i * 11) % 200);
        e.tool_use_id = events.back().id;
        e.is_error = i % 3 == 0;
        events.push_back(std::move(e));
        break;
      }
      case 3: {
        Event e;
        e.type = EventType::kSessionStatusRunning;
        e.id = NewEventId(absl::Now());
        events.push_back(std::move(e));
        break;
      }
      default:
        events.push_back(TextMessage(EventType::kAgentMessage, absl::StrCat(i)));
    }
  }
  return events;
}

class SessionLogScanTest : public SessionLogTest, public ::testing::WithParamInterface<ScanImpl> {};

TEST_P(SessionLogScanTest, VisitsExactlyWhatReadReturns) {
  const std::string s = NewSession();
  constexpr size_t kEvents = 2 * SessionLog::kScanPage + 300;
  std::vector<Event> events = MixedEvents(kEvents);
  for (size_t i = 0; i < events.size(); i += 500) {
    std::vector<Event> batch(events.begin() + static_cast<std::ptrdiff_t>(i),
                             events.begin() + static_cast<std::ptrdiff_t>(std::min(events.size(), i + 500)));
    ASSERT_TRUE(log_->Append(s, std::move(batch), i + 1, kNoLease).ok());
  }
  std::vector<ReadOptions> cases(7);
  cases[1].from_seq = 700;
  cases[2].from_seq = 10;
  cases[2].limit = SessionLog::kScanPage + 500;  // ends inside the default's second page
  cases[3].types = {EventType::kAgentToolUse, EventType::kAgentToolResult};
  cases[3].limit = 2 * (SessionLog::kScanPage / 2) + 1;
  cases[4].types = {EventType::kUserMessage};
  cases[4].from_seq = 3;
  cases[5].from_seq = kEvents + 1;  // past the head
  cases[6].limit = 0;
  for (size_t c = 0; c < cases.size(); ++c) {
    absl::StatusOr<std::vector<Event>> read = log_->Read(s, cases[c]);
    ASSERT_TRUE(read.ok()) << read.status();
    absl::StatusOr<std::vector<Event>> scanned = ScanAll(GetParam(), *log_, s, cases[c]);
    ASSERT_TRUE(scanned.ok()) << scanned.status();
    EXPECT_EQ(scanned->size(), read->size()) << "case " << c;
    EXPECT_TRUE(*scanned == *read) << "case " << c;
  }
  EXPECT_EQ(ReadAll(s).size(), kEvents);
}

TEST_P(SessionLogScanTest, StopsAtTheVisitorsErrorAndReturnsIt) {
  const std::string s = NewSession();
  ASSERT_TRUE(log_->Append(s, MixedEvents(10), 1, kNoLease).ok());
  std::vector<uint64_t> seen;
  absl::Status status = ScanWith(GetParam(), *log_, s, {}, [&](const Event& e) {
    seen.push_back(e.seq);
    return seen.size() == 3 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3}));
}

TEST_P(SessionLogScanTest, WrongSessionIdsAreReadsErrors) {
  auto never = [](const Event&) { return absl::InternalError("visited"); };
  absl::Status unknown = ScanWith(GetParam(), *log_, NewSessionId(clock_.Now()), {}, never);
  EXPECT_TRUE(absl::IsNotFound(unknown)) << unknown;
  absl::Status malformed = ScanWith(GetParam(), *log_, "sesn_nope", {}, never);
  EXPECT_TRUE(absl::IsInvalidArgument(malformed)) << malformed;
}

// A scan beside a writer sees a whole prefix of the log: seqs from 1 without a gap, each event as it
// was appended. (The one-pass scan reads one snapshot; the paged default, pages of growing heads.)
TEST_P(SessionLogScanTest, AScanBesideAWriterSeesAPrefixWithoutGaps) {
  const std::string s = NewSession();
  const std::vector<Event> events = MixedEvents(3 * SessionLog::kScanPage);
  std::thread writer([&] {
    for (size_t i = 0; i < events.size(); i += 64) {
      std::vector<Event> batch(events.begin() + static_cast<std::ptrdiff_t>(i),
                               events.begin() + static_cast<std::ptrdiff_t>(std::min(events.size(), i + 64)));
      ASSERT_TRUE(log_->Append(s, std::move(batch), i + 1, kNoLease).ok());
    }
  });
  size_t seen = 0;
  while (seen < events.size()) {
    uint64_t next = 1;
    absl::Status scanned = ScanWith(GetParam(), *log_, s, {}, [&](const Event& e) {
      if (e.seq != next) return absl::InternalError(absl::StrCat("seq ", e.seq, " after ", next - 1));
      const Event& appended = events[e.seq - 1];
      if (e.id != appended.id || e.content != appended.content || e.input_json != appended.input_json) {
        return absl::InternalError(absl::StrCat("seq ", e.seq, " is not the event appended there"));
      }
      ++next;
      return absl::OkStatus();
    });
    ASSERT_TRUE(scanned.ok()) << scanned;
    seen = next - 1;
  }
  writer.join();
  EXPECT_EQ(seen, events.size());
}

INSTANTIATE_TEST_SUITE_P(BothImplementations, SessionLogScanTest,
                         ::testing::Values(ScanImpl::kLog, ScanImpl::kPagedDefault),
                         [](const ::testing::TestParamInfo<ScanImpl>& info) {
                           return info.param == ScanImpl::kLog ? std::string("OnePass") : std::string("PagedDefault");
                         });

TEST_F(SessionLogTest, ListSessionsPagesInCreationOrder) {
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    clock_.Advance(absl::Milliseconds(1));
    ids.push_back(NewSession(i % 2 == 0 ? "wrkspc_even" : "wrkspc_odd"));
  }
  std::vector<std::string> listed;
  ListSessionsOptions options;
  options.limit = 10;
  int pages = 0;
  while (true) {
    auto page = log_->ListSessions(options);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const auto& s : page->sessions) listed.push_back(s.id);
    if (page->next_cursor.empty()) break;
    options.after_session_id = page->next_cursor;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(listed, ids);

  ListSessionsOptions even;
  even.workspace_id = "wrkspc_even";
  even.limit = 100;
  EXPECT_EQ(log_->ListSessions(even)->sessions.size(), 13u);
  // A session stored without a workspace (before workspaces) is the default workspace's.
  const std::string unowned = NewSession("");
  ListSessionsOptions by_default;
  by_default.workspace_id = "default";
  auto defaults = log_->ListSessions(by_default);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  ASSERT_EQ(defaults->sessions.size(), 1u);
  EXPECT_EQ(defaults->sessions[0].id, unowned);
  ListSessionsOptions zero;
  zero.limit = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(log_->ListSessions(zero).status()));
}

TEST_F(SessionLogTest, UpdateAndDelete) {
  const std::string s = NewSession();
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kUserMessage, "1")}, 1, kNoLease).ok());
  SessionInfo info = *log_->GetSession(s);
  info.title = "renamed";
  info.archived_at = clock_.Now();
  info.next_seq = 999;  // not caller-owned: ignored
  auto updated = log_->UpdateSession(info);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->title, "renamed");
  EXPECT_EQ(updated->next_seq, 2u);
  ListSessionsOptions live;
  live.include_archived = false;
  EXPECT_TRUE(log_->ListSessions(live)->sessions.empty());

  ASSERT_TRUE(log_->DeleteSession(s).ok());
  EXPECT_TRUE(absl::IsNotFound(log_->GetSession(s).status()));
  EXPECT_TRUE(absl::IsNotFound(log_->Read(s).status()));
  EXPECT_TRUE(absl::IsNotFound(log_->DeleteSession(s)));
  Reopen();
  EXPECT_TRUE(absl::IsNotFound(log_->GetSession(s).status()));
}

// The memtables take insert hints by session (events and session records), and RocksDB 7.8 shares a
// prefix's hint between the point and range-deletion lists: a DeleteSession tombstone inserted with an
// event's hint corrupts the tombstone list. Deletes interleaved with appends to other sessions (and to
// sessions created after them), live and when the WAL is replayed at open, must leave every live
// session whole and every deleted one gone.
TEST_F(SessionLogTest, DeletesBetweenAppendsKeepEveryOtherSessionWhole) {
  std::vector<std::string> sessions;
  for (int i = 0; i < 6; ++i) sessions.push_back(NewSession());
  std::set<std::string> deleted;
  auto append_round = [&](int round) {
    for (const std::string& s : sessions) {
      if (deleted.contains(s)) continue;
      auto appended = log_->Append(s, {TextMessage(EventType::kAgentMessage, absl::StrCat(s, " round ", round))},
                                   kAppendAtHead, kNoLease);
      ASSERT_TRUE(appended.ok()) << appended.status();
    }
  };
  auto remove = [&](size_t i) {
    ASSERT_TRUE(log_->DeleteSession(sessions[i]).ok());
    deleted.insert(sessions[i]);
  };
  auto check = [&](const std::string& when) {
    for (const std::string& s : sessions) {
      if (deleted.contains(s)) {
        EXPECT_TRUE(absl::IsNotFound(log_->Read(s).status())) << when << ": " << s;
        continue;
      }
      std::vector<Event> events = ReadAll(s);
      const uint64_t head = log_->GetSession(s)->next_seq;
      ASSERT_EQ(events.size(), head - 1) << when << ": " << s;
      for (size_t k = 0; k < events.size(); ++k) {
        EXPECT_EQ(events[k].seq, k + 1) << when;
        EXPECT_NE(events[k].content.at(0).text.find(s), std::string::npos) << when << ": " << s;
      }
    }
  };

  for (int round = 0; round < 30; ++round) {
    append_round(round);
    if (round == 5) remove(0);
    if (round == 6) remove(1);
    if (round == 10) {
      remove(2);
      sessions.push_back(NewSession());
      sessions.push_back(NewSession());
    }
    if (round == 20) remove(6);
  }
  check("live");
  Reopen();  // the WAL, tombstones and all, is inserted into fresh memtables with the same hints
  check("after reopen");
  for (int round = 30; round < 40; ++round) {
    append_round(round);
    if (round == 32) remove(3);
  }
  check("appended after reopen");
  Reopen();
  check("after the second reopen");
}

TEST_F(SessionLogTest, SubscribeDeliversHistoryThenLiveAppends) {
  const std::string s = NewSession();
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kUserMessage, "1"), TextMessage(EventType::kAgentMessage, "2")},
                           1, kNoLease)
                  .ok());
  auto sub = log_->Subscribe(s, 1);
  ASSERT_TRUE(sub.ok()) << sub.status();
  auto first = (*sub)->Next(10, absl::InfiniteFuture());
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*sub)->cursor(), 3u);

  // Nothing new: a past deadline returns at once, empty.
  auto none = (*sub)->Next(10, absl::InfinitePast());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  // A writer appends while the consumer is blocked; Next wakes on the commit, not on a timer.
  std::atomic<int> notified{0};
  (*sub)->SetNotifier([&] { ++notified; });
  std::thread writer([&] {
    for (int i = 3; i <= 5; ++i) {
      ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kAgentMessage, absl::StrCat(i))}, i, kNoLease).ok());
    }
  });
  std::vector<uint64_t> seen;
  while (seen.size() < 3) {
    auto batch = (*sub)->Next(10, absl::InfiniteFuture());
    ASSERT_TRUE(batch.ok()) << batch.status();
    for (const auto& e : *batch) seen.push_back(e.seq);
  }
  writer.join();
  EXPECT_EQ(seen, (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(notified.load(), 3);

  // Cancel wakes a blocked consumer.
  std::thread canceller([&] { (*sub)->Cancel(); });
  auto cancelled = (*sub)->Next(10, absl::InfiniteFuture());
  canceller.join();
  EXPECT_TRUE(absl::IsCancelled(cancelled.status())) << cancelled.status();

  auto from_middle = log_->Subscribe(s, 4);
  ASSERT_TRUE(from_middle.ok());
  auto tail = (*from_middle)->Next(10, absl::InfinitePast());
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].seq, 4u);
  EXPECT_TRUE(absl::IsNotFound(log_->Subscribe(NewSessionId(clock_.Now()), 1).status()));
}

// A file system whose writes start failing on command, to check the sticky-error rule.
class FailingFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit FailingFileSystem(std::shared_ptr<rocksdb::FileSystem> target) : FileSystemWrapper(target) {}
  const char* Name() const override { return "FailingFileSystem"; }

  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> f, const FailingFileSystem* fs)
        : FSWritableFileOwnerWrapper(std::move(f)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
      if (fs_->fail) return rocksdb::IOStatus::IOError("injected write failure");
      return FSWritableFileOwnerWrapper::Append(data, o, d);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* d) override {
      if (fs_->fail) return rocksdb::IOStatus::IOError("injected write failure");
      return FSWritableFileOwnerWrapper::Append(data, o, v, d);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      if (rocksdb::IOStatus s = BeforeSync(); !s.ok()) return s;
      return FSWritableFileOwnerWrapper::Sync(o, d);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      if (rocksdb::IOStatus s = BeforeSync(); !s.ok()) return s;
      return FSWritableFileOwnerWrapper::Fsync(o, d);
    }

   private:
    rocksdb::IOStatus BeforeSync() const {
      std::this_thread::sleep_for(std::chrono::milliseconds(fs_->sync_delay_ms.load()));
      if (fs_->fail || fs_->fail_syncs) return rocksdb::IOStatus::IOError("injected sync failure");
      return rocksdb::IOStatus::OK();
    }
    const FailingFileSystem* fs_;
  };

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = FileSystemWrapper::NewWritableFile(name, options, &file, dbg);
    if (s.ok()) *result = std::make_unique<File>(std::move(file), this);
    return s;
  }

  std::atomic<bool> fail{false};        // writes and syncs fail
  std::atomic<bool> fail_syncs{false};  // syncs fail (after the delay)
  std::atomic<int> sync_delay_ms{0};    // every sync takes this long first: writers pile up behind it
};

TEST_F(SessionLogTest, FailedWriteIsStickyUntilReopen) {
  auto fs = std::make_shared<FailingFileSystem>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  env_ = env.get();
  Reopen();
  const std::string s = NewSession();
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kUserMessage, "1")}, 1, kNoLease).ok());

  fs->fail = true;
  auto failed = log_->Append(s, {TextMessage(EventType::kUserMessage, "2")}, 2, kNoLease);
  EXPECT_FALSE(failed.ok());
  EXPECT_FALSE(log_->health().ok());
  fs->fail = false;
  // The disk is fine again, but the log does not know what reached the WAL: it refuses writes.
  auto refused = log_->Append(s, {TextMessage(EventType::kUserMessage, "3")}, kAppendAtHead, kNoLease);
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("until it is reopened"), std::string::npos) << refused.status();
  EXPECT_FALSE(log_->AcquireLease(s, "w", absl::Seconds(1)).ok());

  Reopen();
  EXPECT_TRUE(log_->health().ok());
  std::vector<Event> events = ReadAll(s);
  ASSERT_GE(events.size(), 1u);  // the failed append may or may not have reached the WAL
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kUserMessage, "4")}, kAppendAtHead, kNoLease).ok());
  events = ReadAll(s);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq, i + 1);
  log_.reset();
  env_ = nullptr;
}

// Blocked writers are woken as a tree (each woken caller wakes two more). With syncs slowed down,
// writers pile up into big groups; every caller of every group must return: when the groups commit,
// when their sync fails, and once the log refuses writes.
TEST_F(SessionLogTest, EveryWriterOfABigGroupReturns) {
  auto fs = std::make_shared<FailingFileSystem>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  env_ = env.get();
  Reopen();
  constexpr int kWriters = 32;
  constexpr int kAppends = 3;
  std::vector<std::string> sessions;
  for (int i = 0; i < kWriters; ++i) sessions.push_back(NewSession());
  auto run_writers = [&] {
    std::atomic<int> ok{0};
    std::vector<std::thread> writers;
    for (int i = 0; i < kWriters; ++i) {
      writers.emplace_back([&, i] {
        for (int j = 0; j < kAppends; ++j) {
          if (log_->Append(sessions[i], {TextMessage(EventType::kUserMessage, "x")}, kAppendAtHead, kNoLease).ok()) {
            ++ok;
          }
        }
      });
    }
    for (std::thread& t : writers) t.join();
    return ok.load();
  };

  fs->sync_delay_ms = 20;
  EXPECT_EQ(run_writers(), kWriters * kAppends);
  for (const std::string& s : sessions) EXPECT_EQ(ReadAll(s).size(), static_cast<size_t>(kAppends));

  fs->fail_syncs = true;
  EXPECT_EQ(run_writers(), 0);  // the first groups fail their sync, the rest find the log refusing
  EXPECT_FALSE(log_->health().ok());
  fs->fail_syncs = false;
  fs->sync_delay_ms = 0;
  log_.reset();
  env_ = nullptr;
}

// The closed log's database opened directly, to damage it behind the log's back.

TEST_F(SessionLogTest, CorruptRecordsAreDataLossNeverSkipped) {
  const std::string s = NewSession();
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kUserMessage, "1"), TextMessage(EventType::kUserMessage, "2"),
                               TextMessage(EventType::kUserMessage, "3")},
                           1, kNoLease)
                  .ok());
  Event big = TextMessage(EventType::kAgentMessage, "big", 4000);  // over the 1 KiB blob threshold
  ASSERT_TRUE(log_->Append(s, {big}, 4, kNoLease).ok());
  const IdBytes id = *ParseId(kSessionIdPrefix, s);
  ReadOptions from3;
  from3.from_seq = 3;
  ReadOptions from4;
  from4.from_seq = 4;

  // A record that does not decode.
  log_.reset();
  {
    RawDb raw(dir_);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(raw.Put(RawDb::kEvents, EventKey(id, 2), "this is not a cap'n proto message"));
  }
  Reopen();
  auto read = log_->Read(s);
  EXPECT_TRUE(absl::IsDataLoss(read.status())) << read.status();
  EXPECT_NE(read.status().message().find("event 2"), std::string::npos) << read.status();
  ReadOptions first;
  first.limit = 1;
  EXPECT_TRUE(log_->Read(s, first).ok());  // the records before the damage still read
  EXPECT_TRUE(log_->Read(s, from3).ok());  // and those after it
  std::vector<uint64_t> scanned;
  absl::Status scan = log_->Scan(s, {}, [&](const Event& e) {
    scanned.push_back(e.seq);
    return absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsDataLoss(scan)) << scan;  // Scan too, after the events before the damage
  EXPECT_EQ(scanned, std::vector<uint64_t>{1});

  // A blob referenced but gone: DataLoss, not an event with an empty payload.
  log_.reset();
  {
    RawDb raw(dir_);
    ASSERT_TRUE(raw.ok());
    for (const std::string& key : raw.Keys(RawDb::kBlobs)) ASSERT_TRUE(raw.Delete(RawDb::kBlobs, key));
  }
  Reopen();
  auto dangling = log_->Read(s, from4);
  EXPECT_TRUE(absl::IsDataLoss(dangling.status())) << dangling.status();
  EXPECT_NE(dangling.status().message().find("missing"), std::string::npos) << dangling.status();

  // A deleted event: a gap is DataLoss, not a shorter log.
  log_.reset();
  {
    RawDb raw(dir_);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(raw.Delete(RawDb::kEvents, EventKey(id, 3)));
  }
  Reopen();
  auto after_gap = log_->Read(s, from3);  // starts at the missing seq
  EXPECT_TRUE(absl::IsDataLoss(after_gap.status())) << after_gap.status();
  EXPECT_NE(after_gap.status().message().find("gap"), std::string::npos) << after_gap.status();
}

TEST(SessionLogOpenTest, SecondOpenOfSameDirIsUnavailable) {
  const std::string dir = MakeTempDir("lock");
  RocksDbSessionLogOptions options;
  options.path = dir;
  auto first = OpenRocksDbSessionLog(options);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = OpenRocksDbSessionLog(options);
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
  first->reset();
  RemoveDir(dir);
}

TEST_F(SessionLogTest, ReadersBesideTheWriterSeeItsAppendsAndWriteNothing) {
  const std::string s = NewSession();
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kUserMessage, "one")}, kAppendAtHead, kNoLease).ok());
  RocksDbSessionLogOptions options;
  options.path = dir_;
  options.access = StoreAccess::kReadOnly;
  absl::StatusOr<std::unique_ptr<SessionLog>> reader = OpenRocksDbSessionLog(options);
  ASSERT_TRUE(reader.ok()) << reader.status();
  options.access = StoreAccess::kFollow;
  options.follow_dir = dir_ + "-follow";
  absl::StatusOr<std::unique_ptr<SessionLog>> follower = OpenRocksDbSessionLog(options);
  ASSERT_TRUE(follower.ok()) << follower.status();
  EXPECT_EQ((*reader)->Read(s)->size(), 1u);
  EXPECT_EQ((*follower)->Read(s)->size(), 1u);

  // Writes through a reader are refused and change nothing.
  for (SessionLog* view : {reader->get(), follower->get()}) {
    EXPECT_EQ(view->Append(s, {TextMessage(EventType::kUserMessage, "no")}, kAppendAtHead, kNoLease).status().code(),
              absl::StatusCode::kFailedPrecondition);
    SessionInfo other;
    other.id = NewSessionId(clock_.Now());
    EXPECT_EQ(view->CreateSession(other).status().code(), absl::StatusCode::kFailedPrecondition);
  }
  // The writer goes on; the follower catches up, the read-only view keeps its snapshot.
  ASSERT_TRUE(log_->Append(s, {TextMessage(EventType::kUserMessage, "two")}, kAppendAtHead, kNoLease).ok());
  EXPECT_EQ((*follower)->Read(s)->size(), 2u);
  EXPECT_EQ((*reader)->Read(s)->size(), 1u);
  EXPECT_EQ(log_->Read(s)->size(), 2u);
  follower->reset();
  RemoveDir(dir_ + "-follow");

  // A reader of a directory that holds no store is NotFound-like, and creates nothing.
  options.access = StoreAccess::kReadOnly;
  options.path = dir_ + "-absent";
  EXPECT_FALSE(OpenRocksDbSessionLog(options).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "-absent/CURRENT"));
}

}  // namespace
}  // namespace wake
