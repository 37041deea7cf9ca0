#pragma once
// What one session is and did, derived from its record and its events: what `wakectl sessions show`
// prints. Pure: no I/O.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "schemas/event.h"
#include "storage/session_log.h"

namespace wake {

struct ModelRequestReport {
  uint64_t start_seq = 0;
  bool finished = false;  // its span end is in the log
  bool is_error = false;
  ModelUsage usage;
  int64_t time_to_first_token_us = 0;  // 0: the brain did not measure it (the scripted one)
  int64_t duration_us = 0;
};

struct SessionReport {
  SessionInfo info;
  uint64_t events = 0;
  std::map<std::string, int64_t> counts_by_type;  // "agent.message" -> count
  std::vector<ModelRequestReport> model_requests;
  ModelUsage total_usage;
  int64_t tool_calls = 0;
  int64_t tool_errors = 0;
  int64_t open_tool_calls = 0;  // tool uses without a result yet
  std::optional<SessionErrorInfo> last_error;
  // The hand as the log last told of it: "none", "provisioned", "lost" or "released", with its
  // backend and id.
  std::string hand_state = "none";
  std::string hand_backend;
  std::string hand_id;
  std::optional<Lease> lease;
};

SessionReport SummarizeSession(const SessionInfo& info, const std::vector<Event>& events,
                               const std::optional<Lease>& lease);

// Human-readable, several lines; `now` dates the lease ("expires in 20s").
std::string FormatSessionReport(const SessionReport& report, absl::Time now);
// One JSON object.
std::string SessionReportJson(const SessionReport& report);

// One line for `wakectl events`: "#seq  HH:MM:SS.mmm  type  details". With `color`, the type is
// coloured by family (ANSI escapes, for a terminal).
std::string FormatEventLine(const Event& event, bool color);

}  // namespace wake
