#pragma once
// ReplayCache: the events of recently woken sessions, kept in memory between wakes, so that the next
// wake of a session reads only what was appended since instead of replaying its whole log.
//
// Why it is safe: a session's log is append-only, so the event at a seq never changes once acknowledged
// and a cached prefix stays a true prefix (a rewind, too, is an appended event). Workers stay stateless
// in the sense that matters: the log is the only truth, and a wake that finds no entry, or an entry the
// log no longer ends with the same event (a session deleted and recreated under the same id, a store
// restored from a backup), replays the whole log as before. The cache only saves work; it never changes
// what a wake sees.
//
// Ownership: a wake takes its session's events out (Take) and gives them back when it ends well (Put).
// Events are moved, never copied, and a session being woken has no entry, so two workers never share
// one vector. The least recently given-back sessions are dropped once the kept events exceed
// `max_bytes` (estimated: the Event structs plus the heap their strings and blocks use).
//
// Thread-safe.

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "base/sync.h"
#include "schemas/event.h"

namespace wake {

class ReplayCache {
 public:
  explicit ReplayCache(size_t max_bytes) : max_bytes_(max_bytes) {}
  ReplayCache(const ReplayCache&) = delete;
  ReplayCache& operator=(const ReplayCache&) = delete;

  // The cached events of `session_id` (seqs 1..n in order), removed from the cache; empty when none.
  std::vector<Event> Take(std::string_view session_id);
  // Keeps `events` for the next wake of `session_id`. REQUIRES: they are the session's log from seq 1
  // on, in order and without gaps, equal to what SessionLog::Read returns; a vector that does not start
  // at seq 1 or whose last seq is not its size is not kept. Nor is one larger than max_bytes.
  void Put(std::string_view session_id, std::vector<Event> events);
  // Drops the session's entry (its session was deleted).
  void Erase(std::string_view session_id);

  size_t bytes() const;
  size_t sessions() const;

  // The memory one event takes (the struct and its strings' heap), as the cache counts it.
  static size_t EstimateBytes(const Event& event);

 private:
  struct Entry {
    std::string session_id;
    std::vector<Event> events;
    size_t event_bytes = 0;  // the events' own estimates, summed
    size_t bytes = 0;        // what the entry counts against max_bytes: the above, spare capacity, itself
  };
  using Entries = std::list<Entry>;  // most recently given back first
  // What a Take handed out, so that the Put after it estimates only the events the wake added (an
  // estimate walks every field of every event: ~1 ms for 100,000). Only an optimization: bounded by
  // dropping them all past kMaxCounted (a wake that failed never comes back to claim its own).
  struct Counted {
    size_t events = 0;
    size_t bytes = 0;
    std::string last_id;
  };
  static constexpr size_t kMaxCounted = 4096;

  // Unlinks the session's entry into `out` (freed by the caller after the lock); false when none.
  bool RemoveLocked(std::string_view session_id, Entries& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The events' estimates summed, reusing `counted` when they still start with what it counted.
  static size_t EventBytes(const std::vector<Event>& events, const Counted* counted);

  const size_t max_bytes_;
  mutable Mutex mu_;
  Entries entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Entries::iterator> by_session_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, Counted> counted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wake
