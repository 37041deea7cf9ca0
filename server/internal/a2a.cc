#include "server/internal/a2a.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "server/internal/json.h"
#include "simdjson.h"

namespace wake::server_internal {
namespace {

namespace dom = simdjson::dom;

// How long message/send follows its turn before it answers with the task as it stands (working);
// the client then follows it with tasks/get, or uses message/stream, which has no such bound.
constexpr absl::Duration kMaxSendWait = absl::Minutes(5);
// Events read at a time (waiting for a turn, looking a task up).
constexpr size_t kReadBatch = 256;
// The id of the artifact that holds the agent's reply in every task.
constexpr char kReplyArtifactId[] = "reply";

struct MethodName {
  std::string_view name;
  A2aDialect dialect;
  A2aMethod method;
};
constexpr MethodName kMethods[] = {
    {"SendMessage", A2aDialect::kV10, A2aMethod::kSendMessage},
    {"SendStreamingMessage", A2aDialect::kV10, A2aMethod::kStreamMessage},
    {"GetTask", A2aDialect::kV10, A2aMethod::kGetTask},
    {"CancelTask", A2aDialect::kV10, A2aMethod::kCancelTask},
    {"SubscribeToTask", A2aDialect::kV10, A2aMethod::kSubscribe},
    {"message/send", A2aDialect::kV03, A2aMethod::kSendMessage},
    {"message/stream", A2aDialect::kV03, A2aMethod::kStreamMessage},
    {"tasks/get", A2aDialect::kV03, A2aMethod::kGetTask},
    {"tasks/cancel", A2aDialect::kV03, A2aMethod::kCancelTask},
    {"tasks/resubscribe", A2aDialect::kV03, A2aMethod::kSubscribe},
};

std::string_view StateName(A2aTaskState state, A2aDialect dialect) {
  const bool v10 = dialect == A2aDialect::kV10;
  switch (state) {
    case A2aTaskState::kSubmitted: return v10 ? "TASK_STATE_SUBMITTED" : "submitted";
    case A2aTaskState::kWorking: return v10 ? "TASK_STATE_WORKING" : "working";
    case A2aTaskState::kCompleted: return v10 ? "TASK_STATE_COMPLETED" : "completed";
    case A2aTaskState::kFailed: return v10 ? "TASK_STATE_FAILED" : "failed";
    case A2aTaskState::kCanceled: return v10 ? "TASK_STATE_CANCELED" : "canceled";
    case A2aTaskState::kInputRequired: return v10 ? "TASK_STATE_INPUT_REQUIRED" : "input-required";
  }
  return "";
}

void WriteTextParts(JsonWriter& out, const std::vector<std::string>& texts, A2aDialect dialect) {
  out.BeginArray();
  for (const std::string& text : texts) {
    out.BeginObject();
    if (dialect == A2aDialect::kV03) out.Key("kind").String("text");
    out.Key("text").String(text).EndObject();
  }
  out.EndArray();
}

// An agent's message within a task.
void WriteAgentMessage(JsonWriter& out, std::string_view message_id, const std::vector<std::string>& texts,
                       std::string_view task_id, std::string_view context_id, A2aDialect dialect) {
  out.BeginObject();
  if (dialect == A2aDialect::kV03) out.Key("kind").String("message");
  out.Key("messageId").String(message_id);
  out.Key("role").String(dialect == A2aDialect::kV10 ? "ROLE_AGENT" : "agent");
  out.Key("parts");
  WriteTextParts(out, texts, dialect);
  out.Key("taskId").String(task_id).Key("contextId").String(context_id);
  out.EndObject();
}

void WriteReplyArtifact(JsonWriter& out, const std::vector<std::string>& texts, A2aDialect dialect) {
  out.BeginObject().Key("artifactId").String(kReplyArtifactId).Key("name").String("reply").Key("parts");
  WriteTextParts(out, texts, dialect);
  out.EndObject();
}

A2aError ErrorFor(const absl::Status& status) {
  const int code = absl::IsInvalidArgument(status) ? kA2aInvalidParams : kA2aInternalError;
  return A2aError{code, std::string(FromAbsl(status.message()))};
}

ApiResponse RpcOk(std::string body) {
  ApiResponse response;
  response.body = std::move(body);
  return response;
}

// A v1.0 result names its payload ({"task": ...}); a v0.3 one is the payload, tagged by `kind`.
std::string Wrapped(std::string_view v10_field, std::string json, A2aDialect dialect) {
  if (dialect == A2aDialect::kV03) return json;
  return absl::StrCat("{\"", ToAbsl(v10_field), "\":", json, "}");
}

// The frames of message/stream and tasks/resubscribe: JSON-RPC responses (all with the request's
// id) as SSE `data:` lines. The task as it stands (for message/stream, the subscription starts at
// the task's user.message: submitted), a working status update, each agent.message's text as an
// artifact update, and the final status, after which the stream ends.
class A2aStreamFramer final : public StreamFramer {
 public:
  // `turn`: the task as seen so far (a resubscription), or nullopt when the first event is its
  // user.message.
  A2aStreamFramer(std::string id_json, A2aDialect dialect, std::string session_id, std::optional<A2aTurn> turn)
      : id_json_(std::move(id_json)),
        dialect_(dialect),
        session_id_(std::move(session_id)),
        turn_(std::move(turn)),
        working_sent_(turn_ && turn_->state() != A2aTaskState::kSubmitted) {}

  std::string Frames(const std::vector<Event>& events, bool* ended) override {
    std::string frames;
    // The first call comes as the stream opens, with what is there already (maybe nothing).
    if (turn_ && !opened_) {
      opened_ = true;
      Add(frames, Wrapped("task", turn_->TaskJson(dialect_), dialect_));
    }
    for (const Event& e : events) {
      if (*ended) break;
      if (!turn_) {
        turn_.emplace(session_id_, e);
        opened_ = true;
        Add(frames, Wrapped("task", turn_->TaskJson(dialect_), dialect_));
        continue;
      }
      const size_t replies = turn_->reply().size();
      turn_->Apply(e);
      if (!working_sent_ && !turn_->ended() && turn_->state() != A2aTaskState::kSubmitted) {
        working_sent_ = true;
        Add(frames, StatusUpdate(/*final=*/false));
      }
      if (turn_->reply().size() > replies) {
        JsonWriter out;
        out.BeginObject();
        if (dialect_ == A2aDialect::kV03) out.Key("kind").String("artifact-update");
        out.Key("taskId").String(turn_->task_id()).Key("contextId").String(turn_->context_id());
        out.Key("artifact");
        WriteReplyArtifact(out, {turn_->reply().back()}, dialect_);
        out.Key("append").Bool(replies > 0).Key("lastChunk").Bool(false).EndObject();
        Add(frames, Wrapped("artifactUpdate", out.Take(), dialect_));
      }
      if (turn_->ended()) {
        Add(frames, StatusUpdate(/*final=*/true));
        *ended = true;
      }
    }
    return frames;
  }

 private:
  std::string StatusUpdate(bool final) const {
    JsonWriter out;
    out.BeginObject();
    if (dialect_ == A2aDialect::kV03) out.Key("kind").String("status-update");
    out.Key("taskId").String(turn_->task_id()).Key("contextId").String(turn_->context_id());
    out.Key("status").Raw(turn_->StatusJson(dialect_));
    // v1.0 dropped `final`: its stream simply ends.
    if (dialect_ == A2aDialect::kV03) out.Key("final").Bool(final);
    out.EndObject();
    return Wrapped("statusUpdate", out.Take(), dialect_);
  }

  void Add(std::string& frames, std::string_view result) const {
    absl::StrAppend(&frames, "data: ", A2aResult(id_json_, result), "\n\n");
  }

  std::string ErrorFrame(const absl::Status& status) override {
    return absl::StrCat("data: ", A2aErrorResponse(id_json_, ErrorFor(status)), "\n\n");
  }

  const std::string id_json_;
  const A2aDialect dialect_;
  const std::string session_id_;
  std::optional<A2aTurn> turn_;
  bool opened_ = false;
  bool working_sent_;
};

// The answer of message/send and tasks/cancel, a one-response stream: the task once its turn has
// ended (or as it stands when the wait runs out).
class A2aAnswerFramer final : public StreamFramer {
 public:
  // `wrap`: the v1.0 SendMessage result names its payload ({"task": ...}); CancelTask's is the task.
  A2aAnswerFramer(std::string id_json, A2aDialect dialect, A2aTurn turn, bool wrap)
      : id_json_(std::move(id_json)), dialect_(dialect), turn_(std::move(turn)), wrap_(wrap) {}

  std::string Frames(const std::vector<Event>& events, bool* ended) override {
    for (const Event& e : events) turn_.Apply(e);
    if (!turn_.ended()) return "";
    *ended = true;
    return Unfinished();
  }
  std::string Unfinished() override {
    std::string task = turn_.TaskJson(dialect_);
    return A2aResult(id_json_, wrap_ ? Wrapped("task", std::move(task), dialect_) : task);
  }
  std::string ErrorFrame(const absl::Status& status) override { return A2aErrorResponse(id_json_, ErrorFor(status)); }

 private:
  const std::string id_json_;
  const A2aDialect dialect_;
  A2aTurn turn_;
  const bool wrap_;
};

}  // namespace

// --- requests ---------------------------------------------------------------------------------------

A2aDecoded DecodeA2aRequest(std::string_view body, std::string_view session_id) {
  A2aDecoded out;
  auto fail = [&](int code, std::string message) {
    out.error = A2aError{code, std::move(message)};
    return out;
  };
  dom::parser parser;
  dom::element root;
  if (auto error = parser.parse(body.data(), body.size()).get(root); error) {
    return fail(kA2aParseError, absl::StrCat("the body is not valid JSON: ", simdjson::error_message(error)));
  }
  dom::object request;
  if (root.get_object().get(request)) return fail(kA2aInvalidRequest, "a JSON-RPC request is a JSON object");
  dom::element id;
  if (request["id"].get(id) == simdjson::SUCCESS) {
    if (!id.is_string() && !id.is_int64() && !id.is_uint64() && !id.is_null()) {
      return fail(kA2aInvalidRequest, "id: must be a string, an integer or null");
    }
    out.call.id_json = ToJsonText(id);
  }
  std::string_view version;
  if (request["jsonrpc"].get_string().get(version) || version != "2.0") {
    return fail(kA2aInvalidRequest, "jsonrpc: must be \"2.0\"");
  }
  std::string_view method;
  if (request["method"].get_string().get(method)) return fail(kA2aInvalidRequest, "method: must be a string");
  const MethodName* known = nullptr;
  for (const MethodName& m : kMethods) {
    if (m.name == method) known = &m;
  }
  if (known == nullptr) {
    return fail(kA2aMethodNotFound,
                absl::StrCat("method not found: ", ToAbsl(method),
                             " (this agent serves SendMessage, SendStreamingMessage, GetTask, CancelTask, "
                             "SubscribeToTask and their v0.3 names message/send, message/stream, tasks/get, "
                             "tasks/cancel, tasks/resubscribe)"));
  }
  A2aCall& call = out.call;
  call.dialect = known->dialect;
  call.method = known->method;
  dom::object params;
  if (request["params"].get_object().get(params)) return fail(kA2aInvalidParams, "params: must be an object");

  if (call.method == A2aMethod::kGetTask || call.method == A2aMethod::kCancelTask ||
      call.method == A2aMethod::kSubscribe) {
    std::string_view task_id;
    if (params["id"].get_string().get(task_id) || task_id.empty()) {
      return fail(kA2aInvalidParams, "params.id: must be the task's id");
    }
    call.task_id = std::string(task_id);
    return out;
  }

  dom::object message;
  if (params["message"].get_object().get(message)) return fail(kA2aInvalidParams, "params.message: must be an object");
  std::string_view role;
  if (message["role"].get_string().get(role) || (role != "user" && role != "ROLE_USER")) {
    return fail(kA2aInvalidParams, "params.message.role: must be the user's (\"ROLE_USER\", or \"user\" in v0.3)");
  }
  std::string_view context_id;
  if (message["contextId"].get_string().get(context_id) == simdjson::SUCCESS && !context_id.empty() &&
      context_id != session_id) {
    return fail(kA2aInvalidParams, absl::StrCat("params.message.contextId: this agent's only context is its session ",
                                                ToAbsl(session_id), ", not ", ToAbsl(context_id)));
  }
  std::string_view task_id;
  if (message["taskId"].get_string().get(task_id) == simdjson::SUCCESS && !task_id.empty()) {
    // A task here is one turn of the session; a message always starts the next one. A turn waiting
    // for a tool confirmation or a custom tool result is answered through the session API.
    return fail(kA2aInvalidParams,
                absl::StrCat("params.message.taskId: every message starts a new task of this session; task ",
                             ToAbsl(task_id), " cannot be continued over A2A"));
  }
  dom::array parts;
  if (message["parts"].get_array().get(parts)) return fail(kA2aInvalidParams, "params.message.parts: must be an array");
  size_t index = 0;
  for (dom::element part : parts) {
    const std::string where = absl::StrCat("params.message.parts[", index++, "]");
    dom::object object;
    if (part.get_object().get(object)) return fail(kA2aInvalidParams, absl::StrCat(where, ": must be an object"));
    std::string_view kind;
    const bool has_kind = object["kind"].get_string().get(kind) == simdjson::SUCCESS;
    std::string_view text;
    if ((!has_kind || kind == "text") && object["text"].get_string().get(text) == simdjson::SUCCESS) {
      call.texts.emplace_back(text);
      continue;
    }
    for (std::string_view other : {"file", "data", "raw", "url"}) {
      if (object[other].error() == simdjson::SUCCESS || kind == other) {
        return fail(kA2aContentTypeNotSupported,
                    absl::StrCat(where, ": this agent takes text parts only, not ", ToAbsl(other)));
      }
    }
    return fail(kA2aInvalidParams, absl::StrCat(where, ": must be a text part"));
  }
  if (call.texts.empty()) return fail(kA2aInvalidParams, "params.message.parts: must hold at least one text part");

  dom::object configuration;
  if (params["configuration"].get_object().get(configuration) == simdjson::SUCCESS) {
    bool flag = false;
    if (configuration["returnImmediately"].get_bool().get(flag) == simdjson::SUCCESS) call.return_immediately = flag;
    if (configuration["blocking"].get_bool().get(flag) == simdjson::SUCCESS) call.return_immediately = !flag;
  }
  return out;
}

std::string A2aResult(std::string_view id_json, std::string_view result_json) {
  return absl::StrCat("{\"jsonrpc\":\"2.0\",\"id\":", ToAbsl(id_json), ",\"result\":", ToAbsl(result_json), "}");
}

std::string A2aErrorResponse(std::string_view id_json, const A2aError& error) {
  JsonWriter out;
  out.BeginObject().Key("jsonrpc").String("2.0").Key("id").Raw(id_json).Key("error").BeginObject();
  out.Key("code").Int(error.code).Key("message").String(error.message).EndObject().EndObject();
  return out.Take();
}

// --- tasks ------------------------------------------------------------------------------------------

A2aTurn::A2aTurn(std::string session_id, const Event& user_message)
    : task_id_(user_message.id), context_id_(std::move(session_id)), timestamp_(user_message.processed_at) {}

void A2aTurn::Apply(const Event& e) {
  if (ended_) return;
  if (e.processed_at) timestamp_ = e.processed_at;
  switch (e.type) {
    case EventType::kAgentMessage: {
      std::vector<std::string> texts;
      for (const ContentBlock& block : e.content) {
        if (block.kind == ContentBlock::Kind::kText) texts.push_back(block.text);
      }
      reply_.push_back(absl::StrJoin(texts, ""));
      reply_id_ = e.id;
      state_ = A2aTaskState::kWorking;
      return;
    }
    case EventType::kSessionError:
      error_ = e.error.message.empty() ? e.error.type : e.error.message;
      note_id_ = e.id;
      state_ = A2aTaskState::kWorking;
      return;
    case EventType::kUserInterrupt:
      interrupted_ = true;
      state_ = A2aTaskState::kWorking;
      return;
    case EventType::kSessionStatusIdle:
      ended_ = true;
      if (note_id_.empty()) note_id_ = e.id;
      if (e.stop_reason.kind == StopReason::Kind::kRequiresAction) {
        state_ = A2aTaskState::kInputRequired;
        note_ = absl::StrCat(
            "The agent is waiting for a tool confirmation or a custom tool result, which A2A cannot carry: answer it "
            "with POST /v1/sessions/",
            context_id_, "/events (pending events: ", absl::StrJoin(e.stop_reason.event_ids, ", "), ").");
      } else if (!error_.empty() || e.stop_reason.kind == StopReason::Kind::kRetriesExhausted) {
        state_ = A2aTaskState::kFailed;
        note_ = error_.empty() ? "The model request failed and its retries were exhausted." : error_;
      } else if (interrupted_) {
        state_ = A2aTaskState::kCanceled;
        note_ = "The turn was interrupted.";
      } else {
        state_ = A2aTaskState::kCompleted;
      }
      return;
    case EventType::kSessionStatusTerminated:
      ended_ = true;
      if (note_id_.empty()) note_id_ = e.id;
      state_ = A2aTaskState::kFailed;
      note_ = error_.empty() ? "The session was terminated." : error_;
      return;
    default:
      state_ = A2aTaskState::kWorking;
      return;
  }
}

std::string A2aTurn::StatusJson(A2aDialect dialect) const {
  JsonWriter out;
  out.BeginObject().Key("state").String(StateName(state_, dialect));
  if (state_ == A2aTaskState::kCompleted && !reply_.empty()) {
    out.Key("message");
    WriteAgentMessage(out, reply_id_, reply_, task_id_, context_id_, dialect);
  } else if (!note_.empty()) {
    out.Key("message");
    WriteAgentMessage(out, note_id_, {note_}, task_id_, context_id_, dialect);
  }
  if (timestamp_) out.Key("timestamp").String(FormatRfc3339(*timestamp_));
  out.EndObject();
  return out.Take();
}

std::string A2aTurn::TaskJson(A2aDialect dialect) const {
  JsonWriter out;
  out.BeginObject();
  if (dialect == A2aDialect::kV03) out.Key("kind").String("task");
  out.Key("id").String(task_id_).Key("contextId").String(context_id_);
  out.Key("status").Raw(StatusJson(dialect));
  if (!reply_.empty()) {
    out.Key("artifacts").BeginArray();
    WriteReplyArtifact(out, reply_, dialect);
    out.EndArray();
  }
  out.EndObject();
  return out.Take();
}

// --- the card ---------------------------------------------------------------------------------------

std::string A2aAgentCard(const SessionInfo& session, const Agent* agent, std::string_view url, bool requires_api_key) {
  const std::string name = agent != nullptr && !agent->spec.name.empty() ? agent->spec.name : "wake session";
  std::string description = agent != nullptr ? agent->spec.description : "";
  if (description.empty()) description = absl::StrCat("A wake session (", session.id, ") of agent ", session.agent_id);
  JsonWriter out;
  out.BeginObject();
  out.Key("name").String(name).Key("description").String(description);
  // v1.0 lists its interfaces; the same URL serves both versions.
  out.Key("supportedInterfaces").BeginArray();
  for (std::string_view version : {"1.0", "0.3"}) {
    out.BeginObject().Key("url").String(url).Key("protocolBinding").String("JSONRPC");
    out.Key("protocolVersion").String(version).EndObject();
  }
  out.EndArray();
  // What a v0.3 client reads instead.
  out.Key("url").String(url).Key("preferredTransport").String("JSONRPC").Key("protocolVersion").String("0.3.0");
  out.Key("provider").BeginObject().Key("organization").String("wake").Key("url").String(url).EndObject();
  out.Key("version").String(agent != nullptr ? absl::StrCat(agent->version) : "1");
  out.Key("capabilities").BeginObject().Key("streaming").Bool(true).Key("pushNotifications").Bool(false);
  out.Key("extendedAgentCard").Bool(false).EndObject();
  if (requires_api_key) {
    // The JSON-Schema form ("type"), which both versions' clients read.
    out.Key("securitySchemes").BeginObject().Key("apiKey").BeginObject();
    out.Key("type").String("apiKey").Key("in").String("header").Key("name").String("x-api-key");
    out.Key("description").String("A wake API key (wakectl keys create); Authorization: Bearer <key> works too.");
    out.EndObject().EndObject();
    out.Key("security").BeginArray().BeginObject().Key("apiKey").BeginArray().EndArray().EndObject().EndArray();
  }
  out.Key("defaultInputModes").BeginArray().String("text/plain").EndArray();
  out.Key("defaultOutputModes").BeginArray().String("text/plain").EndArray();
  out.Key("skills").BeginArray().BeginObject();
  out.Key("id").String("session").Key("name").String(name).Key("description").String(description);
  out.Key("tags").BeginArray().String("wake").String("session").EndArray();
  out.EndObject().EndArray();
  out.EndObject();
  return out.Take();
}

// --- the endpoint -----------------------------------------------------------------------------------

A2aEndpoint::A2aEndpoint(Engine* engine, size_t max_streams, std::shared_ptr<std::atomic<size_t>> open_streams,
                         bool requires_api_key)
    : engine_(engine),
      max_streams_(max_streams),
      open_streams_(std::move(open_streams)),
      requires_api_key_(requires_api_key) {}

namespace {

absl::StatusOr<SessionInfo> FetchSession(Engine& engine, const std::string& id) {
  if (!ParseId(kSessionIdPrefix, id).ok()) return absl::NotFoundError(absl::StrCat("no session ", id));
  return engine.GetSession(id);
}

}  // namespace

absl::StatusOr<ApiResponse> A2aEndpoint::Card(const std::string& session_id, const ApiRequest& request) {
  ASSIGN_OR_RETURN(SessionInfo session, FetchSession(*engine_, session_id));
  absl::StatusOr<Agent> agent = engine_->GetAgent(session.agent_id, session.agent_version);
  // Behind a proxy, the card names the address its clients use.
  std::string_view host = request.Header("x-forwarded-host");
  if (host.empty()) host = request.Header("host");
  if (host.empty()) host = "localhost";
  std::string_view scheme = request.Header("x-forwarded-proto");
  if (scheme.empty()) scheme = "http";
  const std::string url = absl::StrCat(ToAbsl(scheme), "://", ToAbsl(host), "/a2a/", session_id);
  return RpcOk(A2aAgentCard(session, agent.ok() ? &*agent : nullptr, url, requires_api_key_));
}

absl::StatusOr<ApiResponse> A2aEndpoint::Rpc(const std::string& session_id, const ApiRequest& request) {
  RETURN_IF_ERROR(FetchSession(*engine_, session_id).status());
  A2aDecoded decoded = DecodeA2aRequest(request.body, session_id);
  if (decoded.error) {
    ApiResponse response = RpcOk(A2aErrorResponse(decoded.call.id_json, *decoded.error));
    response.error = decoded.error->message;
    return response;
  }
  switch (decoded.call.method) {
    case A2aMethod::kSendMessage: return Send(session_id, decoded.call);
    case A2aMethod::kStreamMessage: return Stream(session_id, decoded.call);
    case A2aMethod::kGetTask: return GetTask(session_id, decoded.call);
    case A2aMethod::kCancelTask: return CancelTask(session_id, decoded.call);
    case A2aMethod::kSubscribe: return Subscribe(session_id, decoded.call);
  }
  return absl::InternalError("unrouted A2A method");
}

namespace {

Event UserMessage(const std::vector<std::string>& texts) {
  Event user;
  user.type = EventType::kUserMessage;
  for (const std::string& text : texts) {
    ContentBlock block;
    block.text = text;
    user.content.push_back(std::move(block));
  }
  return user;
}

A2aError NoSuchTask(std::string_view session_id, std::string_view task_id) {
  return A2aError{kA2aTaskNotFound,
                  absl::StrCat("no task ", ToAbsl(task_id), " in session ", ToAbsl(session_id),
                               " (a task's id is the id of the user.message it started)")};
}

ApiResponse RpcError(const A2aCall& call, const A2aError& error) {
  ApiResponse response = RpcOk(A2aErrorResponse(call.id_json, error));
  response.error = error.message;
  return response;
}

}  // namespace

ApiResponse A2aEndpoint::Send(const std::string& session_id, const A2aCall& call) {
  // Waiting holds a subscription like a stream does; its place is taken before anything is appended.
  const bool wait = !call.return_immediately;
  if (wait && !TakeStreamPlace()) return RpcError(call, TooManyStreams());
  absl::StatusOr<std::vector<Event>> stored = engine_->SendEvents(session_id, {UserMessage(call.texts)});
  if (!stored.ok()) {
    if (wait) open_streams_->fetch_sub(1);
    return RpcError(call, ErrorFor(stored.status()));
  }
  A2aTurn turn(session_id, stored->front());
  if (!wait) return RpcOk(A2aResult(call.id_json, Wrapped("task", turn.TaskJson(call.dialect), call.dialect)));
  return AnswerWhenEnded(session_id, call, stored->front().seq + 1, std::move(turn));
}

ApiResponse A2aEndpoint::AnswerWhenEnded(const std::string& session_id, const A2aCall& call, uint64_t from_seq,
                                         A2aTurn turn) {
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = engine_->Subscribe(session_id, from_seq);
  if (!subscription.ok()) {
    open_streams_->fetch_sub(1);
    return RpcError(call, ErrorFor(subscription.status()));
  }
  const bool wrap = call.method == A2aMethod::kSendMessage;
  ApiResponse response;
  response.stream = std::make_unique<EventStream>(
      session_id, *std::move(subscription),
      std::make_unique<A2aAnswerFramer>(call.id_json, call.dialect, std::move(turn), wrap), open_streams_,
      kMaxSendWait);
  return response;
}

ApiResponse A2aEndpoint::Stream(const std::string& session_id, const A2aCall& call) {
  // The stream's place is taken before anything is appended: a refused stream leaves no message.
  if (!TakeStreamPlace()) return RpcError(call, TooManyStreams());
  absl::StatusOr<std::vector<Event>> stored = engine_->SendEvents(session_id, {UserMessage(call.texts)});
  if (!stored.ok()) {
    open_streams_->fetch_sub(1);
    return RpcError(call, ErrorFor(stored.status()));
  }
  // From the user.message itself: the framer opens with the task it starts.
  return OpenStream(session_id, call, stored->front().seq, std::nullopt);
}

ApiResponse A2aEndpoint::Subscribe(const std::string& session_id, const A2aCall& call) {
  absl::StatusOr<std::optional<FoundTask>> found = FindTask(session_id, call.task_id);
  if (!found.ok()) return RpcError(call, ErrorFor(found.status()));
  if (!*found) return RpcError(call, NoSuchTask(session_id, call.task_id));
  if ((*found)->turn.ended()) {
    return RpcError(call, A2aError{kA2aUnsupportedOperation,
                                   absl::StrCat("task ", call.task_id, " has ended (",
                                                ToAbsl(StateName((*found)->turn.state(), A2aDialect::kV03)),
                                                "): there is nothing to follow; read it with GetTask")});
  }
  if (!TakeStreamPlace()) return RpcError(call, TooManyStreams());
  return OpenStream(session_id, call, (*found)->next_seq, std::move((*found)->turn));
}

ApiResponse A2aEndpoint::OpenStream(const std::string& session_id, const A2aCall& call, uint64_t from_seq,
                                    std::optional<A2aTurn> turn) {
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = engine_->Subscribe(session_id, from_seq);
  if (!subscription.ok()) {
    open_streams_->fetch_sub(1);
    return RpcError(call, ErrorFor(subscription.status()));
  }
  ApiResponse response;
  response.stream = std::make_unique<EventStream>(
      session_id, *std::move(subscription),
      std::make_unique<A2aStreamFramer>(call.id_json, call.dialect, session_id, std::move(turn)), open_streams_);
  return response;
}

bool A2aEndpoint::TakeStreamPlace() {
  if (open_streams_->fetch_add(1) < max_streams_) return true;
  open_streams_->fetch_sub(1);
  return false;
}

A2aError A2aEndpoint::TooManyStreams() const {
  return A2aError{kA2aInternalError,
                  absl::StrCat("too many event streams are open (", max_streams_, "): close one and retry")};
}

absl::StatusOr<std::optional<A2aEndpoint::FoundTask>> A2aEndpoint::FindTask(const std::string& session_id,
                                                                           std::string_view task_id) {
  if (!ParseId(kEventIdPrefix, task_id).ok()) return std::nullopt;
  std::optional<A2aTurn> turn;
  uint64_t from = 1;
  while (true) {
    ReadOptions read;
    read.from_seq = from;
    read.limit = kReadBatch;
    ASSIGN_OR_RETURN(std::vector<Event> batch, engine_->ReadEvents(session_id, read));
    if (batch.empty()) break;
    for (const Event& e : batch) {
      if (!turn) {
        if (e.id != task_id) continue;
        if (e.type != EventType::kUserMessage) return std::nullopt;
        turn.emplace(session_id, e);
      } else {
        turn->Apply(e);
        if (turn->ended()) return FoundTask{*std::move(turn), e.seq + 1};
      }
    }
    from = batch.back().seq + 1;
  }
  if (!turn) return std::nullopt;
  return FoundTask{*std::move(turn), from};
}

ApiResponse A2aEndpoint::GetTask(const std::string& session_id, const A2aCall& call) {
  absl::StatusOr<std::optional<FoundTask>> found = FindTask(session_id, call.task_id);
  if (!found.ok()) return RpcError(call, ErrorFor(found.status()));
  if (!*found) return RpcError(call, NoSuchTask(session_id, call.task_id));
  return RpcOk(A2aResult(call.id_json, (*found)->turn.TaskJson(call.dialect)));
}

ApiResponse A2aEndpoint::CancelTask(const std::string& session_id, const A2aCall& call) {
  absl::StatusOr<std::optional<FoundTask>> found = FindTask(session_id, call.task_id);
  if (!found.ok()) return RpcError(call, ErrorFor(found.status()));
  if (!*found) return RpcError(call, NoSuchTask(session_id, call.task_id));
  auto& [turn, next_seq] = **found;
  if (turn.ended()) {
    return RpcError(call, A2aError{kA2aTaskNotCancelable,
                                   absl::StrCat("task ", call.task_id, " has ended (",
                                                ToAbsl(StateName(turn.state(), A2aDialect::kV03)),
                                                ") and cannot be canceled")});
  }
  if (!TakeStreamPlace()) return RpcError(call, TooManyStreams());
  Event interrupt;
  interrupt.type = EventType::kUserInterrupt;
  absl::StatusOr<std::vector<Event>> stored = engine_->SendEvents(session_id, {std::move(interrupt)});
  if (!stored.ok()) {
    open_streams_->fetch_sub(1);
    return RpcError(call, ErrorFor(stored.status()));
  }
  // The answer is the task once the interrupt has ended its turn.
  return AnswerWhenEnded(session_id, call, next_seq, std::move(turn));
}

}  // namespace wake::server_internal
