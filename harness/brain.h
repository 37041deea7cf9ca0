#pragma once
// Brain: one model turn, streamed. A brain turns a provider-neutral ModelRequest (built from the
// session's events by the ContextBuilder) into the provider's wire request, streams the response, and
// reports it both incrementally (StreamObserver) and as a whole (ModelTurn).
//
// Implementations: AnthropicBrain (Messages API, SSE), OpenAiBrain (chat completions, SSE), and
// ScriptedBrain (turns read from a file, for demos/tests/benchmarks, labelled as such).
//
// Errors (absl::Status codes a harness acts on):
//   Unavailable        retryable: 429, 529, 5xx, connection reset, a stream cut before its end.
//                      The message names the upstream error type; retry_after() may carry a hint.
//   Cancelled          the CancelToken fired (user.interrupt).
//   InvalidArgument    the provider rejected the request (400, 413...): not retryable.
//   PermissionDenied / Unauthenticated   401/403: not retryable.
//   DataLoss           the stream was not the protocol (malformed JSON, unknown frame order).
// Every error also carries the upstream error type (e.g. "overloaded_error") via UpstreamErrorType().
//
// Thread safety: a Brain may be used by several threads at once (each Stream call is independent).
// Stream blocks its calling thread for the whole turn: call it from a worker thread, never an Asio one.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/cancel.h"
#include "schemas/event.h"

namespace wake {

// A tool the model may call.
struct ToolDefinition {
  std::string name;
  std::string description;
  std::string input_schema_json;  // a JSON Schema object, compact text

  friend bool operator==(const ToolDefinition&, const ToolDefinition&) = default;
};

// One block of a conversation message, provider-neutral.
struct MessageBlock {
  enum class Kind { kText, kImage, kDocument, kToolUse, kToolResult };
  Kind kind = Kind::kText;
  std::string text;                     // kText
  ContentBlock media;                   // kImage, kDocument: as stored in the event
  std::string tool_use_id;              // kToolUse (its id), kToolResult (the call it answers)
  std::string name;                     // kToolUse
  std::string input_json;               // kToolUse
  std::vector<ContentBlock> result;     // kToolResult content
  bool is_error = false;                // kToolResult

  friend bool operator==(const MessageBlock&, const MessageBlock&) = default;
};

struct Message {
  enum class Role { kUser, kAssistant };
  Role role = Role::kUser;
  std::vector<MessageBlock> blocks;

  friend bool operator==(const Message&, const Message&) = default;
};

// What the model is asked. Built by ContextBuilder as a pure function of the events; a brain encodes
// it deterministically, so equal requests are byte-equal on the wire.
struct ModelRequest {
  std::string model;
  std::string system;
  std::vector<ToolDefinition> tools;
  std::vector<Message> messages;  // alternating user/assistant, starting with user
  int64_t max_tokens = 4096;
  // Number of leading messages that are stable from turn to turn (all but the newest message): brains
  // that support prompt caching mark the end of this prefix (and of system and tools) as cacheable.
  size_t stable_prefix_messages = 0;
  // Assistant turns a compaction summary replaced (they are not in `messages`): with the assistant
  // messages present, how many turns the conversation has had. Set by the context builder.
  size_t compacted_turns = 0;
  // True for the harness's request to summarize the conversation for a compaction (its newest user
  // message says so); brains send it like any other, the scripted brain answers it from its script.
  bool summarize = false;

  friend bool operator==(const ModelRequest&, const ModelRequest&) = default;
};

// A completed output block of the model's turn.
struct TurnBlock {
  enum class Kind { kText, kToolUse, kThinking };
  Kind kind = Kind::kText;
  std::string text;        // kText, kThinking
  std::string id;          // kToolUse: the provider's tool-use id (e.g. "toolu_...")
  std::string name;        // kToolUse
  std::string input_json;  // kToolUse: compact JSON object text

  friend bool operator==(const TurnBlock&, const TurnBlock&) = default;
};

// The whole of one model turn.
struct ModelTurn {
  std::vector<TurnBlock> blocks;
  // "end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal", "pause_turn".
  std::string stop_reason;
  ModelUsage usage;
  std::string model;       // as the provider reported it
  std::string message_id;  // the provider's id for the response, when it gives one
  absl::Duration time_to_first_token = absl::ZeroDuration();  // request sent -> first content delta
  absl::Duration duration = absl::ZeroDuration();             // request sent -> end of stream
};

// Receives a turn as it streams. Calls come from the thread running Brain::Stream, in stream order.
class StreamObserver {
 public:
  virtual ~StreamObserver() = default;
  virtual void OnTextDelta(size_t block_index, std::string_view text) { (void)block_index, (void)text; }
  // A block is complete (its final form is also in ModelTurn::blocks).
  virtual void OnBlockComplete(size_t block_index, const TurnBlock& block) { (void)block_index, (void)block; }
};


class Brain {
 public:
  virtual ~Brain() = default;
  // A short label for logs and events: "anthropic", "openai", "scripted (not a model)".
  virtual std::string_view kind() const = 0;
  // Streams one turn. `observer` and `cancel` may be null. Makes exactly one attempt: retrying is
  // the harness's decision (it records each retry as an event).
  virtual absl::StatusOr<ModelTurn> Stream(const ModelRequest& request, StreamObserver* observer,
                                           const CancelToken* cancel) = 0;
};

// The upstream error type carried by a Brain error ("overloaded_error", "rate_limit_error",
// "api_error", ...), or "" when the status has none.
std::string UpstreamErrorType(const absl::Status& status);
// How long the provider asked us to wait before retrying (retry-after), when it said.
std::optional<absl::Duration> RetryAfter(const absl::Status& status);
// Builds a brain error carrying an upstream error type and an optional retry-after hint.
absl::Status BrainError(absl::StatusCode code, std::string_view upstream_type, std::string_view message,
                        std::optional<absl::Duration> retry_after = std::nullopt);

}  // namespace wake
