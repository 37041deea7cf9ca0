// ApiKeyStore on a real data dir: keys made, listed, checked and revoked; changes made by another
// store object (or process) seen at once; concurrent writers from threads and from forked processes
// losing nothing; a corrupt file refused with a clear error; the file's mode.

#include "storage/api_key_store.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "schemas/ids.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

class ApiKeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("api_keys"); }
  void TearDown() override { testing::RemoveDir(dir_); }

  ApiKeyStoreOptions Options() {
    ApiKeyStoreOptions options;
    options.data_dir = dir_ + "/data";
    options.clock = &clock_;
    return options;
  }

  std::string dir_;
  ManualClock clock_;
};

TEST_F(ApiKeyStoreTest, CreateListAndRevoke) {
  ApiKeyStore store(Options());
  absl::StatusOr<CreatedApiKey> ci = store.Create("ci", "");
  ASSERT_TRUE(ci.ok()) << ci.status();
  clock_.Advance(absl::Seconds(1));
  absl::StatusOr<CreatedApiKey> ops = store.Create("ops laptop", "team-a");
  ASSERT_TRUE(ops.ok()) << ops.status();

  EXPECT_TRUE(ci->key.starts_with(kApiKeyPrefix)) << ci->key;
  EXPECT_EQ(ci->key.size(), kApiKeyPrefix.size() + 43);  // 32 bytes in unpadded base64url
  EXPECT_NE(ci->key, ops->key);
  EXPECT_TRUE(ParseId(kApiKeyIdPrefix, ci->record.id).ok()) << ci->record.id;
  EXPECT_EQ(ci->record.sha256_hex, Sha256Hex(Sha256(ci->key)));
  EXPECT_EQ(ci->record.workspace_id, kDefaultWorkspaceId);
  // Only the hash is stored.
  const std::string file = ReadFile(store.path());
  EXPECT_FALSE(absl::StrContains(file, ci->key));
  EXPECT_FALSE(absl::StrContains(file, ci->key.substr(kApiKeyPrefix.size())));
  EXPECT_TRUE(absl::StrContains(file, ci->record.sha256_hex));

  absl::StatusOr<std::vector<ApiKeyRecord>> listed = store.List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, ci->record.id);
  EXPECT_EQ((*listed)[0].name, "ci");
  EXPECT_EQ((*listed)[0].created_at, ci->record.created_at);
  EXPECT_EQ((*listed)[1].id, ops->record.id);
  EXPECT_EQ((*listed)[1].name, "ops laptop");
  EXPECT_EQ((*listed)[1].workspace_id, "team-a");
  EXPECT_LT((*listed)[0].created_at, (*listed)[1].created_at);
  EXPECT_FALSE((*listed)[0].revoked_at.has_value());

  clock_.Advance(absl::Seconds(1));
  absl::StatusOr<ApiKeyRecord> revoked = store.Revoke(ci->record.id);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_TRUE(revoked->revoked_at.has_value());
  EXPECT_GT(*revoked->revoked_at, ci->record.created_at);
  listed = store.List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ((*listed)[0].revoked_at, revoked->revoked_at);
  EXPECT_FALSE((*listed)[1].revoked_at.has_value());
  EXPECT_EQ((*listed)[0].sha256_hex, ci->record.sha256_hex);  // revoking keeps the record

  // Revoking again changes nothing, not even the time.
  const std::string before = ReadFile(store.path());
  clock_.Advance(absl::Seconds(1));
  absl::StatusOr<ApiKeyRecord> again = store.Revoke(ci->record.id);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->revoked_at, revoked->revoked_at);
  EXPECT_EQ(ReadFile(store.path()), before);

  absl::StatusOr<ApiKeyRecord> unknown = store.Revoke("key_01M8283KKK3HDJS2D1YMHMDV2E");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "key_01M8283KKK3HDJS2D1YMHMDV2E"));
  EXPECT_EQ(ReadFile(store.path()), before);
  EXPECT_FALSE(std::filesystem::exists(store.path() + ".tmp"));
}

TEST_F(ApiKeyStoreTest, CheckAcceptsTheKeyAndRefusesWrongAndRevokedOnes) {
  ApiKeyStore store(Options());
  // No file yet.
  absl::StatusOr<ApiKeyIdentity> none = store.Check("sk-wake-anything");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(none.status().message(), "no API key exists yet")) << none.status();
  EXPECT_TRUE(absl::StrContains(none.status().message(), "keys create")) << none.status();

  absl::StatusOr<CreatedApiKey> a = store.Create("a", "ws-a");
  absl::StatusOr<CreatedApiKey> b = store.Create("b", "");
  ASSERT_TRUE(a.ok() && b.ok());
  absl::StatusOr<ApiKeyIdentity> who = store.Check(a->key);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->key_id, a->record.id);
  EXPECT_EQ(who->workspace_id, "ws-a");
  who = store.Check(b->key);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->key_id, b->record.id);
  EXPECT_EQ(who->workspace_id, "default");

  for (const std::string& wrong : {a->key + "x", a->key.substr(0, a->key.size() - 1), std::string("sk-wake-"),
                                   a->record.sha256_hex}) {
    absl::StatusOr<ApiKeyIdentity> refused = store.Check(wrong);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << wrong;
    EXPECT_EQ(refused.status().message(), "invalid API key");
  }
  EXPECT_EQ(store.Check("").status().code(), absl::StatusCode::kUnauthenticated);

  ASSERT_TRUE(store.Revoke(a->record.id).ok());
  absl::StatusOr<ApiKeyIdentity> revoked = store.Check(a->key);
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(revoked.status().message(), absl::StrCat("the API key ", a->record.id, " was revoked"));
  EXPECT_TRUE(store.Check(b->key).ok());

  ASSERT_TRUE(store.Revoke(b->record.id).ok());
  absl::StatusOr<ApiKeyIdentity> all_revoked = store.Check("sk-wake-other");
  EXPECT_EQ(all_revoked.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(all_revoked.status().message(), "revoked: create one")) << all_revoked.status();
}

TEST_F(ApiKeyStoreTest, ChangesMadeByAnotherStoreAreSeenAtOnce) {
  ApiKeyStore server(Options());  // as waked holds it
  ApiKeyStore operator_tool(Options());  // as wakectl does
  EXPECT_FALSE(server.Check("sk-wake-x").ok());
  // Several changes in a row, faster than any mtime granularity: each is seen.
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<CreatedApiKey> created = operator_tool.Create(absl::StrCat("k", i), absl::StrCat("ws", i));
    ASSERT_TRUE(created.ok()) << created.status();
    absl::StatusOr<ApiKeyIdentity> who = server.Check(created->key);
    ASSERT_TRUE(who.ok()) << who.status();
    EXPECT_EQ(who->workspace_id, absl::StrCat("ws", i));
    ASSERT_TRUE(operator_tool.Revoke(created->record.id).ok());
    absl::StatusOr<ApiKeyIdentity> refused = server.Check(created->key);
    EXPECT_TRUE(absl::StrContains(refused.status().message(), "was revoked")) << refused.status();
  }
  // The file removed: no keys.
  ASSERT_TRUE(std::filesystem::remove(server.path()));
  EXPECT_TRUE(absl::StrContains(server.Check("sk-wake-x").status().message(), "no API key exists yet"));
}

TEST_F(ApiKeyStoreTest, BadInputIsRefusedAndChangesNothing) {
  ApiKeyStore store(Options());
  ASSERT_TRUE(store.Create("first", "").ok());
  const std::string before = ReadFile(store.path());
  for (const auto& [name, workspace] : std::vector<std::pair<std::string, std::string>>{
           {"tab\there", ""}, {"new\nline", ""}, {std::string(201, 'n'), ""}, {"ok", "has space"},
           {"ok", "slash/ws"}, {"ok", std::string(65, 'w')}}) {
    absl::StatusOr<CreatedApiKey> refused = store.Create(name, workspace);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << name << " / " << workspace;
  }
  EXPECT_EQ(ReadFile(store.path()), before);
  absl::StatusOr<std::vector<ApiKeyRecord>> listed = store.List();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(ApiKeyStoreTest, ConcurrentCreatesFromThreadsLoseNothing) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 15;
  ApiKeyStore shared(Options());
  std::vector<std::vector<std::string>> keys(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ApiKeyStore own(Options());
      for (int i = 0; i < kPerThread; ++i) {
        // Half the threads share one store object, the others have their own.
        absl::StatusOr<CreatedApiKey> created = (t % 2 == 0 ? shared : own).Create(absl::StrCat("t", t, "-", i), "");
        if (created.ok()) keys[t].push_back(created->key);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  absl::StatusOr<std::vector<ApiKeyRecord>> listed = shared.List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<std::string> ids;
  for (const ApiKeyRecord& r : *listed) ids.insert(r.id);
  EXPECT_EQ(ids.size(), listed->size());
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(keys[t].size(), static_cast<size_t>(kPerThread));
    for (const std::string& key : keys[t]) EXPECT_TRUE(shared.Check(key).ok()) << key;
  }
}

TEST_F(ApiKeyStoreTest, ConcurrentCreatesFromTwoProcessesLoseNothing) {
  constexpr int kChildren = 2;
  constexpr int kPerProcess = 25;
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child: its own store, its keys written to a file; _exit skips gtest's teardown.
      ApiKeyStore store(Options());
      std::ofstream out(absl::StrCat(dir_, "/child", c));
      for (int i = 0; i < kPerProcess; ++i) {
        absl::StatusOr<CreatedApiKey> created = store.Create(absl::StrCat("child", c, "-", i), "");
        if (!created.ok()) {
          std::fprintf(stderr, "child %d: %s\n", c, created.status().ToString().c_str());
          ::_exit(1);
        }
        out << created->key << "\n";
      }
      out.close();
      ::_exit(out ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  ApiKeyStore store(Options());
  absl::StatusOr<std::vector<ApiKeyRecord>> listed = store.List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), static_cast<size_t>(kChildren * kPerProcess));
  size_t checked = 0;
  for (int c = 0; c < kChildren; ++c) {
    std::ifstream in(absl::StrCat(dir_, "/child", c));
    std::string key;
    while (std::getline(in, key)) {
      EXPECT_TRUE(store.Check(key).ok()) << key;
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<size_t>(kChildren * kPerProcess));
}

TEST_F(ApiKeyStoreTest, ACorruptFileIsAClearErrorAndAcceptsNothing) {
  ApiKeyStore store(Options());
  absl::StatusOr<CreatedApiKey> created = store.Create("good", "");
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(store.Check(created->key).ok());
  const std::string good = ReadFile(store.path());

  struct Case {
    std::string text;
    std::string says;
  };
  const std::string record = good.substr(good.find('\n') + 1);
  for (const Case& c : std::vector<Case>{
           {"", "does not end with a newline"},
           {good.substr(0, good.size() - 1), "does not end with a newline"},
           {"wake-api-keys v9\n", "line 1"},
           {good + "garbage\n", "line 3: a record has 6 tab-separated fields, not 1"},
           {good + record, "line 3: key key_"},
           {absl::StrCat(good, "key_x\t", created->record.sha256_hex, "\tdefault\tnow\t-\tn\n"), "line 3: bad key id"},
       }) {
    WriteFile(store.path(), c.text);
    absl::StatusOr<std::vector<ApiKeyRecord>> listed = store.List();
    EXPECT_EQ(listed.status().code(), absl::StatusCode::kDataLoss) << c.text;
    EXPECT_TRUE(absl::StrContains(listed.status().message(), store.path())) << listed.status();
    EXPECT_TRUE(absl::StrContains(listed.status().message(), c.says)) << listed.status();
    // The good key is refused while the file is corrupt.
    absl::StatusOr<ApiKeyIdentity> who = store.Check(created->key);
    EXPECT_EQ(who.status().code(), absl::StatusCode::kDataLoss) << c.text;
    // Writers refuse too, and leave the file as it is.
    EXPECT_EQ(store.Create("more", "").status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(store.Revoke(created->record.id).status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(ReadFile(store.path()), c.text);
  }
  // Restored, it works again.
  WriteFile(store.path(), good);
  EXPECT_TRUE(store.Check(created->key).ok());
}

TEST_F(ApiKeyStoreTest, TheFileIsReadableByItsOwnerOnly) {
  const mode_t old_umask = ::umask(0);
  ApiKeyStore store(Options());
  absl::StatusOr<CreatedApiKey> created = store.Create("k", "");
  ::umask(old_umask);
  ASSERT_TRUE(created.ok()) << created.status();
  struct stat st {};
  ASSERT_EQ(::stat(store.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // A file someone widened is narrowed again by the next write.
  ASSERT_EQ(::chmod(store.path().c_str(), 0644), 0);
  ASSERT_TRUE(store.Revoke(created->record.id).ok());
  ASSERT_EQ(::stat(store.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(Sha256Test, KnownVectorsAndComparison) {
  // FIPS 180-2 appendix B.1 and the empty string.
  EXPECT_EQ(Sha256Hex(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_TRUE(DigestsEqual(Sha256("abc"), Sha256("abc")));
  EXPECT_FALSE(DigestsEqual(Sha256("abc"), Sha256("abd")));
}

}  // namespace
}  // namespace wake
