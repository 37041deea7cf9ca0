#include "storage/session_log.h"

#include <algorithm>

#include "base/status_macros.h"

namespace wake {

absl::Status SessionLog::Scan(std::string_view session_id, const ReadOptions& options,
                              absl::FunctionRef<absl::Status(const Event&)> visit) {
  ReadOptions page = options;
  size_t remaining = options.limit;
  while (remaining > 0) {
    page.limit = std::min(remaining, kScanPage);
    ASSIGN_OR_RETURN(std::vector<Event> events, Read(session_id, page));
    for (const Event& event : events) RETURN_IF_ERROR(visit(event));
    // A short page is the head (a type filter only makes pages shorter by skipping, never by stopping).
    if (events.size() < page.limit) break;
    remaining -= events.size();
    page.from_seq = events.back().seq + 1;
  }
  return absl::OkStatus();
}

}  // namespace wake
