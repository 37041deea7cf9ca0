// harness_bench: the engine's own overhead per turn, with the model and the hand taken out.
//
// BM_Harness_WakeToModelRequest/<events>: a session already holding <events> events gets a
//   user.message; the time from that append's acknowledgement to the moment the brain is asked
//   (lease taken, log read, context built, harness_woke and span start appended). Target p50 < 2 ms
//   at 1,000 events with durable (fsynced) appends.
// BM_Harness_Turns/<sessions>: whole turns (model call, one tool call, second model call, idle) with
//   the scripted brain and a hand that does nothing, from <sessions> threads; reports turns/s.
//
// Conditions are printed in each benchmark's label; data lives under $WAKE_BENCH_DIR (default
// /tmp/wake-bench).

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "harness/harness.h"
#include "harness/next_action.h"
#include "harness/scripted_brain.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"

namespace wake {
namespace {

using Clock = std::chrono::steady_clock;

std::string BenchDir(const std::string& name) {
  const char* base = std::getenv("WAKE_BENCH_DIR");
  std::filesystem::path dir = std::filesystem::path(base != nullptr ? base : "/tmp/wake-bench") / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

Event Text(EventType type, std::string text) {
  Event e;
  e.type = type;
  e.id = NewEventId(absl::Now());
  ContentBlock b;
  b.text = std::move(text);
  e.content.push_back(std::move(b));
  return e;
}

// A hand that does nothing: the benchmark measures the engine, not a sandbox.
class NoopHands final : public SessionHands {
 public:
  absl::StatusOr<ToolResult> Execute(std::string_view, const ToolCall&, const CancelToken*, std::vector<Event>*) override {
    ToolResult r;
    ContentBlock b;
    b.text = "ok";
    r.content.push_back(std::move(b));
    return r;
  }
};

// A brain that notes when it is asked and answers at once with end_turn.
class TimingBrain final : public Brain {
 public:
  std::string_view kind() const override { return "timing (not a model)"; }
  absl::StatusOr<ModelTurn> Stream(const ModelRequest&, StreamObserver*, const CancelToken*) override {
    asked_at = Clock::now();
    ModelTurn turn;
    TurnBlock text;
    text.text = "ok";
    turn.blocks.push_back(text);
    turn.stop_reason = "end_turn";
    return turn;
  }
  Clock::time_point asked_at;
};

AgentConfig BenchAgent() {
  AgentConfig agent;
  agent.model = "bench";
  agent.system = "You are a benchmark.";
  agent.tools = {{"bash", "Run a command.", R"({"type":"object"})"}};
  return agent;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

// A wake of a session with state.range(0) events behind it, up to its model request; state.range(1) = 1
// gives the harness a replay cache (the engine's default), so after the first wake each one reads only
// the new message instead of the whole log; state.range(2) = 1 ends the history with a compaction (a
// summary replacing it), as a long session has.
void BM_Harness_WakeToModelRequest(benchmark::State& state) {
  const int64_t prior_events = state.range(0);
  const bool cached = state.range(1) != 0;
  const bool compacted = state.range(2) != 0;
  RocksDbSessionLogOptions options;
  options.path = BenchDir(absl::StrCat("harness-wake-", prior_events, cached ? "-cached" : "",
                                       compacted ? "-compacted" : ""));
  auto log = *OpenRocksDbSessionLog(options);
  SessionInfo info;
  info.id = NewSessionId(absl::Now());
  (void)log->CreateSession(info);
  // History: user/agent exchanges of ~300 B messages, closed by an idle, like a long session.
  for (int64_t i = 0; i + 2 <= prior_events; i += 100) {
    std::vector<Event> batch;
    for (int64_t j = i; j < std::min<int64_t>(i + 100, prior_events); ++j) {
      batch.push_back(Text(j % 2 == 0 ? EventType::kUserMessage : EventType::kAgentMessage,
                           absl::StrCat("message ", j, " ", std::string(280, 'x'))));
    }
    Event idle;
    idle.type = EventType::kSessionStatusIdle;
    idle.id = NewEventId(absl::Now());
    batch.back() = idle;
    (void)log->Append(info.id, std::move(batch), kAppendAtHead, kNoLease);
  }
  if (compacted) {
    Event summary = Text(EventType::kAgentThreadContextCompacted, "What the conversation so far established.");
    summary.compacted_through_seq = log->GetSession(info.id)->next_seq - 1;
    (void)log->Append(info.id, {summary}, kAppendAtHead, kNoLease);
  }
  TimingBrain brain;
  NoopHands hands;
  HarnessOptions harness_options;
  harness_options.worker_id = "bench";
  ReplayCache cache(size_t{1} << 30);
  if (cached) harness_options.replay_cache = &cache;
  Harness harness(log.get(), &brain, &hands, harness_options);
  const AgentConfig agent = BenchAgent();
  std::vector<double> micros;
  for (auto _ : state) {
    (void)log->Append(info.id, {Text(EventType::kUserMessage, "next question")}, kAppendAtHead, kNoLease);
    const auto appended = Clock::now();
    absl::Status s = harness.Wake(info.id, agent);
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
    micros.push_back(std::chrono::duration<double, std::micro>(brain.asked_at - appended).count());
  }
  state.counters["p50_us"] = Percentile(micros, 0.5);
  state.counters["p99_us"] = Percentile(micros, 0.99);
  state.SetLabel(absl::StrCat("durable (fsync) log, ", prior_events, "+ events/session",
                              compacted ? " then a compaction" : "", ", ",
                              cached ? "replay cache" : "no replay cache (whole log read per wake)",
                              ", scripted brain, no-op hand"));
}
BENCHMARK(BM_Harness_WakeToModelRequest)
    ->ArgNames({"events", "cache", "compacted"})->ArgsProduct({{10, 1000, 10'000}, {0, 1}, {0}})
    ->Iterations(200)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Harness_WakeToModelRequest)
    ->ArgNames({"events", "cache", "compacted"})->ArgsProduct({{100'000}, {0, 1}, {0, 1}})
    ->Iterations(20)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Harness_Turns(benchmark::State& state) {
  const int sessions = static_cast<int>(state.range(0));
  RocksDbSessionLogOptions options;
  options.path = BenchDir(absl::StrCat("harness-turns-", sessions));
  auto log = *OpenRocksDbSessionLog(options);
  auto brain = *NewScriptedBrain(R"({"turns":[
      {"text":"Running it.","tool_calls":[{"name":"bash","input":{"command":"true"}}]},
      {"text":"Done."}]})");
  NoopHands hands;
  const AgentConfig agent = BenchAgent();
  constexpr int kTurnsPerSession = 20;
  int64_t turns = 0;
  for (auto _ : state) {
    std::vector<std::thread> workers;
    for (int w = 0; w < sessions; ++w) {
      workers.emplace_back([&, w] {
        HarnessOptions harness_options;
        harness_options.worker_id = absl::StrCat("bench-", w);
        Harness harness(log.get(), brain.get(), &hands, harness_options);
        for (int t = 0; t < kTurnsPerSession; ++t) {
          // A fresh session per turn keeps the scripted conversation at two model calls.
          SessionInfo info;
          info.id = NewSessionId(absl::Now());
          (void)log->CreateSession(info);
          (void)log->Append(info.id, {Text(EventType::kUserMessage, "run it")}, kAppendAtHead, kNoLease);
          absl::Status s = harness.Wake(info.id, agent);
          if (!s.ok()) std::abort();
        }
      });
    }
    for (auto& w : workers) w.join();
    turns += static_cast<int64_t>(sessions) * kTurnsPerSession;
  }
  state.counters["turns_per_s"] = benchmark::Counter(static_cast<double>(turns), benchmark::Counter::kIsRate);
  state.SetLabel(absl::StrCat("durable log, ", sessions,
                              " concurrent sessions, turn = 2 model calls + 1 tool call, scripted brain, no-op hand"));
}
BENCHMARK(BM_Harness_Turns)->Arg(1)->Arg(8)->Arg(64)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

// What the harness decides before every step of a wake, over a session of state.range(0) events in
// memory, shaped like an agent's work: each turn is a span, a message, two tool calls and their results.
void BM_Harness_DecideNextAction(benchmark::State& state) {
  const auto count = static_cast<size_t>(state.range(0));
  std::vector<Event> events;
  events.push_back(Text(EventType::kUserMessage, "start"));
  while (events.size() < count) {
    Event start = Text(EventType::kSpanModelRequestStart, "");
    start.content.clear();
    events.push_back(start);
    events.push_back(Text(EventType::kAgentMessage, std::string(280, 'x')));
    std::vector<Event> uses;
    for (int i = 0; i < 2; ++i) {
      Event use = Text(EventType::kAgentToolUse, "");
      use.content.clear();
      use.name = "bash";
      use.input_json = R"({"command":"ls -la /work"})";
      uses.push_back(use);
      events.push_back(use);
    }
    for (const Event& use : uses) {
      Event result = Text(EventType::kAgentToolResult, std::string(280, 'y'));
      result.tool_use_id = use.id;
      events.push_back(result);
    }
  }
  for (size_t i = 0; i < events.size(); ++i) events[i].seq = i + 1;
  const AgentConfig agent = BenchAgent();
  for (auto _ : state) {
    NextAction action = DecideNextAction(events, agent);
    benchmark::DoNotOptimize(action);
  }
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(state.iterations() * events.size()),
                                                      benchmark::Counter::kIsRate);
  state.SetLabel(absl::StrCat(events.size(), " events in memory, 2 tool calls per turn"));
}
BENCHMARK(BM_Harness_DecideNextAction)->Arg(1000)->Arg(100'000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace wake

BENCHMARK_MAIN();
