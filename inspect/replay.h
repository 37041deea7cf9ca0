#pragma once
// Replay without side effects: what a harness waking on a session (as of some seq) would do next,
// and the exact model context it would build. Calls no model and no hand. Pure.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "harness/agent_config.h"
#include "harness/brain.h"
#include "harness/next_action.h"
#include "schemas/event.h"
#include "storage/session_log.h"

namespace wake {

struct ReplayResult {
  uint64_t as_of_seq = 0;  // the last event taken into account
  NextAction action;
  ModelRequest request;  // the context a model call at that point would send
};

// `to_seq` 0 means the whole log.
ReplayResult ReplaySession(const std::vector<Event>& events, const AgentConfig& agent, uint64_t to_seq);

// One line: "call the model", "run tool bash (sevt_...)", ...
std::string DescribeNextAction(const NextAction& action);

// An agent config from a JSON file's text, for replays of sessions whose agent is not in the store:
//   {"model": "...", "system": "...", "max_tokens": 4096,
//    "tools": [{"name", "description", "input_schema": {...}}], "custom_tools": [...],
//    "always_ask": ["bash"]}
// Every field is optional. InvalidArgument naming the field otherwise.
absl::StatusOr<AgentConfig> ParseAgentConfigJson(std::string_view json);

}  // namespace wake

namespace wake {

// The determinism check: re-runs a Harness on `scratch` (an empty store) with the model turns and
// tool results recorded in `responses` (e.g. a JSONL export) as its brain and hands, feeding in the
// client's events of `session` when that session was waiting for them; then compares the new log
// with `session`'s, event by event, on what makes the conversation (user.*, agent.*, idle stop
// reasons), not ids, times, spans or wake's own markers. A harness that reproduces its log from its
// inputs is one whose crash recovery can be trusted. `responses` may be `session` itself.
struct ReplayCheck {
  bool identical = false;
  size_t compared = 0;     // events compared
  std::string divergence;  // where and how the logs first differ ("" when identical)
};
absl::StatusOr<ReplayCheck> ReplayAgainst(const std::vector<Event>& session, const std::vector<Event>& responses,
                                          const AgentConfig& agent, SessionLog& scratch);

}  // namespace wake
