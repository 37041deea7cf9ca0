#pragma once
// FdStream: the kj::AsyncIoStream the hand agent protocol travels on, made of the descriptors one
// has to the other end: a pipe pair (the agent's stdin and stdout, a local child's pipes) or one
// socket (a hijacked Docker exec connection).
//
// With `docker_multiplexed`, what is read is a Docker exec's multiplexed output (Engine API "stream
// format": frames with an 8-byte header {stream, 0, 0, 0, big-endian uint32 size}): stdout frames
// are the stream's bytes, stderr frames go to `on_stderr` (the agent's own diagnostics), and what
// is written goes to the process's stdin as is.
//
// Lives on one kj event loop thread; the descriptors are owned (closed with the stream).

#include <functional>
#include <string>
#include <string_view>

#include "kj/async-io.h"

namespace wake::agent_internal {

struct FdStreamOptions {
  int read_fd = -1;   // owned
  int write_fd = -1;  // owned; equal to read_fd for a socket
  bool docker_multiplexed = false;
  std::function<void(std::string_view)> on_stderr;  // docker_multiplexed only; may be empty
};

// REQUIRES: called on the thread of `io`'s event loop.
kj::Own<kj::AsyncIoStream> NewFdStream(kj::LowLevelAsyncIoProvider& io, FdStreamOptions options);

// The most a message may hold (the reader's traversal limit), both ways: file contents and outputs
// travel in single messages.
inline constexpr uint64_t kMaxMessageWords = (uint64_t{1} << 30) / 8;

}  // namespace wake::agent_internal
