#pragma once
// API keys: held only as SHA-256 digests, compared in constant time. Thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wake::server_internal {

using KeyDigest = std::array<uint8_t, 32>;

KeyDigest Sha256(std::string_view data);
std::string ToHex(const KeyDigest& digest);
// 64 hex digits (either case). InvalidArgument otherwise.
absl::StatusOr<KeyDigest> ParseKeyDigest(std::string_view hex);

// The key a request presents: `x-api-key`, else `Authorization: Bearer <key>`; "" when neither.
std::string PresentedKey(std::string_view x_api_key, std::string_view authorization);

// Whether `key` hashes to one of `accepted`. Takes the same time whichever digest matches (or none):
// every digest is compared, each in constant time.
bool KeyAccepted(std::string_view key, const std::vector<KeyDigest>& accepted);

}  // namespace wake::server_internal
