// storage_bench: wake's SessionLog against the ways an agent framework might store sessions without it
// (JSONL file per session, file per event, SQLite in WAL mode), side by side on the same generated
// events. See bench/README.md for how to run it and what the numbers were.
//
// Every contender is driven through bench::SessionStore, so each append does the same work: take one
// Event, encode it (Cap'n Proto for wake, EncodeEventJson for the baselines) and make it durable.
//
// Data lives under $WAKE_BENCH_DIR (default /tmp/wake-bench), wiped at start; each benchmark works in
// its own fresh subdirectory and removes it when done, so one benchmark's dirty pages do not slow the
// next one's syncs.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "bench/baselines/file_per_event_store.h"
#include "bench/baselines/jsonl_store.h"
#include "bench/baselines/posix_file.h"
#include "bench/baselines/session_store.h"
#include "bench/baselines/sqlite_store.h"
#include "base/strings.h"
#include "benchmark/benchmark.h"
#include "schemas/event.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"
#include "storage/session_log.h"

namespace wake::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------------------------------------------
// Benchmark directories

constexpr char kRootMarker[] = ".wake-bench-root";

std::string& BenchRoot() {
  static std::string root;
  return root;
}

// Empties (or creates) the root. Refuses a non-empty directory that this program did not create,
// so a mistyped WAKE_BENCH_DIR cannot wipe someone's files.
absl::Status PrepareRoot(const std::string& root) {
  std::error_code ec;
  if (fs::exists(root, ec) && !fs::is_empty(root, ec) && !fs::exists(fs::path(root) / kRootMarker, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        root, " is not empty and has no ", kRootMarker, " marker; refusing to wipe it (set WAKE_BENCH_DIR)"));
  }
  fs::remove_all(root, ec);
  if (ec) return absl::InternalError(absl::StrCat("wiping ", root, ": ", ec.message()));
  fs::create_directories(root, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", root, ": ", ec.message()));
  std::ofstream(fs::path(root) / kRootMarker) << "created by wake's storage_bench; wiped at each run\n";
  return absl::OkStatus();
}

// A fresh subdirectory of the root for one benchmark run, removed (and its unsynced pages dropped
// with it) when the run ends. Declare it before the store that uses it, so the store closes first.
class ScopedBenchDir {
 public:
  explicit ScopedBenchDir(std::string_view name) {
    static std::atomic<int> counter{0};
    path_ = absl::StrFormat("%s/%03d-%s", BenchRoot(), counter.fetch_add(1), name);
    std::error_code ec;
    fs::remove_all(path_, ec);
    fs::create_directories(path_, ec);
    // Flush what earlier work left dirty, so this run's syncs do not pay for it.
    ::sync();
  }
  ~ScopedBenchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
    ::sync();
  }
  ScopedBenchDir(const ScopedBenchDir&) = delete;
  ScopedBenchDir& operator=(const ScopedBenchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Drops the OS page cache so the next read comes from the disk. Needs root; false when not allowed.
bool DropPageCache() {
  ::sync();  // drop_caches only drops clean pages
  std::ofstream out("/proc/sys/vm/drop_caches");
  out << "1\n";
  out.flush();
  return out.good();
}

// ------------------------------------------------------------------------------------------------
// Generated events

// Every event's EncodeEventJson form is between these sizes, unless WAKE_BENCH_EVENT_BYTES says
// otherwise ("300" or "300..4096"): the targets are stated for 300 B events, while the default
// mix is closer to what an agent's session holds.
constexpr size_t kMinEventJsonBytes = 300;
constexpr size_t kMaxEventJsonBytes = 4096;

struct EventSizes {
  size_t min = kMinEventJsonBytes;
  size_t max = kMaxEventJsonBytes;
};

// Exits with a message on a malformed value: a benchmark run on the wrong sizes would be worse.
EventSizes EventSizesFromEnv() {
  EventSizes sizes;
  const char* value = std::getenv("WAKE_BENCH_EVENT_BYTES");
  if (value == nullptr || *value == '\0') return sizes;
  const std::string_view text(value);
  const size_t dots = text.find("..");
  const std::string low(text.substr(0, dots));
  const std::string high(dots == std::string_view::npos ? low : std::string(text.substr(dots + 2)));
  char* end = nullptr;
  sizes.min = std::strtoul(low.c_str(), &end, 10);
  const bool low_ok = !low.empty() && *end == '\0';
  sizes.max = std::strtoul(high.c_str(), &end, 10);
  const bool high_ok = !high.empty() && *end == '\0';
  // Below ~250 B no tool_result with its ids fits; the generator's payloads are built for up to a few MB.
  if (!low_ok || !high_ok || sizes.min < 250 || sizes.max < sizes.min || sizes.max > (1u << 20)) {
    std::fprintf(stderr, "storage_bench: WAKE_BENCH_EVENT_BYTES must be N or MIN..MAX with 250 <= MIN <= MAX <= 1048576, not '%s'\n", value);
    std::exit(2);
  }
  return sizes;
}
constexpr uint64_t kEventSeed = 0x77616b65'62656e63;  // "wakebenc"
constexpr size_t kTemplateCount = 4096;
constexpr absl::Time kBaseTime = absl::FromUnixSeconds(1'763'800'000);

// splitmix64: a tiny generator whose output is fully specified, unlike the std distributions, so
// every build and platform generates the same events from the seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }
  template <typename T, size_t N>
  const T& Pick(const T (&items)[N]) {
    return items[Below(N)];
  }

 private:
  uint64_t state_;
};

constexpr const char* kWords[] = {
    "the",      "session", "agent",   "tool",      "result",  "file",     "build",   "test",
    "lease",    "epoch",   "append",  "event",     "durable", "latency",  "commit",  "context",
    "model",    "token",   "worker",  "sandbox",   "request", "response", "stream",  "error",
    "retry",    "harness", "cache",   "scheduler", "config",  "module",   "thread",  "buffer",
    "index",    "schema",  "compile", "review",    "change",  "patch",    "function", "return",
    "value",    "status",  "check",   "update",    "read",    "write",    "search",  "output",
    "because",  "so",      "then",    "we",        "should",  "will",     "can",     "not",
    "a",        "is",      "in",      "to",        "of",      "and",      "for",     "with",
};
constexpr const char* kPaths[] = {
    "src/engine/scheduler.cc",  "src/storage/session_log.cc", "src/harness/context_builder.cc",
    "src/sandbox/hand_pool.cc", "include/wake/engine.h",      "tests/storage/append_test.cc",
    "docs/design.md",           "scripts/setup.sh",           "src/api/http_server.cc",
};

// Text of exactly `len` bytes, each generator in the style of one kind of payload. ASCII only, so any
// prefix is valid UTF-8.
std::string Prose(Rng& rng, size_t len) {
  std::string out;
  while (out.size() < len) {
    const uint64_t words = 6 + rng.Below(14);
    for (uint64_t i = 0; i < words; ++i) {
      std::string word(rng.Pick(kWords));
      if (i == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
      absl::StrAppend(&out, word, i + 1 < words ? " " : "");
    }
    out += rng.Below(5) == 0 ? ".\n\n" : ". ";
  }
  out.resize(len);
  return out;
}

std::string ToolOutput(Rng& rng, size_t len) {
  std::string out;
  while (out.size() < len) {
    if (rng.Below(3) == 0) {
      absl::StrAppend(&out, "[       OK ] ", rng.Pick(kWords), "_test.", rng.Pick(kWords), " (",
                      rng.Below(900), " ms)\n");
    } else {
      absl::StrAppend(&out, rng.Pick(kPaths), ":", 1 + rng.Below(2000), ":  ", rng.Pick(kWords), "_",
                      rng.Pick(kWords), "(", rng.Pick(kWords), ");  // ", rng.Pick(kWords), " ",
                      rng.Pick(kWords), "\n");
    }
  }
  out.resize(len);
  return out;
}

std::string SourceCode(Rng& rng, size_t len) {
  std::string out;
  while (out.size() < len) {
    const char* const a = rng.Pick(kWords);
    const char* const b = rng.Pick(kWords);
    const char* const c = rng.Pick(kWords);
    absl::StrAppend(&out, "absl::Status ", a, "_", b, "(std::string_view ", c, ") {\n  if (", c,
                    ".empty()) return absl::InvalidArgumentError(\"", a, " needs a ", c, "\");\n  return ",
                    b, "_->Apply(", c, ");\n}\n\n");
  }
  out.resize(len);
  return out;
}

std::string ShellCommand(Rng& rng, size_t len) {
  std::string out = "cd /workspace";
  while (out.size() < len) {
    absl::StrAppend(&out, " && grep -rn \"", rng.Pick(kWords), "\" ", rng.Pick(kPaths), " | head -n ",
                    10 + rng.Below(90));
  }
  out.resize(len);
  return out;
}

// A 16-byte id unique per (stream, index), laid out like a real one (time first), so the stored ids
// look like wake's and are the same on every run.
IdBytes BenchIdBytes(uint32_t stream, uint64_t index) {
  IdBytes bytes{};
  const uint64_t millis = static_cast<uint64_t>(absl::ToUnixMillis(kBaseTime)) + index;
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(millis >> (8 * (5 - i)));
  for (int i = 0; i < 4; ++i) bytes[6 + i] = static_cast<uint8_t>(stream >> (8 * (3 - i)));
  for (int i = 0; i < 6; ++i) bytes[10 + i] = static_cast<uint8_t>(index >> (8 * (5 - i)));
  return bytes;
}

ContentBlock TextBlock(std::string_view text) {
  ContentBlock block;
  block.kind = ContentBlock::Kind::kText;
  block.text = std::string(text);
  return block;
}

constexpr uint32_t kTemplateStream = 0xffffffff;
constexpr uint32_t kSessionStream = 0xfffffffe;

std::string BenchSessionId(uint64_t n) { return FormatId(kSessionIdPrefix, BenchIdBytes(kSessionStream, n)); }

// The events every contender stores: kTemplateCount templates following the rhythm of an agent turn
// (user.message, agent.message, then tool_use/tool_result pairs), sizes drawn uniformly from
// [kMinEventJsonBytes, kMaxEventJsonBytes]. Thread-safe after construction (read-only).
class EventPool {
 public:
  explicit EventPool(EventSizes sizes) : sizes_(sizes) {
    Rng rng(kEventSeed);
    static constexpr EventType kTurn[] = {
        EventType::kUserMessage,  EventType::kAgentMessage,    EventType::kAgentToolUse,
        EventType::kAgentToolResult, EventType::kAgentToolUse, EventType::kAgentToolResult,
        EventType::kAgentMessage,
    };
    std::string last_tool_use_id;
    for (size_t i = 0; templates_.size() < kTemplateCount; ++i) {
      std::optional<Event> event = Generate(rng, sizes_, kTurn[i % std::size(kTurn)], i, last_tool_use_id);
      if (!event) {  // no fit for this size; the turn moves on, the pool stays deterministic
        if (i > 64 * kTemplateCount) {
          std::fprintf(stderr, "storage_bench: no events fit %zu..%zu B JSON\n", sizes_.min, sizes_.max);
          std::exit(2);
        }
        continue;
      }
      if (event->type == EventType::kAgentToolUse) last_tool_use_id = event->id;
      const size_t bytes = EncodeEventJson(*event).size();
      min_bytes_ = std::min(min_bytes_, bytes);
      max_bytes_ = std::max(max_bytes_, bytes);
      total_bytes_ += bytes;
      templates_.push_back(*std::move(event));
    }
  }

  // The `index`th event of writer `stream`: a template with an id of its own, as a writer would
  // hand it to Append. Different streams start at different templates.
  Event Make(uint32_t stream, uint64_t index) const {
    Event event = templates_[(index + uint64_t{stream} * 7919) % templates_.size()];
    event.id = FormatId(kEventIdPrefix, BenchIdBytes(stream, index));
    return event;
  }

  std::vector<Event> MakeSession(uint32_t stream, size_t count) const {
    std::vector<Event> events;
    events.reserve(count);
    for (size_t i = 0; i < count; ++i) events.push_back(Make(stream, i));
    return events;
  }

  size_t mean_bytes() const { return total_bytes_ / templates_.size(); }
  // For labels: "events 300..4095 B JSON (mean 2189 B): user/agent messages, tool_use, tool_result".
  std::string Describe() const {
    return absl::StrFormat("events %u..%u B JSON (mean %u B): user/agent messages, tool_use, tool_result",
                           min_bytes_, max_bytes_, mean_bytes());
  }

 private:
  // Builds an event of `type` whose JSON is within [sizes.min, target], for a random target.
  static std::optional<Event> Generate(Rng& rng, EventSizes sizes, EventType type, size_t n,
                                       const std::string& tool_use_id) {
    const size_t target = sizes.min + rng.Below(sizes.max - sizes.min + 1);
    Event event;
    event.type = type;
    event.id = FormatId(kEventIdPrefix, BenchIdBytes(kTemplateStream, n));
    event.processed_at = kBaseTime + absl::Milliseconds(250 * static_cast<int64_t>(n));

    // `fill(payload)` puts a payload into `event`; the text is cut to make the JSON fit.
    std::string text;
    std::function<void(std::string_view)> fill;
    switch (type) {
      case EventType::kUserMessage:
      case EventType::kAgentMessage:
        text = Prose(rng, target);
        fill = [&](std::string_view payload) { event.content = {TextBlock(payload)}; };
        break;
      case EventType::kAgentToolUse:
        if (target < 800) {
          event.name = "bash";
          text = ShellCommand(rng, target);
          fill = [&](std::string_view payload) {
            event.input_json = "{\"command\":";
            AppendJsonString(event.input_json, payload);
            event.input_json += "}";
          };
        } else {
          event.name = "write";
          const std::string path(rng.Pick(kPaths));
          text = SourceCode(rng, target);
          fill = [&, path](std::string_view payload) {
            event.input_json = "{\"file_path\":";
            AppendJsonString(event.input_json, path);
            event.input_json += ",\"content\":";
            AppendJsonString(event.input_json, payload);
            event.input_json += "}";
          };
        }
        break;
      case EventType::kAgentToolResult:
        event.tool_use_id = tool_use_id.empty() ? event.id : tool_use_id;
        event.is_error = false;
        text = ToolOutput(rng, target);
        fill = [&](std::string_view payload) { event.content = {TextBlock(payload)}; };
        break;
      default:
        return std::nullopt;
    }

    // Cutting k payload bytes removes at least k JSON bytes (escapes only add), so one cut by the
    // excess lands at or under the target; the rounds bound the rare back-and-forth near the minimum.
    size_t len = text.size();
    for (int round = 0; round < 16; ++round) {
      fill(std::string_view(text).substr(0, len));
      const size_t bytes = EncodeEventJson(event).size();
      if (bytes > target) {
        len -= std::min(len, bytes - target);
      } else if (bytes < sizes.min) {
        ++len;
      } else {
        return event;
      }
    }
    return std::nullopt;
  }

  const EventSizes sizes_;
  std::vector<Event> templates_;
  size_t min_bytes_ = SIZE_MAX;
  size_t max_bytes_ = 0;
  size_t total_bytes_ = 0;
};

const EventPool& Pool() {
  static const EventPool* const pool = new EventPool(EventSizesFromEnv());
  return *pool;
}

// ------------------------------------------------------------------------------------------------
// Contenders

// wake's SessionLog behind the benchmark's SessionStore shape. A writer appends as the harness does:
// holding the session's lease and naming the seq it expects, one event per call.
class WakeWriter final : public SessionWriter {
 public:
  WakeWriter(SessionLog* log, std::string session_id, uint64_t epoch)
      : log_(log), session_id_(std::move(session_id)), epoch_(epoch) {}

  absl::Status Append(Event event) override {
    std::vector<Event> events;
    events.push_back(std::move(event));
    absl::StatusOr<AppendResult> result = log_->Append(session_id_, std::move(events), next_seq_, epoch_);
    if (!result.ok()) return result.status();
    next_seq_ = result->last_seq + 1;
    return absl::OkStatus();
  }

 private:
  SessionLog* const log_;
  const std::string session_id_;
  const uint64_t epoch_;
  uint64_t next_seq_ = 1;
};

class WakeStore final : public SessionStore {
 public:
  explicit WakeStore(std::unique_ptr<SessionLog> log) : log_(std::move(log)) {}

  absl::StatusOr<std::unique_ptr<SessionWriter>> CreateSession(std::string_view session_id) override {
    absl::Status s = Create(session_id);
    if (!s.ok()) return s;
    absl::StatusOr<Lease> lease = log_->AcquireLease(session_id, "storage_bench", absl::Hours(1));
    if (!lease.ok()) return lease.status();
    return std::make_unique<WakeWriter>(log_.get(), std::string(session_id), lease->epoch);
  }

  absl::Status BulkLoad(std::string_view session_id, const std::vector<Event>& events) override {
    absl::Status s = Create(session_id);
    if (!s.ok()) return s;
    constexpr size_t kChunk = 1000;  // one WriteBatch per chunk keeps batches a few MB
    for (size_t i = 0; i < events.size(); i += kChunk) {
      std::vector<Event> chunk(events.begin() + i, events.begin() + std::min(events.size(), i + kChunk));
      absl::StatusOr<AppendResult> result = log_->Append(session_id, std::move(chunk), i + 1, kNoLease);
      if (!result.ok()) return result.status();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Event>> ReadSession(std::string_view session_id) override {
    return log_->Read(session_id);
  }

 private:
  absl::Status Create(std::string_view session_id) {
    SessionInfo info;
    info.id = std::string(session_id);
    info.workspace_id = "storage_bench";
    return log_->CreateSession(std::move(info)).status();
  }

  std::unique_ptr<SessionLog> log_;
};

absl::StatusOr<std::unique_ptr<SessionLog>> OpenWakeLog(const std::string& dir, Durability durability) {
  RocksDbSessionLogOptions options;
  options.path = dir + "/wake";
  options.durability = durability;
  return OpenRocksDbSessionLog(options);
}

// The reference point: what one write(2) of 300 bytes plus fdatasync costs on this disk, with no
// encoding or bookkeeping. Appends ignore the event.
class FdatasyncReferenceStore final : public SessionStore {
 public:
  explicit FdatasyncReferenceStore(std::string dir) : dir_(std::move(dir)) {}

  absl::StatusOr<std::unique_ptr<SessionWriter>> CreateSession(std::string_view session_id) override {
    class Writer final : public SessionWriter {
     public:
      explicit Writer(ScopedFd fd) : fd_(std::move(fd)) {}
      absl::Status Append(Event) override {
        absl::Status s = WriteAll(fd_.get(), line_, "reference write");
        if (!s.ok()) return s;
        if (::fdatasync(fd_.get()) != 0) return ErrnoStatus("reference fdatasync");
        return absl::OkStatus();
      }

     private:
      ScopedFd fd_;
      const std::string line_ = std::string(kMinEventJsonBytes - 1, 'x') + "\n";
    };
    const std::string path = absl::StrCat(dir_, "/", ToAbsl(session_id), ".ref");
    ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoStatus(absl::StrCat("create ", path));
    return std::make_unique<Writer>(std::move(fd));
  }
  absl::Status BulkLoad(std::string_view, const std::vector<Event>&) override {
    return absl::UnimplementedError("the fdatasync reference only appends");
  }
  absl::StatusOr<std::vector<Event>> ReadSession(std::string_view) override {
    return absl::UnimplementedError("the fdatasync reference only appends");
  }

 private:
  const std::string dir_;
};

struct Contender {
  std::string name;        // the benchmark variant: BM_Append_<name>
  std::string conditions;  // printed in the label
  std::function<absl::StatusOr<std::unique_ptr<SessionStore>>(const std::string& dir)> open;
  // False for the fdatasync reference, which writes a fixed 300 B line instead of the event.
  bool stores_events = true;
};

Contender WakeContender(Durability durability) {
  const bool sync = durability == Durability::kSync;
  return Contender{
      sync ? "WakeSync" : "WakeBuffered",
      sync ? "wake RocksDB SessionLog, kSync (WAL fsync, group commit)"
           : "wake RocksDB SessionLog, kBuffered (WAL write, no sync)",
      [durability](const std::string& dir) -> absl::StatusOr<std::unique_ptr<SessionStore>> {
        absl::StatusOr<std::unique_ptr<SessionLog>> log = OpenWakeLog(dir, durability);
        if (!log.ok()) return log.status();
        return std::make_unique<WakeStore>(*std::move(log));
      }};
}

Contender JsonlContender(bool sync) {
  return Contender{sync ? "JsonlFdatasync" : "JsonlBuffered",
                   sync ? "JSONL file per session, fdatasync per append"
                        : "JSONL file per session, write(2) only, no sync",
                   [sync](const std::string& dir) -> absl::StatusOr<std::unique_ptr<SessionStore>> {
                     return NewJsonlStore({.root = dir, .sync_each_append = sync});
                   }};
}

Contender FilePerEventContender() {
  return Contender{"FilePerEventFsync", "file per event (dir per session), fsync per file, no dir fsync",
                   [](const std::string& dir) -> absl::StatusOr<std::unique_ptr<SessionStore>> {
                     return NewFilePerEventStore({.root = dir});
                   }};
}

Contender SqliteContender() {
  return Contender{"SqliteWalFull",
                   "SQLite WAL, synchronous=FULL, 1 txn per append, connection per writer, busy_timeout",
                   [](const std::string& dir) { return OpenSqliteStore({.root = dir}); }};
}

Contender FdatasyncReference() {
  return Contender{"Append300B", "reference: write(2) 300 B + fdatasync, no encoding",
                   [](const std::string& dir) -> absl::StatusOr<std::unique_ptr<SessionStore>> {
                     return std::make_unique<FdatasyncReferenceStore>(dir);
                   },
                   /*stores_events=*/false};
}

// ------------------------------------------------------------------------------------------------
// Measurement helpers

// Read from the environment so a quick run can shorten them; the defaults keep the whole suite
// around two minutes on the 2-core reference machine.
double EnvSeconds(const char* name, double fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  const double parsed = std::atof(value);
  return parsed > 0 ? parsed : fallback;
}

struct LatencySummary {
  double p50_us = 0, p99_us = 0, mean_us = 0, max_us = 0;
};

// Nearest-rank percentiles. Reorders `us`.
LatencySummary Summarize(std::vector<double>& us) {
  LatencySummary out;
  if (us.empty()) return out;
  auto rank = [&](double p) {
    const auto nearest = static_cast<size_t>(std::ceil(p * static_cast<double>(us.size())));  // 1-based
    const size_t index = std::clamp<size_t>(nearest, 1, us.size()) - 1;
    std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(index), us.end());
    return us[index];
  };
  out.p50_us = rank(0.50);
  out.p99_us = rank(0.99);
  double sum = 0;
  for (double v : us) {
    sum += v;
    out.max_us = std::max(out.max_us, v);
  }
  out.mean_us = sum / static_cast<double>(us.size());
  return out;
}

void SetLatencyCounters(benchmark::State& state, std::vector<double>& latencies_us) {
  const LatencySummary s = Summarize(latencies_us);
  state.counters["p50_us"] = s.p50_us;
  state.counters["p99_us"] = s.p99_us;
  state.counters["mean_us"] = s.mean_us;
  state.counters["max_us"] = s.max_us;
}

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

struct AppendRun {
  uint64_t events = 0;
  double seconds = 0;
  std::vector<double> latencies_us;  // one per measured append, all writers
};

// Runs one thread per writer: `warmup` untimed appends each, then all start together and append
// one event per call until `window` has passed. Events/s = measured appends / time from the common
// start to the last writer's last append.
absl::StatusOr<AppendRun> RunAppends(std::vector<std::unique_ptr<SessionWriter>>& writers, int warmup,
                                     double window_seconds) {
  const size_t n = writers.size();
  std::barrier start(static_cast<std::ptrdiff_t>(n + 1));
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(n);
  std::vector<absl::Status> errors(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t w = 0; w < n; ++w) {
    threads.emplace_back([&, w] {
      SessionWriter& writer = *writers[w];
      const auto stream = static_cast<uint32_t>(w);
      uint64_t index = 0;
      for (int i = 0; i < warmup && errors[w].ok(); ++i) errors[w] = writer.Append(Pool().Make(stream, index++));
      start.arrive_and_wait();
      while (errors[w].ok() && !stop.load(std::memory_order_relaxed)) {
        Event event = Pool().Make(stream, index++);  // untimed: a caller holds its event already
        const Clock::time_point t0 = Clock::now();
        errors[w] = writer.Append(std::move(event));
        latencies[w].push_back(MicrosSince(t0));
      }
    });
  }
  start.arrive_and_wait();
  const Clock::time_point t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(window_seconds));
  stop.store(true);
  for (std::thread& t : threads) t.join();
  AppendRun run;
  run.seconds = MicrosSince(t0) / 1e6;

  for (size_t w = 0; w < n; ++w) {
    if (!errors[w].ok()) return errors[w];
    run.events += latencies[w].size();
    run.latencies_us.insert(run.latencies_us.end(), latencies[w].begin(), latencies[w].end());
  }
  return run;
}

// The first event that differs, as text for an error message; nullopt when `got` == `want`.
std::optional<std::string> FirstDifference(const std::vector<Event>& got, const std::vector<Event>& want) {
  if (got.size() != want.size()) return absl::StrCat("read ", got.size(), " events, wrote ", want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(got[i] == want[i])) {
      return absl::StrCat("event seq ", i + 1, " differs after the round trip: got ",
                          EncodeEventJson(got[i]).substr(0, 160), " (seq ", got[i].seq, "), want ",
                          EncodeEventJson(want[i]).substr(0, 160));
    }
  }
  return std::nullopt;
}

// Writes `count` events into a fresh session of `store` and checks they read back unchanged, which
// also warms every cache the read path has. Returns the session id.
absl::StatusOr<std::string> LoadAndVerify(SessionStore& store, size_t count) {
  const std::string session_id = BenchSessionId(0);
  std::vector<Event> events = Pool().MakeSession(0, count);
  absl::Status s = store.BulkLoad(session_id, events);
  if (!s.ok()) return s;
  for (size_t i = 0; i < events.size(); ++i) events[i].seq = i + 1;
  absl::StatusOr<std::vector<Event>> got = store.ReadSession(session_id);
  if (!got.ok()) return got.status();
  if (std::optional<std::string> diff = FirstDifference(*got, events)) return absl::DataLossError(*diff);
  return session_id;
}

void Fail(benchmark::State& state, const absl::Status& status) {
  state.SkipWithError(std::string(status.ToString()).c_str());
}

// ------------------------------------------------------------------------------------------------
// Benchmarks

// Durable (or buffered) appends, one event per call, from state.range(0) sessions, one writer
// thread each. With one session this is the single-writer latency benchmark: p50_us/p99_us.
void BM_Append(benchmark::State& state, const Contender& contender) {
  const auto sessions = static_cast<size_t>(state.range(0));
  const double window = EnvSeconds("WAKE_BENCH_APPEND_SECONDS", 3.0);
  constexpr int kWarmup = 20;
  ScopedBenchDir dir(absl::StrCat("append-", contender.name, "-", sessions));
  absl::StatusOr<std::unique_ptr<SessionStore>> store = contender.open(dir.path());
  if (!store.ok()) return Fail(state, store.status());
  std::vector<std::unique_ptr<SessionWriter>> writers;
  for (size_t i = 0; i < sessions; ++i) {
    absl::StatusOr<std::unique_ptr<SessionWriter>> writer = (*store)->CreateSession(BenchSessionId(i));
    if (!writer.ok()) return Fail(state, writer.status());
    writers.push_back(*std::move(writer));
  }

  AppendRun run;
  for (auto _ : state) {  // Iterations(1): one measurement window
    absl::StatusOr<AppendRun> result = RunAppends(writers, kWarmup, window);
    if (!result.ok()) return Fail(state, result.status());
    run = *std::move(result);
    state.SetIterationTime(run.seconds);
  }
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(run.events), benchmark::Counter::kIsRate);
  state.counters["events"] = static_cast<double>(run.events);
  state.counters["sessions"] = static_cast<double>(sessions);
  SetLatencyCounters(state, run.latencies_us);
  state.SetLabel(absl::StrFormat(
      "%s; %u writer thread(s), 1 session each, 1 event/append; %s; time = %g s window", contender.conditions,
      sessions, contender.stores_events ? Pool().Describe() : std::string("300 B lines"), window));
}

// Appends the way the engine will make them: no thread per session, but AppendAsync with one append in
// flight per session, the next one issued from the previous one's completion (as an Asio coroutine
// resumes after co_await). Events come from the same pool as BM_Append.
void BM_AppendAsync_Wake(benchmark::State& state, Durability durability) {
  const auto sessions = static_cast<size_t>(state.range(0));
  const double window = EnvSeconds("WAKE_BENCH_APPEND_SECONDS", 3.0);
  ScopedBenchDir dir(absl::StrCat("append-async-", static_cast<int>(durability), "-", sessions));
  absl::StatusOr<std::unique_ptr<SessionLog>> log = OpenWakeLog(dir.path(), durability);
  if (!log.ok()) return Fail(state, log.status());
  std::vector<std::string> ids;
  for (size_t i = 0; i < sessions; ++i) {
    SessionInfo info;
    info.id = BenchSessionId(i);
    if (absl::Status s = (*log)->CreateSession(info).status(); !s.ok()) return Fail(state, s);
    ids.push_back(info.id);
  }
  std::atomic<bool> stop{false};
  std::atomic<size_t> running{0};
  std::vector<std::vector<double>> latencies(sessions);
  std::vector<absl::Status> errors(sessions);
  // One chain per session: append, and on completion append the next, until told to stop.
  std::function<void(size_t, uint64_t)> append = [&](size_t s, uint64_t seq) {
    if (stop.load(std::memory_order_relaxed) || !errors[s].ok()) {
      running.fetch_sub(1);
      running.notify_all();
      return;
    }
    const Clock::time_point t0 = Clock::now();
    (*log)->AppendAsync(ids[s], {Pool().Make(static_cast<uint32_t>(s), seq)}, seq, kNoLease,
                        [&, s, seq, t0](absl::StatusOr<AppendResult> r) {
                          latencies[s].push_back(MicrosSince(t0));
                          if (!r.ok()) errors[s] = r.status();
                          append(s, seq + 1);
                        });
  };
  double seconds = 0;
  for (auto _ : state) {  // Iterations(1): one measurement window
    running = sessions;
    const Clock::time_point t0 = Clock::now();
    for (size_t s = 0; s < sessions; ++s) append(s, 1);
    std::this_thread::sleep_for(std::chrono::duration<double>(window));
    stop = true;
    for (size_t r = running.load(); r > 0; r = running.load()) running.wait(r);
    seconds = MicrosSince(t0) / 1e6;
    state.SetIterationTime(seconds);
  }
  std::vector<double> all;
  for (size_t s = 0; s < sessions; ++s) {
    if (!errors[s].ok()) return Fail(state, errors[s]);
    all.insert(all.end(), latencies[s].begin(), latencies[s].end());
  }
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(all.size()), benchmark::Counter::kIsRate);
  state.counters["events"] = static_cast<double>(all.size());
  state.counters["sessions"] = static_cast<double>(sessions);
  SetLatencyCounters(state, all);
  state.SetLabel(absl::StrFormat("wake SessionLog::AppendAsync, %s; %u sessions, 1 append in flight each, "
                                 "chained from completions (no writer threads); %s; time = %g s window",
                                 durability == Durability::kSync ? "kSync" : "kBuffered", sessions,
                                 Pool().Describe(), window));
}

// Reads a whole session of state.range(0) events, decoded, with every cache warm.
void BM_Read(benchmark::State& state, const Contender& contender) {
  const auto count = static_cast<size_t>(state.range(0));
  ScopedBenchDir dir(absl::StrCat("read-", contender.name, "-", count));
  absl::StatusOr<std::unique_ptr<SessionStore>> store = contender.open(dir.path());
  if (!store.ok()) return Fail(state, store.status());
  absl::StatusOr<std::string> session_id = LoadAndVerify(**store, count);
  if (!session_id.ok()) return Fail(state, session_id.status());

  for (auto _ : state) {
    absl::StatusOr<std::vector<Event>> events = (*store)->ReadSession(*session_id);
    if (!events.ok()) return Fail(state, events.status());
    if (events->size() != count) return Fail(state, absl::DataLossError("short read"));
    benchmark::DoNotOptimize(events->data());
  }
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(state.iterations() * count),
                                                      benchmark::Counter::kIsRate);
  state.SetLabel(absl::StrFormat("%s; whole session of %u events, decoded; warm OS + store caches; %s",
                                 contender.conditions, count, Pool().Describe()));
}

// The same whole session through SessionLog::Scan, which hands each event to a visitor instead of
// returning them all (every event decoded into one reused Event): what a consumer that looks at each
// event once (an export, a printout) pays. The visitor only sums the content sizes.
void BM_Scan_Wake(benchmark::State& state) {
  const auto count = static_cast<size_t>(state.range(0));
  ScopedBenchDir dir(absl::StrCat("scan-", count));
  absl::StatusOr<std::unique_ptr<SessionLog>> opened = OpenWakeLog(dir.path(), Durability::kSync);
  if (!opened.ok()) return Fail(state, opened.status());
  SessionLog* const log = opened->get();
  WakeStore store(*std::move(opened));
  absl::StatusOr<std::string> session_id = LoadAndVerify(store, count);
  if (!session_id.ok()) return Fail(state, session_id.status());

  for (auto _ : state) {
    size_t visited = 0;
    size_t content_bytes = 0;
    absl::Status scanned = log->Scan(*session_id, {}, [&](const Event& e) {
      ++visited;
      for (const ContentBlock& block : e.content) content_bytes += block.text.size() + block.data.size();
      return absl::OkStatus();
    });
    if (!scanned.ok()) return Fail(state, scanned);
    if (visited != count) return Fail(state, absl::DataLossError("short scan"));
    benchmark::DoNotOptimize(content_bytes);
  }
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(state.iterations() * count),
                                                      benchmark::Counter::kIsRate);
  state.SetLabel(absl::StrFormat("wake SessionLog::Scan (one reused Event, nothing kept); whole session of %u "
                                 "events; warm OS + store caches; %s",
                                 count, Pool().Describe()));
}

// Time for wake to load a whole session, as the harness does on every wake: log already open with
// warm caches. p50_us is the number to read.
void BM_Load_WakeWarm(benchmark::State& state) {
  const auto count = static_cast<size_t>(state.range(0));
  ScopedBenchDir dir(absl::StrCat("load-warm-", count));
  absl::StatusOr<std::unique_ptr<SessionStore>> store = WakeContender(Durability::kSync).open(dir.path());
  if (!store.ok()) return Fail(state, store.status());
  absl::StatusOr<std::string> session_id = LoadAndVerify(**store, count);
  if (!session_id.ok()) return Fail(state, session_id.status());

  std::vector<double> latencies_us;
  for (auto _ : state) {
    const Clock::time_point t0 = Clock::now();
    absl::StatusOr<std::vector<Event>> events = (*store)->ReadSession(*session_id);
    const double us = MicrosSince(t0);
    if (!events.ok()) return Fail(state, events.status());
    state.SetIterationTime(us / 1e6);
    latencies_us.push_back(us);
  }
  SetLatencyCounters(state, latencies_us);
  state.SetLabel(absl::StrFormat("wake SessionLog::Read of %u events; warm: log open, caches warm; %s", count,
                                 Pool().Describe()));
}

// The same load right after the log is reopened, as after a worker restart: each iteration closes
// the log, drops the OS page cache (when allowed), reopens, and times only the Read.
void BM_Load_WakeCold(benchmark::State& state) {
  const auto count = static_cast<size_t>(state.range(0));
  ScopedBenchDir dir(absl::StrCat("load-cold-", count));
  std::string session_id;
  {
    absl::StatusOr<std::unique_ptr<SessionStore>> store = WakeContender(Durability::kSync).open(dir.path());
    if (!store.ok()) return Fail(state, store.status());
    absl::StatusOr<std::string> loaded = LoadAndVerify(**store, count);
    if (!loaded.ok()) return Fail(state, loaded.status());
    session_id = *loaded;
  }

  bool dropped_every_time = true;
  std::vector<double> read_us, open_us;
  for (auto _ : state) {
    dropped_every_time = DropPageCache() && dropped_every_time;
    const Clock::time_point opened = Clock::now();
    absl::StatusOr<std::unique_ptr<SessionLog>> log = OpenWakeLog(dir.path(), Durability::kSync);
    if (!log.ok()) return Fail(state, log.status());
    open_us.push_back(MicrosSince(opened));
    const Clock::time_point t0 = Clock::now();
    absl::StatusOr<std::vector<Event>> events = (*log)->Read(session_id);
    const double us = MicrosSince(t0);
    if (!events.ok()) return Fail(state, events.status());
    if (events->size() != count) return Fail(state, absl::DataLossError("short read"));
    state.SetIterationTime(us / 1e6);
    read_us.push_back(us);
  }
  SetLatencyCounters(state, read_us);
  state.counters["open_p50_us"] = Summarize(open_us).p50_us;
  state.SetLabel(absl::StrFormat(
      "wake SessionLog::Read of %u events right after reopening the log; %s; open time not included "
      "(open_p50_us); %s",
      count,
      dropped_every_time ? "cold: OS page cache dropped before each reopen"
                         : "cold = fresh open, OS cache warm (drop_caches not writable)",
      Pool().Describe()));
}

void RegisterAll() {
  // Appends: the window is the measured time, so one iteration, reported as real (manual) time.
  const auto append = [](const char* name, const Contender& contender, std::vector<int64_t> sessions) {
    benchmark::internal::Benchmark* b =
        benchmark::RegisterBenchmark(name, BM_Append, contender)->ArgName("sessions");
    for (int64_t s : sessions) b->Arg(s);
    b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  };
  append("BM_Fdatasync_Append300B", FdatasyncReference(), {1});
  for (const Contender& c : {WakeContender(Durability::kSync), JsonlContender(true), FilePerEventContender(),
                             SqliteContender()}) {
    append(("BM_Append_" + c.name).c_str(), c, {1, 8, 64});
  }
  for (const Contender& c : {WakeContender(Durability::kBuffered), JsonlContender(false)}) {
    append(("BM_Append_" + c.name).c_str(), c, {1, 64});
  }
  for (auto [name, durability] : {std::pair{"BM_AppendAsync_WakeSync", Durability::kSync},
                                  std::pair{"BM_AppendAsync_WakeBuffered", Durability::kBuffered}}) {
    benchmark::RegisterBenchmark(name, BM_AppendAsync_Wake, durability)
        ->ArgName("sessions")->Arg(8)->Arg(64)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  }

  // Reads: fixed iteration counts, because every run of the function reloads the data (100,000
  // events through the file-per-event store takes seconds).
  const std::pair<const char*, Contender> readers[] = {
      {"BM_Read_Wake", WakeContender(Durability::kSync)},
      {"BM_Read_Jsonl", JsonlContender(true)},
      {"BM_Read_FilePerEvent", FilePerEventContender()},
      {"BM_Read_Sqlite", SqliteContender()},
  };
  for (const auto& [name, contender] : readers) {
    benchmark::RegisterBenchmark(name, BM_Read, contender)
        ->Arg(1000)->Iterations(200)->UseRealTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(name, BM_Read, contender)
        ->Arg(100'000)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);
  }

  benchmark::RegisterBenchmark("BM_Scan_Wake", BM_Scan_Wake)
      ->Arg(1000)->Iterations(200)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_Scan_Wake", BM_Scan_Wake)
      ->Arg(100'000)->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);

  benchmark::RegisterBenchmark("BM_Load_WakeWarm", BM_Load_WakeWarm)
      ->Arg(1000)->Iterations(300)->UseManualTime()->Unit(benchmark::kMicrosecond);
  // Few iterations: each one drops the whole machine's page cache.
  benchmark::RegisterBenchmark("BM_Load_WakeCold", BM_Load_WakeCold)
      ->Arg(1000)->Iterations(20)->UseManualTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace
}  // namespace wake::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const char* dir = std::getenv("WAKE_BENCH_DIR");
  wake::bench::BenchRoot() = dir != nullptr && *dir != '\0' ? dir : "/tmp/wake-bench";
  if (absl::Status s = wake::bench::PrepareRoot(wake::bench::BenchRoot()); !s.ok()) {
    std::fprintf(stderr, "storage_bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  wake::bench::Pool();  // generate the events now, not inside the first benchmark
  wake::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
