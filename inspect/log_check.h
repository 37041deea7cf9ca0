#pragma once
// Integrity checks over one session's decoded events: what `wakectl verify` reports beyond what the
// store check (storage/store_check.h) finds in the raw data. Pure.
//
// Findings: a gap or repeat in seq; an event id used twice; a tool-started marker whose tool use has
// no result; a result for a tool use the log does not hold, or a second result for one; a model
// request end without its start.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "schemas/event.h"
#include "storage/session_log.h"

namespace wake {

struct Finding {
  std::string session_id;
  uint64_t seq = 0;  // the event the finding is about (0: the session as a whole)
  std::string kind;  // a stable, short identifier: "seq_gap", "orphan_tool_marker", ...
  std::string detail;
};

std::vector<Finding> CheckSessionEvents(const std::string& session_id, const std::vector<Event>& events);

// The session's lease as verify reports it: a "stale_lease" finding when the lease was never released
// and has expired (its worker stopped mid-wake: crashed, killed, or cut off from the store), nothing
// otherwise (no lease, a released one, or one still held). `owner_running` says whether the owner's
// process still runs, when the caller can tell (waked's owner is "waked-<pid>" on the store's host).
std::vector<Finding> CheckLease(const std::string& session_id, const std::optional<Lease>& lease, absl::Time now,
                                std::optional<bool> owner_running);

// "<session> #<seq> <kind>: <detail>".
std::string FormatFinding(const Finding& finding);

}  // namespace wake
