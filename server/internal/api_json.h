#pragma once
// The Managed Agents resource shapes (npm @anthropic-ai/sdk 1.10.0, resources/beta/agents,
// environments, sessions) and how they map to the Engine's specs. Pure functions: no I/O.
//
// Agents
//   name, description, system, metadata        AgentSpec's own fields ("" <-> null).
//   model: "id" or {"id": ...}                  AgentSpec::model (effort, speed, inference_geo: refused).
//   tools: {"type":"agent_toolset_20260401"}    wake's standard tools (bash, edit, read, write, glob,
//                                               grep), all on or all off (wake cannot enable some of
//                                               them); permission_policy always_allow, or always_ask
//                                               (-> AgentSpec::always_ask); `auto` and web_fetch /
//                                               web_search are refused.
//          {"type":"custom", name, description, input_schema}  -> AgentSpec::custom_tools.
//          {"type":"mcp_toolset"}, mcp_servers, skills, multiagent, a non-default execution_identity:
//                                               refused (wake has none of them).
//   Without `tools` an agent has no tools, as in the API.
//   Rendered: mcp_servers [], skills [], multiagent null, execution_identity {"type":"service_account"}.
// Environments
//   config {"type":"cloud"}                     the engine's default backend; networking
//                                               `unrestricted` -> HandResources::network, `limited`
//                                               (the default) -> no network; allowed hosts and
//                                               packages are refused.
//   config {"type": "<backend>", network, memory_bytes, cpus, pids, env, secret_env}
//                                               wake's own: a registered hand backend ("local",
//                                               "docker", "ssh", ...) and its resources.
//   Changing the config's type is refused (invalid_config_type_change), as in the API.
// Sessions
//   agent "id" | {"type":"agent", id, version}; environment_id (absent: the engine's default
//   environment); title; metadata; initial_events (user.message only); vault_ids (vault_json.h).
//   resources and a budget are refused; an update may change title and metadata (a patch: null
//   deletes a key), not vault_ids (as in the API).
// Metadata: at most 16 keys of up to 64 characters, values of up to 512 (invalid_metadata).
//
// Errors are InvalidArgument naming the field; some carry an API error code (ErrorCodeOf), which the
// error envelope repeats as error.details.error_code.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "server/internal/json.h"
#include "simdjson.h"

namespace wake::server_internal {

// An API error code ("environment_not_found", ...) attached to a status, and read back.
absl::Status WithErrorCode(absl::Status status, std::string_view code);
std::optional<std::string> ErrorCodeOf(const absl::Status& status);

// --- agents ---------------------------------------------------------------------------------------
absl::StatusOr<AgentSpec> AgentSpecFromCreateParams(simdjson::dom::object body);
// The spec after an update request, and the version the request names (0: none).
struct AgentUpdate {
  AgentSpec spec;
  uint64_t expected_version = 0;
};
absl::StatusOr<AgentUpdate> ApplyAgentUpdateParams(const AgentSpec& current, simdjson::dom::object body);
// BetaManagedAgentsAgent; with `for_session`, BetaManagedAgentsSessionAgent (no timestamps or metadata).
void WriteAgent(JsonWriter& out, const Agent& agent, bool for_session = false);

// --- environments ---------------------------------------------------------------------------------
absl::StatusOr<EnvironmentSpec> EnvironmentSpecFromCreateParams(simdjson::dom::object body);
absl::StatusOr<EnvironmentSpec> ApplyEnvironmentUpdateParams(const EnvironmentSpec& current,
                                                             simdjson::dom::object body);
void WriteEnvironment(JsonWriter& out, const Environment& environment);

// --- sessions -------------------------------------------------------------------------------------
struct SessionCreate {
  CreateSessionRequest request;
  std::vector<Event> initial_events;  // user.message params, decoded
};
absl::StatusOr<SessionCreate> SessionCreateFromParams(simdjson::dom::object body);
struct SessionUpdate {
  std::optional<std::string> title;
  std::optional<Metadata> metadata;  // the patched result
};
absl::StatusOr<SessionUpdate> SessionUpdateFromParams(const SessionInfo& current, simdjson::dom::object body);
// BetaManagedAgentsSession. `agent` is the session's agent at its version (null when it cannot be
// read: then only its id and version are written).
void WriteSession(JsonWriter& out, const SessionInfo& session, const Agent* agent,
                  const std::vector<std::string>& vault_ids = {});

// --- shared with the other resources' JSON (vault_json.h) -------------------------------------------
// A create request's `metadata` (checked: invalid_metadata).
absl::StatusOr<Metadata> ReadMetadataParam(const BodyReader& body);
// An update's `metadata` patch applied to `current`; nullopt when the request leaves it alone.
absl::StatusOr<std::optional<Metadata>> PatchMetadataParam(const Metadata& current, const BodyReader& body);
void WriteMetadata(JsonWriter& out, const Metadata& metadata);
void WriteTimeOrNull(JsonWriter& out, std::optional<absl::Time> t);

}  // namespace wake::server_internal
