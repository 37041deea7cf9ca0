#pragma once
// FakeModelServer: a local HTTP/1.1 server that stands in for a model provider (Anthropic's Messages
// API, an OpenAI-compatible chat-completions server) in tests and benchmarks.
//
// It listens on 127.0.0.1, port 0 (the kernel picks one), accepts connections on its own thread
// and serves each connection on a thread of its own (HTTP keep-alive, so a client's connection
// reuse is exercised). Each request, whatever its target, takes the next scripted FakeResponse from
// a FIFO queue (an empty queue answers 500 with an Anthropic-shaped api_error) and is recorded
// (method, target, headers, body) for assertions.
//
// A response is written as its head, then each body chunk with its own socket write (TCP_NODELAY),
// so a test decides where SSE frames are cut. Framing: chunked transfer encoding (default) or
// connection-close delimited. Ending: complete; hang (the chunks are written, then the response
// never finishes: for cancellation and idle-timeout tests; it ends when the client disconnects or
// the server stops); or cut (the connection closes mid-body, before the terminating chunk).
//
// Tests wait on conditions (WaitForRequests, WaitForResponsesSent), never on sleeps. (libcurl
// clients honour http_proxy/no_proxy: a proxy set in the environment must exempt 127.0.0.1.)
//
// Thread-safe. Stop() (also run by the destructor) closes every connection, hanging ones included,
// and joins all threads.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wake::testing {

struct FakeResponse {
  enum class Framing { kChunked, kCloseDelimited };
  enum class Ending { kComplete, kHang, kCut };

  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // written as given
  std::vector<std::string> chunks;                           // one socket write each; empty ones are skipped
  Framing framing = Framing::kChunked;
  Ending ending = Ending::kComplete;
  // False: write nothing at all, not even the head (with kHang: a server that accepted the request
  // and went silent).
  bool send_head = true;
  // Waits this long after the head before the first chunk: a model's time to first token.
  absl::Duration first_chunk_delay = absl::ZeroDuration();
  // Waits this long between two chunks: a model's token rate, with one chunk per token (or per SSE
  // frame).
  absl::Duration chunk_interval = absl::ZeroDuration();

  // 200, content-type text/event-stream, `body` in chunks of `chunk_size` bytes (0: one chunk).
  static FakeResponse Sse(std::string_view body, size_t chunk_size = 0);
  // `status` with a JSON body (e.g. a provider's error envelope) in one chunk.
  static FakeResponse Json(int status, std::string_view body);
  // Reads the request and never answers.
  static FakeResponse Silent();
};

struct RecordedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in arrival order
  std::string body;
  absl::Time received_at;

  // The first value of header `name` (lower-case), or "" when absent.
  std::string Header(std::string_view name) const;
};

class FakeModelServer {
 public:
  // Binds 127.0.0.1:0 and starts serving. Unavailable when the socket cannot be set up.
  static absl::StatusOr<std::unique_ptr<FakeModelServer>> Start();
  ~FakeModelServer();

  FakeModelServer(const FakeModelServer&) = delete;
  FakeModelServer& operator=(const FakeModelServer&) = delete;

  uint16_t port() const;
  // "http://127.0.0.1:<port>", no trailing slash.
  std::string base_url() const;

  // Appends a response to the queue; requests take them in order.
  void Enqueue(FakeResponse response);
  // Instead of the queue, answers each request with responder(request) (called on the connection's
  // thread; must be thread-safe). For benchmarks with many concurrent sessions.
  void SetResponder(std::function<FakeResponse(const RecordedRequest&)> responder);

  // Every request received so far, in arrival order.
  std::vector<RecordedRequest> requests() const;
  // How many connections the server has accepted (keep-alive reuse keeps this at 1).
  size_t connections_accepted() const;
  // Blocks until at least `n` requests have been received.
  void WaitForRequests(size_t n) const;
  // Blocks until at least `n` responses have had their head and all their chunks written (a hanging
  // response is then hanging; a complete one may still be writing its terminating chunk).
  void WaitForResponsesSent(size_t n) const;

  // Closes the listener and every connection, and joins the server's threads. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit FakeModelServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `body` cut into pieces of `size` bytes (the last may be shorter). REQUIRES: size > 0.
std::vector<std::string> SplitEvery(std::string_view body, size_t size);
// `body` cut into pieces of 1..max_size bytes, sizes drawn from a generator seeded with `seed`.
std::vector<std::string> SplitRandomly(std::string_view body, uint64_t seed, size_t max_size);

// The contents of tests/harness/testdata/<file_name> (recorded provider streams). NotFound if absent.
absl::StatusOr<std::string> LoadRecordedStream(std::string_view file_name);

}  // namespace wake::testing
