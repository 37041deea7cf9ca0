#include "harness/context_builder.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "schemas/event_json.h"

namespace wake {

bool AgentConfig::HasHandTool(std::string_view name) const {
  return std::any_of(tools.begin(), tools.end(), [&](const ToolDefinition& t) { return t.name == name; });
}

bool AgentConfig::IsCustomTool(std::string_view name) const {
  return std::any_of(custom_tools.begin(), custom_tools.end(), [&](const ToolDefinition& t) { return t.name == name; });
}

bool AgentConfig::NeedsConfirmation(std::string_view name) const {
  return std::find(always_ask.begin(), always_ask.end(), name) != always_ask.end();
}

namespace {

// Adds `block` to the conversation, merging it into the last message when the role is the same.
void AddBlock(std::vector<Message>& messages, Message::Role role, MessageBlock block) {
  if (messages.empty() || messages.back().role != role) {
    messages.push_back(Message{role, {}});
  }
  messages.back().blocks.push_back(std::move(block));
}

MessageBlock FromContent(const ContentBlock& content) {
  MessageBlock block;
  switch (content.kind) {
    case ContentBlock::Kind::kText:
      block.kind = MessageBlock::Kind::kText;
      block.text = content.text;
      break;
    case ContentBlock::Kind::kImage:
      block.kind = MessageBlock::Kind::kImage;
      block.media = content;
      break;
    case ContentBlock::Kind::kDocument:
      block.kind = MessageBlock::Kind::kDocument;
      block.media = content;
      break;
    case ContentBlock::Kind::kRedacted:
      // Redacted content is withheld from the model too; an empty text block keeps the turn shape.
      block.kind = MessageBlock::Kind::kText;
      break;
  }
  return block;
}

// The role of the blocks `event` adds to the conversation; nullopt when it adds none. Compactions are
// not covered: they replace the conversation.
std::optional<Message::Role> RoleOf(const Event& event) {
  switch (event.type) {
    case EventType::kUserMessage:
      return event.content.empty() ? std::nullopt : std::optional(Message::Role::kUser);
    case EventType::kAgentMessage:
      return event.content.empty() ? std::nullopt : std::optional(Message::Role::kAssistant);
    case EventType::kAgentToolUse:
    case EventType::kAgentCustomToolUse:
      return Message::Role::kAssistant;
    case EventType::kAgentToolResult:
    case EventType::kUserCustomToolResult:
      return Message::Role::kUser;
    default:
      return std::nullopt;
  }
}

// The assistant messages the conversation of `events` would have had, counted across compactions (each
// starts a new conversation with a user message), without building any of them.
size_t AssistantTurns(std::span<const Event> events) {
  size_t turns = 0;
  std::optional<Message::Role> last;
  for (const Event& event : events) {
    if (event.type == EventType::kAgentThreadContextCompacted) {
      last = Message::Role::kUser;  // its note and summary
      continue;
    }
    std::optional<Message::Role> role = RoleOf(event);
    if (!role) continue;
    if (*role == Message::Role::kAssistant && last != Message::Role::kAssistant) ++turns;
    last = role;
  }
  return turns;
}

bool HasToolResult(const Message& m) {
  return std::any_of(m.blocks.begin(), m.blocks.end(),
                     [](const MessageBlock& b) { return b.kind == MessageBlock::Kind::kToolResult; });
}

}  // namespace

const std::vector<Event>& EffectiveEvents(const std::vector<Event>& events, std::vector<Event>& storage) {
  const bool rewound = std::any_of(events.begin(), events.end(),
                                   [](const Event& e) { return e.type == EventType::kRewound; });
  if (!rewound) return events;
  storage.clear();
  for (const Event& e : events) {
    if (e.type == EventType::kRewound) {
      while (!storage.empty() && storage.back().seq > e.rewound_to_seq) storage.pop_back();
      continue;
    }
    storage.push_back(e);
  }
  return storage;
}

const ToolDefinition& SessionHistoryTool() {
  static const ToolDefinition* const kTool = new ToolDefinition{
      kSessionHistoryToolName,
      "Read this session's own event log, which an earlier summary replaced in your context. Returns up to "
      "`limit` events (default 20, at most 50) starting at position `from_seq` (the first event is 1), one "
      "JSON object per line.",
      R"({"type":"object","properties":{"from_seq":{"type":"integer","minimum":1},"limit":{"type":"integer","minimum":1,"maximum":50}},"required":["from_seq"]})"};
  return *kTool;
}

ModelRequest BuildModelRequest(const AgentConfig& agent, const std::vector<Event>& events,
                               const ContextOptions& options) {
  ModelRequest request;
  request.model = agent.model;
  request.system = agent.system;
  request.tools = agent.tools;
  request.tools.insert(request.tools.end(), agent.custom_tools.begin(), agent.custom_tools.end());
  request.max_tokens = agent.max_tokens;

  std::vector<Message>& messages = request.messages;
  bool compacted = false;
  std::vector<Event> storage;
  std::span<const Event> effective = EffectiveEvents(events, storage);
  // The last compaction replaces everything before it: start there, and only count the assistant turns
  // it replaced, instead of building messages to throw away (a long session's wake would copy its whole
  // history for nothing).
  auto in_view = effective.end();  // past the last event at or before as_of_seq (events are in seq order)
  while (in_view != effective.begin() && std::prev(in_view)->seq > options.as_of_seq) --in_view;
  effective = std::span<const Event>(effective.begin(), in_view);
  auto last_compaction = std::find_if(effective.rbegin(), effective.rend(), [](const Event& e) {
    return e.type == EventType::kAgentThreadContextCompacted;
  });
  if (last_compaction != effective.rend()) {
    const auto from = std::prev(last_compaction.base());
    request.compacted_turns = AssistantTurns(std::span<const Event>(effective.begin(), from));
    effective = std::span<const Event>(from, effective.end());
  }
  for (const Event& event : effective) {
    switch (event.type) {
      case EventType::kUserMessage: {
        for (const ContentBlock& c : event.content) AddBlock(messages, Message::Role::kUser, FromContent(c));
        break;
      }
      case EventType::kAgentMessage:
        for (const ContentBlock& c : event.content) AddBlock(messages, Message::Role::kAssistant, FromContent(c));
        break;
      case EventType::kAgentToolUse:
      case EventType::kAgentCustomToolUse: {
        MessageBlock block;
        block.kind = MessageBlock::Kind::kToolUse;
        block.tool_use_id = event.id;
        block.name = event.name;
        block.input_json = event.input_json;
        AddBlock(messages, Message::Role::kAssistant, std::move(block));
        break;
      }
      case EventType::kAgentToolResult:
      case EventType::kUserCustomToolResult: {
        MessageBlock block;
        block.kind = MessageBlock::Kind::kToolResult;
        block.tool_use_id = event.tool_use_id;
        block.result = event.content;
        block.is_error = event.is_error.value_or(false);
        AddBlock(messages, Message::Role::kUser, std::move(block));
        break;
      }
      case EventType::kAgentThreadContextCompacted: {
        // Everything so far is replaced by the summary.
        for (const Message& m : messages) request.compacted_turns += m.role == Message::Role::kAssistant ? 1 : 0;
        messages.clear();
        MessageBlock note;
        note.text = absl::StrCat(
            "[The conversation so far (session events 1 to ", event.compacted_through_seq,
            ") was compacted into the summary below. The session_history tool reads those events.]");
        AddBlock(messages, Message::Role::kUser, std::move(note));
        for (const ContentBlock& c : event.content) AddBlock(messages, Message::Role::kUser, FromContent(c));
        compacted = true;
        break;
      }
      default:
        break;  // no model content
    }
  }
  if (compacted) request.tools.push_back(SessionHistoryTool());
  // Later events only append messages or add blocks to the newest one: all the others are stable.
  request.stable_prefix_messages = messages.empty() ? 0 : messages.size() - 1;

  if (options.max_messages > 0 && messages.size() > options.max_messages) {
    // Start the window at a user message without tool results: the first inside the last max_messages,
    // or, when there is none, the nearest before them (a longer window beats an orphaned tool result).
    auto clean = [&](size_t i) { return messages[i].role == Message::Role::kUser && !HasToolResult(messages[i]); };
    size_t start = messages.size() - options.max_messages;
    size_t forward = start;
    while (forward < messages.size() && !clean(forward)) ++forward;
    if (forward < messages.size()) {
      start = forward;
    } else {
      while (start > 0 && !clean(start)) --start;
    }
    messages.erase(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(start));
    request.stable_prefix_messages =
        request.stable_prefix_messages > start ? request.stable_prefix_messages - start : 0;
  }
  return request;
}

namespace {

void Field(std::string& out, std::string_view key) {
  if (out.back() != '{') out.push_back(',');
  AppendJsonString(out, key);
  out.push_back(':');
}

void StringField(std::string& out, std::string_view key, std::string_view value) {
  Field(out, key);
  AppendJsonString(out, value);
}

void RawField(std::string& out, std::string_view key, std::string_view json) {
  Field(out, key);
  out.append(json.empty() ? std::string_view("{}") : json);
}

void AppendMessageBlock(std::string& out, const MessageBlock& block) {
  switch (block.kind) {
    case MessageBlock::Kind::kText: {
      ContentBlock text;
      text.text = block.text;
      AppendContentBlockJson(out, text);
      return;
    }
    case MessageBlock::Kind::kImage:
    case MessageBlock::Kind::kDocument:
      AppendContentBlockJson(out, block.media);
      return;
    case MessageBlock::Kind::kToolUse:
      out.push_back('{');
      StringField(out, "type", "tool_use");
      StringField(out, "id", block.tool_use_id);
      StringField(out, "name", block.name);
      RawField(out, "input", block.input_json);
      out.push_back('}');
      return;
    case MessageBlock::Kind::kToolResult:
      out.push_back('{');
      StringField(out, "type", "tool_result");
      StringField(out, "tool_use_id", block.tool_use_id);
      Field(out, "is_error");
      out.append(block.is_error ? "true" : "false");
      Field(out, "content");
      out.push_back('[');
      for (size_t i = 0; i < block.result.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendContentBlockJson(out, block.result[i]);
      }
      out.append("]}");
      return;
  }
}

}  // namespace

std::string EncodeModelRequestJson(const ModelRequest& request) {
  std::string out = "{";
  StringField(out, "model", request.model);
  StringField(out, "system", request.system);
  Field(out, "max_tokens");
  absl::StrAppend(&out, request.max_tokens);
  Field(out, "stable_prefix_messages");
  absl::StrAppend(&out, request.stable_prefix_messages);
  Field(out, "tools");
  out.push_back('[');
  for (size_t i = 0; i < request.tools.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('{');
    StringField(out, "name", request.tools[i].name);
    StringField(out, "description", request.tools[i].description);
    RawField(out, "input_schema", request.tools[i].input_schema_json);
    out.push_back('}');
  }
  out.push_back(']');
  Field(out, "messages");
  out.push_back('[');
  for (size_t m = 0; m < request.messages.size(); ++m) {
    const Message& message = request.messages[m];
    if (m > 0) out.push_back(',');
    out.push_back('{');
    StringField(out, "role", message.role == Message::Role::kUser ? "user" : "assistant");
    Field(out, "content");
    out.push_back('[');
    for (size_t b = 0; b < message.blocks.size(); ++b) {
      if (b > 0) out.push_back(',');
      AppendMessageBlock(out, message.blocks[b]);
    }
    out.append("]}");
  }
  out.append("]}");
  return out;
}

}  // namespace wake
