#include "sandbox/local/local_hand.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/sync.h"
#include "sandbox/local/process_runner.h"

namespace wake {
namespace {

namespace fs = std::filesystem;
using local_internal::ProcessSpec;
using local_internal::RunLocalProcess;

int OpenAt2(int dirfd, const std::string& path, int flags, mode_t mode = 0) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how)));
}

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(Fd&& other) noexcept : fd(other.fd) { other.fd = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

absl::Status Errno(int error, std::string_view what, std::string_view path) {
  const std::string text = absl::StrCat(ToAbsl(what), " ", ToAbsl(path), ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(text);
    case EXDEV:
    case ELOOP:
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(path), " leads outside the work dir (through .. or a symlink); refused"));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(text);
    case EISDIR:
      return absl::FailedPreconditionError(absl::StrCat(ToAbsl(path), " is a directory"));
    default:
      return absl::InternalError(text);
  }
}

// A session id becomes a directory name: only plain characters.
bool SafeName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

const std::vector<std::pair<std::string, std::string>>& BaseEnvironment() {
  static const auto* env = new std::vector<std::pair<std::string, std::string>>{
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
      {"LANG", "C.UTF-8"},
      {"TERM", "dumb"},
  };
  return *env;
}

class LocalHand final : public Hand {
 public:
  LocalHand(std::string dir, HandResources resources, bool isolate)
      : dir_(std::move(dir)), resources_(std::move(resources)), isolate_(isolate) {}

  ~LocalHand() override {
    // The engine stopping is not a release: processes still running are this hand's to end.
    KillRunning();
  }

  std::string_view backend() const override { return "local"; }
  const std::string& id() const override { return dir_; }
  const std::string& work_dir() const override { return dir_; }

  absl::StatusOr<RunOutcome> Run(const RunRequest& request, const CancelToken* cancel) override {
    RETURN_IF_ERROR(Usable());
    std::string cwd = dir_;
    if (!request.cwd.empty()) {
      ASSIGN_OR_RETURN(cwd, Beneath(request.cwd));
      cwd = cwd.empty() ? dir_ : absl::StrCat(dir_, "/", cwd);
    }
    ProcessSpec spec;
    spec.request = &request;
    spec.cwd = cwd;
    spec.work_dir = dir_;
    spec.isolate = isolate_;
    spec.env = BaseEnvironment();
    spec.env.emplace_back("HOME", dir_);
    auto set = [&](const std::pair<std::string, std::string>& kv) {
      for (auto& existing : spec.env) {
        if (existing.first == kv.first) {
          existing.second = kv.second;
          return;
        }
      }
      spec.env.push_back(kv);
    };
    for (const auto& kv : resources_.env) set(kv);
    for (const auto& kv : request.env) set(kv);
    int group = 0;
    return RunLocalProcess(spec, cancel, [&](int pgid) {
      MutexLock lock(&mu_);
      if (pgid != 0) {
        group = pgid;
        groups_.insert(pgid);
      } else {
        groups_.erase(group);
      }
    });
  }

  absl::StatusOr<std::string> ReadFile(std::string_view path, size_t max_bytes) override {
    RETURN_IF_ERROR(Usable());
    ASSIGN_OR_RETURN(Fd root, OpenRoot());
    ASSIGN_OR_RETURN(std::string relative, Beneath(path));
    if (relative.empty()) return absl::FailedPreconditionError(absl::StrCat(ToAbsl(path), " is a directory"));
    Fd file(OpenAt2(root.fd, relative, O_RDONLY | O_NONBLOCK | O_NOCTTY));
    if (file.fd < 0) return Errno(errno, "reading", path);
    struct stat st;
    if (::fstat(file.fd, &st) != 0) return Errno(errno, "reading", path);
    if (S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(ToAbsl(path), " is a directory"));
    if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(ToAbsl(path), " is not a regular file"));
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
      return absl::OutOfRangeError(absl::StrCat(st.st_size, " bytes, more than ", max_bytes));
    }
    std::string data;
    data.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (true) {
      if (done == data.size()) data.resize(done + 4096);  // the file grew meanwhile
      const ssize_t n = ::read(file.fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno(errno, "reading", path);
      if (n == 0) break;
      done += static_cast<size_t>(n);
      if (done > max_bytes) return absl::OutOfRangeError(absl::StrCat("more than ", max_bytes, " bytes"));
    }
    data.resize(done);
    return data;
  }

  absl::Status WriteFile(std::string_view path, std::string_view content) override {
    RETURN_IF_ERROR(Usable());
    ASSIGN_OR_RETURN(Fd root, OpenRoot());
    ASSIGN_OR_RETURN(std::string relative, Beneath(path));
    if (relative.empty()) return absl::FailedPreconditionError(absl::StrCat(ToAbsl(path), " is a directory"));
    const size_t slash = relative.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : relative.substr(0, slash);
    const std::string name = slash == std::string::npos ? relative : relative.substr(slash + 1);
    // Each missing parent directory is made beneath the work dir, component by component.
    std::string made;
    for (size_t start = 0; start < parent.size();) {
      const size_t end = std::min(parent.find('/', start), parent.size());
      made = parent.substr(0, end);
      Fd dir(OpenAt2(root.fd, made, O_DIRECTORY | O_RDONLY));
      if (dir.fd < 0) {
        if (errno != ENOENT) return Errno(errno, "making the directory", made);
        const size_t cut = made.rfind('/');
        Fd above(cut == std::string::npos ? ::dup(root.fd) : OpenAt2(root.fd, made.substr(0, cut), O_DIRECTORY | O_RDONLY));
        if (above.fd < 0) return Errno(errno, "making the directory", made);
        const std::string leaf = cut == std::string::npos ? made : made.substr(cut + 1);
        if (::mkdirat(above.fd, leaf.c_str(), 0755) != 0 && errno != EEXIST) return Errno(errno, "making the directory", made);
      }
      start = end + 1;
    }
    Fd dir(parent.empty() ? ::dup(root.fd) : OpenAt2(root.fd, parent, O_DIRECTORY | O_RDONLY));
    if (dir.fd < 0) return Errno(errno, "writing", path);
    struct stat existing;
    mode_t mode = 0644;
    if (::fstatat(dir.fd, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(existing.st_mode)) return absl::FailedPreconditionError(absl::StrCat(ToAbsl(path), " is a directory"));
      if (S_ISLNK(existing.st_mode)) {
        return absl::InvalidArgumentError(absl::StrCat(ToAbsl(path), " is a symlink; write to its target's path instead"));
      }
      mode = existing.st_mode & 07777;
    }
    static std::atomic<uint64_t> counter{0};
    const std::string temp = absl::StrCat(".", name, ".wake-tmp-", ::getpid(), "-", counter++);
    Fd out(OpenAt2(dir.fd, temp, O_WRONLY | O_CREAT | O_EXCL, mode));
    if (out.fd < 0) return Errno(errno, "writing", path);
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::write(out.fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int error = errno;
        ::unlinkat(dir.fd, temp.c_str(), 0);
        return Errno(error, "writing", path);
      }
      done += static_cast<size_t>(n);
    }
    ::fchmod(out.fd, mode);
    if (::renameat(dir.fd, temp.c_str(), dir.fd, name.c_str()) != 0) {
      const int error = errno;
      ::unlinkat(dir.fd, temp.c_str(), 0);
      return Errno(error, "writing", path);
    }
    return absl::OkStatus();
  }

  absl::Status Health() override {
    {
      MutexLock lock(&mu_);
      if (released_) return absl::FailedPreconditionError("the hand was released");
    }
    std::error_code ec;
    if (!fs::is_directory(dir_, ec)) return absl::UnavailableError(absl::StrCat("the work dir ", dir_, " is gone"));
    return absl::OkStatus();
  }

  absl::Status Release() override {
    {
      MutexLock lock(&mu_);
      if (released_) return absl::OkStatus();
      released_ = true;
    }
    KillRunning();
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec) return absl::InternalError(absl::StrCat("removing ", dir_, ": ", ec.message()));
    return absl::OkStatus();
  }

 private:
  absl::Status Usable() {
    {
      MutexLock lock(&mu_);
      if (released_) return absl::FailedPreconditionError("the hand was released");
    }
    return Health();
  }

  absl::StatusOr<Fd> OpenRoot() {
    Fd root(::open(dir_.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    if (root.fd < 0) return absl::UnavailableError(absl::StrCat("the work dir ", dir_, " is gone"));
    return root;
  }

  // `path` relative to the work dir ("" for the work dir itself). Absolute paths must be inside it.
  absl::StatusOr<std::string> Beneath(std::string_view path) const {
    std::string p(path);
    if (!p.empty() && p.front() == '/') {
      if (p == dir_) return std::string();
      if (p.compare(0, dir_.size() + 1, dir_ + "/") != 0) {
        return absl::InvalidArgumentError(absl::StrCat(p, " is outside the work dir ", dir_));
      }
      p = p.substr(dir_.size() + 1);
    }
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.find('\0') != std::string::npos) return absl::InvalidArgumentError("the path contains a NUL byte");
    return p;
  }

  void KillRunning() {
    MutexLock lock(&mu_);
    for (int pgid : groups_) ::kill(-pgid, SIGKILL);
  }

  const std::string dir_;
  const HandResources resources_;
  const bool isolate_;
  Mutex mu_;
  std::set<int> groups_ ABSL_GUARDED_BY(mu_);
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

class LocalProvider final : public HandProvider {
 public:
  explicit LocalProvider(LocalProviderOptions options) : options_(std::move(options)) {}

  std::string_view backend() const override { return "local"; }

  absl::StatusOr<std::unique_ptr<Hand>> Provision(std::string_view session_id, const HandResources& resources) override {
    ASSIGN_OR_RETURN(std::string dir, DirOf(session_id));
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("making ", dir, ": ", ec.message()));
    return std::unique_ptr<Hand>(new LocalHand(dir, resources, options_.isolate));
  }

  absl::StatusOr<std::unique_ptr<Hand>> Reattach(std::string_view session_id, const HandResources& resources) override {
    ASSIGN_OR_RETURN(std::string dir, DirOf(session_id));
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      return absl::NotFoundError(absl::StrCat("no local hand for ", ToAbsl(session_id)));
    }
    return std::unique_ptr<Hand>(new LocalHand(dir, resources, options_.isolate));
  }

  absl::StatusOr<size_t> ReapExcept(absl::FunctionRef<bool(std::string_view session_id)> keep) override {
    size_t reaped = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(options_.base_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (!entry.is_directory() || keep(name)) continue;
      fs::remove_all(entry.path(), ec);
      if (ec) return absl::InternalError(absl::StrCat("removing ", entry.path().string(), ": ", ec.message()));
      ++reaped;
    }
    if (ec) return absl::InternalError(absl::StrCat("listing ", options_.base_dir, ": ", ec.message()));
    return reaped;
  }

 private:
  absl::StatusOr<std::string> DirOf(std::string_view session_id) const {
    if (!SafeName(session_id)) {
      return absl::InvalidArgumentError(absl::StrCat("\"", ToAbsl(session_id), "\" cannot name a work dir"));
    }
    return absl::StrCat(options_.base_dir, "/", ToAbsl(session_id));
  }

  const LocalProviderOptions options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HandProvider>> NewLocalProvider(LocalProviderOptions options) {
  if (options.base_dir.empty()) return absl::InvalidArgumentError("local hands: base_dir is empty");
  std::error_code ec;
  fs::create_directories(options.base_dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("making ", options.base_dir, ": ", ec.message()));
  options.base_dir = fs::canonical(options.base_dir, ec).string();
  if (ec) return absl::UnavailableError(absl::StrCat("resolving ", options.base_dir, ": ", ec.message()));
  // openat2 is how paths stay confined: without it (Linux < 5.6) there is no safe local hand.
  Fd probe(OpenAt2(AT_FDCWD, ".", O_DIRECTORY | O_RDONLY));
  if (probe.fd < 0 && errno == ENOSYS) {
    return absl::FailedPreconditionError("local hands need openat2 (Linux 5.6 or later) to confine paths");
  }
  if (options.isolate && !local_internal::NamespacesAvailable()) {
    return absl::FailedPreconditionError(
        "local hands: isolation asked for, but this machine does not allow user, network and mount namespaces");
  }
  return std::unique_ptr<HandProvider>(new LocalProvider(std::move(options)));
}

}  // namespace wake
