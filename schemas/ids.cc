#include "schemas/ids.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace wake {
namespace {


// Crockford's base32: digits then letters without I, L, O and U. The alphabet is in ASCII order,
// which is what makes the text sort like the bytes.
constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr size_t kIdChars = 26;  // ceil(128 / 5); the first char carries only the top 3 bits

// The 128-bit id as one integer, most significant byte first. GCC and Clang both provide
// unsigned __int128, which keeps the base32 arithmetic a plain shift loop.
using U128 = unsigned __int128;

U128 ToU128(const IdBytes& bytes) {
  U128 v = 0;
  for (uint8_t b : bytes) v = (v << 8) | b;
  return v;
}

IdBytes FromU128(U128 v) {
  IdBytes bytes;
  for (int i = 15; i >= 0; --i) {
    bytes[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
  return bytes;
}

// The value of base32 character `c` (either case), or -1.
int DigitValue(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  const size_t pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

// Per-thread generator state. Threads never share it, so no locking; the seed comes from the OS so
// two processes (or threads) do not produce the same sequence.
struct IdGenerator {
  IdGenerator() {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
    rng.seed(seed);
  }

  std::mt19937_64 rng;
  uint64_t last_millis = 0;
  U128 last_random = 0;  // low 80 bits used
  bool has_last = false;
};

constexpr int kRandomBits = 80;
constexpr U128 kRandomMask = (U128{1} << kRandomBits) - 1;
constexpr uint64_t kMaxMillis = (uint64_t{1} << 48) - 1;

}  // namespace

IdBytes NewIdBytes(absl::Time now) {
  thread_local IdGenerator gen;
  const int64_t signed_millis = absl::ToUnixMillis(now);
  uint64_t millis = static_cast<uint64_t>(std::clamp<int64_t>(signed_millis, 0, kMaxMillis));

  U128 random;
  if (gen.has_last && millis == gen.last_millis) {
    // Same millisecond: continue from the previous id so ids from one thread still increase.
    // Overflowing 80 random bits is astronomically unlikely; if it happens, borrow the next
    // millisecond rather than wrap around. (A clock that steps back gets fresh random bits: the
    // time part always comes from `now`, as the contract says.)
    random = (gen.last_random + 1) & kRandomMask;
    if (random == 0 && millis < kMaxMillis) ++millis;
  } else {
    const uint64_t high = gen.rng() & 0xFFFF;
    const uint64_t low = gen.rng();
    random = (U128{high} << 64) | low;
  }
  gen.last_millis = millis;
  gen.last_random = random;
  gen.has_last = true;
  return FromU128((U128{millis} << kRandomBits) | random);
}

std::string FormatId(std::string_view prefix, const IdBytes& bytes) {
  const U128 v = ToU128(bytes);
  std::string out;
  out.reserve(prefix.size() + kIdChars);
  out.append(prefix);
  for (size_t i = 0; i < kIdChars; ++i) {
    const int shift = static_cast<int>(5 * (kIdChars - 1 - i));
    out.push_back(kAlphabet[static_cast<size_t>(v >> shift) & 31]);
  }
  return out;
}

absl::StatusOr<IdBytes> ParseId(std::string_view prefix, std::string_view text) {
  auto invalid = [&](std::string_view why) {
    // Quote at most 64 chars of untrusted input so a huge bogus id cannot bloat logs.
    return absl::InvalidArgumentError(
        absl::StrCat("invalid id \"", ToAbsl(text.substr(0, 64)), text.size() > 64 ? "..." : "", "\": ", ToAbsl(why)));
  };
  if (text.substr(0, prefix.size()) != prefix) {
    return invalid(absl::StrCat("expected the prefix \"", ToAbsl(prefix), "\""));
  }
  const std::string_view digits = text.substr(prefix.size());
  if (digits.size() != kIdChars) {
    return invalid(absl::StrCat("expected ", kIdChars, " base32 characters after the prefix"));
  }
  U128 v = 0;
  for (size_t i = 0; i < kIdChars; ++i) {
    const int d = DigitValue(digits[i]);
    if (d < 0) return invalid(absl::StrCat("'", ToAbsl(digits.substr(i, 1)), "' is not a base32 character"));
    // 26 chars hold 130 bits; the first may only use the low 3 of its 5.
    if (i == 0 && d > 7) return invalid("value exceeds 128 bits");
    v = (v << 5) | static_cast<unsigned>(d);
  }
  return FromU128(v);
}

}  // namespace wake
