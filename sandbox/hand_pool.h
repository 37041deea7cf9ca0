#pragma once
// HandPool: the SessionHands the harness calls. One hand per session, made lazily:
//
//   - provisioned on the session's first tool call, never before (no one waits for a sandbox before
//     the first token); a hand an earlier process left for the session is re-attached first, so a
//     restarted engine carries on in the same sandbox;
//   - concurrent first calls share one provisioning (single flight): one Provision, every caller
//     waits for it and gets its hand, or its error;
//   - reused across calls and turns;
//   - released after `idle_release_after` without a call (ReleaseIdle, run by a reaper thread or the
//     engine), or when the session ends (ReleaseSession);
//   - a hand that fails Unavailable (container gone, connection lost) turns the call into an error
//     the harness records as a tool error, is dropped (and its sandbox released), and the next call
//     provisions a fresh one.
//
// Warm pool (HandPoolOptions::warm, off by default): the pool keeps K provisioned spare hands per
// provider and gives one to a session whose first tool call finds no hand (and none to re-attach),
// the way platforms hide a container start; background threads then provision a replacement. A
// spare is checked with Health() as it is handed out; a dead one is released and discarded, never
// handed out. Spares belong to no session: they are provisioned under an id of their own
// ("warm_<id>"); a session that takes one has its provider adopt it (HandProvider::Adopt), so a
// restarted process re-attaches it like any other (docker: the container is renamed to the session's
// name). Where a backend cannot adopt (local, ssh), a restarted process provisions a new sandbox for
// the session and the provider's ReapExcept finds the old one as a sandbox of no session. The spares
// still in the pool are released when the pool is destroyed.
//
// Idempotency: the pool remembers the results of the last `remembered_results` calls of each session
// by idempotency key, and answers a repeated key with the stored result instead of running again.
//
// Events: wake.hand_provisioned (with the time it took; reason "reattached" for a re-attached hand,
// "warm" for a spare from the warm pool)
// and wake.hand_lost go to the caller of Execute, which appends them with the tool result;
// wake.hand_released of a release the pool makes on its own goes to `on_released` (the engine appends
// it). Counters and latency totals are in stats().
//
// Metrics (HandPoolOptions::metrics, when given):
//   wake_hand_provision_seconds{backend,kind}  each successful provisioning; kind "new", "reattached"
//                                               or "warm" (a spare taken from the warm pool)
//   wake_hand_execute_seconds{backend}          each tool call run on a hand (not those answered from
//                                               the idempotency memory)
//   wake_errors_total{type="hand_provision_error"|"hand_lost"}
//   wake_hand_spares_ready{backend}             warm-pool spares provisioned and waiting now (a pool is
//   wake_hand_spares_target{backend}            ready when these two are equal)
//
// Thread-safe. A provisioning or a tool run holds no lock.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "base/sync.h"
#include "sandbox/hand.h"
#include "sandbox/toolset.h"

namespace wake {

// Where a session's hand lives.
struct HandPlacement {
  HandProvider* provider = nullptr;  // not owned; outlives the pool
  HandResources resources;
};

// Spares the warm pool keeps for one provider.
struct WarmHands {
  HandProvider* provider = nullptr;  // not owned; outlives the pool
  // The spares' limits. A session gets a spare only when its placement names this provider with the
  // same memory, cpus, pids and network; its env is applied to each process the hand runs, as for any
  // hand.
  HandResources resources;
  size_t spares = 0;  // how many the pool keeps ready (0: none)
};

struct HandPoolOptions {
  // Chooses the provider and resources of a session's hand, at provisioning. Required.
  std::function<absl::StatusOr<HandPlacement>(std::string_view session_id)> placement;
  absl::Duration idle_release_after = absl::Minutes(10);
  // How often the pool's own reaper thread runs ReleaseIdle; zero: no thread (the owner calls it).
  absl::Duration reap_interval = absl::ZeroDuration();
  size_t remembered_results = 64;
  ToolsetOptions toolset;
  Clock* clock = Clock::Real();
  // Told of each hand the pool released on its own (idle, ReleaseSession), with its
  // wake.hand_released event (no id yet). Called without the pool's lock held. May be empty.
  std::function<void(std::string_view session_id, Event released)> on_released;
  // Where to record metrics (not owned; outlives the pool). Null: none are recorded.
  MetricsRegistry* metrics = nullptr;
  // Warm pools, at most one per provider. Empty (the default): every hand is provisioned on demand.
  std::vector<WarmHands> warm;
  // How many spares the warm pool provisions at once (its refill threads), at least 1.
  size_t warm_refill_threads = 2;
  // How long the warm pool waits after a failed spare provisioning before it tries again.
  absl::Duration warm_retry_after = absl::Seconds(1);
};

struct HandPoolStats {
  int64_t provisions = 0;  // new sandboxes
  int64_t reattaches = 0;  // sandboxes of an earlier process found again
  int64_t provision_failures = 0;
  int64_t executions = 0;      // tool calls run on a hand
  int64_t remembered_hits = 0;  // calls answered from the idempotency memory
  int64_t lost = 0;             // hands that died under a call
  int64_t released = 0;
  absl::Duration provision_time;  // total over provisions and reattaches
  absl::Duration execute_time;    // total over executions
  // The warm pool.
  int64_t warm_hits = 0;            // sessions given a spare (counted in neither provisions nor reattaches)
  int64_t adopt_failures = 0;       // spares whose provider failed to make them the session's (they served)
  int64_t spares_provisioned = 0;   // spares made
  int64_t spare_failures = 0;       // spare provisionings that failed
  int64_t spares_discarded = 0;     // spares found dead when handed out, released instead
  size_t spares_ready = 0;          // spares waiting now, over every provider
};

class HandPool final : public SessionHands {
 public:
  explicit HandPool(HandPoolOptions options);
  // Stops the reaper and the warm pool's refill (waiting for a spare being provisioned), then releases
  // the spares. Releases no session's hand: sandboxes outlive the process and are re-attached by the
  // next.
  ~HandPool() override;

  HandPool(const HandPool&) = delete;
  HandPool& operator=(const HandPool&) = delete;

  absl::StatusOr<ToolResult> Execute(std::string_view session_id, const ToolCall& call, const CancelToken* cancel,
                                     std::vector<Event>* hand_events) override;

  // Provisions (or re-attaches) the session's hand now, without running anything: eager
  // provisioning, for engines configured the way most platforms work (a sandbox per session up front)
  // and for warm pools. Adds wake.hand_provisioned to `hand_events` when it made one.
  absl::Status Prepare(std::string_view session_id, std::vector<Event>* hand_events);
  // Releases the session's hand now (the session was deleted or archived); waits for calls running
  // on it to finish first. OK when it has none. Also removes a sandbox an earlier process left.
  absl::Status ReleaseSession(std::string_view session_id) override;
  // Releases every hand unused for idle_release_after. Returns how many.
  size_t ReleaseIdle();

  // Whether the session has a live hand in this pool now.
  bool HasHand(std::string_view session_id) const;
  HandPoolStats stats() const;

 private:
  struct Entry {
    std::shared_ptr<Hand> hand;
    HandResources resources;  // the hand's, for its processes' environment
    bool provisioning = false;
    uint64_t generation = 0;  // counts finished provisionings; waiters compare it
    absl::Status last_error;  // of the last provisioning, for the callers that waited on it
    int in_flight = 0;
    absl::Time last_used;
    std::deque<std::pair<std::string, ToolResult>> remembered;  // oldest first
  };

  // The session's hand, provisioned (or re-attached) when it has none. `provisioned` is set to the
  // event of a provisioning this call made. Counts the call in flight on success.
  absl::StatusOr<std::shared_ptr<Hand>> Acquire(const std::string& session_id, std::optional<Event>& provisioned,
                                                HandResources& resources);
  Event HandEvent(EventType type, const Hand& hand) const;
  void ReaperLoop();

  // The warm pool of one provider.
  struct WarmSlot {
    WarmHands spec;
    std::vector<std::unique_ptr<Hand>> ready;  // oldest first (a few: erasing the front is cheap)
    int provisioning = 0;
    Gauge* ready_gauge = nullptr;  // wake_hand_spares_ready of its backend; null without metrics
  };
  // A live spare for `placement`, or null when it has no warm pool, its resources differ, or none is
  // ready. Dead spares met on the way are released and counted.
  std::unique_ptr<Hand> TakeSpare(const HandPlacement& placement);
  void RefillLoop();

  const HandPoolOptions options_;
  // From options_.metrics; all null when it is.
  HistogramFamily* provision_seconds_ = nullptr;
  HistogramFamily* execute_seconds_ = nullptr;
  CounterFamily* errors_ = nullptr;
  mutable Mutex mu_;
  std::map<std::string, Entry, std::less<>> sessions_ ABSL_GUARDED_BY(mu_);
  HandPoolStats stats_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<WarmSlot> warm_ ABSL_GUARDED_BY(mu_);
  std::thread reaper_;
  std::vector<std::thread> refill_;
};

}  // namespace wake
