#include "inspect/replay.h"

#include "absl/strings/str_cat.h"
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
