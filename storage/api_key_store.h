#pragma once
// ApiKeyStore: the API keys of a data dir, which waked checks on every request and operators manage
// with `wakectl keys` while waked runs.
//
// Keys live in the text file <data_dir>/api_keys (mode 0600), not in RocksDB: wakectl must be able to
// create and revoke keys while waked holds the RocksDB lock, and waked must see the change on its
// next request. A key itself is never stored: only its SHA-256 (a key is 32 random bytes, so a plain
// hash is enough; there is nothing to brute-force). Create returns the plaintext once.
//
// On-disk format (version 1; a format change bumps the first line):
//   wake-api-keys v1
//   <id>\t<sha256 hex>\t<workspace id>\t<created_at RFC 3339>\t<revoked_at RFC 3339 or ->\t<name>
// one record per line, in creation order. Records are never deleted, and every write makes the file
// longer (a new record, or "-" replaced by a time), so (inode, mtime, size) changes on every write.
//
// Writers (Create, Revoke) take an exclusive flock on <data_dir>/api_keys.lock, re-read the file,
// write the new contents to a temp file, fsync it, rename it over api_keys and fsync the dir: two
// processes never lose each other's keys, and a crash leaves the old file or the new one.
//
// Thread-safe; any number of ApiKeyStore objects (in any number of processes) may share a data dir.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"

namespace wake {

inline constexpr std::string_view kApiKeyIdPrefix = "key_";
// What every key starts with, so a leaked one is easy to recognize (and to scan for).
inline constexpr std::string_view kApiKeyPrefix = "sk-wake-";
inline constexpr std::string_view kApiKeyFileName = "api_keys";
inline constexpr std::string_view kDefaultWorkspaceId = "default";

// SHA-256, shared by whatever in wake hashes a secret (API keys here; the server uses these too).
using Sha256Digest = std::array<uint8_t, 32>;
Sha256Digest Sha256(std::string_view data);
std::string Sha256Hex(const Sha256Digest& digest);  // 64 lower-case hex digits
// Whether a == b, in time that does not depend on where they differ.
bool DigestsEqual(const Sha256Digest& a, const Sha256Digest& b);

struct ApiKeyRecord {
  std::string id;  // "key_" + an id of schemas/ids.h
  std::string name;
  std::string workspace_id;
  std::string sha256_hex;  // of the key
  absl::Time created_at;
  std::optional<absl::Time> revoked_at;
};

struct CreatedApiKey {
  ApiKeyRecord record;
  std::string key;  // the plaintext: "sk-wake-" + 43 base64url characters (32 random bytes)
};

// Who a request's key belongs to.
struct ApiKeyIdentity {
  std::string key_id;
  std::string workspace_id;
};

struct ApiKeyStoreOptions {
  std::string data_dir;
  Clock* clock = nullptr;  // created_at / revoked_at; null: Clock::Real()
};

class ApiKeyStore {
 public:
  explicit ApiKeyStore(ApiKeyStoreOptions options);
  ~ApiKeyStore();
  ApiKeyStore(const ApiKeyStore&) = delete;
  ApiKeyStore& operator=(const ApiKeyStore&) = delete;

  const std::string& path() const { return path_; }  // <data_dir>/api_keys

  // A new key named `name` for `workspace_id` ("": "default"). Creates the data dir if it is missing.
  // InvalidArgument for a name with a tab, a newline or other control characters, or over 200 bytes,
  // or a workspace id that is not 1-64 of [A-Za-z0-9_.-]; DataLoss when the existing file is corrupt
  // (it is left as it is).
  absl::StatusOr<CreatedApiKey> Create(std::string_view name, std::string_view workspace_id);

  // Every key, revoked ones included, oldest first. Empty when the file does not exist; DataLoss
  // (naming the file and line) when it is corrupt.
  absl::StatusOr<std::vector<ApiKeyRecord>> List() const;

  // Marks key `id` revoked from now on and returns its record. NotFound for an unknown id. Revoking a
  // revoked key changes nothing and returns the record with its first revoked_at (check it to tell).
  absl::StatusOr<ApiKeyRecord> Revoke(std::string_view id);

  // The identity of `presented_key`, checked against the file as it is now (re-read when its inode,
  // mtime or size changed since the last call; otherwise one stat()). The key's digest is compared
  // with every record's, each in constant time, so the time taken does not depend on which key
  // matched or where a wrong key differs.
  // Unauthenticated with a message for the client: no key presented, no active key exists yet,
  // "the API key key_... was revoked", or "invalid API key". DataLoss when the file is corrupt (no
  // key is accepted until it is fixed), another code when it cannot be read.
  absl::StatusOr<ApiKeyIdentity> Check(std::string_view presented_key) const;

 private:
  struct Cache;

  const std::string data_dir_;
  const std::string path_;
  Clock* const clock_;
  std::unique_ptr<Cache> cache_;  // Check's copy of the file
};

}  // namespace wake
