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
