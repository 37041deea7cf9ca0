#include "harness/anthropic_brain.h"

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
using harness_internal::IntField;
using harness_internal::ObjectField;
using ::wake::SseEvent;
using harness_internal::StringField;
using harness_internal::WriteKey;
using harness_internal::WriteRawJson;
using harness_internal::WriteString;

// ---------------------------------------------------------------------------------------------
// Request encoding. Every byte depends only on the ModelRequest: fields in a fixed order, compact,
// "messages" last so the encoding of a conversation's leading messages is a prefix of the body.

constexpr std::string_view kCacheControl = R"(,"cache_control":{"type":"ephemeral"})";

// Marks the block just written (its closing brace is the last byte of `out`) as a cache breakpoint.
void MarkCacheBreakpoint(std::string& out) {
  out.pop_back();
  out.append(kCacheControl);
  out.push_back('}');
}

void AppendSource(std::string& out, const ContentBlock& block) {
  out.push_back('{');
  switch (block.source) {
    case ContentBlock::SourceKind::kBase64:
    case ContentBlock::SourceKind::kText:
      WriteString(out, "type", block.source == ContentBlock::SourceKind::kBase64 ? "base64" : "text");
      out.push_back(',');
      WriteString(out, "media_type", block.media_type);
      out.push_back(',');
      WriteString(out, "data", block.data);
      break;
    case ContentBlock::SourceKind::kUrl:
      WriteString(out, "type", "url");
      out.push_back(',');
      WriteString(out, "url", block.data);
      break;
    case ContentBlock::SourceKind::kFile:
      WriteString(out, "type", "file");
      out.push_back(',');
      WriteString(out, "file_id", block.data);
      break;
    case ContentBlock::SourceKind::kNone:
      break;  // not a valid image or document; the API says so
  }
  out.push_back('}');
}

// A content block of a user message or tool result, in the Messages API shape.
void AppendContent(std::string& out, const ContentBlock& block) {
  out.push_back('{');
  switch (block.kind) {
    case ContentBlock::Kind::kText:
      WriteString(out, "type", "text");
      out.push_back(',');
      WriteString(out, "text", block.text);
      break;
    case ContentBlock::Kind::kImage:
      WriteString(out, "type", "image");
      out.push_back(',');
      WriteKey(out, "source");
      AppendSource(out, block);
      break;
    case ContentBlock::Kind::kDocument:
      WriteString(out, "type", "document");
      out.push_back(',');
      WriteKey(out, "source");
      AppendSource(out, block);
      if (block.title) {
        out.push_back(',');
        WriteString(out, "title", *block.title);
      }
      if (block.context) {
        out.push_back(',');
        WriteString(out, "context", *block.context);
      }
      break;
    case ContentBlock::Kind::kRedacted:
      // Masked content (secrets): the model sees that something was there, not what.
      WriteString(out, "type", "text");
      out.push_back(',');
      WriteString(out, "text", "[redacted]");
      break;
  }
  out.push_back('}');
}

void AppendMessageBlock(std::string& out, const MessageBlock& block) {
  switch (block.kind) {
    case MessageBlock::Kind::kText:
      out.push_back('{');
      WriteString(out, "type", "text");
      out.push_back(',');
      WriteString(out, "text", block.text);
      out.push_back('}');
      return;
    case MessageBlock::Kind::kImage:
    case MessageBlock::Kind::kDocument:
      AppendContent(out, block.media);
      return;
    case MessageBlock::Kind::kToolUse:
      out.push_back('{');
      WriteString(out, "type", "tool_use");
      out.push_back(',');
      WriteString(out, "id", block.tool_use_id);
      out.push_back(',');
      WriteString(out, "name", block.name);
      out.push_back(',');
      WriteKey(out, "input");
      WriteRawJson(out, block.input_json, "{}");
      out.push_back('}');
      return;
    case MessageBlock::Kind::kToolResult:
      out.push_back('{');
      WriteString(out, "type", "tool_result");
      out.push_back(',');
      WriteString(out, "tool_use_id", block.tool_use_id);
      if (!block.result.empty()) {
        out.push_back(',');
        WriteKey(out, "content");
        out.push_back('[');
        for (size_t i = 0; i < block.result.size(); ++i) {
          if (i > 0) out.push_back(',');
          AppendContent(out, block.result[i]);
        }
        out.push_back(']');
      }
      if (block.is_error) out.append(R"(,"is_error":true)");
      out.push_back('}');
      return;
  }
}

std::string EncodeMessagesRequest(const ModelRequest& request) {
  std::string out;
  out.reserve(4096 + request.system.size());
  out.push_back('{');
  WriteString(out, "model", request.model);
  absl::StrAppend(&out, ",\"max_tokens\":", request.max_tokens, ",\"stream\":true");
  if (!request.system.empty()) {
    out.push_back(',');
    WriteKey(out, "system");
    out.append("[{\"type\":\"text\",");
    WriteString(out, "text", request.system);
    out.push_back('}');
    MarkCacheBreakpoint(out);  // breakpoint 1: tools + system
    out.push_back(']');
  }
  if (!request.tools.empty()) {
    out.push_back(',');
    WriteKey(out, "tools");
    out.push_back('[');
    for (size_t i = 0; i < request.tools.size(); ++i) {
      const ToolDefinition& tool = request.tools[i];
      if (i > 0) out.push_back(',');
      out.push_back('{');
      WriteString(out, "name", tool.name);
      if (!tool.description.empty()) {
        out.push_back(',');
        WriteString(out, "description", tool.description);
      }
      out.push_back(',');
      WriteKey(out, "input_schema");
      WriteRawJson(out, tool.input_schema_json, R"({"type":"object"})");
      out.push_back('}');
      if (i + 1 == request.tools.size()) MarkCacheBreakpoint(out);  // breakpoint 2: the tools
    }
    out.push_back(']');
  }
  out.push_back(',');
  WriteKey(out, "messages");
  out.push_back('[');
  // Breakpoint 3: the end of the stable prefix (the previous turns), so the next turn reads it.
  const size_t cached_message =
      request.stable_prefix_messages > 0 ? request.stable_prefix_messages - 1 : request.messages.size();
  for (size_t m = 0; m < request.messages.size(); ++m) {
    const Message& message = request.messages[m];
    if (m > 0) out.push_back(',');
    out.append(message.role == Message::Role::kUser ? R"({"role":"user","content":[)"
                                                    : R"({"role":"assistant","content":[)");
    for (size_t b = 0; b < message.blocks.size(); ++b) {
      if (b > 0) out.push_back(',');
      AppendMessageBlock(out, message.blocks[b]);
      if (m == cached_message && b + 1 == message.blocks.size()) MarkCacheBreakpoint(out);
    }
    out.append("]}");
  }
  out.append("]}");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stream decoding.

// Builds a ModelTurn from the Messages API stream events, in order.
class MessagesStreamDecoder {
 public:
  MessagesStreamDecoder(StreamObserver* observer, absl::Time start) : observer_(observer), start_(start) {}

  // DataLoss for a malformed or out-of-order event; the error event's status for an `error` event.
  absl::Status OnEvent(const SseEvent& event) {
    if (finished_) return absl::OkStatus();  // nothing follows message_stop
    const std::string_view name = event.event.empty() ? std::string_view("an unnamed event") : event.event;
    ASSIGN_OR_RETURN(dom::element data, harness_internal::ParseStreamJson(event.data, name));
    std::string_view type = StringField(data, "type");
    if (type.empty()) type = event.event;
    if (type == "ping") return absl::OkStatus();
    if (type == "error") return OnError(data);
    if (type == "message_start") return OnMessageStart(data);
    const bool known = type == "content_block_start" || type == "content_block_delta" ||
                       type == "content_block_stop" || type == "message_delta" || type == "message_stop";
    if (!known) return absl::OkStatus();  // new event types are ignored (API versioning policy)
    if (!started_) return OutOfOrder(absl::StrCat(ToAbsl(type), " before message_start"));
    if (type == "content_block_start") return OnBlockStart(data);
    if (type == "content_block_delta") return OnBlockDelta(data);
    if (type == "content_block_stop") return OnBlockStop(data);
    if (type == "message_delta") return OnMessageDelta(data);
    return OnMessageStop();
  }

  bool finished() const { return finished_; }

  ModelTurn TakeTurn(absl::Time end) {
    turn_.duration = end - start_;
    return std::move(turn_);
  }

 private:
  // One content block of the stream, by its `index`.
  struct Block {
    enum class Kind { kText, kThinking, kToolUse, kSkipped };
    Kind kind = Kind::kSkipped;
    // Where the block sits in turn_.blocks; set when it first has content (an empty text or thinking
    // block is dropped: it says nothing, and the API refuses empty text blocks in a later request).
    std::optional<size_t> turn_index;
    std::string id;           // kToolUse
    std::string name;         // kToolUse
    std::string json;         // kToolUse: the accumulated partial_json
    std::string start_input;  // kToolUse: a non-empty `input` given at content_block_start
    bool stopped = false;
  };

  static absl::Status OutOfOrder(std::string_view what) {
    return absl::DataLossError(absl::StrCat("anthropic stream: ", ToAbsl(what)));
  }

  void ReadUsage(dom::element usage) {
    if (auto v = IntField(usage, "input_tokens")) turn_.usage.input_tokens = *v;
    if (auto v = IntField(usage, "output_tokens")) turn_.usage.output_tokens = *v;
    if (auto v = IntField(usage, "cache_creation_input_tokens")) turn_.usage.cache_creation_input_tokens = *v;
    if (auto v = IntField(usage, "cache_read_input_tokens")) turn_.usage.cache_read_input_tokens = *v;
  }

  absl::Status OnMessageStart(dom::element data) {
    if (started_) return OutOfOrder("a second message_start");
    started_ = true;
    std::optional<dom::element> message = ObjectField(data, "message");
    if (!message) return OutOfOrder("message_start without a message");
    turn_.message_id = std::string(StringField(*message, "id"));
    turn_.model = std::string(StringField(*message, "model"));
    if (auto usage = ObjectField(*message, "usage")) ReadUsage(*usage);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> Index(dom::element data, std::string_view type) {
    std::optional<int64_t> index = IntField(data, "index");
    if (!index) return OutOfOrder(absl::StrCat(ToAbsl(type), " without an index"));
    return *index;
  }

  // The open block at `index` of a delta or stop event.
  absl::StatusOr<Block*> OpenBlock(dom::element data, std::string_view type) {
    ASSIGN_OR_RETURN(int64_t index, Index(data, type));
    auto it = blocks_.find(index);
    if (it == blocks_.end()) return OutOfOrder(absl::StrCat(ToAbsl(type), " for block ", index, " never started"));
    if (it->second.stopped) {
      return OutOfOrder(absl::StrCat(ToAbsl(type), " for block ", index, " after its content_block_stop"));
    }
    return &it->second;
  }

  // Gives `block` its place in the turn (on its first content).
  TurnBlock& Place(Block& block, TurnBlock::Kind kind) {
    if (!block.turn_index) {
      block.turn_index = turn_.blocks.size();
      turn_.blocks.emplace_back().kind = kind;
    }
    return turn_.blocks[*block.turn_index];
  }

  void AppendText(Block& block, std::string_view text) {
    if (text.empty()) return;
    if (block.kind == Block::Kind::kText) {
      Place(block, TurnBlock::Kind::kText).text.append(text);
      if (observer_ != nullptr) observer_->OnTextDelta(*block.turn_index, text);
    } else {
      Place(block, TurnBlock::Kind::kThinking).text.append(text);  // thinking is not streamed to observers
    }
  }

  absl::Status OnBlockStart(dom::element data) {
    ASSIGN_OR_RETURN(int64_t index, Index(data, "content_block_start"));
    std::optional<dom::element> content = ObjectField(data, "content_block");
    if (!content) return OutOfOrder(absl::StrCat("content_block_start ", index, " without a content_block"));
    auto [it, inserted] = blocks_.try_emplace(index);
    if (!inserted) return OutOfOrder(absl::StrCat("content_block_start for block ", index, " twice"));
    Block& block = it->second;
    const std::string_view type = StringField(*content, "type");
    if (type == "text") {
      block.kind = Block::Kind::kText;
      AppendText(block, StringField(*content, "text"));
    } else if (type == "thinking") {
      block.kind = Block::Kind::kThinking;
      AppendText(block, StringField(*content, "thinking"));
    } else if (type == "tool_use") {
      block.kind = Block::Kind::kToolUse;
      block.id = std::string(StringField(*content, "id"));
      block.name = std::string(StringField(*content, "name"));
      if (block.id.empty() || block.name.empty()) {
        return OutOfOrder(absl::StrCat("tool_use block ", index, " without an id or a name"));
      }
      dom::object input;
      if ((*content)["input"].get_object().get(input) == simdjson::SUCCESS && input.size() > 0) {
        block.start_input = simdjson::minify(input);
      }
    }
    // Other block types (server tools, their results, redacted thinking) have no TurnBlock kind.
    return absl::OkStatus();
  }

  absl::Status OnBlockDelta(dom::element data) {
    if (!saw_delta_) {
      saw_delta_ = true;
      turn_.time_to_first_token = absl::Now() - start_;
    }
    ASSIGN_OR_RETURN(Block * block, OpenBlock(data, "content_block_delta"));
    if (block->kind == Block::Kind::kSkipped) return absl::OkStatus();
    std::optional<dom::element> delta = ObjectField(data, "delta");
    if (!delta) return OutOfOrder("content_block_delta without a delta");
    const std::string_view type = StringField(*delta, "type");
    auto expect = [&](Block::Kind kind) {
      return block->kind == kind ? absl::OkStatus()
                                 : OutOfOrder(absl::StrCat(ToAbsl(type), " for a block of another type"));
    };
    if (type == "text_delta") {
      RETURN_IF_ERROR(expect(Block::Kind::kText));
      AppendText(*block, StringField(*delta, "text"));
    } else if (type == "input_json_delta") {
      RETURN_IF_ERROR(expect(Block::Kind::kToolUse));
      block->json.append(StringField(*delta, "partial_json"));
    } else if (type == "thinking_delta") {
      RETURN_IF_ERROR(expect(Block::Kind::kThinking));
      AppendText(*block, StringField(*delta, "thinking"));
    }
    // signature_delta (a thinking block's signature), citations_delta and new delta types: ignored.
    return absl::OkStatus();
  }

  absl::Status OnBlockStop(dom::element data) {
    ASSIGN_OR_RETURN(Block * block, OpenBlock(data, "content_block_stop"));
    block->stopped = true;
    switch (block->kind) {
      case Block::Kind::kSkipped:
        return absl::OkStatus();
      case Block::Kind::kText:
      case Block::Kind::kThinking:
        break;
      case Block::Kind::kToolUse: {
        std::string_view json = block->json;
        if (json.empty()) json = block->start_input.empty() ? std::string_view("{}") : block->start_input;
        absl::StatusOr<std::string> input = CompactJsonObject(json);
        if (!input.ok()) {
          return absl::DataLossError(absl::StrCat("anthropic stream: tool_use ", block->id, " input is not a JSON object (",
                                                  input.status().message(), "): ", harness_internal::Snippet(json)));
        }
        TurnBlock& call = Place(*block, TurnBlock::Kind::kToolUse);
        call.id = std::move(block->id);
        call.name = std::move(block->name);
        call.input_json = *std::move(input);
        break;
      }
    }
    if (block->turn_index && observer_ != nullptr) {
      observer_->OnBlockComplete(*block->turn_index, turn_.blocks[*block->turn_index]);
    }
    return absl::OkStatus();
  }

  absl::Status OnMessageDelta(dom::element data) {
    if (auto delta = ObjectField(data, "delta")) {
      const std::string_view stop_reason = StringField(*delta, "stop_reason");
      if (!stop_reason.empty()) turn_.stop_reason = std::string(stop_reason);
    }
    if (auto usage = ObjectField(data, "usage")) ReadUsage(*usage);  // counts are cumulative
    return absl::OkStatus();
  }

  absl::Status OnMessageStop() {
    for (const auto& [index, block] : blocks_) {
      if (!block.stopped) return OutOfOrder(absl::StrCat("message_stop with block ", index, " still open"));
    }
    finished_ = true;
    return absl::OkStatus();
  }

  static absl::Status OnError(dom::element data) {
    std::string_view type;
    std::string_view message;
    if (auto error = ObjectField(data, "error")) {
      type = StringField(*error, "type");
      message = StringField(*error, "message");
    }
    if (type.empty()) type = "api_error";
    const absl::StatusCode code = harness_internal::IsRetryableUpstreamType(type) ? absl::StatusCode::kUnavailable
                                                                                : absl::StatusCode::kInvalidArgument;
    return BrainError(code, type, absl::StrCat("anthropic stream error event: ", ToAbsl(message)));
  }

  StreamObserver* const observer_;
  const absl::Time start_;
  std::map<int64_t, Block> blocks_;
  ModelTurn turn_;
  bool started_ = false;
  bool finished_ = false;
  bool saw_delta_ = false;
};

// ---------------------------------------------------------------------------------------------

class AnthropicBrain final : public Brain {
 public:
  explicit AnthropicBrain(AnthropicBrainOptions options)
      : options_(std::move(options)), url_(absl::StrCat(options_.base_url, "/v1/messages")) {
    headers_ = {
        absl::StrCat("x-api-key: ", options_.api_key),
        absl::StrCat("anthropic-version: ", options_.anthropic_version),
        "content-type: application/json",
        "accept: text/event-stream",
    };
    if (!options_.beta_headers.empty()) {
      headers_.push_back(absl::StrCat("anthropic-beta: ", absl::StrJoin(options_.beta_headers, ",")));
    }
  }

  std::string_view kind() const override { return "anthropic"; }

  absl::StatusOr<ModelTurn> Stream(const ModelRequest& request, StreamObserver* observer,
                                   const CancelToken* cancel) override {
    if (request.model.empty()) return absl::InvalidArgumentError("anthropic: the request names no model");
    harness_internal::HttpPost post;
    post.url = url_;
    post.headers = headers_;
    post.body = EncodeMessagesRequest(request);
    post.connect_timeout = options_.connect_timeout;
    post.idle_timeout = options_.idle_timeout;
    post.cancel = cancel;

    const absl::Time start = absl::Now();
    MessagesStreamDecoder decoder(observer, start);
    ASSIGN_OR_RETURN(harness_internal::HttpResult result,
                     harness_internal::StreamingSsePost(post, [&decoder](const SseEvent& event) {
                       return decoder.OnEvent(event);
                     }));
    if (result.status < 200 || result.status >= 300) return ErrorFromResponse(result);
    if (!decoder.finished()) {
      return BrainError(absl::StatusCode::kUnavailable, "", "anthropic: the stream ended before message_stop");
    }
    return decoder.TakeTurn(absl::Now());
  }

 private:
  // The error envelope: {"type":"error","error":{"type":"...","message":"..."},"request_id":"..."}.
  static absl::Status ErrorFromResponse(const harness_internal::HttpResult& result) {
    std::string type;
    std::string message;
    absl::StatusOr<dom::element> body = harness_internal::ParseStreamJson(result.error_body, "error body");
    if (body.ok()) {
      if (auto error = ObjectField(*body, "error")) {
        type = std::string(StringField(*error, "type"));
        message = std::string(StringField(*error, "message"));
      }
    }
    if (message.empty()) message = harness_internal::Snippet(result.error_body);
    return harness_internal::HttpErrorStatus("anthropic", result, type, message);
  }

  const AnthropicBrainOptions options_;
  const std::string url_;
  std::vector<std::string> headers_;
};

}  // namespace

absl::StatusOr<AnthropicBrainOptions> AnthropicBrainOptions::FromEnv() {
  AnthropicBrainOptions options;
  const char* key = std::getenv("ANTHROPIC_API_KEY");
  if (key == nullptr || *key == '\0') {
    return absl::FailedPreconditionError(
        "ANTHROPIC_API_KEY is not set: export your Anthropic API key to use the anthropic brain");
  }
  options.api_key = key;
  if (const char* base_url = std::getenv("ANTHROPIC_BASE_URL"); base_url != nullptr && *base_url != '\0') {
    options.base_url = base_url;
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Brain>> NewAnthropicBrain(AnthropicBrainOptions options) {
  if (options.api_key.empty()) return absl::InvalidArgumentError("anthropic brain: api_key is empty");
  RETURN_IF_ERROR(harness_internal::CheckHeaderValue("anthropic brain: api_key", options.api_key));
  RETURN_IF_ERROR(harness_internal::CheckHeaderValue("anthropic brain: anthropic_version", options.anthropic_version));
  for (const std::string& beta : options.beta_headers) {
    RETURN_IF_ERROR(harness_internal::CheckHeaderValue("anthropic brain: beta header", beta));
  }
  RETURN_IF_ERROR(harness_internal::CheckTimeouts("anthropic brain", options.connect_timeout, options.idle_timeout));
  ASSIGN_OR_RETURN(options.base_url, harness_internal::NormalizeBaseUrl("anthropic brain", options.base_url));
  return std::unique_ptr<Brain>(new AnthropicBrain(std::move(options)));
}

}  // namespace wake
