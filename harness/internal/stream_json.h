#pragma once
// JSON for the brains. Writing: the few helpers their canonical request encoders share. Reading:
// lenient access for the stream decoders: one simdjson DOM parser per thread, and
// field readers that treat a missing field, a null and a value of another type alike (providers add
// fields and send nulls freely; only what a decoder needs is looked at).
//
// Thread safety: ParseStreamJson uses this thread's parser; an element it returns is valid until the
// next ParseStreamJson call on the same thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "simdjson.h"

namespace wake::harness_internal {

// Parses `json` (one SSE data field, or an error body). DataLoss naming `what` when it is not JSON.
absl::StatusOr<simdjson::dom::element> ParseStreamJson(std::string_view json, std::string_view what);

// The string under `key` of `object`, or "" (absent, null, not a string, `object` not an object).
std::string_view StringField(simdjson::dom::element object, std::string_view key);
// The integer under `key`, or nullopt.
std::optional<int64_t> IntField(simdjson::dom::element object, std::string_view key);
// The value under `key` when it is an object, or nullopt.
std::optional<simdjson::dom::element> ObjectField(simdjson::dom::element object, std::string_view key);
// The value under `key` when it is an array, or nullopt.
std::optional<simdjson::dom::array> ArrayField(simdjson::dom::element object, std::string_view key);

// Appends `"key":` to `out`.
void WriteKey(std::string& out, std::string_view key);
// Appends `"key":"value"` (value escaped) to `out`.
void WriteString(std::string& out, std::string_view key, std::string_view value);
// Appends JSON held as text (a tool input, a schema) verbatim, or `fallback` when `json` is empty.
void WriteRawJson(std::string& out, std::string_view json, std::string_view fallback);

// The first bytes of `text`, for error messages about a payload.
std::string Snippet(std::string_view text, size_t limit = 200);

}  // namespace wake::harness_internal
