#include "inspect/timeline.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/strings.h"

namespace wake {
namespace {

std::string ShortId(std::string_view id) {
  // "sevt_01M8..." -> the last 6 characters are enough to tell a session's hands apart.
  return std::string(id.size() > 6 ? id.substr(id.size() - 6) : id);
}

std::string Millis(absl::Duration d) {
  const double ms = absl::ToDoubleMilliseconds(d);
  if (ms >= 10000) return absl::StrFormat("%.1f s", ms / 1000);
  if (ms >= 100) return absl::StrFormat("%.0f ms", ms);
  return absl::StrFormat("%.1f ms", ms);
}

std::string FirstText(const Event& event) {
  for (const ContentBlock& block : event.content) {
    if (block.kind == ContentBlock::Kind::kText && !block.text.empty()) return block.text;
  }
  return "";
}

std::string Shorten(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return absl::StrCat(std::string(text.substr(0, cut)), "…");
}

std::string StopReasonName(const StopReason& reason) {
  switch (reason.kind) {
    case StopReason::Kind::kEndTurn: return "end_turn";
    case StopReason::Kind::kRequiresAction: return "requires_action";
    case StopReason::Kind::kRetriesExhausted: return "retries_exhausted";
  }
  return "idle";
}

// Builds the lanes while walking the log once.
class Builder {
 public:
  explicit Builder(std::string session_id) { timeline_.session_id = std::move(session_id); }

  void Add(const Event& e) {
    const absl::Time t = *e.processed_at;
    if (timeline_.start == absl::InfinitePast()) timeline_.start = t;
    timeline_.end = std::max(timeline_.end, t);
    switch (e.type) {
      case EventType::kSessionStatusRunning:
        if (!turn_) {
          ++turns_;
          turn_ = TimelineSpan{.start = t, .end = t, .label = absl::StrCat("turn ", turns_), .detail = "",
                               .kind = TimelineSpan::Kind::kTurn, .seq = e.seq};
        }
        break;
      case EventType::kSessionStatusIdle:
        CloseTurn(t, StopReasonName(e.stop_reason), e.stop_reason.kind == StopReason::Kind::kRetriesExhausted);
        break;
      case EventType::kSessionStatusRescheduled: CloseTurn(t, "rescheduled", false); break;
      case EventType::kSessionStatusTerminated: CloseTurn(t, "terminated", false); break;
      case EventType::kSessionError:
        Lane("session").marks.push_back(TimelineMark{
            .at = t, .label = absl::StrCat("error ", e.error.type, ": ", Shorten(e.error.message, 200)),
            .kind = TimelineMark::Kind::kError, .seq = e.seq});
        break;
      case EventType::kSpanModelRequestStart:
        models_[e.id] = TimelineSpan{.start = t, .end = t, .label = "model", .detail = "",
                                     .kind = TimelineSpan::Kind::kModel, .seq = e.seq};
        model_order_.push_back(e.id);
        break;
      case EventType::kSpanModelRequestEnd: {
        auto it = models_.find(e.model_request_start_id);
        if (it == models_.end()) break;
        TimelineSpan span = std::move(it->second);
        models_.erase(it);
        span.end = t;
        span.is_error = e.is_error.value_or(false);
        if (e.time_to_first_token_us > 0) {
          span.first_token = span.start + absl::Microseconds(e.time_to_first_token_us);
          span.label = absl::StrCat("TTFT ", Millis(absl::Microseconds(e.time_to_first_token_us)));
        }
        span.detail = absl::StrCat("model request: ", Millis(t - span.start), ", tokens in ",
                                   e.model_usage.input_tokens, " out ", e.model_usage.output_tokens,
                                   span.is_error ? ", failed" : "");
        Lane("model").spans.push_back(std::move(span));
        break;
      }
      case EventType::kHandProvisioned: {
        hand_lane_ = absl::StrCat("tools on ", e.hand_backend, " hand ", ShortId(e.hand_id));
        const absl::Duration took = absl::Microseconds(e.duration_us);
        Lane(hand_lane_).spans.push_back(TimelineSpan{
            .start = t - took, .end = t, .label = absl::StrCat("provision ", Millis(took)),
            .detail = absl::StrCat(e.hand_backend, " hand ", e.hand_id, " provisioned in ", Millis(took)),
            .kind = TimelineSpan::Kind::kProvision, .seq = e.seq});
        timeline_.start = std::min(timeline_.start, t - took);
        break;
      }
      case EventType::kHandLost:
        Lane(hand_lane_.empty() ? "tools" : hand_lane_)
            .marks.push_back(TimelineMark{.at = t, .label = absl::StrCat("hand lost: ", Shorten(e.reason, 200)),
                                          .kind = TimelineMark::Kind::kHandLost, .seq = e.seq});
        hand_lane_.clear();
        break;
      case EventType::kHandReleased:
        Lane(hand_lane_.empty() ? "tools" : hand_lane_)
            .marks.push_back(TimelineMark{
                .at = t, .label = "hand released", .kind = TimelineMark::Kind::kHandReleased, .seq = e.seq});
        hand_lane_.clear();
        break;
      case EventType::kToolStarted:
        tools_[e.tool_use_id] = TimelineSpan{.start = t, .end = t, .label = e.name, .detail = "",
                                             .kind = TimelineSpan::Kind::kTool, .seq = e.seq};
        tool_order_.push_back(e.tool_use_id);
        break;
      case EventType::kAgentToolResult: {
        auto it = tools_.find(e.tool_use_id);
        if (it == tools_.end()) break;  // never ran (denied, or answered as interrupted)
        TimelineSpan span = std::move(it->second);
        tools_.erase(it);
        span.end = t;
        span.is_error = e.is_error.value_or(false);
        span.detail = absl::StrCat(span.label, ": ", Millis(t - span.start), span.is_error ? ", error: " : ": ",
                                   Shorten(FirstText(e), 200));
        // A lazily provisioned hand is recorded during its first call: the call ran on the hand
        // current when its result came back.
        Lane(hand_lane_.empty() ? "tools" : hand_lane_).spans.push_back(std::move(span));
        break;
      }
      case EventType::kUserMessage:
        Client(t, absl::StrCat("user.message: ", Shorten(FirstText(e), 200)), TimelineMark::Kind::kClient, e.seq);
        break;
      case EventType::kUserInterrupt: Client(t, "user.interrupt", TimelineMark::Kind::kInterrupt, e.seq); break;
      case EventType::kUserToolConfirmation:
        Client(t, absl::StrCat("user.tool_confirmation: ", e.allow ? "allow" : "deny"), TimelineMark::Kind::kClient,
               e.seq);
        break;
      case EventType::kUserCustomToolResult:
        Client(t, "user.custom_tool_result", TimelineMark::Kind::kClient, e.seq);
        break;
      case EventType::kRewound:
        Lane("session").marks.push_back(TimelineMark{
            .at = t, .label = absl::StrCat("rewound to #", e.rewound_to_seq), .kind = TimelineMark::Kind::kRewound,
            .seq = e.seq});
        break;
      default: break;
    }
  }

  Timeline Finish() && {
    const absl::Time end = timeline_.end;
    if (turn_) {
      turn_->end = end;
      turn_->open = true;
      turn_->detail = absl::StrCat(turn_->label, ": still running at the last event");
      Lane("session").spans.push_back(*std::move(turn_));
    }
    for (const std::string& id : model_order_) {
      if (auto it = models_.find(id); it != models_.end()) {
        it->second.end = end;
        it->second.open = true;
        it->second.detail = "model request without an end in the log";
        Lane("model").spans.push_back(std::move(it->second));
      }
    }
    for (const std::string& id : tool_order_) {
      if (auto it = tools_.find(id); it != tools_.end()) {
        it->second.end = end;
        it->second.open = true;
        it->second.detail = absl::StrCat(it->second.label, ": started, no result in the log");
        Lane(hand_lane_.empty() ? "tools" : hand_lane_).spans.push_back(std::move(it->second));
      }
    }
    // Lanes in a fixed order: session, model, the hands as they came, client.
    std::vector<TimelineLane> ordered;
    auto take = [&](const std::string& name) {
      if (auto it = lane_index_.find(name); it != lane_index_.end()) ordered.push_back(std::move(lanes_[it->second]));
    };
    take("session");
    take("model");
    for (const TimelineLane& lane : lanes_) {
      if (lane.name != "session" && lane.name != "model" && lane.name != "client") take(lane.name);
    }
    take("client");
    timeline_.lanes = std::move(ordered);
    return std::move(timeline_);
  }

 private:
  // Lanes in the order they first appeared; lane_index_ finds one by name.
  TimelineLane& Lane(const std::string& name) {
    auto [it, inserted] = lane_index_.try_emplace(name, lanes_.size());
    if (inserted) lanes_.push_back(TimelineLane{.name = name, .spans = {}, .marks = {}});
    return lanes_[it->second];
  }
  void CloseTurn(absl::Time t, std::string_view why, bool is_error) {
    if (!turn_) return;
    turn_->end = t;
    turn_->is_error = is_error;
    turn_->detail = absl::StrCat(turn_->label, ": ", Millis(t - turn_->start), ", ", ToAbsl(why));
    Lane("session").spans.push_back(*std::move(turn_));
    turn_.reset();
  }
  void Client(absl::Time t, std::string label, TimelineMark::Kind kind, uint64_t seq) {
    Lane("client").marks.push_back(TimelineMark{.at = t, .label = std::move(label), .kind = kind, .seq = seq});
  }

  Timeline timeline_;
  std::vector<TimelineLane> lanes_;
  std::map<std::string, size_t> lane_index_;
  int turns_ = 0;
  std::optional<TimelineSpan> turn_;
  std::map<std::string, TimelineSpan> models_;  // open model requests by start event id
  std::vector<std::string> model_order_;
  std::map<std::string, TimelineSpan> tools_;  // running tools by tool_use_id
  std::vector<std::string> tool_order_;
  std::string hand_lane_;  // the lane of the session's current hand; "" when it has none
};

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

// A tick step of 1, 2 or 5 times a power of ten (in ms) giving about `target` ticks over `total`.
double TickStepMs(double total_ms, int target) {
  const double raw = std::max(total_ms / target, 0.001);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * magnitude) return m * magnitude;
  }
  return 10 * magnitude;
}

// "250 ms" on short axes; "1.5 s" once the picture spans seconds (trailing zeros dropped).
std::string TickLabel(double ms, double step_ms, double total_ms) {
  if (total_ms < 2000) return step_ms >= 1 ? absl::StrFormat("%.0f ms", ms) : absl::StrFormat("%.2f ms", ms);
  std::string s = absl::StrFormat("%.*f", step_ms >= 1000 ? 0 : step_ms >= 100 ? 1 : 2, ms / 1000);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return absl::StrCat(s, " s");
}

struct Palette {
  const char* fill;
  const char* stroke;
};

Palette ColorsOf(const TimelineSpan& span) {
  if (span.is_error) return {"#f6c9c6", "#c0392b"};
  switch (span.kind) {
    case TimelineSpan::Kind::kTurn: return {"#dbe8fb", "#5b8bd6"};
    case TimelineSpan::Kind::kWaiting: return {"#eeeeee", "#999999"};
    case TimelineSpan::Kind::kModel: return {"#b9d0f7", "#2f6fde"};
    case TimelineSpan::Kind::kTool: return {"#bfe6c8", "#2e8b57"};
    case TimelineSpan::Kind::kProvision: return {"#f8dca8", "#c98a12"};
  }
  return {"#dddddd", "#888888"};
}

const char* MarkColor(TimelineMark::Kind kind) {
  switch (kind) {
    case TimelineMark::Kind::kClient: return "#444444";
    case TimelineMark::Kind::kError:
    case TimelineMark::Kind::kHandLost: return "#c0392b";
    case TimelineMark::Kind::kHandReleased: return "#888888";
    case TimelineMark::Kind::kInterrupt: return "#d35400";
    case TimelineMark::Kind::kRewound: return "#8e44ad";
  }
  return "#444444";
}

}  // namespace

Timeline BuildTimeline(const std::string& session_id, const std::vector<Event>& events) {
  Builder builder(session_id);
  for (const Event& e : events) {
    if (e.processed_at) builder.Add(e);
  }
  return std::move(builder).Finish();
}

std::string RenderTimelineSvg(const Timeline& timeline, int width) {
  constexpr int kLabelWidth = 200;
  constexpr int kRight = 24;
  constexpr int kTop = 56;
  constexpr int kLaneHeight = 34;
  constexpr int kBar = 20;
  width = std::max(width, kLabelWidth + kRight + 200);
  const int plot = width - kLabelWidth - kRight;
  const int lanes = static_cast<int>(timeline.lanes.size());
  const int height = kTop + std::max(lanes, 1) * kLaneHeight + 56;
  const bool empty = timeline.start == absl::InfinitePast();
  const absl::Duration total =
      empty ? absl::Milliseconds(1) : std::max(timeline.end - timeline.start, absl::Milliseconds(1));
  const double total_ms = absl::ToDoubleMilliseconds(total);
  auto x = [&](absl::Time t) {
    const double ms = empty ? 0 : absl::ToDoubleMilliseconds(t - timeline.start);
    return kLabelWidth + plot * std::clamp(ms / total_ms, 0.0, 1.0);
  };

  std::string out;
  const std::string title = absl::StrCat("session ", timeline.session_id, ": ",
                                         empty ? "no events" : Millis(timeline.end - timeline.start));
  absl::StrAppend(&out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", width, "\" height=\"", height,
                  "\" viewBox=\"0 0 ", width, " ", height, "\" role=\"img\" aria-label=\"", Escape(title),
                  "\" font-family=\"system-ui, sans-serif\" font-size=\"12\">\n");
  absl::StrAppend(&out, "<title>", Escape(title), "</title>\n");
  absl::StrAppend(&out, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
  absl::StrAppend(&out, "<text x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"600\">", Escape(title), "</text>\n");

  // The time axis: grid lines and labels.
  const double step = TickStepMs(total_ms, 10);
  for (double ms = 0; ms <= total_ms + step / 1000; ms += step) {
    const double px = kLabelWidth + plot * (ms / total_ms);
    absl::StrAppendFormat(&out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e6e6e6\"/>\n", px, kTop - 6,
                          px, kTop + lanes * kLaneHeight);
    absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#666666\">%s</text>\n", px,
                          kTop - 10, Escape(TickLabel(ms, step, total_ms)));
  }

  for (int i = 0; i < lanes; ++i) {
    const TimelineLane& lane = timeline.lanes[static_cast<size_t>(i)];
    const int y = kTop + i * kLaneHeight;
    const int bar_y = y + (kLaneHeight - kBar) / 2;
    if (i % 2 == 1) {
      absl::StrAppend(&out, "<rect x=\"0\" y=\"", y, "\" width=\"", width, "\" height=\"", kLaneHeight,
                      "\" fill=\"#f7f7f7\"/>\n");
    }
    absl::StrAppend(&out, "<text x=\"12\" y=\"", y + kLaneHeight / 2 + 4, "\" fill=\"#222222\">",
                    Escape(Shorten(lane.name, 30)), "</text>\n");
    // Provisioning happens inside a hand's first tool call: drawn last, as a thinner bar over it.
    std::vector<const TimelineSpan*> spans;
    for (const TimelineSpan& span : lane.spans) {
      if (span.kind != TimelineSpan::Kind::kProvision) spans.push_back(&span);
    }
    for (const TimelineSpan& span : lane.spans) {
      if (span.kind == TimelineSpan::Kind::kProvision) spans.push_back(&span);
    }
    for (const TimelineSpan* span_ptr : spans) {
      const TimelineSpan& span = *span_ptr;
      const Palette colors = ColorsOf(span);
      const double x0 = x(span.start);
      const double w = std::max(2.0, x(span.end) - x0);
      const bool thin = span.kind == TimelineSpan::Kind::kProvision;
      const int span_y = thin ? bar_y + kBar - 8 : bar_y;
      const int span_h = thin ? 8 : kBar;
      absl::StrAppendFormat(&out, "<g><title>#%d %s</title>", span.seq,
                            Escape(span.detail.empty() ? span.label : span.detail));
      absl::StrAppendFormat(&out,
                            "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"3\" fill=\"%s\" "
                            "stroke=\"%s\"%s/>",
                            x0, span_y, w, span_h, colors.fill, colors.stroke,
                            span.open ? " stroke-dasharray=\"4 3\"" : "");
      if (span.first_token != absl::InfinitePast()) {
        // The wait for the first token, darker: the part of the request the user stares at.
        const double ttft_w = std::clamp(x(span.first_token) - x0, 1.0, w);
        absl::StrAppendFormat(&out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"3\" fill=\"%s\"/>",
                              x0, bar_y, ttft_w, kBar, colors.stroke);
      }
      // The label inside the bar when it fits (about 6.5 px a character at this size).
      if (!thin && w > 6.5 * static_cast<double>(span.label.size()) + 8) {
        absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"%d\" fill=\"#111111\">%s</text>", x0 + 4, bar_y + 14,
                              Escape(span.label));
      }
      absl::StrAppend(&out, "</g>\n");
    }
    for (const TimelineMark& mark : lane.marks) {
      const double px = x(mark.at);
      const char* color = MarkColor(mark.kind);
      absl::StrAppendFormat(&out, "<g><title>#%d %s</title>", mark.seq, Escape(mark.label));
      if (mark.kind == TimelineMark::Kind::kError || mark.kind == TimelineMark::Kind::kHandLost) {
        absl::StrAppendFormat(&out,
                              "<path d=\"M%.1f %d l8 8 M%.1f %d l-8 8\" stroke=\"%s\" stroke-width=\"2.5\"/>",
                              px - 4, bar_y + 6, px + 4, bar_y + 6, color);
      } else {
        absl::StrAppendFormat(&out, "<path d=\"M%.1f %d l-5 -8 h10 z\" fill=\"%s\"/>", px, bar_y + 16, color);
        absl::StrAppendFormat(&out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>", px,
                              bar_y + 16, px, bar_y + kBar, color);
      }
      absl::StrAppend(&out, "</g>\n");
    }
  }

  // The legend.
  const int legend_y = kTop + std::max(lanes, 1) * kLaneHeight + 28;
  int legend_x = 12;
  const std::pair<const char*, Palette> legend[] = {
      {"turn", {"#dbe8fb", "#5b8bd6"}},         {"model request (dark: until the first token)", {"#b9d0f7", "#2f6fde"}},
      {"tool", {"#bfe6c8", "#2e8b57"}},         {"hand provisioning", {"#f8dca8", "#c98a12"}},
      {"error", {"#f6c9c6", "#c0392b"}},
  };
  for (const auto& [name, colors] : legend) {
    absl::StrAppendFormat(&out,
                          "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"12\" rx=\"2\" fill=\"%s\" stroke=\"%s\"/>"
                          "<text x=\"%d\" y=\"%d\" fill=\"#444444\">%s</text>\n",
                          legend_x, legend_y - 10, colors.fill, colors.stroke, legend_x + 20, legend_y, name);
    legend_x += 20 + static_cast<int>(6.5 * std::string_view(name).size()) + 24;
  }
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

std::string RenderTimelineHtml(const Timeline& timeline, int width) {
  return absl::StrCat("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>session ",
                      Escape(timeline.session_id),
                      "</title></head>\n<body style=\"margin:16px;font-family:system-ui,sans-serif\">\n",
                      RenderTimelineSvg(timeline, width), "</body></html>\n");
}

}  // namespace wake
