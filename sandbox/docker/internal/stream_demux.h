#pragma once
// StreamDemux: splits the multiplexed stream of a non-TTY exec (Engine API "stream format": frames
// of an 8-byte header {stream type, 0, 0, 0, big-endian uint32 size} and a payload) into stdout and
// stderr, keeping at most `cap` bytes of each and dropping the rest (the daemon keeps sending and
// the process never blocks on a full pipe).
//
// Pure; one thread at a time.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wake::docker_internal {

class StreamDemux {
 public:
  explicit StreamDemux(size_t cap) : cap_(cap) {}

  // Feeds the next bytes of the stream, cut anywhere (frames may span calls).
  void Feed(std::string_view bytes);

  // Whether the stream stopped inside a frame (the connection was cut short).
  bool mid_frame() const { return header_len_ != 0 || remaining_ != 0; }

  std::string& stdout_data() { return out_; }
  std::string& stderr_data() { return err_; }
  bool stdout_truncated() const { return out_truncated_; }
  bool stderr_truncated() const { return err_truncated_; }

 private:
  const size_t cap_;
  unsigned char header_[8] = {};
  size_t header_len_ = 0;
  uint32_t remaining_ = 0;  // payload bytes of the current frame still to come
  bool to_stderr_ = false;
  std::string out_;
  std::string err_;
  bool out_truncated_ = false;
  bool err_truncated_ = false;
};

}  // namespace wake::docker_internal
