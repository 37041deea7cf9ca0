#pragma once
// EngineClient: requests to a Docker Engine daemon over its unix socket with libcurl
// (CURLOPT_UNIX_SOCKET_PATH), at Engine API v1.41 (Docker 20.10, Debian's docker.io), and the
// upgraded ("hijacked") connection an exec's attached streams travel on.
//
// Every transfer is bounded: a plain request by its timeout (CURLOPT_TIMEOUT_MS), an upgrade by its
// deadline; a RawStream never blocks (the caller polls it with a timeout), so nothing here can hang
// on a silent daemon.
//
// Handles: a plain request uses its thread's curl easy handle (thread_local, reset between
// requests, so the connection to the daemon is reused); an upgraded connection cannot be reused
// and has an easy handle of its own, owned by its RawStream.
//
// Thread-safe: EngineClient is immutable; a RawStream is used by one thread at a time.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wake::docker_internal {

struct EngineResponse {
  long status = 0;
  // The response body: a 2xx body up to CallOptions::max_body, an error body up to 64 KiB.
  std::string body;
  bool body_limited = false;  // a 2xx body went past max_body and the transfer was stopped there
  // X-Docker-Container-Path-Stat (base64 of a JSON stat), sent by the archive endpoints.
  std::string path_stat;
};

struct CallOptions {
  std::string_view content_type = "application/json";  // of a request body
  absl::Duration timeout = absl::ZeroDuration();        // the whole transfer; zero: the client's default
  size_t max_body = size_t{64} << 20;                   // of a 2xx response; see body_limited
};

// A byte stream to the daemon after an HTTP upgrade (exec start): what the process writes arrives
// here (multiplexed when there is no TTY) and what is written here is the process's stdin.
// Non-blocking; one thread at a time.
class RawStream {
 public:
  virtual ~RawStream() = default;

  struct Ready {
    bool readable = false;  // Read would return data, EOF or an error
    bool writable = false;
  };
  // Waits up to `timeout` until the stream is readable (or writable, when `want_write`).
  virtual absl::StatusOr<Ready> Wait(bool want_write, absl::Duration timeout) = 0;
  // Reads what has arrived into `buffer`: the byte count, 0 when nothing is there yet. `eof` is set
  // when the daemon closed its side. Unavailable when the connection broke.
  virtual absl::StatusOr<size_t> Read(char* buffer, size_t size, bool* eof) = 0;
  // Writes what fits now of `data`; returns the byte count (maybe 0). Unavailable when the daemon no
  // longer reads (the process exited, the connection broke).
  virtual absl::StatusOr<size_t> Write(std::string_view data) = 0;
  // Half-closes the connection: the process's stdin sees end of file.
  virtual void CloseWrite() = 0;
  // A descriptor of its own (close-on-exec) for the connection, to drive it elsewhere (the hand
  // agent's stream), or -1 with errno set. Bytes that arrived with the response head and were not
  // read yet are moved to `pending`. After this, the RawStream is not to be read or written.
  virtual int DetachFd(std::string* pending) = 0;
};

struct Upgraded {
  EngineResponse response;  // the head (and, when not upgraded, the error body)
  std::unique_ptr<RawStream> stream;  // set iff the daemon switched to the raw stream (101 or 200)
};

class EngineClient {
 public:
  // `default_timeout` bounds each request that does not say otherwise. REQUIRES: positive.
  EngineClient(std::string socket_path, absl::Duration default_timeout);

  const std::string& socket_path() const { return socket_path_; }

  // `method` `target` ("/containers/create?name=x": path and query, after the API version prefix).
  // Any HTTP status is a response; Unavailable when the daemon cannot be reached, the transfer
  // breaks or runs past its timeout (the message names the endpoint).
  absl::StatusOr<EngineResponse> Call(std::string_view method, std::string_view target,
                                      std::string_view body = {}, const CallOptions& options = {}) const;

  // POSTs `json_body` to `target` asking for a raw stream (Connection: Upgrade, Upgrade: tcp), and
  // reads the response head by `deadline`. Errors as Call's.
  absl::StatusOr<Upgraded> Upgrade(std::string_view target, std::string_view json_body, absl::Time deadline) const;

 private:
  std::string socket_path_;
  absl::Duration default_timeout_;
};

// The daemon's message for an error response (its {"message": ...}), or the body as is.
std::string DaemonMessage(const EngineResponse& response);

// The Status for a response the caller did not expect, naming the endpoint and carrying the daemon's
// message: "docker daemon: POST /containers/create: HTTP 404: No such image: x". Codes: 400
// InvalidArgument, 403 PermissionDenied, 404 NotFound, 409 FailedPrecondition (a conflict with the
// object's state), 503 Unavailable, others Internal.
absl::Status DaemonError(std::string_view method, std::string_view target, const EngineResponse& response);

// `s` percent-encoded for a query value.
std::string QueryEscape(std::string_view s);

}  // namespace wake::docker_internal
