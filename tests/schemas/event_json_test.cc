#include "schemas/event_json.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/schemas/sample_events.h"

namespace wake {
namespace {

using testing::SampleEvents;
using testing::SampleName;

// ---------------------------------------------------------------------------------------------------
// Round trips

class JsonRoundTripTest : public ::testing::TestWithParam<size_t> {};

TEST_P(JsonRoundTripTest, DecodeOfEncodeIsTheSameEvent) {
  const Event event = SampleEvents()[GetParam()];
  const std::string json = EncodeEventJson(event);
  absl::StatusOr<Event> decoded = DecodeEventJson(json);
  ASSERT_TRUE(decoded.ok()) << decoded.status() << "\n" << json;
  EXPECT_EQ(*decoded, event) << json;
  // And the encoding is canonical: a second pass is byte-identical.
  EXPECT_EQ(EncodeEventJson(*decoded), json);
}

INSTANTIATE_TEST_SUITE_P(AllSamples, JsonRoundTripTest, ::testing::Range<size_t>(0, SampleEvents().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return SampleName(SampleEvents()[info.param], info.param);
                         });

// Canonical documents, one or more per type: decoding then encoding must reproduce them byte for
// byte. These pin the field order and null conventions that clients see.
const char* const kCanonical[] = {
    R"({"type":"user.message","id":"sevt_01","content":[{"type":"text","text":"Hi \"there\"\n\ttab \\ \u0001 café 🚀"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"document","source":{"type":"url","url":"https://example.com/spec.pdf"},"title":"Spec","context":null},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"notes"},"title":null,"context":"ctx"},{"type":"image","source":{"type":"file","file_id":"file_011"}},{"type":"redacted"}],"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"user.message","id":"sevt_02","content":[{"type":"text","text":"no time yet"}],"processed_at":null})",
    R"({"type":"user.interrupt","id":"sevt_03","processed_at":"2025-11-22T11:08:26.000000Z"})",
    R"({"type":"user.tool_confirmation","id":"sevt_04","tool_use_id":"sevt_t1","result":"deny","deny_message":"not in prod","processed_at":"2025-11-22T11:08:26.000001Z"})",
    R"({"type":"user.tool_confirmation","id":"sevt_05","tool_use_id":"sevt_t1","result":"allow","deny_message":null,"processed_at":null})",
    R"({"type":"user.custom_tool_result","id":"sevt_06","custom_tool_use_id":"sevt_c1","content":[{"type":"text","text":"21C"}],"is_error":false,"processed_at":"1970-01-01T00:00:00.000000Z"})",
    R"({"type":"agent.message","id":"sevt_07","content":[{"type":"text","text":"Done."},{"type":"redacted"}],"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"agent.thinking","id":"sevt_08","processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"agent.tool_use","id":"sevt_09","name":"bash","input":{"command":"ls -la \"/tmp\"\n","timeout_ms":5000,"env":{"A":[true,null,0.5]}},"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"agent.tool_result","id":"sevt_10","tool_use_id":"sevt_09","content":[],"is_error":null,"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"agent.tool_result","id":"sevt_11","tool_use_id":"sevt_09","content":[{"type":"text","text":"total 0\n"}],"is_error":true,"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"agent.custom_tool_use","id":"sevt_12","name":"get_weather","input":{},"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"agent.thread_context_compacted","id":"sevt_13","processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"session.status_running","id":"sevt_14","processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"session.status_idle","id":"sevt_15","stop_reason":{"type":"end_turn"},"stop_details":null,"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"session.status_idle","id":"sevt_16","stop_reason":{"type":"requires_action","event_ids":["sevt_09","sevt_12"]},"stop_details":null,"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"session.status_idle","id":"sevt_17","stop_reason":{"type":"retries_exhausted"},"stop_details":null,"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"session.status_rescheduled","id":"sevt_18","processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"session.status_terminated","id":"sevt_19","processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"session.error","id":"sevt_20","error":{"type":"model_overloaded_error","message":"Overloaded","retry_status":{"type":"retrying"}},"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"span.model_request_start","id":"sevt_21","processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"span.model_request_end","id":"sevt_22","model_request_start_id":"sevt_21","is_error":false,"model_usage":{"input_tokens":2095,"output_tokens":503,"cache_creation_input_tokens":0,"cache_read_input_tokens":18432},"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"wake.tool_started","id":"sevt_23","tool_use_id":"sevt_09","name":"bash","idempotency_key":"sesn_1/9","processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"wake.hand_provisioned","id":"sevt_24","hand_id":"hand_1","backend":"docker","duration_us":734512,"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"wake.hand_lost","id":"sevt_25","hand_id":"hand_1","backend":"docker","reason":"container exited with code 137","processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"wake.hand_released","id":"sevt_26","hand_id":"hand_1","backend":"local","processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"wake.harness_woke","id":"sevt_27","worker_id":"worker-3","lease_epoch":18446744073709551615,"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"wake.rewound","id":"sevt_28","to_seq":12,"processed_at":"2025-11-22T11:08:26.123456Z"})",
    R"({"type":"wake.hand_provisioned","id":"sevt_29","hand_id":"hand_1","backend":"docker","duration_us":41803,"reason":"reattached","processed_at":"2025-11-22T11:08:26.123456Z"})",
};

TEST(EventJsonTest, CanonicalDocumentsAreFixedPoints) {
  std::vector<bool> seen(kEventTypeCount);
  for (const char* json : kCanonical) {
    absl::StatusOr<Event> e = DecodeEventJson(json);
    ASSERT_TRUE(e.ok()) << e.status() << "\n" << json;
    seen[static_cast<int>(e->type)] = true;
    EXPECT_EQ(EncodeEventJson(*e), json);
  }
  for (int i = 0; i < kEventTypeCount; ++i) EXPECT_TRUE(seen[i]) << EventTypeName(static_cast<EventType>(i));
}

TEST(EventJsonTest, DecodedFieldsLandWhereExpected) {
  absl::StatusOr<Event> e = DecodeEventJson(kCanonical[0]);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, EventType::kUserMessage);
  EXPECT_EQ(e->id, "sevt_01");
  EXPECT_EQ(e->processed_at, absl::FromUnixMicros(1'763'809'706'123'456));
  ASSERT_EQ(e->content.size(), 6u);
  EXPECT_EQ(e->content[0].text, "Hi \"there\"\n\ttab \\ \x01 caf\xC3\xA9 \xF0\x9F\x9A\x80");
  EXPECT_EQ(e->content[1].kind, ContentBlock::Kind::kImage);
  EXPECT_EQ(e->content[1].source, ContentBlock::SourceKind::kBase64);
  EXPECT_EQ(e->content[1].media_type, "image/png");
  EXPECT_EQ(e->content[2].source, ContentBlock::SourceKind::kUrl);
  EXPECT_EQ(e->content[2].data, "https://example.com/spec.pdf");
  EXPECT_EQ(e->content[2].title, "Spec");
  EXPECT_EQ(e->content[2].context, std::nullopt);
  EXPECT_EQ(e->content[4].data, "file_011");
  EXPECT_EQ(e->content[5].kind, ContentBlock::Kind::kRedacted);

  absl::StatusOr<Event> custom = DecodeEventJson(kCanonical[5]);
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(custom->tool_use_id, "sevt_c1");  // custom_tool_use_id lands in tool_use_id
  EXPECT_EQ(custom->is_error, false);

  absl::StatusOr<Event> tool = DecodeEventJson(kCanonical[8]);
  ASSERT_TRUE(tool.ok()) << tool.status();
  EXPECT_EQ(tool->input_json, R"({"command":"ls -la \"/tmp\"\n","timeout_ms":5000,"env":{"A":[true,null,0.5]}})");

  absl::StatusOr<Event> woke = DecodeEventJson(kCanonical[26]);
  ASSERT_TRUE(woke.ok()) << woke.status();
  EXPECT_EQ(woke->lease_epoch, UINT64_MAX);
}

TEST(EventJsonTest, AcceptsAnyFieldOrderWhitespaceAndTimeOffset) {
  const char* json = R"( {
      "processed_at" : "2025-11-22T12:08:26.1234569+01:00",
      "content": [ { "text": "hi", "type": "text" } ],
      "id": "sevt_1",
      "type": "user.message"
  } )";
  absl::StatusOr<Event> e = DecodeEventJson(json);
  ASSERT_TRUE(e.ok()) << e.status();
  // Sub-microsecond digits are dropped: wake keeps event times to the microsecond.
  EXPECT_EQ(EncodeEventJson(*e),
            R"({"type":"user.message","id":"sevt_1","content":[{"type":"text","text":"hi"}],)"
            R"("processed_at":"2025-11-22T11:08:26.123456Z"})");
}

TEST(EventJsonTest, ToolInputIsStoredCompact) {
  absl::StatusOr<Event> e = DecodeEventJson(
      R"({"type":"agent.tool_use","id":"a","name":"bash","input": { "command" : "ls",  "n" : [ 1 , 2 ] },)"
      R"("processed_at":"2025-11-22T11:08:26Z"})");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->input_json, R"({"command":"ls","n":[1,2]})");
}

TEST(EventJsonTest, CompactJsonObjectNormalisesToolInput) {
  absl::StatusOr<std::string> compact =
      CompactJsonObject(R"( { "location" : "caf\u00e9",  "days" : [ 1 , 2.50 ], "q": "\"\/" } )");
  ASSERT_TRUE(compact.ok()) << compact.status();
  EXPECT_EQ(*compact, "{\"location\":\"caf\xC3\xA9\",\"days\":[1,2.5],\"q\":\"\\\"/\"}");
  EXPECT_EQ(CompactJsonObject("[1]").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CompactJsonObject("{} {}").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CompactJsonObject("{\"a\":").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EventJsonTest, OptionalFieldsMayBeAbsent) {
  absl::StatusOr<Event> e = DecodeEventJson(
      R"({"type":"agent.tool_result","id":"a","tool_use_id":"t","processed_at":"2025-11-22T11:08:26Z"})");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(e->content.empty());
  EXPECT_EQ(e->is_error, std::nullopt);

  e = DecodeEventJson(R"({"type":"user.interrupt","id":"a"})");  // user.* events: no processed_at yet
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->processed_at, std::nullopt);

  e = DecodeEventJson(R"({"type":"session.status_idle","id":"a","stop_reason":{"type":"end_turn"},)"
                      R"("processed_at":"2025-11-22T11:08:26Z"})");
  ASSERT_TRUE(e.ok()) << e.status();
}

TEST(EventJsonTest, NulCharactersRoundTrip) {
  Event e;
  e.type = EventType::kAgentMessage;
  e.id = "sevt_nul";
  e.processed_at = absl::UnixEpoch();
  ContentBlock b;
  b.text = std::string("a\0b", 3);
  e.content = {b};
  const std::string json = EncodeEventJson(e);
  EXPECT_TRUE(absl::StrContains(json, R"("a\u0000b")")) << json;
  absl::StatusOr<Event> decoded = DecodeEventJson(json);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, e);
}

TEST(EventJsonTest, LargeDocumentsUseTheirOwnParser) {
  Event e;
  e.type = EventType::kUserMessage;
  e.id = "sevt_big";
  ContentBlock b;
  b.text = std::string(3 << 20, 'q');
  e.content = {b};
  const std::string json = EncodeEventJson(e);
  absl::StatusOr<Event> decoded = DecodeEventJson(json);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, e);
  // The thread's parser still works (and still has its depth limit) afterwards.
  ASSERT_TRUE(DecodeEventJson(kCanonical[2]).ok());
}

// ---------------------------------------------------------------------------------------------------
// Rejections: each case names the problem.

struct BadCase {
  const char* json;
  JsonEventMode mode;
  const char* expected;  // substring of the error message
};

constexpr JsonEventMode kStored = JsonEventMode::kStored;
constexpr JsonEventMode kClient = JsonEventMode::kClientParams;
#define T_ "\"processed_at\":\"2025-11-22T11:08:26Z\""

const BadCase kBadCases[] = {
    {"", kStored, "malformed JSON"},
    {"not json", kStored, "malformed JSON"},
    {R"({"type":"user.message","content":[{"type":"text","text":"hi"})", kStored, "malformed JSON"},
    {R"({"type":"user.interrupt","id":"a"} x)", kStored, "malformed JSON"},
    {R"({"type":"user.interrupt","id":"a"}{"type":"user.interrupt","id":"b"})", kStored, "malformed JSON"},
    {R"({"type":"user.interrupt","id":"a",})", kStored, "malformed JSON"},
    {"{\"type\":\"user.interrupt\",\"id\":\"\xff\"}", kStored, "not valid UTF-8"},
    {"[1,2]", kStored, "an event must be a JSON object"},
    {"null", kStored, "an event must be a JSON object"},
    {R"({"id":"a"})", kStored, R"(event: field "type" is required)"},
    {R"({"type":5,"id":"a"})", kStored, R"(event: field "type" must be a string)"},
    {R"({"type":"user.mesage","id":"a"})", kStored, R"(unknown event type "user.mesage")"},
    {R"({"type":"agent.mcp_tool_use","id":"a"})", kStored, R"(unknown event type "agent.mcp_tool_use")"},
    {R"({"type":"agent.thinking","id":"a",)" T_ R"(,"mood":"calm"})", kStored,
     R"(agent.thinking: unknown field "mood")"},
    {R"({"type":"user.interrupt","id":"a","id":"b"})", kStored,
     R"(user.interrupt: field "id" appears more than once)"},
    {R"({"type":"user.message","id":"a","content":"hi"})", kStored,
     R"(user.message: field "content" must be an array)"},
    {R"({"type":"user.message","id":"a"})", kStored, R"(user.message: field "content" is required)"},
    {R"({"type":"user.message","id":"a","content":[]})", kStored,
     R"(user.message: field "content" must not be empty)"},
    {R"({"type":"user.message","id":"a","content":["hi"]})", kStored,
     R"(user.message: field "content[0]" must be an object)"},
    {R"({"type":"user.message","id":"a","content":[{"type":"text","text":1}]})", kStored,
     R"(user.message: field "content[0].text" must be a string)"},
    {R"({"type":"user.message","id":"a","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":5}}]})",
     kStored, R"(user.message: field "content[1].source.type" must be a string)"},
    {R"({"type":"user.message","id":"a","content":[{"type":"image","source":{"type":"url","url":"u","foo":1}}]})",
     kStored, R"(user.message: unknown field "content[0].source.foo")"},
    {R"({"type":"user.message","id":"a","content":[{"type":"image","source":{"type":"url","url":"u"},"title":"t"}]})",
     kStored, R"(user.message: unknown field "content[0].title")"},
    {R"({"type":"user.message","id":"a","content":[{"type":"search_result","source":"s"}]})", kStored,
     R"(user.message: field "content[0].type" must be "text", "image", "document" or "redacted")"},
    {R"({"type":"user.message","id":"a","content":[{"type":"image","source":{"type":"text","data":"x","media_type":"text/plain"}}]})",
     kStored, R"(field "content[0].source.type" "text" is for documents only)"},
    {R"({"type":"user.message","id":"a","content":[{"type":"document","source":{"type":"text","data":"x","media_type":"text/html"}}]})",
     kStored, R"(field "content[0].source.media_type" must be "text/plain")"},
    {R"({"type":"user.message","id":"a","content":[{"type":"image","source":{"type":"base64","data":"x"}}]})",
     kStored, R"(field "content[0].source.media_type" is required)"},
    {R"({"type":"agent.message","id":"a",)" T_ R"(,"content":[{"type":"image","source":{"type":"url","url":"u"}}]})",
     kStored, R"(agent.message: field "content[0].type" is not a block type this event allows)"},
    {R"({"type":"user.message","id":"","content":[{"type":"text","text":"hi"}]})", kStored,
     R"(user.message: field "id" must not be empty)"},
    {R"({"type":"user.message","content":[{"type":"text","text":"hi"}]})", kStored,
     R"(user.message: field "id" is required)"},
    {R"({"type":"agent.thinking","id":"a"})", kStored, R"(agent.thinking: field "processed_at" is required)"},
    {R"({"type":"agent.thinking","id":"a","processed_at":null})", kStored,
     R"(agent.thinking: field "processed_at" must be an RFC 3339 time string)"},
    {R"({"type":"agent.thinking","id":"a","processed_at":"yesterday"})", kStored,
     R"(agent.thinking: field "processed_at" is not valid)"},
    {R"({"type":"agent.thinking","id":"a","processed_at":1700000000})", kStored,
     R"(field "processed_at" must be an RFC 3339 time string)"},
    {R"({"type":"agent.tool_use","id":"a",)" T_ R"(,"input":{}})", kStored,
     R"(agent.tool_use: field "name" is required)"},
    {R"({"type":"agent.tool_use","id":"a",)" T_ R"(,"name":"bash","input":"ls"})", kStored,
     R"(agent.tool_use: field "input" must be an object)"},
    {R"({"type":"agent.tool_use","id":"a",)" T_ R"(,"name":"","input":{}})", kStored,
     R"(agent.tool_use: field "name" must not be empty)"},
    {R"({"type":"agent.tool_result","id":"a",)" T_ R"(,"tool_use_id":"t","is_error":"yes"})", kStored,
     R"(agent.tool_result: field "is_error" must be a boolean or null)"},
    {R"({"type":"agent.tool_result","id":"a",)" T_ R"(,"tool_use_id":"t","content":[{"type":"redacted"}]})",
     kStored, R"(agent.tool_result: field "content[0].type" is not a block type this event allows)"},
    {R"({"type":"user.custom_tool_result","id":"a","tool_use_id":"t"})", kStored,
     R"(user.custom_tool_result: unknown field "tool_use_id")"},
    {R"({"type":"user.tool_confirmation","id":"a","tool_use_id":"t","result":"maybe"})", kStored,
     R"(user.tool_confirmation: field "result" must be "allow" or "deny")"},
    {R"({"type":"session.status_idle","id":"a",)" T_ R"(,"stop_reason":{"type":"end_turn"},"stop_details":{"type":"refusal"}})",
     kStored, R"(session.status_idle: field "stop_details" must be null)"},
    {R"({"type":"session.status_idle","id":"a",)" T_ R"(,"stop_reason":{"type":"requires_action"}})", kStored,
     R"(session.status_idle: field "stop_reason.event_ids" is required)"},
    {R"({"type":"session.status_idle","id":"a",)" T_ R"(,"stop_reason":{"type":"requires_action","event_ids":["e",7]}})",
     kStored, R"(field "stop_reason.event_ids[1]" must be a string)"},
    {R"({"type":"session.status_idle","id":"a",)" T_ R"(,"stop_reason":{"type":"budget_reached"}})", kStored,
     R"(field "stop_reason.type" must be "end_turn", "requires_action" or "retries_exhausted")"},
    {R"({"type":"session.error","id":"a",)" T_ R"(,"error":{"type":"x","message":"m","retry_status":{"type":"later"}}})",
     kStored, R"(session.error: field "error.retry_status.type" must be "retrying", "exhausted" or "terminal")"},
    {R"({"type":"session.error","id":"a",)" T_ R"(,"error":{"type":"x","retry_status":{"type":"terminal"}}})",
     kStored, R"(session.error: field "error.message" is required)"},
    {R"({"type":"span.model_request_end","id":"a",)" T_ R"(,"model_request_start_id":"s","is_error":false,"model_usage":{"input_tokens":-1,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}})",
     kStored, R"(span.model_request_end: field "model_usage.input_tokens" must be a non-negative integer)"},
    {R"({"type":"span.model_request_end","id":"a",)" T_ R"(,"model_request_start_id":"s","is_error":false,"model_usage":{"input_tokens":1.5,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}})",
     kStored, R"(field "model_usage.input_tokens" must be a non-negative integer)"},
    {R"({"type":"span.model_request_end","id":"a",)" T_ R"(,"model_request_start_id":"s","model_usage":{"input_tokens":1,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}})",
     kStored, R"(span.model_request_end: field "is_error" is required)"},
    {R"({"type":"span.model_request_end","id":"a",)" T_ R"(,"model_request_start_id":"s","is_error":null,"model_usage":{"input_tokens":1,"output_tokens":0,"cache_creation_input_tokens":0}})",
     kStored, R"(field "model_usage.cache_read_input_tokens" is required)"},
    {R"({"type":"wake.harness_woke","id":"a",)" T_ R"(,"worker_id":"w","lease_epoch":-3})", kStored,
     R"(wake.harness_woke: field "lease_epoch" must be a non-negative integer)"},
    {R"({"type":"wake.hand_provisioned","id":"a",)" T_ R"(,"hand_id":"h","backend":"docker","duration_us":"5"})",
     kStored, R"(wake.hand_provisioned: field "duration_us" must be a non-negative integer)"},
    // Client params: only user.* kinds, never id or processed_at.
    {R"({"type":"user.message","id":"a","content":[{"type":"text","text":"hi"}]})", kClient,
     R"(user.message: field "id" is not allowed in client params)"},
    {R"({"type":"user.interrupt",)" T_ "}", kClient,
     R"(user.interrupt: field "processed_at" is not allowed in client params)"},
    {R"({"type":"agent.message","content":[{"type":"text","text":"hi"}]})", kClient,
     "agent.message: clients may only send"},
    {R"({"type":"wake.harness_woke","worker_id":"w","lease_epoch":1})", kClient,
     "wake.harness_woke: clients may only send"},
    {R"({"type":"user.message","content":[]})", kClient, R"(user.message: field "content" must not be empty)"},
};
#undef T_

TEST(EventJsonTest, RejectsBadInputWithANamedProblem) {
  for (const BadCase& c : kBadCases) {
    absl::StatusOr<Event> e = DecodeEventJson(c.json, c.mode);
    ASSERT_FALSE(e.ok()) << "accepted: " << c.json;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_TRUE(absl::StrContains(e.status().message(), c.expected))
        << "input:    " << c.json << "\nmessage:  " << e.status().message() << "\nexpected: " << c.expected;
  }
}

TEST(EventJsonTest, RejectsTooLargeInput) {
  const std::string huge(kMaxEventJsonBytes + 1, ' ');
  absl::Status s = DecodeEventJson(huge).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "too large")) << s;
  s = DecodeEventSendParams(huge).status();
  EXPECT_TRUE(absl::StrContains(s.message(), "too large")) << s;
}

TEST(EventJsonTest, RejectsDeepNesting) {
  std::string deep = R"({"type":"agent.tool_use","id":"a","processed_at":"2025-11-22T11:08:26Z","name":"x","input":{"k":)";
  deep += std::string(100, '[') + std::string(100, ']') + "}}";
  absl::Status s = DecodeEventJson(deep).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "nested more than")) << s;

  // Moderately nested tool input is fine.
  std::string ok = R"({"type":"agent.tool_use","id":"a","processed_at":"2025-11-22T11:08:26Z","name":"x","input":{"k":)";
  ok += std::string(20, '[') + std::string(20, ']') + "}}";
  EXPECT_TRUE(DecodeEventJson(ok).ok());
}

// ---------------------------------------------------------------------------------------------------
// POST /v1/sessions/{id}/events bodies

TEST(EventSendParamsTest, DecodesEveryClientKind) {
  absl::StatusOr<std::vector<Event>> events = DecodeEventSendParams(R"({"events":[
      {"type":"user.message","content":[{"type":"text","text":"Where is the bug?"}]},
      {"type":"user.interrupt"},
      {"type":"user.tool_confirmation","tool_use_id":"sevt_t","result":"deny","deny_message":"no"},
      {"type":"user.custom_tool_result","custom_tool_use_id":"sevt_c","content":[{"type":"text","text":"42"}],"is_error":null}
  ]})");
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ((*events)[0].type, EventType::kUserMessage);
  EXPECT_EQ((*events)[0].content[0].text, "Where is the bug?");
  EXPECT_TRUE((*events)[0].id.empty());
  EXPECT_EQ((*events)[0].processed_at, std::nullopt);
  EXPECT_EQ((*events)[1].type, EventType::kUserInterrupt);
  EXPECT_FALSE((*events)[2].allow);
  EXPECT_EQ((*events)[2].deny_message, "no");
  EXPECT_EQ((*events)[3].tool_use_id, "sevt_c");
  EXPECT_EQ((*events)[3].is_error, std::nullopt);
}

TEST(EventSendParamsTest, RejectsBadBodiesNamingTheEvent) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"events":[]})", R"(request: field "events" must not be empty)"},
      {R"({"events":{}})", R"(request: field "events" must be an array)"},
      {R"({})", R"(request: field "events" is required)"},
      {R"([])", "request: the body must be a JSON object"},
      {R"({"events":[{"type":"user.interrupt"}],"betas":[]})", R"(request: unknown field "betas")"},
      {R"({"events":[{"type":"user.interrupt"},{"type":"agent.message","content":[]}]})",
       "events[1]: agent.message: clients may only send"},
      {R"({"events":[{"type":"user.message","id":"x","content":[{"type":"text","text":"hi"}]}]})",
       R"(events[0]: user.message: field "id" is not allowed in client params)"},
      {R"({"events":[{"type":"user.interrupt"},{"type":"user.message","content":[{"type":"text"}]}]})",
       R"(events[1]: user.message: field "content[0].text" is required)"},
      {R"({"events":[7]})", "events[0]: an event must be a JSON object"},
      {R"({"events":[{"type":"user.interrupt"}]} trailing)", "malformed JSON"},
  };
  for (const auto& [json, expected] : cases) {
    absl::Status s = DecodeEventSendParams(json).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_TRUE(absl::StrContains(s.message(), expected))
        << "input:    " << json << "\nmessage:  " << s.message() << "\nexpected: " << expected;
  }
}

// ---------------------------------------------------------------------------------------------------
// String escaping

std::string Quoted(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

TEST(AppendJsonStringTest, EscapesWhatRfc8259Requires) {
  EXPECT_EQ(Quoted(""), R"("")");
  EXPECT_EQ(Quoted("plain"), R"("plain")");
  EXPECT_EQ(Quoted("a\"b\\c/d"), R"("a\"b\\c/d")");
  EXPECT_EQ(Quoted("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(Quoted(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(Quoted("caf\xC3\xA9 \xF0\x9F\x9A\x80 \xE2\x80\xA8"), "\"caf\xC3\xA9 \xF0\x9F\x9A\x80 \xE2\x80\xA8\"");
}

TEST(AppendJsonStringTest, AppendsWithoutClearing) {
  std::string out = "[";
  AppendJsonString(out, "x");
  EXPECT_EQ(out, R"([")" "x" R"(")");
}

TEST(AppendJsonStringTest, InvalidUtf8BecomesReplacementCharacters) {
  const std::string kFffd = "\xEF\xBF\xBD";
  EXPECT_EQ(Quoted("a\xff" "b"), "\"a" + kFffd + "b\"");
  EXPECT_EQ(Quoted("\xC3"), "\"" + kFffd + "\"");                          // truncated sequence
  EXPECT_EQ(Quoted("\xC0\xAF"), "\"" + kFffd + kFffd + "\"");              // overlong '/'
  EXPECT_EQ(Quoted("\xED\xA0\x80"), "\"" + kFffd + kFffd + kFffd + "\"");  // UTF-16 surrogate
  EXPECT_EQ(Quoted("\xF4\x90\x80\x80").substr(1, 3), kFffd);               // above U+10FFFF
}

TEST(AppendJsonStringTest, OutputAlwaysParses) {
  // Property: whatever bytes a tool prints, the encoded event is valid JSON (and valid UTF-8).
  std::mt19937_64 rng(7);
  for (int i = 0; i < 500; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    Event e;
    e.type = EventType::kAgentMessage;
    e.id = "sevt_r";
    e.processed_at = absl::UnixEpoch();
    ContentBlock b;
    b.text = bytes;
    e.content = {b};
    const std::string json = EncodeEventJson(e);
    absl::StatusOr<Event> decoded = DecodeEventJson(json);
    ASSERT_TRUE(decoded.ok()) << decoded.status() << "\n" << absl::CHexEscape(bytes);
  }
}

}  // namespace
}  // namespace wake
