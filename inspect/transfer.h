#pragma once
// Moving sessions in and out of a log: export to JSONL (one Managed Agents event per line, as the API
// returns them), import from it into a new session, and fork a session's prefix into a new one.
//
// Export then import then export gives the same bytes, except for the ids and timestamps of the
// session itself. wake's own fields that the Managed Agents JSON shape has no place for (a span's
// timings, a compaction's summary) are not exported.

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/session_log.h"

namespace wake {

// Writes every event of the session, one JSON object per line. Returns how many.
absl::StatusOr<uint64_t> ExportSession(SessionLog& log, std::string_view session_id, std::ostream& out);

// Creates a session from `info` (its id made when empty) and appends the events of a JSONL stream,
// keeping their ids and processed_at. All or nothing: a malformed line (InvalidArgument naming the
// line) leaves no session behind. Returns the new session's id.
absl::StatusOr<std::string> ImportSession(SessionLog& log, std::istream& in, SessionInfo info);

// A new session (titled after the original) whose log is a copy of events 1..at_seq of `session_id`;
// the original is untouched. The fork keeps the original's metadata, with `forked_from` set to
// "<session_id>#<at_seq>" (its direct parent, for a fork of a fork), which the console links. OutOfRange when at_seq is 0 or beyond the log. Returns the new id.
absl::StatusOr<std::string> ForkSession(SessionLog& log, std::string_view session_id, uint64_t at_seq);

// Rewinds a session to event `to_seq`: appends wake.rewound, after which the events from to_seq + 1
// up to the marker stay in the log (for audit) but no longer count for the model or the harness. When
// the session then has work to do (e.g. it ends on a user message), session.status_running is
// appended too, so an engine opening the store wakes it. OutOfRange when to_seq is 0 or not below the
// head. Returns the marker's seq.
absl::StatusOr<uint64_t> RewindSession(SessionLog& log, std::string_view session_id, uint64_t to_seq);

}  // namespace wake
