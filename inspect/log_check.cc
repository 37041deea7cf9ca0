#include "inspect/log_check.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "harness/context_builder.h"

namespace wake {

std::vector<Finding> CheckSessionEvents(const std::string& session_id, const std::vector<Event>& events) {
  std::vector<Finding> findings;
  auto add = [&](uint64_t seq, std::string kind, std::string detail) {
    findings.push_back(Finding{session_id, seq, std::move(kind), std::move(detail)});
  };
  std::set<std::string> ids;
  std::map<std::string, uint64_t> tool_uses;     // id -> seq
  std::map<std::string, int> results;            // tool use id -> results seen
  std::map<std::string, uint64_t> markers;       // tool use id -> marker seq
  std::set<std::string> open_spans;
  uint64_t expected = 1;
  for (const Event& e : events) {
    if (e.seq != expected) {
      add(e.seq, e.seq > expected ? "seq_gap" : "seq_repeat",
          e.seq > expected ? absl::StrCat("seqs ", expected, "..", e.seq - 1, " are missing")
                           : absl::StrCat("expected seq ", expected));
    }
    expected = e.seq + 1;
    if (!ids.insert(e.id).second) add(e.seq, "duplicate_id", absl::StrCat("event id ", e.id, " appears twice"));
  }
  // Calls and results pair up among the events that count (a rewind sets some aside).
  std::vector<Event> storage;
  for (const Event& e : EffectiveEvents(events, storage)) {
    switch (e.type) {
      case EventType::kAgentToolUse:
      case EventType::kAgentCustomToolUse:
        tool_uses[e.id] = e.seq;
        break;
      case EventType::kToolStarted:
        markers[e.tool_use_id] = e.seq;
        if (!tool_uses.contains(e.tool_use_id)) {
          add(e.seq, "marker_without_call", absl::StrCat("tool-started marker for unknown tool use ", e.tool_use_id));
        }
        break;
      case EventType::kAgentToolResult:
      case EventType::kUserCustomToolResult:
        if (!tool_uses.contains(e.tool_use_id)) {
          add(e.seq, "result_without_call", absl::StrCat("result for unknown tool use ", e.tool_use_id));
        } else if (++results[e.tool_use_id] > 1) {
          add(e.seq, "duplicate_result", absl::StrCat("a second result for tool use ", e.tool_use_id));
        }
        break;
      case EventType::kSpanModelRequestStart:
        open_spans.insert(e.id);
        break;
      case EventType::kSpanModelRequestEnd:
        if (open_spans.erase(e.model_request_start_id) == 0) {
          add(e.seq, "span_end_without_start",
              absl::StrCat("model request end for unknown start ", e.model_request_start_id));
        }
        break;
      default:
        break;
    }
  }
  for (const auto& [tool_use_id, seq] : markers) {
    // (A marker whose call is missing was reported above as marker_without_call.)
    if (!results.contains(tool_use_id) && tool_uses.contains(tool_use_id)) {
      add(seq, "orphan_tool_marker",
          absl::StrCat("tool use ", tool_use_id,
                       " started but has no result (a worker stopped mid-call; the next wake settles it)"));
    }
  }
  return findings;
}

std::vector<Finding> CheckLease(const std::string& session_id, const std::optional<Lease>& lease, absl::Time now,
                                std::optional<bool> owner_running) {
  if (!lease || lease->owner.empty() || lease->expires_at > now) return {};
  std::string owner_state;
  if (owner_running) {
    owner_state = *owner_running ? absl::StrCat("; ", lease->owner, " still runs on this host but stopped renewing it")
                                 : absl::StrCat("; ", lease->owner, " no longer runs on this host");
  }
  return {Finding{session_id, 0, "stale_lease",
                  absl::StrCat("lease epoch ", lease->epoch, " of ", lease->owner, " expired at ",
                               absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", lease->expires_at, absl::UTCTimeZone()), " (",
                               absl::FormatDuration(absl::Trunc(now - lease->expires_at, absl::Seconds(1))),
                               " ago) and was never released", owner_state,
                               ": its worker stopped mid-wake; a running engine takes the session over, or start waked")}};
}

std::string FormatFinding(const Finding& f) {
  return absl::StrCat(f.session_id, f.seq > 0 ? absl::StrCat(" #", f.seq) : "", " ", f.kind, ": ", f.detail);
}

}  // namespace wake
