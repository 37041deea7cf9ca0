#include "bench/baselines/file_per_event_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/baselines/posix_file.h"
#include "base/strings.h"
#include "schemas/event_json.h"

namespace wake::bench {
namespace {

std::string FileName(uint64_t seq) { return absl::StrCat(seq, ".json"); }

// Writes one event file relative to the open session directory `dir_fd`.
absl::Status WriteEventFile(int dir_fd, const std::string& dir, uint64_t seq, const Event& event,
                            bool sync) {
  const std::string name = FileName(seq);
  ScopedFd fd(::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus(absl::StrCat("create ", dir, "/", name));
  absl::Status s = WriteAll(fd.get(), EncodeEventJson(event), name);
  if (!s.ok()) return s;
  if (sync && ::fsync(fd.get()) != 0) return ErrnoStatus(absl::StrCat("fsync ", dir, "/", name));
  return absl::OkStatus();
}

class FilePerEventWriter final : public SessionWriter {
 public:
  FilePerEventWriter(ScopedFd dir_fd, std::string dir) : dir_fd_(std::move(dir_fd)), dir_(std::move(dir)) {}

  absl::Status Append(Event event) override {
    absl::Status s = WriteEventFile(dir_fd_.get(), dir_, next_seq_, event, /*sync=*/true);
    if (s.ok()) ++next_seq_;
    return s;
  }

 private:
  // Held open so each append resolves only the file name, not the whole path.
  ScopedFd dir_fd_;
  std::string dir_;
  uint64_t next_seq_ = 1;
};

class FilePerEventStore final : public SessionStore {
 public:
  explicit FilePerEventStore(FilePerEventStoreOptions options) : options_(std::move(options)) {}

  absl::StatusOr<std::unique_ptr<SessionWriter>> CreateSession(std::string_view session_id) override {
    absl::StatusOr<ScopedFd> dir_fd = MakeSessionDir(session_id);
    if (!dir_fd.ok()) return dir_fd.status();
    return std::make_unique<FilePerEventWriter>(*std::move(dir_fd), DirOf(session_id));
  }

  absl::Status BulkLoad(std::string_view session_id, const std::vector<Event>& events) override {
    absl::StatusOr<ScopedFd> dir_fd = MakeSessionDir(session_id);
    if (!dir_fd.ok()) return dir_fd.status();
    const std::string dir = DirOf(session_id);
    for (size_t i = 0; i < events.size(); ++i) {
      absl::Status s = WriteEventFile(dir_fd->get(), dir, i + 1, events[i], /*sync=*/false);
      if (!s.ok()) return s;
    }
    // One syncfs covers every file written above, instead of one fsync each.
    if (::syncfs(dir_fd->get()) != 0) return ErrnoStatus(absl::StrCat("syncfs ", dir));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Event>> ReadSession(std::string_view session_id) override {
    const std::string dir = DirOf(session_id);
    ScopedFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd.valid()) return ErrnoStatus(absl::StrCat("open dir ", dir));
    // Probing 1.json, 2.json, ... until one is missing is cheaper than listing and sorting the
    // directory, and it is what a reader of this layout would do.
    std::vector<Event> events;
    for (uint64_t seq = 1;; ++seq) {
      const std::string name = FileName(seq);
      ScopedFd fd(::openat(dir_fd.get(), name.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) {
        if (errno == ENOENT) break;
        return ErrnoStatus(absl::StrCat("open ", dir, "/", name));
      }
      absl::StatusOr<std::string> content = ReadAll(fd.get(), name);
      if (!content.ok()) return content.status();
      absl::StatusOr<Event> event = DecodeEventJson(*content);
      if (!event.ok()) {
        return absl::DataLossError(absl::StrCat(dir, "/", name, ": ", event.status().message()));
      }
      event->seq = seq;
      events.push_back(*std::move(event));
    }
    return events;
  }

 private:
  std::string DirOf(std::string_view session_id) const { return absl::StrCat(options_.root, "/", ToAbsl(session_id)); }

  absl::StatusOr<ScopedFd> MakeSessionDir(std::string_view session_id) {
    const std::string dir = DirOf(session_id);
    if (::mkdir(dir.c_str(), 0755) != 0) return ErrnoStatus(absl::StrCat("mkdir ", dir));
    absl::Status s = FsyncDir(options_.root);
    if (!s.ok()) return s;
    ScopedFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus(absl::StrCat("open dir ", dir));
    return fd;
  }

  const FilePerEventStoreOptions options_;
};

}  // namespace

std::unique_ptr<SessionStore> NewFilePerEventStore(const FilePerEventStoreOptions& options) {
  return std::make_unique<FilePerEventStore>(options);
}

}  // namespace wake::bench
