#pragma once
// A mutex with a built-in condition wait, on std::mutex and std::condition_variable.
//
// Why not absl::Mutex: Debian ships Abseil as uninstrumented shared libraries, so ThreadSanitizer
// cannot see absl::Mutex's (or absl::Notification's) happens-before edges and reports every access it
// guards as a race. libstdc++'s mutex and condition variable go through pthread, which TSan
// intercepts. The class keeps Abseil's thread-safety annotations, so clang's -Wthread-safety still
// checks ABSL_GUARDED_BY members.
//
// Unlike absl::Mutex, a waiter is only re-checked when someone calls SignalAll() (or Signal()) after
// changing the state it waits on.

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace wake {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

  // Blocks until `ready()` is true. REQUIRES: held; `ready` reads only state guarded by this mutex.
  template <typename Predicate>
  void Await(Predicate ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    cv_.wait(lock, ready);
    lock.release();
  }

  // Like Await, but gives up at `deadline`; returns whether `ready()` became true.
  template <typename Predicate>
  bool AwaitWithDeadline(Predicate ready, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    bool result;
    if (deadline == absl::InfiniteFuture()) {
      cv_.wait(lock, ready);
      result = true;
    } else {
      result = cv_.wait_until(lock, absl::ToChronoTime(deadline), ready);
    }
    lock.release();
    return result;
  }

  // Wakes waiters to re-check their predicates. May be called with or without the mutex held.
  void SignalAll() { cv_.notify_all(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A one-shot event: Notify() once, WaitForNotification() any number of times, from any threads.
// On a futex of its own: Notify is one atomic exchange, plus one wake only when a waiter is asleep,
// with no mutex to take, which matters when one committer completes dozens of waiters per group
// commit. Not std::atomic::wait: libstdc++ spins with sched_yield before it sleeps, and 64 writers
// yielding to each other on 2 cores cost ~11 % of the CPU of a 64-writer append benchmark.
class Notification {
 public:
  void Notify() {
    if (state_.exchange(kNotified, std::memory_order_acq_rel) == kSleeping) {
      syscall(SYS_futex, reinterpret_cast<int*>(&state_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
    }
  }
  void WaitForNotification() {
    while (true) {
      int state = state_.load(std::memory_order_acquire);
      if (state == kNotified) return;
      if (state == kUnset && !state_.compare_exchange_weak(state, kSleeping, std::memory_order_acq_rel)) continue;
      // Returns at once when the state is no longer kSleeping; spurious returns loop.
      syscall(SYS_futex, reinterpret_cast<int*>(&state_), FUTEX_WAIT_PRIVATE, kSleeping, nullptr, nullptr, 0);
    }
  }

 private:
  static constexpr int kUnset = 0;
  static constexpr int kNotified = 1;
  static constexpr int kSleeping = 2;  // not notified, and a waiter is (about to be) in FUTEX_WAIT
  static_assert(sizeof(std::atomic<int>) == sizeof(int) && std::atomic<int>::is_always_lock_free);
  std::atomic<int> state_{kUnset};
};

}  // namespace wake
