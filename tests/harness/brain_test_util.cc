#include "tests/harness/brain_test_util.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/harness/fake_model_server.h"

namespace wake::testing {

void CollectingObserver::OnTextDelta(size_t index, std::string_view text) {
  deltas.emplace_back(text);
  delta_indexes.push_back(index);
}

void CollectingObserver::OnBlockComplete(size_t index, const TurnBlock& block) {
  completed.push_back(block);
  completed_indexes.push_back(index);
}

std::string Recorded(std::string_view name) {
  absl::StatusOr<std::string> body = LoadRecordedStream(name);
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? *body : "";
}

std::vector<std::string> SplitEvents(std::string_view body) {
  std::vector<std::string> events;
  for (absl::string_view piece : absl::StrSplit(absl::string_view(body.data(), body.size()), "\n\n")) {
    std::vector<absl::string_view> lines;
    for (absl::string_view line : absl::StrSplit(piece, '\n')) {
      if (!line.empty() && line[0] != ':') lines.push_back(line);
    }
    if (!lines.empty()) events.push_back(absl::StrCat(absl::StrJoin(lines, "\n"), "\n\n"));
  }
  return events;
}

std::string JoinEvents(const std::vector<std::string>& events, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to && i < events.size(); ++i) out += events[i];
  return out;
}

void ExpectSameTurn(const ModelTurn& actual, const ModelTurn& expected) {
  EXPECT_EQ(actual.blocks, expected.blocks);
  EXPECT_EQ(actual.stop_reason, expected.stop_reason);
  EXPECT_EQ(actual.usage, expected.usage);
  EXPECT_EQ(actual.model, expected.model);
  EXPECT_EQ(actual.message_id, expected.message_id);
}

ScopedEnv::ScopedEnv(const char* name, const char* value) : name_(name) {
  if (const char* old = std::getenv(name)) old_ = old;
  if (value == nullptr) {
    unsetenv(name);
  } else {
    setenv(name, value, 1);
  }
}

ScopedEnv::~ScopedEnv() {
  if (old_) {
    setenv(name_, old_->c_str(), 1);
  } else {
    unsetenv(name_);
  }
}

ModelRequest SimpleRequest(std::string_view model, std::string_view text) {
  ModelRequest request;
  request.model = std::string(model);
  request.max_tokens = 256;
  MessageBlock hello;
  hello.text = std::string(text);
  request.messages.push_back(Message{Message::Role::kUser, {hello}});
  return request;
}

ModelRequest ToolRequest(std::string_view model, std::string_view result_text, std::string_view follow_up) {
  ModelRequest request;
  request.model = std::string(model);
  request.system = "You are terse.";
  request.max_tokens = 1024;
  request.tools = {
      {"get_weather", "Get the current weather in a given location",
       R"({"type":"object","properties":{"location":{"type":"string"}},"required":["location"]})"},
      {"read", "", R"({"type":"object"})"},
  };
  MessageBlock question;
  question.text = "What is the weather like in San Francisco?";
  MessageBlock image;
  image.kind = MessageBlock::Kind::kImage;
  image.media.kind = ContentBlock::Kind::kImage;
  image.media.source = ContentBlock::SourceKind::kBase64;
  image.media.media_type = "image/png";
  image.media.data = "iVBORw0KGgo=";
  MessageBlock text;
  text.text = "Okay, let's check:";
  MessageBlock call;
  call.kind = MessageBlock::Kind::kToolUse;
  call.tool_use_id = "sevt_1";
  call.name = "get_weather";
  call.input_json = R"({"location":"San Francisco, CA"})";
  MessageBlock result;
  result.kind = MessageBlock::Kind::kToolResult;
  result.tool_use_id = "sevt_1";
  ContentBlock result_block;
  result_block.text = std::string(result_text);
  result.result = {result_block};
  result.is_error = true;
  Message last{Message::Role::kUser, {result}};
  if (!follow_up.empty()) {
    MessageBlock more;
    more.text = std::string(follow_up);
    last.blocks.push_back(more);
  }
  request.messages = {
      Message{Message::Role::kUser, {question, image}},
      Message{Message::Role::kAssistant, {text, call}},
      std::move(last),
  };
  request.stable_prefix_messages = 2;
  return request;
}

}  // namespace wake::testing
