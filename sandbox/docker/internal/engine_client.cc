#include "sandbox/docker/internal/engine_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/strings.h"
#include "simdjson.h"

namespace wake::docker_internal {
namespace {

constexpr std::string_view kApiPrefix = "http://docker/v1.41";
constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kMaxHead = 64 * 1024;

absl::Status GlobalInit() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) return absl::InternalError(absl::StrCat("curl_global_init: ", curl_easy_strerror(code)));
  return absl::OkStatus();
}

long Millis(absl::Duration d) { return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d))); }

std::string Endpoint(std::string_view method, std::string_view target) {
  // The query can be long (filters) and says little; the path names the endpoint.
  return absl::StrCat(ToAbsl(method), " ", ToAbsl(target.substr(0, target.find('?'))));
}

absl::Status Unreachable(const std::string& socket_path, std::string_view method, std::string_view target,
                         std::string_view why) {
  return absl::UnavailableError(absl::StrCat("docker daemon at ", socket_path, ": ", Endpoint(method, target),
                                             ": ", ToAbsl(why)));
}

// This thread's easy handle for plain requests.
struct ThreadEasy {
  CURL* easy = nullptr;
  ~ThreadEasy() {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

absl::StatusOr<CURL*> ThisThreadEasy() {
  thread_local ThreadEasy handle;
  if (handle.easy == nullptr) {
    handle.easy = curl_easy_init();
    if (handle.easy == nullptr) return absl::InternalError("cannot create a curl handle");
  } else {
    curl_easy_reset(handle.easy);
  }
  return handle.easy;
}

struct EasyCleanup {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

struct CallState {
  CURL* easy = nullptr;
  size_t max_body = 0;
  EngineResponse response;
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<CallState*>(user);
  const size_t bytes = size * count;
  std::string_view line(data, bytes);
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos &&
      absl::EqualsIgnoreCase(ToAbsl(line.substr(0, colon)), "X-Docker-Container-Path-Stat")) {
    state->response.path_stat = std::string(absl::StripAsciiWhitespace(ToAbsl(line.substr(colon + 1))));
  }
  return bytes;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<CallState*>(user);
  const size_t bytes = size * count;
  long status = 0;
  curl_easy_getinfo(state->easy, CURLINFO_RESPONSE_CODE, &status);
  std::string& body = state->response.body;
  if (status >= 200 && status < 300) {
    if (body.size() + bytes > state->max_body) {
      body.append(data, state->max_body - body.size());
      state->response.body_limited = true;
      return 0;  // stops the transfer (CURLE_WRITE_ERROR), which the caller expects
    }
    body.append(data, bytes);
  } else if (body.size() < kMaxErrorBody) {
    body.append(data, std::min(bytes, kMaxErrorBody - body.size()));
  }
  return bytes;
}

class CurlRawStream : public RawStream {
 public:
  CurlRawStream(CURL* easy, curl_socket_t fd) : easy_(easy), fd_(fd) {}
  ~CurlRawStream() override { curl_easy_cleanup(easy_); }

  // Bytes read past the response head belong to the stream.
  void SetPending(std::string pending) { pending_ = std::move(pending); }

  absl::StatusOr<Ready> Wait(bool want_write, absl::Duration timeout) override {
    Ready ready;
    if (!pending_.empty()) {
      ready.readable = true;
      return ready;
    }
    pollfd p{fd_, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
    const int ms = static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(timeout), 0, 60'000));
    const int n = poll(&p, 1, ms);
    if (n < 0) {
      if (errno == EINTR) return ready;
      return absl::InternalError(absl::StrCat("poll on the docker exec stream: ", std::strerror(errno)));
    }
    ready.readable = (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    ready.writable = (p.revents & (POLLOUT | POLLERR)) != 0;
    return ready;
  }

  absl::StatusOr<size_t> Read(char* buffer, size_t size, bool* eof) override {
    *eof = false;
    if (!pending_.empty()) {
      const size_t n = std::min(size, pending_.size());
      std::memcpy(buffer, pending_.data(), n);
      pending_.erase(0, n);
      return n;
    }
    size_t n = 0;
    const CURLcode code = curl_easy_recv(easy_, buffer, size, &n);
    if (code == CURLE_AGAIN) return 0;
    if (code != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat("docker exec stream broke: ", curl_easy_strerror(code)));
    }
    if (n == 0) *eof = true;
    return n;
  }

  absl::StatusOr<size_t> Write(std::string_view data) override {
    size_t n = 0;
    const CURLcode code = curl_easy_send(easy_, data.data(), data.size(), &n);
    if (code == CURLE_AGAIN) return 0;
    if (code != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat("docker exec stream: stdin not accepted: ", curl_easy_strerror(code)));
    }
    return n;
  }

  void CloseWrite() override { shutdown(fd_, SHUT_WR); }

  int DetachFd(std::string* pending) override {
    *pending = std::move(pending_);
    pending_.clear();
    return fcntl(fd_, F_DUPFD_CLOEXEC, 3);
  }

 private:
  CURL* const easy_;
  const curl_socket_t fd_;
  std::string pending_;
};

int RemainingMs(absl::Time deadline) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(deadline - absl::Now()), 0, 60'000));
}

}  // namespace

EngineClient::EngineClient(std::string socket_path, absl::Duration default_timeout)
    : socket_path_(std::move(socket_path)), default_timeout_(default_timeout) {}

absl::StatusOr<EngineResponse> EngineClient::Call(std::string_view method, std::string_view target,
                                                  std::string_view body, const CallOptions& options) const {
  if (absl::Status s = GlobalInit(); !s.ok()) return s;
  absl::StatusOr<CURL*> handle = ThisThreadEasy();
  if (!handle.ok()) return handle.status();
  CURL* const easy = *handle;

  const std::string url = absl::StrCat(ToAbsl(kApiPrefix), ToAbsl(target));
  curl_slist* raw_headers = curl_slist_append(nullptr, "Expect:");  // no 100-continue round trip
  if (!body.empty() || method == "POST" || method == "PUT") {
    raw_headers = curl_slist_append(raw_headers, absl::StrCat("Content-Type: ", ToAbsl(options.content_type)).c_str());
  }
  std::unique_ptr<curl_slist, SlistDeleter> headers(raw_headers);

  CallState state;
  state.easy = easy;
  state.max_body = options.max_body;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const absl::Duration timeout = options.timeout > absl::ZeroDuration() ? options.timeout : default_timeout_;
  curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, Millis(timeout));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, Millis(std::min(timeout, absl::Seconds(10))));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &state);
  if (method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
  }
  if (method == "POST" || method == "PUT" || !body.empty()) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }

  const CURLcode code = curl_easy_perform(easy);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &state.response.status);
  // The handle outlives this frame (the next Call resets it): it must not keep a pointer into it.
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
  if (code == CURLE_WRITE_ERROR && state.response.body_limited) return std::move(state.response);
  if (code != CURLE_OK) {
    const std::string detail = error_buffer[0] != '\0' ? std::string(error_buffer) : curl_easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT) {
      return Unreachable(socket_path_, method, target,
                         absl::StrCat("no complete response within ", absl::FormatDuration(timeout), " (", detail, ")"));
    }
    return Unreachable(socket_path_, method, target, detail);
  }
  return std::move(state.response);
}

absl::StatusOr<Upgraded> EngineClient::Upgrade(std::string_view target, std::string_view json_body,
                                               absl::Time deadline) const {
  if (absl::Status s = GlobalInit(); !s.ok()) return s;
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return absl::InternalError("cannot create a curl handle");
  std::unique_ptr<CURL, EasyCleanup> owned(easy);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
  curl_easy_setopt(easy, CURLOPT_URL, "http://docker/");
  curl_easy_setopt(easy, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, Millis(deadline - absl::Now()));
  if (CURLcode code = curl_easy_perform(easy); code != CURLE_OK) {
    return Unreachable(socket_path_, "POST", target, error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code));
  }
  curl_socket_t fd = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD) {
    return absl::InternalError("curl gave no socket for the docker exec stream");
  }
  auto raw = std::make_unique<CurlRawStream>(owned.release(), fd);

  const std::string request =
      absl::StrCat("POST /v1.41", ToAbsl(target),
                   " HTTP/1.1\r\nHost: docker\r\nUser-Agent: wake\r\nContent-Type: application/json\r\n"
                   "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: ",
                   json_body.size(), "\r\n\r\n", ToAbsl(json_body));
  std::string_view unsent = request;
  while (!unsent.empty()) {
    absl::StatusOr<size_t> n = raw->Write(unsent);
    if (!n.ok()) return Unreachable(socket_path_, "POST", target, FromAbsl(n.status().message()));
    unsent.remove_prefix(*n);
    if (unsent.empty()) break;
    if (absl::Now() >= deadline) return Unreachable(socket_path_, "POST", target, "timed out sending the request");
    pollfd p{fd, POLLOUT, 0};
    poll(&p, 1, RemainingMs(deadline));
  }

  // The response head, up to the blank line; what follows it is the stream's (or the error body).
  std::string head;
  size_t end = std::string::npos;
  char buffer[16 * 1024];
  bool eof = false;
  while ((end = head.find("\r\n\r\n")) == std::string::npos) {
    if (eof || head.size() > kMaxHead) {
      return Unreachable(socket_path_, "POST", target, "the daemon closed the connection or sent a malformed head");
    }
    absl::StatusOr<size_t> n = raw->Read(buffer, sizeof(buffer), &eof);
    if (!n.ok()) return Unreachable(socket_path_, "POST", target, FromAbsl(n.status().message()));
    head.append(buffer, *n);
    if (*n == 0 && !eof) {
      if (absl::Now() >= deadline) return Unreachable(socket_path_, "POST", target, "timed out awaiting the response");
      pollfd p{fd, POLLIN, 0};
      poll(&p, 1, RemainingMs(deadline));
    }
  }
  std::string rest = head.substr(end + 4);
  head.resize(end);

  Upgraded result;
  // "HTTP/1.1 101 UPGRADED"
  const size_t space = head.find(' ');
  if (space == std::string::npos ||
      !absl::SimpleAtoi(ToAbsl(std::string_view(head).substr(space + 1, 3)), &result.response.status)) {
    return Unreachable(socket_path_, "POST", target, absl::StrCat("malformed status line: ", head.substr(0, head.find('\r'))));
  }
  if (result.response.status == 101 || result.response.status == 200) {
    raw->SetPending(std::move(rest));
    result.stream = std::move(raw);
    return result;
  }
  // An error: its body (JSON, with a Content-Length) up to a bound; then the connection is dropped.
  size_t content_length = kMaxErrorBody;
  for (absl::string_view piece : absl::StrSplit(head, "\r\n")) {
    const std::string_view line = FromAbsl(piece);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && absl::EqualsIgnoreCase(ToAbsl(line.substr(0, colon)), "Content-Length")) {
      size_t n = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ToAbsl(line.substr(colon + 1))), &n)) {
        content_length = std::min(n, kMaxErrorBody);
      }
    }
  }
  while (rest.size() < content_length && !eof && absl::Now() < deadline) {
    absl::StatusOr<size_t> n = raw->Read(buffer, sizeof(buffer), &eof);
    if (!n.ok()) break;
    rest.append(buffer, *n);
    if (*n == 0 && !eof) {
      pollfd p{fd, POLLIN, 0};
      poll(&p, 1, RemainingMs(deadline));
    }
  }
  rest.resize(std::min(rest.size(), content_length));
  result.response.body = std::move(rest);
  return result;
}

std::string DaemonMessage(const EngineResponse& response) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(response.body);
  simdjson::dom::element root;
  std::string_view message;
  if (parser.parse(padded).get(root) == simdjson::SUCCESS && root["message"].get(message) == simdjson::SUCCESS) {
    return std::string(message);
  }
  return std::string(absl::StripAsciiWhitespace(response.body));
}

absl::Status DaemonError(std::string_view method, std::string_view target, const EngineResponse& response) {
  std::string message = absl::StrCat("docker daemon: ", Endpoint(method, target), ": HTTP ", response.status);
  if (std::string detail = DaemonMessage(response); !detail.empty()) absl::StrAppend(&message, ": ", detail);
  switch (response.status) {
    case 400: return absl::InvalidArgumentError(message);
    case 403: return absl::PermissionDeniedError(message);
    case 404: return absl::NotFoundError(message);
    case 409: return absl::FailedPreconditionError(message);
    case 503: return absl::UnavailableError(message);
    default: return absl::InternalError(message);
  }
}

std::string QueryEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

}  // namespace wake::docker_internal
