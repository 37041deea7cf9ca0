#include "schemas/event.h"

#include <array>

namespace wake {
namespace {

// Indexed by EventType. These strings are the JSON `type` values (the Managed Agents names plus
// wake's `wake.` kinds), so they are part of the API: never change one.
constexpr std::array<std::string_view, kEventTypeCount> kEventTypeNames = {
    "user.message",
    "user.interrupt",
    "user.tool_confirmation",
    "user.custom_tool_result",
    "agent.message",
    "agent.thinking",
    "agent.tool_use",
    "agent.tool_result",
    "agent.custom_tool_use",
    "agent.thread_context_compacted",
    "session.status_running",
    "session.status_idle",
    "session.status_rescheduled",
    "session.status_terminated",
    "session.error",
    "span.model_request_start",
    "span.model_request_end",
    "wake.tool_started",
    "wake.hand_provisioned",
    "wake.hand_lost",
    "wake.hand_released",
    "wake.harness_woke",
    "wake.rewound",
};

// The table above is positional; pin a few entries so a reordered enum fails to compile.
static_assert(kEventTypeNames[static_cast<int>(EventType::kUserMessage)] == "user.message");
static_assert(kEventTypeNames[static_cast<int>(EventType::kAgentThreadContextCompacted)] ==
              "agent.thread_context_compacted");
static_assert(kEventTypeNames[static_cast<int>(EventType::kSpanModelRequestEnd)] ==
              "span.model_request_end");
static_assert(kEventTypeNames[static_cast<int>(EventType::kToolStarted)] == "wake.tool_started");
static_assert(kEventTypeNames[static_cast<int>(EventType::kHarnessWoke)] == "wake.harness_woke");
static_assert(kEventTypeNames[static_cast<int>(EventType::kRewound)] == "wake.rewound");

}  // namespace

std::string_view EventTypeName(EventType type) {
  const int index = static_cast<int>(type);
  // An out-of-range value can only come from a cast bug; a recognisable name beats a crash.
  if (index < 0 || index >= kEventTypeCount) return "unknown";
  return kEventTypeNames[index];
}

std::optional<EventType> EventTypeFromName(std::string_view name) {
  // 22 short names: a linear scan is as fast as a hash lookup here and needs no static map.
  for (int i = 0; i < kEventTypeCount; ++i) {
    if (kEventTypeNames[i] == name) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

bool IsInternalEventType(EventType type) {
  return static_cast<int>(type) >= static_cast<int>(EventType::kToolStarted) &&
         static_cast<int>(type) < kEventTypeCount;
}

}  // namespace wake
