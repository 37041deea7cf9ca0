#include "sandbox/hand.h"

namespace wake {

bool IsIdempotentTool(std::string_view name) { return name == "read" || name == "glob" || name == "grep" || name == "session_history"; }

absl::StatusOr<ToolResult> ToolRouter::Execute(std::string_view session_id, const ToolCall& call,
                                               const CancelToken* cancel, std::vector<Event>* hand_events) {
  for (const auto& [tool, hands] : routes_) {
    if (tool == call.name) return hands->Execute(session_id, call, cancel, hand_events);
  }
  return others_->Execute(session_id, call, cancel, hand_events);
}

absl::Status ToolRouter::ReleaseSession(std::string_view session_id) {
  absl::Status first = others_->ReleaseSession(session_id);
  for (const auto& route : routes_) first.Update(route.second->ReleaseSession(session_id));
  return first;
}

}  // namespace wake
