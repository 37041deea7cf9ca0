#pragma once
// Test doubles for harness tests: a hand that records what it ran, and a SessionLog decorator that
// "crashes" (fails every call) after a given number of successful appends.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/sync.h"
#include "harness/agent_config.h"
#include "sandbox/hand.h"
#include "storage/session_log.h"

namespace wake::testing {

// Records every execution; answers "<name> ran: <input>". Thread-safe.
class RecordingHands final : public SessionHands {
 public:
  absl::StatusOr<ToolResult> Execute(std::string_view session_id, const ToolCall& call, const CancelToken* cancel,
                                     std::vector<Event>* hand_events) override;
  // How many times each idempotency key was executed.
  std::map<std::string, int> executions() const;
  std::vector<ToolCall> calls() const;
  // When set, Execute returns this error instead of running (a dead hand).
  void FailWith(absl::Status status);

 private:
  mutable Mutex mu_;
  std::vector<ToolCall> calls_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
};

// The tool output RecordingHands gives for `call`.
std::string RecordedOutput(const ToolCall& call);

// Forwards to `target`, but after `appends_before_crash` successful appends every further call fails
// with Unavailable, as if the process had died right after that append. `after_append`, when set,
// runs after each successful append. Counts the events its Reads return.
class CrashingLog final : public SessionLog {
 public:
  CrashingLog(SessionLog* target, int appends_before_crash, std::function<void()> after_append = {})
      : target_(target), budget_(appends_before_crash), after_append_(std::move(after_append)) {}
  int appends() const { return appends_.load(); }
  bool crashed() const { return crashed_.load(); }
  size_t events_read() const { return events_read_.load(); }

  absl::StatusOr<SessionInfo> CreateSession(SessionInfo info) override;
  absl::StatusOr<SessionInfo> GetSession(std::string_view session_id) override;
  absl::StatusOr<SessionInfo> UpdateSession(const SessionInfo& info) override;
  absl::StatusOr<SessionPage> ListSessions(const ListSessionsOptions& options) override;
  absl::Status DeleteSession(std::string_view session_id) override;
  absl::StatusOr<AppendResult> Append(std::string_view session_id, std::vector<Event> events,
                                      uint64_t expected_next_seq, uint64_t lease_epoch) override;
  void AppendAsync(std::string_view session_id, std::vector<Event> events, uint64_t expected_next_seq,
                   uint64_t lease_epoch, AppendCallback done) override;
  absl::StatusOr<std::vector<Event>> Read(std::string_view session_id, const ReadOptions& options) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string_view session_id, uint64_t from_seq) override;
  absl::StatusOr<Lease> AcquireLease(std::string_view session_id, std::string_view owner,
                                     absl::Duration ttl) override;
  absl::StatusOr<Lease> RenewLease(std::string_view session_id, uint64_t epoch, absl::Duration ttl) override;
  absl::Status ReleaseLease(std::string_view session_id, uint64_t epoch) override;
  absl::StatusOr<Lease> GetLease(std::string_view session_id) override;
  absl::Status health() const override;

 private:
  absl::Status Dead() const { return absl::UnavailableError("the process crashed (fault injection)"); }
  SessionLog* const target_;
  const int budget_;
  const std::function<void()> after_append_;
  std::atomic<int> appends_{0};
  std::atomic<bool> crashed_{false};
  std::atomic<size_t> events_read_{0};
};

// The agent of the crash tests: a scripted conversation with an idempotent and a non-idempotent tool.
AgentConfig TestAgent();
// Its script: turn 0 reads a file and runs a command; turn 1 runs another command; turn 2 answers.
const char* TestScript();

}  // namespace wake::testing
