#include "client/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/strings.h"
#include "simdjson.h"

namespace wake {
namespace {

constexpr std::string_view kBetaHeader = "anthropic-beta: managed-agents-2026-04-01";

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

long Millis(absl::Duration d) { return static_cast<long>(absl::ToInt64Milliseconds(d)); }

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct HeaderListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
using HeaderList = std::unique_ptr<curl_slist, HeaderListDeleter>;

// A handle set up for one request to `url` with the client's headers.
struct Transfer {
  CurlHandle curl;
  HeaderList headers;
  // On the heap: curl keeps the pointer, and a Transfer moves.
  std::unique_ptr<char[]> error = std::make_unique<char[]>(CURL_ERROR_SIZE);
};

absl::StatusOr<Transfer> NewTransfer(const ClientOptions& options, std::string_view method, const std::string& url,
                                     bool json_body) {
  GlobalInitOnce();
  Transfer t;
  t.curl.reset(curl_easy_init());
  if (!t.curl) return absl::InternalError("curl_easy_init failed");
  curl_slist* list = nullptr;
  auto add = [&list](const std::string& line) { list = curl_slist_append(list, line.c_str()); };
  if (!options.api_key.empty()) add(absl::StrCat("x-api-key: ", options.api_key));
  add(std::string(kBetaHeader));
  if (!options.anthropic_version.empty()) add(absl::StrCat("anthropic-version: ", options.anthropic_version));
  if (json_body) add("content-type: application/json");
  add("expect:");  // no 100-continue round trip for small bodies
  t.headers.reset(list);
  CURL* c = t.curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, t.headers.get());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, Millis(options.connect_timeout));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t.error.get());
  return t;
}

size_t AppendToString(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// What the response headers tell: a `retry-after` in seconds, and whether they are complete.
struct ResponseHeaders {
  std::optional<absl::Duration> retry_after;
  bool complete = false;                 // the blank line after a final (non-1xx) status's headers
  std::function<void()>* on_complete = nullptr;  // called once, when they are
  CURL* curl = nullptr;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<ResponseHeaders*>(user);
  const std::string_view line(data, size * n);
  if (line == "\r\n" || line == "\n") {
    long status = 0;
    curl_easy_getinfo(headers->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && !headers->complete) {
      headers->complete = true;
      if (status == 200 && headers->on_complete != nullptr && *headers->on_complete) (*headers->on_complete)();
    }
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos && absl::EqualsIgnoreCase(ToAbsl(line.substr(0, colon)), "retry-after")) {
    headers->retry_after = ParseRetryAfter(line.substr(colon + 1), absl::Now());
  }
  return size * n;
}

// Sleeps for `delay`, waking every 20 ms to look at `cancel`: false when it was raised (at once).
bool SleepUnlessCancelled(absl::Duration delay, const CancelToken* cancel) {
  const absl::Time until = absl::Now() + delay;
  while (true) {
    if (cancel != nullptr && cancel->cancelled()) return false;
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(cancel == nullptr ? left : std::min(left, absl::Milliseconds(20)));
  }
}

// libcurl calls this about every 100 ms of a transfer, a quiet one too: a raised token aborts it.
int AbortWhenCancelled(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancel = static_cast<const CancelToken*>(user);
  return cancel != nullptr && cancel->cancelled() ? 1 : 0;
}

bool IsRetryableHttp(long status) { return status == 429 || status == 503 || status == 529; }

// How long to wait before retry `attempt` (0-based) after an answer that said `retry_after`.
absl::Duration RetryDelay(const ClientOptions& options, int attempt, std::optional<absl::Duration> retry_after) {
  absl::Duration delay = retry_after ? *retry_after : options.retry_base_delay * (int64_t{1} << std::min(attempt, 16));
  return std::min(delay, options.max_retry_delay);
}

absl::Status TransferFailed(const Transfer& t, CURLcode code, std::string_view url) {
  const std::string detail = t.error[0] != '\0' ? std::string(t.error.get()) : std::string(curl_easy_strerror(code));
  return absl::UnavailableError(absl::StrCat("request to ", ToAbsl(url), " failed: ", detail));
}

absl::StatusCode CodeForHttp(long status) {
  switch (status) {
    case 400: return absl::StatusCode::kInvalidArgument;
    case 401: return absl::StatusCode::kUnauthenticated;
    case 403: return absl::StatusCode::kPermissionDenied;
    case 404: return absl::StatusCode::kNotFound;
    case 409: return absl::StatusCode::kAborted;
    case 413:
    case 429: return absl::StatusCode::kResourceExhausted;
    case 503:
    case 529: return absl::StatusCode::kUnavailable;  // Anthropic's "overloaded": retry later
    default: return status >= 500 ? absl::StatusCode::kInternal : absl::StatusCode::kUnknown;
  }
}

}  // namespace

absl::Status StatusFromHttp(long http_status, std::string_view body) {
  std::string type;
  std::string message;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) == simdjson::SUCCESS) {
    std::string_view value;
    if (root.at_pointer("/error/type").get(value) == simdjson::SUCCESS) type = std::string(value);
    if (root.at_pointer("/error/message").get(value) == simdjson::SUCCESS) message = std::string(value);
  }
  if (message.empty()) message = body.size() > 200 ? absl::StrCat(ToAbsl(body.substr(0, 200)), "...") : std::string(body);
  return absl::Status(CodeForHttp(http_status),
                      absl::StrCat("HTTP ", http_status, type.empty() ? "" : " ", type, ": ", message));
}

absl::StatusOr<Client> Client::Create(ClientOptions options) {
  while (absl::EndsWith(options.base_url, "/")) options.base_url.pop_back();
  if (!absl::StartsWith(options.base_url, "http://") && !absl::StartsWith(options.base_url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("the server URL must start with http:// or https://, not \"", options.base_url, "\""));
  }
  return Client(std::move(options));
}

std::optional<absl::Duration> ParseRetryAfter(std::string_view value, absl::Time now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  double seconds = 0;
  if (absl::SimpleAtod(ToAbsl(value), &seconds)) {
    if (seconds >= 0 && std::isfinite(seconds)) return absl::Seconds(seconds);
    return std::nullopt;
  }
  // An HTTP-date, in its preferred form (RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"); a
  // moment already past means "now".
  absl::Time at;
  std::string error;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", ToAbsl(value), absl::UTCTimeZone(), &at, &error)) {
    return std::max(at - now, absl::ZeroDuration());
  }
  return std::nullopt;
}

absl::StatusOr<std::string> Client::Get(std::string_view path, const CancelToken* cancel) const {
  return Call("GET", path, "", cancel);
}
absl::StatusOr<std::string> Client::Post(std::string_view path, std::string_view json, const CancelToken* cancel) const {
  return Call("POST", path, json, cancel);
}
absl::StatusOr<std::string> Client::Delete(std::string_view path, const CancelToken* cancel) const {
  return Call("DELETE", path, "", cancel);
}

absl::StatusOr<std::string> Client::Call(std::string_view method, std::string_view path, std::string_view body,
                                         const CancelToken* cancel) const {
  const std::string url = absl::StrCat(options_.base_url, ToAbsl(path));
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<Transfer> t = NewTransfer(options_, method, url, method == "POST");
    if (!t.ok()) return t.status();
    CURL* c = t->curl.get();
    std::string response;
    if (method == "POST") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    ResponseHeaders headers;
    headers.curl = c;
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, Millis(options_.request_timeout));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &AppendToString);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
    if (cancel != nullptr) {
      curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &AbortWhenCancelled);
      curl_easy_setopt(c, CURLOPT_XFERINFODATA, cancel);
      curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    const CURLcode code = curl_easy_perform(c);
    if (cancel != nullptr && cancel->cancelled()) return absl::CancelledError(absl::StrCat(ToAbsl(method), " ", ToAbsl(path), " was cancelled"));
    if (code != CURLE_OK) return TransferFailed(*t, code, url);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (IsRetryableHttp(status) && attempt < options_.max_retries) {
      if (!SleepUnlessCancelled(RetryDelay(options_, attempt, headers.retry_after), cancel)) {
        return absl::CancelledError(absl::StrCat(ToAbsl(method), " ", ToAbsl(path), " was cancelled while it waited to retry"));
      }
      continue;
    }
    if (status < 200 || status >= 300) return StatusFromHttp(status, response);
    return response;
  }
}

namespace {

// What a stream's write callback works with.
struct StreamState {
  CURL* curl = nullptr;
  SseParser parser;
  absl::FunctionRef<bool(const SseEvent&)>* on_event = nullptr;
  long status = 0;              // the HTTP status, once known
  std::string error_body;       // a non-200 answer's body
  bool stopped = false;         // on_event asked to stop
  absl::Status parse_error;     // the parser refused the bytes
  const CancelToken* cancel = nullptr;
};

// libcurl calls this about every 100 ms of a quiet transfer too: a raised token aborts it.
int OnStreamProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* state = static_cast<StreamState*>(user);
  return state->cancel != nullptr && state->cancel->cancelled() ? 1 : 0;
}

size_t OnStreamData(char* data, size_t size, size_t n, void* user) {
  auto* state = static_cast<StreamState*>(user);
  const size_t bytes = size * n;
  if (state->status == 0) curl_easy_getinfo(state->curl, CURLINFO_RESPONSE_CODE, &state->status);
  if (state->status != 200) {
    if (state->error_body.size() < 64 * 1024) state->error_body.append(data, bytes);
    return bytes;
  }
  absl::Status fed = state->parser.Feed(std::string_view(data, bytes), [state](const SseEvent& event) {
    if (!(*state->on_event)(event)) {
      state->stopped = true;
      return absl::CancelledError("stopped by the caller");
    }
    return absl::OkStatus();
  });
  if (!fed.ok()) {
    if (!state->stopped) state->parse_error = fed;
    return 0;  // aborts the transfer
  }
  return bytes;
}

}  // namespace

absl::Status Client::StreamEvents(std::string_view session_id, std::string_view after_event_id,
                                  absl::FunctionRef<bool(const SseEvent&)> on_event, const CancelToken* cancel,
                                  bool include_internal) const {
  EventStreamOptions stream;
  stream.after_event_id = std::string(after_event_id);
  stream.cancel = cancel;
  stream.include_internal = include_internal;
  return StreamSessionEvents(session_id, stream, on_event);
}

absl::Status Client::StreamSessionEvents(std::string_view session_id, const EventStreamOptions& stream,
                                         absl::FunctionRef<bool(const SseEvent&)> on_event) const {
  for (int attempt = 0;; ++attempt) {
    std::optional<absl::Duration> retry_after;
    long refused_with = 0;
    absl::Status done = StreamOnce(session_id, stream, on_event, retry_after, refused_with);
    if (refused_with == 0 || attempt >= options_.max_retries) return done;
    if (!SleepUnlessCancelled(RetryDelay(options_, attempt, retry_after), stream.cancel)) {
      return absl::CancelledError("the stream was cancelled");
    }
  }
}

absl::Status Client::StreamOnce(std::string_view session_id, const EventStreamOptions& stream,
                                absl::FunctionRef<bool(const SseEvent&)> on_event,
                                std::optional<absl::Duration>& retry_after, long& refused_with) const {
  const std::string_view after_event_id = stream.after_event_id;
  const CancelToken* cancel = stream.cancel;
  const bool include_internal = stream.include_internal;
  const std::string url = absl::StrCat(options_.base_url, "/v1/sessions/", ToAbsl(session_id), "/events/stream",
                                       include_internal ? "?include_internal=true" : "");
  absl::StatusOr<Transfer> t = NewTransfer(options_, "GET", url, false);
  if (!t.ok()) return t.status();
  CURL* c = t->curl.get();
  if (!after_event_id.empty()) {
    curl_slist* list = curl_slist_append(t->headers.release(), absl::StrCat("last-event-id: ", ToAbsl(after_event_id)).c_str());
    t->headers.reset(list);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  }
  StreamState state;
  state.curl = c;
  state.on_event = &on_event;
  state.cancel = cancel;
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnStreamProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &state);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnStreamData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &state);
  std::function<void()> on_open = stream.on_open;
  ResponseHeaders headers;
  headers.curl = c;
  headers.on_complete = &on_open;
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &headers);
  // The server sends a comment at least every keep-alive interval: silence beyond the idle timeout
  // means a stalled peer.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, Millis(options_.stream_idle_timeout) / 1000));
  const CURLcode code = curl_easy_perform(c);
  if (state.stopped) return absl::OkStatus();
  if (cancel != nullptr && cancel->cancelled()) return absl::CancelledError("the stream was cancelled");
  if (!state.parse_error.ok()) return state.parse_error;
  if (state.status == 0) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &state.status);
  if (state.status != 0 && state.status != 200) {
    if (IsRetryableHttp(state.status)) refused_with = state.status;
    retry_after = headers.retry_after;
    return StatusFromHttp(state.status, state.error_body);
  }
  if (code != CURLE_OK) return TransferFailed(*t, code, url);
  return absl::OkStatus();
}

}  // namespace wake
