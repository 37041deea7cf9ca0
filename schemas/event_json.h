#pragma once
// The Managed Agents JSON shapes of events (npm @anthropic-ai/sdk 1.10.0,
// resources/beta/sessions/events.d.ts), parsed with simdjson.
//
// Encoding is canonical: fields in a fixed order, compact, `processed_at` as RFC 3339 UTC with
// microseconds ("2026-11-22T11:08:26.123456Z"), so decode(encode(e)) == e and encode(decode(j)) == j
// for any canonical j. Decoding accepts any RFC 3339 time and any field order.
//
// Decoding is all-or-nothing: malformed JSON, an unknown `type`, an unknown field, a field of the wrong
// JSON type, or a missing required field is InvalidArgument with a message naming the problem, and
// no partial event is returned.
//
// Thread safety: the functions are thread-safe (each thread uses its own simdjson parser).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "schemas/event.h"

namespace wake {

// Which shape is being decoded.
enum class JsonEventMode {
  // A stored event as the API returns it: `id` and `processed_at` required (processed_at may be
  // absent or null for user.* events, as in the SDK types).
  kStored,
  // What a client sends (EventSendParams): no `id` or `processed_at` allowed, and only user.* types.
  kClientParams,
};

// Largest JSON document DecodeEventJson accepts; bigger inputs are InvalidArgument.
inline constexpr size_t kMaxEventJsonBytes = 32 * 1024 * 1024;

std::string EncodeEventJson(const Event& event);
absl::StatusOr<Event> DecodeEventJson(std::string_view json, JsonEventMode mode = JsonEventMode::kStored);

// Decodes the body of POST /v1/sessions/{id}/events: {"events": [ ...params... ]}. All or nothing.
absl::StatusOr<std::vector<Event>> DecodeEventSendParams(std::string_view json);

// Returns `json`, which must be exactly one JSON object, in the compact form Event::input_json holds
// (the form DecodeEventJson stores for a tool's `input`): no insignificant whitespace, strings
// re-escaped minimally, numbers in shortest round-trip form. InvalidArgument otherwise. For tool
// inputs that arrive as text, e.g. accumulated from a model's streamed input_json_delta.
absl::StatusOr<std::string> CompactJsonObject(std::string_view json);

// Appends `s` to `out` as a JSON string literal (quotes included), escaping as RFC 8259 requires.
void AppendJsonString(std::string& out, std::string_view s);
// Appends one content block in its Managed Agents shape ({"type":"text","text":...}, image, ...).
void AppendContentBlockJson(std::string& out, const ContentBlock& block);

// RFC 3339 with microseconds in UTC, and its parser (any offset, 0-9 fraction digits).
std::string FormatRfc3339(absl::Time t);
absl::StatusOr<absl::Time> ParseRfc3339(std::string_view s);

}  // namespace wake
