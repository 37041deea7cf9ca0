#include "inspect/replay.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "harness/harness.h"
#include "schemas/ids.h"
#include "harness/context_builder.h"
#include "simdjson.h"

namespace wake {
namespace {

absl::Status Invalid(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("agent config: ", std::string(what)));
}

absl::StatusOr<std::vector<ToolDefinition>> ParseTools(simdjson::dom::element value, std::string_view field) {
  simdjson::dom::array array;
  if (value.get(array) != simdjson::SUCCESS) return Invalid(absl::StrCat("\"", std::string(field), "\" must be an array"));
  std::vector<ToolDefinition> tools;
  for (simdjson::dom::element item : array) {
    simdjson::dom::object tool;
    std::string_view name;
    if (item.get(tool) != simdjson::SUCCESS || tool["name"].get(name) != simdjson::SUCCESS || name.empty()) {
      return Invalid(absl::StrCat("each of \"", std::string(field), "\" needs a \"name\""));
    }
    ToolDefinition def;
    def.name = std::string(name);
    std::string_view description;
    if (tool["description"].get(description) == simdjson::SUCCESS) def.description = std::string(description);
    simdjson::dom::object schema;
    def.input_schema_json = tool["input_schema"].get(schema) == simdjson::SUCCESS ? simdjson::minify(schema)
                                                                                   : std::string(R"({"type":"object"})");
    tools.push_back(std::move(def));
  }
  return tools;
}

}  // namespace

ReplayResult ReplaySession(const std::vector<Event>& events, const AgentConfig& agent, uint64_t to_seq) {
  std::vector<Event> prefix;
  for (const Event& e : events) {
    if (to_seq != 0 && e.seq > to_seq) break;
    prefix.push_back(e);
  }
  ReplayResult result;
  result.as_of_seq = prefix.empty() ? 0 : prefix.back().seq;
  result.action = DecideNextAction(prefix, agent);
  result.request = BuildModelRequest(agent, prefix);
  return result;
}

std::string DescribeNextAction(const NextAction& action) {
  switch (action.kind) {
    case NextAction::Kind::kNone:
      return "nothing: the session is idle, or waits for its client";
    case NextAction::Kind::kCallModel:
      return "call the model";
    case NextAction::Kind::kRunTool:
      return absl::StrCat("run tool ", action.tool_use.name, " (", action.tool_use.id, ")");
    case NextAction::Kind::kRecoverTool:
      return absl::StrCat("recover tool ", action.tool_use.name, " (", action.tool_use.id,
                          "): it started before a crash and has no result");
    case NextAction::Kind::kDenyTool:
      return absl::StrCat("answer the denied tool call ", action.tool_use.name, " (", action.tool_use.id,
                          ") with an error result");
    case NextAction::Kind::kAwaitClient:
      return absl::StrCat("go idle (requires_action): ", action.pending.size(), " event(s) await the client");
    case NextAction::Kind::kInterrupt:
      return absl::StrCat("end the turn (interrupted), closing ", action.pending.size(), " tool call(s)");
  }
  return "unknown";
}

absl::StatusOr<AgentConfig> ParseAgentConfigJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(simdjson::padded_string(json)).get(root) != simdjson::SUCCESS) {
    return Invalid("not a JSON object");
  }
  AgentConfig agent;
  for (auto [key, value] : root) {
    std::string_view text;
    if (key == "model" || key == "system") {
      if (value.get(text) != simdjson::SUCCESS) return Invalid(absl::StrCat("\"", std::string(key), "\" must be a string"));
      (key == "model" ? agent.model : agent.system) = std::string(text);
    } else if (key == "max_tokens") {
      int64_t n = 0;
      if (value.get(n) != simdjson::SUCCESS || n <= 0) return Invalid("\"max_tokens\" must be a positive integer");
      agent.max_tokens = n;
    } else if (key == "tools" || key == "custom_tools") {
      absl::StatusOr<std::vector<ToolDefinition>> tools = ParseTools(value, key);
      if (!tools.ok()) return tools.status();
      (key == "tools" ? agent.tools : agent.custom_tools) = *std::move(tools);
    } else if (key == "always_ask") {
      simdjson::dom::array names;
      if (value.get(names) != simdjson::SUCCESS) return Invalid("\"always_ask\" must be an array of names");
      for (simdjson::dom::element name : names) {
        if (name.get(text) != simdjson::SUCCESS) return Invalid("\"always_ask\" must be an array of names");
        agent.always_ask.emplace_back(text);
      }
    } else {
      return Invalid(absl::StrCat("unknown field \"", std::string(key), "\""));
    }
  }
  return agent;
}

}  // namespace wake

// --- ReplayAgainst ------------------------------------------------------------------------------

namespace wake {
namespace {

bool IsClientEvent(EventType type) {
  return type == EventType::kUserMessage || type == EventType::kUserInterrupt ||
         type == EventType::kUserToolConfirmation || type == EventType::kUserCustomToolResult;
}

// What a conversation is made of: compared between the recording and the replay. Spans, retries and
// wake's own markers depend on timing and on the machine, not on the inputs.
bool IsCompared(EventType type) {
  switch (type) {
    case EventType::kUserMessage:
    case EventType::kUserInterrupt:
    case EventType::kUserToolConfirmation:
    case EventType::kUserCustomToolResult:
    case EventType::kAgentMessage:
    case EventType::kAgentThinking:
    case EventType::kAgentToolUse:
    case EventType::kAgentToolResult:
    case EventType::kAgentCustomToolUse:
    case EventType::kAgentThreadContextCompacted:
    case EventType::kSessionStatusIdle:
      return true;
    default:
      return false;
  }
}

// The recorded model turns, in the order they were made (summaries of compactions included).
std::vector<ModelTurn> RecordedTurns(const std::vector<Event>& events) {
  std::vector<ModelTurn> turns;
  ModelTurn current;
  for (const Event& e : events) {
    switch (e.type) {
      case EventType::kSpanModelRequestStart:
        current = ModelTurn{};
        break;
      case EventType::kAgentMessage:
        for (const ContentBlock& c : e.content) {
          TurnBlock text;
          text.kind = TurnBlock::Kind::kText;
          text.text = c.text;
          current.blocks.push_back(std::move(text));
        }
        break;
      case EventType::kAgentThinking: {
        TurnBlock thinking;
        thinking.kind = TurnBlock::Kind::kThinking;
        current.blocks.push_back(std::move(thinking));
        break;
      }
      case EventType::kAgentToolUse:
      case EventType::kAgentCustomToolUse: {
        TurnBlock call;
        call.kind = TurnBlock::Kind::kToolUse;
        call.name = e.name;
        call.input_json = e.input_json;
        current.blocks.push_back(std::move(call));
        break;
      }
      case EventType::kSpanModelRequestEnd:
        if (!e.is_error.value_or(false)) {
          current.usage = e.model_usage;
          current.stop_reason = "end_turn";
          turns.push_back(current);
        }
        break;
      case EventType::kAgentThreadContextCompacted:
        // A summary's text is in the compaction event, appended after its span's end.
        if (!turns.empty()) {
          for (const ContentBlock& c : e.content) {
            TurnBlock text;
            text.kind = TurnBlock::Kind::kText;
            text.text = c.text;
            turns.back().blocks.push_back(std::move(text));
          }
        }
        break;
      default:
        break;
    }
  }
  return turns;
}

class RecordedBrain final : public Brain {
 public:
  explicit RecordedBrain(std::vector<ModelTurn> turns) : turns_(std::move(turns)) {}
  std::string_view kind() const override { return "recorded (replay)"; }
  absl::StatusOr<ModelTurn> Stream(const ModelRequest&, StreamObserver*, const CancelToken*) override {
    if (next_ >= turns_.size()) {
      return absl::FailedPreconditionError("the recording holds no more model turns: the replay asked for one more");
    }
    return turns_[next_++];
  }

 private:
  std::vector<ModelTurn> turns_;
  size_t next_ = 0;
};

// The recorded tool results, handed out in the order the tools were called.
class RecordedHands final : public SessionHands {
 public:
  explicit RecordedHands(const std::vector<Event>& events) {
    std::map<std::string, const Event*> results;
    for (const Event& e : events) {
      if (e.type == EventType::kAgentToolResult) results[e.tool_use_id] = &e;
    }
    for (const Event& e : events) {
      if (e.type != EventType::kAgentToolUse) continue;
      auto it = results.find(e.id);
      ToolResult r;
      if (it != results.end()) {
        r.content = it->second->content;
        r.is_error = it->second->is_error.value_or(false);
      }
      results_.push_back(std::move(r));
    }
  }
  absl::StatusOr<ToolResult> Execute(std::string_view, const ToolCall&, const CancelToken*, std::vector<Event>*) override {
    if (next_ >= results_.size()) return absl::UnavailableError("the recording holds no more tool results");
    return results_[next_++];
  }

 private:
  std::vector<ToolResult> results_;
  size_t next_ = 0;
};

std::string Describe(const Event& e) {
  std::string text = std::string(EventTypeName(e.type));
  if (!e.name.empty()) absl::StrAppend(&text, " ", e.name, " ", e.input_json);
  for (const ContentBlock& c : e.content) absl::StrAppend(&text, " \"", c.text.substr(0, 80), "\"");
  if (e.is_error.value_or(false)) absl::StrAppend(&text, " (error)");
  return text;
}

bool SameConversationEvent(const Event& a, const Event& b) {
  if (a.type != b.type || a.name != b.name || a.input_json != b.input_json ||
      a.is_error.value_or(false) != b.is_error.value_or(false) || a.content.size() != b.content.size()) {
    return false;
  }
  for (size_t i = 0; i < a.content.size(); ++i) {
    if (a.content[i].text != b.content[i].text || a.content[i].kind != b.content[i].kind) return false;
  }
  if (a.type == EventType::kSessionStatusIdle && a.stop_reason.kind != b.stop_reason.kind) return false;
  return true;
}

}  // namespace

absl::StatusOr<ReplayCheck> ReplayAgainst(const std::vector<Event>& recorded, const std::vector<Event>& responses,
                                          const AgentConfig& agent, SessionLog& scratch) {
  SessionInfo info;
  info.id = NewSessionId(absl::Now());
  info.title = "replay check";
  RETURN_IF_ERROR(scratch.CreateSession(info).status());
  RecordedBrain brain(RecordedTurns(responses));
  RecordedHands hands(responses);
  HarnessOptions options;
  options.worker_id = "wakectl-replay";
  options.max_model_attempts = 1;
  Harness harness(&scratch, &brain, &hands, options);

  // The client's events go in in waves: each run of client events with no agent output between them,
  // after the harness has done everything the previous wave asked for.
  size_t i = 0;
  while (i < recorded.size()) {
    std::vector<Event> wave;
    for (; i < recorded.size(); ++i) {
      const EventType type = recorded[i].type;
      if (IsClientEvent(type)) {
        Event e = recorded[i];
        e.seq = 0;
        e.id = NewEventId(absl::Now());
        e.processed_at.reset();
        wave.push_back(std::move(e));
      } else if (!wave.empty() && (absl::StartsWith(ToAbsl(EventTypeName(type)), "agent.") ||
                                   type == EventType::kSpanModelRequestStart)) {
        break;  // the harness's answer to this wave begins
      }
    }
    if (wave.empty()) break;
    RETURN_IF_ERROR(scratch.Append(info.id, std::move(wave), kAppendAtHead, kNoLease).status());
    RETURN_IF_ERROR(harness.Wake(info.id, agent));
  }

  ASSIGN_OR_RETURN(std::vector<Event> replayed, scratch.Read(info.id));
  std::vector<const Event*> a;
  std::vector<const Event*> b;
  for (const Event& e : recorded) {
    if (IsCompared(e.type)) a.push_back(&e);
  }
  for (const Event& e : replayed) {
    if (IsCompared(e.type)) b.push_back(&e);
  }
  ReplayCheck check;
  for (size_t k = 0; k < std::max(a.size(), b.size()); ++k) {
    if (k >= a.size() || k >= b.size() || !SameConversationEvent(*a[k], *b[k])) {
      check.divergence = absl::StrCat(
          "event ", k + 1, " of the conversation: recorded ", k < a.size() ? absl::StrCat("#", a[k]->seq, " ", Describe(*a[k])) : "nothing",
          "; replayed ", k < b.size() ? Describe(*b[k]) : "nothing");
      return check;
    }
    ++check.compared;
  }
  check.identical = true;
  return check;
}

}  // namespace wake
