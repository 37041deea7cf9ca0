#include "sandbox/vault.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "schemas/event_json.h"

namespace wake {
namespace {

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

void ReplaceAll(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

absl::Status Vault::Put(std::string_view name, std::string value) {
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("vault: a secret's name must be 1 to 128 of [A-Za-z0-9_.-], not \"", ToAbsl(name), "\""));
  }
  if (value.size() < kMinSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat("vault: the value of ", ToAbsl(name), " is shorter than ",
                                                   kMinSecretBytes, " bytes; it could not be masked safely"));
  }
  MutexLock lock(&mu_);
  secrets_.insert_or_assign(std::string(name), std::move(value));
  return absl::OkStatus();
}

absl::Status Vault::Delete(std::string_view name) {
  MutexLock lock(&mu_);
  auto it = secrets_.find(name);
  if (it == secrets_.end()) return absl::NotFoundError(absl::StrCat("vault: no secret named ", ToAbsl(name)));
  secrets_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Vault::Get(std::string_view name) const {
  MutexLock lock(&mu_);
  auto it = secrets_.find(name);
  if (it == secrets_.end()) return absl::NotFoundError(absl::StrCat("vault: no secret named ", ToAbsl(name)));
  return it->second;
}

std::vector<std::string> Vault::Names() const {
  MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, value] : secrets_) names.push_back(name);
  return names;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Vault::ResolveEnv(
    const std::vector<std::pair<std::string, std::string>>& variable_to_secret) const {
  MutexLock lock(&mu_);
  std::vector<std::pair<std::string, std::string>> env;
  for (const auto& [variable, secret] : variable_to_secret) {
    auto it = secrets_.find(secret);
    if (it == secrets_.end()) {
      return absl::NotFoundError(
          absl::StrCat("vault: no secret named ", secret, " (asked for as $", variable, ")"));
    }
    env.emplace_back(variable, it->second);
  }
  return env;
}

std::vector<std::pair<std::string, std::string>> Vault::PatternsLocked() const {
  std::vector<std::pair<std::string, std::string>> patterns;
  for (const auto& [name, value] : secrets_) {
    patterns.emplace_back(value, name);
    std::string quoted;
    AppendJsonString(quoted, value);
    std::string escaped = quoted.substr(1, quoted.size() - 2);
    if (escaped != value) patterns.emplace_back(std::move(escaped), name);
  }
  std::sort(patterns.begin(), patterns.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return patterns;
}

std::string Vault::Mask(std::string_view text) const {
  std::string out(text);
  MutexLock lock(&mu_);
  for (const auto& [value, name] : PatternsLocked()) ReplaceAll(out, value, absl::StrCat("[secret:", name, "]"));
  return out;
}

void Vault::MaskEvent(Event& event) const {
  MutexLock lock(&mu_);
  if (secrets_.empty()) return;
  const std::vector<std::pair<std::string, std::string>> patterns = PatternsLocked();
  auto mask = [&](std::string& text) {
    for (const auto& [value, name] : patterns) ReplaceAll(text, value, absl::StrCat("[secret:", name, "]"));
  };
  for (ContentBlock& block : event.content) {
    mask(block.text);
    if (block.source == ContentBlock::SourceKind::kText) mask(block.data);
    if (block.title) mask(*block.title);
    if (block.context) mask(*block.context);
  }
  mask(event.input_json);
  mask(event.error.message);
  mask(event.reason);
  if (event.deny_message) mask(*event.deny_message);
}

}  // namespace wake
