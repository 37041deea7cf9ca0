// The primitives through the hand agent (container_primitives.h NewAgentPrimitives).
//
// Starting the agent: its binary is copied to /.wake-hand-agent with the archive endpoint (skipped
// when a file of its size is already there: a reattached hand), then started as one exec with
// stdin, stdout and stderr attached and no TTY. The upgraded connection of its start is the RPC
// stream: what is written is the agent's stdin, what is read is the multiplexed stdout (the RPC
// stream) and stderr (the agent's diagnostics, kept for error messages). Closing the connection
// closes the agent's stdin: it kills what it still runs and exits.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/sync.h"
#include "sandbox/agent/agent_connection.h"
#include "sandbox/docker/internal/container_primitives.h"
#include "sandbox/docker/internal/tar.h"
#include "schemas/event_json.h"
#include "simdjson.h"

namespace wake::docker_internal {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kAgentName = ".wake-hand-agent";
constexpr std::string_view kAgentPath = "/.wake-hand-agent";
constexpr size_t kMaxAgentLog = 4096;
// How long a container whose agent vanished must stay "running" to be believed alive (the daemon
// marks a killed container stopped some tens of milliseconds after its processes died).
constexpr absl::Duration kDeathSettle = absl::Milliseconds(300);

// The last bytes the agent wrote to its stderr.
class AgentLog {
 public:
  void Append(std::string_view bytes) {
    MutexLock lock(&mu_);
    text_.append(bytes);
    if (text_.size() > kMaxAgentLog) text_.erase(0, text_.size() - kMaxAgentLog);
  }
  std::string Text() {
    MutexLock lock(&mu_);
    return text_;
  }

 private:
  Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
};

// Whether the archive endpoint's stat header (base64 of a JSON stat) says a regular file of `size`.
bool SameSize(const std::string& path_stat, size_t size) {
  std::string json;
  if (!absl::Base64Unescape(ToAbsl(path_stat), &json)) return false;
  dom::parser parser;
  simdjson::padded_string padded(json);
  dom::element root;
  int64_t stat_size = -1;
  uint64_t mode = 0;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS || root["size"].get(stat_size) != simdjson::SUCCESS ||
      root["mode"].get(mode) != simdjson::SUCCESS) {
    return false;
  }
  // Go's os.FileMode: directory, symlink, device, named pipe, socket, char device, irregular.
  constexpr uint64_t kTypeBits = (1u << 31) | (1u << 27) | (1u << 26) | (1u << 25) | (1u << 24) | (1u << 21) | (1u << 19);
  return (mode & kTypeBits) == 0 && stat_size == static_cast<int64_t>(size);
}

class AgentPrimitives : public ContainerPrimitives {
 public:
  AgentPrimitives(std::shared_ptr<const EngineClient> client, std::string container_id, AgentPrimitivesOptions options,
                  std::unique_ptr<ContainerPrimitives> fallback)
      : client_(std::move(client)),
        id_(std::move(container_id)),
        options_(std::move(options)),
        fallback_(std::move(fallback)) {}

  absl::Status Start() {
    ASSIGN_OR_RETURN(std::shared_ptr<AgentConnection> connection, Launch());
    MutexLock lock(&mu_);
    connection_ = std::move(connection);
    return absl::OkStatus();
  }

  absl::StatusOr<RunOutcome> Run(const RunRequest& request, const CancelToken* cancel) override {
    std::shared_ptr<AgentConnection> connection = Current();
    if (connection == nullptr) return fallback_->Run(request, cancel);
    absl::StatusOr<RunOutcome> outcome = connection->Run(request, cancel);
    if (outcome.ok() || outcome.status().code() != absl::StatusCode::kUnavailable) return outcome;
    RETURN_IF_ERROR(AfterAgentLoss(connection, outcome.status()));
    return absl::InternalError(absl::StrCat(
        "the hand agent died while the command ran (did the command kill it, or the kernel for lack of memory?); "
        "it was started again: the command may or may not have had its effects (",
        outcome.status().message(), ")"));
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) override {
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::shared_ptr<AgentConnection> connection = Current();
      if (connection == nullptr) break;
      absl::StatusOr<std::string> content = connection->ReadFile(path, max_bytes);
      if (content.ok() || content.status().code() != absl::StatusCode::kUnavailable) return content;
      RETURN_IF_ERROR(AfterAgentLoss(connection, content.status()));
    }
    return fallback_->ReadFile(path, max_bytes);
  }

  absl::Status WriteFile(const std::string& path, std::string_view content) override {
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::shared_ptr<AgentConnection> connection = Current();
      if (connection == nullptr) break;
      absl::Status written = connection->WriteFile(path, content);
      if (written.code() != absl::StatusCode::kUnavailable) return written;
      RETURN_IF_ERROR(AfterAgentLoss(connection, written));
    }
    return fallback_->WriteFile(path, content);
  }

 private:
  std::shared_ptr<AgentConnection> Current() {
    MutexLock lock(&mu_);
    return connection_;
  }

  // `lost` failed Unavailable. Unavailable when that is because the container is gone or stopped;
  // otherwise the agent alone died: it is started again (or, failing that, the fallback serves).
  absl::Status AfterAgentLoss(const std::shared_ptr<AgentConnection>& lost, const absl::Status& why) {
    RETURN_IF_ERROR(CheckRunning(why));
    MutexLock lock(&mu_);
    if (connection_ != lost) return absl::OkStatus();  // another call already replaced it
    absl::StatusOr<std::shared_ptr<AgentConnection>> restarted = Launch();
    if (restarted.ok()) {
      connection_ = *std::move(restarted);
    } else {
      // The container lives but the agent cannot run in it any more: per exec from now on.
      connection_ = nullptr;
    }
    return absl::OkStatus();
  }

  // OK while the container runs (and has for kDeathSettle); Unavailable once it does not.
  absl::Status CheckRunning(const absl::Status& why) const {
    const absl::Time until = absl::Now() + kDeathSettle;
    const std::string target = absl::StrCat("/containers/", id_, "/json");
    while (true) {
      ASSIGN_OR_RETURN(EngineResponse response, client_->Call("GET", target));
      bool running = false;
      if (response.status == 200) {
        dom::parser parser;
        simdjson::padded_string padded(response.body);
        dom::element root;
        if (parser.parse(padded).get(root) != simdjson::SUCCESS ||
            root["State"]["Running"].get(running) != simdjson::SUCCESS) {
          return absl::InternalError(absl::StrCat("docker daemon: GET ", target, ": unexpected response"));
        }
      } else if (response.status != 404) {
        return DaemonError("GET", target, response);
      }
      if (!running) {
        return absl::UnavailableError(absl::StrCat("docker container ", id_.substr(0, 12),
                                                   " is gone or stopped (its hand agent: ", why.message(), ")"));
      }
      if (absl::Now() >= until) return absl::OkStatus();
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

  absl::Status Gone(std::string_view method, const std::string& target, const EngineResponse& response) const {
    return absl::UnavailableError(absl::StrCat("docker container ", id_.substr(0, 12), " is gone or stopped (",
                                               DaemonError(method, target, response).message(), ")"));
  }

  // Copies the agent into the container unless it is there, starts it and connects.
  absl::StatusOr<std::shared_ptr<AgentConnection>> Launch() {
    const absl::Time deadline = absl::Now() + options_.start_timeout;
    CallOptions call;
    call.timeout = options_.start_timeout;
    const std::string stat_target =
        absl::StrCat("/containers/", id_, "/archive?path=", QueryEscape(kAgentPath));
    ASSIGN_OR_RETURN(EngineResponse present, client_->Call("HEAD", stat_target, {}, call));
    if (ContainerGone(present)) return Gone("HEAD", stat_target, present);
    // The size alone says whether it is this agent: a different build differs in size with
    // near certainty, and an equal-size stale copy would fail the ping's version check.
    if (present.status != 200 || !SameSize(present.path_stat, options_.binary->size())) {
      const std::string archive = TarOneFile(kAgentName, *options_.binary, 0755, absl::ToUnixSeconds(absl::Now()));
      const std::string put_target = absl::StrCat("/containers/", id_, "/archive?path=%2F");
      call.content_type = "application/x-tar";
      ASSIGN_OR_RETURN(EngineResponse put, client_->Call("PUT", put_target, archive, call));
      if (put.status != 200) {
        if (ContainerGone(put)) return Gone("PUT", put_target, put);
        return DaemonError("PUT", put_target, put);
      }
    }

    std::string body = R"({"AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"Tty":false)";
    if (!options_.user.empty()) {
      body += R"(,"User":)";
      AppendJsonString(body, options_.user);
    }
    body += R"(,"WorkingDir":)";
    AppendJsonString(body, options_.work_dir);
    body += R"(,"Cmd":[)";
    AppendJsonString(body, kAgentPath);
    body += ",";
    AppendJsonString(body, absl::StrCat("--work-dir=", options_.work_dir));
    body += "]}";
    const std::string create_target = absl::StrCat("/containers/", id_, "/exec");
    ASSIGN_OR_RETURN(EngineResponse created, client_->Call("POST", create_target, body));
    if (created.status != 201) {
      if (ContainerGone(created)) return Gone("POST", create_target, created);
      return DaemonError("POST", create_target, created);
    }
    std::string exec_id;
    {
      dom::parser parser;
      simdjson::padded_string padded(created.body);
      dom::element root;
      std::string_view value;
      if (parser.parse(padded).get(root) != simdjson::SUCCESS || root["Id"].get(value) != simdjson::SUCCESS) {
        return absl::InternalError(absl::StrCat("docker daemon: POST ", create_target, ": no \"Id\" in the response"));
      }
      exec_id = std::string(value);
    }
    const std::string start_target = absl::StrCat("/exec/", exec_id, "/start");
    ASSIGN_OR_RETURN(Upgraded upgraded, client_->Upgrade(start_target, R"({"Detach":false,"Tty":false})", deadline));
    if (upgraded.stream == nullptr) {
      if (ContainerGone(upgraded.response)) return Gone("POST", start_target, upgraded.response);
      return DaemonError("POST", start_target, upgraded.response);
    }
    std::string pending;
    const int fd = upgraded.stream->DetachFd(&pending);
    upgraded.stream.reset();  // the connection lives on in `fd`
    if (fd < 0) return absl::InternalError(absl::StrCat("docker exec stream: dup: ", std::strerror(errno)));
    if (!pending.empty()) {
      ::close(fd);
      return absl::InternalError("the hand agent wrote before it was asked anything");
    }
    AgentEndpoint endpoint;
    endpoint.read_fd = endpoint.write_fd = fd;
    endpoint.docker_multiplexed = true;
    endpoint.on_stderr = [log = log_](std::string_view bytes) { log->Append(bytes); };
    absl::StatusOr<std::unique_ptr<AgentConnection>> connection =
        AgentConnection::Connect(std::move(endpoint), std::max(deadline - absl::Now(), absl::Milliseconds(100)));
    if (!connection.ok()) {
      // Unavailable is for a dead container; an agent that cannot run in a live one is not that.
      RETURN_IF_ERROR(CheckRunning(connection.status()));
      const std::string said(absl::StripTrailingAsciiWhitespace(log_->Text()));
      return absl::FailedPreconditionError(absl::StrCat("the hand agent did not start: ", connection.status().message(),
                                                        said.empty() ? "" : "; it said: ", said));
    }
    return std::shared_ptr<AgentConnection>(*std::move(connection));
  }

  const std::shared_ptr<const EngineClient> client_;
  const std::string id_;
  const AgentPrimitivesOptions options_;
  const std::unique_ptr<ContainerPrimitives> fallback_;
  const std::shared_ptr<AgentLog> log_ = std::make_shared<AgentLog>();

  Mutex mu_;
  // Null once the agent could not be started again: the fallback serves.
  std::shared_ptr<AgentConnection> connection_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<ContainerPrimitives>> NewAgentPrimitives(
    std::shared_ptr<const EngineClient> client, std::string container_id, AgentPrimitivesOptions options,
    std::unique_ptr<ContainerPrimitives> fallback) {
  if (options.binary == nullptr || options.binary->empty()) return absl::InvalidArgumentError("no hand agent binary");
  auto primitives =
      std::make_unique<AgentPrimitives>(std::move(client), std::move(container_id), std::move(options), std::move(fallback));
  RETURN_IF_ERROR(primitives->Start());
  return primitives;
}

}  // namespace wake::docker_internal
