#pragma once
// Client: wake's own client of waked's HTTP API (the Managed Agents session API, server/server.h),
// on libcurl. For wake's programs that talk to a running server (the demo session of
// scripts/run.sh; later `wakectl --url`); platforms use the official SDKs instead.
//
// Requests carry the API key as `x-api-key` and the `anthropic-beta` header the SDKs send. A
// response outside 2xx becomes a Status whose code follows the HTTP status (400 InvalidArgument, 401
// Unauthenticated, 403 PermissionDenied, 404 NotFound, 409 Aborted, 413 and 429 ResourceExhausted,
// 503 Unavailable, other 5xx Internal) and whose message is "HTTP <status> <error.type>: <message>"
// from the error envelope; a transfer that fails (no server, timeout) is Unavailable.
//
// Thread-compatible: one Client may be used from several threads at once (each call has its own
// transfer), but it holds no connection between calls.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/cancel.h"
#include "base/sse_parser.h"

namespace wake {

struct ClientOptions {
  std::string base_url;  // "http://127.0.0.1:8080"; a trailing slash is ignored
  std::string api_key;   // "" sends none
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration request_timeout = absl::Seconds(60);  // a whole non-streaming request
  // A stream that delivers nothing (not even the server's keep-alive comments) for this long is
  // dropped as stalled: Unavailable.
  absl::Duration stream_idle_timeout = absl::Seconds(60);
};

class Client {
 public:
  // InvalidArgument for a base URL that is not http(s)://...
  static absl::StatusOr<Client> Create(ClientOptions options);

  // A JSON request to `path` ("/v1/sessions?limit=5"); the response body on 2xx.
  absl::StatusOr<std::string> Get(std::string_view path) const;
  absl::StatusOr<std::string> Post(std::string_view path, std::string_view json) const;
  absl::StatusOr<std::string> Delete(std::string_view path) const;

  // Follows a session's event stream (GET /v1/sessions/{id}/events/stream) from just after the
  // event `after_event_id` ("" = from the session's head when the stream opens). Calls `on_event`
  // for each frame (event type, id, JSON data) in order. Returns OK when `on_event` returned false
  // or the server ended the stream; an error otherwise (the stream could not be opened, was cut, or
  // stalled) or Cancelled once `cancel` (optional) is raised, within about 100 ms even while the
  // stream is quiet. Resuming is the caller's: call again with the id of the last event it saw.
  // With `include_internal`, wake's own events (wake.*) are in the stream too, so it holds every
  // event of the log.
  absl::Status StreamEvents(std::string_view session_id, std::string_view after_event_id,
                            absl::FunctionRef<bool(const SseEvent&)> on_event, const CancelToken* cancel = nullptr,
                            bool include_internal = false) const;

  const ClientOptions& options() const { return options_; }

 private:
  explicit Client(ClientOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::string> Call(std::string_view method, std::string_view path, std::string_view body) const;

  ClientOptions options_;
};

// The Status for an HTTP answer outside 2xx with `body` (an error envelope, or anything else).
absl::Status StatusFromHttp(long http_status, std::string_view body);

}  // namespace wake
