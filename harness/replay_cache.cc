#include "harness/replay_cache.h"

#include <iterator>
#include <optional>
#include <utility>

#include "base/strings.h"

namespace wake {
namespace {

// Heap bytes of a string: none while it fits in the object (libstdc++ keeps up to 15 chars inline).
size_t HeapBytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

size_t HeapBytes(const ContentBlock& b) {
  return HeapBytes(b.text) + HeapBytes(b.data) + HeapBytes(b.media_type) + (b.title ? HeapBytes(*b.title) : 0) +
         (b.context ? HeapBytes(*b.context) : 0);
}

}  // namespace

size_t ReplayCache::EstimateBytes(const Event& e) {
  size_t bytes = sizeof(Event) + HeapBytes(e.id) + HeapBytes(e.name) + HeapBytes(e.input_json) +
                 HeapBytes(e.tool_use_id) + (e.deny_message ? HeapBytes(*e.deny_message) : 0) +
                 HeapBytes(e.error.type) + HeapBytes(e.error.message) + HeapBytes(e.model_request_start_id) +
                 HeapBytes(e.idempotency_key) + HeapBytes(e.hand_id) + HeapBytes(e.hand_backend) +
                 HeapBytes(e.reason) + HeapBytes(e.worker_id);
  bytes += e.content.capacity() * sizeof(ContentBlock);
  for (const ContentBlock& b : e.content) bytes += HeapBytes(b);
  bytes += e.stop_reason.event_ids.capacity() * sizeof(std::string);
  for (const std::string& id : e.stop_reason.event_ids) bytes += HeapBytes(id);
  return bytes;
}

size_t ReplayCache::EventBytes(const std::vector<Event>& events, const Counted* counted) {
  size_t bytes = 0;
  size_t from = 0;
  if (counted != nullptr && counted->events > 0 && counted->events <= events.size() &&
      events[counted->events - 1].id == counted->last_id) {
    // Seqs 1..n of one log are the same events whenever the n-th has the same id (the log is
    // append-only), so what was counted still holds.
    bytes += counted->bytes;
    from = counted->events;
  }
  for (size_t i = from; i < events.size(); ++i) bytes += EstimateBytes(events[i]);
  return bytes;
}

bool ReplayCache::RemoveLocked(std::string_view session_id, Entries& out) {
  auto found = by_session_.find(ToAbsl(session_id));
  if (found == by_session_.end()) return false;
  bytes_ -= found->second->bytes;
  out.splice(out.end(), entries_, found->second);
  by_session_.erase(found);
  return true;
}

std::vector<Event> ReplayCache::Take(std::string_view session_id) {
  Entries taken;
  {
    MutexLock lock(&mu_);
    if (!RemoveLocked(session_id, taken)) return {};
    const Entry& entry = taken.front();
    if (counted_.size() >= kMaxCounted) counted_.clear();
    counted_[entry.session_id] = Counted{entry.events.size(), entry.event_bytes, entry.events.back().id};
  }
  return std::move(taken.front().events);
}

void ReplayCache::Put(std::string_view session_id, std::vector<Event> events) {
  // A prefix of the log has seqs 1..n; with the seqs a wake keeps (strictly increasing), checking both
  // ends is enough to rule out a gap.
  if (events.empty() || events.front().seq != 1 || events.back().seq != events.size()) return;
  std::optional<Counted> counted;
  {
    MutexLock lock(&mu_);
    if (auto found = counted_.find(ToAbsl(session_id)); found != counted_.end()) {
      counted = std::move(found->second);
      counted_.erase(found);
    }
  }
  Entry entry{std::string(session_id), std::move(events)};
  entry.event_bytes = EventBytes(entry.events, counted ? &*counted : nullptr);
  entry.bytes = sizeof(Entry) + (entry.events.capacity() - entry.events.size()) * sizeof(Event) + entry.event_bytes;
  if (entry.bytes > max_bytes_) return;  // freed here, outside the lock

  Entries dropped;  // freed after the lock is released: a big session takes milliseconds to free
  {
    MutexLock lock(&mu_);
    RemoveLocked(session_id, dropped);
    bytes_ += entry.bytes;
    entries_.push_front(std::move(entry));
    by_session_.emplace(entries_.front().session_id, entries_.begin());
    while (bytes_ > max_bytes_) {
      auto oldest = std::prev(entries_.end());
      bytes_ -= oldest->bytes;
      by_session_.erase(oldest->session_id);
      dropped.splice(dropped.end(), entries_, oldest);
    }
  }
}

void ReplayCache::Erase(std::string_view session_id) {
  Entries dropped;  // freed after the lock is released
  MutexLock lock(&mu_);
  RemoveLocked(session_id, dropped);
  counted_.erase(ToAbsl(session_id));
}

size_t ReplayCache::bytes() const {
  MutexLock lock(&mu_);
  return bytes_;
}

size_t ReplayCache::sessions() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace wake
