#pragma once
// NextAction: what a harness waking on a session must do next, derived from the log alone.
//
// A pure function of the events and the agent config (DESIGN.md rule 5), so any worker, after any
// crash, reaches the same decision; wakectl's replay uses it to show what a harness would do.
// It is where the crash-recovery rules live:
//  - rule 3: a tool with a wake.tool_started marker but no agent.tool_result was interrupted by a
//    crash: kRecoverTool (idempotent tools re-run with the same key, others get an error result);
//  - rule 4: a model request whose outputs were never appended (its span has no successful end) is
//    simply requested again: kCallModel.

#include <string>
#include <vector>

#include "harness/agent_config.h"
#include "schemas/event.h"

namespace wake {

struct NextAction {
  enum class Kind {
    kNone,           // nothing to do: the session is idle, or waits for the client as already said
    kCallModel,      // new user input, or every tool call of the last turn has its result
    kRunTool,        // `tool_use` may run now (first time)
    kRecoverTool,    // `tool_use` started before a crash and has no result
    kDenyTool,       // the client denied `tool_use`: it gets an error result, not a run
    kAwaitClient,    // custom tool results or confirmations needed: go idle with requires_action
    kInterrupt,      // user.interrupt: close pending tool calls with error results and go idle
  };
  Kind kind = Kind::kNone;
  // kRunTool, kRecoverTool, kDenyTool: the agent.tool_use event.
  Event tool_use;
  // kDenyTool: the client's deny message, if any.
  std::string deny_message;
  // kAwaitClient: the events awaiting the client. kInterrupt: the tool uses left without a result.
  std::vector<Event> pending;
};

NextAction DecideNextAction(const std::vector<Event>& events, const AgentConfig& agent);

}  // namespace wake
