#pragma once
// The Managed Agents vault and credential shapes (npm @anthropic-ai/sdk 1.10.0,
// resources/beta/vaults/vaults.d.ts and credentials.d.ts) and how they map to the Engine's
// VaultSpec, CredentialSpec and CredentialSecrets. Pure functions: no I/O.
//
// Vaults: display_name (1 to 255 characters), metadata (a patch on update). Rendered as
//   BetaManagedAgentsVault.
// Credentials: display_name, metadata, auth, one of
//   static_bearer {mcp_server_url, token}
//   mcp_oauth {mcp_server_url, access_token, expires_at (in the future), refresh {client_id,
//     refresh_token, token_endpoint, token_endpoint_auth {type none | client_secret_basic |
//     client_secret_post, client_secret}, resource, scope}}
//   environment_variable {secret_name, secret_value, networking {type unrestricted | limited,
//     allowed_hosts}, injection_location {body, header} (absent: both)}
// token, access_token, refresh_token, client_secret and secret_value are write-only: they go to
// CredentialSecrets and no Write* function has them to render (BetaManagedAgents*AuthResponse).
// An update's auth must name the credential's type; what it leaves out is kept (networking as a
// whole, injection_location per location; scope "" clears it); mcp_server_url, secret_name and
// the refresh client_id cannot change (the Engine refuses them).
//
// Errors are InvalidArgument naming the field.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "server/internal/json.h"
#include "simdjson.h"

namespace wake::server_internal {

absl::StatusOr<VaultSpec> VaultSpecFromCreateParams(simdjson::dom::object body);
absl::StatusOr<VaultSpec> ApplyVaultUpdateParams(const VaultSpec& current, simdjson::dom::object body);
void WriteVault(JsonWriter& out, const VaultInfo& vault);

struct CredentialChange {
  CredentialSpec spec;
  CredentialSecrets secrets;  // on update: only the ones sent (the rest empty: kept)
};
// `now`: expires_at must be later.
absl::StatusOr<CredentialChange> CredentialFromCreateParams(simdjson::dom::object body, absl::Time now);
absl::StatusOr<CredentialChange> ApplyCredentialUpdateParams(const Credential& current, simdjson::dom::object body,
                                                             absl::Time now);
void WriteCredential(JsonWriter& out, const Credential& credential);

// BetaManagedAgentsCredentialValidation for an mcp_oauth credential. wake has no MCP client, so it
// never probes the server: the verdict is "unknown" (the SDK's word for "the probe couldn't tell"),
// with no probe and no refresh attempt. InvalidArgument for another type of credential.
absl::StatusOr<std::string> CredentialValidationJson(const Credential& credential, absl::Time now);

}  // namespace wake::server_internal
