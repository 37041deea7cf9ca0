// Notification: the one-shot event every blocked log writer waits on.

#include "base/sync.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace wake {
namespace {

TEST(NotificationTest, AWaitAfterNotifyReturnsAtOnce) {
  Notification n;
  n.Notify();
  n.WaitForNotification();
  n.WaitForNotification();  // any number of times
}

// Waiters that are already asleep when Notify comes (the futex path), and one that arrives after.
TEST(NotificationTest, NotifyWakesEveryWaiter) {
  Notification n;
  std::atomic<int> started{0};
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 8; ++i) {
    waiters.emplace_back([&] {
      ++started;
      n.WaitForNotification();
      ++woken;
    });
  }
  while (started.load() < 8) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let them reach FUTEX_WAIT
  EXPECT_EQ(woken.load(), 0);
  n.Notify();
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(woken.load(), 8);
  n.WaitForNotification();
}

// Notify racing the waiter's first check, many times: a lost wake-up would hang (the test's timeout).
TEST(NotificationTest, NoWakeUpIsLostWhenNotifyRacesTheWait) {
  for (int round = 0; round < 2000; ++round) {
    Notification n;
    std::thread waiter([&] { n.WaitForNotification(); });
    if (round % 2 == 0) std::this_thread::yield();
    n.Notify();
    waiter.join();
  }
}

}  // namespace
}  // namespace wake
