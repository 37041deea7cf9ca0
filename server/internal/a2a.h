#pragma once
// A2A (Agent2Agent) for sessions: every session is an agent a platform can address like any other.
//
//   GET  /a2a/{session_id}/.well-known/agent-card.json   the agent card
//   POST /a2a/{session_id}                               JSON-RPC 2.0
//
// Two protocol versions are served on the same URL, told apart by the method name (the names are
// disjoint, so no A2A-Version header is needed): A2A v1.0 (SendMessage, SendStreamingMessage,
// GetTask, CancelTask, SubscribeToTask; proto-JSON shapes: {"task": ...} results, "ROLE_USER",
// "TASK_STATE_COMPLETED", parts {"text": ...}) as npm @a2a-js/sdk 1.x speaks it by default, and
// v0.3 (message/send, message/stream, tasks/get, tasks/cancel, tasks/resubscribe; "kind"-tagged
// shapes, "completed", final=true) as older clients and @a2a-js/sdk's compat layer speak it. (The
// brief named v0.3's methods; the SDK the tests use speaks v1.0 first, so both are served.) The card
// lists both interfaces, and also carries the v0.3 top-level `url`/`protocolVersion`/
// `preferredTransport` so a v0.3-only client finds it. The card lives under the session's path
// (there is one agent per session), so a client is given `http://host/a2a/{session_id}/` as its
// base URL (the trailing slash makes the relative `.well-known/agent-card.json` resolve below it).
//
// Mapping: the agent's context is the session (contextId = session id). An incoming message's text
// parts become one user.message; its task is that user.message (taskId = its event id), and the task
// runs until the session next goes idle (or is terminated): completed with the agent.message texts
// of the turn as the reply (the status message and a "reply" artifact), failed with the error of a
// session.error, canceled after a user.interrupt (tasks/cancel), input-required when the turn stops
// for a tool confirmation or a custom tool result (which A2A cannot carry; the status message says
// to answer through /v1/sessions/{id}/events). Non-text parts are refused (-32005).
//
// message/send waits for the turn's end (up to 5 minutes; then it answers the task as it stands,
// working, and tasks/get follows it), as does tasks/cancel after its user.interrupt; neither holds
// a thread meanwhile (they are one-response EventStreams, api.h). The streams (message/stream, and
// tasks/resubscribe for a task that has not ended) are SSE `data:` lines, each a JSON-RPC response
// with the request's id: the task, a working status update, each agent.message's text as an
// artifact update as it is appended, then the final status (v0.3: final=true), after which the
// stream ends.
//
// A task is a turn of the session, so a message naming a taskId (to continue one) is refused: a turn
// waiting for a tool confirmation or a custom tool result is answered through the session API.
//
// Errors are JSON-RPC errors with HTTP 200: -32700 unparsable JSON, -32600 not a JSON-RPC request,
// -32601 unknown method, -32602 bad params, -32001 no such task, -32002 the task has ended and
// cannot be canceled, -32004 a subscription to a task that has ended, -32005 a part that is not
// text, -32603 the engine's trouble (e.g. an archived session, too many open streams). Nothing is
// appended on any error. An unknown session is HTTP 404 (there is no agent at that URL); a missing
// or wrong API key is 401, as for /v1.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "server/internal/api.h"

namespace wake::server_internal {

enum class A2aDialect { kV03, kV10 };
enum class A2aMethod { kSendMessage, kStreamMessage, kGetTask, kCancelTask, kSubscribe };

// JSON-RPC 2.0 and A2A error codes.
inline constexpr int kA2aParseError = -32700;
inline constexpr int kA2aInvalidRequest = -32600;
inline constexpr int kA2aMethodNotFound = -32601;
inline constexpr int kA2aInvalidParams = -32602;
inline constexpr int kA2aInternalError = -32603;
inline constexpr int kA2aTaskNotFound = -32001;
inline constexpr int kA2aTaskNotCancelable = -32002;
inline constexpr int kA2aUnsupportedOperation = -32004;
inline constexpr int kA2aContentTypeNotSupported = -32005;

struct A2aError {
  int code = kA2aInternalError;
  std::string message;
};

// One decoded JSON-RPC request.
struct A2aCall {
  std::string id_json = "null";  // the request's id, as JSON text, echoed in the response
  A2aDialect dialect = A2aDialect::kV10;
  A2aMethod method = A2aMethod::kSendMessage;
  std::vector<std::string> texts;   // send/stream: the message's text parts, in order
  bool return_immediately = false;  // send: v1.0 configuration.returnImmediately / v0.3 !blocking
  std::string task_id;              // get/cancel/subscribe
};

// Decodes a JSON-RPC request for the agent of `session_id` (a message naming another contextId is
// refused). On error, `error` is set and `call.id_json` holds the id when one could be read.
struct A2aDecoded {
  A2aCall call;
  std::optional<A2aError> error;
};
A2aDecoded DecodeA2aRequest(std::string_view body, std::string_view session_id);

// {"jsonrpc":"2.0","id":...,"result":<result_json>} and {"jsonrpc":"2.0","id":...,"error":{...}}.
std::string A2aResult(std::string_view id_json, std::string_view result_json);
std::string A2aErrorResponse(std::string_view id_json, const A2aError& error);

enum class A2aTaskState { kSubmitted, kWorking, kCompleted, kFailed, kCanceled, kInputRequired };

// A task (a user.message's turn) as its events show it. Apply() the events after the user.message
// in log order; once ended(), later events are ignored.
class A2aTurn {
 public:
  A2aTurn(std::string session_id, const Event& user_message);

  void Apply(const Event& e);
  bool ended() const { return ended_; }

  const std::string& task_id() const { return task_id_; }
  const std::string& context_id() const { return context_id_; }
  A2aTaskState state() const { return state_; }
  const std::vector<std::string>& reply() const { return reply_; }

  // The Task object (v1.0: the bare Task; v0.3: with "kind":"task").
  std::string TaskJson(A2aDialect dialect) const;
  // The status object {"state":...,"message":...,"timestamp":...}.
  std::string StatusJson(A2aDialect dialect) const;

 private:
  std::string task_id_, context_id_;
  A2aTaskState state_ = A2aTaskState::kSubmitted;
  bool ended_ = false;
  bool interrupted_ = false;
  std::vector<std::string> reply_;  // the text of each agent.message
  std::string reply_id_;            // the last agent.message's id
  std::string error_;               // the last session.error's message
  std::string note_;                // why the turn stopped, when not completed
  std::string note_id_;             // the event that said so
  std::optional<absl::Time> timestamp_;
};

// The agent card of a session whose agent is `agent`, served at `url` (the JSON-RPC endpoint).
std::string A2aAgentCard(const SessionInfo& session, const Agent* agent, std::string_view url,
                         bool requires_api_key);

// The endpoint: decodes, calls the Engine, encodes. Thread-safe.
class A2aEndpoint {
 public:
  A2aEndpoint(Engine* engine, size_t max_streams, std::shared_ptr<std::atomic<size_t>> open_streams,
              bool requires_api_key);

  // GET .../.well-known/agent-card.json. `request` gives the Host the card's URL is built from.
  absl::StatusOr<ApiResponse> Card(const std::string& session_id, const ApiRequest& request);
  // POST /a2a/{session_id}. NotFound for an unknown session; every other problem is a JSON-RPC error.
  absl::StatusOr<ApiResponse> Rpc(const std::string& session_id, const ApiRequest& request);

 private:
  ApiResponse Send(const std::string& session_id, const A2aCall& call);
  ApiResponse Stream(const std::string& session_id, const A2aCall& call);
  ApiResponse GetTask(const std::string& session_id, const A2aCall& call);
  ApiResponse CancelTask(const std::string& session_id, const A2aCall& call);
  ApiResponse Subscribe(const std::string& session_id, const A2aCall& call);
  // Opens an SSE stream of `turn` from `from_seq` (the task's user.message, or with `turn` given,
  // the first event after those it has seen). The caller has taken the stream's place.
  ApiResponse OpenStream(const std::string& session_id, const A2aCall& call, uint64_t from_seq,
                         std::optional<A2aTurn> turn);
  // Answers with `turn` once it ends (following it from `from_seq`), or as it stands after
  // kMaxSendWait. The caller has taken the stream's place.
  ApiResponse AnswerWhenEnded(const std::string& session_id, const A2aCall& call, uint64_t from_seq,
                              A2aTurn turn);
  // Takes a place under max_streams (false: all are taken).
  bool TakeStreamPlace();
  A2aError TooManyStreams() const;
  // The task `task_id` of the session as its events show it so far; nullopt when there is none.
  struct FoundTask {
    A2aTurn turn;
    uint64_t next_seq = 0;  // the first event after those applied to `turn`
  };
  absl::StatusOr<std::optional<FoundTask>> FindTask(const std::string& session_id, std::string_view task_id);

  Engine* const engine_;
  const size_t max_streams_;
  const std::shared_ptr<std::atomic<size_t>> open_streams_;
  const bool requires_api_key_;
};

}  // namespace wake::server_internal
