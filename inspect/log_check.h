#pragma once
// Integrity checks over one session's decoded events: what `wakectl verify` reports beyond what the
// store check (storage/store_check.h) finds in the raw data. Pure.
//
// Findings: a gap or repeat in seq; an event id used twice; a tool-started marker whose tool use has
// no result; a result for a tool use the log does not hold, or a second result for one; a model
// request end without its start.

#include <cstdint>
#include <string>
#include <vector>

#include "schemas/event.h"

namespace wake {

struct Finding {
  std::string session_id;
  uint64_t seq = 0;  // the event the finding is about (0: the session as a whole)
  std::string kind;  // a stable, short identifier: "seq_gap", "orphan_tool_marker", ...
  std::string detail;
};

std::vector<Finding> CheckSessionEvents(const std::string& session_id, const std::vector<Event>& events);

// "<session> #<seq> <kind>: <detail>".
std::string FormatFinding(const Finding& finding);

}  // namespace wake
