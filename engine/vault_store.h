#pragma once
// VaultStore: the Engine's vaults and credentials (engine.h, "vaults") as documents in its
// DocumentStore, with each credential's secrets sealed by a SecretBox, and mirrored into the
// in-memory Vault (masking, secret_env, hand environments). Internal to wake_engine.
//
// Documents: kind "vault" (id "vlt_..."), kind "vault_credential" (id "<vault id>/<credential id>",
// so one vault's credentials are one ordered range), kind "session_vaults" (id: the session's; body:
// the vault ids it was created with). A credential's body holds its configuration in clear and
// "sealed": base64(SecretBox::Seal(JSON of its secrets, credential id)).
//
// Ordering: a write reaches the DocumentStore first, then the Vault, so no secret is usable before
// it is durable; a crash in between loses nothing (Load rebuilds the Vault from the documents).
//
// Thread-safe (the DocumentStore and the Vault are; the data key is loaded once under a lock).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "base/sync.h"
#include "engine/engine.h"
#include "engine/secret_box.h"
#include "sandbox/vault.h"
#include "storage/document_store.h"

namespace wake {

class VaultStore {
 public:
  // Not owned: `documents`, `vault`. `key`: the embedder's data key, or "" for the key file at
  // `key_path` (created with the first credential).
  VaultStore(DocumentStore* documents, Vault* vault, std::string key, std::string key_path);

  // Puts every stored credential's secrets into the Vault. FailedPrecondition when credentials are
  // stored but the key file is gone; DataLoss when one does not open under the key.
  absl::Status Load();

  absl::StatusOr<VaultInfo> CreateVault(VaultSpec spec);
  absl::StatusOr<VaultInfo> GetVault(std::string_view id);
  absl::StatusOr<VaultInfo> UpdateVault(std::string_view id, VaultSpec spec);
  absl::StatusOr<VaultInfo> ArchiveVault(std::string_view id);
  absl::Status DeleteVault(std::string_view id);
  absl::StatusOr<Page<VaultInfo>> ListVaults(std::string_view after, size_t limit, bool include_archived);

  absl::StatusOr<Credential> CreateCredential(std::string_view vault_id, CredentialSpec spec, CredentialSecrets secrets);
  absl::StatusOr<Credential> GetCredential(std::string_view vault_id, std::string_view id);
  absl::StatusOr<Credential> UpdateCredential(std::string_view vault_id, std::string_view id, CredentialSpec spec,
                                              CredentialSecrets secrets);
  absl::StatusOr<Credential> ArchiveCredential(std::string_view vault_id, std::string_view id);
  absl::Status DeleteCredential(std::string_view vault_id, std::string_view id);
  absl::StatusOr<Page<Credential>> ListCredentials(std::string_view vault_id, std::string_view after, size_t limit,
                                                   bool include_archived);

  // NotFound / FailedPrecondition unless every id names a live vault; InvalidArgument for a repeat.
  absl::Status CheckAttachable(const std::vector<std::string>& vault_ids);
  absl::Status AttachToSession(std::string_view session_id, const std::vector<std::string>& vault_ids);
  absl::StatusOr<std::vector<std::string>> SessionVaultIds(std::string_view session_id);
  absl::Status ForgetSession(std::string_view session_id);
  // {variable, value} for the live environment_variable credentials of the live vaults among
  // `vault_ids` (gone vaults are skipped; the first of a variable wins).
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> HandEnv(const std::vector<std::string>& vault_ids);

 private:
  absl::StatusOr<const SecretBox*> Box();
  absl::StatusOr<VaultInfo> LiveVault(std::string_view id);
  absl::StatusOr<CredentialSecrets> OpenSecrets(const Credential& credential, std::string_view sealed);
  absl::Status PutInVault(const std::string& credential_id, const CredentialSecrets& secrets);
  void RemoveFromVault(const std::string& credential_id);

  DocumentStore* const documents_;
  Vault* const vault_;
  const std::string key_path_;
  Mutex mu_;
  std::string key_ ABSL_GUARDED_BY(mu_);
  std::optional<SecretBox> box_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wake
