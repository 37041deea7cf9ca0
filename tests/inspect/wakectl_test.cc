// The wakectl binary end to end on a generated store: exact output for a deterministic session
// (fixed ids and clock), exit statuses, the commands that write, and the API key commands.

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "schemas/ids.h"
#include "storage/api_key_store.h"
#include "storage/key_encoding.h"
#include "storage/rocksdb_session_log.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

struct CliRun {
  int exit_code = -1;
  std::string out;
};

// Runs wakectl with `args` (shell words, already safe) and returns its exit status and stdout (and
// stderr after it, with `and_stderr`).
CliRun Wakectl(const std::string& args, bool and_stderr = false) {
  const std::string command = absl::StrCat(WAKECTL_BINARY, " ", args, and_stderr ? " 2>&1" : " 2>/dev/null");
  CliRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.out.append(buffer, n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

IdBytes Fixed(uint8_t n) {
  IdBytes id{};
  id[5] = 1;  // a plausible time part
  id[15] = n;
  return id;
}

class WakectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("wakectl");
    data_ = dir_ + "/data";
    ManualClock clock(absl::FromUnixSeconds(1'800'000'000));
    RocksDbSessionLogOptions options;
    options.path = data_;
    options.clock = &clock;
    std::unique_ptr<SessionLog> log = *OpenRocksDbSessionLog(options);
    session_ = FormatId(kSessionIdPrefix, Fixed(1));
    SessionInfo info;
    info.id = session_;
    info.title = "golden";
    ASSERT_TRUE(log->CreateSession(info).ok());
    std::vector<Event> events;
    auto add = [&](EventType type) -> Event& {
      Event& e = events.emplace_back();
      e.type = type;
      e.id = FormatId(kEventIdPrefix, Fixed(static_cast<uint8_t>(events.size())));
      return e;
    };
    ContentBlock hello;
    hello.text = "list the files";
    add(EventType::kUserMessage).content = {hello};
    add(EventType::kSessionStatusRunning);
    Event& use = add(EventType::kAgentToolUse);
    use.name = "bash";
    use.input_json = R"({"command":"ls"})";
    const std::string use_id = use.id;
    Event& started = add(EventType::kToolStarted);
    started.name = "bash";
    started.tool_use_id = use_id;
    started.idempotency_key = "k";
    Event& result = add(EventType::kAgentToolResult);
    result.tool_use_id = use_id;
    ContentBlock listing;
    listing.text = "a.txt\nb.txt";
    result.content = {listing};
    result.is_error = false;
    add(EventType::kSessionStatusIdle);
    ASSERT_TRUE(log->Append(session_, events, 1, kNoLease).ok());

    // Two more sessions of two agents, an hour apart, for the listing's filters and sorts and the
    // recent rates: "second" (agent_alpha, 3 events: 09:00, 09:00, 10:00:30) and "third" (agent_beta,
    // 1 event at 10:00:00).
    auto message = [](uint8_t id, EventType type) {
      Event e;
      e.type = type;
      e.id = FormatId(kEventIdPrefix, Fixed(id));
      if (type == EventType::kUserMessage) {
        ContentBlock text;
        text.text = "hello";
        e.content = {text};
      }
      return e;
    };
    clock.Advance(absl::Hours(1));
    second_ = FormatId(kSessionIdPrefix, Fixed(2));
    SessionInfo two;
    two.id = second_;
    two.title = "second";
    two.agent_id = "agent_alpha";
    ASSERT_TRUE(log->CreateSession(two).ok());
    ASSERT_TRUE(log->Append(second_, {message(21, EventType::kUserMessage), message(22, EventType::kSessionStatusRunning)},
                            1, kNoLease).ok());
    clock.Advance(absl::Hours(1));
    third_ = FormatId(kSessionIdPrefix, Fixed(3));
    SessionInfo three;
    three.id = third_;
    three.title = "third";
    three.agent_id = "agent_beta";
    three.workspace_id = "team-b";  // the others were stored without one: the default workspace's
    ASSERT_TRUE(log->CreateSession(three).ok());
    ASSERT_TRUE(log->Append(third_, {message(31, EventType::kUserMessage)}, 1, kNoLease).ok());
    clock.Advance(absl::Seconds(30));
    ASSERT_TRUE(log->Append(second_, {message(23, EventType::kUserMessage)}, 3, kNoLease).ok());
  }
  void TearDown() override { testing::RemoveDir(dir_); }

  std::string W(const std::string& args) { return absl::StrCat("--data ", data_, " ", args); }

  std::string dir_;
  std::string data_;
  std::string session_;
  std::string second_;
  std::string third_;
};

TEST_F(WakectlTest, EventsPrintsOneLinePerEvent) {
  CliRun run = Wakectl(W(absl::StrCat("events ", session_)));
  EXPECT_EQ(run.exit_code, 0);
  const std::string use = FormatId(kEventIdPrefix, Fixed(3));
  EXPECT_EQ(run.out, absl::StrCat(
                         "#1     08:00:00.000  user.message                   list the files\n"
                         "#2     08:00:00.000  session.status_running\n"
                         "#3     08:00:00.000  agent.tool_use                 bash {\"command\":\"ls\"}\n"
                         "#4     08:00:00.000  wake.tool_started              bash ", use, "\n",
                         "#5     08:00:00.000  agent.tool_result              for ", use, ": a.txt b.txt\n",
                         "#6     08:00:00.000  session.status_idle            end_turn\n"));
  CliRun filtered = Wakectl(W(absl::StrCat("events ", session_, " --type agent.tool_use --json")));
  EXPECT_EQ(filtered.exit_code, 0);
  EXPECT_EQ(filtered.out.rfind(R"({"type":"agent.tool_use",)", 0), 0u) << filtered.out;
  EXPECT_EQ(std::count(filtered.out.begin(), filtered.out.end(), '\n'), 1);
  EXPECT_EQ(Wakectl(W(absl::StrCat("events ", session_, " --from 5 --to 5"))).out.rfind("#5 ", 0), 0u);
}

// The three sessions of the fixture as table rows and JSON lines.
constexpr char kHeader[] =
    "ID                              STATUS         EVENTS  CREATED              UPDATED              WORKSPACE        AGENT"
    "                            TITLE\n";
constexpr char kRow1[] =
    "sesn_00000000010000000000000001 idle                6  2027-01-15 08:00:00  2027-01-15 08:00:00  default          -"
    "                                golden\n";
constexpr char kRow2[] =
    "sesn_00000000010000000000000002 running             3  2027-01-15 09:00:00  2027-01-15 10:00:30  default          agent_alpha"
    "                      second\n";
constexpr char kRow3[] =
    "sesn_00000000010000000000000003 idle                1  2027-01-15 10:00:00  2027-01-15 10:00:00  team-b           agent_beta"
    "                       third\n";

TEST_F(WakectlTest, SessionsLsFiltersSortsAndPrintsTablesOrJson) {
  ASSERT_EQ(session_, "sesn_00000000010000000000000001");
  CliRun ls = Wakectl(W("sessions ls"));
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_EQ(ls.out, absl::StrCat(kHeader, kRow1, kRow2, kRow3));
  EXPECT_EQ(Wakectl(W("sessions ls --agent agent_alpha")).out, absl::StrCat(kHeader, kRow2));
  EXPECT_EQ(Wakectl(W("sessions ls --agent agent_nobody")).out, kHeader);
  EXPECT_EQ(Wakectl(W("sessions ls --status running")).out, absl::StrCat(kHeader, kRow2));
  EXPECT_EQ(Wakectl(W("sessions ls --workspace team-b")).out, absl::StrCat(kHeader, kRow3));
  EXPECT_EQ(Wakectl(W("sessions ls --workspace default")).out, absl::StrCat(kHeader, kRow1, kRow2));
  // Time windows on created_at: RFC 3339, or durations before --now.
  EXPECT_EQ(Wakectl(W("sessions ls --since 2027-01-15T09:00:00Z")).out, absl::StrCat(kHeader, kRow2, kRow3));
  EXPECT_EQ(Wakectl(W("sessions ls --until 2027-01-15T09:00:00Z")).out, absl::StrCat(kHeader, kRow1));
  EXPECT_EQ(Wakectl(W("--now 2027-01-15T10:30:00Z sessions ls --since 90m --until 1h")).out, absl::StrCat(kHeader, kRow2));
  EXPECT_EQ(Wakectl(W("--now 2027-01-16T09:30:00Z sessions ls --since 1d")).out, absl::StrCat(kHeader, kRow3));
  // Sorts, with ties in creation order.
  EXPECT_EQ(Wakectl(W("sessions ls --sort events --desc")).out, absl::StrCat(kHeader, kRow1, kRow2, kRow3));
  EXPECT_EQ(Wakectl(W("sessions ls --sort events")).out, absl::StrCat(kHeader, kRow3, kRow2, kRow1));
  EXPECT_EQ(Wakectl(W("sessions ls --sort updated --desc")).out, absl::StrCat(kHeader, kRow2, kRow3, kRow1));
  EXPECT_EQ(Wakectl(W("sessions ls --sort status")).out, absl::StrCat(kHeader, kRow1, kRow3, kRow2));
  EXPECT_EQ(Wakectl(W("sessions ls --desc")).out, absl::StrCat(kHeader, kRow3, kRow2, kRow1));
  // The limit applies after the sort, and says what it left out.
  CliRun top = Wakectl(W("sessions ls --sort updated --desc --limit 1"), /*and_stderr=*/true);
  EXPECT_EQ(top.out, absl::StrCat(kHeader, kRow2, "wakectl: showed 1 of 3 sessions (--limit N for more, 0 for all)\n"));
  EXPECT_EQ(Wakectl(W("sessions ls --limit 0")).out, ls.out);

  CliRun json = Wakectl(W("sessions ls --json --agent agent_beta"));
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_EQ(json.out,
            R"({"id":"sesn_00000000010000000000000003","status":"idle","archived":false,"events":1,)"
            R"("created_at":"2027-01-15T10:00:00.000000Z","updated_at":"2027-01-15T10:00:00.000000Z",)"
            R"("agent_id":"agent_beta","workspace_id":"team-b","title":"third"})"
            "\n");

  // Bad values are usage errors that say what is accepted.
  CliRun since = Wakectl(W("sessions ls --since yesterday"), /*and_stderr=*/true);
  EXPECT_EQ(since.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(since.out, "RFC 3339")) << since.out;
  EXPECT_TRUE(absl::StrContains(since.out, "wakectl sessions --help")) << since.out;
  CliRun sort = Wakectl(W("sessions ls --sort size"), /*and_stderr=*/true);
  EXPECT_EQ(sort.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(sort.out, "created, updated, events or status")) << sort.out;
  EXPECT_EQ(Wakectl(W("sessions ls --status sleeping")).exit_code, 2);
  EXPECT_EQ(Wakectl(W("sessions ls --since 1h --until 2h")).exit_code, 2);
  EXPECT_EQ(Wakectl(W("--now tomorrow sessions ls")).exit_code, 2);
}

TEST_F(WakectlTest, SessionsShowGolden) {
  CliRun show = Wakectl(W(absl::StrCat("sessions show ", session_)));
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_EQ(show.out,
            "session   sesn_00000000010000000000000001\n"
            "status    idle\n"
            "title     golden\n"
            "created   2027-01-15T08:00:00.000000Z\n"
            "updated   2027-01-15T08:00:00.000000Z\n"
            "events    6 (last seq 6)\n"
            "  agent.tool_result            1\n"
            "  agent.tool_use               1\n"
            "  session.status_idle          1\n"
            "  session.status_running       1\n"
            "  user.message                 1\n"
            "  wake.tool_started            1\n"
            "tokens    in 0, out 0, cache read 0, cache write 0\n"
            "tools     1 calls, 0 errors, 0 without a result\n"
            "hand      none\n"
            "\n");
  CliRun json = Wakectl(W(absl::StrCat("sessions show ", session_, " --json")));
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(json.out, R"("tool_calls":1,"tool_errors":0,"open_tool_calls":0)")) << json.out;
  CliRun malformed = Wakectl(W("verify sesn_x"), /*and_stderr=*/true);
  EXPECT_EQ(malformed.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(malformed.out, "list them with `wakectl sessions ls`")) << malformed.out;
  CliRun missing = Wakectl(W("sessions show sesn_00000000010000000000000009"), /*and_stderr=*/true);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out,
            "wakectl: session sesn_00000000010000000000000009 does not exist\n"
            "wakectl: list the sessions with `wakectl sessions ls` (and check that --data or --url is the right store)\n");
}

TEST_F(WakectlTest, TailExportAndReplayGolden) {
  const std::string use = FormatId(kEventIdPrefix, Fixed(3));
  CliRun tail = Wakectl(W(absl::StrCat("tail ", session_, " --from 5")));
  EXPECT_EQ(tail.exit_code, 0);
  EXPECT_EQ(tail.out, absl::StrCat("#5     08:00:00.000  agent.tool_result              for ", use, ": a.txt b.txt\n",
                                   "#6     08:00:00.000  session.status_idle            end_turn\n"));
  CliRun exported = Wakectl(W(absl::StrCat("export ", second_)));
  EXPECT_EQ(exported.exit_code, 0);
  EXPECT_EQ(exported.out,
            absl::StrCat(R"({"type":"user.message","id":")", FormatId(kEventIdPrefix, Fixed(21)),
                         R"(","content":[{"type":"text","text":"hello"}],"processed_at":"2027-01-15T09:00:00.000000Z"})", "\n",
                         R"({"type":"session.status_running","id":")", FormatId(kEventIdPrefix, Fixed(22)),
                         R"(","processed_at":"2027-01-15T09:00:00.000000Z"})", "\n",
                         R"({"type":"user.message","id":")", FormatId(kEventIdPrefix, Fixed(23)),
                         R"(","content":[{"type":"text","text":"hello"}],"processed_at":"2027-01-15T10:00:30.000000Z"})", "\n"));
  CliRun replay = Wakectl(W(absl::StrCat("replay ", session_)));
  EXPECT_EQ(replay.exit_code, 0);
  EXPECT_EQ(replay.out,
            "as of #6: nothing: the session is idle, or waits for its client\n"
            "context: 3 messages, 0 tools, ~116 tokens\n");
  CliRun at_use = Wakectl(W(absl::StrCat("replay ", session_, " --to 3")));
  EXPECT_EQ(at_use.out.substr(0, at_use.out.find('\n')), absl::StrCat("as of #3: run tool bash (", use, ")"));
}

TEST_F(WakectlTest, StatsCountsStatusesAndRecentAppends) {
  // As of 10:01:10: the last minute holds second's 10:00:30 append, the hour third's 10:00:00 too.
  CliRun stats = Wakectl(W("--now 2027-01-15T10:01:10Z stats"));
  EXPECT_EQ(stats.exit_code, 0);
  const size_t first_line = stats.out.find('\n');
  EXPECT_TRUE(stats.out.starts_with(absl::StrCat("store      ", data_, ", "))) << stats.out;
  EXPECT_TRUE(stats.out.substr(0, first_line).ends_with(" MiB on disk")) << stats.out;
  EXPECT_EQ(stats.out.substr(first_line + 1),
            "sessions   3\n"
            "  idle                   2\n"
            "  running                1\n"
            "events     10\n"
            "appended   1 in the last minute (0.0167/s), 2 in the last hour (0.000556/s), by processed_at\n");
  // A day later nothing is recent.
  CliRun later = Wakectl(W("--now 2027-01-16T10:00:00Z stats"));
  EXPECT_TRUE(absl::StrContains(later.out, "appended   0 in the last minute (0/s), 0 in the last hour (0/s)")) << later.out;
}

TEST_F(WakectlTest, EveryCommandHasHelpWithExamples) {
  for (const char* command : {"sessions ls", "sessions show", "events", "tail", "export", "import", "fork", "rewind",
                              "verify", "replay", "timeline", "stats", "keys"}) {
    CliRun help = Wakectl(absl::StrCat(command, " --help"));
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_TRUE(help.out.starts_with(absl::StrCat("usage: wakectl ", command))) << help.out;
    EXPECT_TRUE(absl::StrContains(help.out, "\nexamples:\n")) << command;
    EXPECT_TRUE(absl::StrContains(help.out, "--data")) << command << ": says which mode it needs";
    EXPECT_EQ(Wakectl(absl::StrCat("help ", command)).out, help.out) << command;
    EXPECT_EQ(Wakectl(W(absl::StrCat(command, " -h"))).out, help.out) << command;
  }
  EXPECT_TRUE(Wakectl("keys revoke --help").out.starts_with("usage: wakectl keys create")) << "the keys page";
  EXPECT_TRUE(absl::StrContains(Wakectl("sessions --help").out, "usage: wakectl sessions show")) << "both pages";
  CliRun overview = Wakectl("--help");
  EXPECT_EQ(overview.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(overview.out, "exit status:\n  0  success\n  1  an error")) << overview.out;
  EXPECT_TRUE(absl::StrContains(overview.out, "\n  2  a usage error")) << overview.out;
  EXPECT_EQ(Wakectl("help").out, overview.out);
  EXPECT_EQ(Wakectl("help frobnicate").exit_code, 2);
  // Usage errors point at the command's help.
  CliRun typo = Wakectl(W(absl::StrCat("events ", session_, " --tpye agent.tool_use")), /*and_stderr=*/true);
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_EQ(typo.out, "wakectl: unknown flag --tpye\n(run `wakectl events --help` for the usage)\n");
}

TEST_F(WakectlTest, VerifyExitsNonZeroOnFindings) {
  CliRun clean = Wakectl(W("verify --all"));
  EXPECT_EQ(clean.exit_code, 0);
  EXPECT_EQ(clean.out, "");
  {
    testing::RawDb raw(data_);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(raw.Delete(testing::RawDb::kEvents, EventKey(Fixed(1), 5)));  // the tool result
  }
  CliRun damaged = Wakectl(W(absl::StrCat("verify ", session_)));
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(damaged.out, absl::StrCat(session_, " #6 seq_gap: seqs 5..5 are missing"))) << damaged.out;
  EXPECT_TRUE(absl::StrContains(damaged.out, absl::StrCat(session_, " #4 orphan_tool_marker"))) << damaged.out;
}

// Each kind of damage, done on purpose to a closed store, is reported by `verify --all` as its own
// finding: a deleted event, a corrupt value, a dangling blob reference, an orphaned tool marker, and a
// lease its (dead) owner never released.
TEST_F(WakectlTest, VerifyNamesEachDamageDoneOnPurpose) {
  const std::string big = FormatId(kSessionIdPrefix, Fixed(4));
  {
    ManualClock clock(absl::FromUnixSeconds(1'800'000'000) + absl::Hours(3));
    RocksDbSessionLogOptions options;
    options.path = data_;
    options.clock = &clock;
    options.blob_threshold = 1024;
    std::unique_ptr<SessionLog> log = *OpenRocksDbSessionLog(options);
    SessionInfo info;
    info.id = big;
    ASSERT_TRUE(log->CreateSession(info).ok());
    Event large;
    large.id = FormatId(kEventIdPrefix, Fixed(41));
    ContentBlock text;
    text.text = std::string(4000, 'x');  // stored as a blob
    large.content = {text};
    ASSERT_TRUE(log->Append(big, {large}, 1, kNoLease).ok());
    // A worker that took second's lease and died (no such pid) without releasing it.
    ASSERT_TRUE(log->AcquireLease(second_, "waked-2147483647", absl::Seconds(30)).ok());
  }
  EXPECT_EQ(Wakectl(W("--now 2027-01-15T11:00:10Z verify --all")).exit_code, 0) << "the lease has not expired yet";
  {
    testing::RawDb raw(data_);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(raw.Delete(testing::RawDb::kEvents, EventKey(Fixed(1), 2)));                   // a deleted event
    ASSERT_TRUE(raw.Delete(testing::RawDb::kEvents, EventKey(Fixed(1), 5)));                   // the tool's result
    ASSERT_TRUE(raw.Put(testing::RawDb::kEvents, EventKey(Fixed(3), 1), "not an event"));      // a corrupt value
    for (const std::string& key : raw.Keys(testing::RawDb::kBlobs)) {
      ASSERT_TRUE(raw.Delete(testing::RawDb::kBlobs, key));                                     // a dangling ref
    }
  }
  CliRun damaged = Wakectl(W("--now 2027-01-15T11:05:00Z verify --all"));
  EXPECT_EQ(damaged.exit_code, 1);
  const std::string use = FormatId(kEventIdPrefix, Fixed(3));
  std::vector<std::string> lines = absl::StrSplit(damaged.out, '\n', absl::SkipEmpty());
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{
                       absl::StrCat(session_, " #3 seq_gap: seqs 2..2 are missing"),
                       absl::StrCat(session_, " #4 orphan_tool_marker: tool use ", use,
                                    " started but has no result (a worker stopped mid-call; the next wake settles it)"),
                       absl::StrCat(session_, " #6 seq_gap: seqs 5..5 are missing"),
                       absl::StrCat(second_, " stale_lease: lease epoch 1 of waked-2147483647 expired at 2027-01-15 "
                                             "11:00:30 UTC (4m30s ago) and was never released; waked-2147483647 no longer "
                                             "runs on this host: its worker stopped mid-wake; a running engine takes the "
                                             "session over, or start waked"),
                       absl::StrCat(third_, " #1 undecodable_event: event record of 12 bytes is not a whole number "
                                            "of 8-byte words"),
                       absl::StrCat(big, " #1 dangling_blob: blob 91c9568c40c8d8d1f7a1bd029d124994b3c2a8750c4e4b328ee9b1cf"
                                         "81151d85 is referenced but missing")}))
      << damaged.out;
}

TEST_F(WakectlTest, VerifyDrawsAProgressBarAndReportsItsRate) {
  CliRun run = Wakectl(W("verify --all --progress"), /*and_stderr=*/true);
  EXPECT_EQ(run.exit_code, 0);
  // The final state of the bar (drawn over with \r while it moves), then the summary.
  const size_t bar = run.out.rfind("\rverify [");
  ASSERT_NE(bar, std::string::npos) << run.out;
  EXPECT_TRUE(run.out.substr(bar).starts_with("\rverify [##############################] 100%  10/10 events  ")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out.substr(bar), "/s  done")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "\nverify: 3 sessions, 10 events, 0 blob refs in ")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, " events/s): 0 findings\n")) << run.out;
  EXPECT_FALSE(absl::StrContains(Wakectl(W("verify --all"), /*and_stderr=*/true).out, "verify [")) << "not a terminal";
}

// The reading commands run beside a writer that holds the store (as waked does) and see what it
// appended a moment before, unflushed.
TEST_F(WakectlTest, ReadsSeeTheRunningWritersLatestAppends) {
  RocksDbSessionLogOptions options;
  options.path = data_;
  absl::StatusOr<std::unique_ptr<SessionLog>> writer = OpenRocksDbSessionLog(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  Event more;
  more.id = FormatId(kEventIdPrefix, Fixed(32));
  ContentBlock text;
  text.text = "appended while wakectl reads";
  more.content = {text};
  ASSERT_TRUE((*writer)->Append(third_, {more}, 2, kNoLease).ok());

  CliRun ls = Wakectl(W("sessions ls --agent agent_beta --json"));
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(ls.out, R"("events":2,)")) << ls.out;
  CliRun events = Wakectl(W(absl::StrCat("events ", third_, " --from 2")));
  EXPECT_TRUE(absl::StrContains(events.out, "#2 ")) << events.out;
  EXPECT_TRUE(absl::StrContains(events.out, "appended while wakectl reads")) << events.out;
  EXPECT_TRUE(absl::StrContains(Wakectl(W("stats")).out, "events     11\n"));
  EXPECT_EQ(Wakectl(W("verify --all")).exit_code, 0);
  EXPECT_EQ(Wakectl(W(absl::StrCat("fork ", third_, " --at 1"))).exit_code, 1) << "writing needs the writer stopped";
}

TEST_F(WakectlTest, RewindAndForkGolden) {
  const std::string use = FormatId(kEventIdPrefix, Fixed(3));
  CliRun rewind = Wakectl(W(absl::StrCat("rewind ", session_, " --to 3")));
  EXPECT_EQ(rewind.exit_code, 0);
  EXPECT_EQ(rewind.out, absl::StrCat(session_, " continues from #3 (marker #7)\n"));  // and #8 status_running
  CliRun replay = Wakectl(W(absl::StrCat("replay ", session_)));
  EXPECT_EQ(replay.out.substr(0, replay.out.find('\n')), absl::StrCat("as of #8: run tool bash (", use, ")"));
  EXPECT_EQ(Wakectl(W(absl::StrCat("verify ", session_))).exit_code, 0) << "the rewound turn is set aside";
  EXPECT_EQ(Wakectl(W(absl::StrCat("rewind ", session_, " --to 99"))).exit_code, 1);

  CliRun fork = Wakectl(W(absl::StrCat("fork ", second_, " --at 2")));
  ASSERT_EQ(fork.exit_code, 0);
  const std::string forked = fork.out.substr(0, fork.out.find('\n'));
  EXPECT_TRUE(forked.starts_with("sesn_") && forked != second_) << fork.out;
  CliRun lines = Wakectl(W(absl::StrCat("events ", forked, " --json")));
  CliRun original = Wakectl(W(absl::StrCat("events ", second_, " --to 2 --json")));
  EXPECT_EQ(lines.out, original.out);
  EXPECT_EQ(Wakectl(W(absl::StrCat("replay ", forked))).out.substr(0, 22), "as of #2: call the mod");
}

TEST_F(WakectlTest, ReplayExportImportAndFork) {
  CliRun replay = Wakectl(W(absl::StrCat("replay ", session_, " --to 3 --print-context")));
  EXPECT_EQ(replay.exit_code, 0);
  EXPECT_EQ(replay.out.substr(0, replay.out.find('\n')),
            absl::StrCat("as of #3: run tool bash (", FormatId(kEventIdPrefix, Fixed(3)), ")"));
  EXPECT_TRUE(absl::StrContains(replay.out, R"("messages":[{"role":"user")")) << replay.out;

  const std::string file = dir_ + "/s.jsonl";
  ASSERT_EQ(Wakectl(W(absl::StrCat("export ", session_, " --out ", file))).exit_code, 0);
  CliRun imported = Wakectl(W(absl::StrCat("import ", file)));
  ASSERT_EQ(imported.exit_code, 0);
  const std::string copy = imported.out.substr(0, imported.out.find('\n'));
  CliRun again = Wakectl(W(absl::StrCat("export ", copy)));
  std::ifstream in(file);
  std::stringstream first;
  first << in.rdbuf();
  EXPECT_EQ(again.out, first.str());

  CliRun fork = Wakectl(W(absl::StrCat("fork ", session_, " --at 2")));
  ASSERT_EQ(fork.exit_code, 0);
  const std::string forked = fork.out.substr(0, fork.out.find('\n'));
  const std::string lines = Wakectl(W(absl::StrCat("events ", forked))).out;
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 2) << lines;
}

TEST_F(WakectlTest, TimelineWritesAnSvgOrHtmlPicture) {
  const std::string svg = dir_ + "/t.svg";
  ASSERT_EQ(Wakectl(W(absl::StrCat("timeline ", session_, " --svg ", svg))).exit_code, 0);
  std::ifstream in(svg);
  const std::string picture((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(absl::StartsWith(picture, "<svg ")) << picture.substr(0, 100);
  EXPECT_TRUE(absl::StrContains(picture, "bash: ")) << "the tool run is drawn with its result";
  EXPECT_TRUE(absl::StrContains(picture, "turn 1"));
  const std::string html = dir_ + "/t.html";
  ASSERT_EQ(Wakectl(W(absl::StrCat("timeline ", session_, " --html ", html, " --width 800"))).exit_code, 0);
  std::ifstream html_in(html);
  std::string first;
  std::getline(html_in, first);
  EXPECT_EQ(first, "<!doctype html>");
  EXPECT_EQ(Wakectl(W(absl::StrCat("timeline ", session_))).exit_code, 2) << "needs --svg or --html";
  EXPECT_EQ(Wakectl(W(absl::StrCat("timeline ", session_, " --svg ", svg, " --width 10"))).exit_code, 2);
  EXPECT_EQ(Wakectl(W(absl::StrCat("timeline sesn_01M8283G3YJK1CPHJVGZYVQ6XJ --svg ", svg))).exit_code, 1);
}

// The picture of a fixed session is byte-stable: the same file on every run, and the same over a
// copy made by export and import (it depends on the events, not on the store).
TEST_F(WakectlTest, TimelineIsByteStable) {
  auto picture = [&](const std::string& session, const std::string& name) {
    const std::string path = absl::StrCat(dir_, "/", name);
    EXPECT_EQ(Wakectl(W(absl::StrCat("timeline ", session, " --svg ", path))).exit_code, 0);
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string first = picture(session_, "a.svg");
  EXPECT_EQ(picture(session_, "b.svg"), first);
  const std::string file = dir_ + "/s.jsonl";
  ASSERT_EQ(Wakectl(W(absl::StrCat("export ", session_, " --out ", file))).exit_code, 0);
  CliRun imported = Wakectl(W(absl::StrCat("import ", file)));
  ASSERT_EQ(imported.exit_code, 0);
  const std::string copy = imported.out.substr(0, imported.out.find('\n'));
  std::string expected = first;
  for (size_t at = expected.find(session_); at != std::string::npos; at = expected.find(session_, at + 1)) {
    expected.replace(at, session_.size(), copy);
  }
  EXPECT_EQ(picture(copy, "c.svg"), expected);
}

TEST_F(WakectlTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Wakectl("").exit_code, 2);
  EXPECT_EQ(Wakectl(W("frobnicate")).exit_code, 2);
  EXPECT_EQ(Wakectl(W("verify")).exit_code, 2);
  EXPECT_EQ(Wakectl(W(absl::StrCat("events ", session_, " --type no.such"))).exit_code, 2);
  EXPECT_EQ(Wakectl(W("fork x")).exit_code, 2);
  CliRun help = Wakectl("help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(help.out, "replay ID"));
  EXPECT_EQ(Wakectl("--data /nonexistent/store sessions ls").exit_code, 1);
}

// keys: made, listed and revoked through wakectl while a writer holds the store (as waked does),
// and checked with the ApiKeyStore waked uses.
TEST_F(WakectlTest, KeysCreateListAndRevoke) {
  RocksDbSessionLogOptions writer_options;
  writer_options.path = data_;
  absl::StatusOr<std::unique_ptr<SessionLog>> writer = OpenRocksDbSessionLog(writer_options);
  ASSERT_TRUE(writer.ok()) << writer.status();

  CliRun created = Wakectl(W("keys create --name ci --workspace team-a"));
  ASSERT_EQ(created.exit_code, 0);
  std::vector<std::string> lines = absl::StrSplit(created.out, '\n');
  ASSERT_EQ(lines.size(), 4u) << created.out;  // three lines and the end
  const std::string key = lines[0];
  EXPECT_TRUE(key.starts_with("sk-wake-")) << created.out;
  EXPECT_TRUE(lines[1].starts_with("created key_")) << created.out;
  EXPECT_TRUE(absl::StrContains(lines[1], "workspace team-a")) << created.out;
  EXPECT_TRUE(absl::StrContains(lines[2], "will not be shown again")) << created.out;

  ApiKeyStoreOptions store_options;
  store_options.data_dir = data_;
  ApiKeyStore store(store_options);
  absl::StatusOr<ApiKeyIdentity> who = store.Check(key);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->workspace_id, "team-a");
  EXPECT_TRUE(absl::StrContains(lines[1], who->key_id)) << created.out;
  ASSERT_EQ(Wakectl(W("keys create")).exit_code, 0);  // unnamed, workspace "default"
  absl::StatusOr<std::vector<ApiKeyRecord>> records = store.List();
  ASSERT_TRUE(records.ok() && records->size() == 2u);

  CliRun ls = Wakectl(W("keys ls"));
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_EQ(std::count(ls.out.begin(), ls.out.end(), '\n'), 3) << ls.out;
  EXPECT_TRUE(ls.out.starts_with("ID ")) << ls.out;
  EXPECT_TRUE(absl::StrContains(ls.out, absl::StrCat(who->key_id, " ci"))) << ls.out;
  EXPECT_TRUE(absl::StrContains(ls.out, " team-a ")) << ls.out;
  EXPECT_TRUE(absl::StrContains(ls.out, " default ")) << ls.out;
  for (const ApiKeyRecord& r : *records) EXPECT_FALSE(absl::StrContains(ls.out, r.sha256_hex)) << ls.out;
  EXPECT_FALSE(absl::StrContains(ls.out, key)) << ls.out;

  CliRun revoke = Wakectl(W(absl::StrCat("keys revoke ", who->key_id)));
  EXPECT_EQ(revoke.exit_code, 0);
  EXPECT_TRUE(revoke.out.starts_with(absl::StrCat(who->key_id, " (name \"ci\") is revoked since "))) << revoke.out;
  EXPECT_TRUE(absl::StrContains(store.Check(key).status().message(), "was revoked")) << store.Check(key).status();
  EXPECT_EQ(Wakectl(W(absl::StrCat("keys revoke ", who->key_id))).exit_code, 0);  // changes nothing

  CliRun json = Wakectl(W("keys ls --json"));
  EXPECT_EQ(json.exit_code, 0);
  std::vector<std::string> rows = absl::StrSplit(json.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(rows.size(), 2u) << json.out;
  EXPECT_TRUE(rows[0].starts_with(absl::StrCat(R"({"id":")", who->key_id, R"(","name":"ci","workspace_id":"team-a","created_at":")")))
      << rows[0];
  EXPECT_FALSE(absl::StrContains(rows[0], R"("revoked_at":null)")) << rows[0];
  EXPECT_TRUE(absl::StrContains(rows[1], R"("name":"","workspace_id":"default")")) << rows[1];
  EXPECT_TRUE(absl::StrContains(rows[1], R"("revoked_at":null})")) << rows[1];
}

TEST_F(WakectlTest, KeysErrorsAndUsage) {
  EXPECT_EQ(Wakectl(W("keys")).exit_code, 2);
  EXPECT_EQ(Wakectl(W("keys rotate")).exit_code, 2);
  EXPECT_EQ(Wakectl(W("keys revoke")).exit_code, 2);
  EXPECT_EQ(Wakectl(W("keys create --name")).exit_code, 2);
  EXPECT_EQ(Wakectl(W("keys revoke key_01M8283KKK3HDJS2D1YMHMDV2E")).exit_code, 1);  // no such key
  EXPECT_EQ(Wakectl(W("keys create --workspace 'a b'")).exit_code, 1);
  EXPECT_EQ(Wakectl("--data /nonexistent/store keys ls").exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(data_ + "/api_keys"));  // nothing was written
  EXPECT_TRUE(absl::StrContains(Wakectl("help").out, "keys create"));
}

}  // namespace
}  // namespace wake
