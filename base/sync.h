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

#include <atomic>
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

// A one-shot event: Notify() once, WaitForNotification() any number of times.
// On a C++20 atomic wait (a futex): Notify is one store and one wake, with no mutex to take, which
// matters when one committer completes dozens of waiters per group commit.
class Notification {
 public:
  void Notify() {
    notified_.store(true, std::memory_order_release);
    notified_.notify_all();
  }
  void WaitForNotification() {
    while (!notified_.load(std::memory_order_acquire)) notified_.wait(false, std::memory_order_acquire);
  }

 private:
  std::atomic<bool> notified_{false};
};

}  // namespace wake
