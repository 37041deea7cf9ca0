#include "inspect/session_report.h"

#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "schemas/event_json.h"

namespace wake {
namespace {

void AddUsage(ModelUsage& total, const ModelUsage& usage) {
  total.input_tokens += usage.input_tokens;
  total.output_tokens += usage.output_tokens;
  total.cache_creation_input_tokens += usage.cache_creation_input_tokens;
  total.cache_read_input_tokens += usage.cache_read_input_tokens;
}

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

std::string Ms(int64_t us) { return absl::StrFormat("%.1f ms", static_cast<double>(us) / 1000.0); }

// The text an event shows after its type, on one line.
std::string Details(const Event& e) {
  auto first_text = [&] {
    for (const ContentBlock& b : e.content) {
      if (b.kind == ContentBlock::Kind::kText) return b.text;
    }
    return e.content.empty() ? std::string() : std::string("[non-text content]");
  };
  auto one_line = [](std::string text, size_t max) {
    for (char& c : text) {
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    if (text.size() > max) text = absl::StrCat(text.substr(0, max), "…");
    return text;
  };
  switch (e.type) {
    case EventType::kUserMessage:
    case EventType::kAgentMessage:
      return one_line(first_text(), 100);
    case EventType::kAgentToolUse:
    case EventType::kAgentCustomToolUse:
      return one_line(absl::StrCat(e.name, " ", e.input_json), 100);
    case EventType::kAgentToolResult:
    case EventType::kUserCustomToolResult:
      return one_line(absl::StrCat(e.is_error.value_or(false) ? "error " : "", "for ", e.tool_use_id, ": ",
                                   first_text()),
                      100);
    case EventType::kToolStarted:
      return absl::StrCat(e.name, " ", e.tool_use_id);
    case EventType::kSessionStatusIdle:
      return e.stop_reason.kind == StopReason::Kind::kEndTurn          ? "end_turn"
             : e.stop_reason.kind == StopReason::Kind::kRequiresAction ? "requires_action"
                                                                      : "retries_exhausted";
    case EventType::kSessionError:
      return one_line(absl::StrCat(e.error.type, ": ", e.error.message), 100);
    case EventType::kSpanModelRequestEnd: {
      std::string text = absl::StrCat(e.is_error.value_or(false) ? "error " : "", "in ", e.model_usage.input_tokens,
                                      " out ", e.model_usage.output_tokens);
      if (e.time_to_first_token_us > 0) absl::StrAppend(&text, " ttft ", Ms(e.time_to_first_token_us));
      return text;
    }
    case EventType::kHandProvisioned:
      return absl::StrCat(e.hand_backend, " ", e.hand_id, " in ", Ms(e.duration_us),
                          e.reason.empty() ? "" : absl::StrCat(" (", e.reason, ")"));
    case EventType::kHandLost:
    case EventType::kHandReleased:
      return absl::StrCat(e.hand_backend, " ", e.hand_id, e.reason.empty() ? "" : absl::StrCat(": ", e.reason));
    case EventType::kHarnessWoke:
      return absl::StrCat(e.worker_id, " epoch ", e.lease_epoch);
    case EventType::kAgentThreadContextCompacted:
      return absl::StrCat("through #", e.compacted_through_seq);
    case EventType::kRewound:
      return absl::StrCat("continues from #", e.rewound_to_seq);
    default:
      return "";
  }
}

}  // namespace

SessionReport SummarizeSession(const SessionInfo& info, const std::vector<Event>& events,
                               const std::optional<Lease>& lease) {
  SessionReport r;
  r.info = info;
  r.lease = lease;
  r.events = events.size();
  std::set<std::string> open_calls;
  for (const Event& e : events) {
    ++r.counts_by_type[std::string(EventTypeName(e.type))];
    switch (e.type) {
      case EventType::kSpanModelRequestStart: {
        ModelRequestReport request;
        request.start_seq = e.seq;
        r.model_requests.push_back(request);
        break;
      }
      case EventType::kSpanModelRequestEnd:
        if (!r.model_requests.empty() && !r.model_requests.back().finished) {
          ModelRequestReport& request = r.model_requests.back();
          request.finished = true;
          request.is_error = e.is_error.value_or(false);
          request.usage = e.model_usage;
          request.time_to_first_token_us = e.time_to_first_token_us;
          request.duration_us = e.duration_us;
        }
        AddUsage(r.total_usage, e.model_usage);
        break;
      case EventType::kAgentToolUse:
      case EventType::kAgentCustomToolUse:
        ++r.tool_calls;
        open_calls.insert(e.id);
        break;
      case EventType::kAgentToolResult:
      case EventType::kUserCustomToolResult:
        if (e.is_error.value_or(false)) ++r.tool_errors;
        open_calls.erase(e.tool_use_id);
        break;
      case EventType::kSessionError:
        r.last_error = e.error;
        break;
      case EventType::kHandProvisioned:
        r.hand_state = "provisioned";
        r.hand_backend = e.hand_backend;
        r.hand_id = e.hand_id;
        break;
      case EventType::kHandLost:
        r.hand_state = "lost";
        break;
      case EventType::kHandReleased:
        r.hand_state = "released";
        break;
      default:
        break;
    }
  }
  r.open_tool_calls = static_cast<int64_t>(open_calls.size());
  return r;
}

std::string FormatSessionReport(const SessionReport& r, absl::Time now) {
  const SessionInfo& i = r.info;
  std::string out = absl::StrCat("session   ", i.id, "\n");
  absl::StrAppend(&out, "status    ", i.status, i.archived_at ? " (archived)" : "", "\n");
  if (!i.title.empty()) absl::StrAppend(&out, "title     ", i.title, "\n");
  if (!i.workspace_id.empty()) absl::StrAppend(&out, "workspace ", i.workspace_id, "\n");
  if (!i.agent_id.empty()) absl::StrAppend(&out, "agent     ", i.agent_id, " v", i.agent_version, "\n");
  if (!i.environment_id.empty()) absl::StrAppend(&out, "env       ", i.environment_id, "\n");
  absl::StrAppend(&out, "created   ", FormatRfc3339(i.created_at), "\n");
  absl::StrAppend(&out, "updated   ", FormatRfc3339(i.updated_at), "\n");
  absl::StrAppend(&out, "events    ", r.events, " (last seq ", i.next_seq - 1, ")\n");
  for (const auto& [type, count] : r.counts_by_type) absl::StrAppend(&out, "  ", absl::StrFormat("%-28s %d", type, count), "\n");
  absl::StrAppend(&out, "tokens    in ", r.total_usage.input_tokens, ", out ", r.total_usage.output_tokens,
                  ", cache read ", r.total_usage.cache_read_input_tokens, ", cache write ",
                  r.total_usage.cache_creation_input_tokens, "\n");
  absl::StrAppend(&out, "tools     ", r.tool_calls, " calls, ", r.tool_errors, " errors, ", r.open_tool_calls,
                  " without a result\n");
  absl::StrAppend(&out, "hand      ", r.hand_state);
  if (!r.hand_backend.empty()) absl::StrAppend(&out, " (", r.hand_backend, " ", r.hand_id, ")");
  absl::StrAppend(&out, "\n");
  if (r.lease && r.lease->owner.empty()) {
    absl::StrAppend(&out, "lease     epoch ", r.lease->epoch, ", not held\n");
  } else if (r.lease) {
    const absl::Duration left = r.lease->expires_at - now;
    absl::StrAppend(&out, "lease     epoch ", r.lease->epoch, " held by ", r.lease->owner,
                    left > absl::ZeroDuration() ? absl::StrCat(", expires in ", absl::FormatDuration(absl::Trunc(left, absl::Seconds(1))))
                                                : ", expired",
                    "\n");
  }
  if (r.last_error) absl::StrAppend(&out, "error     ", r.last_error->type, ": ", r.last_error->message, "\n");
  if (!r.model_requests.empty()) {
    absl::StrAppend(&out, "model requests\n");
    for (const ModelRequestReport& m : r.model_requests) {
      absl::StrAppend(&out, "  #", m.start_seq, "  ",
                      !m.finished ? "unfinished"
                      : m.is_error ? "error"
                                   : absl::StrCat("in ", m.usage.input_tokens, " out ", m.usage.output_tokens),
                      m.time_to_first_token_us > 0 ? absl::StrCat("  ttft ", Ms(m.time_to_first_token_us)) : "",
                      m.duration_us > 0 ? absl::StrCat("  total ", Ms(m.duration_us)) : "", "\n");
    }
  }
  return out;
}

std::string SessionReportJson(const SessionReport& r) {
  const SessionInfo& i = r.info;
  std::string out = absl::StrCat("{\"id\":", Json(i.id), ",\"status\":", Json(i.status), ",\"title\":", Json(i.title),
                                 ",\"workspace_id\":", Json(i.workspace_id), ",\"created_at\":",
                                 Json(FormatRfc3339(i.created_at)), ",\"updated_at\":", Json(FormatRfc3339(i.updated_at)),
                                 ",\"archived\":", i.archived_at ? "true" : "false", ",\"events\":", r.events,
                                 ",\"counts_by_type\":{");
  bool first = true;
  for (const auto& [type, count] : r.counts_by_type) {
    absl::StrAppend(&out, first ? "" : ",", Json(type), ":", count);
    first = false;
  }
  absl::StrAppend(&out, "},\"usage\":{\"input_tokens\":", r.total_usage.input_tokens, ",\"output_tokens\":",
                  r.total_usage.output_tokens, ",\"cache_read_input_tokens\":", r.total_usage.cache_read_input_tokens,
                  ",\"cache_creation_input_tokens\":", r.total_usage.cache_creation_input_tokens, "}",
                  ",\"tool_calls\":", r.tool_calls, ",\"tool_errors\":", r.tool_errors,
                  ",\"open_tool_calls\":", r.open_tool_calls, ",\"hand\":{\"state\":", Json(r.hand_state),
                  ",\"backend\":", Json(r.hand_backend), ",\"id\":", Json(r.hand_id), "}");
  if (r.last_error) {
    absl::StrAppend(&out, ",\"last_error\":{\"type\":", Json(r.last_error->type), ",\"message\":",
                    Json(r.last_error->message), "}");
  }
  absl::StrAppend(&out, ",\"model_requests\":[");
  for (size_t k = 0; k < r.model_requests.size(); ++k) {
    const ModelRequestReport& m = r.model_requests[k];
    absl::StrAppend(&out, k ? "," : "", "{\"start_seq\":", m.start_seq, ",\"finished\":", m.finished ? "true" : "false",
                    ",\"is_error\":", m.is_error ? "true" : "false", ",\"input_tokens\":", m.usage.input_tokens,
                    ",\"output_tokens\":", m.usage.output_tokens, ",\"time_to_first_token_us\":",
                    m.time_to_first_token_us, ",\"duration_us\":", m.duration_us, "}");
  }
  absl::StrAppend(&out, "]}");
  return out;
}

std::string FormatEventLine(const Event& event, bool color) {
  const std::string_view type = EventTypeName(event.type);
  std::string_view paint;
  if (color) {
    paint = type.substr(0, 5) == "user." ? "\x1b[36m"      // cyan
            : type.substr(0, 6) == "agent." ? "\x1b[32m"   // green
            : type.substr(0, 8) == "session." ? (event.type == EventType::kSessionError ? "\x1b[31m" : "\x1b[33m")
                                              : "\x1b[90m";  // span.*, wake.*: grey
  }
  const std::string when =
      event.processed_at ? absl::FormatTime("%H:%M:%E3S", *event.processed_at, absl::UTCTimeZone()) : "--:--:--.---";
  std::string line = absl::StrFormat("#%-5d %s  ", event.seq, when);
  absl::StrAppend(&line, std::string(paint), absl::StrFormat("%-30s", std::string(type)), color ? "\x1b[0m" : "");
  const std::string details = Details(event);
  if (!details.empty()) absl::StrAppend(&line, " ", details);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

}  // namespace wake
