// Child process of the SIGKILL crash test: one harness worker on a RocksDB log. Creates the session
// (with a user.message) when it does not exist, wakes it, prints "appended" after every successful
// append and "done" at the end. Its hand journals every execution (fsynced) to a file, so the parent
// can count executions across kills.
//
// usage: harness_crash_child DATA_DIR SESSION_ID HAND_JOURNAL
//        harness_crash_child --print-context DATA_DIR SESSION_ID
//   (the second form prints the model request the session's events build, for the determinism test)

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "harness/context_builder.h"
#include "harness/harness.h"
#include "harness/scripted_brain.h"
#include "storage/rocksdb_session_log.h"
#include "tests/harness/harness_test_util.h"
#include "tests/storage/test_util.h"

namespace {

void Say(const char* line) {
  if (::write(STDOUT_FILENO, line, std::strlen(line)) < 0) _exit(3);
}

class JournalingHands final : public wake::SessionHands {
 public:
  explicit JournalingHands(const char* path) : fd_(::open(path, O_WRONLY | O_CREAT | O_APPEND, 0644)) {}
  absl::StatusOr<wake::ToolResult> Execute(std::string_view session_id, const wake::ToolCall& call,
                                           const wake::CancelToken* cancel, std::vector<wake::Event>* hand_events) override {
    const std::string entry = absl::StrCat(call.name, " ", call.idempotency_key, "\n");
    if (::write(fd_, entry.data(), entry.size()) < 0 || ::fsync(fd_) != 0) _exit(4);
    return inner_.Execute(session_id, call, cancel, hand_events);
  }

 private:
  int fd_;
  wake::testing::RecordingHands inner_;
};

}  // namespace

int PrintContext(const char* data_dir, const std::string& session) {
  wake::RocksDbSessionLogOptions options;
  options.path = data_dir;
  auto log = wake::OpenRocksDbSessionLog(options);
  if (!log.ok()) return 1;
  auto events = (*log)->Read(session);
  if (!events.ok()) return 1;
  const std::string context =
      wake::EncodeModelRequestJson(wake::BuildModelRequest(wake::testing::TestAgent(), *events));
  Say(context.c_str());
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--print-context") return PrintContext(argv[2], argv[3]);
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DATA_DIR SESSION_ID HAND_JOURNAL\n", argv[0]);
    return 2;
  }
  wake::RocksDbSessionLogOptions options;
  options.path = argv[1];
  auto log = wake::OpenRocksDbSessionLog(options);
  if (!log.ok()) return 1;
  const std::string session = argv[2];
  if (!(*log)->GetSession(session).ok()) {
    wake::SessionInfo info;
    info.id = session;
    if (!(*log)->CreateSession(info).ok()) return 1;
    auto message = wake::testing::TextMessage(wake::EventType::kUserMessage, "please look around");
    if (!(*log)->Append(session, {message}, wake::kAppendAtHead, wake::kNoLease).ok()) return 1;
  }
  auto brain = wake::NewScriptedBrain(wake::testing::TestScript());
  if (!brain.ok()) return 1;
  JournalingHands hands(argv[3]);
  // Announces every successful append, so the parent can kill right after one (it never "crashes").
  wake::testing::CrashingLog announcing(log->get(), 1'000'000, [] { Say("appended\n"); });
  wake::HarnessOptions harness_options;
  harness_options.worker_id = "crash-child";  // a restarted worker keeps its identity
  wake::Harness harness(&announcing, brain->get(), &hands, harness_options);
  absl::Status status = harness.Wake(session, wake::testing::TestAgent());
  if (!status.ok()) {
    std::fprintf(stderr, "wake: %s\n", status.ToString().c_str());
    return 1;
  }
  Say("done\n");
  return 0;
}
