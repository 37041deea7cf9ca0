#pragma once
// ContextBuilder: a session's events -> the model request for its next turn.
//
// A pure function (DESIGN.md rule 5): the same events and config give the same ModelRequest, byte for
// byte once encoded, in any process. No clock, no randomness, no hash-map order.
//
// Mapping: user.message -> user text/image/document blocks; agent.message -> assistant text;
// agent.tool_use / agent.custom_tool_use -> assistant tool_use (its id is the event id, so the
// request does not depend on provider-generated ids); agent.tool_result / user.custom_tool_result ->
// user tool_result. Consecutive blocks of one role merge into one message, so roles alternate.
// Everything else (session.*, span.*, wake.*, confirmations, interrupts) carries no model content.
//
// Compaction: an agent.thread_context_compacted event replaces every message before it with one user
// message holding its summary (and says so); events after it map as usual. A compacted context also
// offers the read-only `session_history` tool (SessionHistoryTool()), which the harness serves from
// the log itself, so the model can look up what the summary left out.
//
// The prefix of the request is stable from turn to turn: appending events only appends messages (or
// blocks to the last message), never rewrites earlier ones, so prompt caching can reuse it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "harness/agent_config.h"
#include "harness/brain.h"
#include "schemas/event.h"

namespace wake {

struct ContextOptions {
  // Rewind: build as of this seq (events after it are ignored). Default: all events.
  uint64_t as_of_seq = UINT64_MAX;
  // Window: keep at most this many trailing messages (0 = all). The window starts at a user message
  // that holds no tool results, so no tool_result loses its tool_use.
  size_t max_messages = 0;
};

// Rewinds (wake.rewound, from `wakectl rewind`): the events after its to_seq and before the marker
// stay in the log but no longer count. Returns `events` itself when it holds no rewind, else the
// events that count, kept in `storage`. The context builder and DecideNextAction both see only these.
const std::vector<Event>& EffectiveEvents(const std::vector<Event>& events, std::vector<Event>& storage);

// The name of the harness's own read-only tool over the session's log.
inline constexpr char kSessionHistoryToolName[] = "session_history";
// Its definition: input {from_seq: integer >= 1, limit?: integer 1..50}.
const ToolDefinition& SessionHistoryTool();

ModelRequest BuildModelRequest(const AgentConfig& agent, const std::vector<Event>& events,
                               const ContextOptions& options = {});

// A canonical, provider-neutral JSON rendering of a request (fixed field order, compact): what
// `wakectl replay --print-context` shows, and how tests compare contexts built in different
// processes byte for byte. Tool inputs and schemas are embedded as the JSON they hold.
std::string EncodeModelRequestJson(const ModelRequest& request);

}  // namespace wake
