#include "harness/brain.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace wake {
namespace {

// Status payload keys: how a brain error carries its upstream details through absl::Status.
constexpr char kUpstreamTypeUrl[] = "type.wake.dev/brain.upstream_error_type";
constexpr char kRetryAfterUrl[] = "type.wake.dev/brain.retry_after_ms";

}  // namespace

std::string UpstreamErrorType(const absl::Status& status) {
  auto payload = status.GetPayload(kUpstreamTypeUrl);
  return payload ? std::string(*payload) : std::string();
}

std::optional<absl::Duration> RetryAfter(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryAfterUrl);
  int64_t ms = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &ms) || ms < 0) return std::nullopt;
  return absl::Milliseconds(ms);
}

absl::Status BrainError(absl::StatusCode code, std::string_view upstream_type, std::string_view message,
                        std::optional<absl::Duration> retry_after) {
  absl::Status status(code, upstream_type.empty()
                                ? std::string(message)
                                : absl::StrCat(ToAbsl(upstream_type), ": ", ToAbsl(message)));
  if (!upstream_type.empty()) status.SetPayload(kUpstreamTypeUrl, absl::Cord(ToAbsl(upstream_type)));
  if (retry_after) {
    status.SetPayload(kRetryAfterUrl, absl::Cord(absl::StrCat(absl::ToInt64Milliseconds(*retry_after))));
  }
  return status;
}

}  // namespace wake
