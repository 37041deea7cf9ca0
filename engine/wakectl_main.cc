// wakectl: look into a wake session store, and repair or reshape sessions, from the command line.
//
// It works on a data dir directly: reads open the store beside a running writer (a RocksDB read-only
// or follower instance, so this is safe while waked runs); commands that write (import, fork) need
// the writer stopped. `keys` manages waked's API keys (the data dir's api_keys file, not RocksDB),
// also while waked runs. Run `wakectl help` for the commands.
//
// Exit status: 0 success; 1 an error, `verify` found something, or `replay --against` diverged;
// 2 a usage error (see kUsage, which `wakectl help` prints, and the README's wakectl section).

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
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
#include "engine/probe.h"
#include "sandbox/managed_agents/managed_agents_api.h"
#include "inspect/log_check.h"
#include "inspect/replay.h"
#include "inspect/session_list.h"
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

usage: wakectl [--data DIR | --url URL [--api-key KEY]] [--now TIME] COMMAND [ARGS]
       wakectl COMMAND --help       (or `wakectl help COMMAND`): a command's usage and examples

  --data DIR     the session store (default: $WAKE_DATA, else ./data); reads are safe beside a
                 running waked
  --url URL      a running waked instead (default: $WAKE_URL), with --api-key KEY (default:
                 $WAKE_API_KEY): sessions, events, tail, export, timeline, replay, stats (without
                 the store size) and verify's log checks work over its API; what changes the store
                 (import, fork, rewind, keys) and store-level checks need --data (marked [--data]
                 below). Over the API, wake's own timings (time to first token, provisioning time)
                 are not shown: the Managed Agents shapes do not carry them
  --now TIME     take TIME (RFC 3339) as the present for relative times (--since 2h, stats'
                 recent rates, lease ages): reproducible output

commands:
  sessions ls [--status S] [--agent ID] [--since T] [--until T] [--workspace W]
              [--sort created|updated|events|status] [--desc] [--limit N] [--json]
                 list sessions (oldest first unless sorted otherwise), as a table or JSON lines
  sessions show ID [--json]
                 metadata, events by type, tokens, model requests with time to first token,
                 tool calls, hand state, lease, last error
  events ID [--from SEQ] [--to SEQ] [--type TYPE]... [--json]
                 the session's events, one per line (--json: Managed Agents JSON lines)
  tail ID [-f] [--from SEQ] [--json]
                 the last events; -f keeps following new appends (Ctrl-C stops)
  export ID [--out FILE]
                 the session as JSONL (Managed Agents event shapes; secrets stay masked)
  import FILE [--title TITLE]                                                        [--data]
                 a new session from a JSONL export (needs the writer stopped)
  fork ID --at SEQ                                                                   [--data]
                 a new session whose log is events 1..SEQ of ID (needs the writer stopped)
  rewind ID --to SEQ                                                                 [--data]
                 the session continues from event SEQ: later events stay in the log for audit
                 but no longer count (needs the writer stopped)
  verify [ID | --all] [--progress]
                 integrity report: seq gaps, undecodable events, missing blobs, tool markers
                 without results, results without calls, stale leases; exit status 1 on any
                 finding (store-level checks and leases need --data)
  replay ID [--to SEQ] [--print-context] [--agent FILE] [--against RECORDING]
                 what a harness waking at SEQ would do next, without calling any model or hand;
                 or (--against) check that re-running the harness reproduces the log
  timeline ID (--svg FILE | --html FILE) [--width PX]
                 a picture of the session over time: turns, model requests with their time to
                 first token, tool runs per hand, hand provisioning, client events, errors
  stats          store size [--data], sessions by status, events appended in the last minute
                 and hour (per second)
  probe [--model M] [--timeout DUR] [--json]                                          [--url]
                 time a Managed Agents endpoint's lifecycle (environment, agent, session, two
                 turns) and check that turn 2 remembers turn 1; exit 1 when it fails
  keys create [--name NAME] [--workspace W]                                          [--data]
  keys ls [--json]
  keys revoke ID
                 waked's API keys: create prints a new key once (wake keeps only its SHA-256);
                 revoke refuses it from waked's next request on

exit status:
  0  success
  1  an error (the message says what to do), `verify` found something, or `replay --against`
     diverged
  2  a usage error: an unknown command or flag, a missing or malformed argument

examples:
  wakectl sessions ls --status running --since 2h --sort updated --desc
  wakectl events sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --type agent.tool_use --type agent.tool_result
  wakectl replay sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --to 12 --print-context
  wakectl export sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --out s.jsonl && wakectl import s.jsonl
  wakectl --url http://localhost:8080 --api-key sk-wake-... verify --all
  wakectl --data /var/lib/wake keys create --name ci
)";

// `wakectl COMMAND --help`: each command's usage, what it does, the mode it needs, and examples.
struct CommandHelp {
  std::string_view command;  // "sessions ls", "events", "keys"
  std::string_view text;
};

constexpr CommandHelp kCommandHelp[] = {
    {"sessions ls", R"(usage: wakectl sessions ls [--status S] [--agent ID] [--since T] [--until T] [--workspace W]
                          [--sort created|updated|events|status] [--desc] [--limit N] [--json]

Lists sessions as a table (ID, STATUS, EVENTS, CREATED, UPDATED, WORKSPACE, AGENT, TITLE; an archived session's
status has a "*") or, with --json, one JSON object per line. Oldest first unless --sort says otherwise;
ties keep creation order.

  --status S     idle, running, rescheduling or terminated
  --agent ID     only sessions of agent ID
  --since T      only sessions created at or after T: RFC 3339 (2026-11-22T10:00:00Z) or a duration
                 before now (90s, 15m, 2h, 7d)
  --until T      only sessions created before T (same forms)
  --workspace W  only workspace W (--data only: over --url the API key decides the workspace)
  --sort KEY     created (the default), updated (last append), events (count; --data only: the
                 API gives no count, so over --url EVENTS shows "-") or status
  --desc         largest (newest) first
  --limit N      show at most N (default 1000; 0: all); the rest is counted on stderr

Works with --data and --url (but --workspace and --sort events).

examples:
  wakectl sessions ls --status running
  wakectl sessions ls --agent agent_01JD3Z4V6W8X9Y0ZABCDEFGHJK --since 2h --sort updated --desc
  wakectl sessions ls --since 2026-11-01T00:00:00Z --until 2026-11-08T00:00:00Z --json
  wakectl sessions ls --sort events --desc --limit 10
)"},
    {"sessions show", R"(usage: wakectl sessions show ID [--json]

One session: its record (status, agent, times, title), events by type, tokens, each model request with
its time to first token and duration, tool calls and errors, hand state, lease, last error. --json
prints one JSON object.

Works with --data and --url (over --url without wake's own timings or the lease).

examples:
  wakectl sessions show sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK
  wakectl sessions show sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --json
)"},
    {"events", R"(usage: wakectl events ID [--from SEQ] [--to SEQ] [--type TYPE]... [--json]

The session's events, one per line: "#seq  time  type  details", coloured by family on a terminal.
--json prints them as Managed Agents JSON lines (internal wake.* events included).

  --from SEQ     first seq (default 1)
  --to SEQ       last seq (default: the head)
  --type TYPE    only events of TYPE (repeatable), e.g. agent.tool_use, session.status_idle
  --json         JSON lines

Works with --data and --url.

examples:
  wakectl events sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK
  wakectl events sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --from 10 --to 20
  wakectl events sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --type agent.tool_use --type agent.tool_result --json
)"},
    {"tail", R"(usage: wakectl tail ID [-f] [--from SEQ] [--json]

The session's last 10 events (or those from SEQ on); -f keeps printing new appends as they land
(Ctrl-C stops).

Works with --data (beside a running waked) and --url.

examples:
  wakectl tail sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK -f
  wakectl tail sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --from 1 --json
)"},
    {"export", R"(usage: wakectl export ID [--out FILE]

The session's log as JSONL in the Managed Agents event shapes (internal events included, secrets as
stored: masked), to stdout or FILE. `wakectl import` reads it back; export -> import -> export is
byte-identical.

Works with --data and --url.

examples:
  wakectl export sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --out s.jsonl
  wakectl export sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK | grep tool_use
)"},
    {"import", R"(usage: wakectl import FILE [--title TITLE]

A new session from a JSONL export; prints its id. A malformed line fails the import, naming the line,
and leaves nothing behind.

Needs --data and the writer (waked) stopped.

examples:
  wakectl --data data import s.jsonl --title "copy of the failing run"
)"},
    {"fork", R"(usage: wakectl fork ID --at SEQ

A new session whose log is events 1..SEQ of ID; prints its id. The original is untouched. A running
engine wakes the fork where its log leaves off (e.g. a tool call started and not finished is run).

Needs --data and the writer (waked) stopped.

examples:
  wakectl --data data fork sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --at 12
)"},
    {"rewind", R"(usage: wakectl rewind ID --to SEQ

The session continues from event SEQ: a wake.rewound marker is appended; events after SEQ stay in the
log for audit but no longer count for the model's context or the next action. A running engine picks
it up on its next start.

Needs --data and the writer (waked) stopped.

examples:
  wakectl --data data rewind sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --to 4
  wakectl --data data replay sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK      # what the next wake will do
)"},
    {"verify", R"(usage: wakectl verify (ID | --all) [--progress]

An integrity report, one finding per line ("<session> #<seq> <kind>: <detail>"), then a summary with
the scan's rate on stderr. Exit status 1 on any finding, 0 when clean.

  store checks (--data): seq_gap, event_beyond_head, undecodable_event, dangling_blob,
                 undecodable_session, orphan_events
  log checks (--data and --url): seq_repeat, duplicate_id, orphan_tool_marker, marker_without_call,
                 result_without_call, duplicate_result, span_end_without_start
  leases (--data): stale_lease, a lease never released whose time has run out (its worker stopped
                 mid-wake), saying whether its owner (waked-<pid>) still runs on this host

A progress bar (events scanned of the total, rate, time left) goes to stderr on a terminal, or always
with --progress.

examples:
  wakectl verify --all
  wakectl verify sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK
  wakectl --url http://localhost:8080 --api-key sk-wake-... verify --all
)"},
    {"replay", R"(usage: wakectl replay ID [--to SEQ] [--print-context] [--agent FILE] [--against RECORDING]

What a harness waking at SEQ (default: the head) would do next, and the model context it would
build, without calling any model or hand.

  --to SEQ           replay as of event SEQ
  --print-context    print the exact model context (canonical JSON)
  --agent FILE       the agent (model, system, tools) as JSON, e.g. {"model":"m","system":"..."}
  --against FILE     re-run the harness (no model, no hand) with the model turns and tool results of
                     FILE (a JSONL export) and check that it reproduces the log: exit 1 and the
                     first difference when it does not

Works with --data and --url.

examples:
  wakectl replay sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --to 12 --print-context
  wakectl replay sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --against recorded.jsonl
)"},
    {"timeline", R"(usage: wakectl timeline ID (--svg FILE | --html FILE) [--width PX]

A picture of the session over time: turns, model requests with their time to first token, tool runs
per hand, hand provisioning, client events, errors. --width is 400..20000 pixels (default 1200).

Works with --data and --url (over --url without time to first token or provisioning times).

examples:
  wakectl timeline sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --svg t.svg
  wakectl timeline sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK --html t.html --width 2000
)"},
    {"probe", R"(usage: wakectl --url URL --api-key KEY probe [--model M] [--timeout DUR] [--json]

Checks a Managed Agents endpoint (Anthropic's API, a waked, or any server with the same API) the way a
platform team would before adopting it, and times each step: environment create, agent create (model
M, default claude-sonnet-4-5), session create (the cold start), turn 1 (the agent is told a unique token
to remember; each turn opens the event stream, sends a user.message and waits for session.status_idle)
and turn 2 (it is asked for the token), then archives the session. It passes when every step up to
turn 2 succeeded and turn 2's answer quotes the token (state continuity). Requests carry x-api-key,
anthropic-version and the managed-agents beta header; 429/503/529 are retried after retry-after.

  --model M      the agent's model (against waked: "scripted:FILE" for a scripted brain)
  --timeout DUR  per turn (default 5m): 90s, 15m
  --json         one JSON object: passed, continuity, token, session_id, steps [{name, ok, ms, detail}]

Exit status 0 when it passed, 1 when it did not. Works with --url only.

examples:
  wakectl --url https://api.anthropic.com --api-key "$ANTHROPIC_API_KEY" probe --json
  wakectl --url http://localhost:8080 --api-key sk-wake-... probe --model scripted:/srv/probe.json
)"},
    {"stats", R"(usage: wakectl stats

The store's size on disk (--data only), sessions by status, events in total, and events appended
recently: in the last minute and the last hour, as counts and per second. "Appended" is each event's
processed_at (when the log accepted it); only sessions updated within the hour are read, so this stays
cheap on big stores. --now TIME fixes the present.

Works with --data and --url.

examples:
  wakectl stats
  wakectl --url http://localhost:8080 --api-key sk-wake-... stats
)"},
    {"keys", R"(usage: wakectl keys create [--name NAME] [--workspace W]
       wakectl keys ls [--json]
       wakectl keys revoke ID

waked's API keys (the data dir's api_keys file, not RocksDB), also while waked runs: it sees a change
on its next request.

  create         a new key for workspace W (default "default"): printed once; wake keeps only its
                 SHA-256
  ls             id, name, workspace, created, revoked (--json: JSON lines)
  revoke ID      waked refuses key ID from its next request on (revoking twice changes nothing)

Needs --data.

examples:
  wakectl --data /var/lib/wake keys create --name ci --workspace team-a
  wakectl --data /var/lib/wake keys ls
  wakectl --data /var/lib/wake keys revoke key_01JD3Z4V6W8X9Y0ZABCDEFGHJK
)"},
};

// The help of `command` ("sessions ls", "events", "keys create" -> "keys"), or nullptr.
const CommandHelp* FindHelp(std::string_view command) {
  if (command.starts_with("keys")) command = "keys";
  for (const CommandHelp& help : kCommandHelp) {
    if (help.command == command) return &help;
  }
  return nullptr;
}

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
    if (words_.empty()) return;
    if (words_.front().starts_with("-")) throw UsageError{absl::StrCat("unknown flag ", words_.front())};
    throw UsageError{absl::StrCat("unexpected argument ", words_.front())};
  }

 private:
  static bool TakesValue(std::string_view flag) {
    return flag == "--status" || flag == "--workspace" || flag == "--limit" || flag == "--from" || flag == "--to" ||
           flag == "--type" || flag == "--out" || flag == "--title" || flag == "--at" || flag == "--agent" ||
           flag == "--against" || flag == "--svg" || flag == "--html" || flag == "--width" || flag == "--name" ||
           flag == "--since" || flag == "--until" || flag == "--sort" || flag == "--now" || flag == "--data" ||
           flag == "--model" || flag == "--timeout" ||
           flag == "--url" || flag == "--api-key";
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

// Set once in main: over --url, errors of reach (Unavailable) are about the server.
bool remote_mode = false;

// Prints the error and, where the status tells, what to do about it.
int Fail(const absl::Status& status) {
  const std::string_view message = FromAbsl(status.message());
  std::cerr << "wakectl: " << message << "\n";
  if (absl::IsUnavailable(status) && absl::StrContains(status.message(), "lock")) {
    std::cerr << "wakectl: the store is held by a running writer (waked?): stop it for commands that write\n";
  } else if (absl::IsNotFound(status) && message.find("sesn_") != std::string_view::npos) {
    std::cerr << "wakectl: list the sessions with `wakectl sessions ls` (and check that --data or --url is the "
                 "right store)\n";
  } else if (absl::IsInvalidArgument(status) && message.starts_with("invalid id")) {
    std::cerr << "wakectl: a session id is sesn_ and 26 characters; list them with `wakectl sessions ls`\n";
  } else if (absl::IsNotFound(status) && message.find("key_") != std::string_view::npos) {
    std::cerr << "wakectl: list the keys with `wakectl keys ls`\n";
  } else if (absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status)) {
    std::cerr << "wakectl: give a valid key with --api-key KEY or $WAKE_API_KEY (make one with "
                 "`wakectl --data DIR keys create`)\n";
  } else if (remote_mode && (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status))) {
    std::cerr << "wakectl: is waked running at --url? check the address, or use --data DIR on its machine\n";
  }
  return 1;
}

class Wakectl {
 public:
  // With `remote`, commands read from that waked over its API instead of a data dir.
  // `now` is the present for relative times (--since 2h, recent rates, lease ages).
  Wakectl(std::string data_dir, std::optional<Client> remote, absl::Time now)
      : data_dir_(std::move(data_dir)), remote_(std::move(remote)), now_(now) {}

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
    if (command == "keys") {
      if (absl::Status store = NeedsStore(command); !store.ok()) return Fail(store);
    }
    if (command == "stats") return Stats(args);
    if (command == "probe") return Probe(args);
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
  // A read-only view of the store as of the open, beside a running writer. With `follow` (tail -f),
  // a follower instance (its own scratch dir) whose every read first catches up with the writer's
  // latest appends: that catch-up replays the writer's log, so one-shot commands, which read many
  // sessions, do without it (on a store of 100,000 sessions it made `stats` take minutes).
  absl::StatusOr<std::unique_ptr<SessionLog>> OpenForReading(bool follow = false) {
    if (remote_) return NewRemoteSessionLog(*remote_);
    RocksDbSessionLogOptions options;
    options.path = data_dir_;
    options.access = StoreAccess::kReadOnly;
    if (follow) {
      options.access = StoreAccess::kFollow;
      options.follow_dir = absl::StrCat(std::filesystem::temp_directory_path().string(), "/wakectl-follow-", ::getpid());
      follow_dir_ = options.follow_dir;
    }
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
  // Every session the list options select (pages of 1,000), in creation order.
  static absl::StatusOr<std::vector<SessionInfo>> ListAll(SessionLog& log, ListSessionsOptions list) {
    std::vector<SessionInfo> all;
    list.limit = 1000;
    while (true) {
      ASSIGN_OR_RETURN(SessionPage page, log.ListSessions(list));
      for (SessionInfo& s : page.sessions) all.push_back(std::move(s));
      if (page.next_cursor.empty()) break;
      list.after_session_id = page.next_cursor;
    }
    return all;
  }

  // --since/--until: absent, or a time (RFC 3339, or a duration before now_).
  std::optional<absl::Time> TimeBound(Args& args, std::string_view flag) {
    std::optional<std::string> text = args.Value(flag);
    if (!text) return std::nullopt;
    absl::StatusOr<absl::Time> at = ParseTimeBound(*text, now_);
    if (!at.ok()) throw UsageError{absl::StrCat(std::string(flag), ": ", at.status().message())};
    return *at;
  }

  int SessionsLs(Args& args) {
    ListSessionsOptions list;
    list.status = args.Value("--status").value_or("");
    list.workspace_id = args.Value("--workspace").value_or("");
    SessionFilter filter;
    filter.agent_id = args.Value("--agent").value_or("");
    filter.since = TimeBound(args, "--since");
    filter.until = TimeBound(args, "--until");
    std::optional<SessionSort> sort;
    if (std::optional<std::string> by = args.Value("--sort")) {
      absl::StatusOr<SessionSort> parsed = ParseSessionSort(*by);
      if (!parsed.ok()) throw UsageError{std::string(parsed.status().message())};
      sort = *parsed;
    }
    const bool descending = args.Flag("--desc");
    const uint64_t limit = args.Number("--limit", 1000);
    const bool json = args.Flag("--json");
    args.Done();
    if (!list.status.empty() && list.status != "idle" && list.status != "running" && list.status != "rescheduling" &&
        list.status != "terminated") {
      throw UsageError{absl::StrCat("unknown status ", list.status, ": use idle, running, rescheduling or terminated")};
    }
    if (filter.since && filter.until && *filter.until <= *filter.since) throw UsageError{"--until is not after --since"};
    if (remote_ && !list.workspace_id.empty()) {
      throw UsageError{"--workspace needs --data: over --url the API key decides the workspace"};
    }
    if (remote_ && sort == SessionSort::kEvents) {
      throw UsageError{"--sort events needs --data: the API does not give a session's event count"};
    }
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    ASSIGN_OR_RETURN_INT(std::vector<SessionInfo> all, ListAll(*log, list));
    std::vector<SessionInfo> sessions;
    for (SessionInfo& s : all) {
      // Sessions stored before workspaces are the default workspace's (as the server counts them).
      if (!remote_ && s.workspace_id.empty()) s.workspace_id = std::string(kDefaultWorkspaceId);
      if (SessionMatches(filter, s)) sessions.push_back(std::move(s));
    }
    if (sort || descending) SortSessions(sessions, sort.value_or(SessionSort::kCreated), descending);
    const size_t shown = limit == 0 ? sessions.size() : std::min<size_t>(sessions.size(), limit);
    std::string out;
    if (!json) absl::StrAppend(&out, SessionTableHeader(), "\n");
    for (size_t i = 0; i < shown; ++i) {
      absl::StrAppend(&out, json ? SessionJsonLine(sessions[i]) : SessionTableRow(sessions[i]), "\n");
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);  // before the note on stderr, for whoever reads both
    if (shown < sessions.size()) {
      std::fprintf(stderr, "wakectl: showed %zu of %zu sessions (--limit N for more, 0 for all)\n", shown,
                   sessions.size());
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
    std::printf("%s\n", json ? SessionReportJson(report).c_str() : FormatSessionReport(report, now_).c_str());
    return 0;
  }

  static void Print(const Event& e, bool json, bool color) {
    std::printf("%s\n", json ? EncodeEventJson(e).c_str() : FormatEventLine(e, color).c_str());
  }

  static void Print(const std::vector<Event>& events, bool json, bool color) {
    for (const Event& e : events) Print(e, json, color);
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
    const bool color = !json && ::isatty(STDOUT_FILENO);
    // Printed as they are read: a long session is never all in memory.
    absl::Status scanned = log->Scan(id, read, [&](const Event& e) {
      if (e.seq <= to) Print(e, json, color);  // with --type, the limit counts matches, not seqs
      return absl::OkStatus();
    });
    std::fflush(stdout);
    if (!scanned.ok()) return Fail(scanned);
    return 0;
  }

  int Tail(Args& args) {
    const std::string id = args.Need("a session id");
    const bool follow = args.Flag("-f");
    std::optional<std::string> from = args.Value("--from");
    const bool json = args.Flag("--json");
    args.Done();
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading(/*follow=*/follow));
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
    const bool force_progress = args.Flag("--progress");
    std::optional<std::string> id = args.Positional();
    args.Done();
    if (all == id.has_value()) throw UsageError{"verify needs a session id or --all (not both)"};
    if (remote_) return VerifyOverApi(id);
    // The sessions' records give the total for the progress bar and the leases to check.
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    std::vector<SessionInfo> sessions;
    if (id) {
      ASSIGN_OR_RETURN_INT(SessionInfo info, log->GetSession(*id));
      sessions.push_back(std::move(info));
    } else {
      ASSIGN_OR_RETURN_INT(sessions, ListAll(*log, ListSessionsOptions{}));
    }
    uint64_t total = 0;
    for (const SessionInfo& s : sessions) total += s.next_seq - 1;

    const bool progress = force_progress || ::isatty(STDERR_FILENO);
    StoreCheckOptions options;
    options.session_id = id.value_or("");
    std::vector<Finding> findings;
    options.on_session_events = [&](const std::string& session, const std::vector<Event>& events) {
      for (Finding& f : CheckSessionEvents(session, events)) findings.push_back(std::move(f));
    };
    // The rate is measured from the first report on, so opening the store does not skew it.
    std::optional<std::pair<absl::Time, uint64_t>> first;
    absl::Time drawn = absl::InfinitePast();
    options.progress = [&](uint64_t scanned) {
      const absl::Time now = absl::Now();
      if (!first) first.emplace(now, scanned);
      if (!progress || now - drawn < absl::Milliseconds(100)) return;
      drawn = now;
      std::fprintf(stderr, "\r%s", ProgressBar(scanned, total, scanned - first->second, now - first->first).c_str());
      std::fflush(stderr);
    };
    ASSIGN_OR_RETURN_INT(StoreCheckReport report, CheckSessionStore(data_dir_, options));
    if (progress) {
      std::fprintf(stderr, "\r%s\n",
                   ProgressBar(report.events, std::max(total, report.events), report.events, report.took).c_str());
    }
    // A gap on disk is also one in the decoded events: report it once.
    std::set<std::string> seen;
    for (const Finding& f : findings) seen.insert(FormatFinding(f));
    for (const StoreFinding& f : report.findings) {
      Finding finding{f.session_id, f.seq, f.kind, f.detail};
      if (seen.insert(FormatFinding(finding)).second) findings.push_back(std::move(finding));
    }
    for (const SessionInfo& s : sessions) {
      absl::StatusOr<Lease> lease = log->GetLease(s.id);
      if (!lease.ok()) continue;  // never leased
      for (Finding& f : CheckLease(s.id, *lease, now_, OwnerRunsHere(lease->owner))) findings.push_back(std::move(f));
    }
    for (const Finding& f : findings) std::printf("%s\n", FormatFinding(f).c_str());
    const double seconds = absl::ToDoubleSeconds(report.took);
    std::fprintf(stderr, "verify: %llu sessions, %llu events, %llu blob refs in %.2f s (%.0f events/s): %zu finding%s\n",
                 static_cast<unsigned long long>(report.sessions), static_cast<unsigned long long>(report.events),
                 static_cast<unsigned long long>(report.blob_refs), seconds,
                 seconds > 0 ? static_cast<double>(report.events) / seconds : 0.0, findings.size(),
                 findings.size() == 1 ? "" : "s");
    return findings.empty() ? 0 : 1;
  }

  // "[#########...........]  45%  4.5M/10.0M events  350k/s  12s left"
  // `rate_events` were scanned in `rate_time`.
  static std::string ProgressBar(uint64_t done, uint64_t total, uint64_t rate_events, absl::Duration rate_time) {
    constexpr int kWidth = 30;
    const double fraction = total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const int filled = static_cast<int>(fraction * kWidth);
    const double seconds = absl::ToDoubleSeconds(rate_time);
    const double rate = seconds > 0 ? static_cast<double>(rate_events) / seconds : 0;
    auto human = [](double n) {
      char text[32];
      if (n >= 1e6) {
        std::snprintf(text, sizeof(text), "%.1fM", n / 1e6);
      } else if (n >= 1e4) {
        std::snprintf(text, sizeof(text), "%.0fk", n / 1e3);
      } else {
        std::snprintf(text, sizeof(text), "%.0f", n);
      }
      return std::string(text);
    };
    std::string left = "-";
    if (done >= total) {
      left = "done";
    } else if (rate > 0) {
      left = absl::StrCat(static_cast<int64_t>(static_cast<double>(total - done) / rate), "s left");
    }
    return absl::StrCat("verify [", std::string(static_cast<size_t>(filled), '#'),
                        std::string(static_cast<size_t>(kWidth - filled), '.'), "] ",
                        static_cast<int>(fraction * 100), "%  ", human(static_cast<double>(done)), "/",
                        human(static_cast<double>(total)), " events  ", human(rate), "/s  ", left, "   ");
  }

  // Whether a lease owner's process runs on this host, when its name tells its pid ("waked-<pid>", what
  // waked uses); nullopt when it does not.
  static std::optional<bool> OwnerRunsHere(const std::string& owner) {
    constexpr std::string_view kWaked = "waked-";
    int pid = 0;
    if (!owner.starts_with(kWaked) || !absl::SimpleAtoi(owner.substr(kWaked.size()), &pid) || pid <= 0) return std::nullopt;
    return ::kill(pid, 0) == 0 || errno == EPERM;
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

  // Events per second, with the digits that matter: "1250", "3.5", "0.0167".
  static std::string Rate(uint64_t events, double seconds) {
    const double rate = static_cast<double>(events) / seconds;
    char text[32];
    std::snprintf(text, sizeof(text), rate >= 100 ? "%.0f" : rate >= 1 ? "%.1f" : "%.3g", rate);
    return text;
  }

  int Probe(Args& args) {
    ProbeOptions probe;
    if (std::optional<std::string> model = args.Value("--model")) probe.model = *model;
    if (std::optional<std::string> timeout = args.Value("--timeout")) {
      if (!absl::ParseDuration(*timeout, &probe.turn_timeout) || probe.turn_timeout <= absl::ZeroDuration()) {
        throw UsageError{absl::StrCat("--timeout needs a duration (90s, 15m), not ", *timeout)};
      }
    }
    const bool json = args.Flag("--json");
    args.Done();
    if (!remote_) throw UsageError{"probe needs --url URL (and --api-key KEY): the endpoint to probe"};
    ClientOptions options = remote_->options();
    options.anthropic_version = std::string(kManagedAgentsApiVersion);
    options.max_retries = 4;
    options.request_timeout = absl::Seconds(120);
    ASSIGN_OR_RETURN_INT(Client client, Client::Create(options));
    const ProbeReport report = RunProbe(client, probe);
    const std::string out = json ? ProbeReportJson(report) + "\n" : ProbeReportText(report);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return report.passed ? 0 : 1;
  }

  int Stats(Args& args) {
    args.Done();
    ASSIGN_OR_RETURN_INT(std::unique_ptr<SessionLog> log, OpenForReading());
    std::optional<uint64_t> bytes;
    if (!remote_) {
      bytes = 0;
      std::error_code error;
      for (auto it = std::filesystem::recursive_directory_iterator(data_dir_, error);
           !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
        if (it->is_regular_file(error)) *bytes += it->file_size(error);
      }
    }
    ASSIGN_OR_RETURN_INT(std::vector<SessionInfo> sessions, ListAll(*log, ListSessionsOptions{}));
    std::map<std::string, uint64_t> by_status;
    uint64_t events = 0;
    for (const SessionInfo& s : sessions) {
      ++by_status[absl::StrCat(s.status, s.archived_at ? " (archived)" : "")];
      if (s.next_seq > 0) events += s.next_seq - 1;
    }
    ASSIGN_OR_RETURN_INT(RecentAppends recent, CountRecentAppends(*log, sessions, now_));
    if (bytes) {
      std::printf("store      %s, %.1f MiB on disk\n", data_dir_.c_str(), static_cast<double>(*bytes) / (1 << 20));
    } else {
      std::printf("store      %s (its size on disk needs --data)\n", remote_->options().base_url.c_str());
    }
    std::printf("sessions   %zu\n", sessions.size());
    for (const auto& [status, count] : by_status) {
      std::printf("  %-22s %llu\n", status.c_str(), static_cast<unsigned long long>(count));
    }
    if (remote_) {
      std::printf("events     (the count needs --data: the API does not give it)\n");
    } else {
      std::printf("events     %llu\n", static_cast<unsigned long long>(events));
    }
    std::printf("appended   %llu in the last minute (%s/s), %llu in the last hour (%s/s), by processed_at\n",
                static_cast<unsigned long long>(recent.last_minute), Rate(recent.last_minute, 60).c_str(),
                static_cast<unsigned long long>(recent.last_hour), Rate(recent.last_hour, 3600).c_str());
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
  absl::Time now_;
  std::string follow_dir_;
};

}  // namespace
}  // namespace wake

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  const char* env_data = std::getenv("WAKE_DATA");
  std::string data_dir = env_data != nullptr && *env_data != '\0' ? env_data : "data";
  std::string command_name;  // for the usage error's pointer to its help
  try {
    wake::Args args(words);
    if (std::optional<std::string> data = args.Value("--data")) data_dir = *data;
    const char* env_url = std::getenv("WAKE_URL");
    std::optional<std::string> url = args.Value("--url");
    if (!url && env_url != nullptr && *env_url != '\0') url = env_url;
    const char* env_key = std::getenv("WAKE_API_KEY");
    std::string api_key = args.Value("--api-key").value_or(env_key != nullptr ? env_key : "");
    absl::Time now = absl::Now();
    if (std::optional<std::string> at = args.Value("--now")) {
      absl::StatusOr<absl::Time> parsed = wake::ParseRfc3339(*at);
      if (!parsed.ok()) throw wake::UsageError{absl::StrCat("--now needs an RFC 3339 time (2026-11-22T10:00:00Z), not ", *at)};
      now = *parsed;
    }
    const bool help = args.Flag("--help") || args.Flag("-h");
    std::optional<std::string> command = args.Positional();
    if (command == "help") {  // `wakectl help [COMMAND [SUB]]`
      command = args.Positional();
      if (!command) {
        std::fputs(wake::kUsage, stdout);
        return 0;
      }
    } else if (!help) {
      if (!command) {
        std::fputs(wake::kUsage, stderr);
        return 2;
      }
      command_name = *command;
      std::optional<wake::Client> remote;
      if (url) {
        wake::ClientOptions client;
        client.base_url = *url;
        client.api_key = api_key;
        absl::StatusOr<wake::Client> made = wake::Client::Create(client);
        if (!made.ok()) throw wake::UsageError{absl::StrCat("--url: ", made.status().message())};
        remote.emplace(*std::move(made));
        wake::remote_mode = true;
      }
      wake::Wakectl wakectl(data_dir, std::move(remote), now);
      return wakectl.Run(*command, args);
    }
    // --help (or `help`): the command's own usage when there is one, else the overview.
    if (!command) {
      std::fputs(wake::kUsage, stdout);
      return 0;
    }
    std::string name = *command;
    if (name == "sessions" || name == "keys") {
      if (std::optional<std::string> sub = args.Positional()) absl::StrAppend(&name, " ", *sub);
    }
    if (name == "sessions") {
      for (const char* sub : {"sessions ls", "sessions show"}) {
        const std::string_view text = wake::FindHelp(sub)->text;
        std::fwrite(text.data(), 1, text.size(), stdout);
        if (std::string_view(sub) == "sessions ls") std::fputs("\n", stdout);
      }
      return 0;
    }
    const wake::CommandHelp* found = wake::FindHelp(name);
    if (found == nullptr) throw wake::UsageError{absl::StrCat("no command ", name)};
    std::fwrite(found->text.data(), 1, found->text.size(), stdout);
    return 0;
  } catch (const wake::UsageError& e) {
    std::string help = "wakectl help";
    if (command_name == "sessions" || (!command_name.empty() && wake::FindHelp(command_name) != nullptr)) {
      help = absl::StrCat("wakectl ", command_name, " --help");
    }
    std::fprintf(stderr, "wakectl: %s\n(run `%s` for the usage)\n", e.message.c_str(), help.c_str());
    return 2;
  }
}
