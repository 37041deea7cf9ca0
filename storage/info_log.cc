#include "storage/info_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wake {
namespace {

class AppendOnlyInfoLog final : public rocksdb::Logger {
 public:
  explicit AppendOnlyInfoLog(int fd) : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), fd_(fd) {}
  ~AppendOnlyInfoLog() override {
    if (fd_ >= 0) close(fd_);
  }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (fd_ < 0) return;
    char line[4096];
    // The same timestamp shape as RocksDB's own LOG lines.
    const std::string stamp = absl::FormatTime("%Y/%m/%d-%H:%M:%E6S ", absl::Now(), absl::LocalTimeZone());
    size_t n = stamp.copy(line, sizeof(line) - 2);
    va_list copy;
    va_copy(copy, ap);
    const int wrote = std::vsnprintf(line + n, sizeof(line) - n - 1, format, copy);
    va_end(copy);
    if (wrote < 0) return;
    n = std::min(sizeof(line) - 2, n + static_cast<size_t>(wrote));
    if (line[n - 1] != '\n') line[n++] = '\n';
    // One write per line on O_APPEND: lines from RocksDB's threads do not interleave. A failure
    // (a full disk) drops the line.
    (void)!write(fd_, line, n);
  }

 private:
  const int fd_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewInfoLog(const std::string& dir, size_t rotate_bytes) {
  const std::string path = dir + "/LOG";
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > rotate_bytes) std::filesystem::rename(path, path + ".old", ec);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  return std::make_shared<AppendOnlyInfoLog>(fd);
}

}  // namespace wake
