// wake_inspect and the store check on real stores: a scripted session with tools run by a real
// Harness on RocksDB, then reports, checks (clean and damaged on purpose), export/import, fork and
// replay.

#include <algorithm>
#include <sstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "harness/context_builder.h"
#include "harness/harness.h"
#include "harness/scripted_brain.h"
#include "inspect/log_check.h"
#include "inspect/replay.h"
#include "inspect/session_list.h"
#include "inspect/session_report.h"
#include "inspect/transfer.h"
#include "schemas/ids.h"
#include "storage/key_encoding.h"
#include "storage/rocksdb_session_log.h"
#include "storage/store_check.h"
#include "tests/harness/harness_test_util.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::RawDb;

class InspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("inspect");
    Open();
    brain_ = *NewScriptedBrain(testing::TestScript());
    agent_ = testing::TestAgent();
    session_ = RunScriptedSession();
  }
  void TearDown() override {
    log_.reset();
    testing::RemoveDir(dir_);
  }

  void Open() {
    RocksDbSessionLogOptions options;
    options.path = dir_;
    options.blob_threshold = 1024;
    log_ = *OpenRocksDbSessionLog(options);
  }

  std::string RunScriptedSession(const std::string& text = "please look around") {
    SessionInfo info;
    info.id = NewSessionId(absl::Now());
    info.title = "scripted";
    EXPECT_TRUE(log_->CreateSession(info).ok());
    EXPECT_TRUE(log_->Append(info.id, {testing::TextMessage(EventType::kUserMessage, text)}, kAppendAtHead, kNoLease).ok());
    Harness harness(log_.get(), brain_.get(), &hands_, HarnessOptions{});
    EXPECT_TRUE(harness.Wake(info.id, agent_).ok());
    return info.id;
  }

  std::vector<Event> Events(const std::string& id) { return *log_->Read(id); }

  std::vector<StoreFinding> CheckStore(std::vector<Finding>* log_findings = nullptr) {
    log_.reset();  // the check reads beside no writer here, and damage is done while closed
    StoreCheckOptions options;
    options.on_session_events = [&](const std::string& id, const std::vector<Event>& events) {
      if (log_findings != nullptr) {
        for (Finding& f : CheckSessionEvents(id, events)) log_findings->push_back(std::move(f));
      }
    };
    absl::StatusOr<StoreCheckReport> report = CheckSessionStore(dir_, options);
    EXPECT_TRUE(report.ok()) << report.status();
    Open();
    return report.ok() ? report->findings : std::vector<StoreFinding>{};
  }

  std::string dir_;
  std::unique_ptr<SessionLog> log_;
  std::unique_ptr<Brain> brain_;
  AgentConfig agent_;
  testing::RecordingHands hands_;
  std::string session_;
};

TEST_F(InspectTest, SummarizesASession) {
  SessionInfo info = *log_->GetSession(session_);
  std::vector<Event> events = Events(session_);
  SessionReport report = SummarizeSession(info, events, std::nullopt);
  EXPECT_EQ(report.events, events.size());
  EXPECT_EQ(report.counts_by_type["agent.tool_use"], 3);
  EXPECT_EQ(report.counts_by_type["agent.message"], 3);
  EXPECT_EQ(report.tool_calls, 3);
  EXPECT_EQ(report.open_tool_calls, 0);
  ASSERT_EQ(report.model_requests.size(), 3u);
  for (const ModelRequestReport& m : report.model_requests) EXPECT_TRUE(m.finished && !m.is_error);
  EXPECT_GT(report.total_usage.input_tokens, 0);
  const std::string text = FormatSessionReport(report, absl::Now());
  EXPECT_TRUE(absl::StrContains(text, "tools     3 calls, 0 errors, 0 without a result")) << text;
  const std::string json = SessionReportJson(report);
  EXPECT_TRUE(absl::StrContains(json, R"("tool_calls":3)")) << json;
  EXPECT_TRUE(absl::StrContains(json, R"("agent.tool_use":3)")) << json;
}

TEST_F(InspectTest, EventLinesAreOneLineEach) {
  for (const Event& e : Events(session_)) {
    const std::string line = FormatEventLine(e, /*color=*/false);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(line.rfind(absl::StrCat("#", e.seq), 0), 0u) << line;
    EXPECT_NE(line.find(EventTypeName(e.type)), std::string::npos) << line;
    EXPECT_TRUE(absl::StrContains(FormatEventLine(e, /*color=*/true), "\x1b["));
  }
}

TEST_F(InspectTest, ACleanStoreHasNoFindings) {
  std::vector<Finding> log_findings;
  EXPECT_TRUE(CheckStore(&log_findings).empty());
  EXPECT_TRUE(log_findings.empty());
  EXPECT_TRUE(CheckSessionEvents(session_, Events(session_)).empty());
}

TEST_F(InspectTest, LogChecksFindOrphansDuplicatesAndGaps) {
  std::vector<Event> events = Events(session_);
  // Cut the log right after the first tool-started marker: its call has no result.
  size_t marker = 0;
  while (events[marker].type != EventType::kToolStarted) ++marker;
  std::vector<Event> cut(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(marker) + 1);
  std::vector<Finding> findings = CheckSessionEvents(session_, cut);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].kind, "orphan_tool_marker");
  EXPECT_EQ(findings[0].seq, cut.back().seq);

  std::vector<Event> damaged = events;
  damaged.erase(damaged.begin() + 2);  // a gap
  Event extra = events[marker + 1];    // the tool result, again
  extra.seq = damaged.back().seq + 1;
  extra.id = NewEventId(absl::Now());
  damaged.push_back(extra);
  Event stray = extra;
  stray.seq = extra.seq + 1;
  stray.id = extra.id;  // a duplicate id too
  stray.tool_use_id = "sevt_01M81Z5JVK8FP61MGMCJRZJRYF";
  damaged.push_back(stray);
  std::vector<std::string> kinds;
  for (const Finding& f : CheckSessionEvents(session_, damaged)) kinds.push_back(f.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"seq_gap", "duplicate_id", "duplicate_result", "result_without_call"}));
  EXPECT_TRUE(absl::StrContains(FormatFinding(CheckSessionEvents(session_, cut)[0]), session_));
}

TEST_F(InspectTest, StoreCheckFindsDamageDoneOnPurpose) {
  // A large event (its payload goes to a blob), in a second session.
  const std::string big = RunScriptedSession(std::string(4000, 'x'));
  const IdBytes first = *ParseId(kSessionIdPrefix, session_);
  const IdBytes second = *ParseId(kSessionIdPrefix, big);
  const std::string stray_id = NewSessionId(absl::Now());
  log_.reset();
  {
    RawDb raw(dir_);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(raw.Delete(RawDb::kEvents, EventKey(first, 3)));                 // a deleted event
    ASSERT_TRUE(raw.Put(RawDb::kEvents, EventKey(first, 5), "not an event"));     // a corrupt value
    for (const std::string& key : raw.Keys(RawDb::kBlobs)) ASSERT_TRUE(raw.Delete(RawDb::kBlobs, key));  // dangling
    const IdBytes stray = *ParseId(kSessionIdPrefix, stray_id);
    ASSERT_TRUE(raw.Put(RawDb::kEvents, EventKey(stray, 1), "x"));                // events of no session
  }
  Open();
  std::vector<std::string> kinds;
  for (const StoreFinding& f : CheckStore()) {
    kinds.push_back(absl::StrCat(f.kind, f.session_id == big ? "@big" : f.session_id == stray_id ? "@stray" : ""));
  }
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"dangling_blob@big", "orphan_events@stray", "seq_gap",
                                             "undecodable_event", "undecodable_event@stray"}));
  (void)second;
}

// Damage to a tool call's pair on disk: the store check sees the gap, the log checks what it means.
TEST_F(InspectTest, AStoreMissingAToolResultOrCallIsCaught) {
  const std::string other = RunScriptedSession("another look");
  uint64_t result_seq = 0;
  uint64_t marker_seq = 0;
  for (const Event& e : Events(session_)) {
    if (e.type == EventType::kToolStarted && marker_seq == 0) marker_seq = e.seq;
    if (e.type == EventType::kAgentToolResult && result_seq == 0) result_seq = e.seq;
  }
  uint64_t use_seq = 0;
  uint64_t other_marker = 0;
  uint64_t other_result = 0;
  for (const Event& e : Events(other)) {
    if (e.type == EventType::kAgentToolUse && use_seq == 0) use_seq = e.seq;
    if (use_seq > 0 && e.type == EventType::kToolStarted && other_marker == 0) other_marker = e.seq;
    if (use_seq > 0 && e.type == EventType::kAgentToolResult && other_result == 0) other_result = e.seq;
  }
  ASSERT_GT(result_seq, marker_seq);
  log_.reset();
  {
    RawDb raw(dir_);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(raw.Delete(RawDb::kEvents, EventKey(*ParseId(kSessionIdPrefix, session_), result_seq)));
    ASSERT_TRUE(raw.Delete(RawDb::kEvents, EventKey(*ParseId(kSessionIdPrefix, other), use_seq)));
  }
  Open();
  std::vector<Finding> log_findings;
  std::vector<std::string> store_kinds;
  for (const StoreFinding& f : CheckStore(&log_findings)) store_kinds.push_back(f.kind);
  EXPECT_EQ(store_kinds, (std::vector<std::string>{"seq_gap", "seq_gap"}));
  std::vector<std::string> kinds;
  for (const Finding& f : log_findings) {
    kinds.push_back(absl::StrCat(f.session_id == other ? "other " : "", f.kind, "@", f.seq));
  }
  std::sort(kinds.begin(), kinds.end());
  // In `other`, the call is gone: its marker and its result have no call.
  std::vector<std::string> expected = {
      absl::StrCat("orphan_tool_marker@", marker_seq), absl::StrCat("other marker_without_call@", other_marker),
      absl::StrCat("other result_without_call@", other_result), absl::StrCat("other seq_gap@", use_seq + 1),
      absl::StrCat("seq_gap@", result_seq + 1)};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(kinds, expected);
}

// The first event a wake appended from `from` on that acts (not the wake's own bookkeeping: its
// harness_woke record, the status, a hand being provisioned).
const Event* FirstAction(const std::vector<Event>& events, size_t from) {
  for (size_t i = from; i < events.size(); ++i) {
    const EventType t = events[i].type;
    if (t != EventType::kHarnessWoke && t != EventType::kSessionStatusRunning && t != EventType::kHandProvisioned) {
      return &events[i];
    }
  }
  return nullptr;
}

// Replay's prediction at a fork point is what a real wake of the fork then does, and the continued
// log checks clean.
TEST_F(InspectTest, AForkWakesIntoTheActionReplayPredicted) {
  const std::vector<Event> events = Events(session_);
  uint64_t end_seq = 0;  // the first model request's end: its tool call is due
  for (const Event& e : events) {
    if (e.type == EventType::kSpanModelRequestEnd && end_seq == 0) end_seq = e.seq;
  }
  ASSERT_GT(end_seq, 0u);
  absl::StatusOr<std::string> fork = ForkSession(*log_, session_, end_seq);
  ASSERT_TRUE(fork.ok()) << fork.status();
  const ReplayResult predicted = ReplaySession(Events(*fork), agent_, 0);
  ASSERT_EQ(predicted.action.kind, NextAction::Kind::kRunTool);
  EXPECT_EQ(predicted.as_of_seq, end_seq);

  Harness harness(log_.get(), brain_.get(), &hands_, HarnessOptions{});
  ASSERT_TRUE(harness.Wake(*fork, agent_).ok());
  const std::vector<Event> continued = Events(*fork);
  ASSERT_GT(continued.size(), end_seq + 1);
  const Event* next = FirstAction(continued, end_seq);
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->type, EventType::kToolStarted) << EventTypeName(next->type);
  EXPECT_EQ(next->tool_use_id, predicted.action.tool_use.id);
  EXPECT_EQ(continued.back().type, EventType::kSessionStatusIdle);
  EXPECT_TRUE(CheckSessionEvents(*fork, continued).empty());
  // The same model context up to the fork point as the original had.
  std::vector<Event> prefix(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(end_seq));
  EXPECT_EQ(EncodeModelRequestJson(predicted.request), EncodeModelRequestJson(ReplaySession(prefix, agent_, 0).request));
}

// After a rewind, replay predicts a model call, and the wake's first event is that model request.
TEST_F(InspectTest, ARewindWakesIntoTheActionReplayPredicted) {
  const size_t before = Events(session_).size();
  absl::StatusOr<uint64_t> marker = RewindSession(*log_, session_, 1);
  ASSERT_TRUE(marker.ok()) << marker.status();
  const std::vector<Event> rewound = Events(session_);
  const ReplayResult predicted = ReplaySession(rewound, agent_, 0);
  EXPECT_EQ(predicted.action.kind, NextAction::Kind::kCallModel);
  ASSERT_EQ(predicted.request.messages.size(), 1u);  // only the user's message counts
  Harness harness(log_.get(), brain_.get(), &hands_, HarnessOptions{});
  ASSERT_TRUE(harness.Wake(session_, agent_).ok());
  const std::vector<Event> after = Events(session_);
  ASSERT_GT(after.size(), rewound.size());
  const Event* next = FirstAction(after, rewound.size());
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->type, EventType::kSpanModelRequestStart) << EventTypeName(next->type);
  EXPECT_EQ(after.back().type, EventType::kSessionStatusIdle);
  EXPECT_TRUE(CheckSessionEvents(session_, after).empty());
  EXPECT_GT(after.size(), before + 2);
}

TEST(LeaseCheckTest, OnlyAnExpiredUnreleasedLeaseIsAFinding) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  EXPECT_TRUE(CheckLease("s", std::nullopt, now, std::nullopt).empty());
  EXPECT_TRUE(CheckLease("s", Lease{3, "", now - absl::Hours(1)}, now, std::nullopt).empty()) << "released";
  EXPECT_TRUE(CheckLease("s", Lease{3, "waked-1", now + absl::Seconds(5)}, now, false).empty()) << "still held";
  std::vector<Finding> stale = CheckLease("s", Lease{3, "waked-7", now - absl::Seconds(90)}, now, false);
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].kind, "stale_lease");
  EXPECT_EQ(stale[0].seq, 0u);
  EXPECT_TRUE(absl::StrContains(stale[0].detail, "epoch 3 of waked-7")) << stale[0].detail;
  EXPECT_TRUE(absl::StrContains(stale[0].detail, "(1m30s ago)")) << stale[0].detail;
  EXPECT_TRUE(absl::StrContains(stale[0].detail, "waked-7 no longer runs on this host")) << stale[0].detail;
  EXPECT_TRUE(absl::StrContains(CheckLease("s", Lease{3, "w", now}, now, true)[0].detail, "still runs"));
  EXPECT_FALSE(absl::StrContains(CheckLease("s", Lease{3, "w", now}, now, std::nullopt)[0].detail, "runs"));
}

TEST(SessionListTest, TimeBoundsAreRfc3339OrDurationsBeforeNow) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  EXPECT_EQ(*ParseTimeBound("2h", now), now - absl::Hours(2));
  EXPECT_EQ(*ParseTimeBound("1h30m", now), now - absl::Minutes(90));
  EXPECT_EQ(*ParseTimeBound("7d", now), now - absl::Hours(7 * 24));
  EXPECT_EQ(*ParseTimeBound("2027-01-15T08:00:00Z", now), now);
  for (const char* bad : {"", "yesterday", "-2h", "d", "2x", "inf"}) {
    absl::StatusOr<absl::Time> t = ParseTimeBound(bad, now);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(t.status().message(), "RFC 3339")) << t.status();
  }
}

TEST(SessionListTest, FiltersAndSortsAreDeterministic) {
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  std::vector<SessionInfo> sessions(4);
  for (size_t i = 0; i < sessions.size(); ++i) {
    sessions[i].id = absl::StrCat("sesn_", i);
    sessions[i].created_at = t0 + absl::Minutes(static_cast<int64_t>(i));
    sessions[i].updated_at = t0 + absl::Hours(static_cast<int64_t>(4 - i));
    sessions[i].next_seq = i % 2 == 0 ? 5 : 9;
    sessions[i].status = i == 2 ? "running" : "idle";
    sessions[i].agent_id = i < 2 ? "a" : "b";
  }
  auto ids = [](const std::vector<SessionInfo>& list) {
    std::string out;
    for (const SessionInfo& s : list) absl::StrAppend(&out, s.id.substr(5));
    return out;
  };
  std::vector<SessionInfo> sorted = sessions;
  SortSessions(sorted, SessionSort::kUpdated, false);
  EXPECT_EQ(ids(sorted), "3210");
  SortSessions(sorted, SessionSort::kEvents, false);
  EXPECT_EQ(ids(sorted), "0213");  // ties in creation (id) order
  SortSessions(sorted, SessionSort::kEvents, true);
  EXPECT_EQ(ids(sorted), "3120");
  SortSessions(sorted, SessionSort::kStatus, false);
  EXPECT_EQ(ids(sorted), "0132");
  SortSessions(sorted, SessionSort::kCreated, true);
  EXPECT_EQ(ids(sorted), "3210");
  EXPECT_EQ(ParseSessionSort("size").status().code(), absl::StatusCode::kInvalidArgument);

  SessionFilter filter;
  filter.agent_id = "b";
  filter.since = t0 + absl::Minutes(2);
  filter.until = t0 + absl::Minutes(3);  // exclusive
  std::vector<SessionInfo> kept;
  for (const SessionInfo& s : sessions) {
    if (SessionMatches(filter, s)) kept.push_back(s);
  }
  EXPECT_EQ(ids(kept), "2");
}

// The recent counts read only the tails of sessions updated within the hour, yet count every event
// of the window (here 150 of them in one session, more than the first tail read holds).
TEST(SessionListTest, RecentAppendsCountTheLastMinuteAndHour) {
  const std::string dir = testing::MakeTempDir("recent");
  ManualClock clock(absl::FromUnixSeconds(1'800'000'000));
  RocksDbSessionLogOptions options;
  options.path = dir;
  options.clock = &clock;
  std::unique_ptr<SessionLog> log = *OpenRocksDbSessionLog(options);
  SessionInfo busy;
  busy.id = NewSessionId(absl::Now());
  ASSERT_TRUE(log->CreateSession(busy).ok());
  SessionInfo old;
  old.id = NewSessionId(absl::Now());
  ASSERT_TRUE(log->CreateSession(old).ok());
  ASSERT_TRUE(log->Append(old.id, {testing::TextMessage(EventType::kUserMessage, "long ago")}, kAppendAtHead, kNoLease).ok());
  for (int i = 0; i < 300; ++i) {  // one every 20 s for 100 minutes
    clock.Advance(absl::Seconds(20));
    ASSERT_TRUE(log->Append(busy.id, {testing::TextMessage(EventType::kUserMessage, "hi")}, kAppendAtHead, kNoLease).ok());
  }
  const absl::Time now = clock.Now() + absl::Seconds(5);
  uint64_t hour = 0;
  uint64_t minute = 0;
  const std::vector<Event> all = *log->Read(busy.id);
  for (const Event& e : all) {
    hour += *e.processed_at > now - absl::Hours(1) ? 1 : 0;
    minute += *e.processed_at > now - absl::Minutes(1) ? 1 : 0;
  }
  std::vector<SessionInfo> sessions = log->ListSessions(ListSessionsOptions{})->sessions;
  absl::StatusOr<RecentAppends> recent = CountRecentAppends(*log, sessions, now);
  ASSERT_TRUE(recent.ok()) << recent.status();
  EXPECT_EQ(recent->last_hour, hour);
  EXPECT_EQ(recent->last_minute, minute);
  EXPECT_GT(hour, 64u) << "more than the first tail window";
  EXPECT_EQ(recent->sessions_read, 1u) << "the old session is not read";
  log.reset();
  testing::RemoveDir(dir);
}

TEST_F(InspectTest, ExportImportExportIsByteIdentical) {
  std::stringstream first;
  ASSERT_EQ(*ExportSession(*log_, session_, first), Events(session_).size());
  std::stringstream in(first.str());
  absl::StatusOr<std::string> imported = ImportSession(*log_, in, SessionInfo{});
  ASSERT_TRUE(imported.ok()) << imported.status();
  std::stringstream second;
  ASSERT_TRUE(ExportSession(*log_, *imported, second).ok());
  EXPECT_EQ(first.str(), second.str());
  EXPECT_EQ(log_->GetSession(*imported)->status, "idle");
}

TEST_F(InspectTest, AMalformedImportLeavesNothingBehind) {
  std::stringstream good;
  ASSERT_TRUE(ExportSession(*log_, session_, good).ok());
  std::stringstream bad(absl::StrCat(good.str(), "{\"type\":\"user.message\",\"id\":\"nope\"}\n"));
  const size_t before = log_->ListSessions(ListSessionsOptions{})->sessions.size();
  absl::StatusOr<std::string> imported = ImportSession(*log_, bad, SessionInfo{});
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(imported.status().message(), "line ")) << imported.status();
  EXPECT_EQ(log_->ListSessions(ListSessionsOptions{})->sessions.size(), before);
}

TEST_F(InspectTest, AForkMidTurnWakesIntoAWellFormedContinuation) {
  std::vector<Event> events = Events(session_);
  uint64_t marker_seq = 0;
  for (const Event& e : events) {
    if (e.type == EventType::kToolStarted && marker_seq == 0) marker_seq = e.seq;
  }
  absl::StatusOr<std::string> fork = ForkSession(*log_, session_, marker_seq);
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_EQ(Events(*fork).size(), marker_seq);
  EXPECT_EQ(Events(session_).size(), events.size());  // the original is untouched
  absl::StatusOr<SessionInfo> forked = log_->GetSession(*fork);
  ASSERT_TRUE(forked.ok()) << forked.status();
  const std::pair<std::string, std::string> parent{"forked_from", absl::StrCat(session_, "#", marker_seq)};
  EXPECT_EQ(std::count(forked->metadata.begin(), forked->metadata.end(), parent), 1) << "the console links to it";
  // A fork of the fork names its direct parent only.
  absl::StatusOr<std::string> grandchild = ForkSession(*log_, *fork, 1);
  ASSERT_TRUE(grandchild.ok()) << grandchild.status();
  absl::StatusOr<SessionInfo> grand = log_->GetSession(*grandchild);
  ASSERT_TRUE(grand.ok()) << grand.status();
  const std::pair<std::string, std::string> grand_parent{"forked_from", absl::StrCat(*fork, "#1")};
  const std::vector<std::pair<std::string, std::string>> only_parent = {grand_parent};
  EXPECT_EQ(grand->metadata, only_parent);
  EXPECT_EQ(ForkSession(*log_, session_, events.size() + 1).status().code(), absl::StatusCode::kOutOfRange);

  // The fork ends on a tool-started marker: a harness recovers the call and finishes the session.
  Harness harness(log_.get(), brain_.get(), &hands_, HarnessOptions{});
  ASSERT_TRUE(harness.Wake(*fork, agent_).ok());
  std::vector<Event> continued = Events(*fork);
  EXPECT_EQ(continued.back().type, EventType::kSessionStatusIdle);
  EXPECT_TRUE(CheckSessionEvents(*fork, continued).empty());
}

TEST_F(InspectTest, ReplayShowsTheNextActionAndTheContextWithoutSideEffects) {
  std::vector<Event> events = Events(session_);
  const size_t calls_before = hands_.calls().size();
  ReplayResult at_start = ReplaySession(events, agent_, 1);
  EXPECT_EQ(at_start.as_of_seq, 1u);
  EXPECT_EQ(at_start.action.kind, NextAction::Kind::kCallModel);
  EXPECT_EQ(DescribeNextAction(at_start.action), "call the model");
  std::vector<Event> first(events.begin(), events.begin() + 1);
  EXPECT_EQ(EncodeModelRequestJson(at_start.request), EncodeModelRequestJson(BuildModelRequest(agent_, first)));

  uint64_t use_seq = 0;
  for (const Event& e : events) {
    if (e.type == EventType::kSpanModelRequestEnd && use_seq == 0) use_seq = e.seq;
  }
  ReplayResult after_turn = ReplaySession(events, agent_, use_seq);
  EXPECT_EQ(after_turn.action.kind, NextAction::Kind::kRunTool);
  EXPECT_TRUE(absl::StrContains(DescribeNextAction(after_turn.action), "run tool read"));
  EXPECT_EQ(ReplaySession(events, agent_, 0).action.kind, NextAction::Kind::kNone);
  EXPECT_EQ(hands_.calls().size(), calls_before);
}

TEST_F(InspectTest, ARewoundSessionContinuesFromTheRewindPoint) {
  const std::vector<Event> before = Events(session_);
  EXPECT_EQ(RewindSession(*log_, session_, 0).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(RewindSession(*log_, session_, before.size()).status().code(), absl::StatusCode::kOutOfRange);
  absl::StatusOr<uint64_t> marker = RewindSession(*log_, session_, 1);  // back to the user's message
  ASSERT_TRUE(marker.ok()) << marker.status();
  EXPECT_EQ(*marker, before.size() + 1);
  std::vector<Event> events = Events(session_);
  EXPECT_EQ(events[*marker - 1].type, EventType::kRewound);
  EXPECT_EQ(events.back().type, EventType::kSessionStatusRunning);  // work is due: a model call
  ModelRequest request = BuildModelRequest(agent_, events);
  ASSERT_EQ(request.messages.size(), 1u);  // only the user's message counts
  EXPECT_EQ(DecideNextAction(events, agent_).kind, NextAction::Kind::kCallModel);

  Harness harness(log_.get(), brain_.get(), &hands_, HarnessOptions{});
  ASSERT_TRUE(harness.Wake(session_, agent_).ok());
  std::vector<Event> after = Events(session_);
  EXPECT_EQ(after.back().type, EventType::kSessionStatusIdle);
  EXPECT_TRUE(CheckSessionEvents(session_, after).empty());
  // The whole script played again after the marker; the old turns are still there for audit.
  int messages = 0;
  for (const Event& e : after) messages += e.type == EventType::kAgentMessage ? 1 : 0;
  EXPECT_EQ(messages, 6);
}

TEST_F(InspectTest, ReplayAgainstTheRecordingReproducesTheLog) {
  const std::vector<Event> events = Events(session_);
  RocksDbSessionLogOptions options;
  options.path = dir_ + "-scratch";
  std::unique_ptr<SessionLog> scratch = *OpenRocksDbSessionLog(options);
  absl::StatusOr<ReplayCheck> same = ReplayAgainst(events, events, agent_, *scratch);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_TRUE(same->identical) << same->divergence;
  EXPECT_GT(same->compared, 8u);

  // A recording whose second tool result differs: the replay diverges exactly there.
  std::vector<Event> changed = events;
  int results = 0;
  for (Event& e : changed) {
    if (e.type == EventType::kAgentToolResult && ++results == 2) e.content[0].text = "something else";
  }
  absl::StatusOr<ReplayCheck> differs = ReplayAgainst(events, changed, agent_, *scratch);
  ASSERT_TRUE(differs.ok()) << differs.status();
  EXPECT_FALSE(differs->identical);
  EXPECT_TRUE(absl::StrContains(differs->divergence, "something else")) << differs->divergence;
  scratch.reset();
  testing::RemoveDir(dir_ + "-scratch");
}

TEST(AgentConfigJsonTest, ParsesAndRejectsClearly) {
  absl::StatusOr<AgentConfig> agent = ParseAgentConfigJson(
      R"({"model":"m","system":"s","max_tokens":100,"tools":[{"name":"bash","input_schema":{"type":"object"}}],"always_ask":["bash"]})");
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_EQ(agent->model, "m");
  ASSERT_EQ(agent->tools.size(), 1u);
  EXPECT_EQ(agent->tools[0].input_schema_json, R"({"type":"object"})");
  EXPECT_TRUE(agent->NeedsConfirmation("bash"));
  EXPECT_EQ(ParseAgentConfigJson("[]").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(ParseAgentConfigJson(R"({"modle":"m"})").status().message(), "modle"));
  EXPECT_EQ(ParseAgentConfigJson(R"({"tools":[{}]})").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wake
