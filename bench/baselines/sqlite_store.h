#pragma once
// Baseline: every session in one SQLite database (<root>/events.db) in WAL mode, table
//   events(session_id TEXT, seq INTEGER, body TEXT, PRIMARY KEY(session_id, seq)) WITHOUT ROWID
// with body = EncodeEventJson. Each writer has its own connection (SQLite connections are not meant
// to be shared across threads), waits for the write lock through busy_timeout, and commits one
// transaction per append. synchronous=FULL syncs the WAL at every commit, which is what makes an
// acknowledged append durable; synchronous=NORMAL would not.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bench/baselines/session_store.h"

namespace wake::bench {

struct SqliteStoreOptions {
  std::string root;  // directory; must exist
  int busy_timeout_ms = 30'000;
};

absl::StatusOr<std::unique_ptr<SessionStore>> OpenSqliteStore(const SqliteStoreOptions& options);

}  // namespace wake::bench
