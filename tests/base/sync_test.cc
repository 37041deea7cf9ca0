// Notification: the one-shot event every blocked log writer waits on.

#include "base/sync.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
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

// Whether thread `tid` of this process is asleep in the kernel (state S in /proc), e.g. in FUTEX_WAIT.
bool Asleep(pid_t tid) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');  // the name may hold spaces; the state follows ") "
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'S';
}

// Waiters that are already asleep when Notify comes (the futex path), and one that arrives after.
TEST(NotificationTest, NotifyWakesEveryWaiter) {
  constexpr int kWaiters = 8;
  Notification n;
  std::vector<std::atomic<pid_t>> tids(kWaiters);
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      tids[i] = gettid();
      n.WaitForNotification();
      ++woken;
    });
  }
  // Until every waiter sleeps in the kernel (a thread is also in state S for other reasons, e.g. while
  // starting, so this is the condition the futex path needs, not proof of it).
  for (int i = 0; i < kWaiters; ++i) {
    while (tids[i].load() == 0 || !Asleep(tids[i].load())) std::this_thread::yield();
  }
  EXPECT_EQ(woken.load(), 0);
  n.Notify();
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(woken.load(), kWaiters);
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
