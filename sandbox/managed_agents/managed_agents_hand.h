#pragma once
// The managed-agents hand: delegation to a Managed Agents session (Anthropic's, or any server that
// speaks the API, waked included), offered to the brain as one tool, `delegate` {"task": string}.
//
// Unlike the process hands (local, docker, ssh) it runs no process: a call is one turn of a remote
// agent. So it is a SessionHands of its own, not a HandProvider; a ToolRouter (sandbox/hand.h) puts it
// in front of another SessionHands (usually the HandPool) and sends it only the `delegate` calls.
//
//   - Lazily, on a session's first call: the environment and the agent are created once per
//     ManagedAgentsHands (or existing ids are used), then a remote session for the wake session.
//   - A call opens the remote session's event stream, sends the task as a user.message, drains the
//     stream until session.status_idle and returns the agent's text (and the tools it used) as the
//     tool result. A dropped stream is re-opened and caught up by listing (deduplicated by event id);
//     429/503/529 are retried honouring retry-after; see managed_agents_api.h.
//   - The remote session is reused by the wake session's later calls, so the remote agent keeps its
//     state; ReleaseSession archives it. Calls of one session run one at a time.
//   - Ends that are not a plain end_turn are tool errors (is_error) worded for the model: a
//     session.error that ended the turn (retries_exhausted), a requires_action (the remote agent
//     waits for a custom tool result or a tool confirmation: this hand answers neither; it sends a
//     user.interrupt so the remote session does not stay blocked), a terminated session (the next
//     call makes a new one), a timeout (a user.interrupt is sent), an unreachable server.
//   - The API key is read from the Vault at each call (secret `api_key_secret`), sent only as the
//     x-api-key header, and never put in a result: every result text is masked by the vault too.
//
// Thread-safe.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/sync.h"
#include "sandbox/hand.h"
#include "sandbox/managed_agents/managed_agents_api.h"
#include "sandbox/toolset.h"
#include "sandbox/vault.h"

namespace wake {

struct ManagedAgentsHandOptions {
  std::string base_url = "https://api.anthropic.com";
  const Vault* vault = nullptr;                       // required; not owned, outlives the hand
  std::string api_key_secret = "ANTHROPIC_API_KEY";   // the vault secret holding the API key
  std::string api_version = std::string(kManagedAgentsApiVersion);  // `anthropic-version`
  // The agent: an existing id, or else created from `agent_json` (an AgentCreateParams body), or
  // else from `model` and `system` with the standard toolset (agent_toolset_20260401).
  std::string agent_id;
  std::string agent_json;
  std::string model = "claude-sonnet-4-5";
  std::string system;
  // The environment: an existing id, or else created from `environment_json` (an
  // EnvironmentCreateParams body), or else {"name": "wake delegate", "config": {"type": "cloud"}}.
  std::string environment_id;
  std::string environment_json;
  std::string tool_name = "delegate";
  TurnOptions turn;
  int max_retries = 4;  // of 429/503/529 answers, per request
  absl::Duration retry_base_delay = absl::Milliseconds(500);
  absl::Duration max_retry_delay = absl::Seconds(30);
  absl::Duration request_timeout = absl::Seconds(60);
  absl::Duration stream_idle_timeout = absl::Seconds(90);  // no byte (not even a ping): reconnect
};

class ManagedAgentsHands final : public SessionHands {
 public:
  // InvalidArgument without a vault or with a base URL that is not http(s).
  static absl::StatusOr<std::unique_ptr<ManagedAgentsHands>> Create(ManagedAgentsHandOptions options);

  // The tool the brain sees: `tool_name` with {"task": string}.
  ToolSpec tool() const;

  // Runs one delegated task (see the header comment). A call for another tool is an is_error result.
  absl::StatusOr<ToolResult> Execute(std::string_view session_id, const ToolCall& call, const CancelToken* cancel,
                                     std::vector<Event>* hand_events) override;

  // Archives the session's remote session (if it has one) and forgets it.
  absl::Status ReleaseSession(std::string_view session_id) override;
  // The remote session of `session_id`, "" when none was made yet.
  std::string RemoteSessionId(std::string_view session_id) const;

 private:
  explicit ManagedAgentsHands(ManagedAgentsHandOptions options) : options_(std::move(options)) {}
  absl::StatusOr<Client> NewClient() const;
  // The environment and agent ids, created on first use (under setup_mu_: one creation at a time).
  absl::StatusOr<std::pair<std::string, std::string>> EnvironmentAndAgent(const Client& client);
  ToolResult Error(std::string text) const;

  struct Remote {
    Mutex turn_mu;           // one turn at a time per remote session
    std::string session_id;  // guarded by turn_mu
  };
  std::shared_ptr<Remote> RemoteFor(std::string_view session_id);

  const ManagedAgentsHandOptions options_;
  Mutex setup_mu_;
  std::string environment_id_ ABSL_GUARDED_BY(setup_mu_);
  std::string agent_id_ ABSL_GUARDED_BY(setup_mu_);
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<Remote>, std::less<>> remotes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wake
