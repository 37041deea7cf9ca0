#include "harness/harness.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/sync.h"
#include "harness/context_builder.h"
#include "harness/next_action.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "simdjson.h"

namespace wake {

namespace {

using SteadyClock = std::chrono::steady_clock;

absl::Duration Since(SteadyClock::time_point start) { return absl::FromChrono(SteadyClock::now() - start); }

// A seed for one wake's retry jitter. Constructing a std::random_device on every wake was ~3 % of the
// cycles of a 64-session harness_bench profile (0.5 % after; its CPUID probe traps to the hypervisor on
// a VM), so each thread seeds one generator from the OS once and draws the wakes' seeds from it.
uint32_t JitterSeed() {
  thread_local std::minstd_rand seeds{std::random_device{}()};
  return static_cast<uint32_t>(seeds());
}

}  // namespace

HarnessMetrics HarnessMetrics::Register(MetricsRegistry& registry) {
  HarnessMetrics m;
  m.ttft = &registry.AddHistogram("wake_model_ttft_seconds",
                                  "Model time to first token: request sent to first content.", LatencyBuckets());
  m.model_request = &registry.AddHistogram("wake_model_request_seconds",
                                           "Model request duration: request sent to end of stream.", LatencyBuckets());
  m.turn = &registry.AddHistogram("wake_turn_seconds",
                                  "Turn latency: a wake picking up a client event to the session going idle.",
                                  LatencyBuckets());
  m.wake = &registry.AddHistogram(
      "wake_wake_seconds", "Wake latency: lease, log read, context build and span start, up to the model request.",
      FastLatencyBuckets());
  m.append = &AppendLatencies(registry).WithLabels({"harness"});
  m.errors = &ErrorCounters(registry);
  CounterFamily& replayed = registry.AddCounterFamily(
      "wake_replay_events_total", "Events wakes started from, by where they came from: the replay cache or the log.",
      {"from"});
  m.events_from_cache = &replayed.WithLabels({"cache"});
  m.events_from_log = &replayed.WithLabels({"log"});
  return m;
}

Harness::Harness(SessionLog* log, Brain* brain, SessionHands* hands, HarnessOptions options)
    : log_(log), brain_(brain), hands_(hands), options_(std::move(options)) {}

// One Wake of one session: the lease, the events seen so far, and the steps.
class Harness::Run {
 public:
  Run(const Harness& harness, std::string_view session_id, const AgentConfig& agent)
      : h_(harness), session_id_(session_id), agent_(agent) {}
  ~Run() {
    if (!watch_) return;
    watch_->sub->Cancel();
    watch_->thread.join();
  }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  absl::Status Go() {
    wake_start_ = SteadyClock::now();
    ASSIGN_OR_RETURN(lease_, h_.log_->AcquireLease(session_id_, h_.options_.worker_id, h_.options_.lease_ttl));
    RETURN_IF_ERROR(Replay());
    // The woke marker rides on the first append, saving a sync; a wake with nothing to do writes nothing.
    Event woke = NewEvent(EventType::kHarnessWoke);
    woke.worker_id = h_.options_.worker_id;
    woke.lease_epoch = lease_.epoch;
    pending_marker_ = std::move(woke);
    bool first_step = true;
    while (true) {
      if (Stopping()) break;
      RETURN_IF_ERROR(CatchUp());
      NextAction action = DecideNextAction(events_, agent_);
      if (action.kind == NextAction::Kind::kNone) break;
      if (!turn_start_) turn_start_ = first_step ? wake_start_ : SteadyClock::now();
      if (first_step) measure_wake_ = action.kind == NextAction::Kind::kCallModel;
      first_step = false;
      RETURN_IF_ERROR(Act(action));
    }
    // Best effort: an unreleased lease simply expires.
    h_.log_->ReleaseLease(session_id_, lease_.epoch).IgnoreError();
    // Only a wake that ended well gives its events back: after an error they may be missing an append.
    if (h_.options_.replay_cache != nullptr) h_.options_.replay_cache->Put(session_id_, std::move(events_));
    return absl::OkStatus();
  }

 private:
  absl::Status Act(const NextAction& action) {
    switch (action.kind) {
      case NextAction::Kind::kNone:
        return absl::OkStatus();
      case NextAction::Kind::kCallModel:
        return CallModel();
      case NextAction::Kind::kRunTool:
        return RunTool(action.tool_use, /*recovering=*/false);
      case NextAction::Kind::kRecoverTool:
        return RunTool(action.tool_use, /*recovering=*/true);
      case NextAction::Kind::kDenyTool: {
        std::string why = "The user denied this tool call.";
        if (!action.deny_message.empty()) absl::StrAppend(&why, " They said: ", action.deny_message);
        std::vector<Event> batch = StartBatch();
        batch.push_back(ToolResultEvent(action.tool_use, why, /*is_error=*/true));
        return Append(std::move(batch));
      }
      case NextAction::Kind::kAwaitClient: {
        Event idle = NewEvent(EventType::kSessionStatusIdle);
        idle.stop_reason.kind = StopReason::Kind::kRequiresAction;
        for (const Event& e : action.pending) idle.stop_reason.event_ids.push_back(e.id);
        return Append({std::move(idle)});
      }
      case NextAction::Kind::kInterrupt: {
        std::vector<Event> batch;
        for (const Event& pending : action.pending) {
          batch.push_back(ToolResultEvent(pending, "The user interrupted the turn before this tool call ran.",
                                          /*is_error=*/true));
        }
        Event idle = NewEvent(EventType::kSessionStatusIdle);
        idle.stop_reason.kind = StopReason::Kind::kEndTurn;
        batch.push_back(std::move(idle));
        return Append(std::move(batch));
      }
    }
    return absl::InternalError("unknown action");
  }

  // A request's size in tokens, roughly: four bytes of its canonical encoding to a token.
  static size_t EstimateTokens(const ModelRequest& request) { return EncodeModelRequestJson(request).size() / 4; }

  // Asks the brain to summarize the conversation in `request` and appends the summary as
  // agent.thread_context_compacted (with the model request's span). A failed summary is not fatal:
  // the turn goes on uncompacted, and the span end records the error.
  absl::Status Compact(ModelRequest request) {
    const uint64_t through_seq = events_.back().seq;
    MessageBlock ask;
    ask.text =
        "[The conversation is getting long. Before continuing, summarize it for your own future reference: "
        "the user's goals, what was done and decided, files and facts that matter, and what remains open. "
        "Reply with the summary only.]";
    if (request.messages.empty() || request.messages.back().role != Message::Role::kUser) {
      request.messages.push_back(Message{Message::Role::kUser, {}});
    }
    request.messages.back().blocks.push_back(std::move(ask));
    request.summarize = true;

    std::vector<Event> batch = StartBatch();
    batch.push_back(NewEvent(EventType::kSpanModelRequestStart));
    const std::string start_id = batch.back().id;
    RETURN_IF_ERROR(Append(std::move(batch)));
    RETURN_IF_ERROR(RenewLeaseIfDue());
    absl::StatusOr<ModelTurn> turn = StreamUnlessInterrupted(request);
    Event end = NewEvent(EventType::kSpanModelRequestEnd);
    end.model_request_start_id = start_id;
    end.is_error = !turn.ok();
    if (!turn.ok()) return Append({std::move(end)});
    end.model_usage = turn->usage;
    Event compacted = NewEvent(EventType::kAgentThreadContextCompacted);
    compacted.compacted_through_seq = through_seq;
    for (const TurnBlock& block : turn->blocks) {
      if (block.kind != TurnBlock::Kind::kText || block.text.empty()) continue;
      ContentBlock text;
      text.text = block.text;
      compacted.content.push_back(std::move(text));
    }
    if (compacted.content.empty()) {
      end.is_error = true;  // a summary without text is a failed one: nothing to compact into
      return Append({std::move(end)});
    }
    return Append({std::move(end), std::move(compacted)});
  }

  absl::Status CallModel() {
    if (h_.options_.compact_above_tokens > 0) {
      ModelRequest before = BuildModelRequest(agent_, events_);
      // Too few messages, or a summary that alone fills half the budget: compacting again would not
      // help (and would repeat every turn).
      ModelRequest summary_only;
      if (!before.messages.empty()) summary_only.messages.push_back(before.messages.front());
      const bool worth_it = before.messages.size() > 2 &&
                            (before.compacted_turns == 0 ||
                             EstimateTokens(summary_only) < h_.options_.compact_above_tokens / 2);
      if (worth_it && EstimateTokens(before) > h_.options_.compact_above_tokens) {
        RETURN_IF_ERROR(Compact(std::move(before)));
        RETURN_IF_ERROR(CatchUp());
        if (DecideNextAction(events_, agent_).kind != NextAction::Kind::kCallModel) return absl::OkStatus();
      }
    }
    const ModelRequest request = BuildModelRequest(agent_, events_);
    absl::Duration backoff = h_.options_.initial_backoff;
    for (int attempt = 1;; ++attempt) {
      std::vector<Event> batch = StartBatch();
      batch.push_back(NewEvent(EventType::kSpanModelRequestStart));
      const std::string start_id = batch.back().id;
      RETURN_IF_ERROR(Append(std::move(batch)));
      RETURN_IF_ERROR(RenewLeaseIfDue());
      absl::StatusOr<ModelTurn> turn = StreamUnlessInterrupted(request);
      if (turn.ok()) return AppendTurn(start_id, *turn);

      Event end = NewEvent(EventType::kSpanModelRequestEnd);
      end.model_request_start_id = start_id;
      end.is_error = true;
      if (absl::IsCancelled(turn.status())) {
        // A user.interrupt stopped the request; the next decision sees it and ends the turn.
        return Append({std::move(end)});
      }
      const bool retryable = absl::IsUnavailable(turn.status());
      std::string upstream = UpstreamErrorType(turn.status());
      if (upstream.empty()) upstream = retryable ? "model_request_failed_error" : "unknown_error";
      if (retryable && attempt < h_.options_.max_model_attempts) {
        Event rescheduled = NewEvent(EventType::kSessionStatusRescheduled);
        RETURN_IF_ERROR(Append({std::move(end), std::move(rescheduled)}));
        absl::Duration wait = Jittered(backoff);
        if (auto hint = RetryAfter(turn.status())) wait = std::max(wait, *hint);
        h_.options_.clock->SleepFor(wait);
        backoff = std::min(backoff * 2, h_.options_.max_backoff);
        continue;
      }
      Event error = NewEvent(EventType::kSessionError);
      error.error.type = MapUpstreamType(upstream);
      error.error.message = std::string(turn.status().message());
      error.error.retry_status =
          retryable ? SessionErrorInfo::RetryStatus::kExhausted : SessionErrorInfo::RetryStatus::kTerminal;
      const std::string error_type = error.error.type;
      Event idle = NewEvent(EventType::kSessionStatusIdle);
      idle.stop_reason.kind = retryable ? StopReason::Kind::kRetriesExhausted : StopReason::Kind::kEndTurn;
      RETURN_IF_ERROR(Append({std::move(end), std::move(error), std::move(idle)}));
      CountError(error_type);
      return absl::OkStatus();
    }
  }

  // Runs `work(cancel)` (a model stream, a tool call) while the wake's watcher follows the log: a
  // user.interrupt appended meanwhile (seq >= the first seq not yet in events_) fires `cancel` (the
  // brain returns Cancelled; a hand kills the tool's processes), as does a graceful stop.
  template <typename Work>
  auto UnlessInterrupted(Work&& work) -> decltype(work(std::declval<const CancelToken*>())) {
    CancelToken cancel;
    const uint64_t from = events_.empty() ? 1 : events_.back().seq + 1;
    RETURN_IF_ERROR(StartWatching(from));
    {
      MutexLock lock(&watch_->mu);
      if (watch_->last_interrupt >= from || Stopping()) cancel.Cancel();
      watch_->step = &cancel;
      watch_->step_from = from;
    }
    auto result = work(&cancel);
    MutexLock lock(&watch_->mu);
    watch_->step = nullptr;
    return result;
  }

  // One watcher thread per wake, started by the wake's first step that needs it, not one per model
  // request and tool call: creating and ending a thread per step (and the TLB shootdown when its stack
  // is released) was much of what harness_bench lost at 64 sessions since November. Measured there:
  // 11.7 k -> 4.1 k thread creations, 1.60 -> 1.46 s of CPU, 3.4-4.3 -> 4.2-4.7 k turns/s.
  absl::Status StartWatching(uint64_t from) {
    if (watch_) return absl::OkStatus();
    auto watch = std::make_unique<Watch>();
    ASSIGN_OR_RETURN(watch->sub, h_.log_->Subscribe(session_id_, from));
    watch_ = std::move(watch);
    watch_->thread = std::thread([this, w = watch_.get()] {
      while (true) {
        // Wakes at least every 50 ms to see a graceful stop; otherwise waits for appends.
        absl::StatusOr<std::vector<Event>> fresh =
            w->sub->Next(64, h_.options_.stop != nullptr ? absl::Now() + absl::Milliseconds(50) : absl::InfiniteFuture());
        if (!fresh.ok()) return;  // cancelled as the wake ends (or the log failed: nothing more to watch)
        MutexLock lock(&w->mu);
        for (const Event& e : *fresh) {
          if (e.type == EventType::kUserInterrupt) w->last_interrupt = std::max(w->last_interrupt, e.seq);
        }
        if (w->step != nullptr && (Stopping() || w->last_interrupt >= w->step_from)) w->step->Cancel();
      }
    });
    return absl::OkStatus();
  }

  absl::StatusOr<ModelTurn> StreamUnlessInterrupted(const ModelRequest& request) {
    if (measure_wake_ && metrics() != nullptr) metrics()->wake->ObserveDuration(Since(wake_start_));
    measure_wake_ = false;
    return UnlessInterrupted([&](const CancelToken* cancel) { return h_.brain_->Stream(request, nullptr, cancel); });
  }

  // The turn's outputs and the span's end in one append: no crash leaves half a turn behind.
  absl::Status AppendTurn(const std::string& start_id, const ModelTurn& turn) {
    if (metrics() != nullptr) {
      metrics()->ttft->ObserveDuration(turn.time_to_first_token);
      metrics()->model_request->ObserveDuration(turn.duration);
    }
    std::vector<Event> batch;
    Event message = NewEvent(EventType::kAgentMessage);
    bool has_tool_calls = false;
    auto flush_text = [&] {
      if (message.content.empty()) return;
      batch.push_back(std::move(message));
      message = NewEvent(EventType::kAgentMessage);
    };
    for (const TurnBlock& block : turn.blocks) {
      switch (block.kind) {
        case TurnBlock::Kind::kText: {
          ContentBlock text;
          text.text = block.text;
          message.content.push_back(std::move(text));
          break;
        }
        case TurnBlock::Kind::kThinking:
          flush_text();
          batch.push_back(NewEvent(EventType::kAgentThinking));
          break;
        case TurnBlock::Kind::kToolUse: {
          flush_text();
          Event use = NewEvent(agent_.IsCustomTool(block.name) ? EventType::kAgentCustomToolUse
                                                               : EventType::kAgentToolUse);
          use.name = block.name;
          use.input_json = block.input_json.empty() ? "{}" : block.input_json;
          batch.push_back(std::move(use));
          has_tool_calls = true;
          break;
        }
      }
    }
    flush_text();
    Event end = NewEvent(EventType::kSpanModelRequestEnd);
    end.model_request_start_id = start_id;
    end.is_error = false;
    end.model_usage = turn.usage;
    end.time_to_first_token_us = absl::ToInt64Microseconds(turn.time_to_first_token);
    end.duration_us = absl::ToInt64Microseconds(turn.duration);
    batch.push_back(std::move(end));
    if (!has_tool_calls) {
      Event idle = NewEvent(EventType::kSessionStatusIdle);
      idle.stop_reason.kind = StopReason::Kind::kEndTurn;
      batch.push_back(std::move(idle));
    }
    return Append(std::move(batch));
  }

  absl::Status RunTool(const Event& tool_use, bool recovering) {
    const std::string key = absl::StrCat(session_id_, "/", tool_use.id);
    if (recovering && !IsIdempotentTool(tool_use.name)) {
      // It may or may not have run: running it again could do its effect twice. The model decides.
      std::vector<Event> batch = StartBatch();
      batch.push_back(ToolResultEvent(
          tool_use,
          absl::StrCat("The tool call was interrupted (the worker running it stopped) and its outcome is "
                       "unknown. It was not re-run, because ",
                       tool_use.name, " is not idempotent. Check its effects before trying again."),
          /*is_error=*/true));
      return Append(std::move(batch));
    }
    if (!recovering) {
      std::vector<Event> batch = StartBatch();
      Event& started = batch.emplace_back(NewEvent(EventType::kToolStarted));
      started.tool_use_id = tool_use.id;
      started.name = tool_use.name;
      started.idempotency_key = key;
      RETURN_IF_ERROR(Append(std::move(batch)));
    }
    RETURN_IF_ERROR(RenewLeaseIfDue());
    if (tool_use.name == kSessionHistoryToolName && !agent_.HasHandTool(tool_use.name)) {
      // The harness's own read-only tool: served from the log, no hand involved.
      std::vector<Event> batch = StartBatch();
      ToolResult history = SessionHistory(tool_use.input_json);
      Event& result_event = batch.emplace_back(NewEvent(EventType::kAgentToolResult));
      result_event.tool_use_id = tool_use.id;
      result_event.content = std::move(history.content);
      result_event.is_error = history.is_error;
      RETURN_IF_ERROR(Append(std::move(batch)));
      if (history.is_error) CountError("tool_error");
      return absl::OkStatus();
    }
    ToolCall call{tool_use.name, tool_use.input_json, key};
    std::vector<Event> hand_events;
    absl::StatusOr<ToolResult> result = UnlessInterrupted(
        [&](const CancelToken* cancel) { return h_.hands_->Execute(session_id_, call, cancel, &hand_events); });
    std::vector<Event> batch = StartBatch();
    // What happened to the hand (provisioned, lost) goes in before the result it explains.
    // They get their ids here, so ids keep increasing in log order.
    for (Event& e : hand_events) {
      e.id = NewEvent(e.type).id;
      batch.push_back(std::move(e));
    }
    Event& result_event = batch.emplace_back(NewEvent(EventType::kAgentToolResult));
    result_event.tool_use_id = tool_use.id;
    if (result.ok()) {
      result_event.content = std::move(result->content);
      result_event.is_error = result->is_error;
    } else {
      // The hand could not run the call (it died, or none could be provisioned): a tool error the
      // model can see; the next call gets a fresh hand.
      ContentBlock text;
      text.text = absl::StrCat("The tool could not run: ", result.status().message());
      result_event.content.push_back(std::move(text));
      result_event.is_error = true;
    }
    const bool failed = result_event.is_error.value_or(false);
    RETURN_IF_ERROR(Append(std::move(batch)));
    if (failed) CountError("tool_error");
    return absl::OkStatus();
  }

  // The session_history tool: events [from_seq, from_seq + limit) of this session, one
  // "#<seq> <Managed Agents JSON>" line each, at most kMaxHistoryBytes in all.
  ToolResult SessionHistory(const std::string& input_json) {
    static constexpr size_t kMaxHistoryBytes = 64 * 1024;
    auto error = [](std::string text) {
      ToolResult r;
      ContentBlock block;
      block.text = std::move(text);
      r.content.push_back(std::move(block));
      r.is_error = true;
      return r;
    };
    simdjson::dom::parser parser;
    simdjson::dom::object input;
    if (parser.parse(input_json).get(input) != simdjson::SUCCESS) {
      return error("session_history: the input is not a JSON object");
    }
    int64_t from = 0;
    int64_t limit = 20;
    if (input["from_seq"].get(from) != simdjson::SUCCESS || from < 1) {
      return error("session_history: \"from_seq\" must be an integer >= 1");
    }
    if (simdjson::dom::element value; input["limit"].get(value) == simdjson::SUCCESS) {
      if (value.get(limit) != simdjson::SUCCESS || limit < 1 || limit > 50) {
        return error("session_history: \"limit\" must be an integer from 1 to 50");
      }
    }
    ReadOptions read;
    read.from_seq = static_cast<uint64_t>(from);
    read.limit = static_cast<size_t>(limit);
    absl::StatusOr<std::vector<Event>> events = h_.log_->Read(session_id_, read);
    if (!events.ok()) return error(absl::StrCat("session_history: reading the log failed: ", events.status().message()));
    ToolResult result;
    ContentBlock text;
    if (events->empty()) text.text = absl::StrCat("No events from #", from, ": the log ends at #", events_.back().seq);
    for (const Event& e : *events) {
      std::string line = absl::StrCat("#", e.seq, " ", EncodeEventJson(e), "\n");
      if (text.text.size() + line.size() > kMaxHistoryBytes) {
        absl::StrAppend(&text.text, "[stopped before #", e.seq, ": output limit; continue from there]\n");
        break;
      }
      text.text += line;
    }
    result.content.push_back(std::move(text));
    return result;
  }

  // --- helpers ------------------------------------------------------------------------------------

  bool Stopping() const { return h_.options_.stop != nullptr && h_.options_.stop->cancelled(); }

  const HarnessMetrics* metrics() const { return h_.options_.metrics; }

  void CountError(std::string_view type) const {
    if (metrics() != nullptr) metrics()->errors->WithLabels({type}).Increment();
  }

  Event NewEvent(EventType type) const {
    Event e;
    e.type = type;
    e.id = NewEventId(h_.options_.clock->Now());
    return e;
  }

  Event ToolResultEvent(const Event& tool_use, std::string text, bool is_error) const {
    // Also for a custom tool the harness closes itself (interrupt): an agent.tool_result, so the log
    // says the result came from the agent side, not from the client.
    Event e = NewEvent(EventType::kAgentToolResult);
    e.tool_use_id = tool_use.id;
    ContentBlock block;
    block.text = std::move(text);
    e.content.push_back(std::move(block));
    e.is_error = is_error;
    return e;
  }

  // A new batch, opened with session.status_running when the session is not running yet. Callers
  // add their events after, so event ids (which increase as they are made) follow the log's order.
  std::vector<Event> StartBatch() const {
    std::vector<Event> batch;
    if (!running_) batch.push_back(NewEvent(EventType::kSessionStatusRunning));
    return batch;
  }

  // Appends at the expected seq under the lease. A seq conflict means a client event (a message, an
  // interrupt) landed first: read it and append after it. A lost lease ends the run with Aborted.
  absl::Status Append(std::vector<Event> batch) {
    if (pending_marker_) {
      batch.insert(batch.begin(), *std::move(pending_marker_));
      pending_marker_.reset();
    }
    if (h_.options_.redact) {
      for (Event& e : batch) h_.options_.redact(e);
    }
    while (true) {
      const uint64_t next = events_.empty() ? 1 : events_.back().seq + 1;
      const SteadyClock::time_point start = SteadyClock::now();
      absl::StatusOr<AppendResult> r = h_.log_->Append(session_id_, batch, next, lease_.epoch);
      if (metrics() != nullptr) metrics()->append->ObserveDuration(Since(start));
      if (r.ok()) {
        for (size_t i = 0; i < batch.size(); ++i) {
          batch[i].seq = r->first_seq + i;
          // As stored, so events_ equals what a Read returns (the replay cache keeps it for the next wake).
          if (!batch[i].processed_at) batch[i].processed_at = r->processed_at;
          Track(batch[i]);
          if (batch[i].type == EventType::kSessionStatusIdle) EndTurn();
          events_.push_back(std::move(batch[i]));
        }
        return absl::OkStatus();
      }
      if (!absl::IsAborted(r.status())) return r.status();
      ASSIGN_OR_RETURN(Lease current, h_.log_->GetLease(session_id_));
      if (current.epoch != lease_.epoch) {
        return absl::AbortedError(absl::StrCat("worker ", h_.options_.worker_id, " lost the lease on ",
                                               ToAbsl(session_id_), " to ", current.owner, ": stopping"));
      }
      const size_t known = events_.size();
      RETURN_IF_ERROR(CatchUp());
      for (Event& e : batch) e.seq = 0;
      // A user.message that landed meanwhile starts a new turn: the turn must not be declared over
      // after it (an end_turn idle would settle the message unanswered), so the harness goes on and
      // asks the model again.
      const bool new_message = std::any_of(events_.begin() + static_cast<std::ptrdiff_t>(known), events_.end(),
                                           [](const Event& e) { return e.type == EventType::kUserMessage; });
      if (new_message) {
        std::erase_if(batch, [](const Event& e) {
          return e.type == EventType::kSessionStatusIdle && e.stop_reason.kind == StopReason::Kind::kEndTurn;
        });
        if (batch.empty()) return absl::OkStatus();
      }
    }
  }

  // The session's events so far: the replay cache's copy and what was appended since, when the log
  // still holds the cached last event under its seq; else the whole log.
  absl::Status Replay() {
    if (h_.options_.replay_cache != nullptr) events_ = h_.options_.replay_cache->Take(session_id_);
    size_t from_cache = 0;
    if (!events_.empty()) {
      ReadOptions from_last;
      from_last.from_seq = events_.back().seq;
      ASSIGN_OR_RETURN(std::vector<Event> tail, h_.log_->Read(session_id_, from_last));
      if (!tail.empty() && tail.front().id == events_.back().id) {
        from_cache = events_.size();
        events_.insert(events_.end(), std::make_move_iterator(tail.begin() + 1), std::make_move_iterator(tail.end()));
      } else {
        events_.clear();
      }
    }
    if (events_.empty()) {
      ASSIGN_OR_RETURN(events_, h_.log_->Read(session_id_));
    }
    if (metrics() != nullptr) {
      metrics()->events_from_cache->Increment(from_cache);
      metrics()->events_from_log->Increment(events_.size() - from_cache);
    }
    for (const Event& e : events_) Track(e);
    return absl::OkStatus();
  }

  // Reads what others (clients) appended since the last event we know.
  absl::Status CatchUp() {
    ReadOptions from;
    from.from_seq = events_.empty() ? 1 : events_.back().seq + 1;
    ASSIGN_OR_RETURN(std::vector<Event> fresh, h_.log_->Read(session_id_, from));
    for (Event& e : fresh) {
      Track(e);
      events_.push_back(std::move(e));
    }
    return absl::OkStatus();
  }

  // The session went idle by this harness' append: the turn under way, if any, is over.
  void EndTurn() {
    if (turn_start_ && metrics() != nullptr) metrics()->turn->ObserveDuration(Since(*turn_start_));
    turn_start_.reset();
  }

  void Track(const Event& e) {
    if (e.type == EventType::kSessionStatusRunning) running_ = true;
    if (e.type == EventType::kSessionStatusIdle || e.type == EventType::kSessionStatusTerminated) running_ = false;
  }

  absl::Status RenewLeaseIfDue() {
    const absl::Time now = h_.options_.clock->Now();
    if (lease_.expires_at - now > h_.options_.lease_ttl / 2) return absl::OkStatus();
    ASSIGN_OR_RETURN(lease_, h_.log_->RenewLease(session_id_, lease_.epoch, h_.options_.lease_ttl));
    return absl::OkStatus();
  }

  absl::Duration Jittered(absl::Duration d) {
    // Full jitter in [d/2, d]: spreads retries of many sessions without a shared clock.
    std::uniform_real_distribution<double> fraction(0.5, 1.0);
    return d * fraction(rng_);
  }

  // The Managed Agents error types a session.error may carry.
  static std::string MapUpstreamType(const std::string& upstream) {
    if (upstream == "overloaded_error") return "model_overloaded_error";
    if (upstream == "rate_limit_error") return "model_rate_limited_error";
    if (upstream == "model_request_failed_error" || upstream == "api_error") return "model_request_failed_error";
    return "unknown_error";
  }

  const Harness& h_;
  const std::string session_id_;
  const AgentConfig& agent_;
  Lease lease_;
  std::optional<Event> pending_marker_;  // wake.harness_woke, until the first append
  std::vector<Event> events_;
  bool running_ = false;
  // For metrics: when this wake began, when the turn under way began, and whether the wake's first
  // step is a model call not yet made (then its wake latency is still to be observed).
  SteadyClock::time_point wake_start_;
  std::optional<SteadyClock::time_point> turn_start_;
  bool measure_wake_ = false;
  std::minstd_rand rng_{JitterSeed()};

  // The wake's interrupt watcher (StartWatching): the log from the first watched step on.
  struct Watch {
    std::unique_ptr<Subscription> sub;
    std::thread thread;
    Mutex mu;
    CancelToken* step ABSL_GUARDED_BY(mu) = nullptr;  // the step under way, if any
    uint64_t step_from ABSL_GUARDED_BY(mu) = 0;       // interrupts from this seq on cancel it
    uint64_t last_interrupt ABSL_GUARDED_BY(mu) = 0;  // seq of the latest user.interrupt seen
  };
  std::unique_ptr<Watch> watch_;
};

absl::Status Harness::Wake(std::string_view session_id, const AgentConfig& agent) {
  Run run(*this, session_id, agent);
  return run.Go();
}

}  // namespace wake
