#pragma once
// Engine: wake as an embedded library. One object owns a data dir (the RocksDB session store), the
// brains, the hand providers and a scheduler, and offers what an agent platform needs without any
// HTTP: agents, environments and sessions; sending, reading and following events; interrupting.
//
// Scheduling: a session becomes runnable when a client event arrives (user.message, a tool
// confirmation, a custom tool result, an interrupt). A bounded pool of workers wakes runnable
// sessions with a Harness; one session never has two harnesses (the engine runs at most one wake per
// session, and the lease fences any other process). On Open, every session that was running when the
// last process died is woken again and carries on from its log.
//
// Brains: the agent's `model` picks one (BrainForModel): "scripted" (or "scripted:<file>") -> the
// scripted brain; "openai:<model>" -> the OpenAI-compatible brain at OPENAI_BASE_URL; anything else ->
// Anthropic's Messages API (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL). A brain that cannot be made
// (no key) ends the turn with session.error, as the API would.
//
// Hands: the environment's `backend` picks one of the providers the engine was given (the default
// backend's otherwise). Hands are provisioned on a session's first tool call, never before.
//
// Metrics: the engine records into one MetricsRegistry (its own, or EngineOptions::metrics), which
// metrics() exposes (waked serves it as GET /metrics):
//   the harness' (harness.h HarnessMetrics: TTFT, model request, turn and wake latency, appends,
//   session.error and tool errors), the hand pool's (hand_pool.h: provision and execute latency by
//   backend, hands lost, failed provisionings), and the scheduler's:
//   wake_sessions_running     sessions a worker is waking now (a turn under way)
//   wake_sessions_queued      sessions runnable and waiting for a worker
//   wake_wakes_total          wakes finished
//   wake_errors_total{type="wake_error"}        wakes that failed (other than by losing the lease)
//   wake_errors_total{type="unknown_error"}     also counts the session.error of an agent without a brain
//   wake_log_append_seconds{caller="client"}    the append of SendEvents
//
// Thread-safe.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/metrics.h"
#include "harness/brain.h"
#include "harness/harness.h"
#include "sandbox/hand.h"
#include "sandbox/vault.h"
#include "storage/session_log.h"

namespace wake {

using Metadata = std::vector<std::pair<std::string, std::string>>;

struct AgentSpec {
  std::string name;
  std::string model;  // see "Brains" above
  std::string system;
  std::string description;
  bool standard_tools = true;             // bash, read, write, edit, glob, grep on the session's hand
  std::vector<std::string> always_ask;    // tools that need the client's user.tool_confirmation
  std::vector<ToolDefinition> custom_tools;  // run by the client (agent.custom_tool_use)
  int64_t max_tokens = 4096;
  Metadata metadata;
};

struct Agent {
  std::string id;  // "agent_..."
  uint64_t version = 0;
  AgentSpec spec;
  absl::Time created_at;
  absl::Time updated_at;
  std::optional<absl::Time> archived_at;
};

struct EnvironmentSpec {
  std::string name;
  std::string description;
  std::string backend;  // "" = the engine's default backend; else a registered one ("local", ...)
  HandResources resources;
  // Environment variables a session's hand gets from the vault: {variable, secret name}.
  std::vector<std::pair<std::string, std::string>> secret_env;
  Metadata metadata;
};

struct Environment {
  std::string id;  // "env_..."
  uint64_t version = 0;
  EnvironmentSpec spec;
  absl::Time created_at;
  absl::Time updated_at;
  std::optional<absl::Time> archived_at;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;  // "" when there are no more
};

struct CreateSessionRequest {
  std::string agent_id;
  uint64_t agent_version = 0;  // 0: the latest
  std::string environment_id;  // "": the engine's default environment
  std::string title;
  Metadata metadata;
  std::string workspace_id;
};

struct EngineOptions {
  std::string data_dir = "data";
  Durability durability = Durability::kSync;
  // Hand providers by backend name (not owned; at least the default backend's).
  std::map<std::string, HandProvider*> hand_providers;
  std::string default_backend = "local";
  // When a session's hand is made: on its first tool call (kLazy, wake's way: no one waits for a
  // sandbox before the first token), or as the session is created (kEager, the usual platform way;
  // CreateSession then waits for it). The TTFT benchmark compares the two.
  enum class Provisioning { kLazy, kEager };
  Provisioning provisioning = Provisioning::kLazy;
  // Concurrent wakes (worker threads).
  size_t workers = 8;
  absl::Duration idle_hand_release = absl::Minutes(10);
  // How long Shutdown waits for running turns to reach a safe point.
  absl::Duration shutdown_grace = absl::Seconds(10);
  HarnessOptions harness;  // worker_id, lease ttl, retries, compaction; clock
  // Overrides the brain choice (tests, embedders with their own clients): called per wake with the
  // agent's model. Not owned brains; empty: BrainForModel.
  std::function<absl::StatusOr<Brain*>(std::string_view model)> brain_override;
  // The registry to record metrics in (not owned; outlives the Engine), for an embedder that serves
  // its own. Null: the engine owns one. Either way Engine::metrics() returns it.
  MetricsRegistry* metrics = nullptr;
};

struct EngineStats {
  int64_t wakes = 0;
  int64_t wake_errors = 0;
  size_t queued = 0;
  size_t running = 0;
};

class Engine {
 public:
  // Opens (or creates) the store under options.data_dir and wakes the sessions that were running.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(EngineOptions options);
  ~Engine();  // Shutdown()

  // --- agents -------------------------------------------------------------------------------------
  absl::StatusOr<Agent> CreateAgent(AgentSpec spec);
  absl::StatusOr<Agent> GetAgent(std::string_view id, uint64_t version = 0);
  // Aborted when `expected_version` (non-zero) is not the current one.
  absl::StatusOr<Agent> UpdateAgent(std::string_view id, uint64_t expected_version, AgentSpec spec);
  absl::StatusOr<Agent> ArchiveAgent(std::string_view id);
  absl::StatusOr<Page<Agent>> ListAgents(std::string_view after, size_t limit, bool include_archived);

  // --- environments -------------------------------------------------------------------------------
  absl::StatusOr<Environment> CreateEnvironment(EnvironmentSpec spec);
  absl::StatusOr<Environment> GetEnvironment(std::string_view id);
  absl::StatusOr<Environment> UpdateEnvironment(std::string_view id, EnvironmentSpec spec);
  absl::StatusOr<Environment> ArchiveEnvironment(std::string_view id);
  absl::Status DeleteEnvironment(std::string_view id);
  absl::StatusOr<Page<Environment>> ListEnvironments(std::string_view after, size_t limit, bool include_archived);

  // --- sessions -----------------------------------------------------------------------------------
  // NotFound for an unknown agent or environment; FailedPrecondition for an archived one.
  absl::StatusOr<SessionInfo> CreateSession(CreateSessionRequest request);
  absl::StatusOr<SessionInfo> GetSession(std::string_view id);
  absl::StatusOr<SessionPage> ListSessions(const ListSessionsOptions& options);
  // Title and metadata only.
  absl::StatusOr<SessionInfo> UpdateSession(std::string_view id, std::optional<std::string> title,
                                            std::optional<Metadata> metadata);
  absl::StatusOr<SessionInfo> ArchiveSession(std::string_view id);
  // Deletes the log and releases the session's hand. FailedPrecondition while a turn runs.
  absl::Status DeleteSession(std::string_view id);

  // --- events -------------------------------------------------------------------------------------
  // Appends client events (user.message, user.interrupt, user.tool_confirmation,
  // user.custom_tool_result) and schedules the session. InvalidArgument for any other type;
  // FailedPrecondition for an archived session; Unavailable while shutting down. Secrets of the vault
  // are masked before anything is stored. Returns the events as stored (ids, seqs, processed_at).
  absl::StatusOr<std::vector<Event>> SendEvents(std::string_view session_id, std::vector<Event> events);
  absl::StatusOr<std::vector<Event>> ReadEvents(std::string_view session_id, const ReadOptions& options = {});
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string_view session_id, uint64_t from_seq);

  Vault& vault();
  SessionLog& log();
  MetricsRegistry& metrics();
  EngineStats stats() const;
  // Blocks until no session is queued or being woken (tests, demos).
  void WaitUntilQuiet();
  // Stops accepting events, lets running turns reach a safe point within shutdown_grace, releases
  // leases. Sessions left running are woken again by the next Open. Idempotent.
  void Shutdown();

 private:
  class Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The brain for an agent's `model` and the model name to send it (see "Brains" above). The brain is
// owned by the caller.
struct ChosenBrain {
  std::unique_ptr<Brain> brain;
  std::string model;
};
absl::StatusOr<ChosenBrain> BrainForModel(std::string_view model);

}  // namespace wake
