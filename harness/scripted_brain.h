#pragma once
// ScriptedBrain: a deterministic stand-in for a model, read from a script. For demos, tests and
// benchmarks only; its kind() says "scripted (not a model)" wherever it is shown.
//
// Script format (JSON):
//   {"turns": [
//      {"text": "Let me look.", "tool_calls": [{"name": "bash", "input": {"command": "ls"}}]},
//      {"text": "The directory holds README.md."}
//   ]}
//    "summary": "What happened so far."   (optional: the reply to a compaction's summarize request)
// The reply to a request is turn k, where k is the number of assistant turns the conversation has
// had (the assistant messages in the request, plus those a compaction replaced), so the same
// conversation always gets the same reply, in any process, after any crash. A summarize request gets
// the summary, with the turn count appended.
// A turn's text may quote the conversation: "{{user_message:N}}" becomes the text of the N-th
// (1-based) user message of the request that has text (tool results do not count), as the harness
// rebuilt it from the log; "(no user message N)" when there is none (e.g. compacted away). So a
// script can show that a session kept its history across turns (the probe's continuity check).
// A turn with tool calls stops with "tool_use", one without with "end_turn". Past the last turn, the
// reply says the script is exhausted and ends the turn.
//
// Thread-safe: immutable after construction.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "harness/brain.h"

namespace wake {

// InvalidArgument (naming the problem) when the script is not of the format above.
absl::StatusOr<std::unique_ptr<Brain>> NewScriptedBrain(std::string_view script_json);
absl::StatusOr<std::unique_ptr<Brain>> LoadScriptedBrain(const std::string& path);

}  // namespace wake
