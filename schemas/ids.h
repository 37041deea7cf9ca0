#pragma once
// Identifiers: 128-bit values that sort by creation time (48-bit milliseconds since the Unix epoch,
// then 80 random bits, like ULID), written as a prefix and 26 Crockford base32 characters:
// "sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK". The text form sorts like the bytes.
//
// Thread safety: all functions are thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wake {

// The 16 raw bytes of an id; also the session key prefix in storage.
using IdBytes = std::array<uint8_t, 16>;

inline constexpr std::string_view kSessionIdPrefix = "sesn_";
inline constexpr std::string_view kEventIdPrefix = "sevt_";

// A new id for time `now`: the time part from `now`, the rest from a per-thread random generator
// seeded from the OS. Ids made in one thread within one millisecond still increase (the random part
// is incremented), so they are unique and ordered.
IdBytes NewIdBytes(absl::Time now);

std::string FormatId(std::string_view prefix, const IdBytes& bytes);
// Parses "<prefix><26 base32 chars>". InvalidArgument (naming the id) when the prefix, length or
// alphabet is wrong.
absl::StatusOr<IdBytes> ParseId(std::string_view prefix, std::string_view text);

inline std::string NewSessionId(absl::Time now) { return FormatId(kSessionIdPrefix, NewIdBytes(now)); }
inline std::string NewEventId(absl::Time now) { return FormatId(kEventIdPrefix, NewIdBytes(now)); }

}  // namespace wake
