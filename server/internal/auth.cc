#include "server/internal/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "server/server.h"

namespace wake {
namespace server_internal {

KeyDigest Sha256(std::string_view data) {
  KeyDigest digest{};
  unsigned int size = 0;
  // EVP_Digest cannot fail for SHA-256 on valid arguments short of memory exhaustion; a failure
  // leaves the digest zeroed, which no key's digest equals in practice, so nothing is accepted.
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

std::string ToHex(const KeyDigest& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(digest.size() * 2);
  for (uint8_t byte : digest) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 0xF]);
  }
  return hex;
}

absl::StatusOr<KeyDigest> ParseKeyDigest(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  KeyDigest digest{};
  if (hex.size() != digest.size() * 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("an API key hash is 64 hex digits (a SHA-256), not ", hex.size(), " characters"));
  }
  for (size_t i = 0; i < digest.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError("an API key hash holds a character that is not a hex digit");
    digest[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return digest;
}

std::string PresentedKey(std::string_view x_api_key, std::string_view authorization) {
  if (!x_api_key.empty()) return std::string(x_api_key);
  absl::string_view auth = absl::StripAsciiWhitespace(ToAbsl(authorization));
  if (auth.size() > 7 && absl::StartsWithIgnoreCase(auth, "bearer ")) {
    return std::string(absl::StripAsciiWhitespace(auth.substr(7)));
  }
  return "";
}

bool KeyAccepted(std::string_view key, const std::vector<KeyDigest>& accepted) {
  const KeyDigest digest = Sha256(key);
  int matched = 0;
  for (const KeyDigest& candidate : accepted) {
    matched |= CRYPTO_memcmp(candidate.data(), digest.data(), digest.size()) == 0 ? 1 : 0;
  }
  return matched != 0;
}

}  // namespace server_internal

std::string HashApiKey(std::string_view key) { return server_internal::ToHex(server_internal::Sha256(key)); }

}  // namespace wake
