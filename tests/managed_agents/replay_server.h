#pragma once
// ReplayServer: a small HTTP/1.1 server on 127.0.0.1 (port 0) that answers each request with the
// next canned response queued for its method and path, byte for byte, and records every request.
// For the managed-agents hand's failure tests: a stream cut mid-body (the declared length is never
// reached), a stream that stays open and only pings, 429/529 answers with retry-after.
//
// One thread per connection, one request per connection (`connection: close`). Thread-safe.

#include <atomic>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/sync.h"

namespace wake::testing {

struct CannedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond content-type and length
  std::string content_type = "application/json";
  std::string body;
  enum class End {
    kComplete,  // content-length is the body's: a well-formed answer
    kCut,       // content-length promises more than the body, then the connection closes
    kPinging,   // no length: the body, then an SSE comment every 20 ms until the server stops
    kNever,     // no answer at all: the request is recorded, then nothing until the client hangs up
  };
  End end = End::kComplete;
};

struct RecordedRequest {
  std::string method;
  std::string target;  // path and query
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

class ReplayServer {
 public:
  ReplayServer();
  ~ReplayServer();  // Stop()
  int port() const { return port_; }
  std::string url() const;

  // Queues `response` for `method` and `path` (the target without its query). The last response of
  // a queue answers every later request too.
  void Add(const std::string& method, const std::string& path, CannedResponse response);
  std::vector<RecordedRequest> requests() const;
  // How many requests `method` `path` got.
  int Count(const std::string& method, const std::string& path) const;
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable Mutex mu_;
  std::map<std::string, std::deque<CannedResponse>> routes_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

// The SSE body of `events`: each a JSON object (a Managed Agents event), framed as
// "event: <its type>\ndata: <json>\n\n" the way Anthropic's streaming endpoints frame events.
std::string SseBody(const std::vector<std::string>& events);

// The test data file `name` (tests/managed_agents/testdata/), whole.
std::string TestData(const std::string& name);
// The JSON objects of a JSONL test data file, one per non-empty line.
std::vector<std::string> TestDataLines(const std::string& name);

}  // namespace wake::testing
