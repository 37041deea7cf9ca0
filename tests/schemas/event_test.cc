#include "schemas/event.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace wake {
namespace {

TEST(EventTypeTest, NamesRoundTripAndAreUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < kEventTypeCount; ++i) {
    const EventType type = static_cast<EventType>(i);
    const std::string_view name = EventTypeName(type);
    ASSERT_FALSE(name.empty());
    EXPECT_TRUE(seen.insert(std::string(name)).second) << name;
    EXPECT_EQ(EventTypeFromName(name), type) << name;
  }
}

TEST(EventTypeTest, NamesMatchTheManagedAgentsVocabulary) {
  EXPECT_EQ(EventTypeName(EventType::kUserMessage), "user.message");
  EXPECT_EQ(EventTypeName(EventType::kUserCustomToolResult), "user.custom_tool_result");
  EXPECT_EQ(EventTypeName(EventType::kAgentThreadContextCompacted), "agent.thread_context_compacted");
  EXPECT_EQ(EventTypeName(EventType::kSessionStatusRescheduled), "session.status_rescheduled");
  EXPECT_EQ(EventTypeName(EventType::kSpanModelRequestEnd), "span.model_request_end");
  EXPECT_EQ(EventTypeName(EventType::kToolStarted), "wake.tool_started");
  EXPECT_EQ(EventTypeName(EventType::kHandProvisioned), "wake.hand_provisioned");
  EXPECT_EQ(EventTypeName(EventType::kHarnessWoke), "wake.harness_woke");
}

TEST(EventTypeTest, UnknownNames) {
  EXPECT_EQ(EventTypeFromName(""), std::nullopt);
  EXPECT_EQ(EventTypeFromName("user.Message"), std::nullopt);
  EXPECT_EQ(EventTypeFromName("agent.mcp_tool_use"), std::nullopt);  // Managed Agents, not wake
  EXPECT_EQ(EventTypeFromName("user.message "), std::nullopt);
}

TEST(EventTypeTest, InternalTypesAreTheWakePrefixedOnes) {
  for (int i = 0; i < kEventTypeCount; ++i) {
    const EventType type = static_cast<EventType>(i);
    EXPECT_EQ(IsInternalEventType(type), EventTypeName(type).substr(0, 5) == "wake.") << EventTypeName(type);
  }
}

}  // namespace
}  // namespace wake
