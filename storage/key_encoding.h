#pragma once
// Keys of the events column family: session id (16 raw bytes) ++ seq (uint64, big-endian).
// Big-endian makes RocksDB's bytewise order equal (session, seq) numeric order, so one session's
// events are one contiguous, ordered range, and the first 16 bytes are a fixed-length prefix for
// prefix bloom filters. This is on-disk format: never change it.

#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/ids.h"

namespace wake {

inline constexpr size_t kSessionKeySize = 16;
inline constexpr size_t kEventKeySize = kSessionKeySize + 8;

// The key of a session's record in the sessions/leases column families, and its events' prefix.
std::string SessionKey(const IdBytes& session);
std::string EventKey(const IdBytes& session, uint64_t seq);

// Splits an event key. False when `key` is not kEventKeySize bytes long.
bool DecodeEventKey(std::string_view key, IdBytes* session, uint64_t* seq);

}  // namespace wake
