#include "harness/context_builder.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

size_t AssistantMessages(const ModelRequest& request) {
  return static_cast<size_t>(std::count_if(request.messages.begin(), request.messages.end(),
                                           [](const Message& m) { return m.role == Message::Role::kAssistant; }));
}

// Random conversations: messages (some without content), tool calls and results, status events,
// compactions and the odd rewind.
std::vector<Event> RandomConversation(std::mt19937& rng) {
  std::vector<Event> events;
  const int count = std::uniform_int_distribution<int>(1, 60)(rng);
  Event last_use = ToolUse(0, "bash");
  for (uint64_t seq = 1; seq <= static_cast<uint64_t>(count); ++seq) {
    const std::string text = absl::StrCat("text ", seq);
    switch (std::uniform_int_distribution<int>(0, 9)(rng)) {
      case 0: events.push_back(UserText(seq, text)); break;
      case 1: events.push_back(Ev(EventType::kUserMessage, seq)); break;  // no content
      case 2: events.push_back(AgentText(seq, text)); break;
      case 3: events.push_back(Ev(EventType::kAgentMessage, seq)); break;
      case 4: events.push_back(last_use = ToolUse(seq, "bash")); break;
      case 5: events.push_back(ToolResult(seq, last_use, text)); break;
      case 6: events.push_back(Ev(EventType::kSessionStatusIdle, seq)); break;
      case 7:
      case 8: {
        Event compacted = Ev(EventType::kAgentThreadContextCompacted, seq);
        compacted.compacted_through_seq = seq - 1;
        ContentBlock summary;
        summary.text = absl::StrCat("summary ", seq);
        compacted.content.push_back(summary);
        events.push_back(compacted);
        break;
      }
      default: {
        Event rewound = Ev(EventType::kRewound, seq);
        rewound.rewound_to_seq = std::uniform_int_distribution<uint64_t>(0, seq - 1)(rng);
        events.push_back(rewound);
      }
    }
  }
  return events;
}

// The request starts at the last compaction without building what came before it. What it must equal,
// from the definition: the messages of the events from that compaction on, alone; and the assistant
// turns compacted away = those of the events before it (their own compacted turns plus the assistant
// messages they still had).
TEST(ContextBuilderTest, StartingAtTheLastCompactionBuildsWhatTheWholeHistoryWould) {
  std::mt19937 rng(20261204);
  AgentConfig agent;
  agent.model = "m";
  int compacted_cases = 0;
  for (int i = 0; i < 500; ++i) {
    const std::vector<Event> events = RandomConversation(rng);
    const uint64_t as_of = std::uniform_int_distribution<uint64_t>(1, events.size() + 5)(rng);
    const ContextOptions options{.as_of_seq = as_of, .max_messages = 0};
    const ModelRequest request = BuildModelRequest(agent, events, options);

    std::vector<Event> storage;
    std::vector<Event> effective = EffectiveEvents(events, storage);
    std::erase_if(effective, [&](const Event& e) { return e.seq > as_of; });
    auto last = std::find_if(effective.rbegin(), effective.rend(), [](const Event& e) {
      return e.type == EventType::kAgentThreadContextCompacted;
    });
    if (last == effective.rend()) {
      EXPECT_EQ(request.compacted_turns, 0u);
      EXPECT_EQ(request, BuildModelRequest(agent, effective));
      continue;
    }
    ++compacted_cases;
    const auto at = std::prev(last.base());
    const ModelRequest before = BuildModelRequest(agent, std::vector<Event>(effective.begin(), at));
    EXPECT_EQ(request.compacted_turns, before.compacted_turns + AssistantMessages(before)) << "case " << i;
    ModelRequest from_summary = BuildModelRequest(agent, std::vector<Event>(at, effective.end()));
    EXPECT_EQ(from_summary.compacted_turns, 0u);
    from_summary.compacted_turns = request.compacted_turns;
    EXPECT_EQ(request, from_summary) << "case " << i;
  }
  EXPECT_GT(compacted_cases, 100);
}

}  // namespace
}  // namespace wake
