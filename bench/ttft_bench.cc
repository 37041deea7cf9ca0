// ttft_bench: time to first token and the per-turn breakdown of wake's engine, with hands provisioned
// eagerly (the usual platform way: a sandbox when the session is created), lazily (wake's: on the
// first tool call) and from a warm pool (K provisioned spares per backend, one given to a session on
// its first tool call, refilled in the background), on the same workload and seed in one run.
//
// The model is a local server speaking Anthropic's Messages streaming protocol
// (tests/harness/fake_model_server.h); per response, its time to first token and its token rate are
// drawn from lognormal distributions (a median and a sigma) by a seeded RNG, so every mode sees the
// same draws. Hands are real (docker or local).
//
// Workload: N sessions; each has one first turn and 0..F follow-up turns; each turn calls the bash
// tool once with probability P (else the model just answers). Clients are a closed loop (C at a time,
// each running its sessions' turns back to back) or an open loop (sessions arrive as a Poisson process
// at R per second, each then runs its turns back to back). With --history H, each session first gets
// H events appended directly to its log (untimed), so every measured turn runs on a long session.
//
// Per turn (t0 = the client starts: before CreateSession for a first turn, before SendEvents for
// the others), from the session's own events and the lease:
//   create     t0 -> CreateSession returned (first turns; includes the hand when eager)
//   queue      user.message appended -> the wake's lease granted (the wake starts)
//   wake       lease granted -> span.model_request_start appended (log read, context build, append):
//              the engine's overhead before the model is asked
//   model TTFT the brain's own time to first token (span.model_request_end)
//   TTFT       t0 -> the first token reached the engine: t0 -> span start + model TTFT
//   provision  wake.hand_provisioned (eager: inside create; lazy/warm: inside the first tool call)
//   execute    wake.tool_started -> agent.tool_result, less a provisioning that happened in it
//   model      the model requests' total time (span.model_request_end durations)
//   overhead   turn total - model - provision - execute - queue: everything the engine itself did
//   total      t0 -> session.status_idle appended
// and writes p50/p95/p99 per mode, the ratios lazy/eager and warm/eager, a JSON file with every turn,
// a markdown report and two SVG plots (TTFT CDF per mode; stacked mean breakdown per mode), with a
// progress bar on stderr. See bench/README.md.
//
// With --real-brain anthropic|openai --model NAME the model is a real one instead: the brain is made
// from the environment the way the SDKs do (ANTHROPIC_API_KEY and optional ANTHROPIC_BASE_URL;
// OPENAI_BASE_URL and optional OPENAI_API_KEY) and asked, in plain words, to call the bash tool on
// the turns the workload draws with a tool call. The TTFT and token-rate flags then do not apply, and
// whether a turn used a tool is read from the log (a real model may decline).
//
// With --e2e the clients go through waked's HTTP API instead (StartServer in-process, client/client.h):
// POST /v1/sessions, POST .../events, the SSE stream from just after the message; it adds
//   accepted        the POST of the user.message sent -> answered
//   first event     accepted -> the first agent.* event on the SSE stream (agent.message: the model's
//                   whole first response, since events are appended when a response ends)
// and takes the rest of the breakdown from the log after the turn (the queue/wake split only for the
// turns whose lease was not yet released when it read).
//
// The docker backend needs dockerd and the wake-test-busybox image (scripts/services/docker.sh).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/sync.h"
#include "bench/model_streams.h"
#include "bench/svg_plot.h"
#include "client/client.h"
#include "engine/engine.h"
#include "harness/anthropic_brain.h"
#include "harness/openai_brain.h"
#include "sandbox/docker/docker_hand.h"
#include "sandbox/local/local_hand.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "server/server.h"
#include "tests/harness/fake_model_server.h"

namespace wake {
namespace {

using testing::FakeModelServer;
using testing::FakeResponse;
using testing::RecordedRequest;

struct Config {
  std::string backend = "docker";
  std::vector<std::string> modes = {"eager", "lazy", "warm"};
  int sessions = 20;
  int followups = 0;          // follow-up turns per session: uniform in 0..followups
  double tool_fraction = 1.0;  // probability that a turn calls a tool
  int concurrency = 4;         // closed loop
  double arrival_rate = 0;     // sessions per second; > 0: open loop
  size_t workers = 8;
  double ttft_median_ms = 250;
  double ttft_sigma = 0;  // lognormal sigma; 0: fixed
  double tokens_per_s_median = 200;
  double tokens_per_s_sigma = 0;
  int output_tokens = 20;
  size_t warm_spares = 2;
  int history = 0;
  uint64_t seed = 1;
  std::string out_dir = "bench/results";
  std::string tag;  // file name prefix; default ttft-<backend>
  bool progress = true;
  bool e2e = false;  // through waked's HTTP API (StartServer in-process + client/client.h)
  std::string real_brain;  // "": the local model server; "anthropic" or "openai": a real model
  std::string model = "claude-bench";  // the agent's model (with --real-brain: the real model's name)
};

// --- the workload -------------------------------------------------------------------------------------

struct Draw {
  absl::Duration ttft;
  absl::Duration token_interval;
};

struct TurnPlan {
  bool tool = false;
  Draw response[2];  // the first model response; the one after the tool result
};

struct Workload {
  std::vector<std::vector<TurnPlan>> sessions;
  std::vector<absl::Duration> arrivals;  // open loop: each session's start after the run starts
  size_t turns = 0;
};

Workload MakeWorkload(const Config& c) {
  std::mt19937_64 rng(c.seed);
  std::lognormal_distribution<double> ttft(std::log(c.ttft_median_ms), c.ttft_sigma);
  std::lognormal_distribution<double> rate(std::log(c.tokens_per_s_median), c.tokens_per_s_sigma);
  std::uniform_int_distribution<int> followups(0, c.followups);
  std::bernoulli_distribution tool(c.tool_fraction);
  std::exponential_distribution<double> gap(c.arrival_rate > 0 ? c.arrival_rate : 1);
  Workload w;
  absl::Duration at;
  for (int s = 0; s < c.sessions; ++s) {
    std::vector<TurnPlan> turns(static_cast<size_t>(1 + followups(rng)));
    for (TurnPlan& t : turns) {
      t.tool = tool(rng);
      for (Draw& d : t.response) {
        d.ttft = c.ttft_sigma > 0 ? absl::Milliseconds(ttft(rng)) : absl::Milliseconds(c.ttft_median_ms);
        const double r = c.tokens_per_s_sigma > 0 ? rate(rng) : c.tokens_per_s_median;
        d.token_interval = absl::Seconds(1.0 / std::max(r, 1e-3));
      }
    }
    w.turns += turns.size();
    w.sessions.push_back(std::move(turns));
    at += absl::Seconds(gap(rng));
    w.arrivals.push_back(at);
  }
  return w;
}

// The marker a turn's user message carries, by which the model server finds the turn's draws.
std::string Marker(int session, int turn) { return absl::StrCat("[bench s=", session, " t=", turn, "]"); }

// The response to a request: found by the last turn marker in it; after that marker, a tool result
// means the turn's second response.
FakeResponse Respond(const Workload& w, const Config& c, const RecordedRequest& request) {
  const size_t at = request.body.rfind("[bench s=");
  int s = -1, t = -1;
  if (at != std::string::npos) std::sscanf(request.body.c_str() + at, "[bench s=%d t=%d]", &s, &t);
  if (s < 0 || t < 0 || static_cast<size_t>(s) >= w.sessions.size() ||
      static_cast<size_t>(t) >= w.sessions[static_cast<size_t>(s)].size()) {
    return FakeResponse::Json(400, R"({"type":"error","error":{"type":"invalid_request_error","message":"no bench marker"}})");
  }
  const TurnPlan& plan = w.sessions[static_cast<size_t>(s)][static_cast<size_t>(t)];
  const bool second = request.body.find("\"tool_result\"", at) != std::string::npos;
  const Draw& d = plan.response[second ? 1 : 0];
  FakeResponse response;
  response.headers = {{"content-type", "text/event-stream"}};
  response.chunks = bench::AnthropicMessageChunks(plan.tool && !second, c.output_tokens);
  response.first_chunk_delay = d.ttft;
  response.chunk_interval = d.token_interval;
  return response;
}

// --- one mode -------------------------------------------------------------------------------------------

struct TurnSample {
  int session = 0;
  int turn = 0;
  bool first = false;  // a session's first turn (with --history: its first measured turn)
  bool tool = false;
  double create_ms = 0;
  double queue_ms = NAN;
  double wake_ms = NAN;
  double model_ttft_ms = 0;
  double ttft_ms = 0;
  double provision_ms = 0;
  double execute_ms = 0;
  double model_ms = 0;
  double overhead_ms = 0;
  double total_ms = 0;
  double accepted_ms = NAN;     // e2e: POST .../events sent -> answered (user.message accepted)
  double first_event_ms = NAN;  // e2e: accepted -> the first agent.* event on the SSE stream
  std::string hand_kind;  // "", "new", "warm", "reattached"
};

// The progress bar: one line on stderr, redrawn as turns finish.
class Progress {
 public:
  Progress(bool enabled, std::string label, size_t total) : enabled_(enabled), label_(std::move(label)), total_(total) {
    Redraw(0);
  }
  void Tick() { Redraw(++done_); }
  void Finish() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

 private:
  void Redraw(size_t done) {
    if (!enabled_) return;
    MutexLock lock(&mu_);
    constexpr int kWidth = 40;
    const int filled = total_ == 0 ? kWidth : static_cast<int>(kWidth * done / total_);
    std::fprintf(stderr, "\r%-6s [%s%s] %zu/%zu turns %5.1fs", label_.c_str(), std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(kWidth - filled), '.').c_str(), done, total_,
                 absl::ToDoubleSeconds(absl::Now() - start_));
    std::fflush(stderr);
  }
  const bool enabled_;
  const std::string label_;
  const size_t total_;
  std::atomic<size_t> done_{0};
  const absl::Time start_ = absl::Now();
  Mutex mu_;
};

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// The first `"id":"<prefix>..."` value in a JSON answer ("" when none).
std::string JsonId(const std::string& json, const std::string& prefix) {
  const std::string key = "\"id\":\"" + prefix;
  const size_t at = json.find(key);
  if (at == std::string::npos) return "";
  const size_t begin = at + 6;
  const size_t end = json.find('"', begin);
  return end == std::string::npos ? "" : json.substr(begin, end - begin);
}

// An SSE frame's event type: its `event:` field, else the data's first "type".
std::string FrameType(const SseEvent& frame) {
  if (!frame.event.empty() && frame.event != "message") return frame.event;
  const size_t at = frame.data.find("\"type\":\"");
  if (at == std::string::npos) return "";
  const size_t begin = at + 8;
  const size_t end = frame.data.find('"', begin);
  return end == std::string::npos ? "" : frame.data.substr(begin, end - begin);
}

class ModeRun {
 public:
  ModeRun(const Config& c, const Workload& w, Engine& engine, std::string agent_id, Progress& progress,
          const Client* client)
      : c_(c), w_(w), engine_(engine), agent_id_(std::move(agent_id)), progress_(progress), client_(client) {}

  // Runs every session; the samples of the turns, in session and turn order.
  absl::StatusOr<std::vector<TurnSample>> Go() {
    std::vector<std::vector<TurnSample>> per_session(w_.sessions.size());
    std::atomic<bool> failed{false};
    Mutex error_mu;
    absl::Status error;
    auto run_session = [&](int s) {
      if (failed) return;
      absl::StatusOr<std::vector<TurnSample>> turns = RunSession(s);
      if (!turns.ok()) {
        MutexLock lock(&error_mu);
        if (error.ok()) error = turns.status();
        failed = true;
        return;
      }
      per_session[static_cast<size_t>(s)] = *std::move(turns);
    };
    std::vector<std::thread> threads;
    if (c_.arrival_rate > 0) {
      const absl::Time start = absl::Now();
      for (size_t s = 0; s < w_.sessions.size(); ++s) {
        absl::SleepFor(start + w_.arrivals[s] - absl::Now());
        threads.emplace_back(run_session, static_cast<int>(s));
      }
    } else {
      std::atomic<int> next{0};
      for (int k = 0; k < c_.concurrency; ++k) {
        threads.emplace_back([&] {
          for (int s = next++; s < static_cast<int>(w_.sessions.size()); s = next++) run_session(s);
        });
      }
    }
    for (std::thread& t : threads) t.join();
    if (failed) return error;
    std::vector<TurnSample> all;
    for (auto& turns : per_session) all.insert(all.end(), turns.begin(), turns.end());
    return all;
  }

 private:
  absl::StatusOr<std::vector<TurnSample>> RunSession(int s) {
    const std::vector<TurnPlan>& plan = w_.sessions[static_cast<size_t>(s)];
    std::vector<TurnSample> samples;
    std::string session_id;
    uint64_t cursor = 1;
    if (c_.history > 0) {
      // A long session: created and filled before the clock starts (its events, and an eager hand's
      // provisioning, are not part of any measured turn).
      ASSIGN_OR_RETURN(session_id, Create());
      ASSIGN_OR_RETURN(cursor, Preload(session_id));
    }
    std::unique_ptr<Subscription> follow;
    for (size_t t = 0; t < plan.size(); ++t) {
      TurnSample sample;
      sample.session = s;
      sample.turn = static_cast<int>(t);
      sample.first = t == 0;
      sample.tool = plan[t].tool;
      const absl::Time t0 = absl::Now();
      if (session_id.empty()) {
        ASSIGN_OR_RETURN(session_id, Create());
        sample.create_ms = Ms(absl::Now() - t0);
      }
      absl::Time message_at;
      uint64_t message_seq = 0;
      std::vector<Event> e2e_events;  // e2e: the turn's events, read from the log once it ended
      // Plain instructions, so a real model (--real-brain) does what the workload drew; the local
      // model server goes by the marker.
      const std::string text = absl::StrCat(Marker(s, static_cast<int>(t)),
                                            plan[t].tool ? " Use the bash tool to run `echo hi`, then reply with the single word: done."
                                                         : " Reply with the single word: hi.");
      if (client_ == nullptr) {
        if (follow == nullptr) {
          ASSIGN_OR_RETURN(follow, engine_.Subscribe(session_id, cursor));
        }
        Event task;
        task.type = EventType::kUserMessage;
        ContentBlock block;
        block.text = text;
        task.content.push_back(block);
        ASSIGN_OR_RETURN(std::vector<Event> sent, engine_.SendEvents(session_id, {task}));
        message_seq = sent.front().seq;
        message_at = sent.front().processed_at.value_or(absl::Now());
      } else {
        std::string body = R"({"events":[{"type":"user.message","content":[{"type":"text","text":)";
        AppendJsonString(body, text);
        body += "}]}]}";
        const absl::Time posted = absl::Now();
        ASSIGN_OR_RETURN(std::string answer, client_->Post(absl::StrCat("/v1/sessions/", session_id, "/events"), body));
        const absl::Time accepted = absl::Now();
        sample.accepted_ms = Ms(accepted - posted);
        const std::string message_id = JsonId(answer, "sevt_");
        if (message_id.empty()) return absl::InternalError(absl::StrCat("no event id in ", answer));
        // The stream from just after the message: nothing is missed, whenever it opens.
        RETURN_IF_ERROR(client_->StreamEvents(session_id, message_id, [&](const SseEvent& frame) {
          const std::string type = FrameType(frame);
          if (std::isnan(sample.first_event_ms) && absl::StartsWith(type, "agent.")) {
            sample.first_event_ms = Ms(absl::Now() - accepted);
          }
          return type != "session.status_idle";
        }));
        ReadOptions read;
        read.from_seq = cursor;
        ASSIGN_OR_RETURN(e2e_events, engine_.ReadEvents(session_id, read));
        for (const Event& e : e2e_events) {
          if (e.id == message_id) {
            message_seq = e.seq;
            message_at = e.processed_at.value_or(absl::Now());
          }
        }
        if (message_seq == 0) return absl::InternalError(absl::StrCat("the message ", message_id, " is not in the log"));
      }

      std::optional<absl::Time> lease_at, span_start_at, tool_started_at;
      bool first_span = true, provision_in_tool = false, done = false;
      auto handle = [&](const Event& e) -> absl::Status {
        cursor = e.seq + 1;
        const absl::Time at = e.processed_at.value_or(absl::Now());
        switch (e.type) {
          case EventType::kHandProvisioned:
            sample.provision_ms += static_cast<double>(e.duration_us) / 1000;
            sample.hand_kind = e.reason.empty() ? "new" : e.reason;
            if (e.seq > message_seq) provision_in_tool = true;
            break;
          case EventType::kHarnessWoke:
            if (e.seq > message_seq && !lease_at) {
              // The wake's lease is still held while its model request runs: its grant time is when
              // the wake started. (Once released, its expiry is the release time, which the check
              // below refuses: e2e turns read the log after the turn, so some have no queue/wake.)
              absl::StatusOr<Lease> lease = engine_.log().GetLease(session_id);
              if (lease.ok() && lease->epoch == e.lease_epoch) {
                const absl::Time granted = lease->expires_at - lease_ttl_;
                if (granted <= at && granted >= message_at - absl::Seconds(1)) lease_at = granted;
              }
            }
            break;
          case EventType::kSpanModelRequestStart:
            if (e.seq > message_seq && !span_start_at) span_start_at = at;
            break;
          case EventType::kSpanModelRequestEnd:
            if (e.seq <= message_seq) break;
            if (first_span) sample.model_ttft_ms = static_cast<double>(e.time_to_first_token_us) / 1000;
            first_span = false;
            sample.model_ms += static_cast<double>(e.duration_us) / 1000;
            break;
          case EventType::kToolStarted:
            if (e.seq > message_seq) tool_started_at = at;
            break;
          case EventType::kAgentToolResult:
            if (e.seq > message_seq && tool_started_at) sample.execute_ms += Ms(at - *tool_started_at);
            break;
          case EventType::kSessionError:
            return absl::InternalError(absl::StrCat("session ", s, " turn ", t, ": session.error: ", e.error.message));
          case EventType::kSessionStatusIdle:
            if (e.seq > message_seq) {
              done = true;
              sample.total_ms = Ms(at - t0);
            }
            break;
          default:
            break;
        }
        return absl::OkStatus();
      };
      if (client_ != nullptr) {
        for (const Event& e : e2e_events) {
          if (!done) RETURN_IF_ERROR(handle(e));
        }
        if (!done) return absl::InternalError(absl::StrCat("session ", s, " turn ", t, ": no session.status_idle"));
      }
      while (!done) {
        ASSIGN_OR_RETURN(std::vector<Event> events, follow->Next(256, absl::Now() + absl::Seconds(120)));
        if (events.empty()) return absl::DeadlineExceededError(absl::StrCat("session ", s, " turn ", t, ": no events in 120 s"));
        for (const Event& e : events) RETURN_IF_ERROR(handle(e));
      }
      if (!span_start_at) return absl::InternalError(absl::StrCat("session ", s, " turn ", t, ": no model request"));
      if (provision_in_tool) sample.execute_ms -= sample.provision_ms;
      sample.tool = tool_started_at.has_value();  // what happened, not what was asked (a real model may decline)
      sample.ttft_ms = Ms(*span_start_at - t0) + sample.model_ttft_ms;
      if (lease_at) {
        sample.queue_ms = Ms(*lease_at - message_at);
        sample.wake_ms = Ms(*span_start_at - *lease_at);
      }
      sample.overhead_ms = sample.total_ms - sample.model_ms - sample.provision_ms - sample.execute_ms -
                           (std::isnan(sample.queue_ms) ? 0 : sample.queue_ms);
      samples.push_back(sample);
      progress_.Tick();
    }
    return samples;
  }

  absl::StatusOr<std::string> Create() {
    if (client_ != nullptr) {
      ASSIGN_OR_RETURN(std::string answer, client_->Post("/v1/sessions", absl::StrCat(R"({"agent":")", agent_id_, R"("})")));
      std::string id = JsonId(answer, "sesn_");
      if (id.empty()) return absl::InternalError(absl::StrCat("no session id in ", answer));
      return id;
    }
    CreateSessionRequest request;
    request.agent_id = agent_id_;
    ASSIGN_OR_RETURN(SessionInfo session, engine_.CreateSession(request));
    return session.id;
  }

  // `history` alternating user and agent messages, appended in one batch as a client would have left them.
  // Returns the seq after them.
  absl::StatusOr<uint64_t> Preload(const std::string& session_id) {
    std::vector<Event> events;
    for (int i = 0; i < c_.history; ++i) {
      Event e;
      e.type = i % 2 == 0 ? EventType::kUserMessage : EventType::kAgentMessage;
      e.id = NewEventId(absl::Now());
      ContentBlock text;
      text.text = absl::StrCat(i % 2 == 0 ? "Earlier question " : "Earlier answer ", i / 2,
                               ": some words so the event has a realistic size, about a hundred bytes or so.");
      e.content.push_back(std::move(text));
      events.push_back(std::move(e));
    }
    if (c_.history % 2 == 1) events.pop_back();  // end with an answer: nothing for the engine to do
    ASSIGN_OR_RETURN(AppendResult appended, engine_.log().Append(session_id, std::move(events), kAppendAtHead, kNoLease));
    return appended.last_seq + 1;
  }

  const Config& c_;
  const Workload& w_;
  Engine& engine_;
  const std::string agent_id_;
  Progress& progress_;
  const Client* const client_;  // e2e only
  const absl::Duration lease_ttl_ = HarnessOptions{}.lease_ttl;
};

struct ModeResult {
  std::string mode;
  std::vector<TurnSample> turns;
  double seconds = 0;
  double warm_fill_seconds = NAN;  // warm: engine open -> the pool's spares all ready
};

// The brain of a run: Anthropic's protocol against the local model server, or a real model
// (--real-brain) configured from the environment.
absl::StatusOr<std::unique_ptr<Brain>> MakeBrain(const Config& c, const FakeModelServer* server) {
  if (c.real_brain == "openai") {
    ASSIGN_OR_RETURN(OpenAiBrainOptions options, OpenAiBrainOptions::FromEnv());
    return NewOpenAiBrain(std::move(options));
  }
  if (c.real_brain == "anthropic") {
    ASSIGN_OR_RETURN(AnthropicBrainOptions options, AnthropicBrainOptions::FromEnv());
    return NewAnthropicBrain(std::move(options));
  }
  AnthropicBrainOptions options;
  options.base_url = server->base_url();
  options.api_key = "bench";
  return NewAnthropicBrain(std::move(options));
}

absl::StatusOr<ModeResult> RunMode(const Config& c, const Workload& w, const std::string& mode,
                                   const FakeModelServer* server, HandProvider& provider, const std::string& data_dir) {
  std::filesystem::remove_all(data_dir);
  ASSIGN_OR_RETURN(std::unique_ptr<Brain> brain, MakeBrain(c, server));
  EngineOptions options;
  options.data_dir = data_dir;
  options.hand_providers = {{c.backend, &provider}};
  options.default_backend = c.backend;
  options.workers = c.workers;
  options.provisioning = mode == "eager" ? EngineOptions::Provisioning::kEager : EngineOptions::Provisioning::kLazy;
  if (mode == "warm") options.warm_hands = {{c.backend, c.warm_spares}};
  Brain* shared_brain = brain.get();
  options.brain_override = [shared_brain](std::string_view) -> absl::StatusOr<Brain*> { return shared_brain; };
  ModeResult result;
  result.mode = mode;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Open(options));
    AgentSpec spec;
    spec.name = "bench";
    spec.model = c.model;
    ASSIGN_OR_RETURN(Agent agent, engine->CreateAgent(spec));
    if (mode == "warm") {
      // A pool is warm before traffic comes: wait until it has made its spares.
      const absl::Time start = absl::Now();
      while (engine->stats().hands.spares_ready < c.warm_spares) {
        if (absl::Now() - start > absl::Seconds(120)) {
          return absl::DeadlineExceededError(absl::StrCat("the warm pool made ", engine->stats().hands.spares_ready,
                                                          " of ", c.warm_spares, " spares in 120 s"));
        }
        absl::SleepFor(absl::Milliseconds(10));
      }
      result.warm_fill_seconds = absl::ToDoubleSeconds(absl::Now() - start);
    }
    std::unique_ptr<Server> server;
    std::optional<Client> client;
    if (c.e2e) {
      // waked's API in-process, on a kernel-chosen port, with wake's own libcurl client.
      ServerOptions server_options;
      server_options.log = [](std::string_view) {};
      ASSIGN_OR_RETURN(server, StartServer(engine.get(), server_options));
      ClientOptions client_options;
      client_options.base_url = absl::StrCat("http://127.0.0.1:", server->port());
      ASSIGN_OR_RETURN(client, Client::Create(client_options));
    }
    Progress progress(c.progress, mode, w.turns);
    ModeRun run(c, w, *engine, agent.id, progress, client ? &*client : nullptr);
    const absl::Time start = absl::Now();
    absl::StatusOr<std::vector<TurnSample>> turns = run.Go();
    result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
    progress.Finish();
    if (server != nullptr) server->Stop();
    engine->Shutdown();
    if (!turns.ok()) return turns.status();
    result.turns = *std::move(turns);
  }  // the engine, and with it the warm pool's spares, goes here
  // The sandboxes of this mode go (only this run's: the provider lists by the run's own label).
  (void)provider.ReapExcept([](std::string_view) { return false; });
  return result;
}

// --- statistics and output ------------------------------------------------------------------------------

double Percentile(std::vector<double> v, double q) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double rank = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  size_t n = 0;
  for (double x : v) {
    if (std::isnan(x)) continue;
    sum += x;
    ++n;
  }
  return n == 0 ? NAN : sum / static_cast<double>(n);
}

struct Metric {
  const char* key;
  const char* label;
  double TurnSample::*field;
};

constexpr Metric kMetrics[] = {
    {"ttft_ms", "time to first token", &TurnSample::ttft_ms},
    {"total_ms", "turn total", &TurnSample::total_ms},
    {"create_ms", "create session", &TurnSample::create_ms},
    {"queue_ms", "queueing", &TurnSample::queue_ms},
    {"wake_ms", "wake (lease + log read + context)", &TurnSample::wake_ms},
    {"model_ttft_ms", "model TTFT", &TurnSample::model_ttft_ms},
    {"provision_ms", "hand provision", &TurnSample::provision_ms},
    {"execute_ms", "tool execute", &TurnSample::execute_ms},
    {"model_ms", "model (all requests)", &TurnSample::model_ms},
    {"overhead_ms", "engine overhead", &TurnSample::overhead_ms},
    {"accepted_ms", "HTTP: POST user.message -> accepted (e2e)", &TurnSample::accepted_ms},
    {"first_event_ms", "HTTP: accepted -> first agent event on SSE (e2e)", &TurnSample::first_event_ms},
};

// Which turns a table or plot is about.
struct Slice {
  const char* key;
  const char* label;
  bool (*keep)(const TurnSample&);
};

constexpr Slice kSlices[] = {
    {"first_tool", "first turns with a tool call", [](const TurnSample& t) { return t.first && t.tool; }},
    {"first_no_tool", "first turns without a tool call", [](const TurnSample& t) { return t.first && !t.tool; }},
    {"followup_tool", "follow-up turns with a tool call", [](const TurnSample& t) { return !t.first && t.tool; }},
    {"followup_no_tool", "follow-up turns without a tool call", [](const TurnSample& t) { return !t.first && !t.tool; }},
    {"all", "all turns", [](const TurnSample&) { return true; }},
};

std::vector<double> Column(const ModeResult& r, const Slice& slice, double TurnSample::*field) {
  std::vector<double> v;
  for (const TurnSample& t : r.turns) {
    if (slice.keep(t)) v.push_back(t.*field);
  }
  return v;
}

std::string Fmt(double v) { return std::isnan(v) ? "-" : absl::StrFormat("%.1f", v); }
std::string FmtRatio(double a, double b) { return std::isnan(a) || std::isnan(b) || b <= 0 ? "-" : absl::StrFormat("%.2f", a / b); }
std::string JsonNum(double v) { return std::isnan(v) ? "null" : absl::StrFormat("%.3f", v); }

std::string ModelConditions(const Config& c) {
  if (c.real_brain.empty()) {
    return absl::StrCat("model TTFT lognormal(median ", c.ttft_median_ms, " ms, sigma ", c.ttft_sigma, "), ",
                        c.output_tokens, " tokens per response at lognormal(median ", c.tokens_per_s_median,
                        " tok/s, sigma ", c.tokens_per_s_sigma, ")");
  }
  const char* url = std::getenv(c.real_brain == "openai" ? "OPENAI_BASE_URL" : "ANTHROPIC_BASE_URL");
  return absl::StrCat("real model ", c.model, " (", c.real_brain, " protocol",
                      url != nullptr && *url != '\0' ? absl::StrCat(" at ", url) : std::string(), ")");
}

std::string Conditions(const Config& c) {
  return absl::StrCat(
      c.e2e ? "through waked's HTTP API (in-process server, libcurl client); " : "", c.backend, " hands; ", c.sessions, " sessions, 1 + U{0..", c.followups, "} turns each, tool call in ",
      absl::StrFormat("%.0f", c.tool_fraction * 100), " % of turns; ",
      c.arrival_rate > 0 ? absl::StrFormat("open loop, %.2f sessions/s (Poisson)", c.arrival_rate)
                         : absl::StrCat("closed loop, ", c.concurrency, " clients"),
      "; ", c.workers, " engine workers; ", ModelConditions(c), "; warm pool ", c.warm_spares, " spares; history ",
      c.history, " events; seed ", c.seed);
}

std::string MarkdownReport(const Config& c, const std::vector<ModeResult>& results, const std::string& tag) {
  std::string md = absl::StrCat("# TTFT benchmark (", tag, ")\n\n", Conditions(c), ".\n\n");
  auto find = [&](const std::string& mode) -> const ModeResult* {
    for (const ModeResult& r : results) {
      if (r.mode == mode) return &r;
    }
    return nullptr;
  };
  const ModeResult* eager = find("eager");
  for (const Slice& slice : kSlices) {
    size_t n = 0;
    for (const ModeResult& r : results) n = std::max(n, Column(r, slice, &TurnSample::total_ms).size());
    if (n == 0) continue;
    absl::StrAppend(&md, "## ", slice.label, " (", n, " per mode)\n\n| ms | ");
    std::vector<std::string> head, rule = {"---"};
    for (const ModeResult& r : results) {
      head.push_back(absl::StrCat(r.mode, " p50 | ", r.mode, " p95 | ", r.mode, " p99"));
      rule.insert(rule.end(), {"---:", "---:", "---:"});
    }
    std::vector<std::string> ratio_modes;
    if (eager != nullptr) {
      for (const ModeResult& r : results) {
        if (r.mode == "eager") continue;
        ratio_modes.push_back(r.mode);
        head.push_back(absl::StrCat(r.mode, "/eager p50 | ", r.mode, "/eager p95"));
        rule.insert(rule.end(), {"---:", "---:"});
      }
    }
    absl::StrAppend(&md, absl::StrJoin(head, " | "), " |\n|", absl::StrJoin(rule, "|"), "|\n");
    for (const Metric& m : kMetrics) {
      bool any = false;
      for (const ModeResult& r : results) any = any || !std::isnan(Percentile(Column(r, slice, m.field), 0.5));
      if (!any) continue;  // e.g. the HTTP columns of a run without --e2e
      std::vector<std::string> row = {m.label};
      for (const ModeResult& r : results) {
        const auto v = Column(r, slice, m.field);
        row.insert(row.end(), {Fmt(Percentile(v, 0.5)), Fmt(Percentile(v, 0.95)), Fmt(Percentile(v, 0.99))});
      }
      for (const std::string& mode : ratio_modes) {
        const auto v = Column(*find(mode), slice, m.field), e = Column(*eager, slice, m.field);
        row.push_back(FmtRatio(Percentile(v, 0.5), Percentile(e, 0.5)));
        row.push_back(FmtRatio(Percentile(v, 0.95), Percentile(e, 0.95)));
      }
      if (std::string(m.key) == "ttft_ms") row[0] = absl::StrCat("**", row[0], "**");
      absl::StrAppend(&md, "| ", absl::StrJoin(row, " | "), " |\n");
    }
    md += "\n";
  }
  md += "## runs\n\n| mode | turns | wall s | turns/s | warm pool filled in s |\n|---|---:|---:|---:|---:|\n";
  for (const ModeResult& r : results) {
    absl::StrAppend(&md, "| ", r.mode, " | ", r.turns.size(), " | ", absl::StrFormat("%.1f", r.seconds), " | ",
                    absl::StrFormat("%.1f", static_cast<double>(r.turns.size()) / std::max(r.seconds, 1e-9)), " | ",
                    std::isnan(r.warm_fill_seconds) ? "" : absl::StrFormat("%.2f", r.warm_fill_seconds), " |\n");
  }
  absl::StrAppend(&md, "\nPlots: `", tag, "-ttft-cdf.svg` (TTFT of first turns with a tool call, per mode), `", tag,
                  "-breakdown.svg` (mean per-turn breakdown of those turns).\n");
  return md;
}

std::string JsonResults(const Config& c, const std::vector<ModeResult>& results) {
  std::string json = "{\"conditions\":";
  AppendJsonString(json, Conditions(c));  // a real model's name and URL come from the user
  absl::StrAppend(&json, ",\"backend\":\"", c.backend, "\",\"sessions\":", c.sessions, ",\"seed\":", c.seed, ",\"history\":", c.history,
                  ",\"modes\":{");
  for (size_t i = 0; i < results.size(); ++i) {
    const ModeResult& r = results[i];
    absl::StrAppend(&json, i ? "," : "", "\"", r.mode, "\":{\"wall_s\":", JsonNum(r.seconds), ",\"warm_fill_s\":", JsonNum(r.warm_fill_seconds), ",\"summary\":{");
    bool first_slice = true;
    for (const Slice& slice : kSlices) {
      if (Column(r, slice, &TurnSample::total_ms).empty()) continue;
      absl::StrAppend(&json, first_slice ? "" : ",", "\"", slice.key, "\":{");
      first_slice = false;
      for (size_t k = 0; k < std::size(kMetrics); ++k) {
        const auto v = Column(r, slice, kMetrics[k].field);
        absl::StrAppend(&json, k ? "," : "", "\"", kMetrics[k].key, "\":{\"p50\":", JsonNum(Percentile(v, 0.5)),
                        ",\"p95\":", JsonNum(Percentile(v, 0.95)), ",\"p99\":", JsonNum(Percentile(v, 0.99)),
                        ",\"mean\":", JsonNum(Mean(v)), ",\"n\":", v.size(), "}");
      }
      json += "}";
    }
    json += "},\"turns\":[";
    for (size_t k = 0; k < r.turns.size(); ++k) {
      const TurnSample& t = r.turns[k];
      absl::StrAppend(&json, k ? "," : "", "{\"session\":", t.session, ",\"turn\":", t.turn,
                      ",\"first\":", t.first ? "true" : "false", ",\"tool\":", t.tool ? "true" : "false",
                      ",\"hand\":\"", t.hand_kind, "\"");
      for (const Metric& m : kMetrics) absl::StrAppend(&json, ",\"", m.key, "\":", JsonNum(t.*m.field));
      json += "}";
    }
    json += "]}";
  }
  return json + "}}\n";
}

void WritePlots(const Config& c, const std::vector<ModeResult>& results, const std::string& prefix) {
  const Slice& slice = c.history > 0 ? kSlices[4] : kSlices[0];
  std::vector<bench::CdfSeries> cdf;
  for (const ModeResult& r : results) cdf.push_back({r.mode, Column(r, slice, &TurnSample::ttft_ms)});
  std::ofstream(prefix + "-ttft-cdf.svg")
      << bench::CdfSvg(absl::StrCat("Time to first token, ", slice.label, " (", c.backend, " hands)"),
                       "TTFT (ms, log scale)", cdf, /*log_x=*/true);
  const std::vector<std::string> components = {"create (eager: + hand)", "queueing", "wake", "model TTFT",
                                               "model rest", "hand provision (in tool call)", "tool execute",
                                               "other engine"};
  std::vector<bench::StackedBar> bars;
  for (const ModeResult& r : results) {
    std::vector<double> create, queue, wake, ttft, model, prov_tool, exec, total;
    for (const TurnSample& t : r.turns) {
      if (!slice.keep(t)) continue;
      const bool provision_in_create = r.mode == "eager";
      create.push_back(t.create_ms);
      queue.push_back(t.queue_ms);
      wake.push_back(t.wake_ms);
      ttft.push_back(t.model_ttft_ms);
      model.push_back(t.model_ms - t.model_ttft_ms);
      prov_tool.push_back(provision_in_create ? 0 : t.provision_ms);
      exec.push_back(t.execute_ms);
      total.push_back(t.total_ms);
    }
    std::vector<double> seg = {Mean(create), Mean(queue), Mean(wake), Mean(ttft), Mean(model), Mean(prov_tool), Mean(exec)};
    double known = 0;
    for (double& s : seg) {
      if (std::isnan(s)) s = 0;
      known += s;
    }
    seg.push_back(std::max(0.0, Mean(total) - known));
    bars.push_back({r.mode, seg});
  }
  std::ofstream(prefix + "-breakdown.svg")
      << bench::StackedBarsSvg(absl::StrCat("Mean turn breakdown, ", slice.label, " (", c.backend, " hands)"), "ms",
                               components, bars);
}

}  // namespace
}  // namespace wake

int main(int argc, char** argv) {
  wake::Config c;
  const char* usage =
      "usage: ttft_bench [--backend docker|local] [--modes eager,lazy,warm] [--sessions N] [--followups F]\n"
      "                  [--tool-fraction P] [--concurrency C | --arrival-rate R] [--workers W]\n"
      "                  [--model-ttft-ms M] [--model-ttft-sigma S] [--tokens-per-s T] [--tokens-sigma S]\n"
      "                  [--output-tokens K] [--warm-spares K] [--history H] [--seed X] [--out-dir DIR]\n"
      "                  [--tag NAME] [--no-progress] [--e2e] [--real-brain anthropic|openai --model NAME]\n";
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--no-progress" || flag == "--e2e") {
      (flag == "--e2e" ? c.e2e : c.progress) = flag == "--e2e";
      continue;
    }
    if (i + 1 >= argc) return std::fprintf(stderr, "%s", usage), 2;
    const std::string v = argv[++i];
    bool ok = true;
    if (flag == "--backend") c.backend = v;
    else if (flag == "--modes") c.modes = absl::StrSplit(v, ',');
    else if (flag == "--sessions") ok = absl::SimpleAtoi(v, &c.sessions) && c.sessions > 0;
    else if (flag == "--followups") ok = absl::SimpleAtoi(v, &c.followups) && c.followups >= 0;
    else if (flag == "--tool-fraction") ok = absl::SimpleAtod(v, &c.tool_fraction) && c.tool_fraction >= 0 && c.tool_fraction <= 1;
    else if (flag == "--concurrency") ok = absl::SimpleAtoi(v, &c.concurrency) && c.concurrency > 0;
    else if (flag == "--arrival-rate") ok = absl::SimpleAtod(v, &c.arrival_rate) && c.arrival_rate >= 0;
    else if (flag == "--workers") ok = absl::SimpleAtoi(v, &c.workers) && c.workers > 0;
    else if (flag == "--model-ttft-ms") ok = absl::SimpleAtod(v, &c.ttft_median_ms) && c.ttft_median_ms > 0;
    else if (flag == "--model-ttft-sigma") ok = absl::SimpleAtod(v, &c.ttft_sigma) && c.ttft_sigma >= 0;
    else if (flag == "--tokens-per-s") ok = absl::SimpleAtod(v, &c.tokens_per_s_median) && c.tokens_per_s_median > 0;
    else if (flag == "--tokens-sigma") ok = absl::SimpleAtod(v, &c.tokens_per_s_sigma) && c.tokens_per_s_sigma >= 0;
    else if (flag == "--output-tokens") ok = absl::SimpleAtoi(v, &c.output_tokens) && c.output_tokens > 0;
    else if (flag == "--warm-spares") ok = absl::SimpleAtoi(v, &c.warm_spares) && c.warm_spares > 0;
    else if (flag == "--history") ok = absl::SimpleAtoi(v, &c.history) && c.history >= 0;
    else if (flag == "--seed") ok = absl::SimpleAtoi(v, &c.seed);
    else if (flag == "--out-dir") c.out_dir = v;
    else if (flag == "--tag") c.tag = v;
    else if (flag == "--real-brain") {
      c.real_brain = v;
      ok = v == "anthropic" || v == "openai";
    } else if (flag == "--model") {
      c.model = v;
      ok = !v.empty();
    } else {
      ok = false;
    }
    if (!ok) return std::fprintf(stderr, "ttft_bench: bad %s %s\n%s", flag.c_str(), v.c_str(), usage), 2;
  }
  for (const std::string& m : c.modes) {
    if (m != "eager" && m != "lazy" && m != "warm") {
      return std::fprintf(stderr, "ttft_bench: unknown mode %s (eager, lazy, warm)\n", m.c_str()), 2;
    }
  }
  if (c.backend != "docker" && c.backend != "local") return std::fprintf(stderr, "%s", usage), 2;
  if (c.tag.empty()) c.tag = absl::StrCat("ttft-", c.backend, c.real_brain.empty() ? "" : "-real");
  if (!c.real_brain.empty() && c.model == wake::Config{}.model) {
    return std::fprintf(stderr, "ttft_bench: --real-brain needs --model (the real model's name)\n"), 2;
  }

  const std::string base = (std::filesystem::temp_directory_path() / absl::StrCat("wake-ttft-bench-", getpid())).string();
  std::unique_ptr<wake::HandProvider> provider;
  if (c.backend == "docker") {
    wake::DockerProviderOptions options;
    options.image = "wake-test-busybox:latest";
    options.labels = {{"wake.bench", absl::StrCat("ttft-", getpid())}};
    auto made = wake::NewDockerProvider(options);
    if (!made.ok()) return std::fprintf(stderr, "ttft_bench: docker: %s\n", std::string(made.status().message()).c_str()), 1;
    provider = *std::move(made);
  } else {
    auto made = wake::NewLocalProvider({.base_dir = base + "/hands", .isolate = false});
    if (!made.ok()) return std::fprintf(stderr, "ttft_bench: local: %s\n", std::string(made.status().message()).c_str()), 1;
    provider = *std::move(made);
  }
  const wake::Workload workload = wake::MakeWorkload(c);
  std::unique_ptr<wake::testing::FakeModelServer> server;  // none with --real-brain
  if (c.real_brain.empty()) {
    auto started = wake::testing::FakeModelServer::Start();
    if (!started.ok()) return std::fprintf(stderr, "ttft_bench: model server: %s\n", std::string(started.status().message()).c_str()), 1;
    server = *std::move(started);
    server->SetResponder([&](const wake::testing::RecordedRequest& r) { return wake::Respond(workload, c, r); });
  }

  std::fprintf(stderr, "ttft_bench: %s; %zu turns per mode\n", wake::Conditions(c).c_str(), workload.turns);
  std::vector<wake::ModeResult> results;
  for (const std::string& mode : c.modes) {
    auto result = wake::RunMode(c, workload, mode, server.get(), *provider, base + "/" + mode);
    if (!result.ok()) {
      std::fprintf(stderr, "\nttft_bench: %s: %s\n", mode.c_str(), std::string(result.status().message()).c_str());
      std::filesystem::remove_all(base);
      return 1;
    }
    results.push_back(*std::move(result));
  }
  std::filesystem::remove_all(base);

  std::filesystem::create_directories(c.out_dir);
  const std::string prefix = c.out_dir + "/" + c.tag;
  const std::string md = wake::MarkdownReport(c, results, c.tag);
  std::ofstream(prefix + ".json") << wake::JsonResults(c, results);
  std::ofstream(prefix + ".md") << md;
  wake::WritePlots(c, results, prefix);
  std::printf("%s", md.c_str());
  std::fprintf(stderr, "ttft_bench: wrote %s.{json,md}, %s-ttft-cdf.svg, %s-breakdown.svg\n", prefix.c_str(),
               prefix.c_str(), prefix.c_str());
  return 0;
}
