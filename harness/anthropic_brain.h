#pragma once
// AnthropicBrain: a Brain on Anthropic's Messages API (POST {base_url}/v1/messages, "stream": true),
// streamed as server-sent events over libcurl.
//
// Request encoding is deterministic: the same ModelRequest gives the same bytes, fields in a fixed
// order with "messages" last, so a request whose first messages equal the previous turn's shares
// its byte prefix with it. Prompt caching: `"cache_control":{"type":"ephemeral"}` marks the system
// block, the last tool and the last block of message `stable_prefix_messages - 1` (three breakpoints
// at most; the API allows four). The message breakpoint moves forward as the conversation grows, as
// Anthropic's prompt-caching guide does for multi-turn conversations; the marker is not part of the
// cached content, so a moved marker does not break the cache.
//
// Stream decoding: message_start, content_block_start/delta/stop (text, tool_use, thinking; other
// block types are skipped), message_delta, message_stop, ping, error; unknown event types are ignored.
// Errors follow brain.h: an `error` event with overloaded_error / api_error / rate_limit_error is
// Unavailable, other types InvalidArgument; HTTP 429/529/5xx Unavailable (with retry-after), 401
// Unauthenticated, 403 PermissionDenied, other 4xx InvalidArgument; malformed JSON or out-of-order
// frames DataLoss; a stream that ends before message_stop Unavailable.
//
// Thread-safe: Stream may run on several threads at once (each uses its own thread's curl handle).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "harness/brain.h"

namespace wake {

struct AnthropicBrainOptions {
  std::string base_url = "https://api.anthropic.com";  // without the /v1/messages path
  std::string api_key;                                   // required; sent as x-api-key
  std::string anthropic_version = "2023-06-01";
  // Values for the anthropic-beta header (sent comma-separated; none by default).
  std::vector<std::string> beta_headers;
  absl::Duration connect_timeout = absl::Seconds(10);
  // No byte for this long while the response streams (the API pings an open stream) = Unavailable.
  absl::Duration idle_timeout = absl::Seconds(120);

  // Like the official SDKs: ANTHROPIC_API_KEY (required: FailedPrecondition naming it when unset or
  // empty) and ANTHROPIC_BASE_URL (optional). Everything else keeps its default.
  static absl::StatusOr<AnthropicBrainOptions> FromEnv();
};

// InvalidArgument when the options cannot work (no api_key, a base_url that is not http(s)).
absl::StatusOr<std::unique_ptr<Brain>> NewAnthropicBrain(AnthropicBrainOptions options);

}  // namespace wake
