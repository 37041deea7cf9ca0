#pragma once
// CheckSessionStore: an integrity scan of a session store on disk, read-only (safe while the writer
// runs: it reads a consistent view as of its start). What `wakectl verify` builds on.
//
// Findings, per session: a seq missing below the session's head ("seq_gap"), an event past the head
// ("event_beyond_head"), a value that does not decode ("undecodable_event"), a blob reference with
// no blob ("dangling_blob"), a session record that does not decode ("undecodable_session"); and events
// whose session has no record ("orphan_events"). Each session's decoded events go to
// `on_session_events`, so callers can run their own checks without reading the store twice.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "schemas/event.h"

namespace wake {

struct StoreFinding {
  std::string session_id;
  uint64_t seq = 0;  // 0: the session as a whole
  std::string kind;
  std::string detail;
};

struct StoreCheckOptions {
  std::string session_id;  // only this session; empty: every session
  // Called every few thousand events with the count scanned so far (for a progress bar).
  std::function<void(uint64_t events_scanned)> progress;
  // Each session's events that decoded, in seq order, with its id.
  std::function<void(const std::string& session_id, const std::vector<Event>& events)> on_session_events;
};

struct StoreCheckReport {
  uint64_t sessions = 0;
  uint64_t events = 0;
  uint64_t blob_refs = 0;
  std::vector<StoreFinding> findings;
  absl::Duration took;
};

// NotFound when `path` holds no store; the store's own errors otherwise. Findings are not errors.
absl::StatusOr<StoreCheckReport> CheckSessionStore(const std::string& path, const StoreCheckOptions& options);

}  // namespace wake
