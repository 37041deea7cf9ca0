#pragma once
// A small libcurl client for the server tests: plain requests, and an event stream read on a thread
// of its own. Talks to the real server over TCP; nothing here knows the server's internals.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "base/sync.h"
#include "simdjson.h"

namespace wake::testing {

struct HttpResponse {
  long status = 0;  // 0: the transfer failed (see error)
  std::string error;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-case

  // The body as JSON (parsed on first use); a null element when it is not JSON.
  simdjson::dom::element json() const;
  // The string / integer at a JSON pointer ("/data/0/id"); "" or -1 when absent or of another type.
  std::string Str(std::string_view pointer) const;
  int64_t Int(std::string_view pointer) const;
  bool IsNull(std::string_view pointer) const;
  size_t Size(std::string_view pointer) const;  // of the array at `pointer`; 0 when absent

 private:
  mutable std::shared_ptr<simdjson::dom::parser> parser_;
  mutable simdjson::dom::element json_;
};

class HttpClient {
 public:
  explicit HttpClient(std::string base_url) : base_(std::move(base_url)) {}

  // `headers` as "name: value" lines. A body is sent as is (content-type application/json unless a
  // header says otherwise).
  HttpResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                    const std::vector<std::string>& headers = {}) const;
  HttpResponse Get(const std::string& path) const { return Call("GET", path); }
  HttpResponse Post(const std::string& path, const std::string& body) const { return Call("POST", path, body); }

  // The request's body sent with chunked transfer encoding, in pieces of `piece` bytes (no
  // content-length, so the server only learns the size while reading).
  HttpResponse PostChunked(const std::string& path, const std::string& body, size_t piece) const;

  const std::string& base() const { return base_; }

 private:
  std::string base_;
};

// One server-sent events response, read on its own thread until Stop() or the server ends it.
class SseClient {
 public:
  struct Frame {
    std::string event;
    std::string id;
    std::string data;
  };

  SseClient(const std::string& url, const std::vector<std::string>& headers = {});
  ~SseClient();  // Stop()

  // Waits (up to `timeout`) for the response head; returns its status (0 when none came).
  long WaitForHead(absl::Duration timeout = absl::Seconds(30));
  // Waits (up to `timeout`) until `done(frames)` holds; returns whether it did.
  bool WaitFor(const std::function<bool(const std::vector<Frame>&)>& done, absl::Duration timeout = absl::Seconds(60));
  // Waits until a frame of `event` type has arrived; returns whether one did.
  bool WaitForEvent(const std::string& event, absl::Duration timeout = absl::Seconds(60));
  bool WaitForComments(size_t count, absl::Duration timeout = absl::Seconds(30));
  // Waits until the transfer is over (the server closed it).
  bool WaitForEnd(absl::Duration timeout = absl::Seconds(30));

  std::vector<Frame> frames() const;
  std::string body() const;  // for non-200 answers
  // Aborts the transfer and joins the thread.
  void Stop();

 private:
  static size_t OnData(char* data, size_t size, size_t n, void* self);
  static size_t OnHeader(char* data, size_t size, size_t n, void* self);
  static int OnProgress(void* self, long, long, long, long);
  void Parse();

  mutable Mutex mu_;
  long status_ ABSL_GUARDED_BY(mu_) = 0;
  bool head_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::string pending_ ABSL_GUARDED_BY(mu_);
  std::string raw_ ABSL_GUARDED_BY(mu_);
  std::vector<Frame> frames_ ABSL_GUARDED_BY(mu_);
  size_t comments_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace wake::testing
