// The session timeline (inspect/timeline.h) from a log written by hand: what each lane holds, and a
// rendering that is well-formed XML with every label escaped.

#include "inspect/timeline.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace wake {
namespace {

ContentBlock Text(std::string text) {
  ContentBlock block;
  block.text = std::move(text);
  return block;
}

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

// Events of one session at given milliseconds after kT0, numbered in order.
class LogBuilder {
 public:
  Event& Add(EventType type, int ms, std::string id = "") {
    Event e;
    e.type = type;
    e.seq = events_.size() + 1;
    e.id = id.empty() ? absl::StrCat("sevt_", e.seq) : std::move(id);
    e.processed_at = kT0 + absl::Milliseconds(ms);
    events_.push_back(std::move(e));
    return events_.back();
  }
  const std::vector<Event>& events() const { return events_; }

 private:
  std::vector<Event> events_;
};

const TimelineLane* FindLane(const Timeline& t, std::string_view prefix) {
  for (const TimelineLane& lane : t.lanes) {
    if (absl::StartsWith(lane.name, absl::string_view(prefix.data(), prefix.size()))) return &lane;
  }
  return nullptr;
}

// A minimal well-formedness check: every tag closes in order, attributes are quoted, and no raw
// '<' or '&' appears in text (an unescaped label would break both).
bool WellFormed(const std::string& xml, std::string* why) {
  std::vector<std::string> open;
  size_t i = 0;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      const size_t semi = xml.find(';', i);
      const std::string entity = xml.substr(i, semi == std::string::npos ? 0 : semi - i + 1);
      if (entity != "&lt;" && entity != "&gt;" && entity != "&amp;" && entity != "&quot;" && entity != "&#39;") {
        *why = absl::StrCat("bad entity at ", i);
        return false;
      }
      i = semi + 1;
      continue;
    }
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) {
      *why = "unterminated tag";
      return false;
    }
    std::string tag = xml.substr(i + 1, end - i - 1);
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0 || tag.find('<') != std::string::npos) {
      *why = absl::StrCat("bad tag ", tag);
      return false;
    }
    if (absl::StartsWith(tag, "/")) {
      if (open.empty() || open.back() != tag.substr(1)) {
        *why = absl::StrCat("</", tag.substr(1), "> closes ", open.empty() ? "nothing" : open.back());
        return false;
      }
      open.pop_back();
    } else if (!absl::StartsWith(tag, "!") && !absl::EndsWith(tag, "/")) {
      open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
    i = end + 1;
  }
  if (!open.empty()) *why = absl::StrCat("<", open.back(), "> never closed");
  return open.empty();
}

TEST(TimelineTest, LanesHoldTurnsModelRequestsToolsPerHandAndClientEvents) {
  LogBuilder log;
  log.Add(EventType::kUserMessage, 0).content.push_back(Text("run <it> & tell me"));
  log.Add(EventType::kSessionStatusRunning, 2);
  log.Add(EventType::kSpanModelRequestStart, 3, "sevt_model1");
  log.Add(EventType::kAgentToolUse, 250, "sevt_use1").name = "bash";
  Event& end1 = log.Add(EventType::kSpanModelRequestEnd, 260);
  end1.model_request_start_id = "sevt_model1";
  end1.time_to_first_token_us = 200'000;
  end1.model_usage.input_tokens = 37;
  Event& started = log.Add(EventType::kToolStarted, 261);
  started.tool_use_id = "sevt_use1";
  started.name = "bash";
  Event& provisioned = log.Add(EventType::kHandProvisioned, 500);
  provisioned.hand_backend = "docker";
  provisioned.hand_id = "container0123456789";
  provisioned.duration_us = 230'000;
  Event& result = log.Add(EventType::kAgentToolResult, 520);
  result.tool_use_id = "sevt_use1";
  result.is_error = true;
  result.content.push_back(Text("exit status 1"));
  log.Add(EventType::kSpanModelRequestStart, 521, "sevt_model2");
  log.Add(EventType::kSessionError, 600).error = {"model_overloaded_error", "overloaded", SessionErrorInfo::RetryStatus::kExhausted};
  log.Add(EventType::kSessionStatusIdle, 610).stop_reason.kind = StopReason::Kind::kRetriesExhausted;

  const Timeline t = BuildTimeline("sesn_x", log.events());
  EXPECT_EQ(t.start, kT0);
  EXPECT_EQ(t.end, kT0 + absl::Milliseconds(610));
  ASSERT_EQ(t.lanes.size(), 4u);
  EXPECT_EQ(t.lanes[0].name, "session");
  EXPECT_EQ(t.lanes[1].name, "model");
  EXPECT_EQ(t.lanes[2].name, "tools on docker hand 456789");
  EXPECT_EQ(t.lanes[3].name, "client");

  const TimelineLane& session = t.lanes[0];
  ASSERT_EQ(session.spans.size(), 1u);
  EXPECT_EQ(session.spans[0].start, kT0 + absl::Milliseconds(2));
  EXPECT_EQ(session.spans[0].end, kT0 + absl::Milliseconds(610));
  EXPECT_TRUE(session.spans[0].is_error) << "retries exhausted";
  EXPECT_TRUE(absl::StrContains(session.spans[0].detail, "retries_exhausted")) << session.spans[0].detail;
  ASSERT_EQ(session.marks.size(), 1u);
  EXPECT_EQ(session.marks[0].kind, TimelineMark::Kind::kError);
  EXPECT_TRUE(absl::StrContains(session.marks[0].label, "model_overloaded_error"));

  const TimelineLane& model = t.lanes[1];
  ASSERT_EQ(model.spans.size(), 2u);
  EXPECT_EQ(model.spans[0].first_token, kT0 + absl::Milliseconds(203));
  EXPECT_EQ(model.spans[0].label, "TTFT 200 ms");
  EXPECT_FALSE(model.spans[0].open);
  EXPECT_TRUE(model.spans[1].open) << "the second request never ended";
  EXPECT_EQ(model.spans[1].end, t.end);

  const TimelineLane& hand = t.lanes[2];
  ASSERT_EQ(hand.spans.size(), 2u);
  EXPECT_EQ(hand.spans[0].kind, TimelineSpan::Kind::kProvision);
  EXPECT_EQ(hand.spans[0].start, kT0 + absl::Milliseconds(270));
  EXPECT_EQ(hand.spans[0].end, kT0 + absl::Milliseconds(500));
  EXPECT_EQ(hand.spans[1].kind, TimelineSpan::Kind::kTool);
  EXPECT_EQ(hand.spans[1].label, "bash");
  EXPECT_EQ(hand.spans[1].start, kT0 + absl::Milliseconds(261));
  EXPECT_EQ(hand.spans[1].end, kT0 + absl::Milliseconds(520));
  EXPECT_TRUE(hand.spans[1].is_error);
  EXPECT_TRUE(absl::StrContains(hand.spans[1].detail, "exit status 1"));

  ASSERT_EQ(t.lanes[3].marks.size(), 1u);
  EXPECT_TRUE(absl::StrContains(t.lanes[3].marks[0].label, "run <it> & tell me"));
}

TEST(TimelineTest, AHandLostMidCallLeavesTheNextCallOnTheNextHand) {
  LogBuilder log;
  log.Add(EventType::kSessionStatusRunning, 0);
  for (int call = 0; call < 2; ++call) {
    const int at = call * 100;
    Event& started = log.Add(EventType::kToolStarted, at + 1);
    started.tool_use_id = absl::StrCat("use", call);
    started.name = "bash";
    Event& provisioned = log.Add(EventType::kHandProvisioned, at + 10);
    provisioned.hand_backend = "ssh";
    provisioned.hand_id = absl::StrCat("hand-", call, "-abcdef", call);
    if (call == 0) log.Add(EventType::kHandLost, at + 20).reason = "connection reset";
    Event& result = log.Add(EventType::kAgentToolResult, at + 30);
    result.tool_use_id = absl::StrCat("use", call);
  }
  const Timeline t = BuildTimeline("sesn_x", log.events());
  const TimelineLane* first = FindLane(t, "tools on ssh hand bcdef0");
  const TimelineLane* second = FindLane(t, "tools on ssh hand bcdef1");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_EQ(first->marks.size(), 1u);
  EXPECT_EQ(first->marks[0].kind, TimelineMark::Kind::kHandLost);
  // The first call's result came after its hand was lost: it is drawn where hands without a record go.
  const TimelineLane* unknown = FindLane(t, "tools");
  ASSERT_NE(unknown, nullptr);
  EXPECT_EQ(second->spans.size(), 2u) << "provisioning and the second call";
  EXPECT_TRUE(t.lanes[0].spans[0].open) << "the turn never went idle";
}

TEST(TimelineTest, RendersWellFormedSvgAndHtmlWithEveryLabelEscaped) {
  LogBuilder log;
  log.Add(EventType::kUserMessage, 0).content.push_back(Text("a <b> & \"c\" 'd'\x01"));
  log.Add(EventType::kSessionStatusRunning, 1);
  log.Add(EventType::kSessionError, 2).error = {"x<y", "m&n", SessionErrorInfo::RetryStatus::kTerminal};
  log.Add(EventType::kSessionStatusIdle, 3000);
  const Timeline t = BuildTimeline("sesn_<x>", log.events());
  const std::string svg = RenderTimelineSvg(t);
  std::string why;
  EXPECT_TRUE(WellFormed(svg, &why)) << why << "\n" << svg;
  EXPECT_TRUE(absl::StartsWith(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_TRUE(absl::StrContains(svg, "a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;")) << svg;
  EXPECT_TRUE(absl::StrContains(svg, "sesn_&lt;x&gt;"));
  EXPECT_TRUE(absl::StrContains(svg, ">3 s<")) << "the axis is labelled in seconds over 3 s: " << svg;
  const std::string html = RenderTimelineHtml(t);
  EXPECT_TRUE(absl::StartsWith(html, "<!doctype html>"));
  EXPECT_TRUE(WellFormed(html.substr(html.find("<html")), &why)) << why;
}

TEST(TimelineTest, AnEmptyLogStillRenders) {
  const Timeline t = BuildTimeline("sesn_empty", {});
  EXPECT_TRUE(t.lanes.empty());
  std::string why;
  const std::string svg = RenderTimelineSvg(t, 100);
  EXPECT_TRUE(WellFormed(svg, &why)) << why;
  EXPECT_TRUE(absl::StrContains(svg, "no events"));
}

}  // namespace
}  // namespace wake
