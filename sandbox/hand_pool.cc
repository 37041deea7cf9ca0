#include "sandbox/hand_pool.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "schemas/ids.h"

namespace wake {

HandPool::HandPool(HandPoolOptions options) : options_(std::move(options)) {
  if (options_.metrics != nullptr) {
    provision_seconds_ = &options_.metrics->AddHistogramFamily(
        "wake_hand_provision_seconds", "Hand provisioning time (new sandbox, or one re-attached), by backend.",
        {"backend", "kind"}, LatencyBuckets());
    execute_seconds_ = &options_.metrics->AddHistogramFamily(
        "wake_hand_execute_seconds", "Tool call time on a hand, by backend.", {"backend"}, LatencyBuckets());
    errors_ = &ErrorCounters(*options_.metrics);
  }
  if (options_.reap_interval > absl::ZeroDuration()) reaper_ = std::thread([this] { ReaperLoop(); });
  bool any_warm = false;
  {
    MutexLock lock(&mu_);
    for (const WarmHands& spec : options_.warm) {
      if (spec.provider == nullptr || spec.spares == 0) continue;
      warm_.push_back(WarmSlot{spec, {}, 0, nullptr});
      if (options_.metrics != nullptr) {
        const std::string backend(spec.provider->backend());
        options_.metrics
            ->AddGaugeFamily("wake_hand_spares_target", "Warm-pool spares the pool keeps, by backend.", {"backend"})
            .WithLabels({backend})
            .Set(static_cast<int64_t>(spec.spares));
        warm_.back().ready_gauge =
            &options_.metrics
                 ->AddGaugeFamily("wake_hand_spares_ready", "Warm-pool spares provisioned and waiting, by backend.",
                                  {"backend"})
                 .WithLabels({backend});
      }
      any_warm = true;
    }
  }
  if (any_warm) {
    for (size_t i = 0; i < std::max<size_t>(1, options_.warm_refill_threads); ++i) {
      refill_.emplace_back([this] { RefillLoop(); });
    }
  }
}

HandPool::~HandPool() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  mu_.SignalAll();
  if (reaper_.joinable()) reaper_.join();
  for (std::thread& t : refill_) t.join();
  // The spares belong to no session: nothing would ever re-attach them.
  std::vector<std::unique_ptr<Hand>> spares;
  {
    MutexLock lock(&mu_);
    for (WarmSlot& slot : warm_) {
      for (std::unique_ptr<Hand>& hand : slot.ready) spares.push_back(std::move(hand));
      slot.ready.clear();
      if (slot.ready_gauge != nullptr) slot.ready_gauge->Set(0);
    }
  }
  for (std::unique_ptr<Hand>& hand : spares) (void)hand->Release();
}

namespace {

// Whether a spare made with `spare` limits may serve a session placed with `wanted` (env is applied
// per process, so it does not matter).
bool SameLimits(const HandResources& spare, const HandResources& wanted) {
  return spare.memory_bytes == wanted.memory_bytes && spare.cpus == wanted.cpus && spare.pids == wanted.pids &&
         spare.network == wanted.network;
}

}  // namespace

std::unique_ptr<Hand> HandPool::TakeSpare(const HandPlacement& placement) {
  while (true) {
    std::unique_ptr<Hand> spare;
    {
      MutexLock lock(&mu_);
      for (WarmSlot& slot : warm_) {
        if (slot.spec.provider != placement.provider || !SameLimits(slot.spec.resources, placement.resources)) continue;
        if (slot.ready.empty()) return nullptr;
        spare = std::move(slot.ready.front());
        slot.ready.erase(slot.ready.begin());
        if (slot.ready_gauge != nullptr) slot.ready_gauge->Set(static_cast<int64_t>(slot.ready.size()));
        mu_.SignalAll();  // the refill thread makes its replacement
        break;
      }
    }
    if (spare == nullptr) return nullptr;
    if (spare->Health().ok()) return spare;
    // It died while it waited (container killed, host gone): never hand it out.
    (void)spare->Release();
    MutexLock lock(&mu_);
    ++stats_.spares_discarded;
  }
}

void HandPool::RefillLoop() {
  while (true) {
    size_t index = 0;
    WarmHands spec;
    {
      MutexLock lock(&mu_);
      auto deficit = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        for (size_t i = 0; i < warm_.size(); ++i) {
          if (warm_[i].ready.size() + static_cast<size_t>(warm_[i].provisioning) < warm_[i].spec.spares) {
            index = i;
            return true;
          }
        }
        return false;
      };
      mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || deficit(); });
      if (stopping_) return;
      ++warm_[index].provisioning;
      spec = warm_[index].spec;
    }
    const std::string spare_id = FormatId("warm_", NewIdBytes(absl::Now()));
    absl::StatusOr<std::unique_ptr<Hand>> made = spec.provider->Provision(spare_id, spec.resources);
    MutexLock lock(&mu_);
    --warm_[index].provisioning;
    if (!made.ok()) {
      ++stats_.spare_failures;
      if (errors_ != nullptr) errors_->WithLabels({"hand_provision_error"}).Increment();
      // Do not spin on a provider that keeps failing; the session's own call provisions meanwhile.
      if (mu_.AwaitWithDeadline([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; }, absl::Now() + options_.warm_retry_after)) return;
      continue;
    }
    ++stats_.spares_provisioned;
    warm_[index].ready.push_back(*std::move(made));
    if (warm_[index].ready_gauge != nullptr) warm_[index].ready_gauge->Set(static_cast<int64_t>(warm_[index].ready.size()));
    mu_.SignalAll();
  }
}

Event HandPool::HandEvent(EventType type, const Hand& hand) const {
  Event e;
  e.type = type;
  e.hand_id = hand.id();
  e.hand_backend = std::string(hand.backend());
  return e;
}

absl::StatusOr<std::shared_ptr<Hand>> HandPool::Acquire(const std::string& session_id,
                                                        std::optional<Event>& provisioned, HandResources& resources) {
  {
    MutexLock lock(&mu_);
    const uint64_t seen = sessions_[session_id].generation;
    // Single flight: while another call provisions this session's hand, wait for its outcome. (The
    // entry is looked up again after waiting: ReleaseSession may have erased it meanwhile.)
    mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = sessions_.find(session_id);
      return it == sessions_.end() || !it->second.provisioning;
    });
    Entry& entry = sessions_[session_id];
    if (entry.hand != nullptr) {
      ++entry.in_flight;
      resources = entry.resources;
      return entry.hand;
    }
    if (entry.generation != seen) return entry.last_error;  // the provisioning we waited for failed
    entry.provisioning = true;
  }

  // This call provisions; no lock is held while it runs.
  const absl::Time start = options_.clock->Now();
  bool reattached = false;
  bool warm = false;
  absl::StatusOr<HandPlacement> placement = options_.placement(session_id);
  absl::StatusOr<std::unique_ptr<Hand>> made = absl::FailedPreconditionError("no hand provider is configured");
  if (!placement.ok()) {
    made = placement.status();
  } else if (placement->provider != nullptr) {
    // A sandbox the session already has wins over a spare; a spare over a new one.
    made = placement->provider->Reattach(session_id, placement->resources);
    reattached = made.ok();
    if (!made.ok() && made.status().code() == absl::StatusCode::kNotFound) {
      if (std::unique_ptr<Hand> spare = TakeSpare(*placement); spare != nullptr) {
        // The spare serves either way; adopted, a later process re-attaches it too.
        if (absl::Status adopted = placement->provider->Adopt(*spare, session_id);
            !adopted.ok() && !absl::IsUnimplemented(adopted)) {
          MutexLock lock(&mu_);
          ++stats_.adopt_failures;
        }
        made = std::move(spare);
        warm = true;
      } else {
        made = placement->provider->Provision(session_id, placement->resources);
      }
    }
  }
  const absl::Duration took = options_.clock->Now() - start;

  MutexLock lock(&mu_);
  Entry& entry = sessions_[session_id];
  entry.provisioning = false;
  ++entry.generation;
  mu_.SignalAll();
  if (!made.ok()) {
    ++stats_.provision_failures;
    if (errors_ != nullptr) errors_->WithLabels({"hand_provision_error"}).Increment();
    entry.last_error = absl::Status(made.status().code(),
                                    absl::StrCat("provisioning a hand failed: ", made.status().message()));
    return entry.last_error;
  }
  entry.hand = std::shared_ptr<Hand>(*std::move(made));
  entry.resources = placement->resources;
  entry.last_error = absl::OkStatus();
  entry.last_used = options_.clock->Now();
  ++entry.in_flight;
  const char* kind = reattached ? "reattached" : warm ? "warm" : "new";
  ++(reattached ? stats_.reattaches : warm ? stats_.warm_hits : stats_.provisions);
  stats_.provision_time += took;
  if (provision_seconds_ != nullptr) {
    provision_seconds_->WithLabels({entry.hand->backend(), kind}).ObserveDuration(took);
  }
  Event event = HandEvent(EventType::kHandProvisioned, *entry.hand);
  event.duration_us = absl::ToInt64Microseconds(took);
  if (reattached || warm) event.reason = kind;
  provisioned = std::move(event);
  resources = entry.resources;
  return entry.hand;
}

absl::StatusOr<ToolResult> HandPool::Execute(std::string_view session_id, const ToolCall& call,
                                             const CancelToken* cancel, std::vector<Event>* hand_events) {
  const std::string session(session_id);
  if (!call.idempotency_key.empty()) {
    MutexLock lock(&mu_);
    auto it = sessions_.find(session);
    if (it != sessions_.end()) {
      for (const auto& [key, result] : it->second.remembered) {
        if (key == call.idempotency_key) {
          ++stats_.remembered_hits;
          return result;
        }
      }
    }
  }

  std::optional<Event> provisioned;
  HandResources resources;
  ASSIGN_OR_RETURN(std::shared_ptr<Hand> hand, Acquire(session, provisioned, resources));
  if (provisioned && hand_events != nullptr) hand_events->push_back(*std::move(provisioned));

  ToolsetOptions toolset = options_.toolset;
  toolset.env.insert(toolset.env.end(), resources.env.begin(), resources.env.end());
  const absl::Time start = options_.clock->Now();
  absl::StatusOr<ToolResult> result = RunTool(*hand, call, cancel, toolset);
  const absl::Duration took = options_.clock->Now() - start;
  if (execute_seconds_ != nullptr) execute_seconds_->WithLabels({hand->backend()}).ObserveDuration(took);

  bool lost = false;
  {
    MutexLock lock(&mu_);
    Entry& entry = sessions_[session];
    --entry.in_flight;
    entry.last_used = options_.clock->Now();
    ++stats_.executions;
    stats_.execute_time += took;
    if (result.ok()) {
      if (!call.idempotency_key.empty() && options_.remembered_results > 0) {
        entry.remembered.emplace_back(call.idempotency_key, *result);
        if (entry.remembered.size() > options_.remembered_results) entry.remembered.pop_front();
      }
    } else if (result.status().code() == absl::StatusCode::kUnavailable && entry.hand == hand) {
      // The hand died under the call: the next call provisions a fresh one.
      entry.hand.reset();
      ++stats_.lost;
      lost = true;
      if (errors_ != nullptr) errors_->WithLabels({"hand_lost"}).Increment();
    }
    mu_.SignalAll();  // ReleaseSession may wait for in-flight calls
  }
  if (lost) {
    if (hand_events != nullptr) {
      Event event = HandEvent(EventType::kHandLost, *hand);
      event.reason = std::string(result.status().message());
      hand_events->push_back(std::move(event));
    }
    // Clean up what is left of the sandbox (a stopped container); its failure changes nothing.
    (void)hand->Release();
  }
  return result;
}

absl::Status HandPool::Prepare(std::string_view session_id, std::vector<Event>* hand_events) {
  const std::string session(session_id);
  std::optional<Event> provisioned;
  HandResources resources;
  RETURN_IF_ERROR(Acquire(session, provisioned, resources).status());
  if (provisioned && hand_events != nullptr) hand_events->push_back(*std::move(provisioned));
  MutexLock lock(&mu_);
  --sessions_[session].in_flight;
  mu_.SignalAll();
  return absl::OkStatus();
}

absl::Status HandPool::ReleaseSession(std::string_view session_id) {
  std::shared_ptr<Hand> hand;
  {
    MutexLock lock(&mu_);
    auto it = sessions_.find(session_id);
    if (it != sessions_.end()) {
      Entry& entry = it->second;
      mu_.Await([&] { return !entry.provisioning && entry.in_flight == 0; });
      hand = std::move(entry.hand);
      sessions_.erase(it);
    }
  }
  if (hand == nullptr) {
    // No hand in this pool; an earlier process may have left one.
    ASSIGN_OR_RETURN(HandPlacement placement, options_.placement(session_id));
    if (placement.provider == nullptr) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<Hand>> left = placement.provider->Reattach(session_id, placement.resources);
    if (left.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
    RETURN_IF_ERROR(left.status());
    hand = std::shared_ptr<Hand>(*std::move(left));
  }
  RETURN_IF_ERROR(hand->Release());
  {
    MutexLock lock(&mu_);
    ++stats_.released;
  }
  if (options_.on_released) options_.on_released(session_id, HandEvent(EventType::kHandReleased, *hand));
  return absl::OkStatus();
}

size_t HandPool::ReleaseIdle() {
  std::vector<std::pair<std::string, std::shared_ptr<Hand>>> idle;
  {
    MutexLock lock(&mu_);
    const absl::Time cutoff = options_.clock->Now() - options_.idle_release_after;
    for (auto& [session, entry] : sessions_) {
      if (entry.hand != nullptr && !entry.provisioning && entry.in_flight == 0 && entry.last_used <= cutoff) {
        idle.emplace_back(session, std::move(entry.hand));
      }
    }
  }
  size_t released = 0;
  for (auto& [session, hand] : idle) {
    Event event = HandEvent(EventType::kHandReleased, *hand);
    event.reason = "idle";
    absl::Status status = hand->Release();
    if (!status.ok()) event.reason = absl::StrCat("idle; releasing failed: ", status.message());
    ++released;
    if (options_.on_released) options_.on_released(session, std::move(event));
  }
  MutexLock lock(&mu_);
  stats_.released += static_cast<int64_t>(released);
  return released;
}

bool HandPool::HasHand(std::string_view session_id) const {
  MutexLock lock(&mu_);
  auto it = sessions_.find(session_id);
  return it != sessions_.end() && it->second.hand != nullptr;
}

HandPoolStats HandPool::stats() const {
  MutexLock lock(&mu_);
  HandPoolStats s = stats_;
  s.spares_ready = 0;
  for (const WarmSlot& slot : warm_) s.spares_ready += slot.ready.size();
  return s;
}

void HandPool::ReaperLoop() {
  while (true) {
    {
      MutexLock lock(&mu_);
      if (mu_.AwaitWithDeadline([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; }, absl::Now() + options_.reap_interval)) return;
    }
    ReleaseIdle();
  }
}

}  // namespace wake
