#include "harness/scripted_brain.h"

#include "gtest/gtest.h"
#include "tests/harness/harness_test_util.h"

namespace wake {
namespace {

class CollectingObserver : public StreamObserver {
 public:
  void OnTextDelta(size_t, std::string_view text) override { deltas.emplace_back(text); }
  void OnBlockComplete(size_t, const TurnBlock& block) override { completed.push_back(block); }
  std::vector<std::string> deltas;
  std::vector<TurnBlock> completed;
};

TEST(ScriptedBrainTest, ReplyDependsOnlyOnTheConversation) {
  auto brain = NewScriptedBrain(testing::TestScript());
  ASSERT_TRUE(brain.ok()) << brain.status();
  EXPECT_EQ((*brain)->kind(), "scripted (not a model)");
  ModelRequest request;
  request.messages.push_back(Message{Message::Role::kUser, {MessageBlock{}}});
  CollectingObserver observer;
  auto first = (*brain)->Stream(request, &observer, nullptr);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->stop_reason, "tool_use");
  ASSERT_EQ(first->blocks.size(), 3u);
  EXPECT_EQ(first->blocks[0].text, "Let me look around.");
  EXPECT_EQ(first->blocks[1].name, "read");
  EXPECT_EQ(first->blocks[1].input_json, R"({"file_path":"notes.txt"})");
  EXPECT_EQ(observer.deltas.size(), 4u);  // word by word
  EXPECT_EQ(observer.completed.size(), 3u);
  EXPECT_EQ((*brain)->Stream(request, nullptr, nullptr)->blocks, first->blocks);  // deterministic

  request.messages.push_back(Message{Message::Role::kAssistant, {}});
  request.messages.push_back(Message{Message::Role::kUser, {}});
  request.messages.push_back(Message{Message::Role::kAssistant, {}});
  request.messages.push_back(Message{Message::Role::kUser, {}});
  auto third = (*brain)->Stream(request, nullptr, nullptr);
  EXPECT_EQ(third->stop_reason, "end_turn");
  request.messages.push_back(Message{Message::Role::kAssistant, {}});
  EXPECT_NE((*brain)->Stream(request, nullptr, nullptr)->blocks[0].text.find("no more turns"), std::string::npos);

  CancelToken cancel;
  cancel.Cancel();
  EXPECT_TRUE(absl::IsCancelled((*brain)->Stream(request, nullptr, &cancel).status()));
}

TEST(ScriptedBrainTest, TextQuotesAUserMessageOfTheRequest) {
  auto brain = NewScriptedBrain(R"({"turns": [{"text": "ok"}, {"text": "You said: {{user_message:1}} / {{user_message:3}}"}]})");
  ASSERT_TRUE(brain.ok()) << brain.status();
  auto text = [](std::string t) {
    MessageBlock block;
    block.text = std::move(t);
    return block;
  };
  MessageBlock tool_result;
  tool_result.kind = MessageBlock::Kind::kToolResult;
  ModelRequest request;
  request.messages.push_back(Message{Message::Role::kUser, {text("remember "), text("token-7")}});
  request.messages.push_back(Message{Message::Role::kAssistant, {text("ok")}});
  request.messages.push_back(Message{Message::Role::kUser, {tool_result}});  // no text: not counted
  request.messages.push_back(Message{Message::Role::kUser, {text("what was it?")}});
  auto reply = (*brain)->Stream(request, nullptr, nullptr);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->blocks[0].text, "You said: remember token-7 / (no user message 3)");
}

TEST(ScriptedBrainTest, BadScriptsSayWhatIsWrong) {
  EXPECT_NE(NewScriptedBrain("{").status().message().find("not valid JSON"), std::string::npos);
  EXPECT_NE(NewScriptedBrain("{}").status().message().find("\"turns\""), std::string::npos);
  EXPECT_NE(NewScriptedBrain(R"({"turns":[{"txt":"x"}]})").status().message().find("unknown field"),
            std::string::npos);
  EXPECT_NE(NewScriptedBrain(R"({"turns":[{"tool_calls":[{"name":"x"}]}]})").status().message().find("input"),
            std::string::npos);
  EXPECT_TRUE(absl::IsNotFound(LoadScriptedBrain("/nonexistent/script.json").status()));
}

}  // namespace
}  // namespace wake
