#pragma once
// The few POSIX file operations the file-based baselines share, with errors as absl::Status.
// Thread safety: all functions are thread-safe (they touch only the descriptors they are given).

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wake::bench {

// A Status for the current errno, naming what was being done.
absl::Status ErrnoStatus(std::string_view what);

// write(2) until all of `data` is written (write may be partial).
absl::Status WriteAll(int fd, std::string_view data, std::string_view what);

// The whole content of the open file `fd`, read from offset 0.
absl::StatusOr<std::string> ReadAll(int fd, std::string_view what);

// Opens `dir` and fsyncs it, which makes entries created or renamed in it durable.
absl::Status FsyncDir(const std::string& dir);

// Closes a descriptor when it goes out of scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace wake::bench
