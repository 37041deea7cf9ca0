// Request-body decoding of waked's API (server/internal/api_json.h) on untrusted bytes: the body
// parse and the create/update params of agents, environments and sessions either succeed or fail
// with InvalidArgument carrying a message (the 400 error envelope), never anything else.
// The first byte picks the decoder; the rest is the body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "server/internal/api_json.h"

namespace si = wake::server_internal;

namespace {

void CheckRejection(const absl::Status& status) {
  if (status.ok()) return;
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument || status.code() == absl::StatusCode::kNotFound,
             "a bad body is a client error");
  FUZZ_CHECK(!status.message().empty(), "a rejection says why");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  simdjson::dom::parser large;
  absl::StatusOr<simdjson::dom::object> object = si::ParseJsonBody(body, &large);
  if (!object.ok()) {
    CheckRejection(object.status());
    return 0;
  }
  switch (data[0] % 6) {
    case 0:
      CheckRejection(si::AgentSpecFromCreateParams(*object).status());
      break;
    case 1:
      CheckRejection(si::ApplyAgentUpdateParams(wake::AgentSpec{}, *object).status());
      break;
    case 2:
      CheckRejection(si::EnvironmentSpecFromCreateParams(*object).status());
      break;
    case 3:
      CheckRejection(si::ApplyEnvironmentUpdateParams(wake::EnvironmentSpec{}, *object).status());
      break;
    case 4:
      CheckRejection(si::SessionCreateFromParams(*object).status());
      break;
    default:
      CheckRejection(si::SessionUpdateFromParams(wake::SessionInfo{}, *object).status());
      break;
  }
  return 0;
}
