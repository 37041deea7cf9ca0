#pragma once
// JSON for the API layer: a small writer for response bodies, and a strict reader for request bodies
// (the Managed Agents request shapes), whose errors name the field and what is wrong with it so a
// client (or a model driving one) can fix its request.
//
// Not thread-safe; ParseJsonBody uses the calling thread's simdjson parser, whose document stays
// valid until that thread parses again.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "simdjson.h"

namespace wake::server_internal {

// Appends compact JSON; keeps track of commas. Misuse (a value where a key is due) is a bug, not
// checked.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  // A string, or null when empty (the API's `string | null` fields).
  JsonWriter& StringOrNull(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Already-encoded JSON (an event, a stored tool schema), embedded verbatim.
  JsonWriter& Raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void BeforeValue();
  std::string out_;
  // Per open object/array: whether something was written in it already.
  std::vector<bool> nonempty_;
  bool after_key_ = false;
};

// Parses a request body that must be one JSON object. InvalidArgument ("the request body is not
// valid JSON: ...", "... must be a JSON object") otherwise. The object lives in the thread's parser
// (or, for large bodies, in `*large_parser`, which the caller keeps alive).
absl::StatusOr<simdjson::dom::object> ParseJsonBody(std::string_view body, simdjson::dom::parser* large_parser);

// The text of a JSON value, compact.
std::string ToJsonText(simdjson::dom::element element);
std::string ToJsonText(simdjson::dom::object object);

// Strict, typed access to one object of a request. Errors are InvalidArgument and read
// `<path>: must be a string` (path like `tools[1].input_schema`; the top level has no path prefix).
class BodyReader {
 public:
  BodyReader(simdjson::dom::object object, std::string path) : object_(object), path_(std::move(path)) {}

  // OK when every key is one of `allowed` and none repeats: `unknown field "x"` otherwise.
  absl::Status ExpectOnly(std::initializer_list<std::string_view> allowed) const;
  // The value under `key`, a JSON null included; nullopt when absent.
  std::optional<simdjson::dom::element> Find(std::string_view key) const;
  // Whether `key` is present and not null.
  bool Has(std::string_view key) const;

  // Absent or null -> nullopt; a value of another type -> InvalidArgument.
  absl::StatusOr<std::optional<std::string>> OptString(std::string_view key) const;
  absl::StatusOr<std::optional<int64_t>> OptInt(std::string_view key) const;
  absl::StatusOr<std::optional<double>> OptNumber(std::string_view key) const;
  absl::StatusOr<std::optional<bool>> OptBool(std::string_view key) const;
  absl::StatusOr<std::optional<simdjson::dom::object>> OptObject(std::string_view key) const;
  absl::StatusOr<std::optional<simdjson::dom::array>> OptArray(std::string_view key) const;
  // Required (present and not null).
  absl::StatusOr<std::string> String(std::string_view key) const;

  // `<path of key>: <problem>`.
  absl::Status Error(std::string_view key, std::string_view problem) const;
  std::string PathOf(std::string_view key) const;
  std::string PathOf(std::string_view key, size_t index) const;
  const std::string& path() const { return path_; }

 private:
  simdjson::dom::object object_;
  std::string path_;
};

// `{"k": "v", ...}` -> pairs in document order. With `allow_null_values`, a null value is kept as
// nullopt (a metadata patch deletes that key). InvalidArgument naming `path` otherwise.
absl::StatusOr<std::vector<std::pair<std::string, std::optional<std::string>>>> ReadStringMap(
    simdjson::dom::object object, std::string_view path, bool allow_null_values);

}  // namespace wake::server_internal
