#include "server/internal/api.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/records_json.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "server/internal/a2a.h"
#include "server/internal/api_json.h"
#include "server/internal/console.h"
#include "server/internal/json.h"
#include "server/internal/vault_json.h"

namespace wake::server_internal {
namespace {

namespace dom = simdjson::dom;

constexpr size_t kDefaultPageSize = 20;
constexpr size_t kMaxPageSize = 1000;
// How many events a scan reads at a time (event lists, resuming a stream).
constexpr size_t kScanBatch = 512;
// How many sessions a listing reads at a time.
constexpr size_t kSessionScanBatch = 1000;

// Event types of the Managed Agents API (sdk 1.10.0, BetaManagedAgentsSessionEventType) that wake
// never writes: a list filter may name them (and matches nothing), where an unknown name is an error.
constexpr std::string_view kForeignEventTypes[] = {
    "agent.mcp_tool_use",
    "agent.mcp_tool_result",
    "agent.thread_message_received",
    "agent.thread_message_sent",
    "session.thread_created",
    "span.outcome_evaluation_start",
    "span.outcome_evaluation_end",
    "span.outcome_evaluation_ongoing",
    "user.define_outcome",
    "session.thread_status_running",
    "session.thread_status_idle",
    "session.thread_status_terminated",
    "session.thread_status_rescheduled",
    "user.tool_result",
    "session.updated",
    "system.message",
    "session.usage",
    "workflow_run.created",
    "workflow_run.status_running",
    "workflow_run.status_idle",
    "workflow_run.status_ended",
    "workflow_run.error",
    "workflow_run.phase_started",
    "workflow_run.phase_ended",
};

// --- the request target ---------------------------------------------------------------------------

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; in a query, '+' is a space.
absl::StatusOr<std::string> PercentDecode(std::string_view s, bool query) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return absl::InvalidArgumentError("the request target has a truncated percent-escape");
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError("the request target has a malformed percent-escape");
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else if (query && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

class Query {
 public:
  static absl::StatusOr<Query> Parse(std::string_view text) {
    Query query;
    for (absl::string_view part : absl::StrSplit(ToAbsl(text), '&', absl::SkipEmpty())) {
      const size_t eq = part.find('=');
      ASSIGN_OR_RETURN(std::string name, PercentDecode(FromAbsl(part.substr(0, eq)), true));
      std::string value;
      if (eq != absl::string_view::npos) {
        ASSIGN_OR_RETURN(value, PercentDecode(FromAbsl(part.substr(eq + 1)), true));
      }
      query.params_.emplace_back(std::move(name), std::move(value));
    }
    return query;
  }

  std::optional<std::string> Get(std::string_view name) const {
    for (const auto& [key, value] : params_) {
      if (key == name) return value;
    }
    return std::nullopt;
  }

  // The values of an array parameter, however the client spelt it: name=a&name=b, name[]=a
  // (the SDK's form), name[0]=a.
  std::vector<std::string> GetAll(std::string_view name) const {
    std::vector<std::string> values;
    for (const auto& [key, value] : params_) {
      std::string_view k = key;
      if (!absl::StartsWith(ToAbsl(k), ToAbsl(name))) continue;
      std::string_view rest = k.substr(name.size());
      const bool indexed = rest.size() >= 2 && rest.front() == '[' && rest.back() == ']' &&
                           std::all_of(rest.begin() + 1, rest.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
      if (rest.empty() || indexed) values.push_back(value);
    }
    return values;
  }

  absl::StatusOr<size_t> Limit() const {
    std::optional<std::string> text = Get("limit");
    if (!text) return kDefaultPageSize;
    size_t limit = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc() || end != text->data() + text->size() || limit < 1 || limit > kMaxPageSize) {
      return absl::InvalidArgumentError(absl::StrCat("limit: must be an integer from 1 to ", kMaxPageSize));
    }
    return limit;
  }

  absl::StatusOr<bool> Bool(std::string_view name, bool fallback) const {
    std::optional<std::string> text = Get(name);
    if (!text) return fallback;
    if (*text == "true") return true;
    if (*text == "false") return false;
    return absl::InvalidArgumentError(absl::StrCat(std::string(name), ": must be true or false"));
  }

  absl::StatusOr<std::optional<uint64_t>> Uint(std::string_view name) const {
    std::optional<std::string> text = Get(name);
    if (!text) return std::nullopt;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc() || end != text->data() + text->size() || text->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(name), ": must be a non-negative integer"));
    }
    return n;
  }

  // `order`: asc or desc.
  absl::StatusOr<bool> Descending(bool fallback) const {
    std::optional<std::string> order = Get("order");
    if (!order) return fallback;
    if (*order == "asc") return false;
    if (*order == "desc") return true;
    return absl::InvalidArgumentError("order: must be asc or desc");
  }

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// created_at[gt|gte|lt|lte] (a time window on created_at, or processed_at for events).
struct TimeWindow {
  std::optional<absl::Time> gt, gte, lt, lte;

  static absl::StatusOr<TimeWindow> FromQuery(const Query& query, bool with_exclusive) {
    TimeWindow window;
    std::pair<const char*, std::optional<absl::Time>*> bounds[] = {
        {"created_at[gte]", &window.gte}, {"created_at[lte]", &window.lte},
        {"created_at[gt]", &window.gt},   {"created_at[lt]", &window.lt}};
    for (auto [name, bound] : bounds) {
      if (!with_exclusive && (bound == &window.gt || bound == &window.lt)) continue;
      std::optional<std::string> text = query.Get(name);
      if (!text) continue;
      absl::StatusOr<absl::Time> t = ParseRfc3339(*text);
      if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat(name, ": must be an RFC 3339 time"));
      *bound = *t;
    }
    return window;
  }
  bool Contains(absl::Time t) const {
    return (!gt || t > *gt) && (!gte || t >= *gte) && (!lt || t < *lt) && (!lte || t <= *lte);
  }
};

// --- routes ---------------------------------------------------------------------------------------

enum class Route {
  kAgents,
  kAgent,
  kAgentArchive,
  kAgentVersions,
  kEnvironments,
  kEnvironment,
  kEnvironmentArchive,
  // Vault routes: a credential's `id` is "<vault id>/<credential id>" (neither holds a '/').
  kVaults,
  kVault,
  kVaultArchive,
  kCredentials,
  kCredential,
  kCredentialArchive,
  kCredentialValidate,
  kMetrics,
  kSessions,  // the session routes come last: Run() logs their id as the session's
  kSession,
  kSessionArchive,
  kEvents,
  kEventStream,
  kSessionTimeline,  // the timeline picture, for the console (console.h)
  kA2aCard,  // the A2A routes (a2a.h), under /a2a/{session_id}
  kA2aRpc,
};

struct Match {
  Route route;
  std::vector<const char*> methods;
  std::string id;  // the resource id in the path
};

std::optional<Match> Resolve(const std::vector<std::string>& segments) {
  const size_t n = segments.size();
  if (n == 1 && segments[0] == "metrics") return Match{Route::kMetrics, {"GET"}, ""};
  if (n >= 2 && segments[0] == "a2a" && !segments[1].empty()) {
    if (n == 2) return Match{Route::kA2aRpc, {"POST"}, segments[1]};
    if (n == 4 && segments[2] == ".well-known" && segments[3] == "agent-card.json") {
      return Match{Route::kA2aCard, {"GET"}, segments[1]};
    }
    return std::nullopt;
  }
  if (n < 2 || segments[0] != "v1") return std::nullopt;
  const std::string& collection = segments[1];
  const std::string id = n >= 3 ? segments[2] : "";
  if (n >= 3 && id.empty()) return std::nullopt;
  if (collection == "agents") {
    if (n == 2) return Match{Route::kAgents, {"GET", "POST"}, ""};
    if (n == 3) return Match{Route::kAgent, {"GET", "POST"}, id};
    if (n == 4 && segments[3] == "archive") return Match{Route::kAgentArchive, {"POST"}, id};
    if (n == 4 && segments[3] == "versions") return Match{Route::kAgentVersions, {"GET"}, id};
  } else if (collection == "environments") {
    if (n == 2) return Match{Route::kEnvironments, {"GET", "POST"}, ""};
    if (n == 3) return Match{Route::kEnvironment, {"GET", "POST", "DELETE"}, id};
    if (n == 4 && segments[3] == "archive") return Match{Route::kEnvironmentArchive, {"POST"}, id};
  } else if (collection == "vaults") {
    if (n == 2) return Match{Route::kVaults, {"GET", "POST"}, ""};
    if (n == 3) return Match{Route::kVault, {"GET", "POST", "DELETE"}, id};
    if (n == 4 && segments[3] == "archive") return Match{Route::kVaultArchive, {"POST"}, id};
    if (n == 4 && segments[3] == "credentials") return Match{Route::kCredentials, {"GET", "POST"}, id};
    if (n >= 5 && segments[3] == "credentials" && !segments[4].empty()) {
      const std::string both = absl::StrCat(id, "/", segments[4]);
      if (n == 5) return Match{Route::kCredential, {"GET", "POST", "DELETE"}, both};
      if (n == 6 && segments[5] == "archive") return Match{Route::kCredentialArchive, {"POST"}, both};
      if (n == 6 && segments[5] == "mcp_oauth_validate") return Match{Route::kCredentialValidate, {"POST"}, both};
    }
  } else if (collection == "sessions") {
    if (n == 2) return Match{Route::kSessions, {"GET", "POST"}, ""};
    if (n == 3) return Match{Route::kSession, {"GET", "POST", "DELETE"}, id};
    if (n == 4 && segments[3] == "archive") return Match{Route::kSessionArchive, {"POST"}, id};
    if (n == 4 && segments[3] == "events") return Match{Route::kEvents, {"GET", "POST"}, id};
    if (n == 5 && segments[3] == "events" && segments[4] == "stream") return Match{Route::kEventStream, {"GET"}, id};
    if (n == 4 && segments[3] == "timeline.svg") return Match{Route::kSessionTimeline, {"GET"}, id};
  }
  return std::nullopt;
}

std::string_view ErrorType(int status) {
  switch (status) {
    case 400:
    case 405:
      return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 409: return "conflict_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

// The route's template for metrics labels: the path with its ids (the matched id, and any segment
// but the first with characters other than a-z, '-' and '.') replaced by {id}, so labels stay few.
std::string RouteTemplate(const std::vector<std::string>& segments, const Match& match) {
  std::string route;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& s = segments[i];
    const bool word = std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '-' || c == '.'; });
    const bool id = i > 0 && ((!match.id.empty() && s == match.id) || !word);
    absl::StrAppend(&route, "/", id ? "{id}" : s);
  }
  return route;
}

absl::Status NoSuch(std::string_view what, std::string_view id) {
  return absl::NotFoundError(absl::StrCat("no ", std::string(what), " ", std::string(id)));
}

ApiResponse JsonOk(std::string body) {
  ApiResponse response;
  response.body = std::move(body);
  return response;
}

// The id a stored agent or environment has, checked before the Engine sees it: a malformed one is
// simply not found.
absl::Status CheckId(std::string_view prefix, std::string_view id, std::string_view what) {
  if (!ParseId(prefix, id).ok()) return NoSuch(what, id);
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------

std::string_view ApiRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

EventStream::EventStream(std::string session_id, std::unique_ptr<Subscription> subscription,
                         std::unique_ptr<StreamFramer> framer, std::shared_ptr<std::atomic<size_t>> open_streams,
                         absl::Duration one_response_within)
    : session_id_(std::move(session_id)),
      subscription_(std::move(subscription)),
      framer_(std::move(framer)),
      open_streams_(std::move(open_streams)),
      one_response_within_(one_response_within) {}

EventStream::~EventStream() { open_streams_->fetch_sub(1); }

std::string StreamFramer::ErrorFrame(const absl::Status& status) {
  return absl::StrCat("event: error\ndata: ", ErrorEnvelope(HttpStatusFor(status), FromAbsl(status.message())), "\n\n");
}

namespace {

// The Managed Agents event stream's frames.
class SessionEventFramer final : public StreamFramer {
 public:
  explicit SessionEventFramer(bool include_internal) : include_internal_(include_internal) {}

  std::string Frames(const std::vector<Event>& events, bool* ended) override {
    std::string frames;
    for (const Event& e : events) {
      if (*ended) break;
      if (e.type == EventType::kSessionStatusTerminated) *ended = true;
      if (IsInternalEventType(e.type) && !include_internal_) continue;
      absl::StrAppend(&frames, "event: ", ToAbsl(EventTypeName(e.type)), "\nid: ", e.id, "\ndata: ",
                      EncodeEventJson(e), "\n\n");
    }
    return frames;
  }

 private:
  const bool include_internal_;
};

// Ends a stream once the API key that opened it stops being accepted (revoked, or the key file
// became unreadable): checked before each batch of events is framed and at each keepalive (so an idle
// stream ends within keepalive_interval too), which costs one stat() of the key file while it is
// unchanged.
class KeyCheckingFramer final : public StreamFramer {
 public:
  KeyCheckingFramer(std::unique_ptr<StreamFramer> inner, const ApiKeyStore* keys, std::string key)
      : inner_(std::move(inner)), keys_(keys), key_(std::move(key)) {}

  std::string Frames(const std::vector<Event>& events, bool* ended) override {
    if (std::string refusal = Refusal(ended); !refusal.empty()) return refusal;
    return inner_->Frames(events, ended);
  }
  std::string Keepalive(bool* ended) override {
    if (std::string refusal = Refusal(ended); !refusal.empty()) return refusal;
    return inner_->Keepalive(ended);
  }
  std::string ErrorFrame(const absl::Status& status) override { return inner_->ErrorFrame(status); }
  std::string Unfinished() override { return inner_->Unfinished(); }

 private:
  // "" while the key is accepted; else the stream's last frame (and *ended set).
  std::string Refusal(bool* ended) {
    absl::StatusOr<ApiKeyIdentity> identity = keys_->Check(key_);
    if (identity.ok()) return "";
    *ended = true;
    return inner_->ErrorFrame(absl::IsUnauthenticated(identity.status())
                                  ? identity.status()
                                  : absl::Status(identity.status().code(),
                                                 absl::StrCat("the server cannot check API keys: ",
                                                              identity.status().message())));
  }

  const std::unique_ptr<StreamFramer> inner_;
  const ApiKeyStore* const keys_;
  const std::string key_;
};

}  // namespace

std::string ErrorEnvelope(int status, std::string_view message, std::string_view error_code) {
  JsonWriter out;
  out.BeginObject().Key("type").String("error").Key("error").BeginObject();
  out.Key("type").String(ErrorType(status)).Key("message").String(message);
  if (!error_code.empty()) out.Key("details").BeginObject().Key("error_code").String(error_code).EndObject();
  out.EndObject().EndObject();
  return out.Take();
}

ApiResponse ErrorResponse(int status, std::string_view message, std::string_view error_code) {
  ApiResponse response;
  response.status = status;
  response.body = ErrorEnvelope(status, message, error_code);
  response.error = std::string(message);
  return response;
}

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
      return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

// ---------------------------------------------------------------------------------------------------

// One request: its parsed target, body and the Engine calls it makes. Lives for one Handle().
class ApiHandler::Call {
 public:
  Call(ApiHandler& handler, const ApiRequest& request) : h_(handler), engine_(*handler.engine_), request_(request) {}

  ApiResponse Run() {
    const std::string_view target = request_.target;
    const size_t question = target.find('?');
    absl::StatusOr<std::string> path = PercentDecode(target.substr(0, question), false);
    if (!path.ok()) return ErrorResponse(400, FromAbsl(path.status().message()));
    absl::StatusOr<Query> query =
        Query::Parse(question == std::string_view::npos ? std::string_view() : target.substr(question + 1));
    if (!query.ok()) return ErrorResponse(400, FromAbsl(query.status().message()));
    query_ = *std::move(query);

    // The console's pages are static and hold no data (their script reads the API with the key the
    // operator types), so they are served before any key is asked for.
    if (IsConsolePath(*path)) return ServeConsole(request_.method, *path, request_.Header("if-none-match"));

    if (absl::Status auth = Authenticate(); !auth.ok()) {
      return ErrorResponse(HttpStatusFor(auth), FromAbsl(auth.message()));
    }

    std::vector<std::string> segments;
    std::string_view p = *path;
    if (p.empty() || p.front() != '/') return ErrorResponse(404, absl::StrCat("no route ", *path));
    for (absl::string_view s : absl::StrSplit(ToAbsl(p.substr(1)), '/')) segments.emplace_back(s);
    if (!segments.empty() && segments.back().empty()) segments.pop_back();  // a trailing slash
    std::optional<Match> match = Resolve(segments);
    if (!match) return ErrorResponse(404, absl::StrCat("no route ", request_.method, " ", *path));
    if (std::find(match->methods.begin(), match->methods.end(), request_.method) == match->methods.end()) {
      ApiResponse response =
          ErrorResponse(405, absl::StrCat("method ", request_.method, " is not allowed on ", *path, " (allowed: ",
                                          absl::StrJoin(match->methods, ", "), ")"));
      response.headers.emplace_back("allow", absl::StrJoin(match->methods, ", "));
      response.route = RouteTemplate(segments, *match);
      return response;
    }
    if (match->route >= Route::kSessions && !match->id.empty()) session_id_ = match->id;

    absl::StatusOr<ApiResponse> response = Dispatch(*match);
    if (!response.ok()) {
      ApiResponse error = ErrorResponse(HttpStatusFor(response.status()), FromAbsl(response.status().message()),
                                        ErrorCodeOf(response.status()).value_or(""));
      error.session_id = session_id_;
      error.route = RouteTemplate(segments, *match);
      return error;
    }
    response->session_id = session_id_;
    response->route = RouteTemplate(segments, *match);
    return *std::move(response);
  }

 private:
  // Sets workspace_id_ to the key's workspace.
  absl::Status Authenticate() {
    if (!h_.options_.require_api_key) return absl::OkStatus();
    ASSIGN_OR_RETURN(ApiKeyIdentity identity, server_internal::Authenticate(*h_.options_.api_keys,
                                                                            request_.Header("x-api-key"),
                                                                            request_.Header("authorization")));
    workspace_id_ = std::move(identity.workspace_id);
    // The SDK can name a workspace (anthropic-workspace-id); a key works in its own only.
    if (std::string_view named = request_.Header("anthropic-workspace-id"); !named.empty() && named != workspace_id_) {
      return absl::PermissionDeniedError(absl::StrCat("this API key belongs to workspace ", workspace_id_, ", not ",
                                                      ToAbsl(named)));
    }
    return absl::OkStatus();
  }

  // --- workspaces ----------------------------------------------------------------------------------
  //
  // A request sees only its workspace's resources. Another workspace's agent, environment, vault or
  // session answers exactly as an id that does not exist (the same status, type and message), so ids
  // cannot be probed across workspaces; lists leave them out. Records stored without a workspace
  // ("") are the default workspace's.

  bool Mine(std::string_view owner) const {
    return (owner.empty() ? kDefaultWorkspaceId : owner) == std::string_view(workspace_id_);
  }

  // The latest version of the caller's agent `id`. NotFound ("no agent <id>") for a malformed,
  // unknown or foreign id.
  absl::StatusOr<Agent> FetchAgent(const std::string& id) {
    RETURN_IF_ERROR(CheckId("agent_", id, "agent"));
    absl::StatusOr<Agent> agent = engine_.GetAgent(id);
    if (absl::IsNotFound(agent.status()) || (agent.ok() && !Mine(agent->spec.workspace_id))) {
      return NoSuch("agent", id);
    }
    return agent;
  }

  absl::StatusOr<VaultInfo> FetchVault(const std::string& id) {
    RETURN_IF_ERROR(CheckId("vlt_", id, "vault"));
    absl::StatusOr<VaultInfo> vault = engine_.GetVault(id);
    if (absl::IsNotFound(vault.status()) || (vault.ok() && !Mine(vault->spec.workspace_id))) {
      return NoSuch("vault", id);
    }
    return vault;
  }

  // Whether the request's route reads a body: the POSTs that create, update or send something.
  static bool ReadsBody(Route route, bool post) {
    switch (route) {
      case Route::kAgents:
      case Route::kAgent:
      case Route::kEnvironments:
      case Route::kEnvironment:
      case Route::kVaults:
      case Route::kVault:
      case Route::kCredentials:
      case Route::kCredential:
      case Route::kSessions:
      case Route::kSession:
      case Route::kEvents:
      case Route::kA2aRpc:
        return post;
      default:
        return false;
    }
  }

  // A request whose route reads no body (every GET and DELETE, archive, mcp_oauth_validate) may carry
  // none, or an empty JSON object (what some clients send with every POST); anything else is refused
  // rather than ignored, so a malformed request never acts as a well-formed one.
  absl::Status CheckNoBody() {
    if (absl::StripAsciiWhitespace(ToAbsl(request_.body)).empty()) return absl::OkStatus();
    absl::StatusOr<dom::object> body = Body();
    if (!body.ok()) return body.status();
    if (body->size() != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(request_.method, " on this route takes no request body (send none, or {})"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ApiResponse> Dispatch(const Match& match) {
    const bool get = request_.method == "GET";
    const bool post = request_.method == "POST";
    const std::string& id = match.id;
    if (!ReadsBody(match.route, post)) RETURN_IF_ERROR(CheckNoBody());
    switch (match.route) {
      case Route::kAgents: return get ? ListAgents() : CreateAgent();
      case Route::kAgent: return get ? GetAgent(id) : UpdateAgent(id);
      case Route::kAgentArchive: return ArchiveAgent(id);
      case Route::kAgentVersions: return ListAgentVersions(id);
      case Route::kEnvironments: return get ? ListEnvironments() : CreateEnvironment();
      case Route::kEnvironment: return get ? GetEnvironment(id) : post ? UpdateEnvironment(id) : DeleteEnvironment(id);
      case Route::kEnvironmentArchive: return ArchiveEnvironment(id);
      case Route::kVaults:
      case Route::kVault:
      case Route::kVaultArchive:
      case Route::kCredentials:
      case Route::kCredential:
      case Route::kCredentialArchive:
      case Route::kCredentialValidate:
        return DispatchVault(match);
      case Route::kSessions: return get ? ListSessions() : CreateSession();
      case Route::kSession: return get ? GetSession(id) : post ? UpdateSession(id) : DeleteSession(id);
      case Route::kSessionArchive: return ArchiveSession(id);
      case Route::kEvents: return get ? ListEvents(id) : SendEvents(id);
      case Route::kEventStream: return OpenStream(id);
      case Route::kSessionTimeline: return SessionTimelineSvg(id);
      case Route::kMetrics: return Metrics();
      case Route::kA2aCard:
        RETURN_IF_ERROR(FetchSession(id).status());
        return h_.a2a_->Card(id, request_);
      case Route::kA2aRpc:
        RETURN_IF_ERROR(FetchSession(id).status());
        return h_.a2a_->Rpc(id, request_);
    }
    return absl::InternalError("unrouted request");
  }

  absl::StatusOr<dom::object> Body() { return ParseJsonBody(request_.body, &large_parser_); }

  // --- agents -------------------------------------------------------------------------------------

  static std::string AgentJson(const Agent& agent) {
    JsonWriter out;
    WriteAgent(out, agent);
    return out.Take();
  }

  absl::StatusOr<ApiResponse> CreateAgent() {
    ASSIGN_OR_RETURN(dom::object body, Body());
    ASSIGN_OR_RETURN(AgentSpec spec, AgentSpecFromCreateParams(body));
    spec.workspace_id = workspace_id_;
    ASSIGN_OR_RETURN(Agent agent, engine_.CreateAgent(std::move(spec)));
    return JsonOk(AgentJson(agent));
  }

  absl::StatusOr<ApiResponse> GetAgent(const std::string& id) {
    ASSIGN_OR_RETURN(Agent latest, FetchAgent(id));
    ASSIGN_OR_RETURN(std::optional<uint64_t> version, query_.Uint("version"));
    if (version && *version == 0) return absl::InvalidArgumentError("version: must be at least 1");
    if (!version || *version == latest.version) return JsonOk(AgentJson(latest));
    ASSIGN_OR_RETURN(Agent agent, engine_.GetAgent(id, *version));
    return JsonOk(AgentJson(agent));
  }

  absl::StatusOr<ApiResponse> UpdateAgent(const std::string& id) {
    ASSIGN_OR_RETURN(Agent current, FetchAgent(id));
    ASSIGN_OR_RETURN(dom::object body, Body());
    ASSIGN_OR_RETURN(AgentUpdate update, ApplyAgentUpdateParams(current.spec, body));
    // An update that changes nothing makes no new version (as in the API), but still checks the
    // version it names.
    if (EncodeAgentSpecJson(update.spec) == EncodeAgentSpecJson(current.spec)) {
      if (update.expected_version != 0 && update.expected_version != current.version) {
        return absl::AbortedError(absl::StrCat("agent ", id, " is at version ", current.version, ", not ",
                                               update.expected_version));
      }
      return JsonOk(AgentJson(current));
    }
    absl::StatusOr<Agent> agent = engine_.UpdateAgent(id, update.expected_version, std::move(update.spec));
    if (absl::IsAborted(agent.status())) {
      return absl::AbortedError(absl::StrCat("agent ", id, " is no longer at version ", update.expected_version,
                                             ": retrieve it and apply the change again"));
    }
    if (!agent.ok()) return agent.status();
    return JsonOk(AgentJson(*agent));
  }

  absl::StatusOr<ApiResponse> ArchiveAgent(const std::string& id) {
    RETURN_IF_ERROR(FetchAgent(id).status());
    ASSIGN_OR_RETURN(Agent agent, engine_.ArchiveAgent(id));
    return JsonOk(AgentJson(agent));
  }

  // A page of documents (agents or environments) from the Engine's id-ordered listing, filtered.
  // `keep` says which items the caller may see (its workspace's).
  template <typename T, typename Fetch, typename Write, typename Keep>
  absl::StatusOr<ApiResponse> ListDocuments(std::string_view prefix, Fetch fetch, Write write, Keep keep) {
    ASSIGN_OR_RETURN(size_t limit, query_.Limit());
    ASSIGN_OR_RETURN(bool include_archived, query_.Bool("include_archived", false));
    ASSIGN_OR_RETURN(TimeWindow window, TimeWindow::FromQuery(query_, /*with_exclusive=*/false));
    std::string after = query_.Get("page").value_or("");
    if (!after.empty() && !ParseId(prefix, after).ok()) {
      return absl::InvalidArgumentError("page: not a cursor this server returned");
    }
    std::vector<T> items;
    std::string next;
    while (true) {
      ASSIGN_OR_RETURN(Page<T> page, fetch(after, limit, include_archived));
      for (size_t i = 0; i < page.items.size() && next.empty(); ++i) {
        if (!window.Contains(page.items[i].created_at) || !keep(page.items[i])) continue;
        items.push_back(page.items[i]);
        if (items.size() == limit && (i + 1 < page.items.size() || !page.next_cursor.empty())) next = page.items[i].id;
      }
      if (!next.empty() || items.size() == limit || page.next_cursor.empty()) break;
      after = page.next_cursor;
    }
    JsonWriter out;
    out.BeginObject().Key("data").BeginArray();
    for (const T& item : items) write(out, item);
    out.EndArray().Key("next_page");
    if (next.empty()) {
      out.Null();
    } else {
      out.String(next);
    }
    out.EndObject();
    return JsonOk(out.Take());
  }

  absl::StatusOr<ApiResponse> ListAgents() {
    return ListDocuments<Agent>(
        "agent_", [&](std::string_view after, size_t limit, bool archived) { return engine_.ListAgents(after, limit, archived); },
        [](JsonWriter& out, const Agent& agent) { WriteAgent(out, agent); },
        [&](const Agent& agent) { return Mine(agent.spec.workspace_id); });
  }

  // Newest version first; the cursor is the next (older) version.
  absl::StatusOr<ApiResponse> ListAgentVersions(const std::string& id) {
    ASSIGN_OR_RETURN(Agent latest, FetchAgent(id));
    ASSIGN_OR_RETURN(size_t limit, query_.Limit());
    uint64_t from = latest.version;
    if (std::optional<std::string> page = query_.Get("page")) {
      uint64_t v = 0;
      auto [end, ec] = std::from_chars(page->data(), page->data() + page->size(), v);
      if (ec != std::errc() || end != page->data() + page->size() || v == 0 || v > latest.version) {
        return absl::InvalidArgumentError("page: not a cursor this server returned");
      }
      from = v;
    }
    JsonWriter out;
    out.BeginObject().Key("data").BeginArray();
    uint64_t version = from;
    for (size_t n = 0; n < limit && version >= 1; ++n, --version) {
      ASSIGN_OR_RETURN(Agent agent, engine_.GetAgent(id, version));
      WriteAgent(out, agent);
    }
    out.EndArray().Key("next_page");
    if (version >= 1) {
      out.String(absl::StrCat(version));
    } else {
      out.Null();
    }
    out.EndObject();
    return JsonOk(out.Take());
  }

  // --- environments -------------------------------------------------------------------------------

  static std::string EnvironmentJson(const Environment& environment) {
    JsonWriter out;
    WriteEnvironment(out, environment);
    return out.Take();
  }

  absl::StatusOr<Environment> FetchEnvironment(const std::string& id) {
    absl::Status not_found = WithErrorCode(NoSuch("environment", id), "environment_not_found");
    if (!ParseId("env_", id).ok()) return not_found;
    absl::StatusOr<Environment> environment = engine_.GetEnvironment(id);
    if (absl::IsNotFound(environment.status()) || (environment.ok() && !Mine(environment->spec.workspace_id))) {
      return not_found;
    }
    return environment;
  }

  absl::StatusOr<ApiResponse> CreateEnvironment() {
    ASSIGN_OR_RETURN(dom::object body, Body());
    ASSIGN_OR_RETURN(EnvironmentSpec spec, EnvironmentSpecFromCreateParams(body));
    spec.workspace_id = workspace_id_;
    ASSIGN_OR_RETURN(Environment environment, engine_.CreateEnvironment(std::move(spec)));
    return JsonOk(EnvironmentJson(environment));
  }

  absl::StatusOr<ApiResponse> GetEnvironment(const std::string& id) {
    ASSIGN_OR_RETURN(Environment environment, FetchEnvironment(id));
    return JsonOk(EnvironmentJson(environment));
  }

  absl::StatusOr<ApiResponse> UpdateEnvironment(const std::string& id) {
    ASSIGN_OR_RETURN(Environment current, FetchEnvironment(id));
    ASSIGN_OR_RETURN(dom::object body, Body());
    ASSIGN_OR_RETURN(EnvironmentSpec spec, ApplyEnvironmentUpdateParams(current.spec, body));
    ASSIGN_OR_RETURN(Environment environment, engine_.UpdateEnvironment(id, std::move(spec)));
    return JsonOk(EnvironmentJson(environment));
  }

  absl::StatusOr<ApiResponse> DeleteEnvironment(const std::string& id) {
    RETURN_IF_ERROR(FetchEnvironment(id).status());
    RETURN_IF_ERROR(engine_.DeleteEnvironment(id));
    JsonWriter out;
    out.BeginObject().Key("id").String(id).Key("type").String("environment_deleted").EndObject();
    return JsonOk(out.Take());
  }

  absl::StatusOr<ApiResponse> ArchiveEnvironment(const std::string& id) {
    RETURN_IF_ERROR(FetchEnvironment(id).status());
    ASSIGN_OR_RETURN(Environment environment, engine_.ArchiveEnvironment(id));
    return JsonOk(EnvironmentJson(environment));
  }

  absl::StatusOr<ApiResponse> ListEnvironments() {
    return ListDocuments<Environment>(
        "env_",
        [&](std::string_view after, size_t limit, bool archived) { return engine_.ListEnvironments(after, limit, archived); },
        [](JsonWriter& out, const Environment& environment) { WriteEnvironment(out, environment); },
        [&](const Environment& environment) { return Mine(environment.spec.workspace_id); });
  }

  // --- vaults and credentials (vault_json.h) ---------------------------------------------------------

  template <typename T, typename Write>
  static std::string ToJson(const T& item, Write write) {
    JsonWriter out;
    write(out, item);
    return out.Take();
  }

  static std::string Deleted(const std::string& id, std::string_view type) {
    JsonWriter out;
    out.BeginObject().Key("id").String(id).Key("type").String(type).EndObject();
    return out.Take();
  }

  absl::StatusOr<ApiResponse> DispatchVault(const Match& match) {
    const std::string& method = request_.method;
    const size_t slash = match.id.find('/');
    const std::string vault_id = match.id.substr(0, slash);
    const std::string credential_id = slash == std::string::npos ? "" : match.id.substr(slash + 1);
    // Every route under a vault answers for the caller's vaults only (a credential belongs to its
    // vault's workspace).
    std::optional<VaultInfo> owned;
    if (!vault_id.empty()) {
      ASSIGN_OR_RETURN(owned, FetchVault(vault_id));
    }
    if (!credential_id.empty()) RETURN_IF_ERROR(CheckId("vcrd_", credential_id, "credential"));
    switch (match.route) {
      case Route::kVaults: {
        if (method == "GET") {
          return ListDocuments<VaultInfo>(
              "vlt_",
              [&](std::string_view after, size_t limit, bool archived) { return engine_.ListVaults(after, limit, archived); },
              WriteVault, [&](const VaultInfo& vault) { return Mine(vault.spec.workspace_id); });
        }
        ASSIGN_OR_RETURN(dom::object body, Body());
        ASSIGN_OR_RETURN(VaultSpec spec, VaultSpecFromCreateParams(body));
        spec.workspace_id = workspace_id_;
        ASSIGN_OR_RETURN(VaultInfo vault, engine_.CreateVault(std::move(spec)));
        return JsonOk(ToJson(vault, WriteVault));
      }
      case Route::kVault: {
        VaultInfo vault = *std::move(owned);
        if (method == "DELETE") {
          RETURN_IF_ERROR(engine_.DeleteVault(vault_id));
          return JsonOk(Deleted(vault_id, "vault_deleted"));
        }
        if (method == "POST") {
          ASSIGN_OR_RETURN(dom::object body, Body());
          ASSIGN_OR_RETURN(VaultSpec spec, ApplyVaultUpdateParams(vault.spec, body));
          ASSIGN_OR_RETURN(vault, engine_.UpdateVault(vault_id, std::move(spec)));
        }
        return JsonOk(ToJson(vault, WriteVault));
      }
      case Route::kVaultArchive: {
        ASSIGN_OR_RETURN(VaultInfo vault, engine_.ArchiveVault(vault_id));
        return JsonOk(ToJson(vault, WriteVault));
      }
      case Route::kCredentials: {
        if (method == "GET") {
          return ListDocuments<Credential>(
              "vcrd_",
              [&](std::string_view after, size_t limit, bool archived) {
                return engine_.ListCredentials(vault_id, after, limit, archived);
              },
              WriteCredential, [](const Credential&) { return true; });
        }
        ASSIGN_OR_RETURN(dom::object body, Body());
        ASSIGN_OR_RETURN(CredentialChange create, CredentialFromCreateParams(body, absl::Now()));
        ASSIGN_OR_RETURN(Credential credential,
                         engine_.CreateCredential(vault_id, std::move(create.spec), std::move(create.secrets)));
        return JsonOk(ToJson(credential, WriteCredential));
      }
      case Route::kCredential: {
        ASSIGN_OR_RETURN(Credential credential, engine_.GetCredential(vault_id, credential_id));
        if (method == "DELETE") {
          RETURN_IF_ERROR(engine_.DeleteCredential(vault_id, credential_id));
          return JsonOk(Deleted(credential_id, "vault_credential_deleted"));
        }
        if (method == "POST") {
          ASSIGN_OR_RETURN(dom::object body, Body());
          ASSIGN_OR_RETURN(CredentialChange update, ApplyCredentialUpdateParams(credential, body, absl::Now()));
          ASSIGN_OR_RETURN(credential, engine_.UpdateCredential(vault_id, credential_id, std::move(update.spec),
                                                                std::move(update.secrets)));
        }
        return JsonOk(ToJson(credential, WriteCredential));
      }
      case Route::kCredentialArchive: {
        ASSIGN_OR_RETURN(Credential credential, engine_.ArchiveCredential(vault_id, credential_id));
        return JsonOk(ToJson(credential, WriteCredential));
      }
      case Route::kCredentialValidate: {
        ASSIGN_OR_RETURN(Credential credential, engine_.GetCredential(vault_id, credential_id));
        ASSIGN_OR_RETURN(std::string json, CredentialValidationJson(credential, absl::Now()));
        return JsonOk(std::move(json));
      }
      default: break;
    }
    return absl::InternalError("unrouted vault request");
  }

  // --- sessions -----------------------------------------------------------------------------------

  std::vector<std::string> VaultIdsOf(const SessionInfo& session) {
    return engine_.SessionVaultIds(session.id).value_or(std::vector<std::string>());
  }

  // The session's agent at its version, read once per request and agent version.
  const Agent* AgentOf(const SessionInfo& session) {
    auto key = std::make_pair(session.agent_id, session.agent_version);
    auto it = agents_.find(key);
    if (it == agents_.end()) {
      absl::StatusOr<Agent> agent = engine_.GetAgent(session.agent_id, session.agent_version);
      it = agents_.emplace(key, agent.ok() ? std::optional<Agent>(*std::move(agent)) : std::nullopt).first;
    }
    return it->second ? &*it->second : nullptr;
  }

  std::string SessionJson(const SessionInfo& session) {
    JsonWriter out;
    WriteSession(out, session, AgentOf(session), VaultIdsOf(session));
    return out.Take();
  }

  // The caller's session `id`. NotFound ("no session <id>") for a malformed, unknown or foreign id.
  absl::StatusOr<SessionInfo> FetchSession(const std::string& id) {
    if (!ParseId(kSessionIdPrefix, id).ok()) return NoSuch("session", id);
    absl::StatusOr<SessionInfo> session = engine_.GetSession(id);
    if (absl::IsNotFound(session.status()) || (session.ok() && !Mine(session->workspace_id))) {
      return NoSuch("session", id);
    }
    return session;
  }

  absl::StatusOr<ApiResponse> CreateSession() {
    ASSIGN_OR_RETURN(dom::object body, Body());
    ASSIGN_OR_RETURN(SessionCreate create, SessionCreateFromParams(body));
    CreateSessionRequest& request = create.request;
    // Everything the session names must be the caller's: another workspace's agent, environment or
    // vault is not found.
    RETURN_IF_ERROR(FetchAgent(request.agent_id).status());
    for (const std::string& vault_id : request.vault_ids) RETURN_IF_ERROR(FetchVault(vault_id).status());
    request.workspace_id = workspace_id_;
    if (!request.environment_id.empty()) {
      ASSIGN_OR_RETURN(Environment environment, FetchEnvironment(request.environment_id));
      if (environment.archived_at) {
        return WithErrorCode(
            absl::FailedPreconditionError(absl::StrCat("environment ", environment.id, " is archived")),
            "environment_archived");
      }
    }
    ASSIGN_OR_RETURN(SessionInfo session, engine_.CreateSession(std::move(request)));
    session_id_ = session.id;
    if (!create.initial_events.empty()) {
      absl::StatusOr<std::vector<Event>> sent = engine_.SendEvents(session.id, std::move(create.initial_events));
      if (!sent.ok()) {
        // All or nothing: a session whose first events could not be stored is not left behind.
        engine_.DeleteSession(session.id).IgnoreError();
        return sent.status();
      }
      ASSIGN_OR_RETURN(session, engine_.GetSession(session.id));
    }
    return JsonOk(SessionJson(session));
  }

  absl::StatusOr<ApiResponse> GetSession(const std::string& id) {
    ASSIGN_OR_RETURN(SessionInfo session, FetchSession(id));
    return JsonOk(SessionJson(session));
  }

  absl::StatusOr<ApiResponse> UpdateSession(const std::string& id) {
    ASSIGN_OR_RETURN(SessionInfo current, FetchSession(id));
    ASSIGN_OR_RETURN(dom::object body, Body());
    ASSIGN_OR_RETURN(SessionUpdate update, SessionUpdateFromParams(current, body));
    ASSIGN_OR_RETURN(SessionInfo session, engine_.UpdateSession(id, std::move(update.title), std::move(update.metadata)));
    return JsonOk(SessionJson(session));
  }

  absl::StatusOr<ApiResponse> DeleteSession(const std::string& id) {
    RETURN_IF_ERROR(FetchSession(id).status());
    RETURN_IF_ERROR(engine_.DeleteSession(id));
    JsonWriter out;
    out.BeginObject().Key("id").String(id).Key("type").String("session_deleted").EndObject();
    return JsonOk(out.Take());
  }

  absl::StatusOr<ApiResponse> ArchiveSession(const std::string& id) {
    RETURN_IF_ERROR(FetchSession(id).status());
    ASSIGN_OR_RETURN(SessionInfo session, engine_.ArchiveSession(id));
    return JsonOk(SessionJson(session));
  }

  // Sessions newest first (or oldest first with order=asc). The Engine lists in creation order only,
  // so a page scans every session's record: fine for one machine's sessions; a reverse listing in
  // the Engine would make it cheap. Cursors: "after:<id>" (the next page) and "before:<id>" (the
  // previous one), relative to the order asked for.
  absl::StatusOr<ApiResponse> ListSessions() {
    ASSIGN_OR_RETURN(size_t limit, query_.Limit());
    ASSIGN_OR_RETURN(bool include_archived, query_.Bool("include_archived", false));
    ASSIGN_OR_RETURN(bool descending, query_.Descending(/*fallback=*/true));
    ASSIGN_OR_RETURN(TimeWindow window, TimeWindow::FromQuery(query_, /*with_exclusive=*/true));
    std::set<std::string> statuses;
    for (const std::string& status : query_.GetAll("statuses")) {
      if (status != "idle" && status != "running" && status != "rescheduling" && status != "terminated") {
        return absl::InvalidArgumentError(
            absl::StrCat("statuses: unknown status \"", status, "\" (idle, running, rescheduling, terminated)"));
      }
      statuses.insert(status);
    }
    const std::optional<std::string> agent_id = query_.Get("agent_id");
    ASSIGN_OR_RETURN(std::optional<uint64_t> agent_version, query_.Uint("agent_version"));
    if (agent_version && !agent_id) return absl::InvalidArgumentError("agent_version: only applies with agent_id");
    bool forward = true;
    std::string cursor;
    if (std::optional<std::string> page = query_.Get("page")) {
      if (absl::StartsWith(*page, "after:")) {
        cursor = page->substr(6);
      } else if (absl::StartsWith(*page, "before:")) {
        cursor = page->substr(7);
        forward = false;
      }
      if (!ParseId(kSessionIdPrefix, cursor).ok()) return absl::InvalidArgumentError("page: not a cursor this server returned");
    }

    std::vector<SessionInfo> all;
    ListSessionsOptions list;
    list.include_archived = include_archived;
    list.limit = kSessionScanBatch;
    if (statuses.size() == 1) list.status = *statuses.begin();
    while (true) {
      ASSIGN_OR_RETURN(SessionPage page, engine_.ListSessions(list));
      for (SessionInfo& s : page.sessions) {
        if (!Mine(s.workspace_id)) continue;
        if (!statuses.empty() && !statuses.contains(s.status)) continue;
        if (agent_id && s.agent_id != *agent_id) continue;
        if (agent_version && s.agent_version != *agent_version) continue;
        if (!window.Contains(s.created_at)) continue;
        all.push_back(std::move(s));
      }
      if (page.next_cursor.empty()) break;
      list.after_session_id = page.next_cursor;
    }
    if (descending) std::reverse(all.begin(), all.end());

    // [begin, end) of the page within `all`.
    size_t begin = 0, end = 0;
    auto position = [&](const std::string& id) {
      // Ids sort by creation, so a cursor whose session is gone still has its place.
      auto before = [&](const SessionInfo& s) { return descending ? s.id > id : s.id < id; };
      return static_cast<size_t>(std::partition_point(all.begin(), all.end(), before) - all.begin());
    };
    if (cursor.empty()) {
      begin = 0;
      end = std::min(all.size(), limit);
    } else if (forward) {
      begin = position(cursor);
      if (begin < all.size() && all[begin].id == cursor) ++begin;
      end = std::min(all.size(), begin + limit);
    } else {
      end = position(cursor);
      begin = end > limit ? end - limit : 0;
    }
    JsonWriter out;
    out.BeginObject().Key("data").BeginArray();
    for (size_t i = begin; i < end; ++i) WriteSession(out, all[i], AgentOf(all[i]), VaultIdsOf(all[i]));
    out.EndArray();
    out.Key("next_page");
    if (end < all.size() && end > begin) {
      out.String(absl::StrCat("after:", all[end - 1].id));
    } else {
      out.Null();
    }
    out.Key("prev_page");
    if (begin > 0 && end > begin) {
      out.String(absl::StrCat("before:", all[begin].id));
    } else {
      out.Null();
    }
    out.EndObject();
    return JsonOk(out.Take());
  }

  // --- events -------------------------------------------------------------------------------------

  // Which events a list shows: `types` (wake's and the API's names), include_internal, a time window.
  struct EventFilter {
    std::set<EventType> types;
    bool any_type = true;
    bool include_internal = false;
    TimeWindow window;

    bool Matches(const Event& e) const {
      if (any_type ? (IsInternalEventType(e.type) && !include_internal) : !types.contains(e.type)) return false;
      return !e.processed_at || window.Contains(*e.processed_at);
    }
  };

  absl::StatusOr<EventFilter> ReadEventFilter() {
    EventFilter filter;
    ASSIGN_OR_RETURN(filter.include_internal, query_.Bool("include_internal", false));
    ASSIGN_OR_RETURN(filter.window, TimeWindow::FromQuery(query_, /*with_exclusive=*/true));
    for (const std::string& name : query_.GetAll("types")) {
      filter.any_type = false;
      if (std::optional<EventType> type = EventTypeFromName(name)) {
        filter.types.insert(*type);
      } else if (std::find(std::begin(kForeignEventTypes), std::end(kForeignEventTypes), name) ==
                 std::end(kForeignEventTypes)) {
        return absl::InvalidArgumentError(absl::StrCat("types: unknown event type \"", name, "\""));
      }
    }
    return filter;
  }

  absl::StatusOr<ApiResponse> ListEvents(const std::string& id) {
    ASSIGN_OR_RETURN(SessionInfo session, FetchSession(id));
    ASSIGN_OR_RETURN(size_t limit, query_.Limit());
    ASSIGN_OR_RETURN(bool descending, query_.Descending(/*fallback=*/false));
    ASSIGN_OR_RETURN(EventFilter filter, ReadEventFilter());
    const uint64_t last = session.next_seq - 1;  // events appended after this read are not listed
    ASSIGN_OR_RETURN(std::optional<uint64_t> page, query_.Uint("page"));
    if (page && (*page == 0 || *page > last + 1)) return absl::InvalidArgumentError("page: not a cursor this server returned");

    // The cursor is the seq to continue from (inclusive), in the direction of the listing.
    std::vector<Event> events;
    std::optional<uint64_t> next;
    if (!descending) {
      // Scanned, not read in batches: a page of 20 decodes 21 events, not 512, and events the filter
      // skips are never copied.
      const uint64_t from = page.value_or(1);
      if (from <= last) {
        ReadOptions read;
        read.from_seq = from;
        read.limit = last - from + 1;
        absl::Status scanned = engine_.ScanEvents(id, read, [&](const Event& e) {
          if (events.size() == limit) {
            next = e.seq;
            return absl::CancelledError("page full");  // stops the scan; not an error (next is set)
          }
          if (filter.Matches(e)) events.push_back(e);
          return absl::OkStatus();
        });
        if (!scanned.ok() && !next) return scanned;
      }
    } else {
      RETURN_IF_ERROR(WalkBackward(id, page.value_or(last), [&](Event& e) {
        if (events.size() == limit) {
          next = e.seq;
          return false;
        }
        if (filter.Matches(e)) events.push_back(std::move(e));
        return true;
      }));
    }
    JsonWriter out;
    out.BeginObject().Key("data").BeginArray();
    for (const Event& e : events) out.Raw(EncodeEventJson(e));
    out.EndArray().Key("next_page");
    if (next) {
      out.String(absl::StrCat(*next));
    } else {
      out.Null();
    }
    out.EndObject();
    return JsonOk(out.Take());
  }

  absl::StatusOr<ApiResponse> SendEvents(const std::string& id) {
    RETURN_IF_ERROR(FetchSession(id).status());
    ASSIGN_OR_RETURN(std::vector<Event> events, DecodeEventSendParams(request_.body));
    ASSIGN_OR_RETURN(std::vector<Event> stored, engine_.SendEvents(id, std::move(events)));
    JsonWriter out;
    out.BeginObject().Key("data").BeginArray();
    for (const Event& e : stored) out.Raw(EncodeEventJson(e));
    out.EndArray().EndObject();
    return JsonOk(out.Take());
  }

  // The seq of event `event_id` in the session. InvalidArgument when it is not one of its events.
  absl::StatusOr<uint64_t> FindEventSeq(const std::string& session_id, std::string_view event_id, uint64_t last) {
    const absl::Status not_found = absl::InvalidArgumentError(absl::StrCat(
        "cannot resume after event ", ToAbsl(event_id), ": it is not an event of session ", session_id));
    if (!ParseId(kEventIdPrefix, event_id).ok()) return not_found;
    // From the head back: a client resumes where its stream broke off, nearly always among the last
    // events, so a reconnect to a long session reads a batch, not the whole log.
    std::optional<uint64_t> found;
    RETURN_IF_ERROR(WalkBackward(session_id, last, [&](Event& e) {
      if (e.id == event_id) found = e.seq;
      return !found;
    }));
    if (!found) return not_found;
    return *found;
  }

  // Hands the session's events from seq `to` back to seq 1 to `visit`, newest first, read in batches
  // of kScanBatch, until `visit` returns false.
  absl::Status WalkBackward(const std::string& session_id, uint64_t to, absl::FunctionRef<bool(Event&)> visit) {
    while (to >= 1) {
      const uint64_t from = to >= kScanBatch ? to - kScanBatch + 1 : 1;
      ReadOptions read;
      read.from_seq = from;
      read.limit = to - from + 1;
      ASSIGN_OR_RETURN(std::vector<Event> batch, engine_.ReadEvents(session_id, read));
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
        if (!visit(*it)) return absl::OkStatus();
      }
      to = from - 1;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ApiResponse> OpenStream(const std::string& id) {
    ASSIGN_OR_RETURN(SessionInfo session, FetchSession(id));
    ASSIGN_OR_RETURN(bool include_internal, query_.Bool("include_internal", false));
    // Deltas are best-effort in the API; wake streams whole events only, so a request for them is
    // served without any.
    for (const std::string& delta : query_.GetAll("event_deltas")) {
      if (delta != "agent.message" && delta != "agent.thinking") {
        return absl::InvalidArgumentError(
            absl::StrCat("event_deltas: unknown delta type \"", delta, "\" (agent.message, agent.thinking)"));
      }
    }
    uint64_t from = session.next_seq;
    std::string resume(request_.Header("last-event-id"));
    if (std::optional<std::string> param = query_.Get("last_event_id")) resume = *param;
    if (!resume.empty()) {
      ASSIGN_OR_RETURN(uint64_t seq, FindEventSeq(id, resume, session.next_seq - 1));
      from = seq + 1;
    }
    if (h_.open_streams_->fetch_add(1) >= h_.options_.max_sse_subscribers) {
      h_.open_streams_->fetch_sub(1);
      return absl::ResourceExhaustedError(
          absl::StrCat("too many event streams are open (", h_.options_.max_sse_subscribers, "): close one and retry"));
    }
    // From here the slot belongs to the stream (or is given back if the subscription fails).
    absl::StatusOr<std::unique_ptr<Subscription>> subscription = engine_.Subscribe(id, from);
    if (!subscription.ok()) {
      h_.open_streams_->fetch_sub(1);
      return subscription.status();
    }
    std::unique_ptr<StreamFramer> framer = std::make_unique<SessionEventFramer>(include_internal);
    if (h_.options_.require_api_key) {
      framer = std::make_unique<KeyCheckingFramer>(
          std::move(framer), h_.options_.api_keys,
          PresentedKey(request_.Header("x-api-key"), request_.Header("authorization")));
    }
    ApiResponse response;
    response.stream = std::make_unique<EventStream>(id, *std::move(subscription), std::move(framer), h_.open_streams_);
    return response;
  }

  absl::StatusOr<ApiResponse> SessionTimelineSvg(const std::string& id) {
    RETURN_IF_ERROR(FetchSession(id).status());
    ASSIGN_OR_RETURN(std::optional<uint64_t> width, query_.Uint("width"));
    if (width && (*width < 300 || *width > 4000)) return absl::InvalidArgumentError("width: from 300 to 4000 pixels");
    ASSIGN_OR_RETURN(std::vector<Event> events, engine_.ReadEvents(id));
    return TimelineSvgResponse(id, events, static_cast<int>(width.value_or(1200)));
  }

  // The server's own figures, every workspace's sessions counted together: an operator's, so only
  // keys of the default workspace (the operator's; `wakectl keys create` without --workspace) read
  // them. A tenant's key gets 403, which says which key is needed.
  absl::StatusOr<ApiResponse> Metrics() {
    if (workspace_id_ != kDefaultWorkspaceId) {
      return absl::PermissionDeniedError(absl::StrCat(
          "GET /metrics shows the whole server; it needs a key of the ", ToAbsl(kDefaultWorkspaceId),
          " (operator) workspace, and this one belongs to workspace ", workspace_id_));
    }
    ApiResponse response;
    response.body = engine_.metrics().RenderPrometheus();
    response.headers.emplace_back("content-type", std::string(MetricsRegistry::kContentType));
    return response;
  }

  ApiHandler& h_;
  Engine& engine_;
  const ApiRequest& request_;
  Query query_;
  std::string session_id_;
  // The caller's workspace: the API key's, or the default one when keys are not required.
  std::string workspace_id_{kDefaultWorkspaceId};
  dom::parser large_parser_;  // for bodies too big for the thread's parser (see ParseJsonBody)
  std::map<std::pair<std::string, uint64_t>, std::optional<Agent>> agents_;
};

ApiHandler::ApiHandler(Engine* engine, ApiOptions options)
    : engine_(engine),
      options_(std::move(options)),
      open_streams_(std::make_shared<std::atomic<size_t>>(0)),
      a2a_(std::make_unique<A2aEndpoint>(engine, options_.max_sse_subscribers, open_streams_,
                                         options_.require_api_key)) {}

ApiHandler::~ApiHandler() = default;

ApiResponse ApiHandler::Handle(const ApiRequest& request) {
  Call call(*this, request);
  return call.Run();
}

}  // namespace wake::server_internal
