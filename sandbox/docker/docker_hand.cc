#include "sandbox/docker/docker_hand.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "sandbox/agent/agent_connection.h"
#include "sandbox/docker/internal/container_primitives.h"
#include "sandbox/docker/internal/engine_client.h"
#include "schemas/event_json.h"
#include "simdjson.h"

namespace wake {
namespace {

namespace dom = simdjson::dom;
using docker_internal::CallOptions;
using docker_internal::ContainerGone;
using docker_internal::ContainerPrimitives;
using docker_internal::DaemonError;
using docker_internal::DaemonMessage;
using docker_internal::EngineClient;
using docker_internal::EngineResponse;
using docker_internal::QueryEscape;

constexpr std::string_view kHandLabel = "wake.hand";
constexpr std::string_view kSessionLabel = "wake.session";
constexpr std::string_view kWorkDirLabel = "wake.work_dir";

// `path` made absolute against `work_dir` and normal: no ".", "..", empty components or trailing
// slash; ".." at the root stays at the root (as the kernel resolves it).
std::string ResolvePath(std::string_view work_dir, std::string_view path) {
  std::vector<std::string_view> parts;
  auto add = [&](std::string_view p) {
    for (absl::string_view piece : absl::StrSplit(ToAbsl(p), '/')) {
      const std::string_view part = FromAbsl(piece);
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        if (!parts.empty()) parts.pop_back();
        continue;
      }
      parts.push_back(part);
    }
  };
  if (path.empty() || path[0] != '/') add(work_dir);
  add(path);
  std::string out;
  for (std::string_view part : parts) absl::StrAppend(&out, "/", ToAbsl(part));
  return out.empty() ? "/" : out;
}

bool IsNormalAbsolute(std::string_view path) { return !path.empty() && ResolvePath("/", path) == path; }

// A session id usable in a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*), which helps an operator
// reading `docker ps`; other ids go unnamed (the label is what wake uses).
bool NameSafe(std::string_view s) {
  if (s.empty() || s.size() > 200 || !absl::ascii_isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// 64-bit FNV-1a: stable across processes and builds (absl::Hash is not), which a name that a
// restarted waked must derive again needs.
uint64_t StableHash(std::string_view bytes, uint64_t hash = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

// The one container name a session's hand has within a provider's scope (its labels): the daemon
// refuses a second container of that name, so a session never has two hands at once, whatever
// requests a killed predecessor left in flight. The session id is in it when it is name-safe, for
// an operator reading `docker ps`; the hash of the scope and the id keeps providers with other
// labels, sharing a daemon and a session id, apart.
std::string ContainerName(const std::vector<std::pair<std::string, std::string>>& scope, std::string_view session_id) {
  std::vector<std::pair<std::string, std::string>> sorted = scope;
  std::sort(sorted.begin(), sorted.end());
  uint64_t hash = StableHash(session_id);
  for (const auto& [key, value] : sorted) {
    // Lengths first, so that no two different scopes hash the same bytes.
    hash = StableHash(absl::StrCat(key.size(), ":", key, value.size(), ":", value), hash);
  }
  std::string name = "wake-";
  if (NameSafe(session_id)) absl::StrAppend(&name, ToAbsl(session_id.substr(0, 64)), "-");
  absl::StrAppend(&name, absl::Hex(hash, absl::kZeroPad16));
  return name;
}

// The session whose name (ContainerName) `name` is within `scope`, when it is one: what a warm
// spare given to a session (renamed, its label still the spare's id) belongs to.
std::optional<std::string> SessionOfName(const std::vector<std::pair<std::string, std::string>>& scope,
                                         std::string_view name) {
  if (!name.empty() && name[0] == '/') name.remove_prefix(1);  // the daemon's form
  constexpr std::string_view kPrefix = "wake-";
  constexpr size_t kHashPart = 17;  // "-" and 16 hex digits
  if (!name.starts_with(kPrefix) || name.size() <= kPrefix.size() + kHashPart) return std::nullopt;
  const std::string_view session = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kHashPart);
  if (ContainerName(scope, session) != name) return std::nullopt;  // also when the id was cut to 64
  return std::string(session);
}

absl::Status Unexpected(std::string_view method, const std::string& target) {
  return absl::InternalError(absl::StrCat("docker daemon: ", ToAbsl(method), " ",
                                          target.substr(0, target.find('?')), ": unexpected response"));
}

class DockerHand : public Hand {
 public:
  DockerHand(std::shared_ptr<const EngineClient> client, std::string container_id, std::string work_dir,
             std::unique_ptr<ContainerPrimitives> primitives)
      : client_(std::move(client)),
        id_(std::move(container_id)),
        work_dir_(std::move(work_dir)),
        primitives_(std::move(primitives)) {}

  std::string_view backend() const override { return "docker"; }
  const std::string& id() const override { return id_; }
  const std::string& work_dir() const override { return work_dir_; }

  absl::StatusOr<RunOutcome> Run(const RunRequest& request, const CancelToken* cancel) override {
    RETURN_IF_ERROR(CheckNotReleased());
    RunRequest resolved = request;
    resolved.cwd = ResolvePath(work_dir_, request.cwd);
    return primitives_->Run(resolved, cancel);
  }

  absl::StatusOr<std::string> ReadFile(std::string_view path, size_t max_bytes) override {
    RETURN_IF_ERROR(CheckNotReleased());
    if (path.empty()) return absl::InvalidArgumentError("empty path");
    return primitives_->ReadFile(ResolvePath(work_dir_, path), max_bytes);
  }

  absl::Status WriteFile(std::string_view path, std::string_view content) override {
    RETURN_IF_ERROR(CheckNotReleased());
    if (path.empty()) return absl::InvalidArgumentError("empty path");
    return primitives_->WriteFile(ResolvePath(work_dir_, path), content);
  }

  absl::Status Health() override {
    RETURN_IF_ERROR(CheckNotReleased());
    const std::string target = absl::StrCat("/containers/", id_, "/json");
    ASSIGN_OR_RETURN(EngineResponse response, client_->Call("GET", target));
    if (response.status == 404) return absl::UnavailableError(absl::StrCat("docker container ", Short(), " no longer exists"));
    if (response.status != 200) return DaemonError("GET", target, response);
    dom::parser parser;
    simdjson::padded_string padded(response.body);
    dom::element root;
    dom::element state;
    bool running = false;
    if (parser.parse(padded).get(root) != simdjson::SUCCESS || root["State"].get(state) != simdjson::SUCCESS ||
        state["Running"].get(running) != simdjson::SUCCESS) {
      return Unexpected("GET", target);
    }
    if (running) return absl::OkStatus();
    std::string_view status;
    int64_t exit_code = 0;
    bool oom = false;
    if (state["Status"].get(status) != simdjson::SUCCESS) status = "stopped";
    if (state["ExitCode"].get(exit_code) != simdjson::SUCCESS) exit_code = -1;
    if (state["OOMKilled"].get(oom) != simdjson::SUCCESS) oom = false;
    return absl::UnavailableError(absl::StrCat("docker container ", Short(), " is not running (", ToAbsl(status),
                                               ", exit code ", exit_code, oom ? ", killed for lack of memory" : "",
                                               ")"));
  }

  absl::Status Release() override {
    released_.store(true, std::memory_order_release);
    // Every call asks the daemon again: a Release that failed (daemon unreachable) can be retried,
    // and one after success finds the container gone, which is success.
    const std::string target = absl::StrCat("/containers/", id_, "?force=true&v=true");
    ASSIGN_OR_RETURN(EngineResponse response, client_->Call("DELETE", target));
    if (response.status == 204 || response.status == 404) return absl::OkStatus();
    // "removal of container ... is already in progress": another Release (or a reaper) is on it.
    if (response.status == 409 && absl::StrContains(DaemonMessage(response), "already in progress")) {
      return absl::OkStatus();
    }
    return DaemonError("DELETE", target, response);
  }

 private:
  absl::Status CheckNotReleased() const {
    if (released_.load(std::memory_order_acquire)) {
      return absl::FailedPreconditionError(absl::StrCat("docker hand ", Short(), " was released"));
    }
    return absl::OkStatus();
  }

  std::string Short() const { return id_.substr(0, 12); }

  const std::shared_ptr<const EngineClient> client_;
  const std::string id_;
  const std::string work_dir_;
  const std::unique_ptr<ContainerPrimitives> primitives_;
  std::atomic<bool> released_{false};
};

// One container from GET /containers/json.
struct ListedContainer {
  std::string id;
  int64_t created = 0;                                // seconds, from the listing
  absl::Time created_precisely = absl::InfinitePast();  // from an inspect, when asked for
  bool running = false;
  // Made and never started: a waked killed between its create and its start (or whose start was
  // still under way in the daemon when it died) left it. Nothing has run in it yet.
  bool created_only = false;
  std::optional<std::string> session;  // the wake.session label
  std::optional<std::string> named_session;  // the session its name says (see SessionOfName)
  std::string work_dir;

  // Whose hand it is: its name says so once a session adopted it (a warm spare), else its label.
  const std::optional<std::string>& owner() const { return named_session ? named_session : session; }
};

class DockerProvider : public HandProvider {
 public:
  DockerProvider(DockerProviderOptions options, std::shared_ptr<const std::string> agent_binary)
      : options_(std::move(options)),
        client_(std::make_shared<EngineClient>(options_.socket_path, options_.request_timeout)),
        agent_binary_(std::move(agent_binary)) {}

  std::string_view backend() const override { return "docker"; }

  absl::StatusOr<std::unique_ptr<Hand>> Provision(std::string_view session_id,
                                                  const HandResources& resources) override {
    RETURN_IF_ERROR(CheckResources(resources));
    ASSIGN_OR_RETURN(std::string id, Create(session_id, resources));
    const std::string start = absl::StrCat("/containers/", id, "/start");
    absl::StatusOr<EngineResponse> started = client_->Call("POST", start);
    if (!started.ok() || (started->status != 204 && started->status != 304)) {
      (void)Remove(id);  // do not leave a created, never started container behind
      if (!started.ok()) return started.status();
      return DaemonError("POST", start, *started);
    }
    absl::StatusOr<std::unique_ptr<Hand>> hand = MakeHand(id, options_.work_dir);
    if (!hand.ok()) (void)Remove(id);  // no usable hand: no container left behind
    return hand;
  }

  absl::StatusOr<std::unique_ptr<Hand>> Reattach(std::string_view session_id, const HandResources&) override {
    ASSIGN_OR_RETURN(std::vector<ListedContainer> containers,
                     List(absl::StrCat(ToAbsl(kSessionLabel), "=", ToAbsl(session_id))));
    // A warm spare the session adopted carries the spare's label but the session's name.
    ASSIGN_OR_RETURN(std::vector<ListedContainer> named, List("", ContainerName(options_.labels, session_id)));
    for (ListedContainer& c : named) {
      if (c.owner() != std::string(session_id)) continue;
      if (std::none_of(containers.begin(), containers.end(), [&](const ListedContainer& l) { return l.id == c.id; })) {
        containers.push_back(std::move(c));
      }
    }
    // The filters said these are the session's; be sure.
    std::erase_if(containers, [&](const ListedContainer& c) { return c.owner() != std::string(session_id); });
    // The newest running one is the session's hand (else the newest never started, see below); any
    // other (stopped, or left by a provisioning that crashed half-way) is removed. The listing's
    // creation times are whole seconds, and a waked killed while it provisioned can leave a container
    // its successor's own provisioning then joins within the same second: with two or more, the
    // daemon's nanosecond times decide, or the container holding the session's files could be the
    // one removed.
    if (containers.size() > 1) {
      for (ListedContainer& c : containers) c.created_precisely = CreatedPrecisely(c.id);
    }
    std::sort(containers.begin(), containers.end(), [](const ListedContainer& a, const ListedContainer& b) {
      return a.created != b.created ? a.created > b.created : a.created_precisely > b.created_precisely;
    });
    // With none running, the newest never-started one is started and taken rather than removed: its
    // predecessor's start may still be under way in the daemon, and a removal racing that start ends
    // as a container that dies under the next waked's re-attach (ServerRestart.KillNineMidTurnOnDockerHands
    // saw it: a start, then this removal's kill 23 ms later, while the next waked re-attached it).
    auto chosen = std::find_if(containers.begin(), containers.end(), [](const ListedContainer& c) { return c.running; });
    for (auto it = containers.begin(); it != containers.end() && chosen == containers.end(); ++it) {
      if (!it->created_only) continue;
      absl::StatusOr<EngineResponse> started = client_->Call("POST", absl::StrCat("/containers/", it->id, "/start"));
      if (started.ok() && (started->status == 204 || started->status == 304)) chosen = it;
    }
    std::optional<ListedContainer> live;
    for (auto it = containers.begin(); it != containers.end(); ++it) {
      if (it == chosen) {
        live = std::move(*it);
      } else {
        RETURN_IF_ERROR(Remove(it->id).status());
      }
    }
    if (!live) return absl::NotFoundError(absl::StrCat("no running docker hand for session ", ToAbsl(session_id)));
    absl::StatusOr<std::unique_ptr<Hand>> hand =
        MakeHand(live->id, live->work_dir.empty() ? options_.work_dir : live->work_dir);
    if (hand.ok() || hand.status().code() != absl::StatusCode::kUnavailable) return hand;
    // The container went away between the listing and now (a removal still under way when the
    // listing saw it, e.g. one a killed waked started): then the session has no hand to re-attach,
    // and the pool provisions a new one. Found by ServerRestart.KillNineMidTurnOnDockerHands.
    absl::StatusOr<std::vector<ListedContainer>> again =
        List(absl::StrCat(ToAbsl(kSessionLabel), "=", ToAbsl(session_id)));
    if (!again.ok()) return hand;  // the daemon itself is the trouble: say what failed first
    for (const ListedContainer& c : *again) {
      if (c.id == live->id && c.running) return hand;  // still there: a real failure
    }
    return absl::NotFoundError(absl::StrCat("the docker hand of session ", ToAbsl(session_id),
                                            " went away while it was re-attached: ", hand.status().message()));
  }

  absl::Status Adopt(Hand& spare, std::string_view session_id) override {
    const std::string name = ContainerName(options_.labels, session_id);
    const std::string target = absl::StrCat("/containers/", spare.id(), "/rename?name=", name);
    constexpr int kAttempts = 20;
    for (int attempt = 1;; ++attempt) {
      ASSIGN_OR_RETURN(EngineResponse renamed, client_->Call("POST", target));
      if (renamed.status == 204) return absl::OkStatus();
      if (renamed.status == 404) {
        return absl::UnavailableError(absl::StrCat("docker container ", spare.id().substr(0, 12), " no longer exists"));
      }
      // Another container holds the name: one the session no longer uses (Reattach found none
      // running), as in Create.
      if (renamed.status == 409 && attempt < kAttempts) {
        ASSIGN_OR_RETURN(bool removed, Remove(name));
        if (!removed) absl::SleepFor(absl::Milliseconds(50) * attempt);
        continue;
      }
      return DaemonError("POST", target, renamed);
    }
  }

  absl::StatusOr<size_t> ReapExcept(absl::FunctionRef<bool(std::string_view session_id)> keep) override {
    ASSIGN_OR_RETURN(std::vector<ListedContainer> containers, List());
    size_t released = 0;
    absl::Status first_error;
    for (const ListedContainer& c : containers) {
      // A container labelled as a hand but with no session was not made by a provider: leave it.
      if (!c.owner() || keep(*c.owner())) continue;
      absl::StatusOr<bool> removed = Remove(c.id);
      if (!removed.ok()) {
        if (first_error.ok()) first_error = removed.status();
      } else if (*removed) {
        ++released;
      }
    }
    if (!first_error.ok()) return first_error;
    return released;
  }

 private:
  // Creates the session's container under its one name (ContainerName) and returns its id. A
  // container already holding the name is one no running hand of this process uses: Reattach found
  // no running container for the session (or the pool wants a fresh hand after a dead one), so it is
  // what a killed waked left half-made, or a dead hand not yet removed. It is removed and the
  // create repeated; a removal under way (the daemon answers 409 "in progress") is waited for.
  absl::StatusOr<std::string> Create(std::string_view session_id, const HandResources& resources) const {
    const std::string name = ContainerName(options_.labels, session_id);
    const std::string target = absl::StrCat("/containers/create?name=", name);
    const std::string body = CreateBody(session_id, resources);
    constexpr int kAttempts = 20;
    for (int attempt = 1;; ++attempt) {
      ASSIGN_OR_RETURN(EngineResponse created, client_->Call("POST", target, body));
      if (created.status == 404) {
        return absl::FailedPreconditionError(absl::StrCat(
            "docker image ", options_.image, " is not on the daemon (wake never pulls; build or load it first, e.g. "
            "scripts/services/docker.sh for the test image): ", DaemonMessage(created)));
      }
      if (created.status == 409 && attempt < kAttempts) {
        ASSIGN_OR_RETURN(bool removed, Remove(name));
        if (!removed) absl::SleepFor(absl::Milliseconds(50) * attempt);  // gone meanwhile, or removal under way
        continue;
      }
      if (created.status != 201) return DaemonError("POST", target, created);
      dom::parser parser;
      simdjson::padded_string padded(created.body);
      dom::element root;
      std::string_view value;
      if (parser.parse(padded).get(root) != simdjson::SUCCESS || root["Id"].get(value) != simdjson::SUCCESS) {
        return Unexpected("POST", target);
      }
      return std::string(value);
    }
  }

  absl::Status CheckResources(const HandResources& resources) const {
    if (resources.memory_bytes < 0 || resources.pids < 0 || !(resources.cpus >= 0) || !std::isfinite(resources.cpus)) {
      return absl::InvalidArgumentError("hand resources: memory_bytes, cpus and pids must be >= 0");
    }
    return docker_internal::CheckEnvironment(resources.env);
  }

  // `requested` under `ceiling`: a request of 0 ("unlimited") or above the ceiling gets the ceiling;
  // no ceiling (0) leaves the request as it is.
  template <typename T>
  static T Capped(T requested, T ceiling) {
    if (ceiling <= 0) return requested;
    return requested <= 0 || requested > ceiling ? ceiling : requested;
  }

  std::string CreateBody(std::string_view session_id, const HandResources& requested) const {
    HandResources resources = requested;
    resources.memory_bytes = Capped(requested.memory_bytes, options_.max_memory_bytes);
    resources.cpus = Capped(requested.cpus, options_.max_cpus);
    resources.pids = Capped(requested.pids, options_.max_pids);
    std::string body = R"({"Image":)";
    AppendJsonString(body, options_.image);
    body += R"(,"Entrypoint":[)";
    for (size_t i = 0; i < options_.idle_command.size(); ++i) {
      if (i > 0) body += ",";
      AppendJsonString(body, options_.idle_command[i]);
    }
    body += R"(],"Cmd":[],"WorkingDir":)";
    AppendJsonString(body, options_.work_dir);
    if (!options_.user.empty()) {
      body += R"(,"User":)";
      AppendJsonString(body, options_.user);
    }
    body += R"(,"Tty":false,"OpenStdin":false,"Env":[)";
    for (size_t i = 0; i < resources.env.size(); ++i) {
      if (i > 0) body += ",";
      AppendJsonString(body, absl::StrCat(resources.env[i].first, "=", resources.env[i].second));
    }
    body += R"(],"Labels":{)";
    AppendJsonString(body, kHandLabel);
    body += R"(:"1",)";
    AppendJsonString(body, kSessionLabel);
    body += ":";
    AppendJsonString(body, session_id);
    body += ",";
    AppendJsonString(body, kWorkDirLabel);
    body += ":";
    AppendJsonString(body, options_.work_dir);
    for (const auto& [key, value] : options_.labels) {
      body += ",";
      AppendJsonString(body, key);
      body += ":";
      AppendJsonString(body, value);
    }
    body += R"(},"HostConfig":{)";
    absl::StrAppend(&body, R"("Init":)", options_.init ? "true" : "false");
    // Confinement: no privileges, every capability dropped (a tool runs as the image's user, root
    // by default, but a root without capabilities cannot mount, load modules, trace other
    // processes, change owners or use raw sockets), no gaining privileges through setuid binaries,
    // and no host path mounted (no Binds, no Mounts; the work dir is the container's own).
    body += R"(,"Privileged":false,"CapDrop":["ALL"],"SecurityOpt":["no-new-privileges"])";
    absl::StrAppend(&body, R"(,"NetworkMode":)", resources.network ? R"("default")" : R"("none")");
    if (resources.memory_bytes > 0) {
      // MemorySwap equal to Memory: no swap on top of the limit.
      absl::StrAppend(&body, R"(,"Memory":)", resources.memory_bytes, R"(,"MemorySwap":)", resources.memory_bytes);
    }
    if (resources.cpus > 0) {
      absl::StrAppend(&body, R"(,"NanoCpus":)", static_cast<int64_t>(std::llround(resources.cpus * 1e9)));
    }
    if (resources.pids > 0) absl::StrAppend(&body, R"(,"PidsLimit":)", resources.pids);
    body += "}}";
    return body;
  }

  absl::StatusOr<std::unique_ptr<Hand>> MakeHand(std::string id, std::string work_dir) const {
    auto per_exec = [&] {
      docker_internal::ExecPrimitivesOptions exec_options;
      exec_options.user = options_.user;
      exec_options.kill_grace = options_.kill_grace;
      exec_options.helper_timeout = options_.request_timeout;
      return docker_internal::NewExecPrimitives(client_, id, std::move(exec_options));
    };
    std::unique_ptr<ContainerPrimitives> primitives = per_exec();
    if (agent_binary_ != nullptr) {
      docker_internal::AgentPrimitivesOptions agent_options;
      agent_options.binary = agent_binary_;
      agent_options.user = options_.user;
      agent_options.work_dir = work_dir;
      agent_options.start_timeout = std::min(options_.request_timeout, absl::Seconds(20));
      absl::StatusOr<std::unique_ptr<ContainerPrimitives>> through_agent =
          docker_internal::NewAgentPrimitives(client_, id, std::move(agent_options), std::move(primitives));
      if (through_agent.ok()) {
        primitives = *std::move(through_agent);
      } else if (options_.require_agent || through_agent.status().code() == absl::StatusCode::kUnavailable) {
        return through_agent.status();  // required, or the container itself is gone
      } else {
        // The per-exec path still works where the agent cannot run (e.g. a noexec root filesystem).
        std::fprintf(stderr, "wake: docker hand %s: %s; serving per exec\n", id.substr(0, 12).c_str(),
                     std::string(through_agent.status().message()).c_str());
        primitives = per_exec();
      }
    }
    return std::unique_ptr<Hand>(
        std::make_unique<DockerHand>(client_, std::move(id), std::move(work_dir), std::move(primitives)));
  }

  // When container `id` was created, to the nanosecond (the inspect's "Created"); InfinitePast when
  // the daemon does not say (then the container counts as the oldest).
  absl::Time CreatedPrecisely(const std::string& id) const {
    absl::StatusOr<EngineResponse> response = client_->Call("GET", absl::StrCat("/containers/", id, "/json"));
    if (!response.ok() || response->status != 200) return absl::InfinitePast();
    dom::parser parser;
    simdjson::padded_string padded(response->body);
    dom::element root;
    std::string_view created;
    absl::Time at;
    std::string error;
    if (parser.parse(padded).get(root) != simdjson::SUCCESS || root["Created"].get(created) != simdjson::SUCCESS ||
        !absl::ParseTime(absl::RFC3339_full, ToAbsl(created), &at, &error)) {
      return absl::InfinitePast();
    }
    return at;
  }

  // Removes container `id` (forced, with its anonymous volumes): true when this call removed it,
  // false when it was already gone.
  absl::StatusOr<bool> Remove(const std::string& id) const {
    const std::string target = absl::StrCat("/containers/", id, "?force=true&v=true");
    ASSIGN_OR_RETURN(EngineResponse response, client_->Call("DELETE", target));
    if (response.status == 204) return true;
    if (response.status == 404) return false;
    if (response.status == 409 && absl::StrContains(DaemonMessage(response), "already in progress")) return false;
    return DaemonError("DELETE", target, response);
  }

  // This provider's containers, running or not: those labelled wake.hand=1 and with every one of
  // options.labels, and `extra_label` ("key=value") and the name `name` when given.
  absl::StatusOr<std::vector<ListedContainer>> List(const std::string& extra_label = "", const std::string& name = "") const {
    std::vector<std::string> labels = {absl::StrCat(ToAbsl(kHandLabel), "=1")};
    for (const auto& [key, value] : options_.labels) labels.push_back(absl::StrCat(key, "=", value));
    if (!extra_label.empty()) labels.push_back(extra_label);
    std::string filters = R"({"label":[)";
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) filters += ",";
      AppendJsonString(filters, labels[i]);
    }
    filters += "]";
    if (!name.empty()) {
      // The daemon's name filter is a pattern matched anywhere in the name: anchored, and the
      // name has only [a-zA-Z0-9_.-] (a "." matches itself too).
      filters += R"(,"name":[)";
      AppendJsonString(filters, absl::StrCat("^/", name, "$"));
      filters += "]";
    }
    filters += "}";
    const std::string target = absl::StrCat("/containers/json?all=true&filters=", QueryEscape(filters));
    ASSIGN_OR_RETURN(EngineResponse response, client_->Call("GET", target));
    if (response.status != 200) return DaemonError("GET", target, response);
    dom::parser parser;
    simdjson::padded_string padded(response.body);
    dom::element root;
    dom::array array;
    if (parser.parse(padded).get(root) != simdjson::SUCCESS || root.get(array) != simdjson::SUCCESS) {
      return Unexpected("GET", target);
    }
    std::vector<ListedContainer> out;
    for (dom::element item : array) {
      ListedContainer c;
      std::string_view id;
      std::string_view state;
      if (item["Id"].get(id) != simdjson::SUCCESS) return Unexpected("GET", target);
      c.id = std::string(id);
      if (item["Created"].get(c.created) != simdjson::SUCCESS) c.created = 0;
      const bool has_state = item["State"].get(state) == simdjson::SUCCESS;
      c.running = has_state && state == "running";
      c.created_only = has_state && state == "created";
      dom::object container_labels;
      if (item["Labels"].get(container_labels) == simdjson::SUCCESS) {
        std::string_view value;
        if (container_labels[kSessionLabel].get(value) == simdjson::SUCCESS) c.session = std::string(value);
        if (container_labels[kWorkDirLabel].get(value) == simdjson::SUCCESS && IsNormalAbsolute(value)) {
          c.work_dir = std::string(value);
        }
      }
      dom::array names;
      if (item["Names"].get(names) == simdjson::SUCCESS) {
        for (dom::element n : names) {
          std::string_view value;
          if (n.get(value) != simdjson::SUCCESS) continue;
          if (std::optional<std::string> owner = SessionOfName(options_.labels, value)) c.named_session = std::move(owner);
        }
      }
      out.push_back(std::move(c));
    }
    return out;
  }

  const DockerProviderOptions options_;
  const std::shared_ptr<const EngineClient> client_;
  const std::shared_ptr<const std::string> agent_binary_;  // null: per exec only
};

}  // namespace

absl::StatusOr<std::unique_ptr<HandProvider>> NewDockerProvider(DockerProviderOptions options) {
  if (options.socket_path.empty()) return absl::InvalidArgumentError("docker provider: socket_path is empty");
  if (options.image.empty()) return absl::InvalidArgumentError("docker provider: image is empty");
  if (!IsNormalAbsolute(options.work_dir) || options.work_dir == "/") {
    return absl::InvalidArgumentError(absl::StrCat(
        "docker provider: work_dir must be an absolute, normal path other than /, not \"", options.work_dir, "\""));
  }
  if (options.idle_command.empty()) return absl::InvalidArgumentError("docker provider: idle_command is empty");
  if (options.max_memory_bytes < 0 || options.max_pids < 0 || !(options.max_cpus >= 0) ||
      !std::isfinite(options.max_cpus)) {
    return absl::InvalidArgumentError("docker provider: max_memory_bytes, max_cpus and max_pids must be >= 0");
  }
  if (options.request_timeout <= absl::ZeroDuration() || options.kill_grace <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("docker provider: request_timeout and kill_grace must be positive");
  }
  for (const auto& [key, value] : options.labels) {
    if (key.empty() || key == kHandLabel || key == kSessionLabel || key == kWorkDirLabel) {
      return absl::InvalidArgumentError(absl::StrCat("docker provider: label \"", key, "\" is empty or reserved"));
    }
  }
  std::shared_ptr<const std::string> agent_binary;
  if (!options.agent_path.empty()) {
    absl::StatusOr<std::shared_ptr<const std::string>> read = ReadAgentBinary(options.agent_path);
    if (!read.ok()) return absl::InvalidArgumentError(absl::StrCat("docker provider: ", read.status().message()));
    agent_binary = *std::move(read);
  } else if (options.require_agent) {
    return absl::InvalidArgumentError("docker provider: require_agent without an agent_path");
  }
  return std::make_unique<DockerProvider>(std::move(options), std::move(agent_binary));
}

}  // namespace wake
