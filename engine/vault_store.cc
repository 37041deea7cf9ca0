#include "engine/vault_store.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "simdjson.h"

namespace wake {
namespace {

namespace dom = simdjson::dom;

constexpr char kVaultKind[] = "vault";
constexpr char kCredentialKind[] = "vault_credential";
constexpr char kSessionVaultsKind[] = "session_vaults";
constexpr size_t kMaxDisplayNameChars = 255;
constexpr size_t kMaxAllowedHosts = 16;
constexpr size_t kListBatch = 256;

std::string CredentialKey(std::string_view vault_id, std::string_view id) {
  return absl::StrCat(ToAbsl(vault_id), "/", ToAbsl(id));
}

size_t Utf8Length(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

absl::Status Invalid(std::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

absl::Status Corrupt(std::string_view what) {
  return absl::DataLossError(absl::StrCat("stored vault record: ", ToAbsl(what)));
}

// --- the stored JSON (wake's own format; fields are never renamed) ---------------------------------

class Writer {
 public:
  Writer() : out_("{") {}
  Writer& Str(std::string_view key, std::string_view value) {
    Key(key);
    AppendJsonString(out_, value);
    return *this;
  }
  Writer& Bool(std::string_view key, bool value) {
    Key(key);
    out_ += value ? "true" : "false";
    return *this;
  }
  Writer& Strings(std::string_view key, const std::vector<std::string>& values) {
    Key(key);
    out_.push_back('[');
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out_.push_back(',');
      AppendJsonString(out_, values[i]);
    }
    out_.push_back(']');
    return *this;
  }
  Writer& Pairs(std::string_view key, const Metadata& pairs) {
    Key(key);
    out_.push_back('[');
    for (size_t i = 0; i < pairs.size(); ++i) {
      if (i > 0) out_.push_back(',');
      out_.push_back('[');
      AppendJsonString(out_, pairs[i].first);
      out_.push_back(',');
      AppendJsonString(out_, pairs[i].second);
      out_.push_back(']');
    }
    out_.push_back(']');
    return *this;
  }
  Writer& Raw(std::string_view key, std::string_view json) {
    Key(key);
    out_ += json;
    return *this;
  }
  std::string Take() {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void Key(std::string_view key) {
    if (out_.back() != '{') out_.push_back(',');
    AppendJsonString(out_, key);
    out_.push_back(':');
  }
  std::string out_;
};

std::string GetStr(dom::object o, std::string_view key) {
  std::string_view v;
  return o[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}
std::optional<std::string> GetOptStr(dom::object o, std::string_view key) {
  std::string_view v;
  if (o[key].get(v) != simdjson::SUCCESS) return std::nullopt;
  return std::string(v);
}

absl::StatusOr<Metadata> GetPairs(dom::object o, std::string_view key) {
  Metadata pairs;
  dom::array array;
  if (o[key].get(array) != simdjson::SUCCESS) return pairs;
  for (dom::element item : array) {
    dom::array pair;
    std::string_view a, b;
    if (item.get(pair) != simdjson::SUCCESS || pair.size() != 2 || pair.at(0).get(a) != simdjson::SUCCESS ||
        pair.at(1).get(b) != simdjson::SUCCESS) {
      return Corrupt("a malformed pair");
    }
    pairs.emplace_back(a, b);
  }
  return pairs;
}

std::vector<std::string> GetStrings(dom::array array) {
  std::vector<std::string> out;
  for (dom::element item : array) {
    std::string_view v;
    if (item.get(v) == simdjson::SUCCESS) out.emplace_back(v);
  }
  return out;
}

std::string_view TypeName(CredentialAuth::Type type) {
  switch (type) {
    case CredentialAuth::Type::kStaticBearer: return "static_bearer";
    case CredentialAuth::Type::kMcpOAuth: return "mcp_oauth";
    case CredentialAuth::Type::kEnvironmentVariable: return "environment_variable";
  }
  return "";
}

std::string EncodeVault(const VaultSpec& spec) {
  Writer w;
  w.Str("display_name", spec.display_name).Pairs("metadata", spec.metadata);
  if (!spec.workspace_id.empty()) w.Str("workspace_id", spec.workspace_id);
  return w.Take();
}

absl::StatusOr<VaultInfo> DecodeVault(const Document& doc) {
  dom::parser parser;
  dom::object o;
  if (parser.parse(simdjson::padded_string(doc.json)).get(o) != simdjson::SUCCESS) return Corrupt("not an object");
  VaultInfo vault;
  vault.id = doc.id;
  vault.spec.display_name = GetStr(o, "display_name");
  ASSIGN_OR_RETURN(vault.spec.metadata, GetPairs(o, "metadata"));
  vault.spec.workspace_id = GetStr(o, "workspace_id");
  vault.created_at = doc.created_at;
  vault.updated_at = doc.updated_at;
  vault.archived_at = doc.archived_at;
  return vault;
}

std::string EncodeSecrets(const CredentialSecrets& s) {
  return Writer()
      .Str("value", s.value)
      .Str("refresh_token", s.refresh_token)
      .Str("client_secret", s.client_secret)
      .Take();
}

absl::StatusOr<CredentialSecrets> DecodeSecrets(const std::string& json) {
  dom::parser parser;
  dom::object o;
  if (parser.parse(simdjson::padded_string(json)).get(o) != simdjson::SUCCESS) return Corrupt("sealed secrets");
  CredentialSecrets s;
  s.value = GetStr(o, "value");
  s.refresh_token = GetStr(o, "refresh_token");
  s.client_secret = GetStr(o, "client_secret");
  return s;
}

std::string EncodeCredential(std::string_view vault_id, const CredentialSpec& spec, std::string_view sealed) {
  const CredentialAuth& auth = spec.auth;
  Writer w;
  w.Str("vault_id", vault_id).Str("display_name", spec.display_name).Pairs("metadata", spec.metadata);
  w.Str("type", TypeName(auth.type)).Str("mcp_server_url", auth.mcp_server_url);
  if (auth.expires_at) w.Str("expires_at", FormatRfc3339(*auth.expires_at));
  if (auth.refresh) {
    Writer r;
    r.Str("client_id", auth.refresh->client_id)
        .Str("token_endpoint", auth.refresh->token_endpoint)
        .Str("token_endpoint_auth", auth.refresh->token_endpoint_auth);
    if (auth.refresh->resource) r.Str("resource", *auth.refresh->resource);
    if (auth.refresh->scope) r.Str("scope", *auth.refresh->scope);
    w.Raw("refresh", r.Take());
  }
  w.Str("secret_name", auth.secret_name).Bool("inject_body", auth.inject_body).Bool("inject_header", auth.inject_header);
  if (auth.allowed_hosts) w.Strings("allowed_hosts", *auth.allowed_hosts);
  w.Str("sealed", absl::Base64Escape(ToAbsl(sealed)));
  return w.Take();
}

// The credential, and its sealed secrets (raw bytes).
absl::StatusOr<std::pair<Credential, std::string>> DecodeCredential(const Document& doc) {
  dom::parser parser;
  dom::object o;
  if (parser.parse(simdjson::padded_string(doc.json)).get(o) != simdjson::SUCCESS) return Corrupt("not an object");
  Credential c;
  const size_t slash = doc.id.find('/');
  if (slash == std::string::npos) return Corrupt(absl::StrCat("credential key ", doc.id));
  c.id = doc.id.substr(slash + 1);
  c.vault_id = GetStr(o, "vault_id");
  c.spec.display_name = GetStr(o, "display_name");
  ASSIGN_OR_RETURN(c.spec.metadata, GetPairs(o, "metadata"));
  CredentialAuth& auth = c.spec.auth;
  const std::string type = GetStr(o, "type");
  if (type == "static_bearer") {
    auth.type = CredentialAuth::Type::kStaticBearer;
  } else if (type == "mcp_oauth") {
    auth.type = CredentialAuth::Type::kMcpOAuth;
  } else if (type == "environment_variable") {
    auth.type = CredentialAuth::Type::kEnvironmentVariable;
  } else {
    return Corrupt(absl::StrCat("credential type \"", type, "\""));
  }
  auth.mcp_server_url = GetStr(o, "mcp_server_url");
  if (std::optional<std::string> t = GetOptStr(o, "expires_at")) {
    ASSIGN_OR_RETURN(absl::Time expires, ParseRfc3339(*t));
    auth.expires_at = expires;
  }
  dom::object refresh;
  if (o["refresh"].get(refresh) == simdjson::SUCCESS) {
    OAuthRefresh r;
    r.client_id = GetStr(refresh, "client_id");
    r.token_endpoint = GetStr(refresh, "token_endpoint");
    r.token_endpoint_auth = GetStr(refresh, "token_endpoint_auth");
    r.resource = GetOptStr(refresh, "resource");
    r.scope = GetOptStr(refresh, "scope");
    auth.refresh = std::move(r);
  }
  auth.secret_name = GetStr(o, "secret_name");
  bool b = true;
  if (o["inject_body"].get(b) == simdjson::SUCCESS) auth.inject_body = b;
  if (o["inject_header"].get(b) == simdjson::SUCCESS) auth.inject_header = b;
  dom::array hosts;
  if (o["allowed_hosts"].get(hosts) == simdjson::SUCCESS) auth.allowed_hosts = GetStrings(hosts);
  std::string sealed;
  if (!absl::Base64Unescape(GetStr(o, "sealed"), &sealed)) return Corrupt("sealed secrets are not base64");
  c.created_at = doc.created_at;
  c.updated_at = doc.updated_at;
  c.archived_at = doc.archived_at;
  return std::make_pair(std::move(c), std::move(sealed));
}

// --- checks -----------------------------------------------------------------------------------------

absl::Status CheckVault(const VaultSpec& spec) {
  const size_t n = Utf8Length(spec.display_name);
  if (n == 0 || n > kMaxDisplayNameChars) {
    return Invalid(absl::StrCat("display_name: must have 1 to ", kMaxDisplayNameChars, " characters"));
  }
  return absl::OkStatus();
}

bool IsEnvName(std::string_view name) {
  if (name.empty() || name.size() > 256 || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsUrl(std::string_view url) {
  return (absl::StartsWith(ToAbsl(url), "https://") || absl::StartsWith(ToAbsl(url), "http://")) &&
         url.find_first_of(" \t\r\n") == std::string_view::npos && url.size() > 8;
}

// A bare host name, an IPv4 address, or "*." and a host name: no scheme, port, path or IPv6.
bool IsAllowedHost(std::string_view host) {
  std::string_view rest = host;
  if (absl::StartsWith(ToAbsl(rest), "*.")) rest.remove_prefix(2);
  if (rest.empty() || rest.size() > 253 || rest.front() == '.' || rest.back() == '.') return false;
  if (rest.find("..") != std::string_view::npos) return false;
  return std::all_of(rest.begin(), rest.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

absl::Status CheckSecret(std::string_view field, std::string_view value) {
  if (value.size() < Vault::kMinSecretBytes) {
    return Invalid(absl::StrCat(ToAbsl(field), ": must have at least ", Vault::kMinSecretBytes,
                                " bytes (a shorter secret cannot be masked safely)"));
  }
  return absl::OkStatus();
}

// `spec` with `secrets` (complete: after an update's merge).
absl::Status CheckCredential(const CredentialSpec& spec, const CredentialSecrets& secrets) {
  if (Utf8Length(spec.display_name) > kMaxDisplayNameChars) {
    return Invalid(absl::StrCat("display_name: at most ", kMaxDisplayNameChars, " characters"));
  }
  const CredentialAuth& auth = spec.auth;
  switch (auth.type) {
    case CredentialAuth::Type::kStaticBearer:
      if (!IsUrl(auth.mcp_server_url)) return Invalid("auth.mcp_server_url: must be an http(s) URL");
      RETURN_IF_ERROR(CheckSecret("auth.token", secrets.value));
      break;
    case CredentialAuth::Type::kMcpOAuth:
      if (!IsUrl(auth.mcp_server_url)) return Invalid("auth.mcp_server_url: must be an http(s) URL");
      RETURN_IF_ERROR(CheckSecret("auth.access_token", secrets.value));
      if (auth.refresh) {
        const OAuthRefresh& r = *auth.refresh;
        if (r.client_id.empty()) return Invalid("auth.refresh.client_id: must not be empty");
        if (!IsUrl(r.token_endpoint)) return Invalid("auth.refresh.token_endpoint: must be an http(s) URL");
        RETURN_IF_ERROR(CheckSecret("auth.refresh.refresh_token", secrets.refresh_token));
        if (r.token_endpoint_auth == "none") {
          if (!secrets.client_secret.empty()) {
            return Invalid("auth.refresh.token_endpoint_auth: type none takes no client_secret");
          }
        } else if (r.token_endpoint_auth == "client_secret_basic" || r.token_endpoint_auth == "client_secret_post") {
          RETURN_IF_ERROR(CheckSecret("auth.refresh.token_endpoint_auth.client_secret", secrets.client_secret));
        } else {
          return Invalid("auth.refresh.token_endpoint_auth.type: must be none, client_secret_basic or client_secret_post");
        }
      } else if (!secrets.refresh_token.empty() || !secrets.client_secret.empty()) {
        return Invalid("auth.refresh: a refresh token or client secret needs a refresh configuration");
      }
      break;
    case CredentialAuth::Type::kEnvironmentVariable:
      if (!IsEnvName(auth.secret_name)) {
        return Invalid(absl::StrCat("auth.secret_name: \"", auth.secret_name,
                                    "\" is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"));
      }
      RETURN_IF_ERROR(CheckSecret("auth.secret_value", secrets.value));
      if (!auth.inject_body && !auth.inject_header) {
        return Invalid("auth.injection_location: at least one of body and header must be enabled");
      }
      if (auth.allowed_hosts) {
        if (auth.allowed_hosts->empty() || auth.allowed_hosts->size() > kMaxAllowedHosts) {
          return Invalid(absl::StrCat("auth.networking.allowed_hosts: 1 to ", kMaxAllowedHosts, " hosts"));
        }
        for (const std::string& host : *auth.allowed_hosts) {
          if (!IsAllowedHost(host)) {
            return Invalid(absl::StrCat("auth.networking.allowed_hosts: \"", host,
                                        "\" is not a host name, IPv4 address or *.domain"));
          }
        }
      }
      break;
  }
  return absl::OkStatus();
}

absl::Status CheckImmutable(const CredentialAuth& current, const CredentialAuth& next) {
  if (current.type != next.type) {
    return Invalid(absl::StrCat("auth.type: a ", ToAbsl(TypeName(current.type)), " credential cannot become ",
                                ToAbsl(TypeName(next.type))));
  }
  if (current.mcp_server_url != next.mcp_server_url) return Invalid("auth.mcp_server_url: is immutable");
  if (current.secret_name != next.secret_name) return Invalid("auth.secret_name: is immutable");
  if (current.refresh && next.refresh && current.refresh->client_id != next.refresh->client_id) {
    return Invalid("auth.refresh.client_id: is immutable");
  }
  return absl::OkStatus();
}

}  // namespace

// -----------------------------------------------------------------------------------------------------

VaultStore::VaultStore(DocumentStore* documents, Vault* vault, std::string key, std::string key_path)
    : documents_(documents), vault_(vault), key_path_(std::move(key_path)), key_(std::move(key)) {}

absl::StatusOr<const SecretBox*> VaultStore::Box() {
  MutexLock lock(&mu_);
  if (!box_) {
    if (!key_.empty()) {
      ASSIGN_OR_RETURN(SecretBox box, SecretBox::FromKey(key_));
      box_.emplace(std::move(box));
    } else {
      ASSIGN_OR_RETURN(SecretBox box, SecretBox::LoadOrCreateKeyFile(key_path_));
      box_.emplace(std::move(box));
    }
  }
  return &*box_;
}

absl::Status VaultStore::Load() {
  bool embedder_key = false;
  {
    MutexLock lock(&mu_);
    embedder_key = !key_.empty();
  }
  if (embedder_key) RETURN_IF_ERROR(Box().status());  // a key of the wrong size fails Open, not a later write
  std::string after;
  bool key_checked = false;
  while (true) {
    ASSIGN_OR_RETURN(DocumentPage page, documents_->List(kCredentialKind, after, kListBatch, /*include_archived=*/true));
    for (const Document& doc : page.documents) {
      if (!key_checked) {
        bool from_file = false;
        {
          MutexLock lock(&mu_);
          from_file = key_.empty() && !box_;
        }
        // A fresh key would open nothing: say what is missing instead.
        if (from_file && access(key_path_.c_str(), F_OK) != 0) {
          return absl::FailedPreconditionError(absl::StrCat(
              "vault: credentials are stored but the vault key ", key_path_, " is missing; restore it"));
        }
        key_checked = true;
      }
      ASSIGN_OR_RETURN(auto decoded, DecodeCredential(doc));
      ASSIGN_OR_RETURN(CredentialSecrets secrets, OpenSecrets(decoded.first, decoded.second));
      RETURN_IF_ERROR(PutInVault(decoded.first.id, secrets));
    }
    if (page.next_cursor.empty()) break;
    after = page.next_cursor;
  }
  return absl::OkStatus();
}

absl::StatusOr<CredentialSecrets> VaultStore::OpenSecrets(const Credential& credential, std::string_view sealed) {
  ASSIGN_OR_RETURN(const SecretBox* box, Box());
  absl::StatusOr<std::string> json = box->Open(sealed, credential.id);
  if (!json.ok()) {
    return absl::DataLossError(absl::StrCat("credential ", credential.id, ": ", json.status().message()));
  }
  return DecodeSecrets(*json);
}

absl::Status VaultStore::PutInVault(const std::string& id, const CredentialSecrets& secrets) {
  RETURN_IF_ERROR(vault_->Put(id, secrets.value));
  if (!secrets.refresh_token.empty()) RETURN_IF_ERROR(vault_->Put(absl::StrCat(id, ".refresh_token"), secrets.refresh_token));
  if (!secrets.client_secret.empty()) RETURN_IF_ERROR(vault_->Put(absl::StrCat(id, ".client_secret"), secrets.client_secret));
  return absl::OkStatus();
}

void VaultStore::RemoveFromVault(const std::string& id) {
  vault_->Delete(id).IgnoreError();  // NotFound: nothing to forget
  vault_->Delete(absl::StrCat(id, ".refresh_token")).IgnoreError();
  vault_->Delete(absl::StrCat(id, ".client_secret")).IgnoreError();
}

// --- vaults ------------------------------------------------------------------------------------------

absl::StatusOr<VaultInfo> VaultStore::CreateVault(VaultSpec spec) {
  RETURN_IF_ERROR(CheckVault(spec));
  ASSIGN_OR_RETURN(Document doc,
                   documents_->Create(kVaultKind, FormatId("vlt_", NewIdBytes(absl::Now())), EncodeVault(spec)));
  return DecodeVault(doc);
}

absl::StatusOr<VaultInfo> VaultStore::GetVault(std::string_view id) {
  absl::StatusOr<Document> doc = documents_->Get(kVaultKind, id);
  if (absl::IsNotFound(doc.status())) return absl::NotFoundError(absl::StrCat("no vault ", ToAbsl(id)));
  if (!doc.ok()) return doc.status();
  return DecodeVault(*doc);
}

absl::StatusOr<VaultInfo> VaultStore::LiveVault(std::string_view id) {
  ASSIGN_OR_RETURN(VaultInfo vault, GetVault(id));
  if (vault.archived_at) return absl::FailedPreconditionError(absl::StrCat("vault ", vault.id, " is archived"));
  return vault;
}

absl::StatusOr<VaultInfo> VaultStore::UpdateVault(std::string_view id, VaultSpec spec) {
  RETURN_IF_ERROR(CheckVault(spec));
  ASSIGN_OR_RETURN(VaultInfo current, GetVault(id));
  spec.workspace_id = current.spec.workspace_id;  // the owner never changes
  ASSIGN_OR_RETURN(Document doc, documents_->Update(kVaultKind, id, 0, EncodeVault(spec)));
  return DecodeVault(doc);
}

absl::StatusOr<VaultInfo> VaultStore::ArchiveVault(std::string_view id) {
  RETURN_IF_ERROR(GetVault(id).status());
  ASSIGN_OR_RETURN(Document doc, documents_->Archive(kVaultKind, id));
  return DecodeVault(doc);
}

absl::Status VaultStore::DeleteVault(std::string_view id) {
  RETURN_IF_ERROR(GetVault(id).status());
  // Credentials first: a crash part-way leaves a vault with fewer credentials, never orphans.
  while (true) {
    ASSIGN_OR_RETURN(Page<Credential> page, ListCredentials(id, "", kListBatch, /*include_archived=*/true));
    if (page.items.empty()) break;
    for (const Credential& c : page.items) RETURN_IF_ERROR(DeleteCredential(id, c.id));
  }
  return documents_->Delete(kVaultKind, id);
}

absl::StatusOr<Page<VaultInfo>> VaultStore::ListVaults(std::string_view after, size_t limit, bool include_archived) {
  ASSIGN_OR_RETURN(DocumentPage page, documents_->List(kVaultKind, after, limit, include_archived));
  Page<VaultInfo> out;
  out.next_cursor = page.next_cursor;
  for (const Document& doc : page.documents) {
    ASSIGN_OR_RETURN(VaultInfo vault, DecodeVault(doc));
    out.items.push_back(std::move(vault));
  }
  return out;
}

// --- credentials -------------------------------------------------------------------------------------

absl::StatusOr<Credential> VaultStore::CreateCredential(std::string_view vault_id, CredentialSpec spec,
                                                        CredentialSecrets secrets) {
  RETURN_IF_ERROR(CheckCredential(spec, secrets));
  RETURN_IF_ERROR(LiveVault(vault_id).status());
  const std::string id = FormatId("vcrd_", NewIdBytes(absl::Now()));
  ASSIGN_OR_RETURN(const SecretBox* box, Box());
  ASSIGN_OR_RETURN(std::string sealed, box->Seal(EncodeSecrets(secrets), id));
  ASSIGN_OR_RETURN(Document doc, documents_->Create(kCredentialKind, CredentialKey(vault_id, id),
                                                    EncodeCredential(vault_id, spec, sealed)));
  RETURN_IF_ERROR(PutInVault(id, secrets));
  ASSIGN_OR_RETURN(auto decoded, DecodeCredential(doc));
  decoded.first.has_refresh_token = !secrets.refresh_token.empty();
  return decoded.first;
}

absl::StatusOr<Credential> VaultStore::GetCredential(std::string_view vault_id, std::string_view id) {
  absl::StatusOr<Document> doc = documents_->Get(kCredentialKind, CredentialKey(vault_id, id));
  if (absl::IsNotFound(doc.status())) {
    return absl::NotFoundError(absl::StrCat("no credential ", ToAbsl(id), " in vault ", ToAbsl(vault_id)));
  }
  if (!doc.ok()) return doc.status();
  ASSIGN_OR_RETURN(auto decoded, DecodeCredential(*doc));
  // Whether a refresh token is stored is not secret, but it lives with the secrets.
  if (decoded.first.spec.auth.refresh) decoded.first.has_refresh_token = true;
  return decoded.first;
}

absl::StatusOr<Credential> VaultStore::UpdateCredential(std::string_view vault_id, std::string_view id,
                                                        CredentialSpec spec, CredentialSecrets changes) {
  absl::StatusOr<Document> doc = documents_->Get(kCredentialKind, CredentialKey(vault_id, id));
  if (absl::IsNotFound(doc.status())) {
    return absl::NotFoundError(absl::StrCat("no credential ", ToAbsl(id), " in vault ", ToAbsl(vault_id)));
  }
  if (!doc.ok()) return doc.status();
  ASSIGN_OR_RETURN(auto current, DecodeCredential(*doc));
  RETURN_IF_ERROR(CheckImmutable(current.first.spec.auth, spec.auth));
  ASSIGN_OR_RETURN(CredentialSecrets secrets, OpenSecrets(current.first, current.second));
  if (!changes.value.empty()) secrets.value = std::move(changes.value);
  if (!changes.refresh_token.empty()) secrets.refresh_token = std::move(changes.refresh_token);
  if (!changes.client_secret.empty()) secrets.client_secret = std::move(changes.client_secret);
  if (spec.auth.refresh && spec.auth.refresh->token_endpoint_auth == "none") secrets.client_secret.clear();
  RETURN_IF_ERROR(CheckCredential(spec, secrets));
  ASSIGN_OR_RETURN(const SecretBox* box, Box());
  ASSIGN_OR_RETURN(std::string sealed, box->Seal(EncodeSecrets(secrets), current.first.id));
  // The version read above: a concurrent update makes this one Aborted rather than lost.
  ASSIGN_OR_RETURN(Document updated, documents_->Update(kCredentialKind, doc->id, doc->version,
                                                        EncodeCredential(vault_id, spec, sealed)));
  // Replace in place: the old value is masked until the new one is, never neither.
  RETURN_IF_ERROR(PutInVault(current.first.id, secrets));
  if (secrets.client_secret.empty()) vault_->Delete(absl::StrCat(current.first.id, ".client_secret")).IgnoreError();
  ASSIGN_OR_RETURN(auto decoded, DecodeCredential(updated));
  decoded.first.has_refresh_token = !secrets.refresh_token.empty();
  return decoded.first;
}

absl::StatusOr<Credential> VaultStore::ArchiveCredential(std::string_view vault_id, std::string_view id) {
  RETURN_IF_ERROR(GetCredential(vault_id, id).status());
  RETURN_IF_ERROR(documents_->Archive(kCredentialKind, CredentialKey(vault_id, id)).status());
  return GetCredential(vault_id, id);
}

absl::Status VaultStore::DeleteCredential(std::string_view vault_id, std::string_view id) {
  ASSIGN_OR_RETURN(Credential credential, GetCredential(vault_id, id));
  RETURN_IF_ERROR(documents_->Delete(kCredentialKind, CredentialKey(vault_id, id)));
  RemoveFromVault(credential.id);
  return absl::OkStatus();
}

absl::StatusOr<Page<Credential>> VaultStore::ListCredentials(std::string_view vault_id, std::string_view after,
                                                             size_t limit, bool include_archived) {
  RETURN_IF_ERROR(GetVault(vault_id).status());
  const std::string prefix = CredentialKey(vault_id, "");
  // One more than asked: a cursor only when this vault really has more.
  ASSIGN_OR_RETURN(DocumentPage page, documents_->List(kCredentialKind, absl::StrCat(prefix, ToAbsl(after)),
                                                       limit + 1, include_archived));
  Page<Credential> out;
  for (const Document& doc : page.documents) {
    if (!absl::StartsWith(doc.id, prefix)) break;  // the next vault's: this one's are done
    if (out.items.size() == limit) {
      out.next_cursor = out.items.back().id;
      break;
    }
    ASSIGN_OR_RETURN(auto decoded, DecodeCredential(doc));
    if (decoded.first.spec.auth.refresh) decoded.first.has_refresh_token = true;
    out.items.push_back(std::move(decoded.first));
  }
  return out;
}

// --- sessions ------------------------------------------------------------------------------------------

absl::Status VaultStore::CheckAttachable(const std::vector<std::string>& vault_ids) {
  std::set<std::string> seen;
  for (const std::string& id : vault_ids) {
    if (!seen.insert(id).second) return Invalid(absl::StrCat("vault_ids: ", id, " is listed twice"));
    RETURN_IF_ERROR(LiveVault(id).status());
  }
  return absl::OkStatus();
}

absl::Status VaultStore::AttachToSession(std::string_view session_id, const std::vector<std::string>& vault_ids) {
  if (vault_ids.empty()) return absl::OkStatus();
  return documents_->Create(kSessionVaultsKind, session_id, Writer().Strings("vault_ids", vault_ids).Take()).status();
}

absl::StatusOr<std::vector<std::string>> VaultStore::SessionVaultIds(std::string_view session_id) {
  absl::StatusOr<Document> doc = documents_->Get(kSessionVaultsKind, session_id);
  if (absl::IsNotFound(doc.status())) return std::vector<std::string>();
  if (!doc.ok()) return doc.status();
  dom::parser parser;
  dom::object o;
  dom::array ids;
  if (parser.parse(simdjson::padded_string(doc->json)).get(o) != simdjson::SUCCESS ||
      o["vault_ids"].get(ids) != simdjson::SUCCESS) {
    return Corrupt(absl::StrCat("the vaults of session ", ToAbsl(session_id)));
  }
  return GetStrings(ids);
}

absl::Status VaultStore::ForgetSession(std::string_view session_id) {
  absl::Status s = documents_->Delete(kSessionVaultsKind, session_id);
  return absl::IsNotFound(s) ? absl::OkStatus() : s;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> VaultStore::HandEnv(
    const std::vector<std::string>& vault_ids) {
  std::vector<std::pair<std::string, std::string>> env;
  std::set<std::string> taken;
  for (const std::string& vault_id : vault_ids) {
    absl::StatusOr<VaultInfo> vault = GetVault(vault_id);
    if (absl::IsNotFound(vault.status())) continue;  // deleted since the session began
    if (!vault.ok()) return vault.status();
    if (vault->archived_at) continue;
    std::string after;
    while (true) {
      ASSIGN_OR_RETURN(Page<Credential> page, ListCredentials(vault_id, after, kListBatch, /*include_archived=*/false));
      for (const Credential& c : page.items) {
        if (c.spec.auth.type != CredentialAuth::Type::kEnvironmentVariable) continue;
        if (!taken.insert(c.spec.auth.secret_name).second) continue;
        ASSIGN_OR_RETURN(std::string value, vault_->Get(c.id));
        env.emplace_back(c.spec.auth.secret_name, std::move(value));
      }
      if (page.next_cursor.empty()) break;
      after = page.next_cursor;
    }
  }
  return env;
}

}  // namespace wake
