#include "tests/server/http_client.h"

#include <curl/curl.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace wake::testing {
namespace {

void GlobalInit() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t RecordHeader(char* data, size_t size, size_t n, void* out) {
  std::string_view line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name = absl::AsciiStrToLower(std::string(line.substr(0, colon)));
    std::string value(absl::StripAsciiWhitespace(std::string(line.substr(colon + 1))));
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

struct Upload {
  std::string_view body;
  size_t offset = 0;
  size_t piece = 0;
};

size_t ReadPiece(char* buffer, size_t size, size_t n, void* in) {
  Upload* upload = static_cast<Upload*>(in);
  const size_t take = std::min({size * n, upload->piece, upload->body.size() - upload->offset});
  std::memcpy(buffer, upload->body.data() + upload->offset, take);
  upload->offset += take;
  return take;
}

HttpResponse Perform(CURL* curl, curl_slist* list) {
  HttpResponse response;
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, RecordHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  } else {
    response.error = curl_easy_strerror(code);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return response;
}

curl_slist* HeaderList(const std::vector<std::string>& headers, bool json) {
  curl_slist* list = nullptr;
  bool has_type = false;
  for (const std::string& h : headers) {
    list = curl_slist_append(list, h.c_str());
    has_type = has_type || absl::StartsWithIgnoreCase(h, "content-type:");
  }
  if (json && !has_type) list = curl_slist_append(list, "content-type: application/json");
  return list;
}

}  // namespace

simdjson::dom::element HttpResponse::json() const {
  if (!parser_) {
    parser_ = std::make_shared<simdjson::dom::parser>();
    if (parser_->parse(body).get(json_) != simdjson::SUCCESS) json_ = simdjson::dom::element();
  }
  return json_;
}

std::string HttpResponse::Str(std::string_view pointer) const {
  std::string_view s;
  if (json().at_pointer(pointer).get(s) != simdjson::SUCCESS) return "";
  return std::string(s);
}

int64_t HttpResponse::Int(std::string_view pointer) const {
  int64_t n = 0;
  if (json().at_pointer(pointer).get(n) != simdjson::SUCCESS) return -1;
  return n;
}

bool HttpResponse::IsNull(std::string_view pointer) const {
  simdjson::dom::element e;
  return json().at_pointer(pointer).get(e) == simdjson::SUCCESS && e.is_null();
}

size_t HttpResponse::Size(std::string_view pointer) const {
  simdjson::dom::array a;
  if (json().at_pointer(pointer).get(a) != simdjson::SUCCESS) return 0;
  return a.size();
}

HttpResponse HttpClient::Call(const std::string& method, const std::string& path, const std::string& body,
                              const std::vector<std::string>& headers) const {
  GlobalInit();
  CURL* curl = curl_easy_init();
  const std::string url = base_ + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty() || method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  return Perform(curl, HeaderList(headers, !body.empty()));
}

HttpResponse HttpClient::PostChunked(const std::string& path, const std::string& body, size_t piece) const {
  GlobalInit();
  CURL* curl = curl_easy_init();
  const std::string url = base_ + path;
  Upload upload{body, 0, piece};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "POST");
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadPiece);
  curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
  return Perform(curl, HeaderList({"transfer-encoding: chunked", "expect:"}, true));
}

// ---------------------------------------------------------------------------------------------------

SseClient::SseClient(const std::string& url, const std::vector<std::string>& headers) {
  GlobalInit();
  thread_ = std::thread([this, url, headers] {
    CURL* curl = curl_easy_init();
    curl_slist* list = HeaderList(headers, false);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnData);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, this);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    MutexLock lock(&mu_);
    if (status_ == 0) status_ = status;
    head_ = true;
    ended_ = true;
    mu_.SignalAll();
  });
}

SseClient::~SseClient() { Stop(); }

void SseClient::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

size_t SseClient::OnHeader(char* data, size_t size, size_t n, void* self_ptr) {
  SseClient* self = static_cast<SseClient*>(self_ptr);
  absl::string_view line(data, size * n);
  MutexLock lock(&self->mu_);
  if (absl::StartsWith(line, "HTTP/")) {
    std::vector<std::string> parts = absl::StrSplit(std::string(line), ' ');
    if (parts.size() >= 2) self->status_ = std::stol(parts[1]);
  } else if (line == "\r\n" || line == "\n") {
    self->head_ = true;
    self->mu_.SignalAll();
  }
  return size * n;
}

size_t SseClient::OnData(char* data, size_t size, size_t n, void* self_ptr) {
  SseClient* self = static_cast<SseClient*>(self_ptr);
  MutexLock lock(&self->mu_);
  if (self->stop_) return 0;  // aborts the transfer
  self->pending_.append(data, size * n);
  self->raw_.append(data, size * n);
  self->Parse();
  self->mu_.SignalAll();
  return size * n;
}

int SseClient::OnProgress(void* self_ptr, long, long, long, long) {
  SseClient* self = static_cast<SseClient*>(self_ptr);
  MutexLock lock(&self->mu_);
  return self->stop_ ? 1 : 0;
}

void SseClient::Parse() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  while (true) {
    const size_t end = pending_.find("\n\n");
    if (end == std::string::npos) return;
    const std::string block = pending_.substr(0, end);
    pending_.erase(0, end + 2);
    Frame frame;
    bool comment_only = true;
    for (absl::string_view line : absl::StrSplit(block, '\n')) {
      if (absl::StartsWith(line, ":")) {
        ++comments_;
        continue;
      }
      comment_only = false;
      const size_t colon = line.find(':');
      const std::string field(line.substr(0, colon));
      std::string value = colon == absl::string_view::npos ? "" : std::string(line.substr(colon + 1));
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (field == "event") frame.event = value;
      if (field == "id") frame.id = value;
      if (field == "data") frame.data += value;
    }
    if (!comment_only) frames_.push_back(std::move(frame));
  }
}

long SseClient::WaitForHead(absl::Duration timeout) {
  MutexLock lock(&mu_);
  mu_.AwaitWithDeadline([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return head_; }, absl::Now() + timeout);
  return head_ ? status_ : 0;
}

bool SseClient::WaitFor(const std::function<bool(const std::vector<Frame>&)>& done, absl::Duration timeout) {
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return done(frames_) || ended_; },
                               absl::Now() + timeout) &&
         done(frames_);
}

bool SseClient::WaitForEvent(const std::string& event, absl::Duration timeout) {
  return WaitFor(
      [&](const std::vector<Frame>& frames) {
        for (const Frame& f : frames) {
          if (f.event == event) return true;
        }
        return false;
      },
      timeout);
}

bool SseClient::WaitForComments(size_t count, absl::Duration timeout) {
  MutexLock lock(&mu_);
  mu_.AwaitWithDeadline([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return comments_ >= count || ended_; },
                        absl::Now() + timeout);
  return comments_ >= count;
}

bool SseClient::WaitForEnd(absl::Duration timeout) {
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return ended_; }, absl::Now() + timeout);
}

std::vector<SseClient::Frame> SseClient::frames() const {
  MutexLock lock(&mu_);
  return frames_;
}

std::string SseClient::body() const {
  MutexLock lock(&mu_);
  return raw_;
}

}  // namespace wake::testing
