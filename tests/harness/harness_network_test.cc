// Harness::Wake with a network brain end to end: the Anthropic brain against the local fake model
// server replaying recorded streams, on a real RocksDB log. What the brains' own tests show per
// request, shown here as the session's log: retries as session.status_rescheduled, tool calls run on
// the hand, and a user.interrupt stopping a stream that hangs.

#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "harness/anthropic_brain.h"
#include "harness/harness.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"
#include "tests/harness/brain_test_util.h"
#include "tests/harness/fake_model_server.h"
#include "tests/harness/harness_test_util.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::FakeModelServer;
using testing::FakeResponse;

class HarnessNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("harness-network");
    RocksDbSessionLogOptions options;
    options.path = dir_;
    log_ = *OpenRocksDbSessionLog(options);
    server_ = *FakeModelServer::Start();
    AnthropicBrainOptions brain_options;
    brain_options.base_url = server_->base_url();
    brain_options.api_key = "test-key";
    brain_ = *NewAnthropicBrain(brain_options);
    agent_.model = "claude-opus-4-6";
    agent_.system = "You are terse.";
    agent_.tools = {{"get_weather", "Get the current weather in a given location",
                     R"({"type":"object","properties":{"location":{"type":"string"}},"required":["location"]})"}};
  }
  void TearDown() override {
    server_.reset();
    log_.reset();
    testing::RemoveDir(dir_);
  }

  std::string NewSession(const std::string& text) {
    SessionInfo info;
    info.id = NewSessionId(absl::Now());
    EXPECT_TRUE(log_->CreateSession(info).ok());
    EXPECT_TRUE(log_->Append(info.id, {testing::TextMessage(EventType::kUserMessage, text)}, kAppendAtHead, kNoLease).ok());
    return info.id;
  }

  HarnessOptions Options() {
    HarnessOptions options;
    options.clock = &clock_;  // backoff sleeps advance it instead of waiting
    return options;
  }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<SessionLog> log_;
  std::unique_ptr<FakeModelServer> server_;
  std::unique_ptr<Brain> brain_;
  AgentConfig agent_;
  testing::RecordingHands hands_;
};

TEST_F(HarnessNetworkTest, OverloadedThenToolUseThenAnswer) {
  FakeResponse overloaded =
      FakeResponse::Json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  overloaded.headers.emplace_back("retry-after", "2");
  server_->Enqueue(overloaded);
  server_->Enqueue(FakeResponse::Sse(testing::Recorded("anthropic_tool_use.sse"), 7));  // cut every 7 bytes
  server_->Enqueue(FakeResponse::Sse(testing::Recorded("anthropic_text.sse")));
  const std::string s = NewSession("What is the weather like in San Francisco?");
  Harness harness(log_.get(), brain_.get(), &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());

  std::vector<Event> events = *log_->Read(s);
  int rescheduled = 0;
  const Event* tool_use = nullptr;
  const Event* tool_result = nullptr;
  for (const Event& e : events) {
    if (e.type == EventType::kSessionStatusRescheduled) ++rescheduled;
    if (e.type == EventType::kAgentToolUse) tool_use = &e;
    if (e.type == EventType::kAgentToolResult) tool_result = &e;
  }
  EXPECT_EQ(rescheduled, 1);
  ASSERT_NE(tool_use, nullptr);
  EXPECT_EQ(tool_use->name, "get_weather");
  EXPECT_EQ(tool_use->input_json, R"({"location":"San Francisco, CA","unit":"fahrenheit"})");
  ASSERT_NE(tool_result, nullptr);
  EXPECT_EQ(tool_result->tool_use_id, tool_use->id);
  ASSERT_EQ(hands_.calls().size(), 1u);
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
  EXPECT_EQ(events[events.size() - 3].type, EventType::kAgentMessage);
  EXPECT_EQ(events[events.size() - 3].content[0].text, "Hello!");
  // The backoff honoured retry-after (at least 2 s of the harness's clock passed).
  EXPECT_GE(clock_.Now() - absl::FromUnixSeconds(1'700'000'000), absl::Seconds(2));

  // The third request carried the tool result, with the stable prefix marked for caching.
  std::vector<testing::RecordedRequest> requests = server_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_TRUE(absl::StrContains(requests[2].body, R"("type":"tool_result")"));
  EXPECT_TRUE(absl::StrContains(requests[2].body, R"("cache_control":{"type":"ephemeral"})"));
  EXPECT_EQ(requests[2].Header("x-api-key"), "test-key");
}

TEST_F(HarnessNetworkTest, InterruptStopsAHangingStream) {
  FakeResponse hanging = FakeResponse::Sse("event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
                                           "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
                                           "\"model\":\"claude-opus-4-6\",\"content\":[],\"stop_reason\":null,"
                                           "\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n");
  hanging.ending = FakeResponse::Ending::kHang;
  server_->Enqueue(hanging);
  const std::string s = NewSession("Tell me a long story.");
  std::thread interrupter([&] {
    server_->WaitForResponsesSent(1);
    Event interrupt;
    interrupt.type = EventType::kUserInterrupt;
    interrupt.id = NewEventId(absl::Now());
    EXPECT_TRUE(log_->Append(s, {interrupt}, kAppendAtHead, kNoLease).ok());
  });
  Harness harness(log_.get(), brain_.get(), &hands_, Options());
  ASSERT_TRUE(harness.Wake(s, agent_).ok());
  interrupter.join();
  std::vector<Event> events = *log_->Read(s);
  EXPECT_EQ(events.back().type, EventType::kSessionStatusIdle);
  bool failed_span = false;
  for (const Event& e : events) {
    if (e.type == EventType::kSpanModelRequestEnd) failed_span = e.is_error.value_or(false);
    EXPECT_NE(e.type, EventType::kAgentMessage);
  }
  EXPECT_TRUE(failed_span);
}

}  // namespace
}  // namespace wake
