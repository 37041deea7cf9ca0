#pragma once
// A picture of one session over time (`wakectl timeline ID --svg FILE`): its turns, each model request
// with its time to first token, every tool execution on the hand it ran on, hand provisioning and
// loss, client events and errors, on one time axis. What an engineer would rather look at than read.
//
// Two pure steps: BuildTimeline derives lanes of spans and marks from the events (their processed_at
// times, plus the durations wake records: a model request's TTFT, a hand's provisioning time), and
// RenderTimelineSvg draws them. No I/O.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "schemas/event.h"

namespace wake {

struct TimelineSpan {
  absl::Time start;
  absl::Time end;
  std::string label;   // drawn on the bar when it fits, and in its tooltip
  std::string detail;  // tooltip only
  enum class Kind { kTurn, kWaiting, kModel, kTool, kProvision } kind = Kind::kTurn;
  bool is_error = false;
  bool open = false;  // never ended in the log: drawn to the end of the picture
  // kModel: when the first token came (absl::InfinitePast() when the brain did not measure it).
  absl::Time first_token = absl::InfinitePast();
  uint64_t seq = 0;  // the event that opened it
};

struct TimelineMark {
  absl::Time at;
  std::string label;
  enum class Kind { kClient, kError, kHandLost, kHandReleased, kInterrupt, kRewound } kind = Kind::kClient;
  uint64_t seq = 0;
};

struct TimelineLane {
  std::string name;  // "session", "model", "tools on local hand ab12", "client"
  std::vector<TimelineSpan> spans;
  std::vector<TimelineMark> marks;
};

struct Timeline {
  std::string session_id;
  absl::Time start = absl::InfinitePast();  // the first event's time
  absl::Time end = absl::InfinitePast();    // the last event's time
  std::vector<TimelineLane> lanes;          // session, model, one per hand, client (those that have anything)
};

// The lanes of `events` (one session's, in seq order; events without processed_at are skipped).
Timeline BuildTimeline(const std::string& session_id, const std::vector<Event>& events);

// A standalone SVG document (UTF-8), `width` pixels wide; every bar and mark has a <title> tooltip.
std::string RenderTimelineSvg(const Timeline& timeline, int width = 1200);
// The same picture in a small HTML page (for a browser; no external resources).
std::string RenderTimelineHtml(const Timeline& timeline, int width = 1200);

}  // namespace wake
