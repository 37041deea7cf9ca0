// wake_demo: the smallest end-to-end use of wake's embedded session log.
//
// Opens (or creates) the log under a data dir, creates a session, takes the lease as a worker would,
// appends one scripted conversation turn (user message, tool call, tool result, answer, idle), reads the
// session back from disk and prints every event as Managed Agents JSON, one per line.
//
// usage: wake_demo [--data DIR]   (default ./data)

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"

namespace {

wake::Event Make(wake::EventType type) {
  wake::Event e;
  e.type = type;
  e.id = wake::NewEventId(absl::Now());
  return e;
}

wake::ContentBlock Text(std::string text) {
  wake::ContentBlock b;
  b.kind = wake::ContentBlock::Kind::kText;
  b.text = std::move(text);
  return b;
}

int Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "wake_demo: %s: %s\n", what.c_str(), status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = "data";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
      data_dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--data DIR]\n", argv[0]);
      return 2;
    }
  }

  wake::RocksDbSessionLogOptions options;
  options.path = data_dir;
  auto log = wake::OpenRocksDbSessionLog(options);
  if (!log.ok()) return Fail("opening " + data_dir, log.status());

  wake::SessionInfo info;
  info.id = wake::NewSessionId(absl::Now());
  info.workspace_id = "wrkspc_demo";
  info.title = "demo session (scripted turn, no model called)";
  auto session = (*log)->CreateSession(info);
  if (!session.ok()) return Fail("creating session", session.status());

  auto lease = (*log)->AcquireLease(info.id, "wake_demo", absl::Seconds(30));
  if (!lease.ok()) return Fail("taking the lease", lease.status());

  // A client's message needs no lease; it lands at the head of the log.
  wake::Event user = Make(wake::EventType::kUserMessage);
  user.content.push_back(Text("What is in the current directory?"));
  auto sent = (*log)->Append(info.id, {user}, wake::kAppendAtHead, wake::kNoLease);
  if (!sent.ok()) return Fail("appending user.message", sent.status());

  // What a harness holding the lease appends for one turn, fenced by seq and epoch.
  std::vector<wake::Event> turn;
  turn.push_back(Make(wake::EventType::kSessionStatusRunning));
  wake::Event tool_use = Make(wake::EventType::kAgentToolUse);
  tool_use.name = "bash";
  tool_use.input_json = R"({"command":"ls"})";
  turn.push_back(tool_use);
  wake::Event started = Make(wake::EventType::kToolStarted);
  started.tool_use_id = tool_use.id;
  started.name = tool_use.name;
  started.idempotency_key = absl::StrCat(info.id, "/", tool_use.id);
  turn.push_back(started);
  wake::Event result = Make(wake::EventType::kAgentToolResult);
  result.tool_use_id = tool_use.id;
  result.content.push_back(Text("README.md\nschemas\nstorage\n"));
  result.is_error = false;
  turn.push_back(result);
  wake::Event answer = Make(wake::EventType::kAgentMessage);
  answer.content.push_back(Text("The directory holds README.md, schemas and storage."));
  turn.push_back(answer);
  wake::Event idle = Make(wake::EventType::kSessionStatusIdle);
  idle.stop_reason.kind = wake::StopReason::Kind::kEndTurn;
  turn.push_back(idle);
  auto appended = (*log)->Append(info.id, std::move(turn), sent->last_seq + 1, lease->epoch);
  if (!appended.ok()) return Fail("appending the turn", appended.status());
  if (auto s = (*log)->ReleaseLease(info.id, lease->epoch); !s.ok()) return Fail("releasing the lease", s);

  auto events = (*log)->Read(info.id);
  if (!events.ok()) return Fail("reading the session back", events.status());
  auto final_info = (*log)->GetSession(info.id);
  if (!final_info.ok()) return Fail("reading the session record", final_info.status());
  std::fprintf(stderr, "session %s in %s: %zu events, status %s\n", info.id.c_str(), data_dir.c_str(),
               events->size(), final_info->status.c_str());
  for (const wake::Event& e : *events) std::printf("%s\n", wake::EncodeEventJson(e).c_str());
  return 0;
}
