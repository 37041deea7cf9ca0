#include "schemas/ids.h"

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace wake {
namespace {

IdBytes RandomBytes(std::mt19937_64& rng) {
  IdBytes b;
  for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

TEST(IdsTest, FormatHasPrefixAnd26Base32Chars) {
  const std::string id = NewSessionId(absl::Now());
  ASSERT_EQ(id.size(), kSessionIdPrefix.size() + 26);
  EXPECT_TRUE(absl::StartsWith(id, "sesn_"));
  for (char c : id.substr(5)) {
    EXPECT_TRUE(absl::ascii_isdigit(c) || absl::ascii_isupper(c)) << id;
    EXPECT_EQ(std::string("ILOU").find(c), std::string::npos) << id;
  }
  EXPECT_TRUE(absl::StartsWith(NewEventId(absl::Now()), "sevt_"));
}

TEST(IdsTest, KnownValues) {
  IdBytes zero{};
  EXPECT_EQ(FormatId("x_", zero), "x_00000000000000000000000000");
  IdBytes ones;
  ones.fill(0xFF);
  EXPECT_EQ(FormatId("x_", ones), "x_7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
  IdBytes one{};
  one[15] = 1;
  EXPECT_EQ(FormatId("", one), "00000000000000000000000001");
}

TEST(IdsTest, ParseInvertsFormat) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 1000; ++i) {
    const IdBytes bytes = RandomBytes(rng);
    const std::string text = FormatId(kEventIdPrefix, bytes);
    absl::StatusOr<IdBytes> parsed = ParseId(kEventIdPrefix, text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, bytes) << text;
    // Lowercase is accepted too (people retype ids).
    EXPECT_EQ(ParseId(kEventIdPrefix, absl::AsciiStrToLower(text)).value(), bytes);
  }
}

TEST(IdsTest, TextOrderIsByteOrder) {
  std::mt19937_64 rng(2);
  std::vector<IdBytes> ids;
  for (int i = 0; i < 2000; ++i) ids.push_back(RandomBytes(rng));
  // Neighbouring values that differ only in low bits, where a bad encoding would break order.
  for (int i = 0; i < 200; ++i) {
    IdBytes b = RandomBytes(rng);
    ids.push_back(b);
    b[15] ^= 1;
    ids.push_back(b);
    b[0] ^= 0x80;
    ids.push_back(b);
  }
  for (size_t i = 0; i + 1 < ids.size(); ++i) {
    const IdBytes& a = ids[i];
    const IdBytes& b = ids[i + 1];
    const std::string ta = FormatId("p_", a);
    const std::string tb = FormatId("p_", b);
    EXPECT_EQ(a < b, ta < tb) << ta << " " << tb;
    EXPECT_EQ(a == b, ta == tb);
  }
}

TEST(IdsTest, TimePartSortsAcrossMilliseconds) {
  const absl::Time t = absl::FromUnixMillis(1'763'809'706'123);
  const std::string earlier = NewSessionId(t);
  const std::string later = NewSessionId(t + absl::Milliseconds(1));
  EXPECT_LT(earlier, later);
  // The top 48 bits are the milliseconds.
  const IdBytes bytes = ParseId(kSessionIdPrefix, later).value();
  uint64_t millis = 0;
  for (int i = 0; i < 6; ++i) millis = (millis << 8) | bytes[i];
  EXPECT_EQ(millis, 1'763'809'706'124u);
}

TEST(IdsTest, IdsFromOneThreadStrictlyIncrease) {
  // Many ids in the same millisecond, then in later ones: each is above the one before.
  const absl::Time t = absl::FromUnixMillis(1'763'809'706'000);
  std::string previous = FormatId("", NewIdBytes(t));
  for (int i = 0; i < 10000; ++i) {
    const std::string next = FormatId("", NewIdBytes(t + absl::Milliseconds(i / 1000)));
    ASSERT_LT(previous, next) << i;
    previous = next;
  }
}

TEST(IdsTest, TimePartAlwaysComesFromNow) {
  // Even after ids for a later time in this thread (e.g. a test's ManualClock behind real time).
  (void)NewIdBytes(absl::FromUnixMillis(2'000'000'000'000));
  const IdBytes bytes = NewIdBytes(absl::FromUnixMillis(1'700'000'000'000));
  uint64_t millis = 0;
  for (int i = 0; i < 6; ++i) millis = (millis << 8) | bytes[i];
  EXPECT_EQ(millis, 1'700'000'000'000u);
}

TEST(IdsTest, ThreadsDoNotCollide) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<IdBytes>> made(kThreads);
  std::vector<std::thread> threads;
  const absl::Time t = absl::FromUnixMillis(1'763'809'706'000);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kPerThread; ++j) made[i].push_back(NewIdBytes(t));
    });
  }
  for (std::thread& th : threads) th.join();
  std::vector<IdBytes> all;
  for (const auto& v : made) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

TEST(IdsTest, RejectsBadIds) {
  const std::string good = FormatId(kSessionIdPrefix, IdBytes{});
  ASSERT_TRUE(ParseId(kSessionIdPrefix, good).ok());
  const std::pair<std::string, const char*> cases[] = {
      {"", "prefix"},
      {"sevt_00000000000000000000000000", "prefix"},         // wrong kind of id
      {"sesn_", "26 base32 characters"},
      {"sesn_0000000000000000000000000", "26 base32 characters"},    // 25
      {"sesn_000000000000000000000000000", "26 base32 characters"},  // 27
      {"sesn_0000000000000000000000000I", "not a base32 character"},
      {"sesn_0000000000000000000000000L", "not a base32 character"},
      {"sesn_0000000000000000000000000O", "not a base32 character"},
      {"sesn_0000000000000000000000000U", "not a base32 character"},
      {"sesn_000000000000000000000000-0", "not a base32 character"},
      {"sesn_8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "exceeds 128 bits"},
  };
  for (const auto& [text, expected] : cases) {
    absl::StatusOr<IdBytes> parsed = ParseId(kSessionIdPrefix, text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), expected)) << parsed.status();
    EXPECT_TRUE(text.empty() || absl::StrContains(parsed.status().message(), text)) << parsed.status();
  }
}

}  // namespace
}  // namespace wake
