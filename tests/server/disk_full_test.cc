// waked's data dir on a filesystem that fills up (a 64 MiB tmpfs mounted by the test; needs root,
// as the CI machine has): appends fail with a clear error, the API answers 503 with the error
// envelope and keeps serving reads, nothing acknowledged is lost and the store checks clean; once
// space returns and the engine is reopened (a restart), the session takes messages and runs again.
//
// The Engine and the server run in-process (as waked runs them) on real RocksDB, the scripted brain
// and local hands (whose work dirs are outside the small filesystem); libcurl is the client.

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
#include "server/server.h"
#include "storage/store_check.h"
#include "tests/server/http_client.h"
#include "tests/server/test_engine.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::HttpClient;
using testing::HttpResponse;

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("disk_full");
    data_ = dir_ + "/data";
    std::filesystem::create_directories(data_);
    if (mount("tmpfs", data_.c_str(), "tmpfs", 0, "size=64m") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs at " << data_ << " (" << std::strerror(errno)
                   << "): this test needs root (CI runs as root)";
    }
    mounted_ = true;
    LocalProviderOptions local;
    local.base_dir = dir_ + "/hands";
    absl::StatusOr<std::unique_ptr<HandProvider>> provider = NewLocalProvider(local);
    ASSERT_TRUE(provider.ok()) << provider.status();
    local_ = *std::move(provider);
    Open();
  }

  void TearDown() override {
    Close();
    if (mounted_) umount2(data_.c_str(), MNT_DETACH);
    testing::RemoveDir(dir_);
  }

  void Open() {
    absl::StatusOr<std::unique_ptr<Engine>> engine = testing::OpenTestEngine(data_, local_.get());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    ServerOptions server_options;
    server_options.require_api_key = false;
    server_options.log = [](std::string_view) {};
    absl::StatusOr<std::unique_ptr<Server>> server = StartServer(engine_.get(), std::move(server_options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<HttpClient>(absl::StrCat("http://127.0.0.1:", server_->port()));
  }

  void Close() {
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
  }

  HttpResponse SendText(const std::string& session, const std::string& text) {
    return client_->Post(absl::StrCat("/v1/sessions/", session, "/events"),
                         absl::StrCat(R"({"events":[{"type":"user.message","content":[{"type":"text","text":")", text,
                                      R"("}]}]})"));
  }

  // Waits (no time asserted; a generous bound) until the session has an idle after its last
  // user.message.
  bool AwaitIdleAfterLastMessage(const std::string& session) {
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (absl::Now() < give_up) {
      absl::StatusOr<std::vector<Event>> events = engine_->ReadEvents(session);
      if (events.ok()) {
        bool idle_after = false;
        for (const Event& e : *events) {
          if (e.type == EventType::kUserMessage) idle_after = false;
          if (e.type == EventType::kSessionStatusIdle) idle_after = true;
        }
        if (idle_after) return true;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  // Writes a file until the filesystem is full; the bytes written.
  size_t Fill(const std::string& path) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    const std::string chunk(1 << 16, 'x');
    size_t total = 0;
    while (true) {
      const ssize_t n = write(fd, chunk.data(), chunk.size());
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
    close(fd);
    return total;
  }

  std::string dir_, data_;
  bool mounted_ = false;
  std::unique_ptr<HandProvider> local_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(DiskFullTest, AFullDataDirIsA503ThatLosesNothingAndARestartAfterSpaceReturnsResumes) {
  HttpResponse agent = client_->Post(
      "/v1/agents", R"({"name":"a","model":"scripted","tools":[{"type":"agent_toolset_20260401"}]})");
  ASSERT_EQ(agent.status, 200) << agent.body;
  HttpResponse env = client_->Post("/v1/environments", R"({"name":"e","config":{"type":"local"}})");
  ASSERT_EQ(env.status, 200) << env.body;
  HttpResponse session = client_->Post(
      "/v1/sessions", absl::StrCat(R"({"agent":")", agent.Str("/id"), R"(","environment_id":")", env.Str("/id"), R"("})"));
  ASSERT_EQ(session.status, 200) << session.body;
  const std::string id = session.Str("/id");
  std::set<std::string> acknowledged;  // ids of the events the API answered 200 for
  HttpResponse first = SendText(id, "before the disk fills");
  ASSERT_EQ(first.status, 200) << first.body;
  acknowledged.insert(first.Str("/data/0/id"));
  ASSERT_TRUE(AwaitIdleAfterLastMessage(id));

  const size_t filled = Fill(data_ + "/filler");
  EXPECT_GT(filled, 0u);

  // Messages until the store says it is full (RocksDB may still have preallocated WAL space for a
  // few): each answer is a 200 (acknowledged: must survive) or a 503 with the error envelope.
  const std::string big(48 * 1024, 'm');
  HttpResponse refused;
  for (int i = 0; i < 400 && refused.status == 0; ++i) {
    HttpResponse r = SendText(id, absl::StrCat("message ", i, " ", big));
    if (r.status == 200) {
      acknowledged.insert(r.Str("/data/0/id"));
      continue;
    }
    refused = r;
  }
  ASSERT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.Str("/type"), "error") << refused.body;
  EXPECT_EQ(refused.Str("/error/type"), "api_error") << refused.body;
  const std::string message = refused.Str("/error/message");
  EXPECT_TRUE(absl::StrContains(message, "full") || absl::StrContains(message, "space")) << message;

  // Later writes are refused the same way (the log does not know what reached the WAL), with a
  // message that says what the operator must do; reads keep working.
  HttpResponse again = SendText(id, "while full");
  EXPECT_EQ(again.status, 503) << again.body;
  EXPECT_TRUE(absl::StrContains(again.Str("/error/message"), "until it is reopened")) << again.body;
  HttpResponse another = client_->Post("/v1/sessions", absl::StrCat(R"({"agent":")", agent.Str("/id"), R"("})"));
  EXPECT_EQ(another.status, 503) << another.body;
  HttpResponse read = client_->Get(absl::StrCat("/v1/sessions/", id));
  EXPECT_EQ(read.status, 200) << read.body;
  HttpResponse listed = client_->Get(absl::StrCat("/v1/sessions/", id, "/events?limit=1000"));
  EXPECT_EQ(listed.status, 200) << listed.body;

  // Space returns; waked restarts on the same data dir.
  Close();
  std::filesystem::remove(data_ + "/filler");
  Open();

  // Nothing acknowledged was lost, and the store is sound.
  absl::StatusOr<std::vector<Event>> events = engine_->ReadEvents(id);
  ASSERT_TRUE(events.ok()) << events.status();
  std::set<std::string> in_log;
  for (const Event& e : *events) in_log.insert(e.id);
  for (const std::string& ack : acknowledged) EXPECT_TRUE(in_log.contains(ack)) << "acknowledged and lost: " << ack;
  EXPECT_GE(acknowledged.size(), 1u);

  // Work resumes: the session answers every message it was sent, and a new one.
  HttpResponse after = SendText(id, "after the restart");
  ASSERT_EQ(after.status, 200) << after.body;
  ASSERT_TRUE(AwaitIdleAfterLastMessage(id));
  HttpResponse fresh = client_->Post("/v1/sessions", absl::StrCat(R"({"agent":")", agent.Str("/id"), R"("})"));
  EXPECT_EQ(fresh.status, 200) << fresh.body;

  Close();
  absl::StatusOr<StoreCheckReport> check = CheckSessionStore(data_, {});
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->findings.empty()) << check->findings.front().kind << ": " << check->findings.front().detail;
  EXPECT_GE(check->sessions, 2u);
}

}  // namespace
}  // namespace wake
