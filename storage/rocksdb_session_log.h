#pragma once
// The embedded SessionLog on RocksDB: one database with column families "events", "sessions",
// "leases" and "blobs" sharing one WAL, so an append (events + session metadata + blobs) is one
// atomic WriteBatch.
//
// Writes from every session queue up and are committed in groups: all queued appends as one WriteBatch
// with one WAL sync, then every waiter is completed (group commit). That is what lets many concurrent
// sessions append durably at a rate no per-append fsync can reach. A blocking caller that finds no
// group in progress commits the queue itself (as LevelDB's writers do), so a lone writer pays only
// its sync; otherwise the log's committer thread takes the next group, and it alone serves
// AppendAsync callers, who never block.
//
// Ownership: the returned SessionLog owns the database; destroying it drains queued appends, then
// closes the database. Outstanding Subscriptions must be destroyed, and calls returned, first.
// Memory: the committer keeps the record and lease of every session it has written to (a few hundred
// bytes each) for the life of the log.

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/clock.h"
#include "storage/document_store.h"
#include "storage/session_log.h"

namespace rocksdb {
class Env;
}

namespace wake {

// How a process opens the store.
enum class StoreAccess {
  kReadWrite,  // the one writer (waked, an embedding engine); takes the directory's lock
  // Inspection while the writer runs (wakectl): a consistent view as of the open; every write is
  // refused with FailedPrecondition.
  kReadOnly,
  // Like kReadOnly, but each read first catches up with the writer's latest appends (a RocksDB
  // secondary instance; `follow_dir` holds its own files). Subscriptions see no appends: followers
  // poll with Read.
  kFollow,
};

struct RocksDbSessionLogOptions {
  std::string path;  // directory of the database; created when missing (kReadWrite only)
  StoreAccess access = StoreAccess::kReadWrite;
  std::string follow_dir;  // kFollow: a directory of the follower's own (required)
  Durability durability = Durability::kSync;
  // Content block payloads and tool inputs of this many bytes or more are stored once, by SHA-256,
  // in the blobs column family; the event holds the reference.
  size_t blob_threshold = 64 * 1024;
  // Largest encoded event accepted, after blobs are moved out; bigger appends are InvalidArgument.
  size_t max_event_bytes = 1024 * 1024;
  // Largest single payload accepted at all (even as a blob).
  size_t max_payload_bytes = 64 * 1024 * 1024;
  // Block cache for event reads.
  size_t block_cache_bytes = 256 * 1024 * 1024;
  // Source of created_at/updated_at/processed_at and lease expiry. Not owned; must outlive the log.
  Clock* clock = Clock::Real();
  // The RocksDB environment (file system); null = the default. Tests inject write faults here.
  // Not owned; must outlive the log.
  rocksdb::Env* env = nullptr;
};

// Opens (or creates) the log at options.path. A corrupt database is DataLoss; a database held by
// another process is Unavailable.
absl::StatusOr<std::unique_ptr<SessionLog>> OpenRocksDbSessionLog(const RocksDbSessionLogOptions& options);

// The session log and the engine's documents (agents, environments, ...) in one store: the documents
// live in a column family of their own. Each object keeps the database open while it exists.
struct RocksDbStore {
  std::unique_ptr<SessionLog> log;
  std::unique_ptr<DocumentStore> documents;
};
absl::StatusOr<RocksDbStore> OpenRocksDbStore(const RocksDbSessionLogOptions& options);

}  // namespace wake
