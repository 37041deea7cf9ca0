#pragma once
// Baseline: one JSON Lines file per session (<root>/<session_id>.jsonl), one EncodeEventJson line per
// event, opened O_APPEND. With `sync_each_append` every append is followed by fdatasync, which is the
// simplest durable log a framework could write; without it an append returns once the line is in the
// OS page cache (the buffered comparison for Durability::kBuffered).

#include <memory>
#include <string>

#include "bench/baselines/session_store.h"

namespace wake::bench {

struct JsonlStoreOptions {
  std::string root;  // directory; must exist
  bool sync_each_append = true;
};

std::unique_ptr<SessionStore> NewJsonlStore(const JsonlStoreOptions& options);

}  // namespace wake::bench
