#include "harness/internal/http_stream.h"

#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace wake::harness_internal {
namespace {

CURLcode GlobalInit() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return code;
}

// This thread's handles. The easy handle is added to the multi handle for each transfer, so the
// connection cache is the multi handle's and outlives curl_easy_reset.
struct ThreadCurl {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;

  ~ThreadCurl() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (multi != nullptr) curl_multi_cleanup(multi);
  }
};

absl::StatusOr<ThreadCurl*> ThisThreadCurl() {
  if (CURLcode code = GlobalInit(); code != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_global_init failed: ", curl_easy_strerror(code)));
  }
  thread_local ThreadCurl curl;
  if (curl.multi == nullptr) curl.multi = curl_multi_init();
  if (curl.easy == nullptr) {
    curl.easy = curl_easy_init();
  } else {
    curl_easy_reset(curl.easy);
  }
  if (curl.multi == nullptr || curl.easy == nullptr) return absl::InternalError("cannot create a curl handle");
  return &curl;
}

// The state one transfer's callbacks share. Lives on the stack of StreamingPost.
struct Transfer {
  Transfer(const HttpPost& p, absl::FunctionRef<absl::Status(std::string_view)> s) : post(p), sink(s) {}

  const HttpPost& post;
  absl::FunctionRef<absl::Status(std::string_view)> sink;
  CURL* easy = nullptr;
  HttpResult result;
  absl::Status sink_status;
  bool cancelled = false;
  absl::Time last_activity;
  std::optional<absl::Duration> retry_after_ms;  // from retry-after-ms, which wins
  std::optional<absl::Duration> retry_after_s;   // from retry-after
};

// A non-negative decimal number of `unit`s ("1", "1.5"), or nullopt.
std::optional<absl::Duration> ParseDelay(std::string_view value, absl::Duration unit) {
  double number = 0;
  if (!absl::SimpleAtod(ToAbsl(value), &number) || !(number >= 0) || number > 86400.0 * 1000) {
    return std::nullopt;
  }
  return number * unit;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  t->last_activity = absl::Now();
  std::string_view line(data, bytes);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, 5) == "HTTP/") {
    // A new response head (after a 1xx): forget what the previous one said.
    t->retry_after_ms.reset();
    t->retry_after_s.reset();
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return bytes;
  const std::string name = absl::AsciiStrToLower(ToAbsl(line.substr(0, colon)));
  const std::string_view value = FromAbsl(absl::StripAsciiWhitespace(ToAbsl(line.substr(colon + 1))));
  if (name == "retry-after-ms") {
    t->retry_after_ms = ParseDelay(value, absl::Milliseconds(1));
  } else if (name == "retry-after") {
    t->retry_after_s = ParseDelay(value, absl::Seconds(1));  // an HTTP-date is ignored
  }
  return bytes;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  t->last_activity = absl::Now();
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) {
    absl::Status s = t->sink(std::string_view(data, bytes));
    if (!s.ok()) {
      t->sink_status = std::move(s);
      return 0;  // CURLE_WRITE_ERROR: abort the transfer
    }
  } else if (t->result.error_body.size() < kMaxErrorBodyBytes) {
    t->result.error_body.append(data, std::min(bytes, kMaxErrorBodyBytes - t->result.error_body.size()));
  }
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->post.cancel != nullptr && t->post.cancel->cancelled()) {
    t->cancelled = true;
    return 1;  // CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

std::string_view DefaultUpstreamType(long status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 408: return "timeout_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

}  // namespace

absl::StatusOr<HttpResult> StreamingPost(const HttpPost& post,
                                         absl::FunctionRef<absl::Status(std::string_view)> body_sink) {
  if (post.cancel != nullptr && post.cancel->cancelled()) return absl::CancelledError("model request cancelled");
  absl::StatusOr<ThreadCurl*> handles = ThisThreadCurl();
  if (!handles.ok()) return handles.status();
  CURL* const easy = (*handles)->easy;
  CURLM* const multi = (*handles)->multi;

  curl_slist* raw_headers = nullptr;
  for (const std::string& header : post.headers) raw_headers = curl_slist_append(raw_headers, header.c_str());
  // No "Expect: 100-continue" round trip before large bodies.
  raw_headers = curl_slist_append(raw_headers, "Expect:");
  std::unique_ptr<curl_slist, SlistDeleter> headers(raw_headers);

  Transfer t(post, body_sink);
  t.easy = easy;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_URL, post.url.c_str());
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, post.body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post.body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "wake/0.1");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(post.connect_timeout))));
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &t);

  if (CURLMcode mc = curl_multi_add_handle(multi, easy); mc != CURLM_OK) {
    return absl::InternalError(absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(mc)));
  }
  t.last_activity = absl::Now();
  const int poll_ms = static_cast<int>(absl::ToInt64Milliseconds(kPollInterval));
  bool idle_timed_out = false;
  CURLMcode mc = CURLM_OK;
  while (true) {
    int running = 0;
    mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK || running == 0) break;
    if (post.cancel != nullptr && post.cancel->cancelled()) {
      t.cancelled = true;
      break;
    }
    if (absl::Now() - t.last_activity > post.idle_timeout) {
      idle_timed_out = true;
      break;
    }
    mc = curl_multi_poll(multi, nullptr, 0, poll_ms, nullptr);
    if (mc != CURLM_OK) break;
  }
  CURLcode code = CURLE_OK;
  bool finished = false;
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
      code = msg->data.result;
      finished = true;
    }
  }
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  // Removing an unfinished transfer closes its connection; a finished one goes back to the cache.
  curl_multi_remove_handle(multi, easy);

  if (t.cancelled || (finished && code == CURLE_ABORTED_BY_CALLBACK)) {
    return absl::CancelledError("model request cancelled");
  }
  if (!t.sink_status.ok()) return t.sink_status;
  if (idle_timed_out) {
    return absl::UnavailableError(absl::StrCat("no bytes from ", post.url, " for ",
                                               absl::FormatDuration(post.idle_timeout), " (idle timeout)"));
  }
  if (mc != CURLM_OK) return absl::UnavailableError(absl::StrCat("curl multi: ", curl_multi_strerror(mc)));
  if (!finished) return absl::InternalError("curl transfer ended without a result");
  if (code != CURLE_OK) {
    std::string detail = error_buffer[0] != '\0' ? std::string(error_buffer) : curl_easy_strerror(code);
    std::string message = absl::StrCat("POST ", post.url, ": ", detail);
    if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL) {
      return absl::InvalidArgumentError(message);  // configuration, not a transient failure
    }
    return absl::UnavailableError(message);
  }
  t.result.status = status;
  t.result.retry_after = t.retry_after_ms ? t.retry_after_ms : t.retry_after_s;
  return std::move(t.result);
}

absl::StatusOr<HttpResult> StreamingSsePost(const HttpPost& post, SseParser::Handler on_event) {
  SseParser parser;
  return StreamingPost(post, [&](std::string_view bytes) { return parser.Feed(bytes, on_event); });
}

absl::Status HttpErrorStatus(std::string_view provider, const HttpResult& result, std::string_view upstream_type,
                             std::string_view message) {
  const long s = result.status;
  const std::string_view type = upstream_type.empty() ? DefaultUpstreamType(s) : upstream_type;
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  if (s == 408 || s == 409 || s == 429 || s >= 500) {
    code = absl::StatusCode::kUnavailable;
  } else if (s == 401) {
    code = absl::StatusCode::kUnauthenticated;
  } else if (s == 403) {
    code = absl::StatusCode::kPermissionDenied;
  }
  std::string text = absl::StrCat(ToAbsl(provider), " returned HTTP ", s);
  if (!message.empty()) absl::StrAppend(&text, ": ", ToAbsl(message));
  return BrainError(code, type, text,
                    code == absl::StatusCode::kUnavailable ? result.retry_after : std::nullopt);
}

bool IsRetryableUpstreamType(std::string_view type) {
  return type == "overloaded_error" || type == "api_error" || type == "rate_limit_error" ||
         type == "timeout_error" || type == "server_error" || type == "rate_limit_exceeded" ||
         type == "service_unavailable";
}

absl::Status CheckHeaderValue(std::string_view what, std::string_view value) {
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(what), " holds a control character"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTimeouts(std::string_view what, absl::Duration connect_timeout, absl::Duration idle_timeout) {
  if (connect_timeout <= absl::ZeroDuration() || idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(what), ": connect_timeout and idle_timeout must be positive"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeBaseUrl(std::string_view what, std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  const bool http = url.substr(0, 7) == "http://" && url.size() > 7;
  const bool https = url.substr(0, 8) == "https://" && url.size() > 8;
  if (!http && !https) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(what), ": base_url must be an http:// or https:// URL, got \"", ToAbsl(url), "\""));
  }
  RETURN_IF_ERROR(CheckHeaderValue(what, url));
  return std::string(url);
}

}  // namespace wake::harness_internal
