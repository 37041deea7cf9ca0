#include "harness/openai_brain.h"

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "harness/internal/http_stream.h"
#include "base/sse_parser.h"
#include "harness/internal/stream_json.h"
#include "schemas/event_json.h"
#include "simdjson.h"

namespace wake {
namespace {

namespace dom = simdjson::dom;
using harness_internal::ArrayField;
using harness_internal::IntField;
using harness_internal::ObjectField;
using ::wake::SseEvent;
using harness_internal::StringField;
using harness_internal::WriteKey;
using harness_internal::WriteRawJson;
using harness_internal::WriteString;

// ---------------------------------------------------------------------------------------------
// Request encoding: deterministic, "messages" last (see openai_brain.h for the mapping).

// The text a tool message or a text-only rendering carries for a content block.
void AppendBlockText(std::string& out, const ContentBlock& block) {
  switch (block.kind) {
    case ContentBlock::Kind::kText:
      out.append(block.text);
      return;
    case ContentBlock::Kind::kImage:
      out.append("[image]");
      return;
    case ContentBlock::Kind::kDocument:
      if (block.source == ContentBlock::SourceKind::kText) {
        out.append(block.data);
      } else {
        absl::StrAppend(&out, "[document", block.title ? absl::StrCat(": ", *block.title) : "", "]");
      }
      return;
    case ContentBlock::Kind::kRedacted:
      out.append("[redacted]");
      return;
  }
}

// One content part of a user message.
void AppendUserPart(std::string& out, const MessageBlock& block) {
  if (block.kind == MessageBlock::Kind::kText) {
    out.push_back('{');
    WriteString(out, "type", "text");
    out.push_back(',');
    WriteString(out, "text", block.text);
    out.push_back('}');
    return;
  }
  const ContentBlock& media = block.media;
  if (media.kind == ContentBlock::Kind::kImage &&
      (media.source == ContentBlock::SourceKind::kBase64 || media.source == ContentBlock::SourceKind::kUrl)) {
    out.append(R"({"type":"image_url","image_url":{)");
    WriteString(out, "url",
                media.source == ContentBlock::SourceKind::kUrl
                    ? media.data
                    : absl::StrCat("data:", media.media_type, ";base64,", media.data));
    out.append("}}");
    return;
  }
  if (media.kind == ContentBlock::Kind::kDocument && media.source == ContentBlock::SourceKind::kBase64) {
    out.append(R"({"type":"file","file":{)");
    WriteString(out, "filename", media.title.value_or("document"));
    out.push_back(',');
    WriteString(out, "file_data", absl::StrCat("data:", media.media_type, ";base64,", media.data));
    out.append("}}");
    return;
  }
  // Text documents, and media the chat API cannot reference (file ids): as text.
  std::string text;
  AppendBlockText(text, media);
  out.push_back('{');
  WriteString(out, "type", "text");
  out.push_back(',');
  WriteString(out, "text", text);
  out.push_back('}');
}

void AppendUserMessage(std::string& out, const Message& message, bool& first) {
  // Tool results first: the chat API wants them right after the assistant's tool_calls.
  std::vector<const MessageBlock*> parts;
  for (const MessageBlock& block : message.blocks) {
    if (block.kind != MessageBlock::Kind::kToolResult) {
      if (block.kind != MessageBlock::Kind::kToolUse) parts.push_back(&block);
      continue;
    }
    std::string text = block.is_error ? "Error: " : "";
    for (size_t i = 0; i < block.result.size(); ++i) {
      if (i > 0) text.push_back('\n');
      AppendBlockText(text, block.result[i]);
    }
    if (!first) out.push_back(',');
    first = false;
    out.append(R"({"role":"tool",)");
    WriteString(out, "tool_call_id", block.tool_use_id);
    out.push_back(',');
    WriteString(out, "content", text);
    out.push_back('}');
  }
  if (parts.empty()) return;
  if (!first) out.push_back(',');
  first = false;
  out.append(R"({"role":"user",)");
  if (parts.size() == 1 && parts[0]->kind == MessageBlock::Kind::kText) {
    WriteString(out, "content", parts[0]->text);  // plain string content: what every server accepts
  } else {
    WriteKey(out, "content");
    out.push_back('[');
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendUserPart(out, *parts[i]);
    }
    out.push_back(']');
  }
  out.push_back('}');
}

void AppendAssistantMessage(std::string& out, const Message& message, bool& first) {
  std::string text;
  bool has_calls = false;
  for (const MessageBlock& block : message.blocks) {
    if (block.kind == MessageBlock::Kind::kText) {
      if (!text.empty()) text.append("\n\n");
      text.append(block.text);
    }
    has_calls |= block.kind == MessageBlock::Kind::kToolUse;
  }
  if (!first) out.push_back(',');
  first = false;
  out.append(R"({"role":"assistant",)");
  WriteString(out, "content", text);
  if (has_calls) {
    out.push_back(',');
    WriteKey(out, "tool_calls");
    out.push_back('[');
    bool first_call = true;
    for (const MessageBlock& block : message.blocks) {
      if (block.kind != MessageBlock::Kind::kToolUse) continue;
      if (!first_call) out.push_back(',');
      first_call = false;
      out.push_back('{');
      WriteString(out, "id", block.tool_use_id);
      out.append(R"(,"type":"function","function":{)");
      WriteString(out, "name", block.name);
      out.push_back(',');
      WriteString(out, "arguments", block.input_json.empty() ? std::string_view("{}") : block.input_json);
      out.append("}}");
    }
    out.push_back(']');
  }
  out.push_back('}');
}

std::string EncodeChatRequest(const ModelRequest& request) {
  std::string out;
  out.reserve(4096 + request.system.size());
  out.push_back('{');
  WriteString(out, "model", request.model);
  absl::StrAppend(&out, ",\"max_tokens\":", request.max_tokens,
                  R"(,"stream":true,"stream_options":{"include_usage":true})");
  if (!request.tools.empty()) {
    out.push_back(',');
    WriteKey(out, "tools");
    out.push_back('[');
    for (size_t i = 0; i < request.tools.size(); ++i) {
      const ToolDefinition& tool = request.tools[i];
      if (i > 0) out.push_back(',');
      out.append(R"({"type":"function","function":{)");
      WriteString(out, "name", tool.name);
      if (!tool.description.empty()) {
        out.push_back(',');
        WriteString(out, "description", tool.description);
      }
      out.push_back(',');
      WriteKey(out, "parameters");
      WriteRawJson(out, tool.input_schema_json, R"({"type":"object"})");
      out.append("}}");
    }
    out.push_back(']');
  }
  out.push_back(',');
  WriteKey(out, "messages");
  out.push_back('[');
  bool first = true;
  if (!request.system.empty()) {
    out.append(R"({"role":"system",)");
    WriteString(out, "content", request.system);
    out.push_back('}');
    first = false;
  }
  for (const Message& message : request.messages) {
    if (message.role == Message::Role::kUser) {
      AppendUserMessage(out, message, first);
    } else {
      AppendAssistantMessage(out, message, first);
    }
  }
  out.append("]}");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stream decoding.

std::string_view StopReasonFor(std::string_view finish_reason, bool has_tool_calls) {
  if (finish_reason == "tool_calls" || finish_reason == "function_call") return "tool_use";
  if (finish_reason == "length") return "max_tokens";
  if (finish_reason == "content_filter") return "refusal";
  // "stop": some local servers say "stop" after tool calls.
  if (finish_reason == "stop" || finish_reason.empty()) return has_tool_calls ? "tool_use" : "end_turn";
  return finish_reason;
}

// Builds a ModelTurn from chat.completion.chunk events, in order.
class ChatStreamDecoder {
 public:
  ChatStreamDecoder(StreamObserver* observer, absl::Time start) : observer_(observer), start_(start) {}

  absl::Status OnEvent(const SseEvent& event) {
    if (done_) return absl::OkStatus();
    if (event.data == "[DONE]") {
      done_ = true;
      return Complete("");
    }
    ASSIGN_OR_RETURN(dom::element chunk, harness_internal::ParseStreamJson(event.data, "chat completion chunk"));
    if (!chunk.is_object()) return absl::DataLossError("openai stream: a chunk is not a JSON object");
    if (dom::element error; chunk["error"].get(error) == simdjson::SUCCESS && !error.is_null()) {
      return ErrorStatus(error, /*http=*/nullptr);
    }
    if (turn_.message_id.empty()) turn_.message_id = std::string(StringField(chunk, "id"));
    if (turn_.model.empty()) turn_.model = std::string(StringField(chunk, "model"));
    if (auto usage = ObjectField(chunk, "usage")) ReadUsage(*usage);
    std::optional<dom::array> choices = ArrayField(chunk, "choices");
    if (!choices) return absl::OkStatus();  // e.g. a usage-only chunk without choices
    for (dom::element choice : *choices) {
      if (IntField(choice, "index").value_or(0) != 0) continue;  // n > 1 is never requested
      if (auto delta = ObjectField(choice, "delta")) RETURN_IF_ERROR(OnDelta(*delta));
      const std::string_view finish = StringField(choice, "finish_reason");
      if (!finish.empty()) RETURN_IF_ERROR(Complete(finish));
    }
    return absl::OkStatus();
  }

  bool done() const { return done_; }

  ModelTurn TakeTurn(absl::Time end) {
    turn_.duration = end - start_;
    return std::move(turn_);
  }

  // An OpenAI error object {"message","type","code"}: in a chunk (`http` null), or the body of the
  // non-2xx response `http`.
  static absl::Status ErrorStatus(dom::element error, const harness_internal::HttpResult* http) {
    std::string type;
    std::string message;
    int64_t numeric_code = 0;
    if (error.is_string()) {
      message = std::string(error.get_string().value_unsafe());
    } else {
      type = std::string(StringField(error, "type"));
      if (type.empty()) type = std::string(StringField(error, "code"));
      numeric_code = IntField(error, "code").value_or(0);
      message = std::string(StringField(error, "message"));
    }
    if (http != nullptr) return harness_internal::HttpErrorStatus("openai", *http, type, message);
    if (type.empty()) type = "server_error";
    const bool retryable = harness_internal::IsRetryableUpstreamType(type) || numeric_code == 429 ||
                           numeric_code == 408 || numeric_code >= 500;
    return BrainError(retryable ? absl::StatusCode::kUnavailable : absl::StatusCode::kInvalidArgument, type,
                      absl::StrCat("openai stream error: ", message));
  }

 private:
  struct ToolCall {
    std::string id;
    std::string name;
    std::string arguments;
    size_t turn_index = 0;
  };

  void ReadUsage(dom::element usage) {
    const int64_t prompt = IntField(usage, "prompt_tokens").value_or(0);
    int64_t cached = 0;
    if (auto details = ObjectField(usage, "prompt_tokens_details")) {
      cached = IntField(*details, "cached_tokens").value_or(0);
    }
    turn_.usage.input_tokens = std::max<int64_t>(0, prompt - cached);
    turn_.usage.cache_read_input_tokens = cached;
    turn_.usage.output_tokens = IntField(usage, "completion_tokens").value_or(0);
  }

  void SawContent() {
    if (saw_content_) return;
    saw_content_ = true;
    turn_.time_to_first_token = absl::Now() - start_;
  }

  size_t NewTurnBlock(TurnBlock::Kind kind) {
    turn_.blocks.emplace_back().kind = kind;
    return turn_.blocks.size() - 1;
  }

  absl::Status OnDelta(dom::element delta) {
    if (completed_) return absl::OkStatus();  // nothing after finish_reason but usage
    std::string_view reasoning = StringField(delta, "reasoning_content");
    if (reasoning.empty()) reasoning = StringField(delta, "reasoning");
    if (!reasoning.empty()) {
      SawContent();
      if (!thinking_index_) thinking_index_ = NewTurnBlock(TurnBlock::Kind::kThinking);
      turn_.blocks[*thinking_index_].text.append(reasoning);
    }
    const std::string_view content = StringField(delta, "content");
    if (!content.empty()) {
      SawContent();
      if (!text_index_) text_index_ = NewTurnBlock(TurnBlock::Kind::kText);
      turn_.blocks[*text_index_].text.append(content);
      if (observer_ != nullptr) observer_->OnTextDelta(*text_index_, content);
    }
    std::optional<dom::array> fragments = ArrayField(delta, "tool_calls");
    if (!fragments) return absl::OkStatus();
    int64_t position = 0;
    for (dom::element fragment : *fragments) {
      SawContent();
      const int64_t index = IntField(fragment, "index").value_or(position++);
      const std::string_view id = StringField(fragment, "id");
      auto it = call_by_index_.find(index);
      if (it == call_by_index_.end() || (!id.empty() && !calls_[it->second].id.empty() && calls_[it->second].id != id)) {
        // A new call; Ollama sends parallel calls whole, each at index 0 with its own id.
        ToolCall call;
        call.turn_index = NewTurnBlock(TurnBlock::Kind::kToolUse);
        calls_.push_back(std::move(call));
        it = call_by_index_.insert_or_assign(index, calls_.size() - 1).first;
      }
      ToolCall& call = calls_[it->second];
      if (call.id.empty()) call.id = std::string(id);
      if (auto function = ObjectField(fragment, "function")) {
        call.name.append(StringField(*function, "name"));
        call.arguments.append(StringField(*function, "arguments"));
      }
    }
    return absl::OkStatus();
  }

  // Completes every block (at finish_reason, or at [DONE] when the server sent none).
  absl::Status Complete(std::string_view finish_reason) {
    if (completed_) return absl::OkStatus();
    completed_ = true;
    for (size_t i = 0; i < calls_.size(); ++i) {
      ToolCall& call = calls_[i];
      if (call.name.empty()) return absl::DataLossError(absl::StrCat("openai stream: tool call ", i, " has no name"));
      absl::StatusOr<std::string> input = CompactJsonObject(call.arguments.empty() ? "{}" : call.arguments);
      if (!input.ok()) {
        return absl::DataLossError(absl::StrCat("openai stream: arguments of tool call ", call.name,
                                                " are not a JSON object (", input.status().message(),
                                                "): ", harness_internal::Snippet(call.arguments)));
      }
      TurnBlock& block = turn_.blocks[call.turn_index];
      // A server that sends no id still gets a stable one (ids only pair calls with results).
      block.id = call.id.empty() ? absl::StrCat("call_", i) : std::move(call.id);
      block.name = std::move(call.name);
      block.input_json = *std::move(input);
    }
    turn_.stop_reason = std::string(StopReasonFor(finish_reason, !calls_.empty()));
    if (observer_ != nullptr) {
      for (size_t i = 0; i < turn_.blocks.size(); ++i) observer_->OnBlockComplete(i, turn_.blocks[i]);
    }
    return absl::OkStatus();
  }

  StreamObserver* const observer_;
  const absl::Time start_;
  ModelTurn turn_;
  std::optional<size_t> text_index_;
  std::optional<size_t> thinking_index_;
  std::vector<ToolCall> calls_;
  std::map<int64_t, size_t> call_by_index_;  // the stream's tool-call index -> calls_
  bool saw_content_ = false;
  bool completed_ = false;
  bool done_ = false;
};

// ---------------------------------------------------------------------------------------------

class OpenAiBrain final : public Brain {
 public:
  explicit OpenAiBrain(OpenAiBrainOptions options)
      : options_(std::move(options)), url_(absl::StrCat(options_.base_url, "/chat/completions")) {
    headers_ = {"content-type: application/json", "accept: text/event-stream"};
    if (!options_.api_key.empty()) headers_.push_back(absl::StrCat("authorization: Bearer ", options_.api_key));
  }

  std::string_view kind() const override { return "openai"; }

  absl::StatusOr<ModelTurn> Stream(const ModelRequest& request, StreamObserver* observer,
                                   const CancelToken* cancel) override {
    if (request.model.empty()) return absl::InvalidArgumentError("openai: the request names no model");
    harness_internal::HttpPost post;
    post.url = url_;
    post.headers = headers_;
    post.body = EncodeChatRequest(request);
    post.connect_timeout = options_.connect_timeout;
    post.idle_timeout = options_.idle_timeout;
    post.cancel = cancel;

    const absl::Time start = absl::Now();
    ChatStreamDecoder decoder(observer, start);
    ASSIGN_OR_RETURN(harness_internal::HttpResult result,
                     harness_internal::StreamingSsePost(post, [&decoder](const SseEvent& event) {
                       return decoder.OnEvent(event);
                     }));
    if (result.status < 200 || result.status >= 300) return ErrorFromResponse(result);
    if (!decoder.done()) {
      return BrainError(absl::StatusCode::kUnavailable, "", "openai: the stream ended before data: [DONE]");
    }
    return decoder.TakeTurn(absl::Now());
  }

 private:
  // The error envelope: {"error":{"message":"...","type":"...","param":...,"code":...}}.
  static absl::Status ErrorFromResponse(const harness_internal::HttpResult& result) {
    absl::StatusOr<dom::element> body = harness_internal::ParseStreamJson(result.error_body, "error body");
    if (body.ok()) {
      if (dom::element error; (*body)["error"].get(error) == simdjson::SUCCESS && !error.is_null()) {
        return ChatStreamDecoder::ErrorStatus(error, &result);
      }
    }
    return harness_internal::HttpErrorStatus("openai", result, "", harness_internal::Snippet(result.error_body));
  }

  const OpenAiBrainOptions options_;
  const std::string url_;
  std::vector<std::string> headers_;
};

}  // namespace

absl::StatusOr<OpenAiBrainOptions> OpenAiBrainOptions::FromEnv() {
  OpenAiBrainOptions options;
  const char* base_url = std::getenv("OPENAI_BASE_URL");
  if (base_url == nullptr || *base_url == '\0') {
    return absl::FailedPreconditionError(
        "OPENAI_BASE_URL is not set: export the chat-completions server's base URL, e.g. "
        "http://localhost:11434/v1, to use the openai brain");
  }
  options.base_url = base_url;
  if (const char* key = std::getenv("OPENAI_API_KEY"); key != nullptr) options.api_key = key;
  return options;
}

absl::StatusOr<std::unique_ptr<Brain>> NewOpenAiBrain(OpenAiBrainOptions options) {
  RETURN_IF_ERROR(harness_internal::CheckHeaderValue("openai brain: api_key", options.api_key));
  RETURN_IF_ERROR(harness_internal::CheckTimeouts("openai brain", options.connect_timeout, options.idle_timeout));
  ASSIGN_OR_RETURN(options.base_url, harness_internal::NormalizeBaseUrl("openai brain", options.base_url));
  return std::unique_ptr<Brain>(new OpenAiBrain(std::move(options)));
}

}  // namespace wake
