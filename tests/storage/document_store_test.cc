#include "storage/document_store.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/rocksdb_session_log.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

class DocumentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("documents");
    Reopen();
  }
  void TearDown() override {
    store_ = RocksDbStore{};
    testing::RemoveDir(dir_);
  }
  void Reopen(StoreAccess access = StoreAccess::kReadWrite) {
    store_ = RocksDbStore{};
    RocksDbSessionLogOptions options;
    options.path = dir_;
    options.clock = &clock_;
    options.access = access;
    absl::StatusOr<RocksDbStore> store = OpenRocksDbStore(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  DocumentStore& docs() { return *store_.documents; }

  std::string dir_;
  ManualClock clock_;
  RocksDbStore store_;
};

TEST_F(DocumentStoreTest, CreateGetUpdateWithVersions) {
  absl::StatusOr<Document> created = docs().Create("agent", "agent_1", R"({"name":"a"})");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->version, 1u);
  EXPECT_EQ(docs().Create("agent", "agent_1", "{}").status().code(), absl::StatusCode::kAlreadyExists);
  clock_.SleepFor(absl::Seconds(5));
  absl::StatusOr<Document> updated = docs().Update("agent", "agent_1", 1, R"({"name":"b"})");
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->version, 2u);
  EXPECT_EQ(updated->updated_at - updated->created_at, absl::Seconds(5));
  // A stale version changes nothing.
  EXPECT_EQ(docs().Update("agent", "agent_1", 1, R"({"name":"c"})").status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(docs().Get("agent", "agent_1")->json, R"({"name":"b"})");
  EXPECT_EQ(docs().Get("agent", "agent_2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(docs().Get("environment", "agent_1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(docs().Create("", "x", "{}").status().code(), absl::StatusCode::kInvalidArgument);
  // Durable across a reopen.
  Reopen();
  EXPECT_EQ(*docs().Get("agent", "agent_1"), *updated);
}

TEST_F(DocumentStoreTest, ArchiveListAndDelete) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(docs().Create("env", absl::StrCat("env_", i), "{}").ok());
  ASSERT_TRUE(docs().Create("agent", "agent_x", "{}").ok());
  absl::StatusOr<Document> archived = docs().Archive("env", "env_1");
  ASSERT_TRUE(archived.ok());
  ASSERT_TRUE(archived->archived_at.has_value());
  clock_.SleepFor(absl::Seconds(1));
  EXPECT_EQ(docs().Archive("env", "env_1")->archived_at, archived->archived_at);  // idempotent

  absl::StatusOr<DocumentPage> first = docs().List("env", "", 2, /*include_archived=*/true);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->documents.size(), 2u);
  EXPECT_EQ(first->documents[0].id, "env_0");
  EXPECT_EQ(first->next_cursor, "env_1");
  absl::StatusOr<DocumentPage> rest = docs().List("env", first->next_cursor, 10, true);
  ASSERT_EQ(rest->documents.size(), 3u);
  EXPECT_EQ(rest->next_cursor, "");
  EXPECT_EQ(docs().List("env", "", 10, /*include_archived=*/false)->documents.size(), 4u);

  ASSERT_TRUE(docs().Delete("env", "env_0").ok());
  EXPECT_EQ(docs().Delete("env", "env_0").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(docs().List("env", "", 10, true)->documents.size(), 4u);
  EXPECT_EQ(docs().List("agent", "", 10, true)->documents.size(), 1u);
}

TEST_F(DocumentStoreTest, ReadOnlyStoresRefuseWrites) {
  ASSERT_TRUE(docs().Create("agent", "agent_1", "{}").ok());
  Reopen(StoreAccess::kReadOnly);
  EXPECT_EQ(docs().Get("agent", "agent_1")->version, 1u);
  EXPECT_EQ(docs().Create("agent", "agent_2", "{}").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(docs().Update("agent", "agent_1", 0, "{}").status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace wake
