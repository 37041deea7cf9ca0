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
#include "absl/time/time.h"
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
  // stream's last frame has been produced; later events are dropped. For a one-response stream
  // (EventStream::one_response()), what the call that sets *ended returns is the response body.
  virtual std::string Frames(const std::vector<Event>& events, bool* ended) = 0;
  // What reports a failed read (the stream ends with it): an SSE frame (by default
  // `event: error` + the error envelope), or the body of a one-response stream.
  virtual std::string ErrorFrame(const absl::Status& status);
  // For a one-response stream whose wait ran out before its end: the body to answer with.
  virtual std::string Unfinished() { return ""; }
  // What an SSE stream with nothing to send writes every keepalive_interval: an SSE comment. It may
  // end the stream instead (sets *ended, returns the stream's last frame).
  virtual std::string Keepalive(bool* /*ended*/) { return ": keep-alive\n\n"; }
};

// A live event stream for one client: where the events come from, and how they are framed.
//
// Most streams are SSE responses. A one-response stream (`one_response_within` > 0) is a request
// that waits for events without holding a thread (A2A message/send waits for its turn): the
// connection feeds events to the framer and writes one JSON response with the body Frames returned
// as it ended, or Unfinished() once `one_response_within` has passed.
class EventStream {
 public:
  EventStream(std::string session_id, std::unique_ptr<Subscription> subscription,
              std::unique_ptr<StreamFramer> framer, std::shared_ptr<std::atomic<size_t>> open_streams,
              absl::Duration one_response_within = absl::ZeroDuration());
  ~EventStream();  // frees the stream's place under max_sse_subscribers
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  const std::string& session_id() const { return session_id_; }
  Subscription& subscription() { return *subscription_; }

  // The SSE frames of `events` (see StreamFramer::Frames). For the Managed Agents stream:
  // `event: <type>\nid: <id>\ndata: <json>\n\n` per event it shows, ended after
  // session.status_terminated.
  std::string Frames(const std::vector<Event>& events, bool* ended) { return framer_->Frames(events, ended); }
  std::string ErrorFrame(const absl::Status& status) { return framer_->ErrorFrame(status); }
  std::string Unfinished() { return framer_->Unfinished(); }
  std::string Keepalive(bool* ended) { return framer_->Keepalive(ended); }
  bool one_response() const { return one_response_within_ > absl::ZeroDuration(); }
  absl::Duration one_response_within() const { return one_response_within_; }

 private:
  const std::string session_id_;
  std::unique_ptr<Subscription> subscription_;
  std::unique_ptr<StreamFramer> framer_;
  std::shared_ptr<std::atomic<size_t>> open_streams_;
  const absl::Duration one_response_within_;
};

struct ApiResponse {
  int status = 200;
  std::string body;                                          // JSON (unless `stream`)
  std::vector<std::pair<std::string, std::string>> headers;  // beyond content-type, e.g. "allow"
  std::unique_ptr<EventStream> stream;  // set: a 200 text/event-stream (or, one_response(), a later JSON answer)
  // For the request's log line and metrics.
  std::string route;  // the matched route's template ("/v1/sessions/{id}/events"); "" when none matched
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
  // When set, every request needs a key `api_keys` accepts (not owned; outlives the handler), and
  // works in the key's workspace: what it creates is that workspace's, and it sees only that
  // workspace's agents, environments, vaults (and their credentials) and sessions (and their events,
  // streams and A2A endpoints): another workspace's id is answered exactly as a missing one (404),
  // lists leave them out. An open event stream ends (an `error` frame, authentication_error) at its
  // next event or keepalive once its key is revoked. Unset: one workspace, "default". GET /metrics is the
  // server's, not a workspace's.
  bool require_api_key = false;
  const ApiKeyStore* api_keys = nullptr;
  size_t max_sse_subscribers = 1024;
};

class A2aEndpoint;

class ApiHandler {
 public:
  ApiHandler(Engine* engine, ApiOptions options);
  ~ApiHandler();

  ApiResponse Handle(const ApiRequest& request);

 private:
  class Call;  // one request being handled

  Engine* const engine_;
  const ApiOptions options_;
  std::shared_ptr<std::atomic<size_t>> open_streams_;
  std::unique_ptr<A2aEndpoint> a2a_;  // the A2A routes (a2a.h)
};

}  // namespace wake::server_internal
