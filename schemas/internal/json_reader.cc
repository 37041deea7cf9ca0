#include "schemas/internal/json_reader.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace wake::schemas_internal {

using simdjson::dom::element;
using simdjson::dom::element_type;

absl::Status JsonObjectReader::ExpectOnly(std::initializer_list<std::string_view> allowed) const {
  // Unknown keys first (the more useful message), in one scan linear in the object's size.
  size_t count = 0;
  for (simdjson::dom::key_value_pair field : object_) {
    ++count;
    if (std::find(allowed.begin(), allowed.end(), field.key) == allowed.end()) {
      // Keys are untrusted: quote a bounded, escaped prefix.
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(where_), ": unknown field \"",
                                                     path_.empty() ? "" : absl::StrCat(path_, "."),
                                                     absl::CHexEscape(ToAbsl(field.key.substr(0, 64))), "\""));
    }
  }
  // Every key is known, so if any repeats, one does among the first allowed.size() + 1 keys
  // (pigeonhole): the pairwise check stays on a handful of keys whatever the input.
  const size_t checked = std::min(count, allowed.size() + 1);
  std::string_view seen[16];
  size_t n = 0;
  for (simdjson::dom::key_value_pair field : object_) {
    if (n == checked || n == std::size(seen)) break;  // std::size(seen) only if REQUIRES is broken
    if (std::find(seen, seen + n, field.key) != seen + n) return Error(field.key, "appears more than once");
    seen[n++] = field.key;
  }
  return absl::OkStatus();
}

std::optional<element> JsonObjectReader::Find(std::string_view key) const {
  element value;
  if (object_.at_key(key).get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

absl::StatusOr<element> JsonObjectReader::Required(std::string_view key) const {
  std::optional<element> value = Find(key);
  if (!value) return Error(key, "is required");
  return *value;
}

absl::StatusOr<std::string_view> JsonObjectReader::String(std::string_view key) const {
  absl::StatusOr<element> value = Required(key);
  if (!value.ok()) return value.status();
  std::string_view s;
  if (value->get_string().get(s) != simdjson::SUCCESS) return Error(key, "must be a string");
  return s;
}

absl::StatusOr<simdjson::dom::array> JsonObjectReader::Array(std::string_view key) const {
  absl::StatusOr<element> value = Required(key);
  if (!value.ok()) return value.status();
  simdjson::dom::array array;
  if (value->get_array().get(array) != simdjson::SUCCESS) return Error(key, "must be an array");
  return array;
}

absl::StatusOr<simdjson::dom::object> JsonObjectReader::Object(std::string_view key) const {
  absl::StatusOr<element> value = Required(key);
  if (!value.ok()) return value.status();
  simdjson::dom::object object;
  if (value->get_object().get(object) != simdjson::SUCCESS) return Error(key, "must be an object");
  return object;
}

absl::StatusOr<int64_t> JsonObjectReader::NonNegativeInt64(std::string_view key) const {
  absl::StatusOr<element> value = Required(key);
  if (!value.ok()) return value.status();
  // simdjson stores every integer that fits as INT64; UINT64 means it is above INT64_MAX. Doubles
  // (including 1.0) are rejected: counts are integers in the API.
  if (value->type() != element_type::INT64) {
    if (value->type() == element_type::UINT64) return Error(key, "is too large");
    return Error(key, "must be a non-negative integer");
  }
  const int64_t n = value->get_int64().value_unsafe();
  if (n < 0) return Error(key, "must be a non-negative integer");
  return n;
}

absl::StatusOr<uint64_t> JsonObjectReader::Uint64(std::string_view key) const {
  absl::StatusOr<element> value = Required(key);
  if (!value.ok()) return value.status();
  if (value->type() == element_type::UINT64) return value->get_uint64().value_unsafe();
  if (value->type() == element_type::INT64) {
    const int64_t n = value->get_int64().value_unsafe();
    if (n >= 0) return static_cast<uint64_t>(n);
  }
  return Error(key, "must be a non-negative integer");
}

absl::StatusOr<std::optional<std::string_view>> JsonObjectReader::NullableString(std::string_view key) const {
  std::optional<element> value = Find(key);
  if (!value || value->is_null()) return std::optional<std::string_view>();
  std::string_view s;
  if (value->get_string().get(s) != simdjson::SUCCESS) return Error(key, "must be a string or null");
  return std::optional<std::string_view>(s);
}

absl::StatusOr<std::optional<bool>> JsonObjectReader::NullableBool(std::string_view key) const {
  std::optional<element> value = Find(key);
  if (!value || value->is_null()) return std::optional<bool>();
  bool b;
  if (value->get_bool().get(b) != simdjson::SUCCESS) return Error(key, "must be a boolean or null");
  return std::optional<bool>(b);
}

absl::StatusOr<std::optional<simdjson::dom::array>> JsonObjectReader::NullableArray(
    std::string_view key) const {
  std::optional<element> value = Find(key);
  if (!value || value->is_null()) return std::optional<simdjson::dom::array>();
  simdjson::dom::array array;
  if (value->get_array().get(array) != simdjson::SUCCESS) return Error(key, "must be an array or null");
  return std::optional<simdjson::dom::array>(array);
}

JsonObjectReader JsonObjectReader::Nested(simdjson::dom::object object, std::string_view key) const {
  return JsonObjectReader(object, where_, PathOf(key));
}

std::string JsonObjectReader::PathOf(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  if (key.empty()) return path_;
  return absl::StrCat(path_, ".", ToAbsl(key));
}

std::string JsonObjectReader::PathOf(std::string_view key, size_t index) const {
  return absl::StrCat(PathOf(key), "[", index, "]");
}

absl::Status JsonObjectReader::Error(std::string_view key, std::string_view problem) const {
  return ErrorAt(PathOf(key), problem);
}

absl::Status JsonObjectReader::ErrorAt(std::string_view path, std::string_view problem) const {
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(where_), ": field \"", ToAbsl(path), "\" ", ToAbsl(problem)));
}

}  // namespace wake::schemas_internal
