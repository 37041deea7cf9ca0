#pragma once
// RocksDB's informational log (the store's LOG file), written without RocksDB's file writer.
//
// Why: RocksDB's own info logger writes through a WritableFileWriter, and once a write to the LOG
// has failed (ENOSPC: a full data dir) the next log line trips an assertion in that writer in
// Debian's build of RocksDB 7.8 (asserts enabled), aborting the process at the very moment the
// session log should be answering "the disk is full". This logger appends each line with one
// write(2) on an O_APPEND descriptor and ignores failures: a full disk costs log lines, never the
// process. At open, a LOG above `rotate_bytes` is renamed to LOG.old.

#include <memory>
#include <string>

#include "rocksdb/env.h"

namespace wake {

// A logger for rocksdb::DBOptions::info_log that appends to `dir`/LOG. Never null: when the file
// cannot be opened, lines are dropped.
std::shared_ptr<rocksdb::Logger> NewInfoLog(const std::string& dir, size_t rotate_bytes = 64 << 20);

}  // namespace wake
