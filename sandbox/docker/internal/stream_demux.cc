#include "sandbox/docker/internal/stream_demux.h"

#include <algorithm>

namespace wake::docker_internal {

void StreamDemux::Feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (remaining_ == 0) {
      const size_t take = std::min(sizeof(header_) - header_len_, bytes.size());
      for (size_t i = 0; i < take; ++i) header_[header_len_ + i] = static_cast<unsigned char>(bytes[i]);
      header_len_ += take;
      bytes.remove_prefix(take);
      if (header_len_ < sizeof(header_)) return;
      header_len_ = 0;
      // Type 0 (stdin) never comes back from an exec; the API says to treat it as stdout.
      to_stderr_ = header_[0] == 2;
      remaining_ = (uint32_t{header_[4]} << 24) | (uint32_t{header_[5]} << 16) | (uint32_t{header_[6]} << 8) |
                   uint32_t{header_[7]};
      continue;
    }
    const size_t take = std::min<size_t>(remaining_, bytes.size());
    std::string& sink = to_stderr_ ? err_ : out_;
    const size_t keep = std::min(take, cap_ - std::min(cap_, sink.size()));
    sink.append(bytes.data(), keep);
    if (keep < take) (to_stderr_ ? err_truncated_ : out_truncated_) = true;
    remaining_ -= static_cast<uint32_t>(take);
    bytes.remove_prefix(take);
  }
}

}  // namespace wake::docker_internal
