#include "sandbox/managed_agents/managed_agents_api.h"

#include <cstdio>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/sync.h"
#include "simdjson.h"

namespace wake {
namespace {

absl::StatusOr<std::string> StringAt(const std::string& json, const char* pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view value;
  if (parser.parse(json).get(root) != simdjson::SUCCESS || root.at_pointer(pointer).get(value) != simdjson::SUCCESS) {
    return absl::DataLossError(
        absl::StrCat("the server's answer has no ", pointer, ": ", json.substr(0, std::min<size_t>(json.size(), 200))));
  }
  return std::string(value);
}

// Sets `out` when `result` is a string; leaves it as it was otherwise.
void GetIf(simdjson::simdjson_result<simdjson::dom::element> result, std::string_view& out) {
  std::string_view value;
  if (result.get(value) == simdjson::SUCCESS) out = value;
}

// Whether `event` ends a turn (session.status_idle or session.status_terminated), by its SSE event
// name or, when the server sends none, its JSON "type".
bool EndsTurn(const SseEvent& event) {
  std::string_view type = event.event;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (type.empty() && parser.parse(event.data).get(root) == simdjson::SUCCESS) GetIf(root["type"], type);
  return type == "session.status_idle" || type == "session.status_terminated";
}

// One stream of the session's events, read on a thread of its own into a queue, so the turn can wait
// for "open", for events, for the end and for its deadline all at once. The stream stops by itself
// after an event that ends a turn, so a finished turn does not wait for the stream's teardown (an
// idle that was not this turn's only costs a reconnect); otherwise destroying the reader cancels the
// stream and waits for its thread (libcurl notices within ~100 ms, or at the next keep-alive).
class StreamReader {
 public:
  StreamReader(const Client& client, std::string session_id) : shared_(std::make_shared<Shared>()) {
    thread_ = std::thread([shared = shared_, &client, session_id = std::move(session_id)] {
      EventStreamOptions stream;
      stream.cancel = &shared->cancel;
      stream.on_open = [&shared] {
        MutexLock lock(&shared->mu);
        shared->opened = true;
        shared->mu.SignalAll();
      };
      bool turn_ended = false;
      absl::Status done = client.StreamSessionEvents(session_id, stream, [&](const SseEvent& event) {
        turn_ended = EndsTurn(event);
        MutexLock lock(&shared->mu);
        shared->queue.push_back(event);
        shared->mu.SignalAll();
        return !turn_ended;
      });
      MutexLock lock(&shared->mu);
      shared->ended = true;
      shared->end_status = !done.ok()    ? done
                           : turn_ended ? absl::UnavailableError("the stream was closed after the turn ended")
                                        : absl::UnavailableError("the server ended the event stream");
      shared->mu.SignalAll();
    });
  }
  ~StreamReader() {
    shared_->cancel.Cancel();
    thread_.join();
  }

  // Waits until the stream is open or has ended, or `deadline`. OK once open.
  absl::Status AwaitOpen(absl::Time deadline, const CancelToken* cancel) {
    Shared& s = *shared_;
    MutexLock lock(&s.mu);
    while (!s.opened && !s.ended) {
      if (cancel != nullptr && cancel->cancelled()) return absl::CancelledError("the turn was cancelled");
      if (absl::Now() >= deadline) return absl::DeadlineExceededError("the event stream did not open in time");
      s.mu.AwaitWithDeadline([&s]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return s.opened || s.ended; },
                             std::min(deadline, absl::Now() + absl::Milliseconds(100)));
    }
    if (s.opened) return absl::OkStatus();
    return s.end_status;
  }

  // Moves queued events to `out`; waits (until `wake_at`) when there are none and the stream is live.
  // Returns the stream's end status once it ended and its queue is drained, else OK.
  absl::Status Take(std::deque<SseEvent>& out, absl::Time wake_at) {
    Shared& s = *shared_;
    MutexLock lock(&s.mu);
    if (s.queue.empty() && !s.ended) {
      s.mu.AwaitWithDeadline([&s]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !s.queue.empty() || s.ended; }, wake_at);
    }
    while (!s.queue.empty()) {
      out.push_back(std::move(s.queue.front()));
      s.queue.pop_front();
    }
    if (s.ended && out.empty()) return s.end_status;
    return absl::OkStatus();
  }

 private:
  struct Shared {
    CancelToken cancel;
    Mutex mu;
    bool opened ABSL_GUARDED_BY(mu) = false;
    bool ended ABSL_GUARDED_BY(mu) = false;
    absl::Status end_status ABSL_GUARDED_BY(mu);
    std::deque<SseEvent> queue ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

// Folds events into a TurnOutcome.
class TurnState {
 public:
  explicit TurnState(TurnOutcome& outcome) : outcome_(outcome) {}

  // Takes one event, skipping one seen before (by id). Its type and id come from the JSON (the
  // Managed Agents shapes carry both), else from the SSE frame's `event` and `id` fields. Returns true
  // when the turn is over.
  bool Apply(const SseEvent& event) {
    simdjson::dom::element root;
    if (parser_.parse(event.data).get(root) != simdjson::SUCCESS) return false;  // not JSON: nothing to learn
    std::string_view type = event.event;
    std::string_view id = event.id;
    GetIf(root["type"], type);
    GetIf(root["id"], id);
    if (!id.empty() && !seen_.insert(std::string(id)).second) {
      ++outcome_.duplicates_skipped;
      return false;
    }
    if (type == "user.message") {
      if (id == outcome_.message_event_id) started_ = true;
      return false;
    }
    if (type == "session.status_running" || type.starts_with("agent.")) started_ = true;
    if (type == "agent.message") {
      simdjson::dom::array content;
      if (root["content"].get_array().get(content) == simdjson::SUCCESS) {
        std::string text;
        for (simdjson::dom::element block : content) {
          std::string_view kind;
          std::string_view piece;
          if (block["type"].get(kind) == simdjson::SUCCESS && kind == "text" &&
              block["text"].get(piece) == simdjson::SUCCESS) {
            text += piece;
          }
        }
        if (!text.empty()) {
          if (!outcome_.text.empty()) outcome_.text += "\n\n";
          outcome_.text += text;
        }
      }
    } else if (type == "agent.tool_use" || type == "agent.mcp_tool_use" || type == "agent.custom_tool_use") {
      std::string_view name;
      if (root["name"].get(name) == simdjson::SUCCESS) outcome_.tools_used.emplace_back(name);
    } else if (type == "session.error") {
      std::string_view error_type = "error";
      std::string_view message;
      GetIf(root.at_pointer("/error/type"), error_type);
      GetIf(root.at_pointer("/error/message"), message);
      outcome_.errors.push_back(absl::StrCat(ToAbsl(error_type), ": ", ToAbsl(message)));
    } else if (type == "session.status_terminated") {
      outcome_.stop_reason = "terminated";
      return true;
    } else if (type == "session.status_idle" && started_) {
      std::string_view reason = "end_turn";
      GetIf(root.at_pointer("/stop_reason/type"), reason);
      outcome_.stop_reason = std::string(reason);
      simdjson::dom::array ids;
      if (root.at_pointer("/stop_reason/event_ids").get(ids) == simdjson::SUCCESS) {
        for (simdjson::dom::element e : ids) {
          std::string_view event_id;
          if (e.get(event_id) == simdjson::SUCCESS) outcome_.required_event_ids.emplace_back(event_id);
        }
      }
      return true;
    }
    return false;
  }

 private:
  TurnOutcome& outcome_;
  simdjson::dom::parser parser_;
  std::set<std::string> seen_;
  bool started_ = false;  // an event of this turn was seen: an idle now ends it
};

// The session's events after `message_id` (this turn's user.message), in order, by listing them.
absl::StatusOr<std::vector<SseEvent>> ListEventsAfter(const Client& client, std::string_view session_id,
                                                      std::string_view message_id) {
  std::vector<SseEvent> after;
  bool found = false;
  std::string page;
  simdjson::dom::parser parser;
  for (int pages = 0; pages < 10000; ++pages) {
    ASSIGN_OR_RETURN(std::string body,
                     client.Get(absl::StrCat("/v1/sessions/", ToAbsl(session_id), "/events?limit=100&order=asc",
                                             page.empty() ? "" : "&page=", page)));
    simdjson::dom::element root;
    simdjson::dom::array data;
    if (parser.parse(body).get(root) != simdjson::SUCCESS || root["data"].get_array().get(data) != simdjson::SUCCESS) {
      return absl::DataLossError("the event listing has no \"data\" array");
    }
    for (simdjson::dom::element e : data) {
      SseEvent event;
      std::string_view value;
      if (e["type"].get(value) == simdjson::SUCCESS) event.event = std::string(value);
      if (e["id"].get(value) == simdjson::SUCCESS) event.id = std::string(value);
      if (found) {
        event.data = simdjson::to_string(e);
        after.push_back(std::move(event));
      } else if (event.id == message_id) {
        found = true;
      }
    }
    std::string_view next;
    if (root["next_page"].get(next) != simdjson::SUCCESS || next.empty()) break;
    page = std::string(next);
  }
  return after;
}

}  // namespace

std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

absl::StatusOr<std::string> CreateResource(const Client& client, std::string_view path, std::string_view body_json) {
  ASSIGN_OR_RETURN(std::string answer, client.Post(path, body_json));
  return StringAt(answer, "/id");
}

absl::Status ArchiveSession(const Client& client, std::string_view session_id) {
  return client.Post(absl::StrCat("/v1/sessions/", ToAbsl(session_id), "/archive"), "{}").status();
}

absl::StatusOr<TurnOutcome> RunTurn(const Client& client, std::string_view session_id, std::string_view text,
                                    const TurnOptions& options, const CancelToken* cancel) {
  const absl::Time deadline = absl::Now() + options.timeout;
  const std::string session(session_id);
  TurnOutcome outcome;
  TurnState state(outcome);

  // Open the stream before sending, so no event of the turn can slip by unseen.
  auto reader = std::make_unique<StreamReader>(client, session);
  RETURN_IF_ERROR(reader->AwaitOpen(deadline, cancel));
  auto interrupt = [&] {
    // Best effort: the remote agent should not keep working on a turn no one waits for.
    (void)client.Post(absl::StrCat("/v1/sessions/", session, "/events"), R"({"events":[{"type":"user.interrupt"}]})");
  };
  const absl::Time sent_at = absl::Now();
  absl::StatusOr<std::string> sent =
      client.Post(absl::StrCat("/v1/sessions/", session, "/events"),
                  absl::StrCat(R"({"events":[{"type":"user.message","content":[{"type":"text","text":)", JsonQuote(text),
                               "}]}]}"),
                  cancel);
  if (!sent.ok()) {
    // Cancelled while the message was on its way: the remote session may have it and be starting a
    // turn no one will wait for. (An interrupt of an idle session changes nothing.)
    if (absl::IsCancelled(sent.status()) && cancel != nullptr && cancel->cancelled()) interrupt();
    return sent.status();
  }
  ASSIGN_OR_RETURN(outcome.message_event_id, StringAt(*sent, "/data/0/id"));
  std::deque<SseEvent> batch;
  while (true) {
    if (cancel != nullptr && cancel->cancelled()) {
      reader.reset();
      interrupt();
      return absl::CancelledError("the turn was cancelled");
    }
    if (absl::Now() >= deadline) {
      reader.reset();
      interrupt();
      return absl::DeadlineExceededError(absl::StrCat("the remote session ", session, " did not go idle within ",
                                                      absl::FormatDuration(options.timeout)));
    }
    absl::Status live = reader->Take(batch, std::min(deadline, absl::Now() + absl::Milliseconds(100)));
    for (; !batch.empty(); batch.pop_front()) {
      if (state.Apply(batch.front())) {
        outcome.round_trip = absl::Now() - sent_at;
        return outcome;
      }
    }
    if (live.ok()) continue;
    if (absl::IsCancelled(live) && cancel != nullptr && cancel->cancelled()) continue;  // reported above
    // The stream dropped (cut, stalled, ended by the server, refused): open a new one, then list
    // what was appended meanwhile; the stream's copies of listed events are skipped by id.
    if (outcome.reconnects >= options.max_reconnects) {
      return absl::UnavailableError(absl::StrCat("the event stream of ", session, " dropped ", outcome.reconnects + 1,
                                                 " times; last: ", live.message()));
    }
    ++outcome.reconnects;
    absl::SleepFor(std::min(absl::Milliseconds(100) * outcome.reconnects, deadline - absl::Now()));
    reader = std::make_unique<StreamReader>(client, session);
    if (absl::Status opened = reader->AwaitOpen(deadline, cancel); !opened.ok()) {
      if (absl::IsCancelled(opened) || absl::IsDeadlineExceeded(opened)) continue;  // reported at the top
      continue;  // refused or cut again: the next Take reports it, and it counts as another drop
    }
    ASSIGN_OR_RETURN(std::vector<SseEvent> missed, ListEventsAfter(client, session, outcome.message_event_id));
    for (SseEvent& event : missed) batch.push_back(std::move(event));
  }
}

}  // namespace wake
