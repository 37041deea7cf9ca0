#pragma once
// Client: wake's own client of waked's HTTP API (the Managed Agents session API, server/server.h),
// on libcurl. For wake's programs that talk to a running server (the demo session of
// scripts/run.sh; later `wakectl --url`); platforms use the official SDKs instead.
//
// Requests carry the API key as `x-api-key` and the `anthropic-beta` header the SDKs send (and
// `anthropic-version` when ClientOptions::anthropic_version is set, as Anthropic's API requires). A
// response outside 2xx becomes a Status whose code follows the HTTP status (400 InvalidArgument, 401
// Unauthenticated, 403 PermissionDenied, 404 NotFound, 409 Aborted, 413 and 429 ResourceExhausted,
// 503 and 529 Unavailable, other 5xx Internal) and whose message is "HTTP <status> <error.type>: <message>"
// from the error envelope; a transfer that fails (no server, timeout) is Unavailable.
//
// Thread-compatible: one Client may be used from several threads at once (each call has its own
// transfer), but it holds no connection between calls.

#include <cstddef>
#include <functional>
#include <optional>
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
  // Sent as `anthropic-version` when not empty (Anthropic's API wants it; waked ignores it).
  std::string anthropic_version;
  // Answers 429, 503 and 529 (and a stream refused with one of them before it delivered anything)
  // are retried up to this many times, after the server's `retry-after` (seconds or an HTTP-date;
  // see ParseRetryAfter) when it sends one,
  // else after retry_base_delay doubled per attempt; never longer than max_retry_delay per wait.
  // 0 (the default): no retries, the answer is the caller's.
  int max_retries = 0;
  absl::Duration retry_base_delay = absl::Milliseconds(500);
  absl::Duration max_retry_delay = absl::Seconds(30);
};

// How to follow a session's event stream (Client::StreamSessionEvents).
struct EventStreamOptions {
  // From just after this event ("": from the session's head when the stream opens). Sent as
  // `last-event-id`, which waked honours; a server that does not only streams what comes next.
  std::string after_event_id;
  const CancelToken* cancel = nullptr;  // optional: raising it ends the stream within ~100 ms
  bool include_internal = false;        // wake's own events (wake.*) too
  // Called once, on the stream's thread, when the server has answered 200 (its headers are in) and
  // before any event: from then on, every event the session appends reaches `on_event`. May be empty.
  std::function<void()> on_open;
};

class Client {
 public:
  // InvalidArgument for a base URL that is not http(s)://...
  static absl::StatusOr<Client> Create(ClientOptions options);

  // A JSON request to `path` ("/v1/sessions?limit=5"); the response body on 2xx. Raising `cancel`
  // (optional) ends the request, or a wait before a retry, within about 100 ms: Cancelled.
  absl::StatusOr<std::string> Get(std::string_view path, const CancelToken* cancel = nullptr) const;
  absl::StatusOr<std::string> Post(std::string_view path, std::string_view json, const CancelToken* cancel = nullptr) const;
  absl::StatusOr<std::string> Delete(std::string_view path, const CancelToken* cancel = nullptr) const;

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

  // StreamEvents with every option (see EventStreamOptions).
  absl::Status StreamSessionEvents(std::string_view session_id, const EventStreamOptions& stream,
                                   absl::FunctionRef<bool(const SseEvent&)> on_event) const;

  const ClientOptions& options() const { return options_; }

 private:
  explicit Client(ClientOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::string> Call(std::string_view method, std::string_view path, std::string_view body,
                                   const CancelToken* cancel) const;
  // One attempt of StreamSessionEvents; `refused_with` is set to a retryable HTTP status (429, 503,
  // 529) the server answered instead of a stream, with its `retry-after`.
  absl::Status StreamOnce(std::string_view session_id, const EventStreamOptions& stream,
                          absl::FunctionRef<bool(const SseEvent&)> on_event,
                          std::optional<absl::Duration>& retry_after, long& refused_with) const;

  ClientOptions options_;
};

// The wait a `retry-after` header's value asks for at `now`: delay-seconds ("30", "1.5") or an
// HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT"; one already past is no wait). nullopt for anything else.
std::optional<absl::Duration> ParseRetryAfter(std::string_view value, absl::Time now);

// The Status for an HTTP answer outside 2xx with `body` (an error envelope, or anything else).
absl::Status StatusFromHttp(long http_status, std::string_view body);

}  // namespace wake
