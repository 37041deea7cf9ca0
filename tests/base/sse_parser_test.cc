#include "base/sse_parser.h"

#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/harness/fake_model_server.h"

namespace wake {
namespace {

using namespace std::string_literals;

using ::wake::SseEvent;
using ::wake::SseParser;

struct Collected {
  std::vector<std::string> names;
  std::vector<std::string> data;
};

// Feeds `pieces` in order; the events decoded.
Collected Parse(const std::vector<std::string>& pieces) {
  SseParser parser;
  Collected out;
  for (const std::string& piece : pieces) {
    absl::Status s = parser.Feed(piece, [&](const SseEvent& e) {
      out.names.push_back(e.event);
      out.data.push_back(e.data);
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
  }
  return out;
}

Collected ParseWhole(std::string_view body) { return Parse({std::string(body)}); }

TEST(SseParserTest, RecordedStreamDecodesTheSameWhateverTheChunking) {
  auto body = testing::LoadRecordedStream("anthropic_tool_use.sse");
  ASSERT_TRUE(body.ok()) << body.status();
  const Collected whole = ParseWhole(*body);
  ASSERT_EQ(whole.names.size(), 30u);
  EXPECT_EQ(whole.names.front(), "message_start");
  EXPECT_EQ(whole.names.back(), "message_stop");
  EXPECT_EQ(whole.data.back(), R"({"type":"message_stop"})");

  const Collected bytewise = Parse(testing::SplitEvery(*body, 1));
  EXPECT_EQ(bytewise.names, whole.names);
  EXPECT_EQ(bytewise.data, whole.data);
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const Collected random = Parse(testing::SplitRandomly(*body, seed, 17));
    EXPECT_EQ(random.names, whole.names) << "seed " << seed;
    EXPECT_EQ(random.data, whole.data) << "seed " << seed;
  }
}

TEST(SseParserTest, AllThreeLineEndingsAndCrlfSplitAcrossChunks) {
  auto body = testing::LoadRecordedStream("anthropic_text.sse");
  ASSERT_TRUE(body.ok());
  const Collected lf = ParseWhole(*body);
  ASSERT_EQ(lf.names.size(), 8u);
  const std::string crlf = absl::StrReplaceAll(*body, {{"\n", "\r\n"}});
  const std::string cr = absl::StrReplaceAll(*body, {{"\n", "\r"}});
  for (const std::string& variant : {crlf, cr}) {
    const Collected whole = ParseWhole(variant);
    EXPECT_EQ(whole.names, lf.names);
    EXPECT_EQ(whole.data, lf.data);
    // One byte at a time puts every CRLF's CR and LF in different chunks.
    const Collected bytewise = Parse(testing::SplitEvery(variant, 1));
    EXPECT_EQ(bytewise.names, lf.names);
    EXPECT_EQ(bytewise.data, lf.data);
  }
}

TEST(SseParserTest, FieldsFollowTheEventStreamRules) {
  const Collected c = ParseWhole(
      ": a comment\n"
      "data: first\n"
      "data:second\n"          // no space after the colon
      "data\n"                 // a field with no colon: empty value
      "id: 7\nretry: 100\nx-unknown: y\n"
      "\n"
      "event: named\n"
      "\n"                     // no data: not dispatched, and the name is forgotten
      "data:  two spaces\n"    // only one space is removed
      "\n"
      "data: pending at end");  // never terminated: discarded
  ASSERT_EQ(c.data.size(), 2u);
  EXPECT_EQ(c.data[0], "first\nsecond\n");
  EXPECT_EQ(c.names[0], "");
  EXPECT_EQ(c.data[1], " two spaces");
  EXPECT_EQ(c.names[1], "");
}

TEST(SseParserTest, TheLastEventIdCarriesOverUntilAnotherIdSetsIt) {
  std::vector<std::string> ids;
  SseParser parser;
  const std::string body =
      "data: before any id\n\n"
      "id: sevt_1\ndata: one\n\n"
      "data: still one\n\n"
      "id: sevt_2\nevent: x\ndata: two\n\n"
      "id: bad\0id\ndata: a NUL id is ignored\n\n"s;
  ASSERT_TRUE(parser
                  .Feed(body,
                        [&](const SseEvent& e) {
                          ids.push_back(e.id);
                          return absl::OkStatus();
                        })
                  .ok());
  EXPECT_EQ(ids, (std::vector<std::string>{"", "sevt_1", "sevt_1", "sevt_2", "sevt_2"}));
}

TEST(SseParserTest, SkipsALeadingByteOrderMarkEvenWhenSplit) {
  const std::string body = "\xEF\xBB\xBF" "data: x\n\n";
  EXPECT_EQ(ParseWhole(body).data, std::vector<std::string>{"x"});
  EXPECT_EQ(Parse(testing::SplitEvery(body, 1)).data, std::vector<std::string>{"x"});
}

TEST(SseParserTest, HandlerErrorStopsDecoding) {
  SseParser parser;
  int calls = 0;
  absl::Status s = parser.Feed("data: 1\n\ndata: 2\n\n", [&](const SseEvent&) {
    ++calls;
    return absl::DataLossError("stop");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(calls, 1);
}

TEST(SseParserTest, ReportsPendingData) {
  SseParser parser;
  auto ignore = [](const SseEvent&) { return absl::OkStatus(); };
  EXPECT_FALSE(parser.HasPendingData());
  ASSERT_TRUE(parser.Feed("data: {\"type\":", ignore).ok());
  EXPECT_TRUE(parser.HasPendingData());
  ASSERT_TRUE(parser.Feed("1}\n\n", ignore).ok());
  EXPECT_FALSE(parser.HasPendingData());
}

}  // namespace
}  // namespace wake
