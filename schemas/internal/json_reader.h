#pragma once
// Strict, typed access to one simdjson DOM object, for decoders that must reject anything they do not
// understand: unknown or repeated keys, wrong JSON types, missing required fields. Every error is
// InvalidArgument and reads `<where>: field "<path>" <problem>`, e.g.
// `user.message: field "content[0].source.type" must be a string`.
//
// A reader is a view: the simdjson document (and so the parser) must outlive it. Not thread-safe (a
// simdjson parser is per thread anyway).

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "simdjson.h"

namespace wake::schemas_internal {

class JsonObjectReader {
 public:
  // `where` names what is being decoded (e.g. "events[2]: user.message") and must outlive the reader;
  // `path` is the object's own position ("" at the top level, "content[0].source" below).
  JsonObjectReader(simdjson::dom::object object, std::string_view where, std::string path)
      : object_(object), where_(where), path_(std::move(path)) {}

  // OK when every key is one of `allowed` and no key appears twice. REQUIRES: allowed.size() < 16.
  absl::Status ExpectOnly(std::initializer_list<std::string_view> allowed) const;

  // The value under `key`, including a JSON null; nullopt when the key is absent.
  std::optional<simdjson::dom::element> Find(std::string_view key) const;

  // Required values of one JSON type.
  absl::StatusOr<std::string_view> String(std::string_view key) const;
  absl::StatusOr<simdjson::dom::array> Array(std::string_view key) const;
  absl::StatusOr<simdjson::dom::object> Object(std::string_view key) const;
  absl::StatusOr<int64_t> NonNegativeInt64(std::string_view key) const;
  absl::StatusOr<uint64_t> Uint64(std::string_view key) const;

  // Optional values: absent or null gives nullopt.
  absl::StatusOr<std::optional<std::string_view>> NullableString(std::string_view key) const;
  absl::StatusOr<std::optional<bool>> NullableBool(std::string_view key) const;
  absl::StatusOr<std::optional<simdjson::dom::array>> NullableArray(std::string_view key) const;

  // A reader for the object under `key` (REQUIRES: `object` is that value), whose errors name the
  // nested path.
  JsonObjectReader Nested(simdjson::dom::object object, std::string_view key) const;
  // The path of `key`, or of element `index` of the array under `key`.
  std::string PathOf(std::string_view key) const;
  std::string PathOf(std::string_view key, size_t index) const;

  // InvalidArgument `<where>: field "<path of key>" <problem>`.
  absl::Status Error(std::string_view key, std::string_view problem) const;
  // The same for a full path, e.g. one made by PathOf(key, index).
  absl::Status ErrorAt(std::string_view path, std::string_view problem) const;

  std::string_view where() const { return where_; }

 private:
  absl::StatusOr<simdjson::dom::element> Required(std::string_view key) const;

  simdjson::dom::object object_;
  std::string_view where_;
  std::string path_;
};

}  // namespace wake::schemas_internal
