#pragma once
// Harness: the stateless loop that drives one session. Wake(session) takes the session's lease,
// replays its log, and acts (DecideNextAction) until the session is idle or waits for its client:
// calls the model, appends what it said, runs tool calls on the session's hand, appends results.
//
// Everything it knows comes from the log, so any worker can wake any session after a crash
// (DESIGN.md "Rules that make crash recovery correct"). Every append carries the expected next seq and
// the lease epoch; when another worker has taken the lease, Wake returns Aborted at once. With a
// replay cache (HarnessOptions::replay_cache) a wake starts from the events an earlier wake kept and
// reads only what was appended since; the log still decides (harness/replay_cache.h).
//
// The first append of a Wake carries wake.harness_woke (worker id, lease epoch); a Wake that finds
// nothing to do writes nothing.
// What a model turn writes, and why in this shape:
//   [session.status_running]            when the session was not running
//   span.model_request_start            before the request (a start with no end = retry it, rule 4)
//   agent.message, agent.tool_use...,   the turn's outputs, appended together with the span's end
//   span.model_request_end              so a crash never leaves half a turn in the log
//   [session.status_idle end_turn]      when the model is done and no tool call is pending
// A tool call writes wake.tool_started before it runs (rule 3) and agent.tool_result after.
// Retryable model errors write session.status_rescheduled and back off (exponential, jittered,
// honouring retry-after); after the last attempt: session.error and idle with retries_exhausted.
//
// Ownership: the log, brain, hands and clock are borrowed and must outlive the Harness.
// Thread safety: Wake may run concurrently for different sessions; the lease keeps two workers (in
// one process or several) off the same session.

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "harness/agent_config.h"
#include "harness/brain.h"
#include "harness/replay_cache.h"
#include "sandbox/hand.h"
#include "storage/session_log.h"

namespace wake {

// What a Harness measures (HarnessOptions::metrics): made once per registry by Register, then only
// observed into (lock-free). Durations are on the steady clock, never the injected Clock.
//   wake_model_ttft_seconds       model request sent -> first content (ModelTurn::time_to_first_token)
//   wake_model_request_seconds    model request sent -> end of stream (ModelTurn::duration)
//                                 (both: model calls that produced a turn; what span.model_request_end records)
//   wake_turn_seconds             the wake picking up a client event (or, later in the same wake, the
//                                 next step after an idle) -> the harness appending session.status_idle
//   wake_wake_seconds             Wake called -> the model request sent, when a wake's first step is a
//                                 model call: the lease, the log read, the context build and the
//                                 span.model_request_start append
//   wake_log_append_seconds{caller="harness"}   each SessionLog::Append the harness makes
//   wake_errors_total{type}       session.error by its error type; "tool_error" for a tool call whose
//                                 result is an error (the tool failed, or its hand could not run it)
struct HarnessMetrics {
  Histogram* ttft = nullptr;
  Histogram* model_request = nullptr;
  Histogram* turn = nullptr;
  Histogram* wake = nullptr;
  Histogram* append = nullptr;
  CounterFamily* errors = nullptr;
  // The events wakes started from, by where they came from: the replay cache or the log. A high share
  // read from the log on long sessions says the cache is too small (or off).
  Counter* events_from_cache = nullptr;
  Counter* events_from_log = nullptr;

  static HarnessMetrics Register(MetricsRegistry& registry);
};

struct HarnessOptions {
  std::string worker_id = "harness";
  absl::Duration lease_ttl = absl::Seconds(60);
  // Model attempts per turn, the first included, before the session goes idle with retries_exhausted.
  int max_model_attempts = 4;
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  Clock* clock = Clock::Real();  // not owned
  // Applied to every event before it is appended (the engine masks vault secrets with it: a tool
  // that prints a secret leaves "[secret:NAME]" in the log). May be empty.
  std::function<void(Event&)> redact;
  // Compaction: before a model call whose request is estimated (at four bytes a token, over its
  // canonical encoding) above this many tokens, the harness first asks the brain to summarize the
  // conversation and appends agent.thread_context_compacted with the summary; the context builder
  // then starts from it, and the model gets the session_history tool. 0: never compact.
  size_t compact_above_tokens = 0;
  // Graceful stop (not owned; may be null): once fired, Wake returns OK at the next safe point (between
  // steps; a model stream or tool call in flight is cancelled and its span or result recorded as
  // failed), leaving the session for the next wake to carry on.
  const CancelToken* stop = nullptr;
  // Where to record metrics (not owned; must outlive the Harness). Null: none are recorded.
  const HarnessMetrics* metrics = nullptr;
  // Where a wake keeps its session's events for the next one (not owned; may be shared by every
  // worker; must outlive the Harness). Null: every wake replays the whole log.
  ReplayCache* replay_cache = nullptr;
};

class Harness {
 public:
  Harness(SessionLog* log, Brain* brain, SessionHands* hands, HarnessOptions options);

  // Drives `session_id` until it is idle or waiting for its client; OK then. Aborted when another
  // worker holds the lease or takes it meanwhile; the log's error when an append fails.
  absl::Status Wake(std::string_view session_id, const AgentConfig& agent);

 private:
  class Run;

  SessionLog* const log_;
  Brain* const brain_;
  SessionHands* const hands_;
  const HarnessOptions options_;
};

}  // namespace wake
