#include "server/internal/json.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "schemas/event_json.h"

namespace wake::server_internal {

namespace dom = simdjson::dom;

// ---------------------------------------------------------------------------------------------------
// JsonWriter

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!nonempty_.empty()) {
    if (nonempty_.back()) out_.push_back(',');
    nonempty_.back() = true;
  }
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_.push_back('{');
  nonempty_.push_back(false);
  return *this;
}
JsonWriter& JsonWriter::EndObject() {
  out_.push_back('}');
  nonempty_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_.push_back('[');
  nonempty_.push_back(false);
  return *this;
}
JsonWriter& JsonWriter::EndArray() {
  out_.push_back(']');
  nonempty_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendJsonString(out_, key);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}
JsonWriter& JsonWriter::String(std::string_view value) {
  BeforeValue();
  AppendJsonString(out_, value);
  return *this;
}
JsonWriter& JsonWriter::StringOrNull(std::string_view value) { return value.empty() ? Null() : String(value); }
JsonWriter& JsonWriter::Int(int64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
  return *this;
}
JsonWriter& JsonWriter::Uint(uint64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
  return *this;
}
JsonWriter& JsonWriter::Double(double value) {
  BeforeValue();
  if (!std::isfinite(value)) {
    out_ += "null";  // JSON has no NaN or infinity
    return *this;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);  // shortest round-trip form
  out_.append(buf, ec == std::errc() ? end : buf);
  return *this;
}
JsonWriter& JsonWriter::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
  return *this;
}
JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_ += "null";
  return *this;
}
JsonWriter& JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  out_.append(json);
  return *this;
}

// ---------------------------------------------------------------------------------------------------
// Parsing

namespace {

// Deepest nesting accepted in a request body (as for events): real requests are a few levels deep.
constexpr size_t kMaxJsonDepth = 64;
// Bodies above this size get a parser of their own, freed afterwards, so one large request does not
// leave a worker thread holding a parser sized for it (simdjson keeps ~10x the input).
constexpr size_t kLargeJsonBytes = 1 << 20;

const char* TypeName(dom::element_type type) {
  switch (type) {
    case dom::element_type::ARRAY: return "an array";
    case dom::element_type::OBJECT: return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE: return "a number";
    case dom::element_type::STRING: return "a string";
    case dom::element_type::BOOL: return "a boolean";
    case dom::element_type::NULL_VALUE: return "null";
  }
  return "a JSON value";
}

}  // namespace

absl::StatusOr<dom::object> ParseJsonBody(std::string_view body, dom::parser* large_parser) {
  thread_local dom::parser thread_parser;
  dom::parser& parser = body.size() > kLargeJsonBytes ? *large_parser : thread_parser;
  if (parser.capacity() == 0 || parser.max_depth() != kMaxJsonDepth) {
    if (parser.allocate(std::max<size_t>(body.size(), 4096), kMaxJsonDepth) != simdjson::SUCCESS) {
      return absl::ResourceExhaustedError("cannot allocate a JSON parser");
    }
  }
  dom::element root;
  const simdjson::error_code error = parser.parse(body.data(), body.size(), /*realloc_if_needed=*/true).get(root);
  if (error == simdjson::DEPTH_ERROR) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body is not valid JSON: nested more than ", kMaxJsonDepth, " levels deep"));
  }
  if (error != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body is not valid JSON: ", simdjson::error_message(error)));
  }
  dom::object object;
  if (root.get(object) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object, not ", TypeName(root.type())));
  }
  return object;
}

std::string ToJsonText(dom::element element) { return simdjson::minify(element); }
std::string ToJsonText(dom::object object) { return simdjson::minify(object); }

// ---------------------------------------------------------------------------------------------------
// BodyReader

std::string BodyReader::PathOf(std::string_view key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", std::string(key));
}
std::string BodyReader::PathOf(std::string_view key, size_t index) const {
  return absl::StrCat(PathOf(key), "[", index, "]");
}
absl::Status BodyReader::Error(std::string_view key, std::string_view problem) const {
  return absl::InvalidArgumentError(absl::StrCat(PathOf(key), ": ", std::string(problem)));
}

absl::Status BodyReader::ExpectOnly(std::initializer_list<std::string_view> allowed) const {
  std::vector<std::string_view> seen;
  for (auto [key, value] : object_) {
    bool known = false;
    for (std::string_view name : allowed) known = known || name == key;
    if (!known) {
      std::string names;
      for (std::string_view name : allowed) absl::StrAppend(&names, names.empty() ? "" : ", ", std::string(name));
      return absl::InvalidArgumentError(absl::StrCat(path_.empty() ? "" : absl::StrCat(path_, ": "), "unknown field \"",
                                                     std::string(key), "\" (known: ", names, ")"));
    }
    for (std::string_view s : seen) {
      if (s == key) return Error(key, "appears more than once");
    }
    seen.push_back(key);
  }
  return absl::OkStatus();
}

std::optional<dom::element> BodyReader::Find(std::string_view key) const {
  dom::element value;
  if (object_[key].get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

bool BodyReader::Has(std::string_view key) const {
  std::optional<dom::element> value = Find(key);
  return value.has_value() && !value->is_null();
}

absl::StatusOr<std::optional<std::string>> BodyReader::OptString(std::string_view key) const {
  std::optional<dom::element> value = Find(key);
  if (!value || value->is_null()) return std::nullopt;
  std::string_view s;
  if (value->get(s) != simdjson::SUCCESS) {
    return Error(key, absl::StrCat("must be a string, not ", TypeName(value->type())));
  }
  return std::string(s);
}

absl::StatusOr<std::optional<int64_t>> BodyReader::OptInt(std::string_view key) const {
  std::optional<dom::element> value = Find(key);
  if (!value || value->is_null()) return std::nullopt;
  int64_t n = 0;
  if (value->get(n) != simdjson::SUCCESS) {
    return Error(key, absl::StrCat("must be an integer, not ", TypeName(value->type())));
  }
  return n;
}

absl::StatusOr<std::optional<double>> BodyReader::OptNumber(std::string_view key) const {
  std::optional<dom::element> value = Find(key);
  if (!value || value->is_null()) return std::nullopt;
  double d = 0;
  if (value->get(d) != simdjson::SUCCESS) {
    return Error(key, absl::StrCat("must be a number, not ", TypeName(value->type())));
  }
  return d;
}

absl::StatusOr<std::optional<bool>> BodyReader::OptBool(std::string_view key) const {
  std::optional<dom::element> value = Find(key);
  if (!value || value->is_null()) return std::nullopt;
  bool b = false;
  if (value->get(b) != simdjson::SUCCESS) {
    return Error(key, absl::StrCat("must be a boolean, not ", TypeName(value->type())));
  }
  return b;
}

absl::StatusOr<std::optional<dom::object>> BodyReader::OptObject(std::string_view key) const {
  std::optional<dom::element> value = Find(key);
  if (!value || value->is_null()) return std::nullopt;
  dom::object o;
  if (value->get(o) != simdjson::SUCCESS) {
    return Error(key, absl::StrCat("must be an object, not ", TypeName(value->type())));
  }
  return o;
}

absl::StatusOr<std::optional<dom::array>> BodyReader::OptArray(std::string_view key) const {
  std::optional<dom::element> value = Find(key);
  if (!value || value->is_null()) return std::nullopt;
  dom::array a;
  if (value->get(a) != simdjson::SUCCESS) {
    return Error(key, absl::StrCat("must be an array, not ", TypeName(value->type())));
  }
  return a;
}

absl::StatusOr<std::string> BodyReader::String(std::string_view key) const {
  absl::StatusOr<std::optional<std::string>> value = OptString(key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return Error(key, "is required");
  return **value;
}

absl::StatusOr<std::vector<std::pair<std::string, std::optional<std::string>>>> ReadStringMap(
    dom::object object, std::string_view path, bool allow_null_values) {
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  for (auto [key, value] : object) {
    for (const auto& [seen, unused] : out) {
      if (seen == key) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(path), ": key \"", std::string(key), "\" appears more than once"));
      }
    }
    if (value.is_null() && allow_null_values) {
      out.emplace_back(std::string(key), std::nullopt);
      continue;
    }
    std::string_view s;
    if (value.get(s) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(path), ".", std::string(key), ": must be a string",
                                                     allow_null_values ? " or null" : "", ", not ",
                                                     TypeName(value.type())));
    }
    out.emplace_back(std::string(key), std::string(s));
  }
  return out;
}

}  // namespace wake::server_internal
