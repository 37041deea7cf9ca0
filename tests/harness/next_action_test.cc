#include "harness/next_action.h"

#include "gtest/gtest.h"
#include "tests/harness/harness_test_util.h"

namespace wake {
namespace {

Event Ev(EventType type, std::string id) {
  Event e;
  e.type = type;
  e.id = std::move(id);
  return e;
}

Event Use(EventType type, std::string id, std::string name) {
  Event e = Ev(type, std::move(id));
  e.name = std::move(name);
  e.input_json = "{}";
  return e;
}

Event RefersTo(EventType type, const std::string& tool_use_id) {
  Event e = Ev(type, "sevt_x" + tool_use_id);
  e.tool_use_id = tool_use_id;
  return e;
}

Event SpanEnd(bool error) {
  Event e = Ev(EventType::kSpanModelRequestEnd, "sevt_end");
  e.is_error = error;
  return e;
}

Event Idle(StopReason::Kind kind) {
  Event e = Ev(EventType::kSessionStatusIdle, "sevt_idle");
  e.stop_reason.kind = kind;
  return e;
}

class NextActionTest : public ::testing::Test {
 protected:
  NextAction Decide() { return DecideNextAction(events_, agent_); }
  AgentConfig agent_ = testing::TestAgent();
  std::vector<Event> events_;
};

TEST_F(NextActionTest, NothingToDoOnAnEmptyOrIdleLog) {
  EXPECT_EQ(Decide().kind, NextAction::Kind::kNone);
  events_ = {Ev(EventType::kUserMessage, "sevt_u"), SpanEnd(false), Idle(StopReason::Kind::kEndTurn)};
  EXPECT_EQ(Decide().kind, NextAction::Kind::kNone);
}

TEST_F(NextActionTest, UserMessageCallsTheModel) {
  events_ = {Ev(EventType::kUserMessage, "sevt_u")};
  EXPECT_EQ(Decide().kind, NextAction::Kind::kCallModel);
}

TEST_F(NextActionTest, ARequestWithoutASuccessfulEndIsRetried) {  // rule 4
  events_ = {Ev(EventType::kUserMessage, "sevt_u"), Ev(EventType::kSpanModelRequestStart, "sevt_s")};
  EXPECT_EQ(Decide().kind, NextAction::Kind::kCallModel);
  events_.push_back(SpanEnd(/*error=*/true));
  EXPECT_EQ(Decide().kind, NextAction::Kind::kCallModel);
}

TEST_F(NextActionTest, ToolCallsRunInOrderThenTheModelAgain) {
  events_ = {Ev(EventType::kUserMessage, "sevt_u"), Use(EventType::kAgentToolUse, "sevt_a", "read"),
             Use(EventType::kAgentToolUse, "sevt_b", "bash"), SpanEnd(false)};
  NextAction a = Decide();
  ASSERT_EQ(a.kind, NextAction::Kind::kRunTool);
  EXPECT_EQ(a.tool_use.id, "sevt_a");
  events_.push_back(RefersTo(EventType::kToolStarted, "sevt_a"));
  events_.push_back(RefersTo(EventType::kAgentToolResult, "sevt_a"));
  EXPECT_EQ(Decide().tool_use.id, "sevt_b");
  events_.push_back(RefersTo(EventType::kToolStarted, "sevt_b"));
  events_.push_back(RefersTo(EventType::kAgentToolResult, "sevt_b"));
  EXPECT_EQ(Decide().kind, NextAction::Kind::kCallModel);
}

TEST_F(NextActionTest, AStartedToolWithoutResultIsRecovered) {  // rule 3
  events_ = {Ev(EventType::kUserMessage, "sevt_u"), Use(EventType::kAgentToolUse, "sevt_a", "bash"), SpanEnd(false),
             RefersTo(EventType::kToolStarted, "sevt_a")};
  NextAction a = Decide();
  EXPECT_EQ(a.kind, NextAction::Kind::kRecoverTool);
  EXPECT_EQ(a.tool_use.id, "sevt_a");
}

TEST_F(NextActionTest, CustomToolsWaitForTheClientOnce) {
  events_ = {Ev(EventType::kUserMessage, "sevt_u"), Use(EventType::kAgentCustomToolUse, "sevt_c", "lookup"),
             SpanEnd(false)};
  NextAction a = Decide();
  ASSERT_EQ(a.kind, NextAction::Kind::kAwaitClient);
  ASSERT_EQ(a.pending.size(), 1u);
  EXPECT_EQ(a.pending[0].id, "sevt_c");
  Event idle = Idle(StopReason::Kind::kRequiresAction);
  idle.stop_reason.event_ids = {"sevt_c"};
  events_.push_back(idle);
  EXPECT_EQ(Decide().kind, NextAction::Kind::kNone);  // told already
  events_.push_back(RefersTo(EventType::kUserCustomToolResult, "sevt_c"));
  EXPECT_EQ(Decide().kind, NextAction::Kind::kCallModel);
}

TEST_F(NextActionTest, AlwaysAskToolsNeedConfirmation) {
  agent_.always_ask = {"bash"};
  events_ = {Ev(EventType::kUserMessage, "sevt_u"), Use(EventType::kAgentToolUse, "sevt_a", "bash"), SpanEnd(false)};
  EXPECT_EQ(Decide().kind, NextAction::Kind::kAwaitClient);
  Event deny = RefersTo(EventType::kUserToolConfirmation, "sevt_a");
  deny.allow = false;
  deny.deny_message = "not now";
  events_.push_back(deny);
  NextAction a = Decide();
  EXPECT_EQ(a.kind, NextAction::Kind::kDenyTool);
  EXPECT_EQ(a.deny_message, "not now");
  events_.back().allow = true;
  EXPECT_EQ(Decide().kind, NextAction::Kind::kRunTool);
}

TEST_F(NextActionTest, InterruptClosesPendingCallsAndStops) {
  events_ = {Ev(EventType::kUserMessage, "sevt_u"), Use(EventType::kAgentToolUse, "sevt_a", "bash"), SpanEnd(false),
             Ev(EventType::kUserInterrupt, "sevt_i")};
  NextAction a = Decide();
  ASSERT_EQ(a.kind, NextAction::Kind::kInterrupt);
  ASSERT_EQ(a.pending.size(), 1u);
  events_.push_back(RefersTo(EventType::kAgentToolResult, "sevt_a"));
  events_.push_back(Idle(StopReason::Kind::kEndTurn));
  EXPECT_EQ(Decide().kind, NextAction::Kind::kNone);
}

TEST_F(NextActionTest, IdleAfterRetriesExhaustedSettlesTheTurn) {
  events_ = {Ev(EventType::kUserMessage, "sevt_u"), SpanEnd(true), Idle(StopReason::Kind::kRetriesExhausted)};
  EXPECT_EQ(Decide().kind, NextAction::Kind::kNone);
  events_.push_back(Ev(EventType::kUserMessage, "sevt_u2"));
  EXPECT_EQ(Decide().kind, NextAction::Kind::kCallModel);
}

}  // namespace
}  // namespace wake
