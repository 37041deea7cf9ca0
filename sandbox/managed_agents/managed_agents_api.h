#pragma once
// The Managed Agents session protocol, as a client drives it: create an environment, an agent and a
// session, and run one turn (open the event stream, send a user.message, drain the stream until the
// session is idle again). Used by the managed-agents hand (managed_agents_hand.h) and by
// `wakectl probe`. It speaks to Anthropic's API or to any server with the same API (waked included);
// shapes follow @anthropic-ai/sdk@1.10.0 (resources/beta/{environments,agents,sessions}).
//
// A turn survives a dropped stream: it opens a new one, lists the session's events
// (GET /v1/sessions/{id}/events) to catch up on what it missed, and skips events it has seen (by id).
// 429, 503 and 529 answers are retried by the Client (ClientOptions::max_retries, honouring
// retry-after). Stateless functions: thread-safe as far as the Client is.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/cancel.h"
#include "client/client.h"

namespace wake {

// The `anthropic-beta` value (sent by every Client) and the `anthropic-version` the SDK sends.
inline constexpr std::string_view kManagedAgentsBeta = "managed-agents-2026-04-01";
inline constexpr std::string_view kManagedAgentsApiVersion = "2026-10-21";

// POSTs `body_json` to `path` ("/v1/environments", "/v1/agents", "/v1/sessions") and returns the new
// resource's "id". DataLoss when the answer has none.
absl::StatusOr<std::string> CreateResource(const Client& client, std::string_view path, std::string_view body_json);

// POST /v1/sessions/{id}/archive.
absl::Status ArchiveSession(const Client& client, std::string_view session_id);

struct TurnOptions {
  // The whole turn, from opening the stream to the idle: past it the stream is closed, a
  // user.interrupt is sent (best effort) and the turn is DeadlineExceeded.
  absl::Duration timeout = absl::Minutes(10);
  // New streams opened after a drop within one turn; one more drop is Unavailable.
  int max_reconnects = 5;
};

// What one turn produced.
struct TurnOutcome {
  std::string text;                    // the agent.message texts, joined by blank lines
  std::vector<std::string> tools_used;  // names of agent.tool_use / mcp / custom tool uses, in order
  // The idle's stop_reason type ("end_turn", "requires_action", "retries_exhausted", ...), or
  // "terminated" when the session was terminated instead.
  std::string stop_reason;
  std::vector<std::string> required_event_ids;  // requires_action's event_ids
  std::vector<std::string> errors;              // each session.error as "<type>: <message>"
  std::string message_event_id;                 // the user.message this turn sent
  int reconnects = 0;                           // streams re-opened after a drop
  int duplicates_skipped = 0;                   // events seen twice (stream and listing) and skipped
  absl::Duration round_trip;                    // from sending the message to the idle
};

// Runs one turn of `session_id` with `text` as the user.message. OK with the outcome whenever the
// session went idle (or was terminated), whatever the stop reason: the caller decides what an error
// is. DeadlineExceeded (timeout), Cancelled (`cancel`), Unavailable (the stream could not be kept
// open), or the Client's error for a refused request.
absl::StatusOr<TurnOutcome> RunTurn(const Client& client, std::string_view session_id, std::string_view text,
                                    const TurnOptions& options, const CancelToken* cancel);

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

}  // namespace wake
