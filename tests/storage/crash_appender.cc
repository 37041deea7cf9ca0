// Child process of the crash test: appends durably (kSync) to a few sessions from several threads and
// writes "ack <session> <seq>" to stdout after each acknowledged append, until it is killed.
// Each event's text is "message <session>:<seq>" so the parent can check what survived.
//
// usage: crash_appender DATA_DIR SESSION_ID...

#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/rocksdb_session_log.h"
#include "tests/storage/test_util.h"

namespace {

void WriteLine(const std::string& line) {
  // Unbuffered: a line the parent reads is a line that was acknowledged before the kill.
  const std::string out = line + "\n";
  if (::write(STDOUT_FILENO, out.data(), out.size()) != static_cast<ssize_t>(out.size())) _exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DATA_DIR SESSION_ID...\n", argv[0]);
    return 2;
  }
  wake::RocksDbSessionLogOptions options;
  options.path = argv[1];
  options.durability = wake::Durability::kSync;
  options.blob_threshold = 2048;  // some events take the blob path too
  auto log = wake::OpenRocksDbSessionLog(options);
  if (!log.ok()) {
    std::fprintf(stderr, "open: %s\n", log.status().ToString().c_str());
    return 1;
  }
  std::vector<std::thread> writers;
  for (int i = 2; i < argc; ++i) {
    writers.emplace_back([&log, session = std::string(argv[i])] {
      wake::SessionInfo info;
      info.id = session;
      auto existing = (*log)->GetSession(session);
      if (!existing.ok()) {
        auto created = (*log)->CreateSession(info);
        if (!created.ok()) _exit(4);
        existing = created;
      }
      uint64_t next = existing->next_seq;
      while (true) {
        // Vary the batch size and payload size so batches of 1..3 events and blobs are both covered.
        std::vector<wake::Event> batch;
        const size_t n = 1 + next % 3;
        for (size_t k = 0; k < n; ++k) {
          batch.push_back(wake::testing::TextMessage(wake::EventType::kAgentMessage,
                                                     absl::StrCat(session, ":", next + k),
                                                     (next + k) % 7 == 0 ? 3000 : 200));
        }
        auto r = (*log)->Append(session, std::move(batch), next, wake::kNoLease);
        if (!r.ok()) {
          std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
          _exit(5);
        }
        for (uint64_t seq = r->first_seq; seq <= r->last_seq; ++seq) WriteLine(absl::StrCat("ack ", session, " ", seq));
        next = r->last_seq + 1;
      }
    });
  }
  for (auto& w : writers) w.join();
  return 0;
}
