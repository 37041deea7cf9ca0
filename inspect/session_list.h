#pragma once
// What `wakectl sessions ls` and `wakectl stats` compute from session records and events: filters
// (agent, a creation-time window), sorting, the table and JSON rows, and the recent append rate.
// Pure, except CountRecentAppends, which reads the tails of recently updated sessions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/session_log.h"

namespace wake {

// A point in time for --since/--until: RFC 3339 ("2026-11-22T10:00:00Z") or a duration before `now`
// ("90s", "15m", "2h", "7d", "1h30m"). InvalidArgument, saying both forms, otherwise.
absl::StatusOr<absl::Time> ParseTimeBound(std::string_view text, absl::Time now);

struct SessionFilter {
  std::string agent_id;              // empty: any agent
  std::optional<absl::Time> since;   // created at or after
  std::optional<absl::Time> until;   // created before
};
bool SessionMatches(const SessionFilter& filter, const SessionInfo& session);

enum class SessionSort { kCreated, kUpdated, kEvents, kStatus };
// "created", "updated", "events" or "status"; InvalidArgument naming them otherwise.
absl::StatusOr<SessionSort> ParseSessionSort(std::string_view name);
// Stable, ascending (or descending), ties broken by id (creation order), so output is deterministic.
void SortSessions(std::vector<SessionInfo>& sessions, SessionSort sort, bool descending);

// A record's next_seq is 0 when the event count is unknown (sessions listed over the API): the table
// shows "-" and JSON null for it; the same for an empty workspace_id (the API does not say it: the
// key decides; a store's sessions from before workspaces are the caller's to show as "default").
//
// The table's header and one row (no newline); archived sessions have a "*" after their status.
std::string SessionTableHeader();
std::string SessionTableRow(const SessionInfo& session);
// One JSON object: id, status, archived, events, created_at, updated_at, agent_id, workspace_id, title.
std::string SessionJsonLine(const SessionInfo& session);

// Events appended (by processed_at) in the last minute and the last hour before `now`.
struct RecentAppends {
  uint64_t last_minute = 0;
  uint64_t last_hour = 0;
  uint64_t sessions_read = 0;  // sessions updated in the last hour, whose tails were read
};
// Only sessions whose updated_at is within the hour are read, and of those only the tail that holds
// the hour's events (a window that doubles until it reaches an older event), so this costs in
// proportion to recent activity, not to the store's size.
absl::StatusOr<RecentAppends> CountRecentAppends(SessionLog& log, const std::vector<SessionInfo>& sessions,
                                                 absl::Time now);

}  // namespace wake
