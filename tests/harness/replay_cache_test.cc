// ReplayCache on its own: what it keeps, what it refuses, and what it drops when over its budget.
// (How a wake uses it is in harness_test.cc.)

#include "harness/replay_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "schemas/ids.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

// A session log prefix of `count` events with seqs 1..count.
std::vector<Event> Prefix(size_t count, size_t padding = 0) {
  std::vector<Event> events;
  for (size_t i = 1; i <= count; ++i) {
    events.push_back(testing::TextMessage(EventType::kUserMessage, std::to_string(i), padding));
    events.back().seq = i;
  }
  return events;
}

size_t Bytes(const std::vector<Event>& events) {
  size_t bytes = 0;
  for (const Event& e : events) bytes += ReplayCache::EstimateBytes(e);
  return bytes;
}

const std::string kSessionA = NewSessionId(absl::FromUnixSeconds(1));
const std::string kSessionB = NewSessionId(absl::FromUnixSeconds(2));
const std::string kSessionC = NewSessionId(absl::FromUnixSeconds(3));

TEST(ReplayCacheTest, TakeGivesBackWhatWasPutOnce) {
  ReplayCache cache(size_t{1} << 20);
  EXPECT_TRUE(cache.Take(kSessionA).empty());
  const std::vector<Event> events = Prefix(5);
  cache.Put(kSessionA, events);
  EXPECT_EQ(cache.sessions(), 1u);
  EXPECT_GE(cache.bytes(), Bytes(events));
  EXPECT_EQ(cache.Take(kSessionA), events);
  // Taken out: a second wake of the same session finds nothing to share.
  EXPECT_TRUE(cache.Take(kSessionA).empty());
  EXPECT_EQ(cache.sessions(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(ReplayCacheTest, KeepsOnlyWholePrefixesOfALog) {
  ReplayCache cache(size_t{1} << 20);
  std::vector<Event> tail = Prefix(5);
  tail.erase(tail.begin());  // seqs 2..5: not from the start of the log
  cache.Put(kSessionA, tail);
  std::vector<Event> gap = Prefix(5);
  gap[4].seq = 7;  // 1..4, 7: a gap
  cache.Put(kSessionB, gap);
  std::vector<Event> unassigned(2);  // seq 0: never appended
  cache.Put(kSessionC, unassigned);
  cache.Put(kSessionC, {});
  EXPECT_EQ(cache.sessions(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(ReplayCacheTest, DropsTheLeastRecentlyPutSessionsPastItsBudget) {
  const std::vector<Event> events = Prefix(20, 1000);
  // Room for two sessions of these events, not three.
  ReplayCache cache(Bytes(events) * 5 / 2);
  cache.Put(kSessionA, events);
  cache.Put(kSessionB, events);
  EXPECT_EQ(cache.sessions(), 2u);
  cache.Put(kSessionC, events);
  EXPECT_EQ(cache.sessions(), 2u);
  EXPECT_LE(cache.bytes(), Bytes(events) * 5 / 2);
  EXPECT_TRUE(cache.Take(kSessionA).empty());  // the oldest went
  EXPECT_EQ(cache.Take(kSessionB), events);
  EXPECT_EQ(cache.Take(kSessionC), events);
}

TEST(ReplayCacheTest, ASessionLargerThanTheBudgetIsNotKept) {
  const std::vector<Event> events = Prefix(20, 1000);
  ReplayCache cache(Bytes(events) / 2);
  cache.Put(kSessionA, events);
  EXPECT_EQ(cache.sessions(), 0u);
  ReplayCache off(0);
  off.Put(kSessionA, Prefix(1));
  EXPECT_EQ(off.sessions(), 0u);
}

TEST(ReplayCacheTest, PutReplacesAndEraseDrops) {
  ReplayCache cache(size_t{1} << 20);
  cache.Put(kSessionA, Prefix(3));
  cache.Put(kSessionA, Prefix(4));
  EXPECT_EQ(cache.sessions(), 1u);
  EXPECT_EQ(cache.bytes(), [] {
    ReplayCache fresh(size_t{1} << 20);
    fresh.Put(kSessionA, Prefix(4));
    return fresh.bytes();
  }());
  EXPECT_EQ(cache.Take(kSessionA).size(), 4u);
  cache.Put(kSessionB, Prefix(2));
  cache.Erase(kSessionB);
  cache.Erase(kSessionC);  // nothing kept: no-op
  EXPECT_EQ(cache.sessions(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

// The bytes a fresh cache counts for `events` (copied with no spare capacity).
size_t FreshBytes(const std::vector<Event>& events) {
  ReplayCache fresh(size_t{1} << 30);
  fresh.Put(kSessionA, events);
  return fresh.bytes();
}

TEST(ReplayCacheTest, APutAfterATakeCountsWhatTheWakeAddedOnTopOfWhatItTook) {
  ReplayCache cache(size_t{1} << 30);
  cache.Put(kSessionA, Prefix(3, 100));
  std::vector<Event> events = cache.Take(kSessionA);
  for (Event& e : Prefix(6, 5000)) {
    if (e.seq > 3) events.push_back(std::move(e));  // seqs 4..6, bigger than the first three
  }
  events.shrink_to_fit();
  const size_t expected = FreshBytes(events);
  cache.Put(kSessionA, std::move(events));
  EXPECT_EQ(cache.bytes(), expected);

  // A wake that replaced what it took (the log did not end with it) gets a full count, not the old one.
  std::vector<Event> replaced = cache.Take(kSessionA);
  replaced = Prefix(8, 20'000);
  replaced.shrink_to_fit();
  const size_t replaced_bytes = FreshBytes(replaced);
  cache.Put(kSessionA, std::move(replaced));
  EXPECT_EQ(cache.bytes(), replaced_bytes);
}

TEST(ReplayCacheTest, EstimateCountsTheHeapOfLongStrings) {
  Event small = testing::TextMessage(EventType::kUserMessage, "x");
  Event big = small;
  big.content[0].text.assign(10'000, 'a');
  EXPECT_GE(ReplayCache::EstimateBytes(big), ReplayCache::EstimateBytes(small) + 10'000);
  EXPECT_GE(ReplayCache::EstimateBytes(small), sizeof(Event));
}

}  // namespace
}  // namespace wake
