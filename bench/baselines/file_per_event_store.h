#pragma once
// Baseline: one directory per session (<root>/<session_id>/) and one file per event, named by its seq
// ("1.json", "2.json", ...), holding EncodeEventJson. An append creates the file, writes it and fsyncs
// the file.
//
// The directory is not fsynced per append. POSIX needs that for the new name to be durable; ext4 in
// its default data=ordered mode happens to commit the name with the file's fsync (same journal
// transaction), so on this machine the baseline is durable, but it is the optimistic variant: a
// portable one would pay a second sync per append.

#include <memory>
#include <string>

#include "bench/baselines/session_store.h"

namespace wake::bench {

struct FilePerEventStoreOptions {
  std::string root;  // directory; must exist
};

std::unique_ptr<SessionStore> NewFilePerEventStore(const FilePerEventStoreOptions& options);

}  // namespace wake::bench
