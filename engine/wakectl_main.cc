// wakectl: look into a wake session store, and repair or reshape sessions, from the command line.
//
// It works on a data dir directly: reads open the store beside a running writer (a RocksDB read-only
// or follower instance, so this is safe while waked runs); commands that write (import, fork) need
// the writer stopped. `keys` manages waked's API keys (the data dir's api_keys file, not RocksDB),
// also while waked runs. Run `wakectl help` for the commands.
//
// Exit status: 0 success; 1 an error, or `verify` found something; 2 a usage error.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "harness/context_builder.h"
#include "base/strings.h"
#include "client/client.h"
#include "client/remote_session_log.h"
#include "inspect/log_check.h"
#include "inspect/replay.h"
#include "inspect/session_report.h"
#include "inspect/timeline.h"
#include "inspect/transfer.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "storage/api_key_store.h"
#include "storage/rocksdb_session_log.h"
#include "storage/store_check.h"

// Like ASSIGN_OR_RETURN, for the commands, which return an exit status: an error is printed and
// the command exits 1.
#define ASSIGN_OR_RETURN_INT(lhs, expr) \
  WAKECTL_ASSIGN_OR_FAIL_(WAKE_CONCAT_(wakectl_statusor_, __LINE__), lhs, expr)
#define WAKECTL_ASSIGN_OR_FAIL_(tmp, lhs, expr) \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return Fail(tmp.status());     \
  lhs = std::move(tmp).value()

namespace wake {
namespace {

constexpr char kUsage[] = R"(wakectl: inspect and repair wake sessions

usage: wakectl [--data DIR | --url URL [--api-key KEY]] COMMAND [ARGS]

  --data DIR     the session store (default: $WAKE_DATA, else ./data); reads are safe beside a
                 running waked
  --url URL      a running waked instead (default: $WAKE_URL), with --api-key KEY (default:
                 $WAKE_API_KEY): sessions, events, tail, export, timeline, replay and verify's log
                 checks work over its API; what changes the store (import, fork, rewind, keys) and
                 store-level checks need --data. Over the API, wake's own timings (time to first
                 token, provisioning time) are not shown: the Managed Agents shapes do not carry them

commands:
  sessions ls [--status S] [--workspace W] [--limit N] [--json]
                 list sessions, oldest first
  sessions show ID [--json]
                 metadata, events by type, tokens, model requests with time to first token,
                 tool calls, hand state, lease, last error
  events ID [--from SEQ] [--to SEQ] [--type TYPE]... [--json]
                 the session's events, one per line (--json: Managed Agents JSON lines)
  tail ID [-f] [--from SEQ]
                 the last events; -f keeps following new appends (Ctrl-C stops)
  export ID [--out FILE]
                 the session as JSONL (Managed Agents event shapes; secrets stay masked)
  import FILE [--title TITLE]
                 a new session from a JSONL export (needs the writer stopped)
  fork ID --at SEQ
                 a new session whose log is events 1..SEQ of ID (needs the writer stopped)
  rewind ID --to SEQ
                 the session continues from event SEQ: later events stay in the log for audit but
                 no longer count; a running engine picks it up on its next start (needs the
                 writer stopped)
  verify [ID | --all]
                 integrity report: seq gaps, undecodable events, missing blobs, tool markers
                 without results, results without calls; exit status 1 on any finding
  replay ID [--to SEQ] [--print-context] [--agent FILE] [--against RECORDING]
                 what a harness waking at SEQ would do next, without calling any model or hand;
                 --print-context prints the exact model context it would build (canonical JSON);
                 --agent FILE supplies the agent (model, system, tools) as JSON;
                 --against RECORDING re-runs the harness (no model, no hand) with the model turns
                 and tool results of RECORDING (a JSONL export) and checks that it reproduces the
                 session's log: exit 1 and the first difference when it does not
  timeline ID (--svg FILE | --html FILE) [--width PX]
                 a picture of the session over time: turns, model requests with their time to
                 first token, tool runs per hand, hand provisioning, client events, errors
  stats          store size, sessions by status
  keys create [--name NAME] [--workspace W]
                 a new API key for waked (workspace W, default "default"): prints it once; wake
                 keeps only its SHA-256. waked accepts it at once, no restart
  keys ls [--json]
                 the API keys: id, name, workspace, created, revoked
  keys revoke ID
                 waked refuses key ID from its next request on (revoking twice changes nothing)

examples:
  wakectl sessions ls --status running
  wakectl events sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --type agent.tool_use --type agent.tool_result
  wakectl replay sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --to 12 --print-context
  wakectl export sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --out s.jsonl && wakectl import s.jsonl
  wakectl --data /var/lib/wake keys create --name ci
)";

struct UsageError {
  std::string message;
};

// The command line after the global flags: positional words and --flags.
class Args {
 public:
  Args(std::vector<std::string> words) : words_(std::move(words)) {}

  std::optional<std::string> Positional() {
    for (size_t i = 0; i < words_.size(); ++i) {
      if (words_[i].substr(0, 1) == "-" && words_[i] != "-") {
        if (TakesValue(words_[i])) ++i;
        continue;
      }
      std::string value = words_[i];
      words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(i));
      return value;
    }
    return std::nullopt;
  }
  std::string Need(std::string_view what) {
    std::optional<std::string> value = Positional();
    if (!value) throw UsageError{absl::StrCat("missing ", std::string(what))};
    return *value;
  }
  bool Flag(std::string_view name) { return Remove(name).has_value(); }
  std::optional<std::string> Value(std::string_view name) {
    std::optional<size_t> at = Find(name);
    if (!at) return std::nullopt;
    if (*at + 1 >= words_.size()) throw UsageError{absl::StrCat(std::string(name), " needs a value")};
    std::string value = words_[*at + 1];
    words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(*at), words_.begin() + static_cast<std::ptrdiff_t>(*at) + 2);
    return value;
  }
  std::vector<std::string> Values(std::string_view name) {
    std::vector<std::string> values;
    while (std::optional<std::string> v = Value(name)) values.push_back(*v);
    return values;
  }
  uint64_t Number(std::string_view name, uint64_t fallback) {
    std::optional<std::string> value = Value(name);
    if (!value) return fallback;
    uint64_t n = 0;
    if (!absl::SimpleAtoi(*value, &n)) throw UsageError{absl::StrCat(std::string(name), " needs a number, not ", *value)};
    return n;
  }
  // Everything must have been consumed.
  void Done() {
    if (!words_.empty()) throw UsageError{absl::StrCat("unexpected argument ", words_.front())};
  }

 private:
  static bool TakesValue(std::string_view flag) {
    return flag == "--status" || flag == "--workspace" || flag == "--limit" || flag == "--from" || flag == "--to" ||
           flag == "--type" || flag == "--out" || flag == "--title" || flag == "--at" || flag == "--agent" ||
           flag == "--against" || flag == "--svg" || flag == "--html" || flag == "--width" || flag == "--name";
  }
  std::optional<size_t> Find(std::string_view name) const {
    for (size_t i = 0; i < words_.size(); ++i) {
      if (words_[i] == name) return i;
    }
    return std::nullopt;
  }
  std::optional<size_t> Remove(std::string_view name) {
    std::optional<size_t> at = Find(name);
    if (at) words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(*at));
    return at;
  }

  std::vector<std::string> words_;
};

int Fail(const absl::Status& status) {
  std::cerr << "wakectl: " << status.message() << "\n";
  if (absl::IsUnavailable(status) && absl::StrContains(status.message(), "lock")) {
    std::cerr << "wakectl: the store is held by a running writer (waked?): stop it for commands that write\n";
  }
  return 1;
}

class Wakectl {
 public:
  // With `remote`, commands read from that waked over its API instead of a data dir.
  Wakectl(std::string data_dir, std::optional<Client> remote) : data_dir_(std::move(data_dir)), remote_(std::move(remote)) {}

  int Run(const std::string& command, Args& args) {
    if (command == "sessions") {
      const std::string sub = args.Need("a sessions command (ls or show)");
      if (sub == "ls") return SessionsLs(args);
      if (sub == "show") return SessionsShow(args);
      throw UsageError{absl::StrCat("unknown sessions command ", sub)};
    }
    if (command == "events") return Events(args);
    if (command == "tail") return Tail(args);
    if (command == "export") return Export(args);
    if (command == "import") return Import(args);
    if (command == "fork") return Fork(args);
    if (command == "rewind") return Rewind(args);
    if (command == "verify") return Verify(args);
    if (command == "replay") return Replay(args);
    if (command == "stats" || command == "keys") {
      if (absl::Status store = NeedsStore(command); !store.ok()) return Fail(store);
    }
    if (command == "stats") return Stats(args);
    if (command == "timeline") return TimelineCommand(args);
    if (command == "keys") {
      const std::string sub = args.Need("a keys command (create, ls or revoke)");
      if (sub == "create") return KeysCreate(args);
      if (sub == "ls") return KeysLs(args);
      if (sub == "revoke") return KeysRevoke(args);
      throw UsageError{absl::StrCat("unknown keys command ", sub)};
    }
    throw UsageError{absl::StrCat("unknown command ", command)};
  }

 private:
  // Reads see the writer's latest appends (a follower instance with its own scratch dir).
  absl::StatusOr<std::unique_ptr<SessionLog>> OpenForReading() {
    if (remote_) return NewRemoteSessionLog(*remote_);
    RocksDbSessionLogOptions options;
    options.path = data_dir_;
    options.access = StoreAccess::kFollow;
    options.follow_dir = absl::StrCat(std::filesystem::temp_directory_path().string(), "/wakectl-follow-", ::getpid());
    follow_dir_ = options.follow_dir;
    if (!std::filesystem::exists(std::filesystem::path(data_dir_) / "CURRENT")) {
      return absl::NotFoundError(absl::StrCat("no session store at ", data_dir_, " (use --data DIR)"));
    }
    return OpenRocksDbSessionLog(options);
  }
  absl::StatusOr<std::unique_ptr<SessionLog>> OpenForWriting() {
    RETURN_IF_ERROR(NeedsStore("writing to the store"));
    RocksDbSessionLogOptions options;
    options.path = data_dir_;
    return OpenRocksDbSessionLog(options);
  }

 public:
  ~Wakectl() {
    if (!follow_dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(follow_dir_, ignored);
    }
  }

 private:
  int SessionsLs(Args& args) {
    ListSessionsOptions list;
    list.status = args.Value("--status").value_or("");
    list.workspace_id = args.Value("--workspace").value_or("");
    const uint64_t limit = args.Number("--limit", 1000);
    const bool json = args.Flag("--json");
    args.Done();
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    if (!json) std::printf("%-31s %-11s %8s  %-24s %s\n", "ID", "STATUS", "EVENTS", "UPDATED", "TITLE");
    uint64_t shown = 0;
    while (shown < limit) {
      list.limit = std::min<uint64_t>(limit - shown, 1000);
      ASSIGN_OR_RETURN_INT(SessionPage page, log->ListSessions(list));
      for (const SessionInfo& s : page.sessions) {
        if (json) {
          std::string line = absl::StrCat("{\"id\":\"", s.id, "\",\"status\":\"", s.status, "\",\"events\":", s.next_seq - 1,
                                          ",\"updated_at\":\"", FormatRfc3339(s.updated_at), "\",\"title\":");
          AppendJsonString(line, s.title);
          std::printf("%s}\n", line.c_str());
        } else {
          std::printf("%-31s %-11s %8llu  %-24s %s\n", s.id.c_str(),
                      (s.status + (s.archived_at ? "*" : "")).c_str(), static_cast<unsigned long long>(s.next_seq - 1),
                      absl::FormatTime("%Y-%m-%d %H:%M:%S", s.updated_at, absl::UTCTimeZone()).c_str(), s.title.c_str());
        }
        ++shown;
      }
      if (page.next_cursor.empty()) break;
      list.after_session_id = page.next_cursor;
    }
    return 0;
  }

  int SessionsShow(Args& args) {
    const std::string id = args.Need("a session id");
    const bool json = args.Flag("--json");
    args.Done();
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    ASSIGN_OR_RETURN_INT(SessionInfo info, log->GetSession(id));
    ASSIGN_OR_RETURN_INT(std::vector<Event> events, log->Read(id));
    std::optional<Lease> lease;
    if (absl::StatusOr<Lease> l = log->GetLease(id); l.ok()) lease = *l;
    SessionReport report = SummarizeSession(info, events, lease);
    std::printf("%s\n", json ? SessionReportJson(report).c_str() : FormatSessionReport(report, absl::Now()).c_str());
    return 0;
  }

  static void Print(const std::vector<Event>& events, bool json, bool color) {
    for (const Event& e : events) {
      std::printf("%s\n", json ? EncodeEventJson(e).c_str() : FormatEventLine(e, color).c_str());
    }
    std::fflush(stdout);
  }

  static std::vector<EventType> Types(const std::vector<std::string>& names) {
    std::vector<EventType> types;
    for (const std::string& name : names) {
      std::optional<EventType> type = EventTypeFromName(name);
      if (!type) throw UsageError{absl::StrCat("unknown event type ", name)};
      types.push_back(*type);
    }
    return types;
  }

  int Events(Args& args) {
    const std::string id = args.Need("a session id");
    ReadOptions read;
    read.from_seq = args.Number("--from", 1);
    const uint64_t to = args.Number("--to", UINT64_MAX);
    read.types = Types(args.Values("--type"));
    const bool json = args.Flag("--json");
    args.Done();
    if (to < read.from_seq) throw UsageError{"--to is before --from"};
    if (to != UINT64_MAX) read.limit = to - read.from_seq + 1;
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    ASSIGN_OR_RETURN_INT(std::vector<Event> events, log->Read(id, read));
    std::vector<Event> shown;
    for (Event& e : events) {
      if (e.seq <= to) shown.push_back(std::move(e));
    }
    Print(shown, json, !json && ::isatty(STDOUT_FILENO));
    return 0;
  }

  int Tail(Args& args) {
    const std::string id = args.Need("a session id");
    const bool follow = args.Flag("-f");
    std::optional<std::string> from = args.Value("--from");
    const bool json = args.Flag("--json");
    args.Done();
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    ASSIGN_OR_RETURN_INT(SessionInfo info, log->GetSession(id));
    uint64_t next = info.next_seq > 10 ? info.next_seq - 10 : 1;
    if (from && !absl::SimpleAtoi(*from, &next)) throw UsageError{"--from needs a number"};
    const bool color = !json && ::isatty(STDOUT_FILENO);
    while (true) {
      ReadOptions read;
      read.from_seq = next;
      ASSIGN_OR_RETURN_INT(std::vector<Event> events, log->Read(id, read));
      Print(events, json, color);
      if (!events.empty()) next = events.back().seq + 1;
      if (!follow) return 0;
      // A follower sees the writer's appends only by asking; 200 ms keeps a terminal live and cheap.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  int Export(Args& args) {
    const std::string id = args.Need("a session id");
    std::optional<std::string> out_path = args.Value("--out");
    args.Done();
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    std::ofstream file;
    if (out_path) {
      file.open(*out_path, std::ios::binary | std::ios::trunc);
      if (!file) return Fail(absl::NotFoundError(absl::StrCat("cannot write ", *out_path)));
    }
    ASSIGN_OR_RETURN_INT(uint64_t n, ExportSession(*log, id, out_path ? static_cast<std::ostream&>(file) : std::cout));
    if (out_path) std::fprintf(stderr, "exported %llu events of %s to %s\n", static_cast<unsigned long long>(n), id.c_str(), out_path->c_str());
    return 0;
  }

  int TimelineCommand(Args& args) {
    const std::string id = args.Need("a session id");
    std::optional<std::string> svg = args.Value("--svg");
    std::optional<std::string> html = args.Value("--html");
    const uint64_t width = args.Number("--width", 1200);
    args.Done();
    if (svg.has_value() == html.has_value()) throw UsageError{"timeline needs one of --svg FILE or --html FILE"};
    if (width < 400 || width > 20000) throw UsageError{"--width must be between 400 and 20000 pixels"};
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    ASSIGN_OR_RETURN_INT(std::vector<Event> events, log->Read(id));
    const Timeline timeline = BuildTimeline(id, events);
    const std::string picture = svg ? RenderTimelineSvg(timeline, static_cast<int>(width))
                                    : RenderTimelineHtml(timeline, static_cast<int>(width));
    const std::string& path = svg ? *svg : *html;
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    if (!file || !file.write(picture.data(), static_cast<std::streamsize>(picture.size())) || !file.flush()) {
      return Fail(absl::UnavailableError(absl::StrCat("cannot write ", path)));
    }
    size_t spans = 0;
    for (const TimelineLane& lane : timeline.lanes) spans += lane.spans.size();
    std::fprintf(stderr, "wrote the timeline of %s (%zu events, %zu lanes, %zu bars) to %s\n", id.c_str(),
                 events.size(), timeline.lanes.size(), spans, path.c_str());
    return 0;
  }

  int Import(Args& args) {
    const std::string path = args.Need("a JSONL file");
    std::optional<std::string> title = args.Value("--title");
    args.Done();
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(absl::NotFoundError(absl::StrCat("cannot read ", path)));
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForWriting());
    SessionInfo info;
    info.title = title.value_or(absl::StrCat("imported from ", path));
    ASSIGN_OR_RETURN_INT(std::string id, ImportSession(*log, in, info));
    std::printf("%s\n", id.c_str());
    return 0;
  }

  int Fork(Args& args) {
    const std::string id = args.Need("a session id");
    const uint64_t at = args.Number("--at", 0);
    args.Done();
    if (at == 0) throw UsageError{"fork needs --at SEQ (1 or more)"};
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForWriting());
    ASSIGN_OR_RETURN_INT(std::string fork, ForkSession(*log, id, at));
    std::printf("%s\n", fork.c_str());
    return 0;
  }

  int Rewind(Args& args) {
    const std::string id = args.Need("a session id");
    const uint64_t to = args.Number("--to", 0);
    args.Done();
    if (to == 0) throw UsageError{"rewind needs --to SEQ (1 or more)"};
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForWriting());
    ASSIGN_OR_RETURN_INT(uint64_t marker, RewindSession(*log, id, to));
    std::printf("%s continues from #%llu (marker #%llu)\n", id.c_str(), static_cast<unsigned long long>(to),
                static_cast<unsigned long long>(marker));
    return 0;
  }

  int Verify(Args& args) {
    const bool all = args.Flag("--all");
    std::optional<std::string> id = args.Positional();
    args.Done();
    if (all == id.has_value()) throw UsageError{"verify needs a session id or --all"};
    if (remote_) return VerifyOverApi(id);
    const bool tty = ::isatty(STDERR_FILENO);
    StoreCheckOptions options;
    options.session_id = id.value_or("");
    std::vector<Finding> findings;
    options.on_session_events = [&](const std::string& session, const std::vector<Event>& events) {
      for (Finding& f : CheckSessionEvents(session, events)) findings.push_back(std::move(f));
    };
    const absl::Time start = absl::Now();
    options.progress = [&](uint64_t scanned) {
      if (!tty) return;
      const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
      std::fprintf(stderr, "\rverify: %llu events scanned (%.0f/s)", static_cast<unsigned long long>(scanned),
                   seconds > 0 ? static_cast<double>(scanned) / seconds : 0.0);
    };
    ASSIGN_OR_RETURN_INT(StoreCheckReport report, CheckSessionStore(data_dir_, options));
    if (tty) std::fprintf(stderr, "\n");
    for (const StoreFinding& f : report.findings) findings.push_back(Finding{f.session_id, f.seq, f.kind, f.detail});
    for (const Finding& f : findings) std::printf("%s\n", FormatFinding(f).c_str());
    const double seconds = absl::ToDoubleSeconds(report.took);
    std::fprintf(stderr, "verify: %llu sessions, %llu events, %llu blob refs in %.2f s (%.0f events/s): %zu finding%s\n",
                 static_cast<unsigned long long>(report.sessions), static_cast<unsigned long long>(report.events),
                 static_cast<unsigned long long>(report.blob_refs), seconds,
                 seconds > 0 ? static_cast<double>(report.events) / seconds : 0.0, findings.size(),
                 findings.size() == 1 ? "" : "s");
    return findings.empty() ? 0 : 1;
  }

  // Over --url only the log-level checks run (what the events say); the store-level ones (seq gaps on
  // disk, undecodable records, missing blobs) need --data.
  int VerifyOverApi(const std::optional<std::string>& id) {
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    std::vector<std::string> ids;
    if (id) {
      ids.push_back(*id);
    } else {
      ListSessionsOptions list;
      list.limit = 1000;
      while (true) {
        ASSIGN_OR_RETURN_INT(SessionPage page, log->ListSessions(list));
        for (const SessionInfo& s : page.sessions) ids.push_back(s.id);
        if (page.next_cursor.empty()) break;
        list.after_session_id = page.next_cursor;
      }
    }
    std::vector<Finding> findings;
    uint64_t events = 0;
    for (const std::string& session : ids) {
      ASSIGN_OR_RETURN_INT(std::vector<Event> log_events, log->Read(session));
      events += log_events.size();
      for (Finding& f : CheckSessionEvents(session, log_events)) findings.push_back(std::move(f));
    }
    for (const Finding& f : findings) std::printf("%s\n", FormatFinding(f).c_str());
    std::fprintf(stderr, "verify (over the API: log checks only; store checks need --data): %zu sessions, %llu events: %zu finding%s\n",
                 ids.size(), static_cast<unsigned long long>(events), findings.size(), findings.size() == 1 ? "" : "s");
    return findings.empty() ? 0 : 1;
  }

  int Replay(Args& args) {
    const std::string id = args.Need("a session id");
    const uint64_t to = args.Number("--to", 0);
    const bool print_context = args.Flag("--print-context");
    std::optional<std::string> agent_path = args.Value("--agent");
    std::optional<std::string> against = args.Value("--against");
    args.Done();
    AgentConfig agent;
    agent.model = "(replay)";
    if (agent_path) {
      std::ifstream in(*agent_path);
      if (!in) return Fail(absl::NotFoundError(absl::StrCat("cannot read ", *agent_path)));
      std::stringstream text;
      text << in.rdbuf();
      ASSIGN_OR_RETURN_INT(agent, ParseAgentConfigJson(text.str()));
    }
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    ASSIGN_OR_RETURN_INT(std::vector<Event> events, log->Read(id));
    if (against) return CheckReplay(id, events, *against, agent);
    ReplayResult result = ReplaySession(events, agent, to);
    std::printf("as of #%llu: %s\n", static_cast<unsigned long long>(result.as_of_seq),
                DescribeNextAction(result.action).c_str());
    std::printf("context: %zu messages, %zu tools, ~%zu tokens\n", result.request.messages.size(),
                result.request.tools.size(), EncodeModelRequestJson(result.request).size() / 4);
    if (print_context) std::printf("%s\n", EncodeModelRequestJson(result.request).c_str());
    return 0;
  }

  // replay --against: the harness re-run on a scratch store with FILE's recorded responses.
  int CheckReplay(const std::string& id, const std::vector<Event>& events, const std::string& path,
                  const AgentConfig& agent) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(absl::NotFoundError(absl::StrCat("cannot read ", path)));
    std::vector<Event> responses;
    std::string line;
    for (size_t number = 1; std::getline(in, line); ++number) {
      if (line.empty()) continue;
      absl::StatusOr<Event> e = DecodeEventJson(line);
      if (!e.ok()) return Fail(absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": ", e.status().message())));
      responses.push_back(*std::move(e));
    }
    const std::string scratch_dir =
        absl::StrCat(std::filesystem::temp_directory_path().string(), "/wakectl-replay-", ::getpid());
    RocksDbSessionLogOptions options;
    options.path = scratch_dir;
    options.durability = Durability::kBuffered;
    absl::StatusOr<ReplayCheck> check;
    {
      ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> scratch, OpenRocksDbSessionLog(options));
      check = ReplayAgainst(events, responses, agent, *scratch);
    }
    std::error_code ignored;
    std::filesystem::remove_all(scratch_dir, ignored);
    if (!check.ok()) return Fail(check.status());
    if (check->identical) {
      std::printf("replay of %s reproduces its log: %zu conversation events identical\n", id.c_str(), check->compared);
      return 0;
    }
    std::printf("replay of %s diverges after %zu identical events: %s\n", id.c_str(), check->compared,
                check->divergence.c_str());
    return 1;
  }

  int Stats(Args& args) {
    args.Done();
    uint64_t bytes = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(data_dir_)) {
      if (entry.is_regular_file()) bytes += entry.file_size();
    }
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    std::map<std::string, uint64_t> by_status;
    uint64_t sessions = 0;
    uint64_t events = 0;
    ListSessionsOptions list;
    list.limit = 1000;
    while (true) {
      ASSIGN_OR_RETURN_INT(SessionPage page, log->ListSessions(list));
      for (const SessionInfo& s : page.sessions) {
        ++sessions;
        ++by_status[s.status];
        events += s.next_seq - 1;
      }
      if (page.next_cursor.empty()) break;
      list.after_session_id = page.next_cursor;
    }
    std::printf("store     %s, %.1f MiB on disk\n", data_dir_.c_str(), static_cast<double>(bytes) / (1 << 20));
    std::printf("sessions  %llu\n", static_cast<unsigned long long>(sessions));
    for (const auto& [status, count] : by_status) std::printf("  %-12s %llu\n", status.c_str(), static_cast<unsigned long long>(count));
    std::printf("events    %llu\n", static_cast<unsigned long long>(events));
    return 0;
  }

  ApiKeyStore Keys() const {
    ApiKeyStoreOptions options;
    options.data_dir = data_dir_;
    return ApiKeyStore(options);
  }

  int KeysCreate(Args& args) {
    const std::string name = args.Value("--name").value_or("");
    const std::string workspace = args.Value("--workspace").value_or(std::string(kDefaultWorkspaceId));
    args.Done();
    ApiKeyStore keys = Keys();
    ASSIGN_OR_RETURN_INT(CreatedApiKey created, keys.Create(name, workspace));
    std::printf("%s\n", created.key.c_str());
    std::printf("created %s (name \"%s\", workspace %s) in %s\n", created.record.id.c_str(), name.c_str(),
                created.record.workspace_id.c_str(), keys.path().c_str());
    std::printf("this key will not be shown again: wake keeps only its SHA-256; store it now\n");
    return 0;
  }

  int KeysLs(Args& args) {
    const bool json = args.Flag("--json");
    args.Done();
    if (!std::filesystem::is_directory(data_dir_)) {
      return Fail(absl::NotFoundError(absl::StrCat("no data dir ", data_dir_, " (use --data DIR)")));
    }
    ASSIGN_OR_RETURN_INT(std::vector<ApiKeyRecord> records, Keys().List());
    auto when = [](const std::optional<absl::Time>& t) {
      return t ? absl::FormatTime("%Y-%m-%d %H:%M:%S", *t, absl::UTCTimeZone()) : std::string("-");
    };
    if (!json) std::printf("%-30s %-20s %-16s %-19s  %s\n", "ID", "NAME", "WORKSPACE", "CREATED", "REVOKED");
    for (const ApiKeyRecord& k : records) {
      if (json) {
        std::string line = absl::StrCat("{\"id\":\"", k.id, "\",\"name\":");
        AppendJsonString(line, k.name);
        absl::StrAppend(&line, ",\"workspace_id\":");
        AppendJsonString(line, k.workspace_id);
        absl::StrAppend(&line, ",\"created_at\":\"", FormatRfc3339(k.created_at), "\",\"revoked_at\":",
                        k.revoked_at ? absl::StrCat("\"", FormatRfc3339(*k.revoked_at), "\"") : "null", "}");
        std::printf("%s\n", line.c_str());
      } else {
        std::printf("%-30s %-20s %-16s %-19s  %s\n", k.id.c_str(), k.name.empty() ? "-" : k.name.c_str(),
                    k.workspace_id.c_str(), when(k.created_at).c_str(), when(k.revoked_at).c_str());
      }
    }
    return 0;
  }

  int KeysRevoke(Args& args) {
    const std::string id = args.Need("a key id (see `wakectl keys ls`)");
    args.Done();
    ASSIGN_OR_RETURN_INT(ApiKeyRecord record, Keys().Revoke(id));
    std::printf("%s (name \"%s\") is revoked since %s\n", record.id.c_str(), record.name.c_str(),
                FormatRfc3339(*record.revoked_at).c_str());
    return 0;
  }

  // FailedPrecondition over --url: `what` works on the store itself.
  absl::Status NeedsStore(std::string_view what) const {
    if (!remote_) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat(ToAbsl(what), " works on the store itself: run it with --data on the server's machine, not --url"));
  }

  std::string data_dir_;
  std::optional<Client> remote_;
  std::string follow_dir_;
};

}  // namespace
}  // namespace wake

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  const char* env_data = std::getenv("WAKE_DATA");
  std::string data_dir = env_data != nullptr && *env_data != '\0' ? env_data : "data";
  try {
    wake::Args args(words);
    if (std::optional<std::string> data = args.Value("--data")) data_dir = *data;
    const char* env_url = std::getenv("WAKE_URL");
    std::optional<std::string> url = args.Value("--url");
    if (!url && env_url != nullptr && *env_url != '\0') url = env_url;
    const char* env_key = std::getenv("WAKE_API_KEY");
    std::string api_key = args.Value("--api-key").value_or(env_key != nullptr ? env_key : "");
    std::optional<wake::Client> remote;
    if (url) {
      wake::ClientOptions client;
      client.base_url = *url;
      client.api_key = api_key;
      absl::StatusOr<wake::Client> made = wake::Client::Create(client);
      if (!made.ok()) throw wake::UsageError{std::string(made.status().message())};
      remote.emplace(*std::move(made));
    }
    if (args.Flag("--help") || args.Flag("-h")) {
      std::fputs(wake::kUsage, stdout);
      return 0;
    }
    std::optional<std::string> command = args.Positional();
    if (!command || *command == "help") {
      std::fputs(wake::kUsage, command ? stdout : stderr);
      return command ? 0 : 2;
    }
    wake::Wakectl wakectl(data_dir, std::move(remote));
    return wakectl.Run(*command, args);
  } catch (const wake::UsageError& e) {
    std::fprintf(stderr, "wakectl: %s\n(run `wakectl help` for the commands)\n", e.message.c_str());
    return 2;
  }
}
