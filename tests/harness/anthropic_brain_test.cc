// AnthropicBrain against FakeModelServer replaying streams recorded from Anthropic's documentation
// (tests/harness/testdata/anthropic_*.sse).

#include "harness/anthropic_brain.h"

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

constexpr char kCacheMarker[] = R"(,"cache_control":{"type":"ephemeral"})";

ModelRequest SimpleRequest() { return testing::SimpleRequest("claude-opus-4-6", "Hello"); }
ModelRequest ToolRequest() { return testing::ToolRequest("claude-opus-4-6", "15 degrees", ""); }

size_t Count(std::string_view haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string_view::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

class AnthropicBrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = FakeModelServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    brain_ = MakeBrain(DefaultOptions());
  }

  AnthropicBrainOptions DefaultOptions() const {
    AnthropicBrainOptions options;
    options.base_url = server_->base_url();
    options.api_key = "test-key";
    return options;
  }

  static std::unique_ptr<Brain> MakeBrain(AnthropicBrainOptions options) {
    auto brain = NewAnthropicBrain(std::move(options));
    EXPECT_TRUE(brain.ok()) << brain.status();
    return brain.ok() ? *std::move(brain) : nullptr;
  }

  absl::StatusOr<ModelTurn> Run(const ModelRequest& request = SimpleRequest(), StreamObserver* observer = nullptr,
                                const CancelToken* cancel = nullptr) {
    return brain_->Stream(request, observer, cancel);
  }

  // Serves `body` as one 200 SSE response and streams SimpleRequest() against it.
  absl::StatusOr<ModelTurn> RunOn(std::string_view body, StreamObserver* observer = nullptr) {
    server_->Enqueue(FakeResponse::Sse(body));
    return Run(SimpleRequest(), observer);
  }

  std::unique_ptr<FakeModelServer> server_;
  std::unique_ptr<Brain> brain_;
};

TEST_F(AnthropicBrainTest, TextStream) {
  CollectingObserver observer;
  absl::StatusOr<ModelTurn> turn = RunOn(Recorded("anthropic_text.sse"), &observer);
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(brain_->kind(), "anthropic");
  ASSERT_EQ(turn->blocks.size(), 1u);
  EXPECT_EQ(turn->blocks[0].kind, TurnBlock::Kind::kText);
  EXPECT_EQ(turn->blocks[0].text, "Hello!");
  EXPECT_EQ(turn->stop_reason, "end_turn");
  EXPECT_EQ(turn->model, "claude-opus-4-6");
  EXPECT_EQ(turn->message_id, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
  EXPECT_EQ(turn->usage.input_tokens, 25);
  EXPECT_EQ(turn->usage.output_tokens, 15);  // message_delta's cumulative count wins over message_start's
  EXPECT_GT(turn->time_to_first_token, absl::ZeroDuration());
  EXPECT_LE(turn->time_to_first_token, turn->duration);
  EXPECT_EQ(observer.deltas, (std::vector<std::string>{"Hello", "!"}));
  EXPECT_EQ(observer.delta_indexes, (std::vector<size_t>{0, 0}));
  ASSERT_EQ(observer.completed.size(), 1u);
  EXPECT_EQ(observer.completed[0], turn->blocks[0]);
}

TEST_F(AnthropicBrainTest, ToolUseStreamAssemblesTheInputFromDeltas) {
  CollectingObserver observer;
  absl::StatusOr<ModelTurn> turn = RunOn(Recorded("anthropic_tool_use.sse"), &observer);
  ASSERT_TRUE(turn.ok()) << turn.status();
  ASSERT_EQ(turn->blocks.size(), 2u);
  EXPECT_EQ(turn->blocks[0].kind, TurnBlock::Kind::kText);
  EXPECT_EQ(turn->blocks[0].text, "Okay, let's check the weather for San Francisco, CA:");
  EXPECT_EQ(turn->blocks[1].kind, TurnBlock::Kind::kToolUse);
  EXPECT_EQ(turn->blocks[1].id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
  EXPECT_EQ(turn->blocks[1].name, "get_weather");
  EXPECT_EQ(turn->blocks[1].input_json, R"({"location":"San Francisco, CA","unit":"fahrenheit"})");
  EXPECT_EQ(turn->stop_reason, "tool_use");
  EXPECT_EQ(turn->usage.input_tokens, 472);
  EXPECT_EQ(turn->usage.output_tokens, 89);
  EXPECT_EQ(observer.completed_indexes, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(observer.completed[1], turn->blocks[1]);
}

TEST_F(AnthropicBrainTest, ThinkingIsAThinkingBlockAndIsNotStreamedAsText) {
  CollectingObserver observer;
  absl::StatusOr<ModelTurn> turn = RunOn(Recorded("anthropic_thinking.sse"), &observer);
  ASSERT_TRUE(turn.ok()) << turn.status();
  ASSERT_EQ(turn->blocks.size(), 2u);
  EXPECT_EQ(turn->blocks[0].kind, TurnBlock::Kind::kThinking);
  EXPECT_EQ(turn->blocks[0].text,
            "I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n1071 = 2 × 462 + 147"
            "\n462 = 3 × 147 + 21\n147 = 7 × 21 + 0\nThe remainder is 0, so GCD(1071, 462) = 21.");
  EXPECT_EQ(turn->blocks[1].text, "The greatest common divisor of 1071 and 462 is **21**.");
  EXPECT_EQ(observer.deltas, (std::vector<std::string>{"The greatest common divisor of 1071 and 462 is **21**."}));
  EXPECT_EQ(observer.delta_indexes, (std::vector<size_t>{1}));
}

TEST_F(AnthropicBrainTest, SameTurnWhateverTheChunking) {
  const std::string body = Recorded("anthropic_tool_use.sse");
  absl::StatusOr<ModelTurn> whole = RunOn(body);
  ASSERT_TRUE(whole.ok()) << whole.status();

  FakeResponse bytewise = FakeResponse::Sse(body, 1);
  server_->Enqueue(bytewise);
  absl::StatusOr<ModelTurn> one_byte = Run();
  ASSERT_TRUE(one_byte.ok()) << one_byte.status();
  ExpectSameTurn(*one_byte, *whole);

  for (uint64_t seed = 1; seed <= 5; ++seed) {
    FakeResponse random = FakeResponse::Sse("");
    random.chunks = testing::SplitRandomly(body, seed, 64);
    server_->Enqueue(random);
    absl::StatusOr<ModelTurn> turn = Run();
    ASSERT_TRUE(turn.ok()) << "seed " << seed << ": " << turn.status();
    ExpectSameTurn(*turn, *whole);
  }
}

TEST_F(AnthropicBrainTest, PingsAndUnknownEventTypesAreIgnored) {
  const std::string body = Recorded("anthropic_text.sse");
  absl::StatusOr<ModelTurn> plain = RunOn(body);
  ASSERT_TRUE(plain.ok()) << plain.status();
  const std::vector<std::string> events = SplitEvents(body);
  const std::string ping = events[2];
  ASSERT_EQ(ping, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
  std::string noisy;
  for (const std::string& event : events) {
    noisy += event + ping + "event: some_future_event\ndata: {\"type\": \"some_future_event\", \"index\": 9}\n\n";
  }
  absl::StatusOr<ModelTurn> turn = RunOn(noisy);
  ASSERT_TRUE(turn.ok()) << turn.status();
  ExpectSameTurn(*turn, *plain);
}

TEST_F(AnthropicBrainTest, MidStreamOverloadedErrorIsUnavailable) {
  const std::vector<std::string> events = SplitEvents(Recorded("anthropic_text.sse"));
  const std::string error = Recorded("anthropic_error_event.sse");
  CollectingObserver observer;
  // message_start, content_block_start, ping, the "Hello" delta, then the documented error event.
  absl::StatusOr<ModelTurn> turn = RunOn(JoinEvents(events, 0, 4) + error, &observer);
  ASSERT_EQ(turn.status().code(), absl::StatusCode::kUnavailable) << turn.status();
  EXPECT_EQ(UpstreamErrorType(turn.status()), "overloaded_error");
  EXPECT_NE(turn.status().message().find("Overloaded"), absl::string_view::npos);
  EXPECT_EQ(observer.deltas, (std::vector<std::string>{"Hello"}));
}

TEST_F(AnthropicBrainTest, MidStreamInvalidRequestErrorIsNotRetryable) {
  const std::vector<std::string> events = SplitEvents(Recorded("anthropic_text.sse"));
  const std::string error =
      absl::StrReplaceAll(Recorded("anthropic_error_event.sse"), {{"overloaded_error", "invalid_request_error"}});
  absl::StatusOr<ModelTurn> turn = RunOn(JoinEvents(events, 0, 2) + error);
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kInvalidArgument) << turn.status();
  EXPECT_EQ(UpstreamErrorType(turn.status()), "invalid_request_error");
}

TEST_F(AnthropicBrainTest, Http529WithRetryAfterThenSuccess) {
  FakeResponse overloaded =
      FakeResponse::Json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  overloaded.headers.emplace_back("retry-after", "3");
  server_->Enqueue(overloaded);
  absl::StatusOr<ModelTurn> first = Run();
  ASSERT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  EXPECT_EQ(UpstreamErrorType(first.status()), "overloaded_error");
  EXPECT_EQ(RetryAfter(first.status()), absl::Seconds(3));

  absl::StatusOr<ModelTurn> second = RunOn(Recorded("anthropic_text.sse"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->blocks[0].text, "Hello!");
  EXPECT_EQ(server_->requests().size(), 2u);
}

TEST_F(AnthropicBrainTest, Http429IsUnavailableWithRetryAfter) {
  FakeResponse limited = FakeResponse::Json(
      429, R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"})");
  limited.headers.emplace_back("retry-after", "17");
  server_->Enqueue(limited);
  absl::StatusOr<ModelTurn> turn = Run();
  ASSERT_EQ(turn.status().code(), absl::StatusCode::kUnavailable) << turn.status();
  EXPECT_EQ(UpstreamErrorType(turn.status()), "rate_limit_error");
  EXPECT_EQ(RetryAfter(turn.status()), absl::Seconds(17));
  EXPECT_NE(turn.status().message().find("per-minute rate limit"), absl::string_view::npos);
}

TEST_F(AnthropicBrainTest, HttpErrorsMapToStatusCodes) {
  struct Case {
    int status;
    std::string body;
    absl::StatusCode code;
    std::string upstream_type;
  };
  const std::vector<Case> cases = {
      {400, R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}})",
       absl::StatusCode::kInvalidArgument, "invalid_request_error"},
      {401, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})",
       absl::StatusCode::kUnauthenticated, "authentication_error"},
      {403, R"({"type":"error","error":{"type":"permission_error","message":"no access"}})",
       absl::StatusCode::kPermissionDenied, "permission_error"},
      {404, R"({"type":"error","error":{"type":"not_found_error","message":"model: nope"}})",
       absl::StatusCode::kInvalidArgument, "not_found_error"},
      {413, R"({"type":"error","error":{"type":"request_too_large","message":"too large"}})",
       absl::StatusCode::kInvalidArgument, "request_too_large"},
      {500, R"({"type":"error","error":{"type":"api_error","message":"Internal server error"}})",
       absl::StatusCode::kUnavailable, "api_error"},
      {502, "<html>Bad Gateway</html>", absl::StatusCode::kUnavailable, "api_error"},
  };
  for (const Case& c : cases) {
    server_->Enqueue(FakeResponse::Json(c.status, c.body));
    absl::StatusOr<ModelTurn> turn = Run();
    EXPECT_EQ(turn.status().code(), c.code) << c.status << ": " << turn.status();
    EXPECT_EQ(UpstreamErrorType(turn.status()), c.upstream_type) << c.status;
    EXPECT_EQ(RetryAfter(turn.status()), std::nullopt) << c.status;
  }
}

TEST_F(AnthropicBrainTest, StreamEndingBeforeMessageStopIsUnavailable) {
  const std::vector<std::string> events = SplitEvents(Recorded("anthropic_text.sse"));
  ASSERT_EQ(events.size(), 8u);
  // A well-framed HTTP body that lacks the final message_stop.
  absl::StatusOr<ModelTurn> turn = RunOn(JoinEvents(events, 0, 7));
  ASSERT_EQ(turn.status().code(), absl::StatusCode::kUnavailable) << turn.status();
  EXPECT_NE(turn.status().message().find("before message_stop"), absl::string_view::npos);

  // The connection dropped mid-body (no terminating chunk).
  FakeResponse cut = FakeResponse::Sse(JoinEvents(events, 0, 5));
  cut.ending = FakeResponse::Ending::kCut;
  server_->Enqueue(cut);
  turn = Run();
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kUnavailable) << turn.status();

  // A connection-close delimited body that ends early.
  FakeResponse closed = FakeResponse::Sse(JoinEvents(events, 0, 5));
  closed.framing = FakeResponse::Framing::kCloseDelimited;
  server_->Enqueue(closed);
  turn = Run();
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kUnavailable) << turn.status();
}

TEST_F(AnthropicBrainTest, CloseDelimitedCompleteStreamIsFine) {
  FakeResponse closed = FakeResponse::Sse(Recorded("anthropic_text.sse"), 7);
  closed.framing = FakeResponse::Framing::kCloseDelimited;
  server_->Enqueue(closed);
  absl::StatusOr<ModelTurn> turn = Run();
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->blocks[0].text, "Hello!");
}

TEST_F(AnthropicBrainTest, MalformedJsonIsDataLoss) {
  std::vector<std::string> events = SplitEvents(Recorded("anthropic_text.sse"));
  events[3] = "event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\n\n";
  absl::StatusOr<ModelTurn> turn = RunOn(JoinEvents(events, 0, events.size()));
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kDataLoss) << turn.status();
}

TEST_F(AnthropicBrainTest, OutOfOrderFramesAreDataLoss) {
  const std::vector<std::string> events = SplitEvents(Recorded("anthropic_tool_use.sse"));
  // A delta for a block that never started: drop the tool_use content_block_start.
  std::vector<std::string> no_start = events;
  const std::string tool_start = JoinEvents(events, 17, 18);
  ASSERT_NE(tool_start.find("\"tool_use\""), std::string::npos) << tool_start;
  no_start.erase(no_start.begin() + 17);
  absl::StatusOr<ModelTurn> turn = RunOn(JoinEvents(no_start, 0, no_start.size()));
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kDataLoss) << turn.status();

  // Content before message_start.
  turn = RunOn(JoinEvents(events, 1, events.size()));
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kDataLoss) << turn.status();

  // A tool input that is not a JSON object once assembled: drop the last input_json_delta.
  std::vector<std::string> truncated_input = events;
  const std::string last_delta = JoinEvents(events, 26, 27);
  ASSERT_NE(last_delta.find("renheit"), std::string::npos) << last_delta;
  truncated_input.erase(truncated_input.begin() + 26);
  turn = RunOn(JoinEvents(truncated_input, 0, truncated_input.size()));
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kDataLoss) << turn.status();
}

TEST_F(AnthropicBrainTest, ToolUseWithNoInputDeltasHasAnEmptyObject) {
  const std::vector<std::string> events = SplitEvents(Recorded("anthropic_tool_use.sse"));
  std::string body = JoinEvents(events, 0, 18);  // up to the tool_use content_block_start
  body += JoinEvents(events, 27, events.size());  // its content_block_stop onwards
  absl::StatusOr<ModelTurn> turn = RunOn(body);
  ASSERT_TRUE(turn.ok()) << turn.status();
  ASSERT_EQ(turn->blocks.size(), 2u);
  EXPECT_EQ(turn->blocks[1].input_json, "{}");
}

TEST_F(AnthropicBrainTest, CancelWhileTheServerHangsMidStream) {
  brain_ = MakeBrain([&] {
    AnthropicBrainOptions options = DefaultOptions();
    options.idle_timeout = absl::Seconds(60);
    return options;
  }());
  FakeResponse hang = FakeResponse::Sse(JoinEvents(SplitEvents(Recorded("anthropic_text.sse")), 0, 4));
  hang.ending = FakeResponse::Ending::kHang;
  server_->Enqueue(hang);
  CancelToken cancel;
  CollectingObserver observer;
  absl::StatusOr<ModelTurn> turn;
  Notification done;
  std::thread streamer([&] {
    turn = Run(SimpleRequest(), &observer, &cancel);
    done.Notify();
  });
  server_->WaitForResponsesSent(1);
  const absl::Time cancelled_at = absl::Now();
  cancel.Cancel();
  done.WaitForNotification();
  streamer.join();
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kCancelled) << turn.status();
  // Promptly: long before the 60 s idle timeout (the transfer loop wakes every 20 ms).
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(5));
}

TEST_F(AnthropicBrainTest, CancelWhenNoByteEverArrives) {
  server_->Enqueue(FakeResponse::Silent());
  CancelToken cancel;
  absl::StatusOr<ModelTurn> turn;
  Notification done;
  std::thread streamer([&] {
    turn = Run(SimpleRequest(), nullptr, &cancel);
    done.Notify();
  });
  server_->WaitForRequests(1);
  cancel.Cancel();
  done.WaitForNotification();
  streamer.join();
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kCancelled) << turn.status();
}

TEST_F(AnthropicBrainTest, AlreadyCancelledSendsNothing) {
  CancelToken cancel;
  cancel.Cancel();
  absl::StatusOr<ModelTurn> turn = Run(SimpleRequest(), nullptr, &cancel);
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(server_->requests().empty());
}

TEST_F(AnthropicBrainTest, IdleStreamTimesOutUnavailable) {
  brain_ = MakeBrain([&] {
    AnthropicBrainOptions options = DefaultOptions();
    options.idle_timeout = absl::Milliseconds(200);
    return options;
  }());
  FakeResponse hang = FakeResponse::Sse(JoinEvents(SplitEvents(Recorded("anthropic_text.sse")), 0, 2));
  hang.ending = FakeResponse::Ending::kHang;
  server_->Enqueue(hang);
  absl::StatusOr<ModelTurn> turn = Run();
  ASSERT_EQ(turn.status().code(), absl::StatusCode::kUnavailable) << turn.status();
  EXPECT_NE(turn.status().message().find("idle timeout"), absl::string_view::npos) << turn.status();
}

TEST_F(AnthropicBrainTest, ConnectionRefusedIsUnavailable) {
  const std::string url = server_->base_url();
  server_->Stop();
  AnthropicBrainOptions options = DefaultOptions();
  options.base_url = url;
  brain_ = MakeBrain(options);
  absl::StatusOr<ModelTurn> turn = Run();
  EXPECT_EQ(turn.status().code(), absl::StatusCode::kUnavailable) << turn.status();
}

TEST_F(AnthropicBrainTest, SendsTheMessagesApiHeaders) {
  brain_ = MakeBrain([&] {
    AnthropicBrainOptions options = DefaultOptions();
    options.beta_headers = {"fine-grained-tool-streaming-2025-05-14", "files-api-2025-04-14"};
    return options;
  }());
  ASSERT_TRUE(RunOn(Recorded("anthropic_text.sse")).ok());
  const RecordedRequest request = server_->requests().at(0);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/v1/messages");
  EXPECT_EQ(request.Header("x-api-key"), "test-key");
  EXPECT_EQ(request.Header("anthropic-version"), "2023-06-01");
  EXPECT_EQ(request.Header("content-type"), "application/json");
  EXPECT_EQ(request.Header("accept"), "text/event-stream");
  EXPECT_EQ(request.Header("anthropic-beta"), "fine-grained-tool-streaming-2025-05-14,files-api-2025-04-14");
  EXPECT_EQ(request.Header("expect"), "");
  EXPECT_EQ(request.body,
            R"({"model":"claude-opus-4-6","max_tokens":256,"stream":true,)"
            R"("messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}]})");
}

TEST_F(AnthropicBrainTest, EncodesToolsBlocksAndCacheBreakpoints) {
  server_->Enqueue(FakeResponse::Sse(Recorded("anthropic_tool_use.sse")));
  ASSERT_TRUE(Run(ToolRequest()).ok());
  const std::string body = server_->requests().at(0).body;
  EXPECT_EQ(body,
            R"({"model":"claude-opus-4-6","max_tokens":1024,"stream":true,)"
            R"("system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],)"
            R"("tools":[{"name":"get_weather","description":"Get the current weather in a given location",)"
            R"("input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}},)"
            R"({"name":"read","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],)"
            R"("messages":[)"
            R"({"role":"user","content":[{"type":"text","text":"What is the weather like in San Francisco?"},)"
            R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},)"
            R"({"role":"assistant","content":[{"type":"text","text":"Okay, let's check:"},)"
            R"({"type":"tool_use","id":"sevt_1","name":"get_weather","input":{"location":"San Francisco, CA"},)"
            R"("cache_control":{"type":"ephemeral"}}]},)"
            R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"sevt_1",)"
            R"("content":[{"type":"text","text":"15 degrees"}],"is_error":true}]}]})")
      << body;
}

TEST_F(AnthropicBrainTest, EncodingIsDeterministicAndSharesThePrefixAcrossTurns) {
  const ModelRequest first = ToolRequest();
  ModelRequest repeat = ToolRequest();
  ModelRequest next = ToolRequest();  // the next turn: two more messages
  MessageBlock answer;
  answer.text = "It is 15 degrees.";
  MessageBlock thanks;
  thanks.text = "Thanks";
  next.messages.push_back(Message{Message::Role::kAssistant, {answer}});
  next.messages.push_back(Message{Message::Role::kUser, {thanks}});
  next.stable_prefix_messages = 4;
  const std::string text = Recorded("anthropic_text.sse");
  for (const ModelRequest* request : std::vector<const ModelRequest*>{&first, &repeat, &next}) {
    server_->Enqueue(FakeResponse::Sse(text));
    ASSERT_TRUE(Run(*request).ok());
  }
  const std::vector<RecordedRequest> sent = server_->requests();
  ASSERT_EQ(sent.size(), 3u);
  const std::string& a = sent[0].body;
  const std::string& b = sent[2].body;
  // Same request, same bytes.
  EXPECT_EQ(sent[1].body, a);
  // At most four breakpoints (the API's limit): system, last tool, end of the stable prefix.
  EXPECT_EQ(Count(a, kCacheMarker), 3u);
  EXPECT_EQ(Count(b, kCacheMarker), 3u);
  // Byte-identical up to the previous turn's message breakpoint, which moved forward...
  const size_t moved = a.find(kCacheMarker, a.find("\"messages\""));
  ASSERT_NE(moved, std::string::npos);
  EXPECT_EQ(b.substr(0, moved), a.substr(0, moved));
  // ...and, but for the moved marker, through the end of every message the two turns share.
  const std::string a_content = absl::StrReplaceAll(a, {{kCacheMarker, ""}});
  const std::string b_content = absl::StrReplaceAll(b, {{kCacheMarker, ""}});
  const std::string shared = a_content.substr(0, a_content.size() - 2);  // without the closing "]}"
  EXPECT_EQ(b_content.substr(0, shared.size()), shared);
  EXPECT_EQ(b_content[shared.size()], ',');
  // The new breakpoint is on the last block of message 3 (the assistant's answer).
  EXPECT_NE(b.find(R"({"type":"text","text":"It is 15 degrees.","cache_control":{"type":"ephemeral"}})"),
            std::string::npos);
}

TEST_F(AnthropicBrainTest, ConcurrentStreamsFromSeveralThreads) {
  const std::string body = Recorded("anthropic_tool_use.sse");
  constexpr int kThreads = 4;
  constexpr int kTurnsPerThread = 3;
  for (int i = 0; i < kThreads * kTurnsPerThread; ++i) server_->Enqueue(FakeResponse::Sse(body, 100));
  std::vector<std::thread> threads;
  std::vector<int> ok(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTurnsPerThread; ++i) {
        absl::StatusOr<ModelTurn> turn = Run();
        if (turn.ok() && turn->blocks.size() == 2) ++ok[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(ok[t], kTurnsPerThread);
  // Each thread keeps its connection alive from one turn to the next.
  EXPECT_LE(server_->connections_accepted(), static_cast<size_t>(kThreads));
}

TEST_F(AnthropicBrainTest, OneThreadReusesItsConnection) {
  const std::string body = Recorded("anthropic_text.sse");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(RunOn(body).ok());
  EXPECT_EQ(server_->connections_accepted(), 1u);
}

TEST_F(AnthropicBrainTest, RequestWithoutModelIsInvalid) {
  ModelRequest request = SimpleRequest();
  request.model.clear();
  EXPECT_EQ(Run(request).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(server_->requests().empty());
}

TEST(AnthropicBrainOptionsTest, FromEnv) {
  {
    ScopedEnv key("ANTHROPIC_API_KEY", nullptr);
    ScopedEnv url("ANTHROPIC_BASE_URL", nullptr);
    absl::StatusOr<AnthropicBrainOptions> options = AnthropicBrainOptions::FromEnv();
    ASSERT_EQ(options.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(options.status().message().find("ANTHROPIC_API_KEY"), absl::string_view::npos);
  }
  {
    ScopedEnv key("ANTHROPIC_API_KEY", "");
    EXPECT_EQ(AnthropicBrainOptions::FromEnv().status().code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    ScopedEnv key("ANTHROPIC_API_KEY", "sk-ant-test");
    ScopedEnv url("ANTHROPIC_BASE_URL", nullptr);
    absl::StatusOr<AnthropicBrainOptions> options = AnthropicBrainOptions::FromEnv();
    ASSERT_TRUE(options.ok()) << options.status();
    EXPECT_EQ(options->api_key, "sk-ant-test");
    EXPECT_EQ(options->base_url, "https://api.anthropic.com");
    EXPECT_EQ(options->anthropic_version, "2023-06-01");
  }
  {
    ScopedEnv key("ANTHROPIC_API_KEY", "sk-ant-test");
    ScopedEnv url("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/");
    absl::StatusOr<AnthropicBrainOptions> options = AnthropicBrainOptions::FromEnv();
    ASSERT_TRUE(options.ok()) << options.status();
    EXPECT_EQ(options->base_url, "http://127.0.0.1:9/");
    EXPECT_TRUE(NewAnthropicBrain(*options).ok());
  }
}

TEST(AnthropicBrainOptionsTest, FactoryRejectsUnusableOptions) {
  AnthropicBrainOptions options;
  EXPECT_EQ(NewAnthropicBrain(options).status().code(), absl::StatusCode::kInvalidArgument);  // no key
  options.api_key = "k";
  options.base_url = "api.anthropic.com";
  EXPECT_EQ(NewAnthropicBrain(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.base_url = "https://api.anthropic.com";
  options.api_key = "k\r\nx-injected: 1";
  EXPECT_EQ(NewAnthropicBrain(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.api_key = "k";
  EXPECT_TRUE(NewAnthropicBrain(options).ok());
}

}  // namespace
}  // namespace wake
