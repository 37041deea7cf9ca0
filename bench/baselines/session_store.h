#pragma once
// The shape every contender of storage_bench takes: wake's SessionLog (adapted in storage_bench.cc)
// and the naive ways an agent framework might store sessions instead (jsonl_store.h,
// file_per_event_store.h, sqlite_store.h). The benchmark drives them all through this interface so
// that they do the same work per call: take one Event, encode it, and make it as durable as the
// contender's settings say before returning.
//
// Benchmark code only: no part of wake depends on it.

#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "schemas/event.h"

namespace wake::bench {

// Appends to one session. Not thread-safe: the benchmark gives every writer thread its own writer,
// which is how a harness owns a session while it works on it.
class SessionWriter {
 public:
  virtual ~SessionWriter() = default;
  // Appends one event; returns once the event has the store's durability (e.g. fdatasync'ed).
  // `event.seq` is ignored: a writer numbers its session's events 1, 2, ...
  virtual absl::Status Append(Event event) = 0;
};

// A place where sessions live, rooted at one directory given at construction.
// Thread safety: every method may be called from any thread concurrently, for distinct sessions.
class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // Creates an empty session (durably) and returns its writer.
  virtual absl::StatusOr<std::unique_ptr<SessionWriter>> CreateSession(std::string_view session_id) = 0;
  // Creates a session holding `events`, written the fastest way the store allows (batched, one sync
  // at the end). Only for preparing read benchmarks; never timed.
  virtual absl::Status BulkLoad(std::string_view session_id, const std::vector<Event>& events) = 0;
  // Every event of the session in order, decoded, with seq = 1, 2, ...
  virtual absl::StatusOr<std::vector<Event>> ReadSession(std::string_view session_id) = 0;
};

}  // namespace wake::bench
