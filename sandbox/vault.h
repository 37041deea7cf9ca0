#pragma once
// Vault: secrets held by name, on the engine side (DESIGN.md: credentials never enter a hand).
//
// Nothing from the vault reaches a hand unless a hand's resources ask for it by name (ResolveEnv, at
// provisioning), and every event is masked before it is appended (MaskEvent): each stored secret
// value, raw or as it appears inside a JSON string, becomes "[secret:NAME]". So a tool that prints an
// environment it was explicitly given still leaves no secret in the log.
//
// Values shorter than kMinSecretBytes are refused: masking a two-letter value would garble ordinary
// text, and such a value protects nothing anyway.
//
// Thread-safe.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "base/sync.h"
#include "schemas/event.h"

namespace wake {

class Vault {
 public:
  static constexpr size_t kMinSecretBytes = 8;

  // Stores or replaces a secret. InvalidArgument for a name that is not [A-Za-z0-9_.-]{1,128} or a
  // value shorter than kMinSecretBytes.
  absl::Status Put(std::string_view name, std::string value);
  // NotFound when absent.
  absl::Status Delete(std::string_view name);
  absl::StatusOr<std::string> Get(std::string_view name) const;
  std::vector<std::string> Names() const;  // sorted

  // The environment entries for {variable, secret name} pairs; NotFound naming the first missing
  // secret (and nothing resolved).
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ResolveEnv(
      const std::vector<std::pair<std::string, std::string>>& variable_to_secret) const;

  // `text` with every secret value replaced by "[secret:NAME]" (longer values first, so a secret
  // that contains another is masked whole).
  std::string Mask(std::string_view text) const;
  // Masks every text an event carries: content text and document text, tool input JSON, error
  // messages, deny messages, reasons.
  void MaskEvent(Event& event) const;

 private:
  // Each secret's raw value, and its JSON-escaped form when that differs, with its name.
  std::vector<std::pair<std::string, std::string>> PatternsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  std::map<std::string, std::string, std::less<>> secrets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wake
