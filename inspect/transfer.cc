#include "inspect/transfer.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "harness/next_action.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"

namespace wake {
namespace {

// Appends in bounded batches (one write each), keeping the given ids and processed_at.
absl::Status AppendAll(SessionLog& log, const std::string& session_id, std::vector<Event> events) {
  constexpr size_t kBatch = 256;
  for (size_t i = 0; i < events.size(); i += kBatch) {
    std::vector<Event> batch(std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(i)),
                             std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(std::min(events.size(), i + kBatch))));
    for (Event& e : batch) e.seq = 0;
    RETURN_IF_ERROR(log.Append(session_id, std::move(batch), i + 1, kNoLease).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CreateAndFill(SessionLog& log, SessionInfo info, std::vector<Event> events) {
  if (info.id.empty()) info.id = NewSessionId(absl::Now());
  RETURN_IF_ERROR(log.CreateSession(info).status());
  if (absl::Status s = AppendAll(log, info.id, std::move(events)); !s.ok()) {
    log.DeleteSession(info.id).IgnoreError();  // all or nothing
    return s;
  }
  return info.id;
}

}  // namespace

absl::StatusOr<uint64_t> ExportSession(SessionLog& log, std::string_view session_id, std::ostream& out) {
  uint64_t written = 0;
  const absl::Status write_failed = absl::DataLossError("export: writing the output failed");
  // One event in memory at a time, however long the session.
  RETURN_IF_ERROR(log.Scan(session_id, {}, [&](const Event& e) {
    out << EncodeEventJson(e) << '\n';
    ++written;
    return out ? absl::OkStatus() : write_failed;
  }));
  out.flush();
  if (!out) return write_failed;
  return written;
}

absl::StatusOr<std::string> ImportSession(SessionLog& log, std::istream& in, SessionInfo info) {
  std::vector<Event> events;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    absl::StatusOr<Event> event = DecodeEventJson(line, JsonEventMode::kStored);
    if (!event.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("import: line ", number, ": ", event.status().message()));
    }
    events.push_back(*std::move(event));
  }
  if (in.bad()) return absl::DataLossError("import: reading the input failed");
  return CreateAndFill(log, std::move(info), std::move(events));
}

absl::StatusOr<std::string> ForkSession(SessionLog& log, std::string_view session_id, uint64_t at_seq) {
  ASSIGN_OR_RETURN(SessionInfo original, log.GetSession(session_id));
  if (at_seq == 0 || at_seq >= original.next_seq) {
    return absl::OutOfRangeError(absl::StrCat("fork: seq ", at_seq, " is not in ", ToAbsl(session_id),
                                              ", whose events are #1..#", original.next_seq - 1));
  }
  ReadOptions prefix;
  prefix.limit = at_seq;
  ASSIGN_OR_RETURN(std::vector<Event> events, log.Read(session_id, prefix));
  SessionInfo info;
  info.workspace_id = original.workspace_id;
  info.agent_id = original.agent_id;
  info.agent_version = original.agent_version;
  info.environment_id = original.environment_id;
  for (auto& kv : original.metadata) {
    if (kv.first != "forked_from") info.metadata.push_back(std::move(kv));
  }
  info.metadata.emplace_back("forked_from", absl::StrCat(ToAbsl(session_id), "#", at_seq));
  info.title = absl::StrCat(original.title.empty() ? std::string(session_id) : original.title, " (fork at #", at_seq, ")");
  return CreateAndFill(log, std::move(info), std::move(events));
}

absl::StatusOr<uint64_t> RewindSession(SessionLog& log, std::string_view session_id, uint64_t to_seq) {
  ASSIGN_OR_RETURN(SessionInfo info, log.GetSession(session_id));
  if (to_seq == 0 || to_seq + 1 >= info.next_seq) {
    return absl::OutOfRangeError(absl::StrCat("rewind: ", ToAbsl(session_id), " has events #1..#", info.next_seq - 1,
                                              "; rewind to a seq from 1 to ", info.next_seq >= 3 ? info.next_seq - 2 : 0));
  }
  ASSIGN_OR_RETURN(std::vector<Event> events, log.Read(session_id));
  Event marker;
  marker.type = EventType::kRewound;
  marker.id = NewEventId(absl::Now());
  marker.rewound_to_seq = to_seq;
  events.push_back(marker);
  events.back().seq = info.next_seq;
  std::vector<Event> batch = {marker};
  // The agent config does not change what is due (a model call or a tool run) in these cases.
  if (DecideNextAction(events, AgentConfig{}).kind != NextAction::Kind::kNone) {
    Event running;
    running.type = EventType::kSessionStatusRunning;
    running.id = NewEventId(absl::Now());
    batch.push_back(running);
  }
  ASSIGN_OR_RETURN(AppendResult appended, log.Append(session_id, std::move(batch), info.next_seq, kNoLease));
  return appended.first_seq;
}

}  // namespace wake
