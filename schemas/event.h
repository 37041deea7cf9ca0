#pragma once
// The in-memory form of one session event. wake's vocabulary is the Managed Agents one (see
// DESIGN.md "Events"), plus wake's internal kinds under the `wake.` prefix.
//
// An Event is a plain value: copyable, no I/O, no thread affinity. Which fields are meaningful depends
// on `type` (see the table on each field); the codecs (event_codec.h for Cap'n Proto on disk,
// event_json.h for the Managed Agents JSON shapes) reject an event whose required fields are missing,
// so a decoded Event is always complete for its type.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace wake {

// Every event type wake knows. In-memory only: the on-disk discriminant is the Cap'n Proto union in
// schemas/event.capnp, and the JSON one is the `type` string.
enum class EventType {
  // Sent by clients.
  kUserMessage,            // "user.message"
  kUserInterrupt,          // "user.interrupt"
  kUserToolConfirmation,   // "user.tool_confirmation"
  kUserCustomToolResult,   // "user.custom_tool_result"
  // Written by the harness.
  kAgentMessage,           // "agent.message"
  kAgentThinking,          // "agent.thinking"
  kAgentToolUse,           // "agent.tool_use"
  kAgentToolResult,        // "agent.tool_result"
  kAgentCustomToolUse,     // "agent.custom_tool_use"
  kAgentThreadContextCompacted,  // "agent.thread_context_compacted"
  kSessionStatusRunning,   // "session.status_running"
  kSessionStatusIdle,      // "session.status_idle"
  kSessionStatusRescheduled,  // "session.status_rescheduled"
  kSessionStatusTerminated,   // "session.status_terminated"
  kSessionError,           // "session.error"
  kSpanModelRequestStart,  // "span.model_request_start"
  kSpanModelRequestEnd,    // "span.model_request_end"
  // wake's internal kinds; clients may filter them out.
  kToolStarted,            // "wake.tool_started": durable intent written before a tool runs
  kHandProvisioned,        // "wake.hand_provisioned"
  kHandLost,               // "wake.hand_lost"
  kHandReleased,           // "wake.hand_released"
  kHarnessWoke,            // "wake.harness_woke"
  kRewound,                // "wake.rewound": later events up to it no longer count
};

inline constexpr int kEventTypeCount = static_cast<int>(EventType::kRewound) + 1;

// "user.message" for kUserMessage, and so on. Never empty.
std::string_view EventTypeName(EventType type);
// The inverse of EventTypeName; nullopt for a name wake does not know.
std::optional<EventType> EventTypeFromName(std::string_view name);
// True for the `wake.` kinds.
bool IsInternalEventType(EventType type);

// A content block of a message or tool result.
struct ContentBlock {
  enum class Kind { kText, kImage, kDocument, kRedacted };
  // Where an image's or document's bytes come from.
  enum class SourceKind {
    kNone,    // text and redacted blocks
    kBase64,  // `data` holds base64, `media_type` is set
    kText,    // documents only: `data` holds plain text, media_type "text/plain"
    kUrl,     // `data` holds the URL
    kFile,    // `data` holds the file id
  };

  Kind kind = Kind::kText;
  std::string text;          // kText: the text
  SourceKind source = SourceKind::kNone;
  std::string data;          // kImage/kDocument: per `source`
  std::string media_type;    // kBase64 and kText sources
  std::optional<std::string> title;    // kDocument only
  std::optional<std::string> context;  // kDocument only

  friend bool operator==(const ContentBlock&, const ContentBlock&) = default;
};

// Why a session went idle (session.status_idle).
struct StopReason {
  enum class Kind { kEndTurn, kRequiresAction, kRetriesExhausted };
  Kind kind = Kind::kEndTurn;
  std::vector<std::string> event_ids;  // kRequiresAction: the events awaiting the client

  friend bool operator==(const StopReason&, const StopReason&) = default;
};

// The error carried by session.error, in the Managed Agents shape.
struct SessionErrorInfo {
  enum class RetryStatus { kRetrying, kExhausted, kTerminal };
  std::string type;     // e.g. "model_overloaded_error", "model_request_failed_error", "unknown_error"
  std::string message;
  RetryStatus retry_status = RetryStatus::kTerminal;

  friend bool operator==(const SessionErrorInfo&, const SessionErrorInfo&) = default;
};

// Token counts of one model request (span.model_request_end).
struct ModelUsage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cache_creation_input_tokens = 0;
  int64_t cache_read_input_tokens = 0;

  friend bool operator==(const ModelUsage&, const ModelUsage&) = default;
};

struct Event {
  EventType type = EventType::kUserMessage;

  // "sevt_..." (see ids.h). Assigned by whoever creates the event; the session log keeps it as given.
  std::string id;
  // When the log accepted the event; set by SessionLog::Append when absent.
  std::optional<absl::Time> processed_at;
  // Position in the session's log, starting at 1. Assigned by SessionLog::Append; 0 before that.
  // Not part of either codec's payload (it is the storage key).
  uint64_t seq = 0;

  // user.message, agent.message, agent.tool_result, user.custom_tool_result.
  std::vector<ContentBlock> content;

  // agent.tool_use, agent.custom_tool_use, wake.tool_started: the tool's name.
  std::string name;
  // agent.tool_use, agent.custom_tool_use: the tool input, a JSON object as text (compact, verbatim).
  std::string input_json;

  // agent.tool_result, user.tool_confirmation, user.custom_tool_result (JSON: custom_tool_use_id),
  // wake.tool_started: the id of the tool-use event this refers to.
  std::string tool_use_id;
  // agent.tool_result, user.custom_tool_result, span.model_request_end. Absent = not stated.
  std::optional<bool> is_error;

  // user.tool_confirmation: true = "allow", false = "deny"; deny_message optional.
  bool allow = false;
  std::optional<std::string> deny_message;

  // session.status_idle.
  StopReason stop_reason;
  // session.error.
  SessionErrorInfo error;
  // span.model_request_end.
  std::string model_request_start_id;
  ModelUsage model_usage;

  // wake.tool_started: the key a hand uses to recognise a repeated execution.
  std::string idempotency_key;
  // wake.hand_provisioned / hand_lost / hand_released: which hand; backend ("local", "docker", ...).
  std::string hand_id;
  std::string hand_backend;
  // wake.hand_provisioned: how long provisioning took; span.model_request_end: how long the model
  // request took (request sent -> end of stream, as the brain measured it; 0 when it did not).
  int64_t duration_us = 0;
  // span.model_request_end: request sent -> first content delta (wake's own; not in the JSON shape).
  int64_t time_to_first_token_us = 0;
  // wake.hand_lost: why (free text).
  std::string reason;
  // agent.thread_context_compacted (wake's own field; its summary is in `content`): the last seq the
  // summary replaces. Not in the Managed Agents JSON shape.
  uint64_t compacted_through_seq = 0;
  // wake.rewound: the seq the session continues from.
  uint64_t rewound_to_seq = 0;
  // wake.harness_woke: which worker took the lease, and the lease epoch it holds.
  std::string worker_id;
  uint64_t lease_epoch = 0;

  friend bool operator==(const Event&, const Event&) = default;
};

}  // namespace wake
