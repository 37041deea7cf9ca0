#include "harness/next_action.h"

#include <algorithm>
#include <optional>

#include "harness/context_builder.h"

namespace wake {
namespace {

// A tool call of the latest model turn, as far as the log tells. Points into the events scanned: only
// the action returned copies an event (a long session has thousands of tool calls, and the scan runs
// before every step of a wake).
struct ToolCallState {
  const Event* tool_use = nullptr;
  bool custom = false;
  bool started = false;
  bool has_result = false;
  std::optional<bool> confirmed;  // user.tool_confirmation: allow / deny
  std::string deny_message;
};

}  // namespace

NextAction DecideNextAction(const std::vector<Event>& all_events, const AgentConfig& agent) {
  std::vector<Event> storage;
  const std::vector<Event>& events = EffectiveEvents(all_events, storage);  // a rewind drops some
  std::vector<ToolCallState> calls;  // in the order the model made them
  bool needs_model = false;
  bool interrupted = false;
  bool awaiting_said = false;  // the last status event is an idle with requires_action
  // A model request is open (started, no end yet), and a user.message landed while it was: the
  // request's outputs answer only what it was sent, so that message still needs the model.
  bool request_open = false;
  bool input_during_request = false;
  auto find = [&](const std::string& tool_use_id) -> ToolCallState* {
    for (auto& c : calls) {
      if (c.tool_use->id == tool_use_id) return &c;
    }
    return nullptr;
  };
  auto all_answered = [&] {
    return std::all_of(calls.begin(), calls.end(), [](const ToolCallState& c) { return c.has_result; });
  };

  for (const Event& e : events) {
    switch (e.type) {
      case EventType::kUserMessage:
        needs_model = true;
        if (request_open) input_during_request = true;
        break;
      case EventType::kUserInterrupt:
        interrupted = true;
        break;
      case EventType::kSpanModelRequestStart:
        // A model is only asked once every call of the previous turn has its result.
        calls.clear();
        request_open = true;
        input_during_request = false;
        break;
      case EventType::kSpanModelRequestEnd:
        // Only a successful end means the turn's outputs were appended (in the same batch, before it).
        if (!e.is_error.value_or(false)) needs_model = input_during_request;
        request_open = false;
        input_during_request = false;
        break;
      case EventType::kAgentThreadContextCompacted:
        // Appended with the (successful) end of the summarize request, which came right before a
        // model call: that call is still to make.
        needs_model = true;
        break;
      case EventType::kAgentToolUse:
      case EventType::kAgentCustomToolUse: {
        ToolCallState call;
        call.tool_use = &e;
        call.custom = e.type == EventType::kAgentCustomToolUse;
        calls.push_back(std::move(call));
        break;
      }
      case EventType::kToolStarted:
        if (ToolCallState* c = find(e.tool_use_id)) c->started = true;
        break;
      case EventType::kUserToolConfirmation:
        if (ToolCallState* c = find(e.tool_use_id)) {
          c->confirmed = e.allow;
          c->deny_message = e.deny_message.value_or("");
        }
        break;
      case EventType::kAgentToolResult:
      case EventType::kUserCustomToolResult:
        if (ToolCallState* c = find(e.tool_use_id)) {
          c->has_result = true;
          if (all_answered()) needs_model = true;
        }
        break;
      case EventType::kSessionStatusIdle:
        // Idle settles everything before it: what is pending now needs a new client event.
        awaiting_said = e.stop_reason.kind == StopReason::Kind::kRequiresAction;
        if (!awaiting_said) needs_model = false;
        interrupted = false;
        break;
      case EventType::kSessionStatusRunning:
        awaiting_said = false;
        break;
      default:
        break;
    }
  }

  NextAction action;
  if (interrupted) {
    action.kind = NextAction::Kind::kInterrupt;
    for (const ToolCallState& c : calls) {
      if (!c.has_result) action.pending.push_back(*c.tool_use);
    }
    return action;
  }
  std::vector<const Event*> awaiting;
  for (const ToolCallState& c : calls) {
    if (c.has_result) continue;
    if (c.started) {
      action.kind = NextAction::Kind::kRecoverTool;
      action.tool_use = *c.tool_use;
      return action;
    }
    if (c.custom) {
      awaiting.push_back(c.tool_use);
      continue;
    }
    if (agent.NeedsConfirmation(c.tool_use->name)) {
      if (!c.confirmed) {
        awaiting.push_back(c.tool_use);
        continue;
      }
      if (!*c.confirmed) {
        action.kind = NextAction::Kind::kDenyTool;
        action.tool_use = *c.tool_use;
        action.deny_message = c.deny_message;
        return action;
      }
    }
    action.kind = NextAction::Kind::kRunTool;
    action.tool_use = *c.tool_use;
    return action;
  }
  if (!awaiting.empty()) {
    if (awaiting_said) return action;  // kNone: the client has been told and has not answered yet
    action.kind = NextAction::Kind::kAwaitClient;
    for (const Event* e : awaiting) action.pending.push_back(*e);
    return action;
  }
  if (needs_model) action.kind = NextAction::Kind::kCallModel;
  return action;
}

}  // namespace wake
