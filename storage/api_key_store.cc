#include "storage/api_key_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/sync.h"
#include "schemas/ids.h"

namespace wake {

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest digest{};
  unsigned int size = 0;
  // EVP_Digest cannot fail for SHA-256 on valid arguments short of memory exhaustion; a failure
  // leaves the digest zeroed, which no key's digest equals in practice, so nothing is accepted.
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

std::string Sha256Hex(const Sha256Digest& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(digest.size() * 2);
  for (uint8_t byte : digest) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 0xF]);
  }
  return hex;
}

bool DigestsEqual(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {

constexpr std::string_view kHeader = "wake-api-keys v1";
constexpr size_t kMaxNameBytes = 200;
constexpr size_t kMaxWorkspaceBytes = 64;
constexpr size_t kKeyRandomBytes = 32;

absl::Status ErrnoError(std::string_view what, int error) {
  const std::string message = absl::StrCat(ToAbsl(what), ": ", std::strerror(error));
  switch (error) {
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(message);
    case ENOENT: return absl::NotFoundError(message);
    default: return absl::InternalError(message);
  }
}

std::optional<Sha256Digest> ParseHexDigest(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  Sha256Digest digest{};
  if (hex.size() != digest.size() * 2) return std::nullopt;
  for (size_t i = 0; i < digest.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    digest[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return digest;
}

std::string FormatKeyTime(absl::Time t) { return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone()); }

absl::Status CheckName(std::string_view name) {
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("an API key name is at most ", kMaxNameBytes, " bytes, not ", name.size()));
  }
  for (char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return absl::InvalidArgumentError("an API key name cannot hold a tab, a newline or another control character");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckWorkspace(std::string_view workspace) {
  bool ok = !workspace.empty() && workspace.size() <= kMaxWorkspaceBytes;
  for (char c : workspace) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("a workspace id is 1 to ", kMaxWorkspaceBytes, " of A-Z a-z 0-9 _ . -, not \"", ToAbsl(workspace), "\""));
}

// The records of a file's `text`; DataLoss naming `path` and the line when it is not a v1 key file.
absl::StatusOr<std::vector<ApiKeyRecord>> ParseKeyFile(std::string_view text, const std::string& path) {
  auto corrupt = [&](size_t line, std::string_view why) {
    return absl::DataLossError(absl::StrCat("the API key file ", path, " is corrupt: line ", line, ": ", ToAbsl(why),
                                            " (it is written only by `wakectl keys`; restore it from a backup)"));
  };
  if (text.empty() || text.back() != '\n') {
    return corrupt(1 + static_cast<size_t>(std::count(text.begin(), text.end(), '\n')),
                   "the file does not end with a newline (truncated?)");
  }
  std::vector<absl::string_view> lines = absl::StrSplit(ToAbsl(text.substr(0, text.size() - 1)), '\n');
  if (lines.front() != ToAbsl(kHeader)) {
    return corrupt(1, absl::StrCat("the first line is not \"", ToAbsl(kHeader), "\""));
  }
  std::vector<ApiKeyRecord> records;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t number = i + 1;
    std::vector<absl::string_view> fields = absl::StrSplit(lines[i], '\t');
    if (fields.size() != 6) return corrupt(number, absl::StrCat("a record has 6 tab-separated fields, not ", fields.size()));
    ApiKeyRecord record;
    record.id = std::string(fields[0]);
    record.sha256_hex = std::string(fields[1]);
    record.workspace_id = std::string(fields[2]);
    record.name = std::string(fields[5]);
    if (!ParseId(kApiKeyIdPrefix, record.id).ok()) return corrupt(number, absl::StrCat("bad key id \"", record.id, "\""));
    if (!ParseHexDigest(record.sha256_hex)) return corrupt(number, "the hash is not 64 lower-case hex digits");
    if (!CheckWorkspace(record.workspace_id).ok()) return corrupt(number, "bad workspace id");
    if (!CheckName(record.name).ok()) return corrupt(number, "bad name");
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, fields[3], &record.created_at, &error)) {
      return corrupt(number, absl::StrCat("bad created_at: ", error));
    }
    if (fields[4] != "-") {
      absl::Time revoked;
      if (!absl::ParseTime(absl::RFC3339_full, fields[4], &revoked, &error)) {
        return corrupt(number, absl::StrCat("bad revoked_at: ", error));
      }
      record.revoked_at = revoked;
    }
    for (const ApiKeyRecord& earlier : records) {
      if (earlier.id == record.id) return corrupt(number, absl::StrCat("key ", record.id, " appears twice"));
      if (earlier.sha256_hex == record.sha256_hex) return corrupt(number, "two keys have the same hash");
    }
    records.push_back(std::move(record));
  }
  return records;
}

std::string SerializeKeyFile(const std::vector<ApiKeyRecord>& records) {
  std::string text = absl::StrCat(ToAbsl(kHeader), "\n");
  for (const ApiKeyRecord& r : records) {
    absl::StrAppend(&text, r.id, "\t", r.sha256_hex, "\t", r.workspace_id, "\t", FormatKeyTime(r.created_at), "\t",
                    r.revoked_at ? FormatKeyTime(*r.revoked_at) : "-", "\t", r.name, "\n");
  }
  return text;
}

// Reads all of `fd`.
absl::StatusOr<std::string> ReadAll(int fd, const std::string& path) {
  std::string text;
  char buffer[16384];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(absl::StrCat("reading ", path), errno);
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting what close() says (a write error may surface only here).
  absl::Status Close(const std::string& path) {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoError(absl::StrCat("closing ", path), errno);
    return absl::OkStatus();
  }

 private:
  int fd_;
};

// The file's records as they are on disk now (empty when it does not exist).
absl::StatusOr<std::vector<ApiKeyRecord>> ReadKeyFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::vector<ApiKeyRecord>();
    return ErrnoError(absl::StrCat("opening ", path), errno);
  }
  ASSIGN_OR_RETURN(std::string text, ReadAll(fd.get(), path));
  return ParseKeyFile(text, path);
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(absl::StrCat("writing ", path), errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Replaces `path` with `contents` so that a crash leaves the old file or the new one, and the new one
// is durable once this returns. REQUIRES: the caller holds the writers' lock (the temp name is fixed).
absl::Status ReplaceFile(const std::string& dir, const std::string& path, std::string_view contents) {
  const std::string temp = path + ".tmp";
  {
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoError(absl::StrCat("creating ", temp), errno);
    // The mode given to open() is only used for a new file, and the umask applies to it.
    if (::fchmod(fd.get(), 0600) != 0) return ErrnoError(absl::StrCat("chmod ", temp), errno);
    RETURN_IF_ERROR(WriteAll(fd.get(), contents, temp));
    if (::fsync(fd.get()) != 0) return ErrnoError(absl::StrCat("fsync ", temp), errno);
    RETURN_IF_ERROR(fd.Close(temp));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) return ErrnoError(absl::StrCat("renaming ", temp, " to ", path), errno);
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return ErrnoError(absl::StrCat("opening ", dir), errno);
  if (::fsync(dir_fd.get()) != 0) return ErrnoError(absl::StrCat("fsync ", dir), errno);
  return absl::OkStatus();
}

// An exclusive flock on <data_dir>/api_keys.lock, held while it lives. A lock file of its own because
// api_keys itself is replaced by rename. flock locks belong to the open file description, so two
// threads of one process exclude each other as two processes do.
class WriterLock {
 public:
  static absl::StatusOr<std::unique_ptr<WriterLock>> Acquire(const std::string& path) {
    auto lock = std::unique_ptr<WriterLock>(new WriterLock(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)));
    if (lock->fd_.get() < 0) return ErrnoError(absl::StrCat("opening ", path), errno);
    while (::flock(lock->fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return ErrnoError(absl::StrCat("locking ", path), errno);
    }
    return lock;
  }
  // Closing the descriptor releases the lock.

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  Fd fd_;
};

absl::Status FillRandom(unsigned char* bytes, size_t size) {
  size_t filled = 0;
  while (filled < size) {
    const ssize_t n = ::getrandom(bytes + filled, size - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("getrandom", errno);
    filled += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NewPlaintextKey() {
  unsigned char bytes[kKeyRandomBytes];
  RETURN_IF_ERROR(FillRandom(bytes, sizeof(bytes)));
  std::string encoded;
  absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)), &encoded);
  OPENSSL_cleanse(bytes, sizeof(bytes));
  return absl::StrCat(ToAbsl(kApiKeyPrefix), encoded);
}

// A key id: the time part of schemas/ids.h, and a random part straight from the kernel. (NewIdBytes's
// per-thread generator is copied into a forked child, so two forked writers could make the same id.)
absl::StatusOr<std::string> NewKeyId(absl::Time now) {
  IdBytes bytes = NewIdBytes(now);
  constexpr size_t kTimeBytes = 6;  // 48-bit milliseconds
  RETURN_IF_ERROR(FillRandom(bytes.data() + kTimeBytes, bytes.size() - kTimeBytes));
  return FormatId(kApiKeyIdPrefix, bytes);
}

}  // namespace

// What Check knows of the file: the records' digests, or why there are none.
struct ApiKeyStore::Cache {
  struct Entry {
    Sha256Digest digest;
    std::string id;
    std::string workspace_id;
    bool revoked = false;
  };
  struct FileStamp {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    timespec mtime{};
    off_t size = 0;
    bool operator==(const FileStamp& o) const {
      return exists == o.exists && dev == o.dev && ino == o.ino && mtime.tv_sec == o.mtime.tv_sec &&
             mtime.tv_nsec == o.mtime.tv_nsec && size == o.size;
    }
  };
  static FileStamp StampOf(const struct stat& st) {
    FileStamp stamp;
    stamp.exists = true;
    stamp.dev = st.st_dev;
    stamp.ino = st.st_ino;
    stamp.mtime = st.st_mtim;
    stamp.size = st.st_size;
    return stamp;
  }

  Mutex mu;
  bool loaded ABSL_GUARDED_BY(mu) = false;
  FileStamp stamp ABSL_GUARDED_BY(mu);
  absl::Status error ABSL_GUARDED_BY(mu);  // not OK: the file as stamped is unusable
  std::vector<Entry> entries ABSL_GUARDED_BY(mu);
  size_t active ABSL_GUARDED_BY(mu) = 0;

  // Brings the cache up to date with the file at `path`.
  void Refresh(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    struct stat st {};
    FileStamp now;
    if (::stat(path.c_str(), &st) == 0) {
      now = StampOf(st);
    } else if (errno != ENOENT) {
      // Not cached: the next request stats again.
      loaded = false;
      error = ErrnoError(absl::StrCat("stat ", path), errno);
      return;
    }
    if (loaded && now == stamp) return;
    Load(path, now);
  }

  void Load(const std::string& path, const FileStamp& seen) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    loaded = false;
    entries.clear();
    active = 0;
    error = absl::OkStatus();
    stamp = seen;
    if (!seen.exists) {
      loaded = true;
      return;
    }
    // The stamp must describe the bytes parsed: a rename between stat() and open() would otherwise
    // pair the old stamp with the new contents (harmless, it reloads next time), so stamp the fd.
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) {
      if (errno == ENOENT) {  // removed since the stat
        stamp = FileStamp();
        loaded = true;
        return;
      }
      error = ErrnoError(absl::StrCat("opening ", path), errno);
      return;
    }
    stamp = StampOf(st);
    absl::StatusOr<std::vector<ApiKeyRecord>> records = [&]() -> absl::StatusOr<std::vector<ApiKeyRecord>> {
      ASSIGN_OR_RETURN(std::string text, ReadAll(fd.get(), path));
      return ParseKeyFile(text, path);
    }();
    loaded = true;  // a corrupt file stays corrupt until it changes: no need to parse it per request
    if (!records.ok()) {
      error = records.status();
      return;
    }
    for (ApiKeyRecord& r : *records) {
      Entry& e = entries.emplace_back();
      e.digest = *ParseHexDigest(r.sha256_hex);  // checked by ParseKeyFile
      e.id = std::move(r.id);
      e.workspace_id = std::move(r.workspace_id);
      e.revoked = r.revoked_at.has_value();
      active += e.revoked ? 0 : 1;
    }
  }
};

ApiKeyStore::ApiKeyStore(ApiKeyStoreOptions options)
    : data_dir_(std::move(options.data_dir)),
      path_((std::filesystem::path(data_dir_) / std::string(kApiKeyFileName)).string()),
      clock_(options.clock != nullptr ? options.clock : Clock::Real()),
      cache_(std::make_unique<Cache>()) {}

ApiKeyStore::~ApiKeyStore() = default;

absl::StatusOr<CreatedApiKey> ApiKeyStore::Create(std::string_view name, std::string_view workspace_id) {
  if (workspace_id.empty()) workspace_id = kDefaultWorkspaceId;
  RETURN_IF_ERROR(CheckName(name));
  RETURN_IF_ERROR(CheckWorkspace(workspace_id));
  std::error_code ec;
  std::filesystem::create_directories(data_dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", data_dir_, ": ", ec.message()));
  ASSIGN_OR_RETURN(std::unique_ptr<WriterLock> lock, WriterLock::Acquire(path_ + ".lock"));
  ASSIGN_OR_RETURN(std::vector<ApiKeyRecord> records, ReadKeyFile(path_));
  CreatedApiKey created;
  ASSIGN_OR_RETURN(created.key, NewPlaintextKey());
  ApiKeyRecord& record = created.record;
  const absl::Time now = clock_->Now();
  ASSIGN_OR_RETURN(record.id, NewKeyId(now));
  record.name = std::string(name);
  record.workspace_id = std::string(workspace_id);
  record.sha256_hex = Sha256Hex(Sha256(created.key));
  for (const ApiKeyRecord& existing : records) {
    // 80 and 256 random bits: never in practice, but a duplicate would make the file unreadable.
    if (existing.id == record.id || existing.sha256_hex == record.sha256_hex) {
      return absl::InternalError("a new API key collided with an existing one: try again");
    }
  }
  record.created_at = now;
  records.push_back(record);
  RETURN_IF_ERROR(ReplaceFile(data_dir_, path_, SerializeKeyFile(records)));
  return created;
}

absl::StatusOr<std::vector<ApiKeyRecord>> ApiKeyStore::List() const { return ReadKeyFile(path_); }

absl::StatusOr<ApiKeyRecord> ApiKeyStore::Revoke(std::string_view id) {
  if (!std::filesystem::exists(data_dir_)) return absl::NotFoundError(absl::StrCat("no data dir ", data_dir_));
  ASSIGN_OR_RETURN(std::unique_ptr<WriterLock> lock, WriterLock::Acquire(path_ + ".lock"));
  ASSIGN_OR_RETURN(std::vector<ApiKeyRecord> records, ReadKeyFile(path_));
  for (ApiKeyRecord& record : records) {
    if (record.id != id) continue;
    if (record.revoked_at) return record;
    record.revoked_at = clock_->Now();
    RETURN_IF_ERROR(ReplaceFile(data_dir_, path_, SerializeKeyFile(records)));
    return record;
  }
  return absl::NotFoundError(absl::StrCat("no API key ", ToAbsl(id), " in ", path_));
}

absl::StatusOr<ApiKeyIdentity> ApiKeyStore::Check(std::string_view presented_key) const {
  if (presented_key.empty()) return absl::UnauthenticatedError("no API key was presented");
  const Sha256Digest digest = Sha256(presented_key);
  MutexLock lock(&cache_->mu);
  cache_->Refresh(path_);
  if (!cache_->error.ok()) return cache_->error;
  // Every digest is compared, and the match is selected without a branch on which one it was.
  size_t match = 0;
  size_t matched = 0;
  for (size_t i = 0; i < cache_->entries.size(); ++i) {
    const size_t equal = DigestsEqual(cache_->entries[i].digest, digest) ? 1 : 0;
    const size_t mask = ~(equal - 1);  // all ones when equal
    match = (i & mask) | (match & ~mask);
    matched |= equal;
  }
  if (matched != 0) {
    const Cache::Entry& entry = cache_->entries[match];
    if (entry.revoked) return absl::UnauthenticatedError(absl::StrCat("the API key ", entry.id, " was revoked"));
    return ApiKeyIdentity{entry.id, entry.workspace_id};
  }
  if (cache_->active == 0) {
    return absl::UnauthenticatedError(
        absl::StrCat(cache_->entries.empty() ? "no API key exists yet" : "every API key of this server is revoked",
                     ": create one with `wakectl --data <the server's data dir> keys create`"));
  }
  return absl::UnauthenticatedError("invalid API key");
}

}  // namespace wake
