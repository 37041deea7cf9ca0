// OpenAiBrain against FakeModelServer replaying chat-completions streams recorded from OpenAI's
// documentation and from a live Ollama server (tests/harness/testdata/openai_*.sse).

#include "harness/openai_brain.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "base/sync.h"
#include "gtest/gtest.h"
#include "tests/harness/brain_test_util.h"
#include "tests/harness/fake_model_server.h"

namespace wake {
namespace {

using testing::CollectingObserver;
using testing::ExpectSameTurn;
using testing::FakeModelServer;
using testing::FakeResponse;
using testing::JoinEvents;
using testing::Recorded;
using testing::RecordedRequest;
using testing::ScopedEnv;
using testing::SplitEvents;

ModelRequest SimpleRequest() { return testing::SimpleRequest("gpt-4o-mini", "Hello!"); }
ModelRequest ToolRequest() { return testing::ToolRequest("gpt-4o-mini", "no such city", "Try again."); }

class OpenAiBrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = FakeModelServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    brain_ = MakeBrain(DefaultOptions());
  }

  OpenAiBrainOptions DefaultOptions() const {
    OpenAiBrainOptions options;
    options.base_url = server_->base_url() + "/v1";
    options.api_key = "sk-test";
    return options;
  }

  static std::unique_ptr<Brain> MakeBrain(OpenAiBrainOptions options) {
    auto brain = NewOpenAiBrain(std::move(options));
    EXPECT_TRUE(brain.ok()) << brain.status();
    return brain.ok() ? *std::move(brain) : nullptr;
  }

  absl::StatusOr<ModelTurn> Run(const ModelRequest& request = SimpleRequest(), StreamObserver* observer = nullptr,
                                const CancelToken* cancel = nullptr) {
    return brain_->Stream(request, observer, cancel);
  }

  absl::StatusOr<ModelTurn> RunOn(std::string_view body, StreamObserver* observer = nullptr) {
    server_->Enqueue(FakeResponse::Sse(body));
    return Run(SimpleRequest(), observer);
  }

  std::unique_ptr<FakeModelServer> server_;
  std::unique_ptr<Brain> brain_;
};

TEST_F(OpenAiBrainTest, TextStream) {
  CollectingObserver observer;
  absl::StatusOr<ModelTurn> turn = RunOn(Recorded("openai_text.sse"), &observer);
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(brain_->kind(), "openai");
  ASSERT_EQ(turn->blocks.size(), 1u);
  EXPECT_EQ(turn->blocks[0].kind, TurnBlock::Kind::kText);
  EXPECT_EQ(turn->blocks[0].text, "Hello");
  EXPECT_EQ(turn->stop_reason, "end_turn");
  EXPECT_EQ(turn->model, "gpt-4o-mini");
  EXPECT_EQ(turn->message_id, "chatcmpl-123");
  EXPECT_GT(turn->time_to_first_token, absl::ZeroDuration());
  EXPECT_LE(turn->time_to_first_token, turn->duration);
  EXPECT_EQ(observer.deltas, (std::vector<std::string>{"Hello"}));
  ASSERT_EQ(observer.completed.size(), 1u);
  EXPECT_EQ(observer.completed[0], turn->blocks[0]);
}

TEST_F(OpenAiBrainTest, ToolCallArgumentsAreJoinedByIndex) {
  CollectingObserver observer;
  absl::StatusOr<ModelTurn> turn = RunOn(Recorded("openai_tool_calls.sse"), &observer);
  ASSERT_TRUE(turn.ok()) << turn.status();
  ASSERT_EQ(turn->blocks.size(), 1u);
  EXPECT_EQ(turn->blocks[0].kind, TurnBlock::Kind::kToolUse);
  EXPECT_EQ(turn->blocks[0].id, "call_DdmO9pD3xa9XTPNJ32zg2hcA");
  EXPECT_EQ(turn->blocks[0].name, "get_weather");
  EXPECT_EQ(turn->blocks[0].input_json, R"({"location":"Paris, France"})");
  EXPECT_EQ(turn->stop_reason, "tool_use");
  EXPECT_TRUE(observer.deltas.empty());
  EXPECT_EQ(observer.completed_indexes, (std::vector<size_t>{0}));
}

TEST_F(OpenAiBrainTest, OllamaWholeToolCallAndUsageChunk) {
  absl::StatusOr<ModelTurn> turn = RunOn(Recorded("openai_ollama_tool_call.sse"));
  ASSERT_TRUE(turn.ok()) << turn.status();
  ASSERT_EQ(turn->blocks.size(), 1u);
  EXPECT_EQ(turn->blocks[0].id, "call_rjzv4ky2");
  EXPECT_EQ(turn->blocks[0].name, "get_weather");
  EXPECT_EQ(turn->blocks[0].input_json, R"({"city":"Copenhagen"})");
  EXPECT_EQ(turn->stop_reason, "tool_use");
  EXPECT_EQ(turn->model, "llama3.1:8b");
  EXPECT_EQ(turn->usage.input_tokens, 161);
  EXPECT_EQ(turn->usage.output_tokens, 24);
  EXPECT_EQ(turn->usage.cache_read_input_tokens, 0);
}

TEST_F(OpenAiBrainTest, ParallelCallsAtOneIndexAreSeparatedByTheirIds) {
  // Ollama sends each parallel call whole at index 0; the second frame is the recorded one with a
  // second call's id, name and arguments.
  std::vector<std::string> events = SplitEvents(Recorded("openai_ollama_tool_call.sse"));
  std::string second = absl::StrReplaceAll(
      events[0], {{"call_rjzv4ky2", "call_second01"}, {"Copenhagen", "Oslo"}, {"get_weather", "get_time"}});
  events.insert(events.begin() + 1, second);
  absl::StatusOr<ModelTurn> turn = RunOn(JoinEvents(events, 0, events.size()));
  ASSERT_TRUE(turn.ok()) << turn.status();
  ASSERT_EQ(turn->blocks.size(), 2u);
  EXPECT_EQ(turn->blocks[0].id, "call_rjzv4ky2");
  EXPECT_EQ(turn->blocks[0].input_json, R"({"city":"Copenhagen"})");
  EXPECT_EQ(turn->blocks[1].id, "call_second01");
  EXPECT_EQ(turn->blocks[1].name, "get_time");
  EXPECT_EQ(turn->blocks[1].input_json, R"({"city":"Oslo"})");
}

TEST_F(OpenAiBrainTest, ReasoningContentIsAThinkingBlock) {
  // vLLM, llama.cpp and DeepSeek stream a reasoning model's thinking as delta.reasoning_content.
  std::vector<std::string> events = SplitEvents(Recorded("openai_text.sse"));
  const std::string thinking =
      absl::StrReplaceAll(events[1], {{R"("content":"Hello")", R"("reasoning_content":"The user greets me.")"}});
  events.insert(events.begin() + 1, thinking);
  CollectingObserver observer;
  absl::StatusOr<ModelTurn> turn = RunOn(JoinEvents(events, 0, events.size()), &observer);
  ASSERT_TRUE(turn.ok()) << turn.status();
  ASSERT_EQ(turn->blocks.size(), 2u);
  EXPECT_EQ(turn->blocks[0].kind, TurnBlock::Kind::kThinking);
  EXPECT_EQ(turn->blocks[0].text, "The user greets me.");
  EXPECT_EQ(turn->blocks[1].text, "Hello");
  EXPECT_EQ(observer.delta_indexes, (std::vector<size_t>{1}));
}

TEST_F(OpenAiBrainTest, SameTurnWhateverTheChunking) {
  for (const char* name : {"openai_tool_calls.sse", "openai_ollama_tool_call.sse"}) {
    const std::string body = Recorded(name);
    absl::StatusOr<ModelTurn> whole = RunOn(body);
    ASSERT_TRUE(whole.ok()) << whole.status();
    server_->Enqueue(FakeResponse::Sse(body, 1));
    absl::StatusOr<ModelTurn> one_byte = Run();
    ASSERT_TRUE(one_byte.ok()) << one_byte.status();
    ExpectSameTurn(*one_byte, *whole);
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      FakeResponse random = FakeResponse::Sse("");
      random.chunks = testing::SplitRandomly(body, seed, 64);
      server_->Enqueue(random);
      absl::StatusOr<ModelTurn> turn = Run();
      ASSERT_TRUE(turn.ok()) << name << " seed " << seed << ": " << turn.status();
      ExpectSameTurn(*turn, *whole);
    }
  }
}

TEST_F(OpenAiBrainTest, MidStreamErrorChunk) {
  const std::vector<std::string> events = SplitEvents(Recorded("openai_text.sse"));
  const std::string overloaded =
      R"(data: {"error":{"message":"The server is overloaded","type":"server_error","param":null,"code":null}})"
      "\n\n";
  absl::StatusOr<ModelTurn> turn = RunOn(JoinEvents(events, 0, 2) + overloaded);
  ASSERT_EQ(turn.status().code(), absl::StatusCode::kUnavailable) << turn.status();
  EXPECT_EQ(UpstreamErrorType(turn.status()), "server_error");

  const std::string invalid =
      R"(data: {"error":{"message":"bad tool schema","type":"invalid_request_error","param":null,"code":null}})"
      "\n\n";
  turn = RunOn(JoinEvents(events, 0, 2) + invalid);
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kInvalidArgument) << turn.status();
  EXPECT_EQ(UpstreamErrorType(turn.status()), "invalid_request_error");
}

TEST_F(OpenAiBrainTest, Http503WithRetryAfterThenSuccess) {
  FakeResponse busy = FakeResponse::Json(
      503, R"({"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","param":null,"code":null}})");
  busy.headers.emplace_back("retry-after", "2");
  server_->Enqueue(busy);
  absl::StatusOr<ModelTurn> first = Run();
  ASSERT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  EXPECT_EQ(UpstreamErrorType(first.status()), "server_error");
  EXPECT_EQ(RetryAfter(first.status()), absl::Seconds(2));
  absl::StatusOr<ModelTurn> second = RunOn(Recorded("openai_text.sse"));
  ASSERT_TRUE(second.ok()) << second.status();
}

TEST_F(OpenAiBrainTest, Http429IsUnavailableWithRetryAfterMsPreferred) {
  FakeResponse limited = FakeResponse::Json(
      429, R"({"error":{"message":"Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}})");
  limited.headers.emplace_back("retry-after", "2");
  limited.headers.emplace_back("retry-after-ms", "1500");
  server_->Enqueue(limited);
  absl::StatusOr<ModelTurn> turn = Run();
  ASSERT_EQ(turn.status().code(), absl::StatusCode::kUnavailable) << turn.status();
  EXPECT_EQ(UpstreamErrorType(turn.status()), "requests");
  EXPECT_EQ(RetryAfter(turn.status()), absl::Milliseconds(1500));
}

TEST_F(OpenAiBrainTest, HttpClientErrorsAreNotRetryable) {
  server_->Enqueue(FakeResponse::Json(
      400,
      R"({"error":{"message":"Invalid 'messages[1].content': string too long.","type":"invalid_request_error","param":"messages[1].content","code":"string_above_max_length"}})"));
  absl::StatusOr<ModelTurn> turn = Run();
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kInvalidArgument) << turn.status();
  EXPECT_EQ(UpstreamErrorType(turn.status()), "invalid_request_error");
  EXPECT_EQ(RetryAfter(turn.status()), std::nullopt);

  server_->Enqueue(FakeResponse::Json(
      401, R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})"));
  EXPECT_EQ(Run().status().code(), absl::StatusCode::kUnauthenticated);

  // Ollama's missing-model answer carries no type but a code.
  server_->Enqueue(FakeResponse::Json(404, R"({"error":{"message":"model 'x' not found","code":"model_not_found"}})"));
  turn = Run();
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UpstreamErrorType(turn.status()), "model_not_found");
}

TEST_F(OpenAiBrainTest, StreamWithoutDoneIsUnavailable) {
  const std::vector<std::string> events = SplitEvents(Recorded("openai_text.sse"));
  ASSERT_EQ(events.size(), 4u);
  absl::StatusOr<ModelTurn> turn = RunOn(JoinEvents(events, 0, 3));
  ASSERT_EQ(turn.status().code(), absl::StatusCode::kUnavailable) << turn.status();
  EXPECT_NE(turn.status().message().find("[DONE]"), absl::string_view::npos);
}

TEST_F(OpenAiBrainTest, MalformedJsonIsDataLoss) {
  std::vector<std::string> events = SplitEvents(Recorded("openai_text.sse"));
  events[1] = "data: {\"id\":\"chatcmpl-123\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\n\n";
  EXPECT_EQ(RunOn(JoinEvents(events, 0, events.size())).status().code(), absl::StatusCode::kDataLoss);

  // Arguments that do not assemble into a JSON object: drop the last fragment.
  std::vector<std::string> calls = SplitEvents(Recorded("openai_tool_calls.sse"));
  ASSERT_NE(calls[7].find(R"(\"})"), std::string::npos) << calls[7];
  calls.erase(calls.begin() + 7);
  absl::StatusOr<ModelTurn> turn = RunOn(JoinEvents(calls, 0, calls.size()));
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kDataLoss) << turn.status();
}

TEST_F(OpenAiBrainTest, CancelWhileTheServerHangs) {
  FakeResponse hang = FakeResponse::Sse(JoinEvents(SplitEvents(Recorded("openai_text.sse")), 0, 2));
  hang.ending = FakeResponse::Ending::kHang;
  server_->Enqueue(hang);
  CancelToken cancel;
  absl::StatusOr<ModelTurn> turn;
  Notification done;
  std::thread streamer([&] {
    turn = Run(SimpleRequest(), nullptr, &cancel);
    done.Notify();
  });
  server_->WaitForResponsesSent(1);
  const absl::Time cancelled_at = absl::Now();
  cancel.Cancel();
  done.WaitForNotification();
  streamer.join();
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kCancelled) << turn.status();
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(5));  // the idle timeout is 300 s
}

TEST_F(OpenAiBrainTest, SendsTheChatCompletionsRequest) {
  server_->Enqueue(FakeResponse::Sse(Recorded("openai_tool_calls.sse")));
  ASSERT_TRUE(Run(ToolRequest()).ok());
  const RecordedRequest request = server_->requests().at(0);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/v1/chat/completions");
  EXPECT_EQ(request.Header("authorization"), "Bearer sk-test");
  EXPECT_EQ(request.Header("content-type"), "application/json");
  EXPECT_EQ(request.Header("accept"), "text/event-stream");
  EXPECT_EQ(request.body,
            R"({"model":"gpt-4o-mini","max_tokens":1024,"stream":true,"stream_options":{"include_usage":true},)"
            R"("tools":[{"type":"function","function":{"name":"get_weather",)"
            R"("description":"Get the current weather in a given location",)"
            R"("parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}},)"
            R"({"type":"function","function":{"name":"read","parameters":{"type":"object"}}}],)"
            R"("messages":[{"role":"system","content":"You are terse."},)"
            R"({"role":"user","content":[{"type":"text","text":"What is the weather like in San Francisco?"},)"
            R"({"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},)"
            R"({"role":"assistant","content":"Okay, let's check:","tool_calls":[{"id":"sevt_1","type":"function",)"
            R"("function":{"name":"get_weather","arguments":"{\"location\":\"San Francisco, CA\"}"}}]},)"
            R"({"role":"tool","tool_call_id":"sevt_1","content":"Error: no such city"},)"
            R"({"role":"user","content":"Try again."}]})")
      << request.body;
}

TEST_F(OpenAiBrainTest, NoAuthorizationHeaderWithoutAKey) {
  OpenAiBrainOptions options = DefaultOptions();
  options.api_key.clear();
  brain_ = MakeBrain(options);
  ASSERT_TRUE(RunOn(Recorded("openai_text.sse")).ok());
  EXPECT_EQ(server_->requests().at(0).Header("authorization"), "");
  EXPECT_EQ(server_->requests().at(0).body,
            R"({"model":"gpt-4o-mini","max_tokens":256,"stream":true,"stream_options":{"include_usage":true},)"
            R"("messages":[{"role":"user","content":"Hello!"}]})");
}

TEST_F(OpenAiBrainTest, EncodingIsDeterministicAndSharesThePrefixAcrossTurns) {
  const ModelRequest first = ToolRequest();
  ModelRequest next = ToolRequest();
  MessageBlock answer;
  answer.text = "It is 15 degrees.";
  MessageBlock thanks;
  thanks.text = "Thanks";
  next.messages.push_back(Message{Message::Role::kAssistant, {answer}});
  next.messages.push_back(Message{Message::Role::kUser, {thanks}});
  next.stable_prefix_messages = 4;
  const std::string text = Recorded("openai_text.sse");
  for (const ModelRequest* request : std::vector<const ModelRequest*>{&first, &first, &next}) {
    server_->Enqueue(FakeResponse::Sse(text));
    ASSERT_TRUE(Run(*request).ok());
  }
  const std::vector<RecordedRequest> sent = server_->requests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1].body, sent[0].body);
  const std::string shared = sent[0].body.substr(0, sent[0].body.size() - 2);  // without "]}"
  EXPECT_EQ(sent[2].body.substr(0, shared.size()), shared);
  EXPECT_EQ(sent[2].body[shared.size()], ',');
}

TEST(OpenAiBrainOptionsTest, FromEnv) {
  {
    ScopedEnv url("OPENAI_BASE_URL", nullptr);
    absl::StatusOr<OpenAiBrainOptions> options = OpenAiBrainOptions::FromEnv();
    ASSERT_EQ(options.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(options.status().message().find("OPENAI_BASE_URL"), absl::string_view::npos);
  }
  {
    ScopedEnv url("OPENAI_BASE_URL", "http://localhost:11434/v1");
    ScopedEnv key("OPENAI_API_KEY", nullptr);
    absl::StatusOr<OpenAiBrainOptions> options = OpenAiBrainOptions::FromEnv();
    ASSERT_TRUE(options.ok()) << options.status();
    EXPECT_EQ(options->base_url, "http://localhost:11434/v1");
    EXPECT_EQ(options->api_key, "");
    EXPECT_TRUE(NewOpenAiBrain(*options).ok());
  }
  {
    ScopedEnv url("OPENAI_BASE_URL", "https://api.openai.com/v1/");
    ScopedEnv key("OPENAI_API_KEY", "sk-test");
    absl::StatusOr<OpenAiBrainOptions> options = OpenAiBrainOptions::FromEnv();
    ASSERT_TRUE(options.ok()) << options.status();
    EXPECT_EQ(options->api_key, "sk-test");
  }
}

TEST(OpenAiBrainOptionsTest, FactoryRejectsUnusableOptions) {
  OpenAiBrainOptions options;
  EXPECT_EQ(NewOpenAiBrain(options).status().code(), absl::StatusCode::kInvalidArgument);  // no base_url
  options.base_url = "localhost:11434/v1";
  EXPECT_EQ(NewOpenAiBrain(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.base_url = "http://localhost:11434/v1";
  EXPECT_TRUE(NewOpenAiBrain(options).ok());
}

}  // namespace
}  // namespace wake
