#include "schemas/internal/event_check.h"

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace wake::schemas_internal {
namespace {

// Which block kinds an event's content may hold, per the SDK's types.
enum BlockMask : unsigned {
  kTextBlock = 1u << static_cast<int>(ContentBlock::Kind::kText),
  kImageBlock = 1u << static_cast<int>(ContentBlock::Kind::kImage),
  kDocumentBlock = 1u << static_cast<int>(ContentBlock::Kind::kDocument),
  kRedactedBlock = 1u << static_cast<int>(ContentBlock::Kind::kRedacted),
};

class Checker {
 public:
  explicit Checker(const Event& event) : event_(event), type_name_(EventTypeName(event.type)) {}

  absl::Status Fail(std::string_view field, std::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(type_name_), ": field \"", ToAbsl(field), "\" ", ToAbsl(problem)));
  }

  absl::Status NonEmpty(std::string_view field, const std::string& value) const {
    if (value.empty()) return Fail(field, "must not be empty");
    return absl::OkStatus();
  }

  absl::Status NonNegative(std::string_view field, int64_t value) const {
    if (value < 0) return Fail(field, "must not be negative");
    return absl::OkStatus();
  }

  absl::Status Content(unsigned allowed_blocks, bool required) const {
    if (required && event_.content.empty()) return Fail("content", "must not be empty");
    for (size_t i = 0; i < event_.content.size(); ++i) {
      RETURN_IF_ERROR(Block(event_.content[i], i, allowed_blocks));
    }
    return absl::OkStatus();
  }

  absl::Status ToolInput() const {
    // A cheap shape check, not a parse: the JSON codec only ever produces a minified object, and
    // the harness builds inputs with a JSON writer. Anything else would corrupt the JSON encoding.
    const std::string& in = event_.input_json;
    if (in.size() < 2 || in.front() != '{' || in.back() != '}') {
      return Fail("input", "must be a JSON object");
    }
    return absl::OkStatus();
  }

 private:
  // Fails naming `content[index]` followed by `suffix`. The path is only built on failure: replay
  // checks every decoded event, so the valid path must not allocate.
  absl::Status BlockFail(size_t index, std::string_view suffix, std::string_view problem) const {
    return Fail(absl::StrCat("content[", index, "]", ToAbsl(suffix)), problem);
  }

  absl::Status Block(const ContentBlock& block, size_t index, unsigned allowed) const {
    const int kind = static_cast<int>(block.kind);
    if (kind < 0 || kind > static_cast<int>(ContentBlock::Kind::kRedacted)) {
      return BlockFail(index, "", "has an unknown block kind");
    }
    if ((allowed & (1u << kind)) == 0) {
      return BlockFail(index, ".type", "is not a block type this event allows");
    }
    const bool is_document = block.kind == ContentBlock::Kind::kDocument;
    if (!is_document && (block.title || block.context)) {
      return BlockFail(index, "", "has a title or context, which only documents have");
    }
    switch (block.kind) {
      case ContentBlock::Kind::kText:
      case ContentBlock::Kind::kRedacted:
        if (block.source != ContentBlock::SourceKind::kNone || !block.data.empty() ||
            !block.media_type.empty()) {
          return BlockFail(index, "", "has a source, which only images and documents have");
        }
        if (block.kind == ContentBlock::Kind::kRedacted && !block.text.empty()) {
          return BlockFail(index, ".text", "must be empty in a redacted block");
        }
        return absl::OkStatus();
      case ContentBlock::Kind::kImage:
      case ContentBlock::Kind::kDocument:
        if (!block.text.empty()) return BlockFail(index, ".text", "is only allowed in text blocks");
        return Source(block, index, is_document);
    }
    return BlockFail(index, "", "has an unknown block kind");
  }

  absl::Status Source(const ContentBlock& block, size_t index, bool is_document) const {
    switch (block.source) {
      case ContentBlock::SourceKind::kNone:
        return BlockFail(index, ".source", "is required");
      case ContentBlock::SourceKind::kBase64:
        if (block.media_type.empty()) return BlockFail(index, ".source.media_type", "must not be empty");
        return absl::OkStatus();
      case ContentBlock::SourceKind::kText:
        if (!is_document) return BlockFail(index, ".source.type", "\"text\" is for documents only");
        if (block.media_type != "text/plain") {
          return BlockFail(index, ".source.media_type", "must be \"text/plain\"");
        }
        return absl::OkStatus();
      case ContentBlock::SourceKind::kUrl:
      case ContentBlock::SourceKind::kFile: {
        const bool url = block.source == ContentBlock::SourceKind::kUrl;
        if (!block.media_type.empty()) {
          return BlockFail(index, ".source.media_type", "is only allowed for base64 and text sources");
        }
        if (block.data.empty()) {
          return BlockFail(index, url ? ".source.url" : ".source.file_id", "must not be empty");
        }
        return absl::OkStatus();
      }
    }
    return BlockFail(index, ".source", "has an unknown source kind");
  }

  const Event& event_;
  std::string_view type_name_;
};

}  // namespace

absl::Status CheckEventBody(const Event& event) {
  const int type = static_cast<int>(event.type);
  if (type < 0 || type >= kEventTypeCount) {
    return absl::InvalidArgumentError(absl::StrCat("unknown event type ", type));
  }
  const Checker c(event);
  switch (event.type) {
    case EventType::kUserMessage:
      return c.Content(kTextBlock | kImageBlock | kDocumentBlock | kRedactedBlock, /*required=*/true);
    case EventType::kAgentMessage:
      return c.Content(kTextBlock | kRedactedBlock, /*required=*/false);
    case EventType::kUserCustomToolResult:
      RETURN_IF_ERROR(c.NonEmpty("custom_tool_use_id", event.tool_use_id));
      return c.Content(kTextBlock | kImageBlock | kDocumentBlock, /*required=*/false);
    case EventType::kAgentToolResult:
      RETURN_IF_ERROR(c.NonEmpty("tool_use_id", event.tool_use_id));
      return c.Content(kTextBlock | kImageBlock | kDocumentBlock, /*required=*/false);
    case EventType::kUserToolConfirmation:
      return c.NonEmpty("tool_use_id", event.tool_use_id);
    case EventType::kAgentToolUse:
    case EventType::kAgentCustomToolUse:
      RETURN_IF_ERROR(c.NonEmpty("name", event.name));
      return c.ToolInput();
    case EventType::kSessionStatusIdle: {
      const StopReason& r = event.stop_reason;
      switch (r.kind) {
        case StopReason::Kind::kRequiresAction:
          if (r.event_ids.empty()) return c.Fail("stop_reason.event_ids", "must not be empty");
          for (size_t i = 0; i < r.event_ids.size(); ++i) {
            if (r.event_ids[i].empty()) {
              return c.Fail(absl::StrCat("stop_reason.event_ids[", i, "]"), "must not be empty");
            }
          }
          return absl::OkStatus();
        case StopReason::Kind::kEndTurn:
        case StopReason::Kind::kRetriesExhausted:
          if (!r.event_ids.empty()) {
            return c.Fail("stop_reason.event_ids", "is only allowed when the type is \"requires_action\"");
          }
          return absl::OkStatus();
      }
      return c.Fail("stop_reason.type", "is unknown");
    }
    case EventType::kSessionError: {
      const int retry = static_cast<int>(event.error.retry_status);
      if (retry < 0 || retry > static_cast<int>(SessionErrorInfo::RetryStatus::kTerminal)) {
        return c.Fail("error.retry_status.type", "is unknown");
      }
      return c.NonEmpty("error.type", event.error.type);
    }
    case EventType::kSpanModelRequestEnd:
      RETURN_IF_ERROR(c.NonEmpty("model_request_start_id", event.model_request_start_id));
      RETURN_IF_ERROR(c.NonNegative("model_usage.input_tokens", event.model_usage.input_tokens));
      RETURN_IF_ERROR(c.NonNegative("model_usage.output_tokens", event.model_usage.output_tokens));
      RETURN_IF_ERROR(c.NonNegative("model_usage.cache_creation_input_tokens",
                                    event.model_usage.cache_creation_input_tokens));
      return c.NonNegative("model_usage.cache_read_input_tokens", event.model_usage.cache_read_input_tokens);
    case EventType::kToolStarted:
      RETURN_IF_ERROR(c.NonEmpty("tool_use_id", event.tool_use_id));
      RETURN_IF_ERROR(c.NonEmpty("name", event.name));
      return c.NonEmpty("idempotency_key", event.idempotency_key);
    case EventType::kHandProvisioned:
    case EventType::kHandLost:
    case EventType::kHandReleased:
      RETURN_IF_ERROR(c.NonEmpty("hand_id", event.hand_id));
      RETURN_IF_ERROR(c.NonEmpty("backend", event.hand_backend));
      if (event.type == EventType::kHandProvisioned) return c.NonNegative("duration_us", event.duration_us);
      return absl::OkStatus();
    case EventType::kHarnessWoke:
      return c.NonEmpty("worker_id", event.worker_id);
    case EventType::kRewound:
      if (event.rewound_to_seq == 0) return absl::InvalidArgumentError("wake.rewound: to_seq must be at least 1");
      return absl::OkStatus();
    case EventType::kUserInterrupt:
    case EventType::kAgentThinking:
    case EventType::kAgentThreadContextCompacted:
    case EventType::kSessionStatusRunning:
    case EventType::kSessionStatusRescheduled:
    case EventType::kSessionStatusTerminated:
    case EventType::kSpanModelRequestStart:
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown event type ", type));
}

}  // namespace wake::schemas_internal
