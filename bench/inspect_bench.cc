// inspect_bench: wakectl's work on big stores, on a generated store (kBuffered appends to build it).
//
// BM_ListAllSessions/<sessions>: ListSessions pages (1,000 at a time) over every session: the scan
//   `wakectl sessions ls` and `stats` start with. Reports sessions/s.
// BM_SessionsLs/<sessions>: all of `wakectl sessions ls --agent A --sort updated --desc --limit 0`:
//   the scan, the agent filter, the sort and the table rows. Reports sessions/s.
// BM_VerifyStore/<events>: CheckSessionStore plus the log checks over every event, as
//   `wakectl verify --all` does. Reports events/s. 1 M events by default; other sizes with
//   WAKE_BENCH_VERIFY_EVENTS=3000000,10000000. Each store is generated first (its build time is
//   printed on stderr) and kept, so `wakectl --data <dir> verify --all --progress` can be timed on
//   it afterwards.
//
// Data under $WAKE_BENCH_DIR (default /tmp/wake-bench), a store per size: inspect-<sessions>x<events>.
// A store already there with the right size (a "complete" marker) is reused.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/sync.h"
#include "benchmark/benchmark.h"
#include "inspect/log_check.h"
#include "inspect/session_list.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"
#include "storage/store_check.h"

namespace wake {
namespace {

std::string BenchDir(const std::string& name) {
  const char* base = std::getenv("WAKE_BENCH_DIR");
  return (std::filesystem::path(base != nullptr ? base : "/tmp/wake-bench") / name).string();
}

// A store of `sessions` sessions with `events_per_session` ~300-byte user messages each; made once
// per process and size.
std::string Store(int64_t sessions, int64_t events_per_session) {
  const std::string dir = BenchDir(absl::StrCat("inspect-", sessions, "x", events_per_session));
  static std::set<std::string>* made = new std::set<std::string>();
  if (made->contains(dir)) return dir;
  const std::string marker = dir + "/complete";
  if (std::filesystem::exists(marker)) {
    made->insert(dir);
    return dir;
  }
  std::filesystem::remove_all(dir);
  const absl::Time start = absl::Now();
  RocksDbSessionLogOptions options;
  options.path = dir;
  options.durability = Durability::kBuffered;
  std::unique_ptr<SessionLog> log = *OpenRocksDbSessionLog(options);
  Mutex mu;
  int64_t pending = 0;
  for (int64_t s = 0; s < sessions; ++s) {
    SessionInfo info;
    info.id = NewSessionId(absl::Now());
    info.title = absl::StrCat("bench session ", s);
    info.agent_id = absl::StrCat("agent_", s % 10);
    if (!log->CreateSession(info).ok()) std::abort();
    for (int64_t e = 0; e < events_per_session; e += 50) {
      std::vector<Event> batch;
      for (int64_t k = e; k < std::min(events_per_session, e + 50); ++k) {
        Event ev;
        ev.type = EventType::kUserMessage;
        ev.id = NewEventId(absl::Now());
        ContentBlock text;
        text.text = std::string(300, static_cast<char>('a' + k % 26));
        ev.content.push_back(std::move(text));
        batch.push_back(std::move(ev));
      }
      {
        MutexLock lock(&mu);
        ++pending;
      }
      log->AppendAsync(info.id, std::move(batch), static_cast<uint64_t>(e + 1), kNoLease,
                       [&](absl::StatusOr<AppendResult> r) {
                         if (!r.ok()) std::abort();
                         MutexLock lock(&mu);
                         --pending;
                         mu.SignalAll();
                       });
    }
  }
  {
    MutexLock lock(&mu);
    mu.Await([&] { return pending == 0; });
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::fprintf(stderr, "generated %s: %lld sessions x %lld events in %.1f s (%.0f events/s)\n", dir.c_str(),
               static_cast<long long>(sessions), static_cast<long long>(events_per_session), seconds,
               static_cast<double>(sessions * events_per_session) / seconds);
  log.reset();
  std::ofstream(marker) << "complete\n";
  made->insert(dir);
  return dir;
}

void BM_ListAllSessions(benchmark::State& state) {
  const std::string dir = Store(state.range(0), 1);
  RocksDbSessionLogOptions options;
  options.path = dir;
  options.access = StoreAccess::kReadOnly;
  std::unique_ptr<SessionLog> log = *OpenRocksDbSessionLog(options);
  int64_t listed = 0;
  for (auto _ : state) {
    ListSessionsOptions list;
    list.limit = 1000;
    while (true) {
      SessionPage page = *log->ListSessions(list);
      listed += static_cast<int64_t>(page.sessions.size());
      if (page.next_cursor.empty()) break;
      list.after_session_id = page.next_cursor;
    }
  }
  state.counters["sessions/s"] = benchmark::Counter(static_cast<double>(listed), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ListAllSessions)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SessionsLs(benchmark::State& state) {
  const std::string dir = Store(state.range(0), 1);
  RocksDbSessionLogOptions options;
  options.path = dir;
  options.access = StoreAccess::kReadOnly;
  std::unique_ptr<SessionLog> log = *OpenRocksDbSessionLog(options);
  int64_t listed = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    std::vector<SessionInfo> matching;
    ListSessionsOptions list;
    list.limit = 1000;
    SessionFilter filter;
    filter.agent_id = "agent_3";
    while (true) {
      SessionPage page = *log->ListSessions(list);
      listed += static_cast<int64_t>(page.sessions.size());
      for (SessionInfo& s : page.sessions) {
        if (SessionMatches(filter, s)) matching.push_back(std::move(s));
      }
      if (page.next_cursor.empty()) break;
      list.after_session_id = page.next_cursor;
    }
    SortSessions(matching, SessionSort::kUpdated, /*descending=*/true);
    std::string out = SessionTableHeader();
    for (const SessionInfo& s : matching) absl::StrAppend(&out, SessionTableRow(s), "\n");
    bytes += out.size();
    if (matching.size() != static_cast<size_t>(state.range(0) / 10)) std::abort();
  }
  benchmark::DoNotOptimize(bytes);
  state.counters["sessions/s"] = benchmark::Counter(static_cast<double>(listed), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SessionsLs)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_VerifyStore(benchmark::State& state) {
  const int64_t per_session = 100;
  const std::string dir = Store(state.range(0) / per_session, per_session);
  int64_t scanned = 0;
  for (auto _ : state) {
    StoreCheckOptions options;
    size_t findings = 0;
    options.on_session_events = [&](const std::string& id, const std::vector<Event>& events) {
      findings += CheckSessionEvents(id, events).size();
    };
    StoreCheckReport report = *CheckSessionStore(dir, options);
    if (!report.findings.empty() || findings != 0) std::abort();
    scanned += static_cast<int64_t>(report.events);
  }
  state.counters["events/s"] = benchmark::Counter(static_cast<double>(scanned), benchmark::Counter::kIsRate);
}
// The store sizes: $WAKE_BENCH_VERIFY_EVENTS (e.g. "1000000,3000000,10000000"), else 1 M.
void VerifySizes(benchmark::internal::Benchmark* b) {
  const char* sizes = std::getenv("WAKE_BENCH_VERIFY_EVENTS");
  if (sizes == nullptr || *sizes == '\0') {
    b->Arg(1'000'000);
    return;
  }
  for (absl::string_view size : absl::StrSplit(sizes, ',')) {
    int64_t events = 0;
    if (!absl::SimpleAtoi(size, &events) || events < 100) {
      std::fprintf(stderr, "WAKE_BENCH_VERIFY_EVENTS: %s is not a count of events (100 or more)\n", std::string(size).c_str());
      std::exit(2);
    }
    b->Arg(events);
  }
}
BENCHMARK(BM_VerifyStore)->Apply(VerifySizes)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace
}  // namespace wake

BENCHMARK_MAIN();
