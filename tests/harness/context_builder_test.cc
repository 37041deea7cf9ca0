#include "harness/context_builder.h"

#include "gtest/gtest.h"
#include "tests/harness/harness_test_util.h"

namespace wake {
namespace {

Event Ev(EventType type, uint64_t seq, std::string id = "") {
  Event e;
  e.type = type;
  e.seq = seq;
  e.id = id.empty() ? "sevt_" + std::to_string(seq) : id;
  return e;
}

Event UserText(uint64_t seq, const std::string& text) {
  Event e = Ev(EventType::kUserMessage, seq);
  ContentBlock b;
  b.text = text;
  e.content.push_back(b);
  return e;
}

Event AgentText(uint64_t seq, const std::string& text) {
  Event e = Ev(EventType::kAgentMessage, seq);
  ContentBlock b;
  b.text = text;
  e.content.push_back(b);
  return e;
}

Event ToolUse(uint64_t seq, const std::string& name) {
  Event e = Ev(EventType::kAgentToolUse, seq);
  e.name = name;
  e.input_json = R"({"command":"ls"})";
  return e;
}

Event ToolResult(uint64_t seq, const Event& use, const std::string& text) {
  Event e = Ev(EventType::kAgentToolResult, seq);
  e.tool_use_id = use.id;
  ContentBlock b;
  b.text = text;
  e.content.push_back(b);
  e.is_error = false;
  return e;
}

std::vector<Event> Conversation() {
  std::vector<Event> events;
  events.push_back(Ev(EventType::kHarnessWoke, 1));
  events.push_back(UserText(2, "list files"));
  events.push_back(Ev(EventType::kSessionStatusRunning, 3));
  events.push_back(Ev(EventType::kSpanModelRequestStart, 4));
  events.push_back(AgentText(5, "Looking."));
  events.push_back(ToolUse(6, "bash"));
  events.push_back(ToolUse(7, "bash"));
  events.push_back(Ev(EventType::kSpanModelRequestEnd, 8));
  events.push_back(Ev(EventType::kToolStarted, 9));
  events.push_back(ToolResult(10, events[5], "a.txt"));
  events.push_back(ToolResult(11, events[6], "b.txt"));
  events.push_back(UserText(12, "and then?"));
  return events;
}

TEST(ContextBuilderTest, MapsEventsToAlternatingMessages) {
  ModelRequest r = BuildModelRequest(testing::TestAgent(), Conversation());
  EXPECT_EQ(r.model, "scripted");
  EXPECT_EQ(r.system, "You are a test agent.");
  ASSERT_EQ(r.tools.size(), 2u);
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, Message::Role::kUser);
  EXPECT_EQ(r.messages[0].blocks[0].text, "list files");
  EXPECT_EQ(r.messages[1].role, Message::Role::kAssistant);
  ASSERT_EQ(r.messages[1].blocks.size(), 3u);
  EXPECT_EQ(r.messages[1].blocks[1].kind, MessageBlock::Kind::kToolUse);
  EXPECT_EQ(r.messages[1].blocks[1].tool_use_id, "sevt_6");  // the event id, not a provider id
  // Both tool results and the next user text merge into one user message.
  EXPECT_EQ(r.messages[2].role, Message::Role::kUser);
  ASSERT_EQ(r.messages[2].blocks.size(), 3u);
  EXPECT_EQ(r.messages[2].blocks[0].kind, MessageBlock::Kind::kToolResult);
  EXPECT_EQ(r.messages[2].blocks[0].tool_use_id, "sevt_6");
  EXPECT_EQ(r.messages[2].blocks[2].text, "and then?");
  EXPECT_EQ(r.stable_prefix_messages, 2u);
}

TEST(ContextBuilderTest, IsPureAndPrefixStable) {
  std::vector<Event> events = Conversation();
  ModelRequest a = BuildModelRequest(testing::TestAgent(), events);
  ModelRequest b = BuildModelRequest(testing::TestAgent(), events);
  EXPECT_EQ(a, b);
  // A later turn only appends: the earlier messages are unchanged.
  events.push_back(AgentText(13, "Nothing else."));
  events.push_back(UserText(14, "thanks"));
  ModelRequest later = BuildModelRequest(testing::TestAgent(), events);
  ASSERT_GE(later.messages.size(), a.messages.size());
  for (size_t i = 0; i < a.stable_prefix_messages; ++i) EXPECT_EQ(later.messages[i], a.messages[i]) << i;
}

TEST(ContextBuilderTest, RewindBuildsAsOfASeq) {
  ContextOptions rewind;
  rewind.as_of_seq = 4;
  ModelRequest r = BuildModelRequest(testing::TestAgent(), Conversation(), rewind);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].blocks[0].text, "list files");
}

TEST(ContextBuilderTest, WindowNeverOrphansToolResults) {
  ContextOptions window;
  window.max_messages = 2;  // would start at the assistant's tool_use: widened back to the user's message
  ModelRequest r = BuildModelRequest(testing::TestAgent(), Conversation(), window);
  ASSERT_FALSE(r.messages.empty());
  EXPECT_EQ(r.messages.front().role, Message::Role::kUser);
  for (const MessageBlock& b : r.messages.front().blocks) EXPECT_NE(b.kind, MessageBlock::Kind::kToolResult);
}

TEST(ContextBuilderTest, CompactionReplacesThePrefixWithItsSummary) {
  std::vector<Event> events = Conversation();
  const uint64_t through = events.back().seq;
  Event compacted = Ev(EventType::kAgentThreadContextCompacted, through + 1);
  compacted.compacted_through_seq = through;
  ContentBlock summary;
  summary.text = "SUMMARY";
  compacted.content.push_back(summary);
  events.push_back(compacted);
  events.push_back(UserText(through + 2, "and now?"));
  AgentConfig agent;
  agent.model = "m";
  ModelRequest request = BuildModelRequest(agent, events);
  ASSERT_EQ(request.messages.size(), 1u);
  const Message& first = request.messages[0];
  EXPECT_EQ(first.role, Message::Role::kUser);
  ASSERT_EQ(first.blocks.size(), 3u);
  EXPECT_NE(first.blocks[0].text.find(absl::StrCat("events 1 to ", through)), std::string::npos);
  EXPECT_EQ(first.blocks[1].text, "SUMMARY");
  EXPECT_EQ(first.blocks[2].text, "and now?");
  size_t assistant_turns = 0;
  for (const Message& m : BuildModelRequest(agent, Conversation()).messages) {
    assistant_turns += m.role == Message::Role::kAssistant ? 1 : 0;
  }
  EXPECT_GT(assistant_turns, 0u);
  EXPECT_EQ(request.compacted_turns, assistant_turns);
  ASSERT_FALSE(request.tools.empty());
  EXPECT_EQ(request.tools.back().name, kSessionHistoryToolName);
  // Rewound to before the compaction, the full conversation is back and no history tool is offered.
  ModelRequest before = BuildModelRequest(agent, events, ContextOptions{.as_of_seq = through, .max_messages = 0});
  EXPECT_EQ(before.compacted_turns, 0u);
  EXPECT_TRUE(before.tools.empty());
  EXPECT_EQ(before, BuildModelRequest(agent, Conversation()));
}

}  // namespace
}  // namespace wake
