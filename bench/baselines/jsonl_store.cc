#include "bench/baselines/jsonl_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/baselines/posix_file.h"
#include "base/strings.h"
#include "schemas/event_json.h"

namespace wake::bench {
namespace {

class JsonlWriter final : public SessionWriter {
 public:
  JsonlWriter(ScopedFd fd, std::string path, bool sync)
      : fd_(std::move(fd)), path_(std::move(path)), sync_(sync) {}

  absl::Status Append(Event event) override {
    // Encoding is part of the append, as it is for wake (which encodes Cap'n Proto inside Append).
    line_ = EncodeEventJson(event);
    line_.push_back('\n');
    // One write(2) per line: with O_APPEND a line is never interleaved with another writer's.
    absl::Status s = WriteAll(fd_.get(), line_, path_);
    if (!s.ok()) return s;
    if (sync_ && ::fdatasync(fd_.get()) != 0) return ErrnoStatus(absl::StrCat("fdatasync ", path_));
    return absl::OkStatus();
  }

 private:
  ScopedFd fd_;
  std::string path_;
  bool sync_;
  std::string line_;  // reused so steady-state appends do not allocate
};

class JsonlStore final : public SessionStore {
 public:
  explicit JsonlStore(JsonlStoreOptions options) : options_(std::move(options)) {}

  absl::StatusOr<std::unique_ptr<SessionWriter>> CreateSession(std::string_view session_id) override {
    const std::string path = PathOf(session_id);
    ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoStatus(absl::StrCat("create ", path));
    // The new file must survive a crash before the first append is acknowledged.
    absl::Status s = FsyncDir(options_.root);
    if (!s.ok()) return s;
    return std::make_unique<JsonlWriter>(std::move(fd), path, options_.sync_each_append);
  }

  absl::Status BulkLoad(std::string_view session_id, const std::vector<Event>& events) override {
    const std::string path = PathOf(session_id);
    ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoStatus(absl::StrCat("create ", path));
    std::string chunk;
    for (const Event& event : events) {
      chunk += EncodeEventJson(event);
      chunk.push_back('\n');
      if (chunk.size() >= (1 << 20)) {
        absl::Status s = WriteAll(fd.get(), chunk, path);
        if (!s.ok()) return s;
        chunk.clear();
      }
    }
    absl::Status s = WriteAll(fd.get(), chunk, path);
    if (!s.ok()) return s;
    if (::fdatasync(fd.get()) != 0) return ErrnoStatus(absl::StrCat("fdatasync ", path));
    return FsyncDir(options_.root);
  }

  absl::StatusOr<std::vector<Event>> ReadSession(std::string_view session_id) override {
    const std::string path = PathOf(session_id);
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus(absl::StrCat("open ", path));
    absl::StatusOr<std::string> content = ReadAll(fd.get(), path);
    if (!content.ok()) return content.status();

    std::vector<Event> events;
    std::string_view rest = *content;
    while (!rest.empty()) {
      const size_t eol = rest.find('\n');
      // A last line without '\n' is a torn write from a crash: a real reader would drop it, and a
      // healthy benchmark file never has one, so report it rather than hide it.
      if (eol == std::string_view::npos) {
        return absl::DataLossError(absl::StrCat(path, ": last line has no newline"));
      }
      absl::StatusOr<Event> event = DecodeEventJson(rest.substr(0, eol));
      if (!event.ok()) {
        return absl::DataLossError(absl::StrCat(path, " line ", events.size() + 1, ": ",
                                                event.status().message()));
      }
      event->seq = events.size() + 1;
      events.push_back(*std::move(event));
      rest.remove_prefix(eol + 1);
    }
    return events;
  }

 private:
  std::string PathOf(std::string_view session_id) const {
    return absl::StrCat(options_.root, "/", ToAbsl(session_id), ".jsonl");
  }

  const JsonlStoreOptions options_;
};

}  // namespace

std::unique_ptr<SessionStore> NewJsonlStore(const JsonlStoreOptions& options) {
  return std::make_unique<JsonlStore>(options);
}

}  // namespace wake::bench
