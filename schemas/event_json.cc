// The Managed Agents JSON shapes of events (see event_json.h for the contract).
//
// Canonical form, which EncodeEventJson writes and tests pin byte for byte:
//  - compact, keys in this order: "type", "id", the type's own fields (order below), "processed_at";
//  - every field of the type is written; an absent optional value is `null` (e.g. "is_error":null,
//    "processed_at":null on a user event that has not been appended yet);
//  - `input` is the stored compact JSON object, embedded verbatim.
// Per type (after "type","id"):
//   user.message, agent.message          content
//   user.tool_confirmation               tool_use_id, result, deny_message
//   user.custom_tool_result              custom_tool_use_id, content, is_error
//   agent.tool_use, agent.custom_tool_use name, input
//   agent.tool_result                    tool_use_id, content, is_error
//   session.status_idle                  stop_reason {type[, event_ids]}, stop_details (always null)
//   session.error                        error {type, message, retry_status {type}}
//   span.model_request_end               model_request_start_id, is_error,
//                                        model_usage {input_tokens, output_tokens,
//                                        cache_creation_input_tokens, cache_read_input_tokens}
//   wake.tool_started                    tool_use_id, name, idempotency_key
//   wake.hand_provisioned                hand_id, backend, duration_us[, reason: "reattached" | "warm"]
//   wake.hand_lost                       hand_id, backend, reason
//   wake.hand_released                   hand_id, backend
//   wake.harness_woke                    worker_id, lease_epoch
//   wake.rewound                         to_seq
//   (other types have no fields of their own)
// Content blocks: {"type":"text","text"} | {"type":"image","source"} |
//   {"type":"document","source","title","context"} | {"type":"redacted"}; sources:
//   {"type":"base64"|"text","media_type","data"} | {"type":"url","url"} | {"type":"file","file_id"}.

#include "schemas/event_json.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "schemas/internal/event_check.h"
#include "schemas/internal/json_reader.h"
#include "simdjson.h"

namespace wake {
namespace {

namespace dom = simdjson::dom;
using schemas_internal::JsonObjectReader;

// Deepest nesting accepted anywhere in a document, tool inputs included. Real tool inputs are a few
// levels deep; the limit keeps hostile input from costing stack or time.
constexpr size_t kMaxJsonDepth = 64;
// Documents above this size get a parser of their own, freed afterwards, so one large request does
// not leave every thread holding a parser sized for it (simdjson keeps ~10x the input size).
constexpr size_t kLargeJsonBytes = 1 << 20;

// ---------------------------------------------------------------------------------------------------
// Encoding

// Length of the valid UTF-8 sequence starting at p[0] (1..4), or 0 when it is not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid). REQUIRES: p[0] >= 0x80.
size_t Utf8SequenceLength(const unsigned char* p, size_t remaining) {
  auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < remaining && p[i] >= lo && p[i] <= hi;
  };
  const unsigned char c = p[0];
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// Appends `"key":`, preceded by a comma unless it is the first key of the current object.
void Key(std::string& out, std::string_view key) {
  if (out.back() != '{') out.push_back(',');
  out.push_back('"');
  out.append(key);  // keys are fixed ASCII names: nothing to escape
  out.append("\":");
}

void StringField(std::string& out, std::string_view key, std::string_view value) {
  Key(out, key);
  AppendJsonString(out, value);
}

void NullableStringField(std::string& out, std::string_view key, const std::optional<std::string>& value) {
  Key(out, key);
  if (value) {
    AppendJsonString(out, *value);
  } else {
    out.append("null");
  }
}

void NullableBoolField(std::string& out, std::string_view key, std::optional<bool> value) {
  Key(out, key);
  out.append(!value ? "null" : *value ? "true" : "false");
}

template <typename Int>
void IntField(std::string& out, std::string_view key, Int value) {
  Key(out, key);
  absl::StrAppend(&out, value);
}

void AppendSource(std::string& out, const ContentBlock& block) {
  out.push_back('{');
  switch (block.source) {
    case ContentBlock::SourceKind::kBase64:
    case ContentBlock::SourceKind::kText:
      StringField(out, "type", block.source == ContentBlock::SourceKind::kBase64 ? "base64" : "text");
      StringField(out, "media_type", block.media_type);
      StringField(out, "data", block.data);
      break;
    case ContentBlock::SourceKind::kUrl:
      StringField(out, "type", "url");
      StringField(out, "url", block.data);
      break;
    case ContentBlock::SourceKind::kFile:
      StringField(out, "type", "file");
      StringField(out, "file_id", block.data);
      break;
    case ContentBlock::SourceKind::kNone:
      // Not a valid image/document (the codecs reject it); write an empty source rather than
      // invalid JSON.
      break;
  }
  out.push_back('}');
}

void AppendBlock(std::string& out, const ContentBlock& block) {
  out.push_back('{');
  switch (block.kind) {
    case ContentBlock::Kind::kText:
      StringField(out, "type", "text");
      StringField(out, "text", block.text);
      break;
    case ContentBlock::Kind::kImage:
      StringField(out, "type", "image");
      Key(out, "source");
      AppendSource(out, block);
      break;
    case ContentBlock::Kind::kDocument:
      StringField(out, "type", "document");
      Key(out, "source");
      AppendSource(out, block);
      NullableStringField(out, "title", block.title);
      NullableStringField(out, "context", block.context);
      break;
    case ContentBlock::Kind::kRedacted:
      StringField(out, "type", "redacted");
      break;
  }
  out.push_back('}');
}

void ContentField(std::string& out, const std::vector<ContentBlock>& content) {
  Key(out, "content");
  out.push_back('[');
  for (size_t i = 0; i < content.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendBlock(out, content[i]);
  }
  out.push_back(']');
}

std::string_view StopReasonName(StopReason::Kind kind) {
  switch (kind) {
    case StopReason::Kind::kEndTurn: return "end_turn";
    case StopReason::Kind::kRequiresAction: return "requires_action";
    case StopReason::Kind::kRetriesExhausted: return "retries_exhausted";
  }
  return "end_turn";
}

std::string_view RetryStatusName(SessionErrorInfo::RetryStatus status) {
  switch (status) {
    case SessionErrorInfo::RetryStatus::kRetrying: return "retrying";
    case SessionErrorInfo::RetryStatus::kExhausted: return "exhausted";
    case SessionErrorInfo::RetryStatus::kTerminal: return "terminal";
  }
  return "terminal";
}

// A rough size of the encoded event, so the output is allocated once in the common case.
size_t EstimateJsonSize(const Event& e) {
  size_t n = 128 + e.id.size() + e.input_json.size() + e.name.size() + e.tool_use_id.size();
  for (const ContentBlock& b : e.content) n += 64 + b.text.size() + b.data.size() + b.media_type.size();
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Decoding

bool IsUserType(EventType type) {
  return type == EventType::kUserMessage || type == EventType::kUserInterrupt ||
         type == EventType::kUserToolConfirmation || type == EventType::kUserCustomToolResult;
}

absl::Status DecodeSource(const JsonObjectReader& r, ContentBlock& block) {
  ASSIGN_OR_RETURN(std::string_view type, r.String("type"));
  if (type == "base64" || type == "text") {
    RETURN_IF_ERROR(r.ExpectOnly({"type", "media_type", "data"}));
    block.source = type == "base64" ? ContentBlock::SourceKind::kBase64 : ContentBlock::SourceKind::kText;
    ASSIGN_OR_RETURN(std::string_view media_type, r.String("media_type"));
    ASSIGN_OR_RETURN(std::string_view data, r.String("data"));
    block.media_type = media_type;
    block.data = data;
  } else if (type == "url") {
    RETURN_IF_ERROR(r.ExpectOnly({"type", "url"}));
    block.source = ContentBlock::SourceKind::kUrl;
    ASSIGN_OR_RETURN(std::string_view url, r.String("url"));
    block.data = url;
  } else if (type == "file") {
    RETURN_IF_ERROR(r.ExpectOnly({"type", "file_id"}));
    block.source = ContentBlock::SourceKind::kFile;
    ASSIGN_OR_RETURN(std::string_view file_id, r.String("file_id"));
    block.data = file_id;
  } else {
    return r.Error("type", "must be \"base64\", \"text\", \"url\" or \"file\"");
  }
  return absl::OkStatus();
}

absl::StatusOr<ContentBlock> DecodeBlock(const JsonObjectReader& r) {
  ContentBlock block;
  ASSIGN_OR_RETURN(std::string_view type, r.String("type"));
  if (type == "text") {
    RETURN_IF_ERROR(r.ExpectOnly({"type", "text"}));
    block.kind = ContentBlock::Kind::kText;
    ASSIGN_OR_RETURN(std::string_view text, r.String("text"));
    block.text = text;
  } else if (type == "image" || type == "document") {
    const bool document = type == "document";
    if (document) {
      RETURN_IF_ERROR(r.ExpectOnly({"type", "source", "title", "context"}));
    } else {
      RETURN_IF_ERROR(r.ExpectOnly({"type", "source"}));
    }
    block.kind = document ? ContentBlock::Kind::kDocument : ContentBlock::Kind::kImage;
    ASSIGN_OR_RETURN(dom::object source, r.Object("source"));
    RETURN_IF_ERROR(DecodeSource(r.Nested(source, "source"), block));
    if (document) {
      ASSIGN_OR_RETURN(std::optional<std::string_view> title, r.NullableString("title"));
      ASSIGN_OR_RETURN(std::optional<std::string_view> context, r.NullableString("context"));
      if (title) block.title = std::string(*title);
      if (context) block.context = std::string(*context);
    }
  } else if (type == "redacted") {
    RETURN_IF_ERROR(r.ExpectOnly({"type"}));
    block.kind = ContentBlock::Kind::kRedacted;
  } else {
    return r.Error("type", "must be \"text\", \"image\", \"document\" or \"redacted\"");
  }
  return block;
}

// Decodes the array under `key` (REQUIRES: `array` is that value) into `out`.
absl::Status DecodeContent(const JsonObjectReader& r, std::string_view key, dom::array array,
                           std::vector<ContentBlock>& out) {
  out.reserve(array.size());
  size_t index = 0;
  for (dom::element item : array) {
    const std::string path = r.PathOf(key, index++);
    dom::object object;
    if (item.get_object().get(object) != simdjson::SUCCESS) return r.ErrorAt(path, "must be an object");
    ASSIGN_OR_RETURN(ContentBlock block, DecodeBlock(JsonObjectReader(object, r.where(), path)));
    out.push_back(std::move(block));
  }
  return absl::OkStatus();
}

absl::Status DecodeRequiredContent(const JsonObjectReader& r, Event& e) {
  ASSIGN_OR_RETURN(dom::array array, r.Array("content"));
  return DecodeContent(r, "content", array, e.content);
}

// `content` is optional on tool results (absent or null = no blocks).
absl::Status DecodeOptionalContent(const JsonObjectReader& r, Event& e) {
  ASSIGN_OR_RETURN(std::optional<dom::array> array, r.NullableArray("content"));
  if (!array) return absl::OkStatus();
  return DecodeContent(r, "content", *array, e.content);
}

absl::Status DecodeToolInput(const JsonObjectReader& r, Event& e) {
  ASSIGN_OR_RETURN(dom::object input, r.Object("input"));
  // The DOM does not keep the source text, so this is simdjson's compact re-serialisation: same
  // keys in the same order, same values (see CompactJsonObject).
  e.input_json = simdjson::minify(input);
  return absl::OkStatus();
}

absl::Status DecodeStopReason(const JsonObjectReader& r, StopReason& reason) {
  ASSIGN_OR_RETURN(std::string_view type, r.String("type"));
  if (type == "end_turn" || type == "retries_exhausted") {
    RETURN_IF_ERROR(r.ExpectOnly({"type"}));
    reason.kind = type == "end_turn" ? StopReason::Kind::kEndTurn : StopReason::Kind::kRetriesExhausted;
    return absl::OkStatus();
  }
  if (type != "requires_action") {
    return r.Error("type", "must be \"end_turn\", \"requires_action\" or \"retries_exhausted\"");
  }
  RETURN_IF_ERROR(r.ExpectOnly({"type", "event_ids"}));
  reason.kind = StopReason::Kind::kRequiresAction;
  ASSIGN_OR_RETURN(dom::array ids, r.Array("event_ids"));
  size_t index = 0;
  for (dom::element item : ids) {
    std::string_view id;
    if (item.get_string().get(id) != simdjson::SUCCESS) {
      return r.ErrorAt(r.PathOf("event_ids", index), "must be a string");
    }
    reason.event_ids.emplace_back(id);
    ++index;
  }
  return absl::OkStatus();
}

absl::Status DecodeSessionError(const JsonObjectReader& r, SessionErrorInfo& error) {
  RETURN_IF_ERROR(r.ExpectOnly({"type", "message", "retry_status"}));
  ASSIGN_OR_RETURN(std::string_view type, r.String("type"));
  ASSIGN_OR_RETURN(std::string_view message, r.String("message"));
  error.type = type;
  error.message = message;
  ASSIGN_OR_RETURN(dom::object retry_object, r.Object("retry_status"));
  const JsonObjectReader retry = r.Nested(retry_object, "retry_status");
  RETURN_IF_ERROR(retry.ExpectOnly({"type"}));
  ASSIGN_OR_RETURN(std::string_view status, retry.String("type"));
  if (status == "retrying") {
    error.retry_status = SessionErrorInfo::RetryStatus::kRetrying;
  } else if (status == "exhausted") {
    error.retry_status = SessionErrorInfo::RetryStatus::kExhausted;
  } else if (status == "terminal") {
    error.retry_status = SessionErrorInfo::RetryStatus::kTerminal;
  } else {
    return retry.Error("type", "must be \"retrying\", \"exhausted\" or \"terminal\"");
  }
  return absl::OkStatus();
}

absl::Status DecodeModelUsage(const JsonObjectReader& r, ModelUsage& usage) {
  RETURN_IF_ERROR(r.ExpectOnly(
      {"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}));
  ASSIGN_OR_RETURN(usage.input_tokens, r.NonNegativeInt64("input_tokens"));
  ASSIGN_OR_RETURN(usage.output_tokens, r.NonNegativeInt64("output_tokens"));
  ASSIGN_OR_RETURN(usage.cache_creation_input_tokens, r.NonNegativeInt64("cache_creation_input_tokens"));
  ASSIGN_OR_RETURN(usage.cache_read_input_tokens, r.NonNegativeInt64("cache_read_input_tokens"));
  return absl::OkStatus();
}

// Copies the required string under `key` into *out.
absl::Status StringInto(const JsonObjectReader& r, std::string_view key, std::string* out) {
  ASSIGN_OR_RETURN(std::string_view value, r.String(key));
  out->assign(value);
  return absl::OkStatus();
}

// `id` and `processed_at`, whose rules depend on the mode and on whether the event is a user.* one.
absl::Status DecodeIdAndTime(const JsonObjectReader& r, JsonEventMode mode, Event& e) {
  if (mode == JsonEventMode::kClientParams) {
    if (r.Find("id")) return r.Error("id", "is not allowed in client params (the server assigns it)");
    if (r.Find("processed_at")) {
      return r.Error("processed_at", "is not allowed in client params (the server assigns it)");
    }
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(StringInto(r, "id", &e.id));
  if (e.id.empty()) return r.Error("id", "must not be empty");

  // The SDK types make processed_at optional and nullable on user.* events only.
  const bool optional_time = IsUserType(e.type);
  std::optional<dom::element> value = r.Find("processed_at");
  if (!value || value->is_null()) {
    if (optional_time) return absl::OkStatus();
    return r.Error("processed_at", value ? "must be an RFC 3339 time string" : "is required");
  }
  std::string_view text;
  if (value->get_string().get(text) != simdjson::SUCCESS) {
    return r.Error("processed_at", optional_time ? "must be an RFC 3339 time string or null"
                                                 : "must be an RFC 3339 time string");
  }
  absl::StatusOr<absl::Time> time = ParseRfc3339(text);
  if (!time.ok()) return r.Error("processed_at", absl::StrCat("is not valid: ", time.status().message()));
  // wake keeps event times to the microsecond (the on-disk precision), so decode(encode(e)) == e.
  e.processed_at = absl::FromUnixMicros(absl::ToUnixMicros(*time));
  return absl::OkStatus();
}

// The fields specific to e.type, with the set of keys that type allows.
absl::Status DecodeBody(const JsonObjectReader& r, Event& e) {
  switch (e.type) {
    case EventType::kUserMessage:
    case EventType::kAgentMessage:
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "content"}));
      return DecodeRequiredContent(r, e);
    case EventType::kUserInterrupt:
    case EventType::kAgentThinking:
    case EventType::kAgentThreadContextCompacted:
    case EventType::kSessionStatusRunning:
    case EventType::kSessionStatusRescheduled:
    case EventType::kSessionStatusTerminated:
    case EventType::kSpanModelRequestStart:
      return r.ExpectOnly({"type", "id", "processed_at"});
    case EventType::kUserToolConfirmation: {
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "tool_use_id", "result", "deny_message"}));
      RETURN_IF_ERROR(StringInto(r, "tool_use_id", &e.tool_use_id));
      ASSIGN_OR_RETURN(std::string_view result, r.String("result"));
      if (result != "allow" && result != "deny") return r.Error("result", "must be \"allow\" or \"deny\"");
      e.allow = result == "allow";
      ASSIGN_OR_RETURN(std::optional<std::string_view> deny_message, r.NullableString("deny_message"));
      if (deny_message) e.deny_message = std::string(*deny_message);
      return absl::OkStatus();
    }
    case EventType::kUserCustomToolResult:
    case EventType::kAgentToolResult: {
      const bool custom = e.type == EventType::kUserCustomToolResult;
      const std::string_view id_key = custom ? "custom_tool_use_id" : "tool_use_id";
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", id_key, "content", "is_error"}));
      RETURN_IF_ERROR(StringInto(r, id_key, &e.tool_use_id));
      RETURN_IF_ERROR(DecodeOptionalContent(r, e));
      ASSIGN_OR_RETURN(e.is_error, r.NullableBool("is_error"));
      return absl::OkStatus();
    }
    case EventType::kAgentToolUse:
    case EventType::kAgentCustomToolUse:
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "name", "input"}));
      RETURN_IF_ERROR(StringInto(r, "name", &e.name));
      return DecodeToolInput(r, e);
    case EventType::kSessionStatusIdle: {
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "stop_reason", "stop_details"}));
      ASSIGN_OR_RETURN(dom::object reason, r.Object("stop_reason"));
      RETURN_IF_ERROR(DecodeStopReason(r.Nested(reason, "stop_reason"), e.stop_reason));
      // The SDK's stop_details is null except for refusals, which wake never produces.
      std::optional<dom::element> details = r.Find("stop_details");
      if (details && !details->is_null()) return r.Error("stop_details", "must be null");
      return absl::OkStatus();
    }
    case EventType::kSessionError: {
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "error"}));
      ASSIGN_OR_RETURN(dom::object error, r.Object("error"));
      return DecodeSessionError(r.Nested(error, "error"), e.error);
    }
    case EventType::kSpanModelRequestEnd: {
      RETURN_IF_ERROR(
          r.ExpectOnly({"type", "id", "processed_at", "model_request_start_id", "is_error", "model_usage"}));
      RETURN_IF_ERROR(StringInto(r, "model_request_start_id", &e.model_request_start_id));
      // Required by the SDK type, but may be null.
      if (!r.Find("is_error")) return r.Error("is_error", "is required");
      ASSIGN_OR_RETURN(e.is_error, r.NullableBool("is_error"));
      ASSIGN_OR_RETURN(dom::object usage, r.Object("model_usage"));
      return DecodeModelUsage(r.Nested(usage, "model_usage"), e.model_usage);
    }
    case EventType::kToolStarted:
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "tool_use_id", "name", "idempotency_key"}));
      RETURN_IF_ERROR(StringInto(r, "tool_use_id", &e.tool_use_id));
      RETURN_IF_ERROR(StringInto(r, "name", &e.name));
      return StringInto(r, "idempotency_key", &e.idempotency_key);
    case EventType::kHandProvisioned: {
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "hand_id", "backend", "duration_us", "reason"}));
      RETURN_IF_ERROR(StringInto(r, "hand_id", &e.hand_id));
      RETURN_IF_ERROR(StringInto(r, "backend", &e.hand_backend));
      ASSIGN_OR_RETURN(e.duration_us, r.NonNegativeInt64("duration_us"));
      // Absent for a new sandbox (and in exports written before the field existed).
      if (r.Find("reason")) RETURN_IF_ERROR(StringInto(r, "reason", &e.reason));
      return absl::OkStatus();
    }
    case EventType::kHandLost:
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "hand_id", "backend", "reason"}));
      RETURN_IF_ERROR(StringInto(r, "hand_id", &e.hand_id));
      RETURN_IF_ERROR(StringInto(r, "backend", &e.hand_backend));
      return StringInto(r, "reason", &e.reason);
    case EventType::kHandReleased:
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "hand_id", "backend"}));
      RETURN_IF_ERROR(StringInto(r, "hand_id", &e.hand_id));
      return StringInto(r, "backend", &e.hand_backend);
    case EventType::kHarnessWoke: {
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "worker_id", "lease_epoch"}));
      RETURN_IF_ERROR(StringInto(r, "worker_id", &e.worker_id));
      ASSIGN_OR_RETURN(e.lease_epoch, r.Uint64("lease_epoch"));
      return absl::OkStatus();
    }
    case EventType::kRewound: {
      RETURN_IF_ERROR(r.ExpectOnly({"type", "id", "processed_at", "to_seq"}));
      ASSIGN_OR_RETURN(e.rewound_to_seq, r.Uint64("to_seq"));
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unhandled event type");
}

// Decodes one event object. `prefix` locates it in a larger document ("events[2]: ") or is empty.
absl::StatusOr<Event> DecodeEventElement(dom::element root, JsonEventMode mode, std::string_view prefix) {
  dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(prefix), "an event must be a JSON object"));
  }
  // The type comes first: it decides which fields are allowed and names the event in every error.
  const std::string untyped_where = absl::StrCat(ToAbsl(prefix), "event");
  ASSIGN_OR_RETURN(std::string_view type_name, JsonObjectReader(object, untyped_where, "").String("type"));
  const std::optional<EventType> type = EventTypeFromName(type_name);
  if (!type) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(prefix), "unknown event type \"",
                                                   absl::CHexEscape(ToAbsl(type_name.substr(0, 64))), "\""));
  }
  const std::string where = absl::StrCat(ToAbsl(prefix), ToAbsl(EventTypeName(*type)));
  if (mode == JsonEventMode::kClientParams && !IsUserType(*type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": clients may only send user.message, user.interrupt, user.tool_confirmation and "
               "user.custom_tool_result events"));
  }

  const JsonObjectReader r(object, where, "");
  Event e;
  e.type = *type;
  RETURN_IF_ERROR(DecodeIdAndTime(r, mode, e));
  RETURN_IF_ERROR(DecodeBody(r, e));
  // JSON types are right; now the rules both codecs share (non-empty ids, block kinds per type...).
  if (absl::Status s = schemas_internal::CheckEventBody(e); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(prefix), s.message()));
  }
  return e;
}

absl::StatusOr<dom::element> Parse(dom::parser& parser, std::string_view json) {
  // The depth limit is set when the parser allocates; later growth keeps it.
  if (parser.capacity() == 0 || parser.max_depth() != kMaxJsonDepth) {
    if (parser.allocate(std::max<size_t>(json.size(), 4096), kMaxJsonDepth) != simdjson::SUCCESS) {
      return absl::ResourceExhaustedError("cannot allocate a JSON parser");
    }
  }
  dom::element root;
  // realloc_if_needed: simdjson reads up to SIMDJSON_PADDING bytes past the end, which a string_view
  // does not promise, so it copies the input into the parser's own padded buffer.
  const simdjson::error_code error = parser.parse(json.data(), json.size(), /*realloc_if_needed=*/true).get(root);
  switch (error) {
    case simdjson::SUCCESS:
      return root;
    case simdjson::DEPTH_ERROR:
      return absl::InvalidArgumentError(
          absl::StrCat("malformed JSON: nested more than ", kMaxJsonDepth, " levels deep"));
    case simdjson::UTF8_ERROR:
      return absl::InvalidArgumentError("malformed JSON: not valid UTF-8");
    case simdjson::MEMALLOC:
      return absl::ResourceExhaustedError("out of memory parsing JSON");
    default:
      return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", simdjson::error_message(error)));
  }
}

// The calling thread's parser: simdjson parsers are not thread-safe, and reusing one keeps its
// buffers, so small documents parse without allocating.
dom::parser& ThreadParser() {
  thread_local dom::parser parser;
  return parser;
}

// Parses `json` and runs `decode` on its root while the parse is alive.
template <typename T, typename Decode>
absl::StatusOr<T> WithParsedJson(std::string_view json, Decode decode) {
  if (json.size() > kMaxEventJsonBytes) {
    return absl::InvalidArgumentError(absl::StrCat("JSON body too large: ", json.size(),
                                                   " bytes (limit ", kMaxEventJsonBytes, ")"));
  }
  if (json.size() > kLargeJsonBytes) {
    dom::parser one_off;
    ASSIGN_OR_RETURN(dom::element root, Parse(one_off, json));
    return decode(root);
  }
  ASSIGN_OR_RETURN(dom::element root, Parse(ThreadParser(), json));
  return decode(root);
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(p + i, n - i);
      if (len != 0) {
        i += len;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (c < 0x20) {
          const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out.append(escape, sizeof(escape));
        } else {
          // Invalid UTF-8 (e.g. raw bytes from a tool's output): emitting it would make the whole
          // document unparseable, so it becomes U+FFFD, as a lenient UTF-8 decoder would show it.
          out.append("\xEF\xBF\xBD");
        }
    }
    ++i;
    run = i;
  }
  out.append(s.data() + run, n - run);
  out.push_back('"');
}

std::string EncodeEventJson(const Event& e) {
  std::string out;
  out.reserve(EstimateJsonSize(e));
  out.push_back('{');
  StringField(out, "type", EventTypeName(e.type));
  StringField(out, "id", e.id);
  switch (e.type) {
    case EventType::kUserMessage:
    case EventType::kAgentMessage:
      ContentField(out, e.content);
      break;
    case EventType::kUserInterrupt:
    case EventType::kAgentThinking:
    case EventType::kAgentThreadContextCompacted:
    case EventType::kSessionStatusRunning:
    case EventType::kSessionStatusRescheduled:
    case EventType::kSessionStatusTerminated:
    case EventType::kSpanModelRequestStart:
      break;
    case EventType::kUserToolConfirmation:
      StringField(out, "tool_use_id", e.tool_use_id);
      StringField(out, "result", e.allow ? "allow" : "deny");
      NullableStringField(out, "deny_message", e.deny_message);
      break;
    case EventType::kUserCustomToolResult:
    case EventType::kAgentToolResult:
      StringField(out, e.type == EventType::kUserCustomToolResult ? "custom_tool_use_id" : "tool_use_id",
                  e.tool_use_id);
      ContentField(out, e.content);
      NullableBoolField(out, "is_error", e.is_error);
      break;
    case EventType::kAgentToolUse:
    case EventType::kAgentCustomToolUse:
      StringField(out, "name", e.name);
      Key(out, "input");
      // Verbatim: the codecs only store compact JSON objects here. An event built in memory without
      // an input still encodes as valid JSON.
      out.append(e.input_json.empty() ? std::string_view("{}") : std::string_view(e.input_json));
      break;
    case EventType::kSessionStatusIdle:
      Key(out, "stop_reason");
      out.push_back('{');
      StringField(out, "type", StopReasonName(e.stop_reason.kind));
      if (e.stop_reason.kind == StopReason::Kind::kRequiresAction) {
        Key(out, "event_ids");
        out.push_back('[');
        for (size_t i = 0; i < e.stop_reason.event_ids.size(); ++i) {
          if (i > 0) out.push_back(',');
          AppendJsonString(out, e.stop_reason.event_ids[i]);
        }
        out.push_back(']');
      }
      out.push_back('}');
      Key(out, "stop_details");
      out.append("null");
      break;
    case EventType::kSessionError:
      Key(out, "error");
      out.push_back('{');
      StringField(out, "type", e.error.type);
      StringField(out, "message", e.error.message);
      Key(out, "retry_status");
      out.push_back('{');
      StringField(out, "type", RetryStatusName(e.error.retry_status));
      out.append("}}");
      break;
    case EventType::kSpanModelRequestEnd:
      StringField(out, "model_request_start_id", e.model_request_start_id);
      NullableBoolField(out, "is_error", e.is_error);
      Key(out, "model_usage");
      out.push_back('{');
      IntField(out, "input_tokens", e.model_usage.input_tokens);
      IntField(out, "output_tokens", e.model_usage.output_tokens);
      IntField(out, "cache_creation_input_tokens", e.model_usage.cache_creation_input_tokens);
      IntField(out, "cache_read_input_tokens", e.model_usage.cache_read_input_tokens);
      out.push_back('}');
      break;
    case EventType::kToolStarted:
      StringField(out, "tool_use_id", e.tool_use_id);
      StringField(out, "name", e.name);
      StringField(out, "idempotency_key", e.idempotency_key);
      break;
    case EventType::kHandProvisioned:
      StringField(out, "hand_id", e.hand_id);
      StringField(out, "backend", e.hand_backend);
      IntField(out, "duration_us", e.duration_us);
      if (!e.reason.empty()) StringField(out, "reason", e.reason);
      break;
    case EventType::kHandLost:
      StringField(out, "hand_id", e.hand_id);
      StringField(out, "backend", e.hand_backend);
      StringField(out, "reason", e.reason);
      break;
    case EventType::kHandReleased:
      StringField(out, "hand_id", e.hand_id);
      StringField(out, "backend", e.hand_backend);
      break;
    case EventType::kHarnessWoke:
      StringField(out, "worker_id", e.worker_id);
      IntField(out, "lease_epoch", e.lease_epoch);
      break;
    case EventType::kRewound:
      IntField(out, "to_seq", e.rewound_to_seq);
      break;
  }
  Key(out, "processed_at");
  if (e.processed_at) {
    out.push_back('"');
    out.append(FormatRfc3339(*e.processed_at));  // digits and punctuation only: nothing to escape
    out.push_back('"');
  } else {
    out.append("null");
  }
  out.push_back('}');
  return out;
}

absl::StatusOr<std::string> CompactJsonObject(std::string_view json) {
  return WithParsedJson<std::string>(json, [](dom::element root) -> absl::StatusOr<std::string> {
    dom::object object;
    if (root.get_object().get(object) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError("tool input must be a JSON object");
    }
    return simdjson::minify(object);
  });
}

absl::StatusOr<Event> DecodeEventJson(std::string_view json, JsonEventMode mode) {
  return WithParsedJson<Event>(json, [mode](dom::element root) { return DecodeEventElement(root, mode, ""); });
}

absl::StatusOr<std::vector<Event>> DecodeEventSendParams(std::string_view json) {
  return WithParsedJson<std::vector<Event>>(json, [](dom::element root) -> absl::StatusOr<std::vector<Event>> {
    dom::object object;
    if (root.get_object().get(object) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError("request: the body must be a JSON object");
    }
    const JsonObjectReader r(object, "request", "");
    RETURN_IF_ERROR(r.ExpectOnly({"events"}));
    ASSIGN_OR_RETURN(dom::array items, r.Array("events"));
    if (items.size() == 0) return r.Error("events", "must not be empty");
    std::vector<Event> events;
    events.reserve(items.size());
    size_t index = 0;
    for (dom::element item : items) {
      ASSIGN_OR_RETURN(Event e, DecodeEventElement(item, JsonEventMode::kClientParams,
                                                   absl::StrCat("events[", index, "]: ")));
      events.push_back(std::move(e));
      ++index;
    }
    return events;
  });
}

void AppendContentBlockJson(std::string& out, const ContentBlock& block) { AppendBlock(out, block); }

}  // namespace wake
