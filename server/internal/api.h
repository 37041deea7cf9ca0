#pragma once
// ApiHandler: one HTTP request in, one response out, with no socket in sight (the layering of the
// Boost.Beast examples: listener -> connection -> handler). It authenticates, routes, decodes the
// request into Engine calls and encodes the results in the Managed Agents shapes (api_json.h).
//
// An event-stream request is answered with an EventStream: the subscription, positioned where the
// stream starts; the connection then writes its frames as events arrive.
//
// Thread-safe. Handle() blocks on the Engine (appends wait for fsync, reads scan the store): call it
// on a blocking worker thread, never on an Asio thread.

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/engine.h"
#include "server/internal/auth.h"
#include "storage/session_log.h"

namespace wake::server_internal {

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as sent: "/v1/sessions?limit=2"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;

  // The first value of header `name` (lower-case), or "".
  std::string_view Header(std::string_view name) const;
};

// How a stream turns a session's events into SSE frames: the Managed Agents event frames
// (/v1/sessions/{id}/events/stream) or A2A's JSON-RPC responses (a2a.h). Called on one thread at a
// time (the connection's strand), so it may keep state.
class StreamFramer {
 public:
  virtual ~StreamFramer() = default;
  // The frames for `events` (in log order), each ending in a blank line. Sets *ended once the
  // stream's last frame has been produced; later events are dropped.
  virtual std::string Frames(const std::vector<Event>& events, bool* ended) = 0;
};

// A live event stream for one client: where the events come from, and how they are framed.
class EventStream {
 public:
  EventStream(std::string session_id, std::unique_ptr<Subscription> subscription,
              std::unique_ptr<StreamFramer> framer, std::shared_ptr<std::atomic<size_t>> open_streams);
  ~EventStream();  // frees the stream's place under max_sse_subscribers
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  const std::string& session_id() const { return session_id_; }
  Subscription& subscription() { return *subscription_; }

  // The SSE frames of `events` (see StreamFramer::Frames). For the Managed Agents stream:
  // `event: <type>\nid: <id>\ndata: <json>\n\n` per event it shows, ended after
  // session.status_terminated.
  std::string Frames(const std::vector<Event>& events, bool* ended) { return framer_->Frames(events, ended); }

 private:
  const std::string session_id_;
  std::unique_ptr<Subscription> subscription_;
  std::unique_ptr<StreamFramer> framer_;
  std::shared_ptr<std::atomic<size_t>> open_streams_;
};

struct ApiResponse {
  int status = 200;
  std::string body;                                          // JSON (unless `stream`)
  std::vector<std::pair<std::string, std::string>> headers;  // beyond content-type, e.g. "allow"
  std::unique_ptr<EventStream> stream;                       // set: a 200 text/event-stream
  // For the request's log line.
  std::string session_id;
  std::string error;  // the message of an error response
};

// The error envelope {"type":"error","error":{"type":...,"message":...[,"details":{"error_code":...}]}}
// and a response carrying it. The error type follows the status (400 invalid_request_error, 401
// authentication_error, 403 permission_error, 404 not_found_error, 409 conflict_error, 413
// request_too_large, 429 rate_limit_error, 5xx api_error).
std::string ErrorEnvelope(int status, std::string_view message, std::string_view error_code = "");
ApiResponse ErrorResponse(int status, std::string_view message, std::string_view error_code = "");
// The HTTP status for an Engine error (InvalidArgument 400, NotFound 404, Aborted 409, ...).
int HttpStatusFor(const absl::Status& status);

struct ApiOptions {
  bool require_api_key = false;
  std::vector<KeyDigest> api_keys;
  size_t max_sse_subscribers = 1024;
};

class A2aEndpoint;

class ApiHandler {
 public:
  ApiHandler(Engine* engine, ApiOptions options);
  ~ApiHandler();

  ApiResponse Handle(const ApiRequest& request);
  // Ends the waits of requests that follow a turn (A2A message/send) and refuses new ones: the
  // server calls it as it stops, so that no request holds it up until a turn ends.
  void CancelWaits();

 private:
  class Call;  // one request being handled

  Engine* const engine_;
  const ApiOptions options_;
  std::shared_ptr<std::atomic<size_t>> open_streams_;
  std::unique_ptr<A2aEndpoint> a2a_;  // the A2A routes (a2a.h)
};

}  // namespace wake::server_internal
