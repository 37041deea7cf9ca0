#include "inspect/session_list.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "schemas/event_json.h"

namespace wake {

absl::StatusOr<absl::Time> ParseTimeBound(std::string_view text, absl::Time now) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read the time \"", ToAbsl(text),
        "\": give an RFC 3339 time (2026-11-22T10:00:00Z) or a duration before now (90s, 15m, 2h, 7d, 1h30m)"));
  };
  if (text.empty()) return bad();
  if (absl::StatusOr<absl::Time> at = ParseRfc3339(text); at.ok()) return *at;
  absl::Duration ago;
  if (text.back() == 'd') {  // days, which absl's durations do not spell
    int64_t days = 0;
    if (!absl::SimpleAtoi(ToAbsl(text.substr(0, text.size() - 1)), &days) || days < 0) return bad();
    ago = absl::Hours(24 * days);
  } else if (!absl::ParseDuration(ToAbsl(text), &ago) || ago < absl::ZeroDuration() || ago == absl::InfiniteDuration()) {
    return bad();
  }
  return now - ago;
}

bool SessionMatches(const SessionFilter& filter, const SessionInfo& session) {
  if (!filter.agent_id.empty() && session.agent_id != filter.agent_id) return false;
  if (filter.since && session.created_at < *filter.since) return false;
  if (filter.until && session.created_at >= *filter.until) return false;
  return true;
}

absl::StatusOr<SessionSort> ParseSessionSort(std::string_view name) {
  if (name == "created") return SessionSort::kCreated;
  if (name == "updated") return SessionSort::kUpdated;
  if (name == "events") return SessionSort::kEvents;
  if (name == "status") return SessionSort::kStatus;
  return absl::InvalidArgumentError(
      absl::StrCat("cannot sort by \"", ToAbsl(name), "\": --sort takes created, updated, events or status"));
}

void SortSessions(std::vector<SessionInfo>& sessions, SessionSort sort, bool descending) {
  // Each key compares first; the id (which sorts by creation) breaks ties, in the same direction.
  auto less = [sort](const SessionInfo& a, const SessionInfo& b) {
    switch (sort) {
      case SessionSort::kCreated:
        if (a.created_at != b.created_at) return a.created_at < b.created_at;
        break;
      case SessionSort::kUpdated:
        if (a.updated_at != b.updated_at) return a.updated_at < b.updated_at;
        break;
      case SessionSort::kEvents:
        if (a.next_seq != b.next_seq) return a.next_seq < b.next_seq;
        break;
      case SessionSort::kStatus:
        if (a.status != b.status) return a.status < b.status;
        break;
    }
    return a.id < b.id;
  };
  if (descending) {
    std::stable_sort(sessions.begin(), sessions.end(), [&](const SessionInfo& a, const SessionInfo& b) { return less(b, a); });
  } else {
    std::stable_sort(sessions.begin(), sessions.end(), less);
  }
}

namespace {

std::string Clock(absl::Time t) { return absl::FormatTime("%Y-%m-%d %H:%M:%S", t, absl::UTCTimeZone()); }

}  // namespace

std::string SessionTableHeader() {
  char line[256];
  std::snprintf(line, sizeof(line), "%-31s %-12s %8s  %-19s  %-19s  %-16s %-32s %s", "ID", "STATUS", "EVENTS",
                "CREATED", "UPDATED", "WORKSPACE", "AGENT", "TITLE");
  return line;
}

std::string SessionTableRow(const SessionInfo& s) {
  char line[512];
  const std::string events = s.next_seq == 0 ? "-" : absl::StrCat(s.next_seq - 1);
  std::snprintf(line, sizeof(line), "%-31s %-12s %8s  %-19s  %-19s  %-16s %-32s ", s.id.c_str(),
                (s.status + (s.archived_at ? "*" : "")).c_str(), events.c_str(), Clock(s.created_at).c_str(),
                Clock(s.updated_at).c_str(), s.workspace_id.empty() ? "-" : s.workspace_id.c_str(),
                s.agent_id.empty() ? "-" : s.agent_id.c_str());
  return absl::StrCat(line, s.title);
}

std::string SessionJsonLine(const SessionInfo& s) {
  std::string line = absl::StrCat("{\"id\":\"", s.id, "\",\"status\":\"", s.status, "\",\"archived\":",
                                  s.archived_at ? "true" : "false", ",\"events\":",
                                  s.next_seq == 0 ? "null" : absl::StrCat(s.next_seq - 1), ",\"created_at\":\"",
                                  FormatRfc3339(s.created_at), "\",\"updated_at\":\"", FormatRfc3339(s.updated_at),
                                  "\",\"agent_id\":");
  AppendJsonString(line, s.agent_id);
  absl::StrAppend(&line, ",\"workspace_id\":");
  if (s.workspace_id.empty()) {
    line += "null";
  } else {
    AppendJsonString(line, s.workspace_id);
  }
  absl::StrAppend(&line, ",\"title\":");
  AppendJsonString(line, s.title);
  line += "}";
  return line;
}

absl::StatusOr<RecentAppends> CountRecentAppends(SessionLog& log, const std::vector<SessionInfo>& sessions,
                                                 absl::Time now) {
  const absl::Time hour_ago = now - absl::Hours(1);
  const absl::Time minute_ago = now - absl::Minutes(1);
  RecentAppends recent;
  for (const SessionInfo& s : sessions) {
    if (s.updated_at <= hour_ago || s.next_seq == 1) continue;
    ++recent.sessions_read;
    // next_seq 0: the head is unknown (over the API): the whole log is read.
    const uint64_t last = s.next_seq == 0 ? 0 : s.next_seq - 1;
    // Read a tail that grows until its first event is older than the hour (or it is the whole log).
    uint64_t window = 64;
    std::vector<Event> tail;
    while (true) {
      if (last == 0) {
        ASSIGN_OR_RETURN(tail, log.Read(s.id));
        break;
      }
      ReadOptions read;
      read.from_seq = last > window ? last - window + 1 : 1;
      ASSIGN_OR_RETURN(tail, log.Read(s.id, read));
      if (read.from_seq == 1 || tail.empty()) break;
      const std::optional<absl::Time>& first = tail.front().processed_at;
      if (first && *first <= hour_ago) break;
      window *= 4;
    }
    for (const Event& e : tail) {
      if (!e.processed_at || *e.processed_at <= hour_ago || *e.processed_at > now) continue;
      ++recent.last_hour;
      if (*e.processed_at > minute_ago) ++recent.last_minute;
    }
  }
  return recent;
}

}  // namespace wake
