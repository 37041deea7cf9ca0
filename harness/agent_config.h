#pragma once
// What a session's agent is: the model, its instructions and its tools. Supplied by whoever wakes the
// harness (the Engine, from the session's agent; tests and the demo, directly).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "harness/brain.h"

namespace wake {

struct AgentConfig {
  std::string model;
  std::string system;
  // Tools that run on the session's hand (bash, read, ...).
  std::vector<ToolDefinition> tools;
  // Tools the client runs: a call becomes agent.custom_tool_use and the session waits for a
  // user.custom_tool_result.
  std::vector<ToolDefinition> custom_tools;
  // Names of tools that need the client's user.tool_confirmation before each call.
  std::vector<std::string> always_ask;
  int64_t max_tokens = 4096;

  bool IsCustomTool(std::string_view name) const;
  // Whether `name` is one of `tools` (runs on the session's hand).
  bool HasHandTool(std::string_view name) const;
  bool NeedsConfirmation(std::string_view name) const;
};

}  // namespace wake
