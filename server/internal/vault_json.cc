#include "server/internal/vault_json.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "schemas/event_json.h"
#include "server/internal/api_json.h"

namespace wake::server_internal {
namespace {

namespace dom = simdjson::dom;

// A required string that is a secret: present, a string, not empty. Its value never appears in an
// error message.
absl::StatusOr<std::string> SecretParam(const BodyReader& body, std::string_view key) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, body.OptString(key));
  if (!value || value->empty()) return body.Error(key, "is required");
  return *std::move(value);
}

absl::StatusOr<std::optional<absl::Time>> ReadExpiry(const BodyReader& body, absl::Time now) {
  ASSIGN_OR_RETURN(std::optional<std::string> text, body.OptString("expires_at"));
  if (!text) return std::nullopt;
  absl::StatusOr<absl::Time> t = ParseRfc3339(*text);
  if (!t.ok()) return body.Error("expires_at", "must be an RFC 3339 time");
  if (*t <= now) return body.Error("expires_at", "must be in the future");
  return *t;
}

absl::StatusOr<std::optional<std::vector<std::string>>> ReadNetworking(const BodyReader& body) {
  ASSIGN_OR_RETURN(std::optional<dom::object> object, body.OptObject("networking"));
  if (!object) return body.Error("networking", "is required ({\"type\":\"unrestricted\"} or {\"type\":\"limited\",...})");
  BodyReader net(*object, body.PathOf("networking"));
  ASSIGN_OR_RETURN(std::string type, net.String("type"));
  if (type == "unrestricted") {
    RETURN_IF_ERROR(net.ExpectOnly({"type"}));
    return std::optional<std::vector<std::string>>();
  }
  if (type != "limited") return net.Error("type", "must be unrestricted or limited");
  RETURN_IF_ERROR(net.ExpectOnly({"type", "allowed_hosts"}));
  ASSIGN_OR_RETURN(std::optional<dom::array> array, net.OptArray("allowed_hosts"));
  if (!array) return net.Error("allowed_hosts", "is required for limited networking");
  std::vector<std::string> hosts;
  for (dom::element item : *array) {
    std::string_view host;
    if (item.get(host) != simdjson::SUCCESS) return net.Error("allowed_hosts", "must be an array of host names");
    hosts.emplace_back(host);
  }
  return std::optional<std::vector<std::string>>(std::move(hosts));
}

// injection_location onto `auth` (a location left out keeps its value).
absl::Status ReadInjection(const BodyReader& body, CredentialAuth& auth) {
  ASSIGN_OR_RETURN(std::optional<dom::object> object, body.OptObject("injection_location"));
  if (!object) return absl::OkStatus();
  BodyReader where(*object, body.PathOf("injection_location"));
  RETURN_IF_ERROR(where.ExpectOnly({"body", "header"}));
  ASSIGN_OR_RETURN(std::optional<bool> in_body, where.OptBool("body"));
  ASSIGN_OR_RETURN(std::optional<bool> in_header, where.OptBool("header"));
  if (in_body) auth.inject_body = *in_body;
  if (in_header) auth.inject_header = *in_header;
  return absl::OkStatus();
}

absl::Status ReadTokenEndpointAuth(const BodyReader& refresh, OAuthRefresh& out, CredentialSecrets& secrets) {
  ASSIGN_OR_RETURN(std::optional<dom::object> object, refresh.OptObject("token_endpoint_auth"));
  if (!object) return refresh.Error("token_endpoint_auth", "is required");
  BodyReader auth(*object, refresh.PathOf("token_endpoint_auth"));
  ASSIGN_OR_RETURN(out.token_endpoint_auth, auth.String("type"));
  if (out.token_endpoint_auth == "none") return auth.ExpectOnly({"type"});
  if (out.token_endpoint_auth != "client_secret_basic" && out.token_endpoint_auth != "client_secret_post") {
    return auth.Error("type", "must be none, client_secret_basic or client_secret_post");
  }
  RETURN_IF_ERROR(auth.ExpectOnly({"type", "client_secret"}));
  ASSIGN_OR_RETURN(secrets.client_secret, SecretParam(auth, "client_secret"));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> ReadDisplayName(const BodyReader& body) {
  return body.OptString("display_name");
}

void WriteAuth(JsonWriter& out, const Credential& credential) {
  const CredentialAuth& auth = credential.spec.auth;
  out.BeginObject();
  switch (auth.type) {
    case CredentialAuth::Type::kStaticBearer:
      out.Key("type").String("static_bearer").Key("mcp_server_url").String(auth.mcp_server_url);
      break;
    case CredentialAuth::Type::kMcpOAuth:
      out.Key("type").String("mcp_oauth").Key("mcp_server_url").String(auth.mcp_server_url);
      out.Key("expires_at");
      WriteTimeOrNull(out, auth.expires_at);
      out.Key("refresh");
      if (!auth.refresh) {
        out.Null();
      } else {
        const OAuthRefresh& r = *auth.refresh;
        out.BeginObject().Key("client_id").String(r.client_id).Key("token_endpoint").String(r.token_endpoint);
        out.Key("token_endpoint_auth").BeginObject().Key("type").String(r.token_endpoint_auth).EndObject();
        out.Key("resource").StringOrNull(r.resource.value_or(""));
        out.Key("scope").StringOrNull(r.scope.value_or(""));
        out.EndObject();
      }
      break;
    case CredentialAuth::Type::kEnvironmentVariable:
      out.Key("type").String("environment_variable").Key("secret_name").String(auth.secret_name);
      out.Key("injection_location").BeginObject().Key("body").Bool(auth.inject_body);
      out.Key("header").Bool(auth.inject_header).EndObject();
      out.Key("networking").BeginObject();
      if (auth.allowed_hosts) {
        out.Key("type").String("limited").Key("allowed_hosts").BeginArray();
        for (const std::string& host : *auth.allowed_hosts) out.String(host);
        out.EndArray();
      } else {
        out.Key("type").String("unrestricted");
      }
      out.EndObject();
      break;
  }
  out.EndObject();
}

std::string_view TypeName(CredentialAuth::Type type) {
  switch (type) {
    case CredentialAuth::Type::kStaticBearer: return "static_bearer";
    case CredentialAuth::Type::kMcpOAuth: return "mcp_oauth";
    case CredentialAuth::Type::kEnvironmentVariable: return "environment_variable";
  }
  return "";
}

}  // namespace

// --- vaults -------------------------------------------------------------------------------------------

absl::StatusOr<VaultSpec> VaultSpecFromCreateParams(dom::object object) {
  BodyReader body(object, "");
  RETURN_IF_ERROR(body.ExpectOnly({"display_name", "metadata"}));
  VaultSpec spec;
  ASSIGN_OR_RETURN(spec.display_name, body.String("display_name"));
  ASSIGN_OR_RETURN(spec.metadata, ReadMetadataParam(body));
  return spec;
}

absl::StatusOr<VaultSpec> ApplyVaultUpdateParams(const VaultSpec& current, dom::object object) {
  BodyReader body(object, "");
  RETURN_IF_ERROR(body.ExpectOnly({"display_name", "metadata"}));
  VaultSpec spec = current;
  ASSIGN_OR_RETURN(std::optional<std::string> name, ReadDisplayName(body));
  if (name) spec.display_name = *std::move(name);
  ASSIGN_OR_RETURN(std::optional<Metadata> metadata, PatchMetadataParam(current.metadata, body));
  if (metadata) spec.metadata = *std::move(metadata);
  return spec;
}

void WriteVault(JsonWriter& out, const VaultInfo& vault) {
  out.BeginObject();
  out.Key("type").String("vault");
  out.Key("id").String(vault.id);
  out.Key("display_name").String(vault.spec.display_name);
  out.Key("metadata");
  WriteMetadata(out, vault.spec.metadata);
  out.Key("created_at");
  WriteTimeOrNull(out, vault.created_at);
  out.Key("updated_at");
  WriteTimeOrNull(out, vault.updated_at);
  out.Key("archived_at");
  WriteTimeOrNull(out, vault.archived_at);
  out.EndObject();
}

// --- credentials ----------------------------------------------------------------------------------

absl::StatusOr<CredentialChange> CredentialFromCreateParams(dom::object object, absl::Time now) {
  BodyReader body(object, "");
  RETURN_IF_ERROR(body.ExpectOnly({"auth", "display_name", "metadata"}));
  CredentialChange change;
  CredentialSpec& spec = change.spec;
  CredentialSecrets& secrets = change.secrets;
  ASSIGN_OR_RETURN(std::optional<std::string> name, ReadDisplayName(body));
  spec.display_name = name.value_or("");
  ASSIGN_OR_RETURN(spec.metadata, ReadMetadataParam(body));
  ASSIGN_OR_RETURN(std::optional<dom::object> auth_object, body.OptObject("auth"));
  if (!auth_object) return body.Error("auth", "is required");
  BodyReader auth(*auth_object, "auth");
  ASSIGN_OR_RETURN(std::string type, auth.String("type"));
  CredentialAuth& out = spec.auth;
  if (type == "static_bearer") {
    RETURN_IF_ERROR(auth.ExpectOnly({"type", "token", "mcp_server_url"}));
    out.type = CredentialAuth::Type::kStaticBearer;
    ASSIGN_OR_RETURN(out.mcp_server_url, auth.String("mcp_server_url"));
    ASSIGN_OR_RETURN(secrets.value, SecretParam(auth, "token"));
  } else if (type == "mcp_oauth") {
    RETURN_IF_ERROR(auth.ExpectOnly({"type", "access_token", "mcp_server_url", "expires_at", "refresh"}));
    out.type = CredentialAuth::Type::kMcpOAuth;
    ASSIGN_OR_RETURN(out.mcp_server_url, auth.String("mcp_server_url"));
    ASSIGN_OR_RETURN(secrets.value, SecretParam(auth, "access_token"));
    ASSIGN_OR_RETURN(out.expires_at, ReadExpiry(auth, now));
    ASSIGN_OR_RETURN(std::optional<dom::object> refresh_object, auth.OptObject("refresh"));
    if (refresh_object) {
      BodyReader refresh(*refresh_object, auth.PathOf("refresh"));
      RETURN_IF_ERROR(refresh.ExpectOnly(
          {"client_id", "refresh_token", "token_endpoint", "token_endpoint_auth", "resource", "scope"}));
      OAuthRefresh r;
      ASSIGN_OR_RETURN(r.client_id, refresh.String("client_id"));
      ASSIGN_OR_RETURN(r.token_endpoint, refresh.String("token_endpoint"));
      ASSIGN_OR_RETURN(secrets.refresh_token, SecretParam(refresh, "refresh_token"));
      RETURN_IF_ERROR(ReadTokenEndpointAuth(refresh, r, secrets));
      ASSIGN_OR_RETURN(r.resource, refresh.OptString("resource"));
      ASSIGN_OR_RETURN(r.scope, refresh.OptString("scope"));
      out.refresh = std::move(r);
    }
  } else if (type == "environment_variable") {
    RETURN_IF_ERROR(auth.ExpectOnly({"type", "networking", "secret_name", "secret_value", "injection_location"}));
    out.type = CredentialAuth::Type::kEnvironmentVariable;
    ASSIGN_OR_RETURN(out.secret_name, auth.String("secret_name"));
    ASSIGN_OR_RETURN(secrets.value, SecretParam(auth, "secret_value"));
    ASSIGN_OR_RETURN(out.allowed_hosts, ReadNetworking(auth));
    RETURN_IF_ERROR(ReadInjection(auth, out));
  } else {
    return auth.Error("type", "must be static_bearer, mcp_oauth or environment_variable");
  }
  return change;
}

absl::StatusOr<CredentialChange> ApplyCredentialUpdateParams(const Credential& current, dom::object object,
                                                             absl::Time now) {
  BodyReader body(object, "");
  RETURN_IF_ERROR(body.ExpectOnly({"auth", "display_name", "metadata"}));
  CredentialChange change;
  CredentialSpec& spec = change.spec;
  CredentialSecrets& secrets = change.secrets;
  spec = current.spec;
  if (std::optional<dom::element> name = body.Find("display_name")) {
    ASSIGN_OR_RETURN(std::optional<std::string> text, ReadDisplayName(body));
    if (text && text->empty()) return body.Error("display_name", "must have 1 to 255 characters (null clears it)");
    spec.display_name = text.value_or("");
  }
  ASSIGN_OR_RETURN(std::optional<Metadata> metadata, PatchMetadataParam(current.spec.metadata, body));
  if (metadata) spec.metadata = *std::move(metadata);
  ASSIGN_OR_RETURN(std::optional<dom::object> auth_object, body.OptObject("auth"));
  if (!auth_object) return change;
  BodyReader auth(*auth_object, "auth");
  ASSIGN_OR_RETURN(std::string type, auth.String("type"));
  const std::string_view current_type = TypeName(current.spec.auth.type);
  if (type != current_type) {
    return auth.Error("type", absl::StrCat("must be the credential's type, ", ToAbsl(current_type),
                                           " (a credential's type cannot change)"));
  }
  CredentialAuth& out = spec.auth;
  auto opt_secret = [](const BodyReader& reader, std::string_view key, std::string& into) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<std::string> value, reader.OptString(key));
    if (value && value->empty()) return reader.Error(key, "must not be empty (leave it out to keep the stored one)");
    if (value) into = *std::move(value);
    return absl::OkStatus();
  };
  switch (current.spec.auth.type) {
    case CredentialAuth::Type::kStaticBearer:
      RETURN_IF_ERROR(auth.ExpectOnly({"type", "token"}));
      RETURN_IF_ERROR(opt_secret(auth, "token", secrets.value));
      break;
    case CredentialAuth::Type::kMcpOAuth: {
      RETURN_IF_ERROR(auth.ExpectOnly({"type", "access_token", "expires_at", "refresh"}));
      RETURN_IF_ERROR(opt_secret(auth, "access_token", secrets.value));
      ASSIGN_OR_RETURN(std::optional<absl::Time> expires, ReadExpiry(auth, now));
      if (expires) out.expires_at = expires;
      ASSIGN_OR_RETURN(std::optional<dom::object> refresh_object, auth.OptObject("refresh"));
      if (refresh_object) {
        if (!out.refresh) {
          return auth.Error("refresh", "this credential has no refresh configuration to update");
        }
        BodyReader refresh(*refresh_object, auth.PathOf("refresh"));
        RETURN_IF_ERROR(refresh.ExpectOnly({"refresh_token", "scope", "token_endpoint_auth"}));
        RETURN_IF_ERROR(opt_secret(refresh, "refresh_token", secrets.refresh_token));
        ASSIGN_OR_RETURN(std::optional<std::string> scope, refresh.OptString("scope"));
        if (scope) out.refresh->scope = scope->empty() ? std::nullopt : std::optional<std::string>(*scope);
        ASSIGN_OR_RETURN(std::optional<dom::object> endpoint_object, refresh.OptObject("token_endpoint_auth"));
        if (endpoint_object) {
          BodyReader endpoint(*endpoint_object, refresh.PathOf("token_endpoint_auth"));
          RETURN_IF_ERROR(endpoint.ExpectOnly({"type", "client_secret"}));
          ASSIGN_OR_RETURN(std::string endpoint_type, endpoint.String("type"));
          if (endpoint_type != "client_secret_basic" && endpoint_type != "client_secret_post") {
            return endpoint.Error("type", "must be client_secret_basic or client_secret_post");
          }
          // As in the API: the credential keeps its own method, whichever of the two is sent.
          if (out.refresh->token_endpoint_auth == "none") {
            return endpoint.Error("type", "this credential's token endpoint takes no client secret");
          }
          RETURN_IF_ERROR(opt_secret(endpoint, "client_secret", secrets.client_secret));
        }
      }
      break;
    }
    case CredentialAuth::Type::kEnvironmentVariable: {
      RETURN_IF_ERROR(auth.ExpectOnly({"type", "injection_location", "networking", "secret_value"}));
      RETURN_IF_ERROR(opt_secret(auth, "secret_value", secrets.value));
      if (auth.Has("networking")) {
        ASSIGN_OR_RETURN(out.allowed_hosts, ReadNetworking(auth));
      }
      RETURN_IF_ERROR(ReadInjection(auth, out));
      break;
    }
  }
  return change;
}

void WriteCredential(JsonWriter& out, const Credential& credential) {
  out.BeginObject();
  out.Key("type").String("vault_credential");
  out.Key("id").String(credential.id);
  out.Key("vault_id").String(credential.vault_id);
  out.Key("display_name").StringOrNull(credential.spec.display_name);
  out.Key("auth");
  WriteAuth(out, credential);
  out.Key("metadata");
  WriteMetadata(out, credential.spec.metadata);
  out.Key("created_at");
  WriteTimeOrNull(out, credential.created_at);
  out.Key("updated_at");
  WriteTimeOrNull(out, credential.updated_at);
  out.Key("archived_at");
  WriteTimeOrNull(out, credential.archived_at);
  out.EndObject();
}

absl::StatusOr<std::string> CredentialValidationJson(const Credential& credential, absl::Time now) {
  if (credential.spec.auth.type != CredentialAuth::Type::kMcpOAuth) {
    return absl::InvalidArgumentError(absl::StrCat("credential ", credential.id, " is a ",
                                                   ToAbsl(TypeName(credential.spec.auth.type)),
                                                   " credential; only mcp_oauth credentials can be validated"));
  }
  JsonWriter out;
  out.BeginObject();
  out.Key("type").String("vault_credential_validation");
  out.Key("credential_id").String(credential.id);
  out.Key("vault_id").String(credential.vault_id);
  out.Key("has_refresh_token").Bool(credential.has_refresh_token);
  out.Key("mcp_probe").Null();
  out.Key("refresh").Null();
  out.Key("status").String("unknown");
  out.Key("validated_at").String(FormatRfc3339(now));
  out.EndObject();
  return out.Take();
}

}  // namespace wake::server_internal
