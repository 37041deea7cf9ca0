// wake_demo: wake as an embedded library, end to end, in one process.
//
// Opens an Engine on a data dir (RocksDB under ./data by default) with local hands (a work dir per
// session under <data>/hands), creates an agent, an environment and a session, sends a user.message,
// and prints every event of the session as it is appended (Managed Agents JSON, one per line) until
// the session is idle again. The agent's first tool call provisions its hand: not before.
//
// The model: Anthropic's Messages API when ANTHROPIC_API_KEY is set (model $WAKE_MODEL, default
// claude-sonnet-4-5), an OpenAI-compatible server when OPENAI_BASE_URL is set (model $WAKE_MODEL,
// required), and otherwise the scripted brain, labelled "scripted (not a model)", whose script greets,
// runs one command on the hand and reports.
//
// usage: wake_demo [--data DIR] [--message TEXT]

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "sandbox/local/local_hand.h"
#include "schemas/event_json.h"

namespace {

int Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "wake_demo: %s: %s\n", what.c_str(), std::string(status.message()).c_str());
  return 1;
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

// The agent's model for what the environment offers (see the header comment).
absl::StatusOr<std::pair<std::string, std::string>> ChooseModel() {
  if (!EnvOr("ANTHROPIC_API_KEY", "").empty()) {
    return std::make_pair(EnvOr("WAKE_MODEL", "claude-sonnet-4-5"), std::string("anthropic"));
  }
  if (!EnvOr("OPENAI_BASE_URL", "").empty()) {
    const std::string model = EnvOr("WAKE_MODEL", "");
    if (model.empty()) {
      return absl::FailedPreconditionError("OPENAI_BASE_URL is set but WAKE_MODEL is not: name the model to use");
    }
    return std::make_pair(absl::StrCat("openai:", model), std::string("openai-compatible"));
  }
  return std::make_pair(std::string("scripted"), std::string("scripted (not a model)"));
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = "data";
  std::string message = "Hello! What are you, and can you run a command on your hand?";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (std::strcmp(argv[i], "--message") == 0 && i + 1 < argc) {
      message = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--data DIR] [--message TEXT]\n", argv[0]);
      return 2;
    }
  }
  auto model = ChooseModel();
  if (!model.ok()) return Fail("choosing the model", model.status());
  std::fprintf(stderr, "wake_demo: brain %s, model %s, data %s\n", model->second.c_str(), model->first.c_str(),
               data_dir.c_str());

  wake::LocalProviderOptions local;
  local.base_dir = data_dir + "/hands";
  auto hands = wake::NewLocalProvider(local);
  if (!hands.ok()) return Fail("opening local hands", hands.status());
  wake::EngineOptions options;
  options.data_dir = data_dir;
  options.hand_providers = {{"local", hands->get()}};
  options.harness.worker_id = "wake_demo";
  auto engine = wake::Engine::Open(options);
  if (!engine.ok()) return Fail("opening the engine", engine.status());

  wake::AgentSpec agent_spec;
  agent_spec.name = "demo agent";
  agent_spec.model = model->first;
  agent_spec.system = "You are a demo agent of wake. Be brief. You may run shell commands with the bash tool.";
  auto agent = (*engine)->CreateAgent(agent_spec);
  if (!agent.ok()) return Fail("creating the agent", agent.status());
  wake::EnvironmentSpec env_spec;
  env_spec.name = "demo environment (local hands)";
  env_spec.backend = "local";
  auto environment = (*engine)->CreateEnvironment(env_spec);
  if (!environment.ok()) return Fail("creating the environment", environment.status());
  wake::CreateSessionRequest request;
  request.agent_id = agent->id;
  request.environment_id = environment->id;
  request.title = absl::StrCat("demo session (", model->second, " brain)");
  auto session = (*engine)->CreateSession(request);
  if (!session.ok()) return Fail("creating the session", session.status());

  auto subscription = (*engine)->Subscribe(session->id, 1);
  if (!subscription.ok()) return Fail("subscribing", subscription.status());
  wake::Event user;
  user.type = wake::EventType::kUserMessage;
  wake::ContentBlock text;
  text.text = message;
  user.content.push_back(text);
  auto sent = (*engine)->SendEvents(session->id, {user});
  if (!sent.ok()) return Fail("sending the message", sent.status());

  // Print the session as it happens, until it goes idle (or a minute passes).
  const absl::Time give_up = absl::Now() + absl::Minutes(1);
  bool idle = false;
  while (!idle && absl::Now() < give_up) {
    auto events = (*subscription)->Next(64, give_up);
    if (!events.ok()) return Fail("following the session", events.status());
    for (const wake::Event& e : *events) {
      std::printf("%s\n", wake::EncodeEventJson(e).c_str());
      std::fflush(stdout);
      if (e.type == wake::EventType::kSessionStatusIdle) idle = true;
    }
  }
  (*subscription)->Cancel();
  std::fprintf(stderr, "wake_demo: session %s is %s; inspect it with: build/engine/wakectl --data %s sessions show %s\n",
               session->id.c_str(), idle ? "idle" : "still running (gave up waiting)", data_dir.c_str(),
               session->id.c_str());
  return idle ? 0 : 1;
}
