#pragma once
// Time enters wake through this interface only, so lease expiry and timestamps can be driven by tests
// without sleeping (DESIGN.md rule 5: time reaches an event only as a field).

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wake {

// A source of wall-clock time. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Waits for `d` of this clock's time (backoff between retries). A ManualClock just advances.
  virtual void SleepFor(absl::Duration d) = 0;

  // The process-wide real clock. Never null; lives forever.
  static Clock* Real();
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : micros_(absl::ToUnixMicros(start)) {}
  absl::Time Now() const override { return absl::FromUnixMicros(micros_.load()); }
  void SleepFor(absl::Duration d) override { Advance(d); }
  void Advance(absl::Duration d) { micros_ += absl::ToInt64Microseconds(d); }

 private:
  std::atomic<int64_t> micros_;
};

inline Clock* Clock::Real() {
  class RealClock final : public Clock {
   public:
    absl::Time Now() const override { return absl::Now(); }
    void SleepFor(absl::Duration d) override { absl::SleepFor(d); }
  };
  static RealClock* const clock = new RealClock;
  return clock;
}

}  // namespace wake
