#include "client/remote_session_log.h"

#include <deque>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/cancel.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/sync.h"
#include "schemas/event_json.h"
#include "simdjson.h"

namespace wake {
namespace {

namespace dom = simdjson::dom;

// The API's largest page.
constexpr size_t kPageSize = 1000;

absl::Status NotOverHttp(std::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(
      ToAbsl(what), " needs the store itself: over the API (--url) wake's tools only read; run it with --data on "
                    "the server's machine"));
}

absl::Status BadAnswer(std::string_view what, std::string_view json) {
  return absl::DataLossError(absl::StrCat("the server's answer is not ", ToAbsl(what), ": ",
                                          ToAbsl(json.substr(0, 200))));
}

std::string Str(dom::element e, const char* pointer) {
  std::string_view value;
  return e.at_pointer(pointer).get(value) == simdjson::SUCCESS ? std::string(value) : std::string();
}

absl::StatusOr<absl::Time> TimeAt(dom::element e, const char* pointer) {
  std::string_view value;
  if (e.at_pointer(pointer).get(value) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat("no ", pointer));
  }
  return ParseRfc3339(value);
}

absl::StatusOr<SessionInfo> SessionInfoFrom(dom::element e) {
  SessionInfo info;
  info.id = Str(e, "/id");
  if (info.id.empty() || Str(e, "/type") != "session") return absl::InvalidArgumentError("not a session resource");
  info.status = Str(e, "/status");
  info.title = Str(e, "/title");
  info.environment_id = Str(e, "/environment_id");
  info.agent_id = Str(e, "/agent/id");
  uint64_t version = 0;
  if (e.at_pointer("/agent/version").get(version) == simdjson::SUCCESS) info.agent_version = version;
  ASSIGN_OR_RETURN(info.created_at, TimeAt(e, "/created_at"));
  ASSIGN_OR_RETURN(info.updated_at, TimeAt(e, "/updated_at"));
  if (absl::StatusOr<absl::Time> archived = TimeAt(e, "/archived_at"); archived.ok()) info.archived_at = *archived;
  dom::object metadata;
  if (e.at_pointer("/metadata").get(metadata) == simdjson::SUCCESS) {
    for (auto [key, value] : metadata) {
      std::string_view text;
      if (value.get(text) == simdjson::SUCCESS) info.metadata.emplace_back(std::string(key), std::string(text));
    }
  }
  info.next_seq = 0;  // unknown until the events are read
  return info;
}

// A subscription fed by the event stream on a thread of its own.
class RemoteSubscription final : public Subscription {
 public:
  // Delivers `history` (events from_seq.. already read) first, then what the stream brings after
  // `after_event_id` (the last event of history, or the one before from_seq), numbered on from there.
  RemoteSubscription(Client client, std::string session_id, uint64_t from_seq, std::vector<Event> history,
                     std::string after_event_id)
      : client_(std::move(client)), cursor_(from_seq) {
    const uint64_t next_seq = history.empty() ? from_seq : history.back().seq + 1;
    for (Event& e : history) queue_.push_back(std::move(e));
    thread_ = std::thread([this, session_id = std::move(session_id), after = std::move(after_event_id),
                           next_seq]() mutable { Run(session_id, after, next_seq); });
  }
  ~RemoteSubscription() override { Cancel(); }

  absl::StatusOr<std::vector<Event>> Next(size_t max_events, absl::Time deadline) override {
    MutexLock lock(&mu_);
    mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || !status_.ok(); },
                          deadline);
    if (queue_.empty() && !status_.ok()) return status_;
    std::vector<Event> out;
    while (!queue_.empty() && out.size() < max_events) {
      out.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (!out.empty()) cursor_ = out.back().seq + 1;
    return out;
  }
  uint64_t cursor() const override {
    MutexLock lock(&mu_);
    return cursor_;
  }
  void SetNotifier(std::function<void()> notify) override {
    MutexLock lock(&mu_);
    notify_ = std::move(notify);
  }
  void Cancel() override {
    cancel_.Cancel();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run(const std::string& session_id, std::string after, uint64_t next_seq) {
    absl::Status status = absl::OkStatus();
    // The stream is resumed after the last event seen when the connection drops (e.g. a restart).
    while (!cancel_.cancelled()) {
      status = client_.StreamEvents(
          session_id, after,
          [&](const SseEvent& frame) {
            absl::StatusOr<Event> event = DecodeEventJson(frame.data);
            if (!event.ok()) {
              status = event.status();
              return false;
            }
            event->seq = next_seq++;
            after = event->id;
            std::function<void()> notify;
            {
              MutexLock lock(&mu_);
              queue_.push_back(*std::move(event));
              mu_.SignalAll();
              notify = notify_;
            }
            if (notify) notify();
            return true;
          },
          &cancel_, /*include_internal=*/true);
      if (!status.ok() && !absl::IsUnavailable(status)) break;  // decoding, or the session is gone
      if (status.ok()) {
        status = absl::OutOfRangeError("the session's stream ended (terminated)");
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // waiting for the server to return
    }
    if (cancel_.cancelled()) status = absl::CancelledError("the subscription was cancelled");
    MutexLock lock(&mu_);
    status_ = status;
    mu_.SignalAll();
  }

  const Client client_;
  CancelToken cancel_;
  mutable Mutex mu_;
  std::deque<Event> queue_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  uint64_t cursor_ ABSL_GUARDED_BY(mu_);
  std::function<void()> notify_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

class RemoteSessionLog final : public SessionLog {
 public:
  explicit RemoteSessionLog(Client client) : client_(std::move(client)) {}

  absl::StatusOr<SessionInfo> CreateSession(SessionInfo) override { return NotOverHttp("creating a session"); }
  absl::StatusOr<SessionInfo> UpdateSession(const SessionInfo&) override { return NotOverHttp("updating a session"); }
  absl::Status DeleteSession(std::string_view) override { return NotOverHttp("deleting a session"); }
  absl::StatusOr<AppendResult> Append(std::string_view, std::vector<Event>, uint64_t, uint64_t) override {
    return NotOverHttp("appending events");
  }
  void AppendAsync(std::string_view, std::vector<Event>, uint64_t, uint64_t, AppendCallback done) override {
    done(NotOverHttp("appending events"));
  }
  absl::StatusOr<Lease> AcquireLease(std::string_view, std::string_view, absl::Duration) override {
    return NotOverHttp("taking a lease");
  }
  absl::StatusOr<Lease> RenewLease(std::string_view, uint64_t, absl::Duration) override {
    return NotOverHttp("renewing a lease");
  }
  absl::Status ReleaseLease(std::string_view, uint64_t) override { return NotOverHttp("releasing a lease"); }
  absl::StatusOr<Lease> GetLease(std::string_view) override {
    return absl::NotFoundError("waked does not publish leases over its API");
  }
  absl::Status health() const override { return absl::OkStatus(); }

  absl::StatusOr<SessionInfo> GetSession(std::string_view session_id) override {
    ASSIGN_OR_RETURN(std::string json, client_.Get(absl::StrCat("/v1/sessions/", ToAbsl(session_id))));
    return SessionInfoFromJson(json);
  }

  absl::StatusOr<SessionPage> ListSessions(const ListSessionsOptions& options) override {
    if (!options.workspace_id.empty()) {
      return absl::InvalidArgumentError(
          "sessions cannot be filtered by workspace over the API: the API key decides which are visible");
    }
    std::string path = absl::StrCat("/v1/sessions?order=asc&limit=", std::clamp<size_t>(options.limit, 1, kPageSize),
                                    "&include_archived=", options.include_archived ? "true" : "false");
    if (!options.status.empty()) absl::StrAppend(&path, "&statuses[]=", options.status);
    if (!options.after_session_id.empty()) absl::StrAppend(&path, "&page=after:", options.after_session_id);
    ASSIGN_OR_RETURN(std::string json, client_.Get(path));
    dom::parser parser;
    dom::element root;
    dom::array data;
    if (parser.parse(json).get(root) != simdjson::SUCCESS || root["data"].get(data) != simdjson::SUCCESS) {
      return BadAnswer("a page of sessions", json);
    }
    SessionPage page;
    for (dom::element item : data) {
      absl::StatusOr<SessionInfo> info = SessionInfoFrom(item);
      if (!info.ok()) return BadAnswer("a page of sessions", json);
      page.sessions.push_back(*std::move(info));
    }
    std::string_view next;
    if (root["next_page"].get(next) == simdjson::SUCCESS && !page.sessions.empty()) {
      page.next_cursor = page.sessions.back().id;
    }
    return page;
  }

  absl::StatusOr<std::vector<Event>> Read(std::string_view session_id, const ReadOptions& options) override {
    std::vector<Event> out;
    RETURN_IF_ERROR(Walk(session_id, options, [&](Event& event) {
      out.push_back(std::move(event));
      return absl::OkStatus();
    }));
    return out;
  }

  // One walk over the pages (the default Scan would walk from the first event again for each of its pages).
  absl::Status Scan(std::string_view session_id, const ReadOptions& options,
                    absl::FunctionRef<absl::Status(const Event&)> visit) override {
    return Walk(session_id, options, [&](Event& event) { return visit(event); });
  }

  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string_view session_id, uint64_t from_seq) override {
    from_seq = std::max<uint64_t>(from_seq, 1);
    // What is there already, then the stream after its last event. (A session with no events at
    // all is followed from the stream's start: an event appended between this read and the stream
    // opening would be missed; sessions are created empty only for a moment.)
    ReadOptions read;
    read.from_seq = from_seq;
    ASSIGN_OR_RETURN(std::vector<Event> history, Read(session_id, read));
    std::string after;
    if (!history.empty()) {
      after = history.back().id;
    } else if (from_seq > 1) {
      read.from_seq = from_seq - 1;
      read.limit = 1;
      ASSIGN_OR_RETURN(std::vector<Event> before, Read(session_id, read));
      if (before.empty()) return absl::OutOfRangeError(absl::StrCat("the session has no event #", from_seq - 1));
      after = before.front().id;
    } else {
      RETURN_IF_ERROR(GetSession(session_id).status());
    }
    return std::make_unique<RemoteSubscription>(client_, std::string(session_id), from_seq, std::move(history),
                                                std::move(after));
  }

 private:
  // Hands each event `options` selects to `take`, in order, as the pages of the session's events
  // arrive; stops at take's first error.
  absl::Status Walk(std::string_view session_id, const ReadOptions& options,
                    absl::FunctionRef<absl::Status(Event&)> take) {
    // The events carry no seq in JSON, but with the internal ones included they are the log's positions,
    // and the server's cursor is the seq a page starts at: so the walk starts at from_seq, not at the
    // first event (`wakectl tail -f --url` asks from the head every 200 ms).
    const uint64_t from = std::max<uint64_t>(options.from_seq, 1);
    uint64_t seq = from;
    size_t taken = 0;
    std::string page = absl::StrCat(from);
    while (!page.empty() && taken < options.limit) {
      absl::StatusOr<std::string> answer =
          client_.Get(absl::StrCat("/v1/sessions/", ToAbsl(session_id), "/events?include_internal=true&order=asc&limit=",
                                   kPageSize, "&page=", page));
      // A cursor past the head is refused; the local log answers a read from there with nothing.
      if (!answer.ok() && absl::IsInvalidArgument(answer.status()) && seq == from && from > 1 &&
          GetSession(session_id).ok()) {
        return absl::OkStatus();
      }
      ASSIGN_OR_RETURN(std::string json, std::move(answer));
      dom::parser parser;
      dom::element root;
      dom::array data;
      if (parser.parse(json).get(root) != simdjson::SUCCESS || root["data"].get(data) != simdjson::SUCCESS) {
        return BadAnswer("a page of events", json);
      }
      for (dom::element item : data) {
        const uint64_t this_seq = seq++;
        if (taken >= options.limit) break;
        ASSIGN_OR_RETURN(Event event, DecodeEventJson(simdjson::to_string(item)));
        event.seq = this_seq;
        if (!options.types.empty() &&
            std::find(options.types.begin(), options.types.end(), event.type) == options.types.end()) {
          continue;
        }
        ++taken;
        RETURN_IF_ERROR(take(event));
      }
      std::string_view next;
      page = root["next_page"].get(next) == simdjson::SUCCESS ? std::string(next) : "";
    }
    return absl::OkStatus();
  }

  const Client client_;
};

}  // namespace

absl::StatusOr<SessionInfo> SessionInfoFromJson(std::string_view json) {
  dom::parser parser;
  dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) return BadAnswer("a session", json);
  absl::StatusOr<SessionInfo> info = SessionInfoFrom(root);
  if (!info.ok()) return BadAnswer("a session", json);
  return info;
}

std::unique_ptr<SessionLog> NewRemoteSessionLog(Client client) {
  return std::make_unique<RemoteSessionLog>(std::move(client));
}

}  // namespace wake
