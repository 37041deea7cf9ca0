#include "sandbox/agent/fd_stream.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kj/debug.h"

namespace wake::agent_internal {
namespace {

class FdStream final : public kj::AsyncIoStream {
 public:
  FdStream(kj::Own<kj::AsyncIoStream> socket, kj::Own<kj::AsyncInputStream> in, kj::Own<kj::AsyncOutputStream> out,
           FdStreamOptions options)
      : socket_(kj::mv(socket)), in_(kj::mv(in)), out_(kj::mv(out)), options_(std::move(options)) {
    input_ = socket_.get() != nullptr ? static_cast<kj::AsyncInputStream*>(socket_.get()) : in_.get();
    output_ = socket_.get() != nullptr ? static_cast<kj::AsyncOutputStream*>(socket_.get()) : out_.get();
  }

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override {
    if (!options_.docker_multiplexed) return input_->tryRead(buffer, min_bytes, max_bytes);
    return ReadDemuxed(static_cast<kj::byte*>(buffer), min_bytes, max_bytes, 0);
  }

  kj::Promise<void> write(const void* buffer, size_t size) override {
    if (output_ == nullptr) return KJ_EXCEPTION(DISCONNECTED, "the hand agent stream was shut down for writing");
    return output_->write(buffer, size);
  }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    if (output_ == nullptr) return KJ_EXCEPTION(DISCONNECTED, "the hand agent stream was shut down for writing");
    return output_->write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override {
    if (output_ == nullptr) return kj::READY_NOW;
    return output_->whenWriteDisconnected();
  }
  void shutdownWrite() override {
    if (socket_.get() != nullptr) {
      socket_->shutdownWrite();
    } else {
      out_ = nullptr;  // closes the pipe: the other end reads end of file
      output_ = nullptr;
    }
  }

 private:
  // Fills buffer[done, max) from the frames; reads more until min_bytes are there or the stream ends.
  kj::Promise<size_t> ReadDemuxed(kj::byte* buffer, size_t min_bytes, size_t max_bytes, size_t done) {
    done += Drain(buffer + done, max_bytes - done);
    if (done >= min_bytes || eof_) return done;
    return input_->tryRead(raw_, 1, sizeof(raw_)).then([this, buffer, min_bytes, max_bytes, done](size_t n) {
      if (n == 0) {
        eof_ = true;
      } else {
        pending_.append(reinterpret_cast<const char*>(raw_), n);
      }
      return ReadDemuxed(buffer, min_bytes, max_bytes, done);
    });
  }

  // Moves stdout payload from pending_ into `out` (up to `room` bytes), stderr payload to its
  // callback; returns the bytes moved.
  size_t Drain(kj::byte* out, size_t room) {
    size_t moved = 0;
    size_t at = 0;
    while (at < pending_.size()) {
      if (remaining_ == 0) {
        if (pending_.size() - at < 8) break;
        const auto* h = reinterpret_cast<const unsigned char*>(pending_.data() + at);
        to_stderr_ = h[0] == 2;
        remaining_ = (uint32_t{h[4]} << 24) | (uint32_t{h[5]} << 16) | (uint32_t{h[6]} << 8) | uint32_t{h[7]};
        at += 8;
        continue;
      }
      const size_t available = std::min<size_t>(remaining_, pending_.size() - at);
      if (to_stderr_) {
        if (options_.on_stderr) options_.on_stderr(std::string_view(pending_.data() + at, available));
        at += available;
        remaining_ -= static_cast<uint32_t>(available);
        continue;
      }
      const size_t take = std::min(available, room - moved);
      if (take == 0) break;
      std::memcpy(out + moved, pending_.data() + at, take);
      moved += take;
      at += take;
      remaining_ -= static_cast<uint32_t>(take);
    }
    pending_.erase(0, at);
    return moved;
  }

  kj::Own<kj::AsyncIoStream> socket_;
  kj::Own<kj::AsyncInputStream> in_;
  kj::Own<kj::AsyncOutputStream> out_;
  kj::AsyncInputStream* input_ = nullptr;
  kj::AsyncOutputStream* output_ = nullptr;
  const FdStreamOptions options_;
  // Demultiplexing state.
  kj::byte raw_[64 * 1024];
  std::string pending_;
  uint32_t remaining_ = 0;
  bool to_stderr_ = false;
  bool eof_ = false;
};

}  // namespace

kj::Own<kj::AsyncIoStream> NewFdStream(kj::LowLevelAsyncIoProvider& io, FdStreamOptions options) {
  constexpr uint kFlags = kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP;
  if (options.read_fd == options.write_fd) {
    auto socket = io.wrapSocketFd(options.read_fd, kFlags);
    return kj::heap<FdStream>(kj::mv(socket), kj::Own<kj::AsyncInputStream>(), kj::Own<kj::AsyncOutputStream>(), std::move(options));
  }
  auto in = io.wrapInputFd(options.read_fd, kFlags);
  auto out = io.wrapOutputFd(options.write_fd, kFlags);
  return kj::heap<FdStream>(kj::Own<kj::AsyncIoStream>(), kj::mv(in), kj::mv(out), std::move(options));
}

}  // namespace wake::agent_internal
