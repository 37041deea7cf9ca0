#pragma once
// StreamingPost: one HTTP POST whose response body is handed to the caller piece by piece as it
// arrives (for server-sent events), on libcurl.
//
// Handles: one curl easy handle and one multi handle per thread (thread_local, reset between
// transfers), so a thread's connections stay alive from one model turn to the next (DESIGN.md: one
// curl handle per thread). curl_global_init runs once per process.
//
// Cancellation and the idle timeout: the transfer is driven by a curl_multi_poll loop that wakes at
// least every kPollInterval, and the CancelToken is checked in curl's progress callback
// (CURLOPT_XFERINFOFUNCTION) and on every wake, so a transfer blocked on a silent peer stops within
// about kPollInterval of Cancel() even when no byte arrives. (curl_easy_perform would call the
// progress callback only about once a second on a silent connection.)
//
// Thread-safe: each call uses its own thread's handles. Blocks the calling thread for the whole
// transfer: never call it on an Asio thread. REQUIRES: not called again, on the same thread, from
// inside a body sink (the thread's handles are in use).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "harness/brain.h"
#include "base/sse_parser.h"

namespace wake::harness_internal {

inline constexpr absl::Duration kPollInterval = absl::Milliseconds(20);

struct HttpPost {
  std::string url;
  std::vector<std::string> headers;  // "name: value"
  std::string body;
  absl::Duration connect_timeout = absl::Seconds(10);
  // The transfer fails Unavailable when no byte (header or body) arrives for this long.
  absl::Duration idle_timeout = absl::Seconds(120);
  const CancelToken* cancel = nullptr;  // may be null
};

struct HttpResult {
  long status = 0;  // the final HTTP status code
  // From `retry-after-ms` or `retry-after` (delay seconds; an HTTP-date is ignored).
  std::optional<absl::Duration> retry_after;
  // The body of a non-2xx response (its first kMaxErrorBodyBytes).
  std::string error_body;
};

inline constexpr size_t kMaxErrorBodyBytes = 64 * 1024;

// Sends `post`. The body of a 2xx response goes to `body_sink`, in order; a non-OK status from the
// sink aborts the transfer and is returned as is. Errors: Cancelled (the token fired), Unavailable
// (connection failures, resets, a body cut short, the idle timeout; upstream type "" since the
// provider said nothing), or the sink's status. A non-2xx response is not an error here: the caller
// reads HttpResult::status and error_body.
absl::StatusOr<HttpResult> StreamingPost(const HttpPost& post,
                                         absl::FunctionRef<absl::Status(std::string_view)> body_sink);

// StreamingPost with the response body decoded as server-sent events, each handed to `on_event` in
// order (the brains' common transfer). Errors as StreamingPost's.
absl::StatusOr<HttpResult> StreamingSsePost(const HttpPost& post, SseParser::Handler on_event);

// The Status for a non-2xx response (DESIGN.md's mapping for brains): 408, 409, 429, 5xx and 529 ->
// Unavailable (with the retry-after hint); 401 -> Unauthenticated; 403 -> PermissionDenied; other
// statuses -> InvalidArgument. `upstream_type` and `message` come from the provider's error
// envelope; when the envelope had no type, a conventional one is derived from the status
// ("rate_limit_error", "overloaded_error", "api_error", ...).
absl::Status HttpErrorStatus(std::string_view provider, const HttpResult& result, std::string_view upstream_type,
                             std::string_view message);

// True for upstream error types a retry may cure (mid-stream errors have no HTTP status).
bool IsRetryableUpstreamType(std::string_view type);

// For the brains' factories. InvalidArgument (naming `what`) when `value` holds a control character
// (it would end the header line).
absl::Status CheckHeaderValue(std::string_view what, std::string_view value);
// InvalidArgument unless both timeouts are positive.
absl::Status CheckTimeouts(std::string_view what, absl::Duration connect_timeout, absl::Duration idle_timeout);
// `url` without trailing slashes; InvalidArgument unless it is an http:// or https:// URL.
absl::StatusOr<std::string> NormalizeBaseUrl(std::string_view what, std::string_view url);

}  // namespace wake::harness_internal
