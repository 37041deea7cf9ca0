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
// Workspaces (tenants): every agent, environment, vault and session names the workspace that owns it
// (AgentSpec::workspace_id, ..., CreateSessionRequest::workspace_id); credentials belong to their
// vault's, events to their session's. The owner is fixed at creation: updates keep it. The Engine
// itself serves every workspace (an embedder, wakectl and the scheduler see everything); waked shows a
// request only its API key's workspace (server/internal/api.h). "" is the default workspace of
// records made before workspaces existed.
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
#include "sandbox/hand_pool.h"
#include "sandbox/toolset.h"
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
  // The workspace (tenant) that owns the agent, set by whoever creates it (waked: the API key's).
  // "" in records made before workspaces: they belong to the default workspace. Updates keep the
  // stored owner whatever the new spec says (see "Workspaces" above).
  std::string workspace_id;
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
  std::string workspace_id;  // the owner, as AgentSpec::workspace_id
};

struct Environment {
  std::string id;  // "env_..."
  uint64_t version = 0;
  EnvironmentSpec spec;
  absl::Time created_at;
  absl::Time updated_at;
  std::optional<absl::Time> archived_at;
};

// --- vaults (the Managed Agents vaults and credentials, sdk 1.10.0 resources/beta/vaults) -----------
//
// A vault groups credentials; a session names the vaults it may use (CreateSessionRequest::vault_ids).
// A credential's secret values (CredentialSecrets) are write-only: no Engine read returns them, and
// they are never appended to a log (every event is masked with the in-memory Vault first). At rest
// they are sealed with AES-256-GCM under the data key (EngineOptions::vault_key, or
// <data_dir>/vault.key). In the in-memory Vault (masking, secret_env) a credential's value is named
// by its id ("vcrd_..."), its refresh token "<id>.refresh_token", its client secret
// "<id>.client_secret".
//
// How a credential reaches a hand: an `environment_variable` credential (secret_name, secret_value)
// of a vault the session names becomes the environment variable `secret_name` of the session's hand
// when the hand is provisioned (archived vaults and credentials are skipped; when two credentials
// name the same variable, the vault listed first in vault_ids wins, then the lower credential id).
// Any credential's value can also be mapped explicitly through EnvironmentSpec::secret_env
// {variable, "vcrd_..."}. `static_bearer` and `mcp_oauth` credentials are for MCP servers, which
// wake does not connect to: they are stored, masked and listed, and used by nothing else.

struct VaultSpec {
  std::string display_name;  // 1 to 255 characters
  Metadata metadata;
  std::string workspace_id;  // the owner, as AgentSpec::workspace_id; its credentials are the owner's too
};

struct VaultInfo {
  std::string id;  // "vlt_..."
  VaultSpec spec;
  absl::Time created_at;
  absl::Time updated_at;
  std::optional<absl::Time> archived_at;
};

struct OAuthRefresh {
  std::string client_id;
  std::string token_endpoint;
  std::string token_endpoint_auth = "none";  // "none", "client_secret_basic" or "client_secret_post"
  std::optional<std::string> resource;
  std::optional<std::string> scope;
};

// A credential's non-secret configuration (what reads return).
struct CredentialAuth {
  enum class Type { kStaticBearer, kMcpOAuth, kEnvironmentVariable };
  Type type = Type::kEnvironmentVariable;
  std::string mcp_server_url;             // static_bearer, mcp_oauth (immutable)
  std::optional<absl::Time> expires_at;   // mcp_oauth
  std::optional<OAuthRefresh> refresh;    // mcp_oauth (client_id immutable)
  std::string secret_name;                // environment_variable: the variable's name (immutable)
  bool inject_body = true;                // environment_variable: injection_location
  bool inject_header = true;
  std::optional<std::vector<std::string>> allowed_hosts;  // environment_variable networking; none: unrestricted
};

// Write-only secret values. On update, an empty field keeps the stored value.
struct CredentialSecrets {
  std::string value;          // static_bearer token, mcp_oauth access_token, environment_variable secret_value
  std::string refresh_token;  // mcp_oauth with refresh
  std::string client_secret;  // mcp_oauth refresh with client_secret_basic / client_secret_post
};

struct CredentialSpec {
  std::string display_name;  // "" = none; up to 255 characters
  Metadata metadata;
  CredentialAuth auth;
};

struct Credential {
  std::string id;  // "vcrd_..."
  std::string vault_id;
  CredentialSpec spec;
  bool has_refresh_token = false;
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
  // Vaults whose credentials the session may use (see "vaults" above). NotFound for an unknown one,
  // FailedPrecondition for an archived one.
  std::vector<std::string> vault_ids;
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
  // Warm pool (hand_pool.h), off when empty: by backend, how many provisioned spare hands to keep
  // ready; a session's first tool call takes one instead of waiting for a new sandbox, and a
  // replacement is provisioned in the background. Spares have default resources (HandResources{}), so
  // only sessions whose environment keeps the default limits get one. Spares are released when the
  // Engine is destroyed. InvalidArgument from Open for a backend with no provider.
  std::map<std::string, size_t> warm_hands;
  // Concurrent wakes (worker threads).
  size_t workers = 8;
  // Memory for the replay cache (harness/replay_cache.h): the events of recently woken sessions, so the
  // next wake of one reads only what was appended since instead of its whole log (a 100,000-event
  // session: ~60 ms of replay per wake otherwise). 0: every wake replays the whole log. Ignored when
  // harness.replay_cache is set (the embedder's own cache is used).
  size_t replay_cache_bytes = size_t{256} << 20;
  absl::Duration idle_hand_release = absl::Minutes(10);
  // How long Shutdown waits for running turns to reach a safe point.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // worker_id, lease ttl, retries, compaction; clock. Keep worker_id the same across restarts of the
  // process that owns the data dir (one process at a time can: the store is locked): the leases of
  // sessions it was running when it died are then its own and are taken over at once on the next
  // Open; under a new id they block those sessions until they expire (the lease ttl).
  HarnessOptions harness;
  // Overrides the brain choice (tests, embedders with their own clients): called per wake with the
  // agent's model. Not owned brains; empty: BrainForModel.
  std::function<absl::StatusOr<Brain*>(std::string_view model)> brain_override;
  // The 32-byte data key that seals credential secrets at rest. Empty: <data_dir>/vault.key, created
  // (32 random bytes, mode 0600) when the first credential is stored. Whoever can read both the key
  // and the store can read the secrets; a separate key still means a copy of the store alone (a
  // backup, an export, a stolen disk image of the RocksDB files) leaks none of them. Keep the key
  // out of those backups, or give it here from a secret manager.
  std::string vault_key;
  // The registry to record metrics in (not owned; outlives the Engine), for an embedder that serves
  // its own. Null: the engine owns one. Either way Engine::metrics() returns it.
  MetricsRegistry* metrics = nullptr;
  // Tools served by a SessionHands of their own instead of the session's hand, e.g. the
  // managed-agents hand's `delegate` (sandbox/managed_agents/managed_agents_hand.h): every agent with
  // the standard toolset sees them beside bash, read, ...; their calls go to `hands`. Not owned;
  // outlive the Engine. InvalidArgument from Open for a null `hands`, an empty name or a name taken.
  struct ServedTool {
    ToolSpec tool;
    SessionHands* hands = nullptr;
  };
  std::vector<ServedTool> served_tools;
};

struct EngineStats {
  int64_t wakes = 0;
  int64_t wake_errors = 0;
  size_t queued = 0;
  size_t running = 0;
  HandPoolStats hands;  // the hand pool's counters; hands.spares_ready: warm-pool spares waiting now
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

  // --- vaults and credentials (see "vaults" above) --------------------------------------------------
  // InvalidArgument for a display_name that is empty or over 255 characters.
  absl::StatusOr<VaultInfo> CreateVault(VaultSpec spec);
  absl::StatusOr<VaultInfo> GetVault(std::string_view id);
  absl::StatusOr<VaultInfo> UpdateVault(std::string_view id, VaultSpec spec);
  absl::StatusOr<VaultInfo> ArchiveVault(std::string_view id);
  // Deletes the vault and all its credentials (their secrets leave the in-memory Vault at once).
  absl::Status DeleteVault(std::string_view id);
  absl::StatusOr<Page<VaultInfo>> ListVaults(std::string_view after, size_t limit, bool include_archived);

  // InvalidArgument for a malformed spec or a missing or too short secret (Vault::kMinSecretBytes);
  // NotFound for an unknown vault; FailedPrecondition for an archived one. The secrets are usable
  // (masking, hands) as soon as this returns.
  absl::StatusOr<Credential> CreateCredential(std::string_view vault_id, CredentialSpec spec, CredentialSecrets secrets);
  absl::StatusOr<Credential> GetCredential(std::string_view vault_id, std::string_view id);
  // Replaces the spec (the type, mcp_server_url, secret_name and refresh client_id are immutable:
  // InvalidArgument) and the non-empty secrets.
  absl::StatusOr<Credential> UpdateCredential(std::string_view vault_id, std::string_view id, CredentialSpec spec,
                                              CredentialSecrets secrets);
  // An archived credential no longer reaches hands; its values stay masked. A hand provisioned
  // before an update, archive or delete keeps the environment it was given until it is released;
  // after a delete (or a rotation) the old value is no longer masked, so delete a credential only
  // once no live session uses it.
  absl::StatusOr<Credential> ArchiveCredential(std::string_view vault_id, std::string_view id);
  absl::Status DeleteCredential(std::string_view vault_id, std::string_view id);
  // In id order; `after` is a credential id.
  absl::StatusOr<Page<Credential>> ListCredentials(std::string_view vault_id, std::string_view after, size_t limit,
                                                   bool include_archived);
  // The vault_ids a session was created with (empty for none).
  absl::StatusOr<std::vector<std::string>> SessionVaultIds(std::string_view session_id);

  // --- sessions -----------------------------------------------------------------------------------
  // NotFound for an unknown agent, environment or vault; FailedPrecondition for an archived one.
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
  // SessionLog::Scan: each event handed to `visit` as it is read, nothing kept (the Event is reused).
  absl::Status ScanEvents(std::string_view session_id, const ReadOptions& options,
                          absl::FunctionRef<absl::Status(const Event&)> visit);
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string_view session_id, uint64_t from_seq);

  // The in-memory secrets: the persisted credentials (loaded on Open) and whatever an embedder Puts
  // directly (not persisted).
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
