#include "server/internal/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace wake::server_internal {

std::string PresentedKey(std::string_view x_api_key, std::string_view authorization) {
  if (!x_api_key.empty()) return std::string(x_api_key);
  absl::string_view auth = absl::StripAsciiWhitespace(ToAbsl(authorization));
  if (auth.size() > 7 && absl::StartsWithIgnoreCase(auth, "bearer ")) {
    return std::string(absl::StripAsciiWhitespace(auth.substr(7)));
  }
  return "";
}

absl::StatusOr<ApiKeyIdentity> Authenticate(const ApiKeyStore& keys, std::string_view x_api_key,
                                            std::string_view authorization) {
  const std::string key = PresentedKey(x_api_key, authorization);
  if (key.empty()) {
    return absl::UnauthenticatedError("an API key is required: send x-api-key: <key> or Authorization: Bearer <key>");
  }
  absl::StatusOr<ApiKeyIdentity> identity = keys.Check(key);
  if (identity.ok() || absl::IsUnauthenticated(identity.status())) return identity;
  return absl::Status(identity.status().code(),
                      absl::StrCat("the server cannot check API keys, so it accepts none: ", identity.status().message()));
}

}  // namespace wake::server_internal
