#include "tests/storage/test_util.h"

#include <cstdlib>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "schemas/ids.h"

namespace wake::testing {

std::string MakeTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::filesystem::path root = base != nullptr ? base : std::filesystem::temp_directory_path();
  std::random_device rd;
  std::filesystem::path dir = root / absl::StrCat("wake-", name, "-", rd(), rd());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void RemoveDir(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

Event TextMessage(EventType type, const std::string& tag, size_t padding) {
  Event e;
  e.type = type;
  e.id = NewEventId(absl::Now());
  ContentBlock block;
  block.kind = ContentBlock::Kind::kText;
  block.text = absl::StrCat("message ", tag, std::string(padding, 'x'));
  e.content.push_back(std::move(block));
  return e;
}

Event ToolUse(const std::string& name, const std::string& input_json) {
  Event e;
  e.type = EventType::kAgentToolUse;
  e.id = NewEventId(absl::Now());
  e.name = name;
  e.input_json = input_json;
  return e;
}

RawDb::RawDb(const std::string& dir) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : {"default", "events", "sessions", "leases", "blobs", "documents"}) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  rocksdb::DB* db = nullptr;
  status_ = rocksdb::DB::Open(rocksdb::DBOptions(), dir, families, &handles_, &db);
  db_.reset(db);
}

}  // namespace wake::testing
