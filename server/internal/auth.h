#pragma once
// Authenticating a request: the key it presents, checked against the data dir's ApiKeyStore
// (storage/api_key_store.h, which holds only SHA-256 digests and compares them in constant time).

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/api_key_store.h"

namespace wake::server_internal {

// The key a request presents: `x-api-key`, else `Authorization: Bearer <key>`; "" when neither.
std::string PresentedKey(std::string_view x_api_key, std::string_view authorization);

// Who the request's key belongs to. Unauthenticated (a 401; the message tells the client what to do)
// for no key, a wrong key, a revoked key, or no key created yet; another code (a 5xx) when `keys`
// cannot be checked, e.g. a corrupt key file: then no request is accepted.
absl::StatusOr<ApiKeyIdentity> Authenticate(const ApiKeyStore& keys, std::string_view x_api_key,
                                            std::string_view authorization);

}  // namespace wake::server_internal
