#pragma once
// SecretBox: seals secret values for storage with AES-256-GCM under one 32-byte data key.
//
// A sealed value is nonce (12 random bytes) ++ ciphertext ++ tag (16 bytes). `context` (e.g. the
// record's id) is authenticated but not stored: a sealed value copied into another record does not
// open there. A sealed value reveals the length of its plain text, nothing else.
//
// The key file: LoadOrCreateKeyFile reads 32 bytes from `path`, or creates the file (32 bytes from
// the OpenSSL CSPRNG, mode 0600, fsynced) when it does not exist; a key file that group or others may
// read is refused, as ssh refuses such private keys.
//
// Immutable after construction; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wake {

class SecretBox {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kNonceBytes = 12;
  static constexpr size_t kTagBytes = 16;

  // InvalidArgument unless `key` has kKeyBytes bytes.
  static absl::StatusOr<SecretBox> FromKey(std::string key);
  // FailedPrecondition for a key file of the wrong size or mode; the I/O error otherwise.
  static absl::StatusOr<SecretBox> LoadOrCreateKeyFile(const std::string& path);

  absl::StatusOr<std::string> Seal(std::string_view plaintext, std::string_view context) const;
  // DataLoss when the value was not sealed under this key and context (or was altered).
  absl::StatusOr<std::string> Open(std::string_view sealed, std::string_view context) const;

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace wake
