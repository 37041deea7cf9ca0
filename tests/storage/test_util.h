#pragma once
// Helpers shared by the storage tests and the crash_appender child.

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "rocksdb/db.h"
#include "schemas/event.h"

namespace wake::testing {

// A fresh, empty directory under $TEST_TMPDIR or /tmp; removed by the caller if it wants.
std::string MakeTempDir(const std::string& name);
void RemoveDir(const std::string& path);

// A user.message whose text is derived from `tag`, so a reader can check it: "message <tag>"
// padded with `padding` 'x' characters.
Event TextMessage(EventType type, const std::string& tag, size_t padding = 0);
// An agent.tool_use with a JSON input.
Event ToolUse(const std::string& name, const std::string& input_json);

// The store's RocksDB opened directly, column family by column family, to damage it on purpose
// (tests of corruption handling). Only while no SessionLog has the directory open.
class RawDb {
 public:
  enum Family { kDefault, kEvents, kSessions, kLeases, kBlobs, kDocuments };

  explicit RawDb(const std::string& dir);
  ~RawDb() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  }
  bool ok() const { return status_.ok(); }
  bool Put(Family f, const std::string& key, const std::string& value) {
    return db_->Put(rocksdb::WriteOptions(), handles_[f], key, value).ok();
  }
  bool Delete(Family f, const std::string& key) { return db_->Delete(rocksdb::WriteOptions(), handles_[f], key).ok(); }
  std::vector<std::string> Keys(Family f) {
    std::vector<std::string> keys;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[f]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
    return keys;
  }

 private:
  rocksdb::Status status_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace wake::testing
