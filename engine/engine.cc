#include "engine/engine.h"

#include <chrono>
#include <deque>
#include <map>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/sync.h"
#include "engine/records_json.h"
#include "engine/vault_store.h"
#include "harness/anthropic_brain.h"
#include "harness/openai_brain.h"
#include "harness/scripted_brain.h"
#include "sandbox/hand_pool.h"
#include "sandbox/toolset.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"

namespace wake {
namespace {

constexpr char kAgentKind[] = "agent";
constexpr char kAgentVersionKind[] = "agent_version";  // every version, keyed "<id>/<version>"
constexpr char kEnvironmentKind[] = "environment";

// The script of the "scripted" model when no file is named: a greeting, one tool call, a summary.
constexpr char kDefaultScript[] = R"({"turns": [
  {"text": "I am wake's scripted brain (not a model). Let me try the hand.",
   "tool_calls": [{"name": "bash", "input": {"command": "echo hello from the hand; uname -s"}}]},
  {"text": "The hand ran the command; that is all this script does."}
]})";

std::string NewPrefixedId(std::string_view prefix) {
  // The same time-ordered 128 bits as session ids, under the API's prefix.
  return FormatId(prefix, NewIdBytes(absl::Now()));
}

std::string VersionKey(std::string_view id, uint64_t version) { return absl::StrCat(ToAbsl(id), "/", version); }

bool IsClientEvent(EventType type) {
  return type == EventType::kUserMessage || type == EventType::kUserInterrupt ||
         type == EventType::kUserToolConfirmation || type == EventType::kUserCustomToolResult;
}

AgentConfig ToAgentConfig(const AgentSpec& spec, std::string model,
                          const std::vector<EngineOptions::ServedTool>& served) {
  AgentConfig config;
  config.model = std::move(model);
  config.system = spec.system;
  config.max_tokens = spec.max_tokens;
  config.always_ask = spec.always_ask;
  if (spec.standard_tools) {
    for (const ToolSpec& tool : StandardTools()) {
      config.tools.push_back(ToolDefinition{tool.name, tool.description, tool.input_schema_json});
    }
    for (const EngineOptions::ServedTool& served_tool : served) {
      config.tools.push_back(
          ToolDefinition{served_tool.tool.name, served_tool.tool.description, served_tool.tool.input_schema_json});
    }
  }
  config.custom_tools = spec.custom_tools;
  return config;
}

}  // namespace

absl::StatusOr<ChosenBrain> BrainForModel(std::string_view model) {
  ChosenBrain chosen;
  if (model == "scripted" || absl::StartsWith(ToAbsl(model), "scripted:")) {
    absl::StatusOr<std::unique_ptr<Brain>> brain =
        model == "scripted" ? NewScriptedBrain(kDefaultScript) : LoadScriptedBrain(std::string(model.substr(9)));
    if (!brain.ok()) return brain.status();
    chosen.brain = *std::move(brain);
    chosen.model = std::string(model);
    return chosen;
  }
  if (absl::StartsWith(ToAbsl(model), "openai:")) {
    ASSIGN_OR_RETURN(OpenAiBrainOptions options, OpenAiBrainOptions::FromEnv());
    ASSIGN_OR_RETURN(chosen.brain, NewOpenAiBrain(std::move(options)));
    chosen.model = std::string(model.substr(7));
    return chosen;
  }
  ASSIGN_OR_RETURN(AnthropicBrainOptions options, AnthropicBrainOptions::FromEnv());
  ASSIGN_OR_RETURN(chosen.brain, NewAnthropicBrain(std::move(options)));
  chosen.model = std::string(model);
  return chosen;
}

// ---------------------------------------------------------------------------------------------

class Engine::Impl {
 public:
  explicit Impl(EngineOptions options)
      : options_(std::move(options)),
        owned_metrics_(options_.metrics == nullptr ? std::make_unique<MetricsRegistry>() : nullptr),
        metrics_(options_.metrics != nullptr ? options_.metrics : owned_metrics_.get()),
        harness_metrics_(HarnessMetrics::Register(*metrics_)),
        running_gauge_(metrics_->AddGauge("wake_sessions_running", "Sessions a worker is waking now.")),
        queued_gauge_(metrics_->AddGauge("wake_sessions_queued", "Runnable sessions waiting for a worker.")),
        replay_cache_(options_.replay_cache_bytes),
        replay_cache_bytes_(metrics_->AddGauge("wake_replay_cache_bytes",
                                               "Memory the replay cache holds (sessions' events kept between wakes).")),
        wakes_(metrics_->AddCounter("wake_wakes_total", "Wakes finished.")),
        errors_(ErrorCounters(*metrics_)),
        client_append_(AppendLatencies(*metrics_).WithLabels({"client"})) {
    // Every error type exposed from the start, at 0, so a rate over the first occurrence is right.
    for (std::string_view type : {"model_overloaded_error", "model_rate_limited_error", "model_request_failed_error",
                                  "unknown_error", "tool_error", "hand_lost", "hand_provision_error", "wake_error"}) {
      errors_.WithLabels({type});
    }
  }

  absl::Status Start() {
    RocksDbSessionLogOptions store_options;
    store_options.path = options_.data_dir;
    store_options.durability = options_.durability;
    store_options.clock = options_.harness.clock;
    ASSIGN_OR_RETURN(RocksDbStore store, OpenRocksDbStore(store_options));
    log_ = std::move(store.log);
    documents_ = std::move(store.documents);
    vaults_ = std::make_unique<VaultStore>(documents_.get(), &vault_, options_.vault_key,
                                           absl::StrCat(options_.data_dir, "/vault.key"));
    // Before any session wakes: every event it appends must already be masked.
    RETURN_IF_ERROR(vaults_->Load());

    if (!options_.hand_providers.contains(options_.default_backend)) {
      return absl::InvalidArgumentError(
          absl::StrCat("engine: the default hand backend ", options_.default_backend, " has no provider"));
    }
    HandPoolOptions pool;
    for (const auto& [backend, spares] : options_.warm_hands) {
      auto provider = options_.hand_providers.find(backend);
      if (provider == options_.hand_providers.end()) {
        return absl::InvalidArgumentError(absl::StrCat("engine: warm hands for backend ", backend, ", which has no provider"));
      }
      WarmHands warm;
      warm.provider = provider->second;
      warm.spares = spares;
      pool.warm.push_back(std::move(warm));
    }
    pool.placement = [this](std::string_view session) { return Placement(session); };
    pool.idle_release_after = options_.idle_hand_release;
    pool.reap_interval = std::max(absl::Seconds(1), options_.idle_hand_release / 4);
    pool.clock = options_.harness.clock;
    pool.metrics = metrics_;
    pool.on_released = [this](std::string_view session, Event released) {
      // A released hand is worth a line in the log; the session may be gone already.
      released.id = NewEventId(absl::Now());
      vault_.MaskEvent(released);
      log_->Append(session, {std::move(released)}, kAppendAtHead, kNoLease).IgnoreError();
    };
    hands_ = std::make_unique<HandPool>(std::move(pool));
    std::set<std::string, std::less<>> tool_names;
    for (const ToolSpec& tool : StandardTools()) tool_names.insert(tool.name);
    for (const EngineOptions::ServedTool& served : options_.served_tools) {
      if (served.hands == nullptr || served.tool.name.empty() || !tool_names.insert(served.tool.name).second) {
        return absl::InvalidArgumentError(absl::StrCat("engine: served tool \"", served.tool.name,
                                                       "\" needs a name no other tool has and its hands"));
      }
    }
    std::vector<std::pair<std::string, SessionHands*>> routes;
    for (const EngineOptions::ServedTool& served : options_.served_tools) routes.emplace_back(served.tool.name, served.hands);
    session_hands_ = std::make_unique<ToolRouter>(std::move(routes), hands_.get());

    for (size_t i = 0; i < std::max<size_t>(1, options_.workers); ++i) workers_.emplace_back([this] { WorkerLoop(); });

    // Sessions that were mid-turn when the last process stopped carry on.
    ListSessionsOptions list;
    list.limit = 1000;
    while (true) {
      ASSIGN_OR_RETURN(SessionPage page, log_->ListSessions(list));
      for (const SessionInfo& s : page.sessions) {
        if (s.status == "running" || s.status == "rescheduling" || AwaitsWake(s)) Schedule(s.id);
      }
      if (page.next_cursor.empty()) break;
      list.after_session_id = page.next_cursor;
    }
    return absl::OkStatus();
  }

  ~Impl() { Shutdown(); }

  // Whether an idle session has a client event no harness has answered yet: the last process died
  // after acknowledging it (a user.message, say) but before the harness's first append marked the
  // session running. Without a wake it would wait forever for a turn the client was promised. The
  // hand's own bookkeeping (wake.hand_*, appended at the head at any time) does not count as an answer.
  bool AwaitsWake(const SessionInfo& s) {
    static constexpr uint64_t kLookBack = 16;
    if (s.status != "idle" || s.archived_at || s.next_seq <= 1) return false;
    ReadOptions read;
    read.from_seq = s.next_seq > kLookBack ? s.next_seq - kLookBack : 1;
    absl::StatusOr<std::vector<Event>> tail = log_->Read(s.id, read);
    if (!tail.ok()) return false;
    for (auto it = tail->rbegin(); it != tail->rend(); ++it) {
      if (it->type == EventType::kHandProvisioned || it->type == EventType::kHandLost ||
          it->type == EventType::kHandReleased) {
        continue;
      }
      return IsClientEvent(it->type);
    }
    return false;
  }

  // --- agents -------------------------------------------------------------------------------------

  absl::StatusOr<Agent> CreateAgent(AgentSpec spec) {
    RETURN_IF_ERROR(CheckAgent(spec));
    const std::string id = NewPrefixedId("agent_");
    const std::string json = EncodeAgentSpecJson(spec);
    ASSIGN_OR_RETURN(Document doc, documents_->Create(kAgentKind, id, json));
    RETURN_IF_ERROR(documents_->Create(kAgentVersionKind, VersionKey(id, 1), json).status());
    return ToAgent(doc);
  }

  absl::StatusOr<Agent> GetAgent(std::string_view id, uint64_t version) {
    ASSIGN_OR_RETURN(Document latest, documents_->Get(kAgentKind, id));
    if (version == 0 || version == latest.version) return ToAgent(latest);
    if (version > latest.version) {
      return absl::NotFoundError(absl::StrCat("agent ", ToAbsl(id), " has no version ", version));
    }
    ASSIGN_OR_RETURN(Document old, documents_->Get(kAgentVersionKind, VersionKey(id, version)));
    old.id = latest.id;
    old.version = version;
    old.archived_at = latest.archived_at;
    return ToAgent(old);
  }

  absl::StatusOr<Agent> UpdateAgent(std::string_view id, uint64_t expected_version, AgentSpec spec) {
    RETURN_IF_ERROR(CheckAgent(spec));
    ASSIGN_OR_RETURN(Agent current, GetAgent(id, 0));
    spec.workspace_id = current.spec.workspace_id;  // the owner never changes
    const std::string json = EncodeAgentSpecJson(spec);
    ASSIGN_OR_RETURN(Document doc, documents_->Update(kAgentKind, id, expected_version, json));
    RETURN_IF_ERROR(documents_->Create(kAgentVersionKind, VersionKey(id, doc.version), json).status());
    return ToAgent(doc);
  }

  absl::StatusOr<Agent> ArchiveAgent(std::string_view id) {
    ASSIGN_OR_RETURN(Document doc, documents_->Archive(kAgentKind, id));
    return ToAgent(doc);
  }

  absl::StatusOr<Page<Agent>> ListAgents(std::string_view after, size_t limit, bool include_archived) {
    ASSIGN_OR_RETURN(DocumentPage page, documents_->List(kAgentKind, after, limit, include_archived));
    Page<Agent> out;
    out.next_cursor = page.next_cursor;
    for (const Document& doc : page.documents) {
      ASSIGN_OR_RETURN(Agent agent, ToAgent(doc));
      out.items.push_back(std::move(agent));
    }
    return out;
  }

  // --- environments -------------------------------------------------------------------------------

  absl::StatusOr<Environment> CreateEnvironment(EnvironmentSpec spec) {
    RETURN_IF_ERROR(CheckEnvironment(spec));
    ASSIGN_OR_RETURN(Document doc,
                     documents_->Create(kEnvironmentKind, NewPrefixedId("env_"), EncodeEnvironmentSpecJson(spec)));
    return ToEnvironment(doc);
  }
  absl::StatusOr<Environment> GetEnvironment(std::string_view id) {
    ASSIGN_OR_RETURN(Document doc, documents_->Get(kEnvironmentKind, id));
    return ToEnvironment(doc);
  }
  absl::StatusOr<Environment> UpdateEnvironment(std::string_view id, EnvironmentSpec spec) {
    RETURN_IF_ERROR(CheckEnvironment(spec));
    ASSIGN_OR_RETURN(Environment current, GetEnvironment(id));
    spec.workspace_id = current.spec.workspace_id;  // the owner never changes
    ASSIGN_OR_RETURN(Document doc, documents_->Update(kEnvironmentKind, id, 0, EncodeEnvironmentSpecJson(spec)));
    return ToEnvironment(doc);
  }
  absl::StatusOr<Environment> ArchiveEnvironment(std::string_view id) {
    ASSIGN_OR_RETURN(Document doc, documents_->Archive(kEnvironmentKind, id));
    return ToEnvironment(doc);
  }
  absl::Status DeleteEnvironment(std::string_view id) { return documents_->Delete(kEnvironmentKind, id); }
  absl::StatusOr<Page<Environment>> ListEnvironments(std::string_view after, size_t limit, bool include_archived) {
    ASSIGN_OR_RETURN(DocumentPage page, documents_->List(kEnvironmentKind, after, limit, include_archived));
    Page<Environment> out;
    out.next_cursor = page.next_cursor;
    for (const Document& doc : page.documents) {
      ASSIGN_OR_RETURN(Environment env, ToEnvironment(doc));
      out.items.push_back(std::move(env));
    }
    return out;
  }

  // --- sessions -----------------------------------------------------------------------------------

  absl::StatusOr<SessionInfo> CreateSession(CreateSessionRequest request) {
    ASSIGN_OR_RETURN(Agent agent, GetAgent(request.agent_id, request.agent_version));
    if (agent.archived_at) return absl::FailedPreconditionError(absl::StrCat("agent ", agent.id, " is archived"));
    if (!request.environment_id.empty()) {
      ASSIGN_OR_RETURN(Environment env, GetEnvironment(request.environment_id));
      if (env.archived_at) return absl::FailedPreconditionError(absl::StrCat("environment ", env.id, " is archived"));
    }
    RETURN_IF_ERROR(vaults_->CheckAttachable(request.vault_ids));
    SessionInfo info;
    info.id = NewSessionId(absl::Now());
    info.workspace_id = request.workspace_id;
    info.agent_id = agent.id;
    info.agent_version = agent.version;
    info.environment_id = request.environment_id;
    info.title = request.title;
    info.metadata = request.metadata;
    ASSIGN_OR_RETURN(SessionInfo created, log_->CreateSession(std::move(info)));
    if (absl::Status attached = vaults_->AttachToSession(created.id, request.vault_ids); !attached.ok()) {
      log_->DeleteSession(created.id).IgnoreError();  // all or nothing
      return attached;
    }
    if (options_.provisioning == EngineOptions::Provisioning::kEager) {
      std::vector<Event> events;
      RETURN_IF_ERROR(hands_->Prepare(created.id, &events));
      for (Event& e : events) {
        e.id = NewEventId(absl::Now());
        RETURN_IF_ERROR(log_->Append(created.id, {std::move(e)}, kAppendAtHead, kNoLease).status());
      }
    }
    return created;
  }

  absl::StatusOr<SessionInfo> UpdateSession(std::string_view id, std::optional<std::string> title,
                                            std::optional<Metadata> metadata) {
    ASSIGN_OR_RETURN(SessionInfo info, log_->GetSession(id));
    if (title) info.title = *title;
    if (metadata) info.metadata = *metadata;
    return log_->UpdateSession(info);
  }

  absl::StatusOr<SessionInfo> ArchiveSession(std::string_view id) {
    ASSIGN_OR_RETURN(SessionInfo info, log_->GetSession(id));
    if (!info.archived_at) info.archived_at = absl::Now();
    ASSIGN_OR_RETURN(info, log_->UpdateSession(info));
    session_hands_->ReleaseSession(id).IgnoreError();  // an archived session runs no more tools
    return info;
  }

  absl::Status DeleteSession(std::string_view id) {
    {
      MutexLock lock(&mu_);
      if (running_.contains(std::string(id))) {
        return absl::FailedPreconditionError(
            absl::StrCat("session ", ToAbsl(id), " is running a turn; interrupt it first"));
      }
    }
    RETURN_IF_ERROR(log_->GetSession(id).status());
    RETURN_IF_ERROR(session_hands_->ReleaseSession(id));
    RETURN_IF_ERROR(log_->DeleteSession(id));
    replay_cache_.Erase(id);
    replay_cache_bytes_.Set(static_cast<int64_t>(replay_cache_.bytes()));
    return vaults_->ForgetSession(id);
  }

  // --- events -------------------------------------------------------------------------------------

  absl::StatusOr<std::vector<Event>> SendEvents(std::string_view session_id, std::vector<Event> events) {
    {
      MutexLock lock(&mu_);
      if (stopping_) return absl::UnavailableError("the engine is shutting down");
    }
    if (events.empty()) return absl::InvalidArgumentError("no events to send");
    for (const Event& e : events) {
      if (!IsClientEvent(e.type)) {
        return absl::InvalidArgumentError(absl::StrCat("a client cannot send ", ToAbsl(EventTypeName(e.type)), " events"));
      }
    }
    ASSIGN_OR_RETURN(SessionInfo info, log_->GetSession(session_id));
    if (info.archived_at) {
      return absl::FailedPreconditionError(absl::StrCat("session ", ToAbsl(session_id), " is archived"));
    }
    const absl::Time now = absl::Now();
    for (Event& e : events) {
      if (e.id.empty()) e.id = NewEventId(now);
      e.processed_at.reset();
      vault_.MaskEvent(e);
    }
    const auto append_start = std::chrono::steady_clock::now();
    absl::StatusOr<AppendResult> appended = log_->Append(session_id, events, kAppendAtHead, kNoLease);
    client_append_.ObserveDuration(absl::FromChrono(std::chrono::steady_clock::now() - append_start));
    if (!appended.ok()) return appended.status();
    for (size_t i = 0; i < events.size(); ++i) events[i].seq = appended->first_seq + i;
    Schedule(std::string(session_id));
    // The stored form, processed_at included.
    ReadOptions read;
    read.from_seq = appended->first_seq;
    read.limit = events.size();
    return log_->Read(session_id, read);
  }

  // --- scheduling ---------------------------------------------------------------------------------

  void Schedule(const std::string& session_id) {
    MutexLock lock(&mu_);
    if (stopping_) return;
    if (running_.contains(session_id)) {
      again_.insert(session_id);  // it will be woken once more when the current wake ends
    } else if (queued_.insert(session_id).second) {
      queue_.push_back(session_id);
    }
    UpdateGaugesLocked();
    mu_.SignalAll();
  }

  // The scheduler's gauges follow queue_ and running_; called under mu_ after each change.
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    running_gauge_.Set(static_cast<int64_t>(running_.size()));
    queued_gauge_.Set(static_cast<int64_t>(queue_.size()));
    replay_cache_bytes_.Set(static_cast<int64_t>(replay_cache_.bytes()));
  }

  void WorkerLoop() {
    while (true) {
      std::string session;
      {
        MutexLock lock(&mu_);
        while (true) {
          PromoteDueLocked();
          if (stopping_ || !queue_.empty()) break;
          // Wait for work, or for the next session whose blocking lease expires.
          const absl::Time wake_at = delayed_.empty() ? absl::InfiniteFuture() : delayed_.begin()->first;
          mu_.AwaitWithDeadline([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }, wake_at);
        }
        if (stopping_) return;
        session = queue_.front();
        queue_.pop_front();
        queued_.erase(session);
        running_.insert(session);
        UpdateGaugesLocked();
      }
      absl::Status status = WakeSession(session);
      // Another worker (a process that died, most likely) holds the session's lease: try again once
      // it has expired, so no running session is left behind after a crash.
      std::optional<absl::Time> retry_at;
      if (absl::IsAborted(status)) {
        if (absl::StatusOr<Lease> lease = log_->GetLease(session);
            lease.ok() && lease->owner != options_.harness.worker_id && !lease->owner.empty()) {
          retry_at = std::max(lease->expires_at, absl::Now()) + absl::Milliseconds(50);
        }
      }
      MutexLock lock(&mu_);
      ++stats_.wakes;
      wakes_.Increment();
      if (retry_at && !stopping_) delayed_.emplace(*retry_at, session);
      if (!status.ok() && !absl::IsAborted(status)) {
        ++stats_.wake_errors;
        errors_.WithLabels({"wake_error"}).Increment();
        std::fprintf(stderr, "{\"level\":\"error\",\"session\":\"%s\",\"msg\":\"wake failed\",\"error\":\"%s\"}\n",
                     session.c_str(), std::string(status.message()).c_str());
      }
      running_.erase(session);
      if (again_.erase(session) > 0 && !stopping_ && queued_.insert(session).second) queue_.push_back(session);
      UpdateGaugesLocked();
      mu_.SignalAll();
    }
  }

  absl::Status WakeSession(const std::string& session_id) {
    ASSIGN_OR_RETURN(SessionInfo info, log_->GetSession(session_id));
    ASSIGN_OR_RETURN(Agent agent, GetAgent(info.agent_id, info.agent_version));
    Brain* brain = nullptr;
    std::unique_ptr<Brain> owned;
    std::string model = agent.spec.model;
    if (options_.brain_override) {
      absl::StatusOr<Brain*> chosen = options_.brain_override(agent.spec.model);
      if (!chosen.ok()) return EndTurnWithError(session_id, chosen.status());
      brain = *chosen;
    } else {
      absl::StatusOr<ChosenBrain> chosen = BrainForModel(agent.spec.model);
      if (!chosen.ok()) return EndTurnWithError(session_id, chosen.status());
      owned = std::move(chosen->brain);
      brain = owned.get();
      model = chosen->model;
    }
    HarnessOptions harness_options = options_.harness;
    harness_options.stop = &stop_;
    harness_options.redact = [this](Event& e) { vault_.MaskEvent(e); };
    harness_options.metrics = &harness_metrics_;
    if (harness_options.replay_cache == nullptr && options_.replay_cache_bytes > 0) {
      harness_options.replay_cache = &replay_cache_;
    }
    Harness harness(log_.get(), brain, session_hands_.get(), harness_options);
    return harness.Wake(session_id, ToAgentConfig(agent.spec, model, options_.served_tools));
  }

  // No brain for the agent: the client sees why, and the session goes idle.
  absl::Status EndTurnWithError(const std::string& session_id, const absl::Status& why) {
    Event error;
    error.type = EventType::kSessionError;
    error.id = NewEventId(absl::Now());
    error.error.type = "unknown_error";
    error.error.message = absl::StrCat("no model client for this agent: ", why.message());
    error.error.retry_status = SessionErrorInfo::RetryStatus::kTerminal;
    Event idle;
    idle.type = EventType::kSessionStatusIdle;
    idle.id = NewEventId(absl::Now());
    RETURN_IF_ERROR(log_->Append(session_id, {error, idle}, kAppendAtHead, kNoLease).status());
    errors_.WithLabels({error.error.type}).Increment();
    return absl::OkStatus();
  }

  absl::StatusOr<HandPlacement> Placement(std::string_view session_id) {
    ASSIGN_OR_RETURN(SessionInfo info, log_->GetSession(session_id));
    EnvironmentSpec env;
    if (!info.environment_id.empty()) {
      ASSIGN_OR_RETURN(Environment environment, GetEnvironment(info.environment_id));
      env = environment.spec;
    }
    const std::string backend = env.backend.empty() ? options_.default_backend : env.backend;
    auto it = options_.hand_providers.find(backend);
    if (it == options_.hand_providers.end()) {
      return absl::FailedPreconditionError(absl::StrCat("no hand backend named ", backend, " is configured"));
    }
    HandPlacement placement;
    placement.provider = it->second;
    placement.resources = env.resources;
    using Env = std::vector<std::pair<std::string, std::string>>;
    ASSIGN_OR_RETURN(Env secrets, vault_.ResolveEnv(env.secret_env));
    for (auto& kv : secrets) placement.resources.env.push_back(std::move(kv));
    // The session's vaults' environment_variable credentials, unless secret_env set the variable.
    ASSIGN_OR_RETURN(std::vector<std::string> vault_ids, vaults_->SessionVaultIds(session_id));
    ASSIGN_OR_RETURN(Env from_vaults, vaults_->HandEnv(vault_ids));
    for (auto& kv : from_vaults) {
      const bool set = std::any_of(placement.resources.env.begin(), placement.resources.env.end(),
                                   [&](const auto& e) { return e.first == kv.first; });
      if (!set) placement.resources.env.push_back(std::move(kv));
    }
    return placement;
  }

  // Moves delayed sessions whose time has come to the queue.
  void PromoteDueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = absl::Now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      const std::string session = delayed_.begin()->second;
      delayed_.erase(delayed_.begin());
      if (running_.contains(session)) {
        again_.insert(session);
      } else if (queued_.insert(session).second) {
        queue_.push_back(session);
      }
      UpdateGaugesLocked();
      mu_.SignalAll();
    }
  }

  void WaitUntilQuiet() {
    MutexLock lock(&mu_);
    // Delayed sessions count as work: they will be woken when their blocking lease expires.
    while (true) {
      PromoteDueLocked();
      if (stopping_) return;
      if (!queue_.empty() || !running_.empty()) {
        mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || (queue_.empty() && running_.empty()); });
        continue;
      }
      if (delayed_.empty()) return;
      mu_.AwaitWithDeadline([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; }, delayed_.begin()->first);
    }
  }

  void Shutdown() {
    {
      MutexLock lock(&mu_);
      if (stopping_ && workers_.empty()) return;
      stopping_ = true;
      mu_.SignalAll();
      // Running turns finish their step; past the grace, they are stopped at the next safe point.
      mu_.AwaitWithDeadline([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_.empty(); },
                            absl::Now() + options_.shutdown_grace);
    }
    stop_.Cancel();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

  EngineStats stats() const {
    EngineStats s;
    {
      MutexLock lock(&mu_);
      s = stats_;
      s.queued = queue_.size();
      s.running = running_.size();
    }
    s.hands = hands_->stats();  // under the pool's own lock, not ours
    return s;
  }

  SessionLog& log() { return *log_; }
  Vault& vault() { return vault_; }
  VaultStore& vaults() { return *vaults_; }
  MetricsRegistry& metrics() { return *metrics_; }

 private:
  absl::Status CheckAgent(const AgentSpec& spec) const {
    if (spec.model.empty()) return absl::InvalidArgumentError("an agent needs a model");
    if (spec.max_tokens <= 0) return absl::InvalidArgumentError("max_tokens must be positive");
    return absl::OkStatus();
  }
  absl::Status CheckEnvironment(const EnvironmentSpec& spec) const {
    if (!spec.backend.empty() && !options_.hand_providers.contains(spec.backend)) {
      std::string known;
      for (const auto& [name, provider] : options_.hand_providers) absl::StrAppend(&known, known.empty() ? "" : ", ", name);
      return absl::InvalidArgumentError(
          absl::StrCat("unknown hand backend \"", spec.backend, "\"; this engine has: ", known));
    }
    return absl::OkStatus();
  }

  static absl::StatusOr<Agent> ToAgent(const Document& doc) {
    Agent agent;
    agent.id = doc.id;
    agent.version = doc.version;
    ASSIGN_OR_RETURN(agent.spec, DecodeAgentSpecJson(doc.json));
    agent.created_at = doc.created_at;
    agent.updated_at = doc.updated_at;
    agent.archived_at = doc.archived_at;
    return agent;
  }
  static absl::StatusOr<Environment> ToEnvironment(const Document& doc) {
    Environment env;
    env.id = doc.id;
    env.version = doc.version;
    ASSIGN_OR_RETURN(env.spec, DecodeEnvironmentSpecJson(doc.json));
    env.created_at = doc.created_at;
    env.updated_at = doc.updated_at;
    env.archived_at = doc.archived_at;
    return env;
  }

  EngineOptions options_;
  // Declared before everything that records into them, so they outlive it.
  const std::unique_ptr<MetricsRegistry> owned_metrics_;
  MetricsRegistry* const metrics_;
  const HarnessMetrics harness_metrics_;
  Gauge& running_gauge_;
  Gauge& queued_gauge_;
  ReplayCache replay_cache_;
  Gauge& replay_cache_bytes_;
  Counter& wakes_;
  CounterFamily& errors_;
  Histogram& client_append_;
  std::unique_ptr<SessionLog> log_;
  std::unique_ptr<DocumentStore> documents_;
  std::unique_ptr<HandPool> hands_;
  std::unique_ptr<ToolRouter> session_hands_;  // hands_, or a served tool's hands
  Vault vault_;
  std::unique_ptr<VaultStore> vaults_;
  CancelToken stop_;

  mutable Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> queued_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> running_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> again_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::string> delayed_ ABSL_GUARDED_BY(mu_);  // sessions waiting out a lease
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  EngineStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
};

// ---------------------------------------------------------------------------------------------

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(EngineOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

absl::StatusOr<Agent> Engine::CreateAgent(AgentSpec spec) { return impl_->CreateAgent(std::move(spec)); }
absl::StatusOr<Agent> Engine::GetAgent(std::string_view id, uint64_t version) { return impl_->GetAgent(id, version); }
absl::StatusOr<Agent> Engine::UpdateAgent(std::string_view id, uint64_t expected_version, AgentSpec spec) {
  return impl_->UpdateAgent(id, expected_version, std::move(spec));
}
absl::StatusOr<Agent> Engine::ArchiveAgent(std::string_view id) { return impl_->ArchiveAgent(id); }
absl::StatusOr<Page<Agent>> Engine::ListAgents(std::string_view after, size_t limit, bool include_archived) {
  return impl_->ListAgents(after, limit, include_archived);
}
absl::StatusOr<Environment> Engine::CreateEnvironment(EnvironmentSpec spec) {
  return impl_->CreateEnvironment(std::move(spec));
}
absl::StatusOr<Environment> Engine::GetEnvironment(std::string_view id) { return impl_->GetEnvironment(id); }
absl::StatusOr<Environment> Engine::UpdateEnvironment(std::string_view id, EnvironmentSpec spec) {
  return impl_->UpdateEnvironment(id, std::move(spec));
}
absl::StatusOr<Environment> Engine::ArchiveEnvironment(std::string_view id) { return impl_->ArchiveEnvironment(id); }
absl::Status Engine::DeleteEnvironment(std::string_view id) { return impl_->DeleteEnvironment(id); }
absl::StatusOr<Page<Environment>> Engine::ListEnvironments(std::string_view after, size_t limit,
                                                            bool include_archived) {
  return impl_->ListEnvironments(after, limit, include_archived);
}
absl::StatusOr<VaultInfo> Engine::CreateVault(VaultSpec spec) { return impl_->vaults().CreateVault(std::move(spec)); }
absl::StatusOr<VaultInfo> Engine::GetVault(std::string_view id) { return impl_->vaults().GetVault(id); }
absl::StatusOr<VaultInfo> Engine::UpdateVault(std::string_view id, VaultSpec spec) {
  return impl_->vaults().UpdateVault(id, std::move(spec));
}
absl::StatusOr<VaultInfo> Engine::ArchiveVault(std::string_view id) { return impl_->vaults().ArchiveVault(id); }
absl::Status Engine::DeleteVault(std::string_view id) { return impl_->vaults().DeleteVault(id); }
absl::StatusOr<Page<VaultInfo>> Engine::ListVaults(std::string_view after, size_t limit, bool include_archived) {
  return impl_->vaults().ListVaults(after, limit, include_archived);
}
absl::StatusOr<Credential> Engine::CreateCredential(std::string_view vault_id, CredentialSpec spec,
                                                    CredentialSecrets secrets) {
  return impl_->vaults().CreateCredential(vault_id, std::move(spec), std::move(secrets));
}
absl::StatusOr<Credential> Engine::GetCredential(std::string_view vault_id, std::string_view id) {
  return impl_->vaults().GetCredential(vault_id, id);
}
absl::StatusOr<Credential> Engine::UpdateCredential(std::string_view vault_id, std::string_view id, CredentialSpec spec,
                                                    CredentialSecrets secrets) {
  return impl_->vaults().UpdateCredential(vault_id, id, std::move(spec), std::move(secrets));
}
absl::StatusOr<Credential> Engine::ArchiveCredential(std::string_view vault_id, std::string_view id) {
  return impl_->vaults().ArchiveCredential(vault_id, id);
}
absl::Status Engine::DeleteCredential(std::string_view vault_id, std::string_view id) {
  return impl_->vaults().DeleteCredential(vault_id, id);
}
absl::StatusOr<Page<Credential>> Engine::ListCredentials(std::string_view vault_id, std::string_view after,
                                                         size_t limit, bool include_archived) {
  return impl_->vaults().ListCredentials(vault_id, after, limit, include_archived);
}
absl::StatusOr<std::vector<std::string>> Engine::SessionVaultIds(std::string_view session_id) {
  return impl_->vaults().SessionVaultIds(session_id);
}
absl::StatusOr<SessionInfo> Engine::CreateSession(CreateSessionRequest request) {
  return impl_->CreateSession(std::move(request));
}
absl::StatusOr<SessionInfo> Engine::GetSession(std::string_view id) { return impl_->log().GetSession(id); }
absl::StatusOr<SessionPage> Engine::ListSessions(const ListSessionsOptions& options) {
  return impl_->log().ListSessions(options);
}
absl::StatusOr<SessionInfo> Engine::UpdateSession(std::string_view id, std::optional<std::string> title,
                                                  std::optional<Metadata> metadata) {
  return impl_->UpdateSession(id, std::move(title), std::move(metadata));
}
absl::StatusOr<SessionInfo> Engine::ArchiveSession(std::string_view id) { return impl_->ArchiveSession(id); }
absl::Status Engine::DeleteSession(std::string_view id) { return impl_->DeleteSession(id); }
absl::StatusOr<std::vector<Event>> Engine::SendEvents(std::string_view session_id, std::vector<Event> events) {
  return impl_->SendEvents(session_id, std::move(events));
}
absl::StatusOr<std::vector<Event>> Engine::ReadEvents(std::string_view session_id, const ReadOptions& options) {
  return impl_->log().Read(session_id, options);
}

absl::Status Engine::ScanEvents(std::string_view session_id, const ReadOptions& options,
                                absl::FunctionRef<absl::Status(const Event&)> visit) {
  return impl_->log().Scan(session_id, options, visit);
}
absl::StatusOr<std::unique_ptr<Subscription>> Engine::Subscribe(std::string_view session_id, uint64_t from_seq) {
  return impl_->log().Subscribe(session_id, from_seq);
}
Vault& Engine::vault() { return impl_->vault(); }
SessionLog& Engine::log() { return impl_->log(); }
MetricsRegistry& Engine::metrics() { return impl_->metrics(); }
EngineStats Engine::stats() const { return impl_->stats(); }
void Engine::WaitUntilQuiet() { impl_->WaitUntilQuiet(); }
void Engine::Shutdown() { impl_->Shutdown(); }

}  // namespace wake
