#include "bench/baselines/posix_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace wake::bench {

absl::Status ErrnoStatus(std::string_view what) {
  const int err = errno;
  return absl::InternalError(absl::StrCat(ToAbsl(what), ": ", std::strerror(err)));
}

absl::Status WriteAll(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAll(int fd, std::string_view what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(what);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(what);
    }
    if (n == 0) break;  // the file shrank under us; return what is there
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

absl::Status FsyncDir(const std::string& dir) {
  ScopedFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(absl::StrCat("open dir ", dir));
  if (::fsync(fd.get()) != 0) return ErrnoStatus(absl::StrCat("fsync dir ", dir));
  return absl::OkStatus();
}

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace wake::bench
