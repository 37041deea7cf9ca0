#include "storage/key_encoding.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"

namespace wake {
namespace {

IdBytes RandomId(std::mt19937_64& rng) {
  IdBytes id;
  for (auto& b : id) b = static_cast<uint8_t>(rng());
  return id;
}

uint64_t RandomSeq(std::mt19937_64& rng) {
  // Mix small seqs (the common case) with values that exercise every byte.
  switch (rng() % 3) {
    case 0: return rng() % 1000;
    case 1: return rng() % (1ull << 32);
    default: return rng();
  }
}

TEST(KeyEncodingTest, RoundTrips) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10'000; ++i) {
    IdBytes id = RandomId(rng);
    uint64_t seq = RandomSeq(rng);
    std::string key = EventKey(id, seq);
    ASSERT_EQ(key.size(), kEventKeySize);
    IdBytes id2;
    uint64_t seq2;
    ASSERT_TRUE(DecodeEventKey(key, &id2, &seq2));
    EXPECT_EQ(id2, id);
    EXPECT_EQ(seq2, seq);
    EXPECT_EQ(key.substr(0, kSessionKeySize), SessionKey(id));
  }
}

TEST(KeyEncodingTest, ByteOrderEqualsNumericOrder) {
  std::mt19937_64 rng(42);
  // Few ids, many seqs, so pairs often share a session and the seq part decides.
  std::vector<IdBytes> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(RandomId(rng));
  for (int i = 0; i < 100'000; ++i) {
    const IdBytes& a = ids[rng() % ids.size()];
    const IdBytes& b = ids[rng() % ids.size()];
    uint64_t sa = RandomSeq(rng), sb = RandomSeq(rng);
    const bool numeric_less = std::tie(a, sa) < std::tie(b, sb);  // std::array compares bytewise
    const bool bytes_less = EventKey(a, sa) < EventKey(b, sb);   // std::string compares as unsigned char
    ASSERT_EQ(numeric_less, bytes_less) << "seqs " << sa << " vs " << sb;
  }
}

TEST(KeyEncodingTest, AdjacentSeqsSortAdjacent) {
  IdBytes id{};
  id.fill(0xff);
  for (uint64_t seq : std::vector<uint64_t>{0, 255, 256, 65535, (1ull << 32) - 1, UINT64_MAX - 1}) {
    EXPECT_LT(EventKey(id, seq), EventKey(id, seq + 1)) << seq;
  }
}

TEST(KeyEncodingTest, RejectsWrongLength) {
  IdBytes id;
  uint64_t seq;
  EXPECT_FALSE(DecodeEventKey("short", &id, &seq));
  EXPECT_FALSE(DecodeEventKey(std::string(kEventKeySize + 1, 'a'), &id, &seq));
}

}  // namespace
}  // namespace wake
