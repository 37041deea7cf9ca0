#pragma once
// The completeness rules both codecs share: an Event that passes CheckEventBody can be written by
// either codec and read back equal. Messages use the JSON field names (the domain's vocabulary), so a
// rejected client request and a rejected append read the same.

#include "absl/status/status.h"
#include "schemas/event.h"

namespace wake::schemas_internal {

// OK when the fields `event.type` uses are complete and consistent; otherwise InvalidArgument naming
// the event type and the field, e.g. `agent.tool_result: field "tool_use_id" must not be empty`.
// Does not look at `id` or `processed_at` (their rules depend on the codec) nor at fields the type does
// not use (both codecs ignore those).
absl::Status CheckEventBody(const Event& event);

}  // namespace wake::schemas_internal
