#pragma once
// CancelToken: a one-way flag one thread raises and another polls, for stopping long work at its next
// safe point (a model stream, a running tool). Shared by harness/ (user.interrupt stops the brain)
// and sandbox/ (it kills a running tool's process tree).

#include <atomic>

namespace wake {

class CancelToken {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace wake
