#include "harness/internal/stream_json.h"

#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "schemas/event_json.h"

namespace wake::harness_internal {

namespace dom = simdjson::dom;

absl::StatusOr<dom::element> ParseStreamJson(std::string_view json, std::string_view what) {
  thread_local dom::parser parser;
  dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root); error != simdjson::SUCCESS) {
    return absl::DataLossError(absl::StrCat("malformed JSON in ", ToAbsl(what), " (",
                                            simdjson::error_message(error), "): ", Snippet(json)));
  }
  return root;
}

std::string_view StringField(dom::element object, std::string_view key) {
  std::string_view value;
  if (object[key].get_string().get(value) != simdjson::SUCCESS) return {};
  return value;
}

std::optional<int64_t> IntField(dom::element object, std::string_view key) {
  int64_t value = 0;
  if (object[key].get_int64().get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

std::optional<dom::element> ObjectField(dom::element object, std::string_view key) {
  dom::element value;
  if (object[key].get(value) != simdjson::SUCCESS || !value.is_object()) return std::nullopt;
  return value;
}

std::optional<dom::array> ArrayField(dom::element object, std::string_view key) {
  dom::array value;
  if (object[key].get_array().get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

void WriteKey(std::string& out, std::string_view key) {
  out.push_back('"');
  out.append(key);
  out.append("\":");
}

void WriteString(std::string& out, std::string_view key, std::string_view value) {
  WriteKey(out, key);
  AppendJsonString(out, value);
}

void WriteRawJson(std::string& out, std::string_view json, std::string_view fallback) {
  out.append(json.empty() ? fallback : json);
}

std::string Snippet(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  return absl::StrCat(ToAbsl(text.substr(0, limit)), "...");
}

}  // namespace wake::harness_internal
