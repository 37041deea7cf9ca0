#include "tests/harness/harness_test_util.h"

#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace wake::testing {

std::string RecordedOutput(const ToolCall& call) { return absl::StrCat(call.name, " ran: ", call.input_json); }

absl::StatusOr<ToolResult> RecordingHands::Execute(std::string_view, const ToolCall& call, const CancelToken*,
                                                   std::vector<Event>*) {
  MutexLock lock(&mu_);
  if (!fail_.ok()) return fail_;
  calls_.push_back(call);
  ToolResult result;
  ContentBlock text;
  text.text = RecordedOutput(call);
  result.content.push_back(std::move(text));
  return result;
}

std::map<std::string, int> RecordingHands::executions() const {
  MutexLock lock(&mu_);
  std::map<std::string, int> counts;
  for (const ToolCall& c : calls_) ++counts[c.idempotency_key];
  return counts;
}

std::vector<ToolCall> RecordingHands::calls() const {
  MutexLock lock(&mu_);
  return calls_;
}

void RecordingHands::FailWith(absl::Status status) {
  MutexLock lock(&mu_);
  fail_ = std::move(status);
}

#define WAKE_CRASH_GUARD() \
  if (crashed_) return Dead()

absl::StatusOr<SessionInfo> CrashingLog::CreateSession(SessionInfo info) {
  WAKE_CRASH_GUARD();
  return target_->CreateSession(std::move(info));
}
absl::StatusOr<SessionInfo> CrashingLog::GetSession(std::string_view id) {
  WAKE_CRASH_GUARD();
  return target_->GetSession(id);
}
absl::StatusOr<SessionInfo> CrashingLog::UpdateSession(const SessionInfo& info) {
  WAKE_CRASH_GUARD();
  return target_->UpdateSession(info);
}
absl::StatusOr<SessionPage> CrashingLog::ListSessions(const ListSessionsOptions& options) {
  WAKE_CRASH_GUARD();
  return target_->ListSessions(options);
}
absl::Status CrashingLog::DeleteSession(std::string_view id) {
  WAKE_CRASH_GUARD();
  return target_->DeleteSession(id);
}
absl::StatusOr<AppendResult> CrashingLog::Append(std::string_view id, std::vector<Event> events, uint64_t expected,
                                                 uint64_t epoch) {
  WAKE_CRASH_GUARD();
  auto r = target_->Append(id, std::move(events), expected, epoch);
  if (!r.ok()) return r;
  if (after_append_) after_append_();
  if (++appends_ >= budget_) crashed_ = true;
  return r;
}
void CrashingLog::AppendAsync(std::string_view id, std::vector<Event> events, uint64_t expected, uint64_t epoch,
                              AppendCallback done) {
  done(Append(id, std::move(events), expected, epoch));
}
absl::StatusOr<std::vector<Event>> CrashingLog::Read(std::string_view id, const ReadOptions& options) {
  WAKE_CRASH_GUARD();
  absl::StatusOr<std::vector<Event>> events = target_->Read(id, options);
  if (events.ok()) events_read_ += events->size();
  return events;
}
absl::StatusOr<std::unique_ptr<Subscription>> CrashingLog::Subscribe(std::string_view id, uint64_t from) {
  WAKE_CRASH_GUARD();
  return target_->Subscribe(id, from);
}
absl::StatusOr<Lease> CrashingLog::AcquireLease(std::string_view id, std::string_view owner, absl::Duration ttl) {
  WAKE_CRASH_GUARD();
  return target_->AcquireLease(id, owner, ttl);
}
absl::StatusOr<Lease> CrashingLog::RenewLease(std::string_view id, uint64_t epoch, absl::Duration ttl) {
  WAKE_CRASH_GUARD();
  return target_->RenewLease(id, epoch, ttl);
}
absl::Status CrashingLog::ReleaseLease(std::string_view id, uint64_t epoch) {
  WAKE_CRASH_GUARD();
  return target_->ReleaseLease(id, epoch);
}
absl::StatusOr<Lease> CrashingLog::GetLease(std::string_view id) {
  WAKE_CRASH_GUARD();
  return target_->GetLease(id);
}
absl::Status CrashingLog::health() const {
  WAKE_CRASH_GUARD();
  return target_->health();
}

AgentConfig TestAgent() {
  AgentConfig agent;
  agent.model = "scripted";
  agent.system = "You are a test agent.";
  agent.tools = {
      {"bash", "Run a shell command.", R"({"type":"object","properties":{"command":{"type":"string"}}})"},
      {"read", "Read a file.", R"({"type":"object","properties":{"file_path":{"type":"string"}}})"},
  };
  return agent;
}

const char* TestScript() {
  return R"({"turns": [
    {"text": "Let me look around.", "tool_calls": [
      {"name": "read", "input": {"file_path": "notes.txt"}},
      {"name": "bash", "input": {"command": "echo hello > out.txt"}}]},
    {"text": "One more step.", "tool_calls": [{"name": "bash", "input": {"command": "ls"}}]},
    {"text": "All done: notes read, out.txt written."}
  ]})";
}

}  // namespace wake::testing
