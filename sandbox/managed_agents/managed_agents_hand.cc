#include "sandbox/managed_agents/managed_agents_hand.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "simdjson.h"

namespace wake {
namespace {

constexpr std::string_view kBackend = "managed_agents";

ContentBlock TextBlock(std::string text) {
  ContentBlock block;
  block.text = std::move(text);
  return block;
}

// "bash x2, read": the tools a turn used, counted, in order of first use.
std::string ToolSummary(const std::vector<std::string>& tools) {
  std::vector<std::pair<std::string, int>> counted;
  for (const std::string& name : tools) {
    auto it = std::find_if(counted.begin(), counted.end(), [&](const auto& c) { return c.first == name; });
    if (it == counted.end()) {
      counted.emplace_back(name, 1);
    } else {
      ++it->second;
    }
  }
  std::vector<std::string> parts;
  for (const auto& [name, n] : counted) parts.push_back(n == 1 ? name : absl::StrCat(name, " x", n));
  return absl::StrJoin(parts, ", ");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ManagedAgentsHands>> ManagedAgentsHands::Create(ManagedAgentsHandOptions options) {
  if (options.vault == nullptr) return absl::InvalidArgumentError("managed_agents hand: a vault is required (the API key)");
  if (options.tool_name.empty()) return absl::InvalidArgumentError("managed_agents hand: the tool needs a name");
  ClientOptions check;
  check.base_url = options.base_url;
  RETURN_IF_ERROR(Client::Create(check).status());
  auto hands = std::unique_ptr<ManagedAgentsHands>(new ManagedAgentsHands(std::move(options)));
  {
    MutexLock lock(&hands->setup_mu_);
    hands->environment_id_ = hands->options_.environment_id;
    hands->agent_id_ = hands->options_.agent_id;
  }
  return hands;
}

ToolSpec ManagedAgentsHands::tool() const {
  return ToolSpec{
      options_.tool_name,
      "Delegates a task to a remote agent that runs it in its own sandboxed environment and answers with "
      "its result. The remote agent remembers earlier tasks of this session.",
      R"({"type":"object","properties":{"task":{"type":"string","description":"What the remote agent should do, )"
      R"(with everything it needs to know."}},"required":["task"]})"};
}

absl::StatusOr<Client> ManagedAgentsHands::NewClient() const {
  ASSIGN_OR_RETURN(std::string key, options_.vault->Get(options_.api_key_secret));
  ClientOptions client;
  client.base_url = options_.base_url;
  client.api_key = std::move(key);
  client.anthropic_version = options_.api_version;
  client.max_retries = options_.max_retries;
  client.retry_base_delay = options_.retry_base_delay;
  client.max_retry_delay = options_.max_retry_delay;
  client.request_timeout = options_.request_timeout;
  client.stream_idle_timeout = options_.stream_idle_timeout;
  return Client::Create(std::move(client));
}

absl::StatusOr<std::pair<std::string, std::string>> ManagedAgentsHands::EnvironmentAndAgent(const Client& client) {
  MutexLock lock(&setup_mu_);
  if (environment_id_.empty()) {
    const std::string body = !options_.environment_json.empty()
                                 ? options_.environment_json
                                 : std::string(R"({"name":"wake delegate","config":{"type":"cloud"}})");
    ASSIGN_OR_RETURN(environment_id_, CreateResource(client, "/v1/environments", body));
  }
  if (agent_id_.empty()) {
    std::string body = options_.agent_json;
    if (body.empty()) {
      body = absl::StrCat(R"({"name":"wake delegate","model":)", JsonQuote(options_.model),
                          options_.system.empty() ? "" : absl::StrCat(R"(,"system":)", JsonQuote(options_.system)),
                          R"(,"tools":[{"type":"agent_toolset_20260401"}]})");
    }
    ASSIGN_OR_RETURN(agent_id_, CreateResource(client, "/v1/agents", body));
  }
  return std::make_pair(environment_id_, agent_id_);
}

std::shared_ptr<ManagedAgentsHands::Remote> ManagedAgentsHands::RemoteFor(std::string_view session_id) {
  MutexLock lock(&mu_);
  auto it = remotes_.find(session_id);
  if (it == remotes_.end()) it = remotes_.emplace(std::string(session_id), std::make_shared<Remote>()).first;
  return it->second;
}

ToolResult ManagedAgentsHands::Error(std::string text) const {
  ToolResult result;
  result.is_error = true;
  result.content.push_back(TextBlock(options_.vault->Mask(text)));
  return result;
}

absl::StatusOr<ToolResult> ManagedAgentsHands::Execute(std::string_view session_id, const ToolCall& call,
                                                       const CancelToken* cancel, std::vector<Event>* hand_events) {
  if (call.name != options_.tool_name) {
    return Error(absl::StrCat("unknown tool ", call.name, ": this hand only runs ", options_.tool_name));
  }
  std::string task;
  {
    simdjson::dom::parser parser;
    simdjson::dom::element input;
    std::string_view value;
    if (parser.parse(call.input_json).get(input) != simdjson::SUCCESS ||
        input["task"].get(value) != simdjson::SUCCESS || value.empty()) {
      return Error(absl::StrCat(options_.tool_name, R"( needs {"task": "<what to do>"} with a non-empty task)"));
    }
    task = std::string(value);
  }
  absl::StatusOr<Client> client = NewClient();
  if (!client.ok()) {
    // Names the secret, never a value.
    return Error(absl::StrCat("the remote agent cannot be called: no API key (vault secret ", options_.api_key_secret,
                              "): ", client.status().message()));
  }

  std::shared_ptr<Remote> remote = RemoteFor(session_id);
  MutexLock turn(&remote->turn_mu);
  if (remote->session_id.empty()) {
    const absl::Time start = absl::Now();
    absl::StatusOr<std::pair<std::string, std::string>> setup = EnvironmentAndAgent(*client);
    if (!setup.ok()) return Error(absl::StrCat("the remote agent could not be set up: ", setup.status().message()));
    absl::StatusOr<std::string> made = CreateResource(
        *client, "/v1/sessions",
        absl::StrCat(R"({"agent":)", JsonQuote(setup->second), R"(,"environment_id":)", JsonQuote(setup->first),
                     R"(,"title":)", JsonQuote(absl::StrCat("delegated by wake session ", ToAbsl(session_id))), "}"));
    if (!made.ok()) return Error(absl::StrCat("the remote session could not be created: ", made.status().message()));
    remote->session_id = *made;
    if (hand_events != nullptr) {
      Event provisioned;
      provisioned.type = EventType::kHandProvisioned;
      provisioned.hand_id = remote->session_id;
      provisioned.hand_backend = std::string(kBackend);
      provisioned.duration_us = absl::ToInt64Microseconds(absl::Now() - start);
      hand_events->push_back(std::move(provisioned));
    }
  }

  const std::string where = absl::StrCat("remote session ", remote->session_id);
  absl::StatusOr<TurnOutcome> outcome = RunTurn(*client, remote->session_id, task, options_.turn, cancel);
  if (!outcome.ok()) {
    if (absl::IsNotFound(outcome.status())) remote->session_id.clear();  // gone: the next call makes a new one
    if (absl::IsDeadlineExceeded(outcome.status())) {
      return Error(absl::StrCat("the delegated task timed out: ", outcome.status().message(),
                                " (it was interrupted; the remote session is kept for the next task)"));
    }
    if (absl::IsCancelled(outcome.status())) return Error(absl::StrCat("the delegated task was cancelled (", where, ")"));
    return Error(absl::StrCat("the delegated task failed (", where, "): ", outcome.status().message()));
  }
  std::string report = outcome->text.empty() ? "(the remote agent answered with no text)" : outcome->text;
  std::string footer = absl::StrCat("[", where);
  if (!outcome->tools_used.empty()) absl::StrAppend(&footer, "; tools used: ", ToolSummary(outcome->tools_used));
  if (!outcome->errors.empty()) absl::StrAppend(&footer, "; errors: ", absl::StrJoin(outcome->errors, "; "));
  absl::StrAppend(&footer, "]");

  if (outcome->stop_reason == "end_turn") {
    ToolResult result;
    result.content.push_back(TextBlock(options_.vault->Mask(absl::StrCat(report, "\n\n", footer))));
    return result;
  }
  if (outcome->stop_reason == "requires_action") {
    // The remote agent waits for a custom tool's result or a tool confirmation: this hand has neither
    // to give. Interrupt it so the session is usable by the next task.
    (void)client->Post(absl::StrCat("/v1/sessions/", remote->session_id, "/events"),
                       R"({"events":[{"type":"user.interrupt"}]})");
    return Error(absl::StrCat("the remote agent stopped to wait for a custom tool result or a tool confirmation (",
                              absl::StrJoin(outcome->required_event_ids, ", "),
                              "), which this hand cannot give; it was interrupted. Its answer so far:\n\n", report,
                              "\n\n", footer));
  }
  if (outcome->stop_reason == "terminated") {
    remote->session_id.clear();
    return Error(absl::StrCat("the remote session was terminated; the next task gets a new one. ", report, "\n\n",
                              footer));
  }
  if (outcome->stop_reason == "retries_exhausted") {
    return Error(absl::StrCat("the remote agent gave up after retrying its model: ", report, "\n\n", footer));
  }
  return Error(absl::StrCat("the remote agent stopped (", outcome->stop_reason, "): ", report, "\n\n", footer));
}

absl::Status ManagedAgentsHands::ReleaseSession(std::string_view session_id) {
  std::shared_ptr<Remote> remote;
  {
    MutexLock lock(&mu_);
    auto it = remotes_.find(session_id);
    if (it == remotes_.end()) return absl::OkStatus();
    remote = it->second;
    remotes_.erase(it);
  }
  MutexLock turn(&remote->turn_mu);
  if (remote->session_id.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(Client client, NewClient());
  RETURN_IF_ERROR(ArchiveSession(client, remote->session_id));
  remote->session_id.clear();
  return absl::OkStatus();
}

std::string ManagedAgentsHands::RemoteSessionId(std::string_view session_id) const {
  std::shared_ptr<Remote> remote;
  {
    MutexLock lock(&mu_);
    auto it = remotes_.find(session_id);
    if (it == remotes_.end()) return "";
    remote = it->second;
  }
  MutexLock turn(&remote->turn_mu);
  return remote->session_id;
}

}  // namespace wake
