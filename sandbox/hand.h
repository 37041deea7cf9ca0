#pragma once
// Hand: where tools run (DESIGN.md "Hands"). This header is the part the harness sees: a tool call
// goes in, a tool result comes out. Backends (local process, Docker, SSH, Managed Agents) and the
// HandPool that provisions them lazily implement it in sandbox/.
//
// Errors of the tool itself (non-zero exit, missing file, timeout) are ToolResults with is_error, so
// the model can act on them. A non-OK status means the hand could not run the call at all (it died,
// could not be provisioned): the harness records it as a tool error and the next call gets a fresh hand.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "schemas/event.h"

namespace wake {

struct ToolCall {
  std::string name;
  std::string input_json;  // compact JSON object
  // Stable across retries of the same call (the harness derives it from the session and the
  // tool-use event): a hand that sees a key again returns the stored result instead of re-running.
  std::string idempotency_key;
};

struct ToolResult {
  std::vector<ContentBlock> content;
  bool is_error = false;

  friend bool operator==(const ToolResult&, const ToolResult&) = default;
};

// The hands of every session, as the harness uses them. Thread-safe.
class SessionHands {
 public:
  virtual ~SessionHands() = default;
  // Runs `call` on the session's hand, provisioning one on first use.
  virtual absl::StatusOr<ToolResult> Execute(std::string_view session_id, const ToolCall& call) = 0;
};

// Tools whose re-execution has no effect beyond the first (DESIGN.md rule 3): after a crash between
// "tool started" and its result, these are re-run with the same idempotency key; others are not.
bool IsIdempotentTool(std::string_view name);

}  // namespace wake
