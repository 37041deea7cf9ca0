// wake_demo: the smallest end-to-end use of wake as an embedded library.
//
// Opens (or creates) the session log under a data dir, creates a session, appends a client's
// user.message, and wakes a Harness on it: the harness takes the lease, replays the log, asks the brain,
// and appends the turn. Then it reads the session back from disk and prints every event as Managed Agents
// JSON, one per line.
//
// The brain: Anthropic's Messages API when ANTHROPIC_API_KEY is set (ANTHROPIC_BASE_URL optional), an
// OpenAI-compatible server when OPENAI_BASE_URL is set (e.g. Ollama's http://localhost:11434/v1), and
// otherwise the scripted one (a fixed reply, labelled "scripted (not a model)": no key needed). WAKE_MODEL
// names the model for the network brains. No tools are offered: sandboxed hands arrive with the Hands
// issue.
//
// usage: wake_demo [--data DIR]   (default ./data)

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "harness/anthropic_brain.h"
#include "harness/harness.h"
#include "harness/openai_brain.h"
#include "harness/scripted_brain.h"
#include "schemas/event_json.h"
#include "schemas/ids.h"
#include "storage/rocksdb_session_log.h"

namespace {

wake::Event Make(wake::EventType type) {
  wake::Event e;
  e.type = type;
  e.id = wake::NewEventId(absl::Now());
  return e;
}

wake::ContentBlock Text(std::string text) {
  wake::ContentBlock b;
  b.kind = wake::ContentBlock::Kind::kText;
  b.text = std::move(text);
  return b;
}

int Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "wake_demo: %s: %s\n", what.c_str(), status.ToString().c_str());
  return 1;
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

struct ChosenBrain {
  std::unique_ptr<wake::Brain> brain;
  std::string model;
  std::string label;
};

// The brain the environment asks for (see the header comment).
absl::StatusOr<ChosenBrain> ChooseBrain() {
  ChosenBrain chosen;
  if (!EnvOr("ANTHROPIC_API_KEY", "").empty()) {
    auto options = wake::AnthropicBrainOptions::FromEnv();
    if (!options.ok()) return options.status();
    auto brain = wake::NewAnthropicBrain(*std::move(options));
    if (!brain.ok()) return brain.status();
    chosen.brain = *std::move(brain);
    chosen.model = EnvOr("WAKE_MODEL", "claude-sonnet-4-5");
    chosen.label = "anthropic";
  } else if (!EnvOr("OPENAI_BASE_URL", "").empty()) {
    auto options = wake::OpenAiBrainOptions::FromEnv();
    if (!options.ok()) return options.status();
    auto brain = wake::NewOpenAiBrain(*std::move(options));
    if (!brain.ok()) return brain.status();
    chosen.model = EnvOr("WAKE_MODEL", "");
    if (chosen.model.empty()) {
      return absl::FailedPreconditionError("OPENAI_BASE_URL is set but WAKE_MODEL is not: name the model to use");
    }
    chosen.brain = *std::move(brain);
    chosen.label = "openai-compatible";
  } else {
    auto brain = wake::NewScriptedBrain(R"({"turns": [{"text":
      "I am wake's scripted brain, not a model: this reply comes from a script. A harness woke on your session, replayed its log from RocksDB, asked me for this turn and appended it."}]})");
    if (!brain.ok()) return brain.status();
    chosen.brain = *std::move(brain);
    chosen.model = "scripted";
    chosen.label = "scripted (not a model)";
  }
  return chosen;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = "data";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
      data_dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--data DIR]\n", argv[0]);
      return 2;
    }
  }

  wake::RocksDbSessionLogOptions options;
  options.path = data_dir;
  auto log = wake::OpenRocksDbSessionLog(options);
  if (!log.ok()) return Fail("opening " + data_dir, log.status());

  auto brain = ChooseBrain();
  if (!brain.ok()) return Fail("choosing the brain", brain.status());
  std::fprintf(stderr, "brain: %s, model %s\n", brain->label.c_str(), brain->model.c_str());

  wake::SessionInfo info;
  info.id = wake::NewSessionId(absl::Now());
  info.workspace_id = "wrkspc_demo";
  info.title = absl::StrCat("demo session (", brain->label, " brain)");
  auto session = (*log)->CreateSession(info);
  if (!session.ok()) return Fail("creating session", session.status());

  // A client's message needs no lease; it lands at the head of the log.
  wake::Event user = Make(wake::EventType::kUserMessage);
  user.content.push_back(Text("Hello! What are you?"));
  auto sent = (*log)->Append(info.id, {user}, wake::kAppendAtHead, wake::kNoLease);
  if (!sent.ok()) return Fail("appending user.message", sent.status());

  wake::AgentConfig agent;
  agent.model = brain->model;
  agent.system = "You are a demo agent.";
  // No hands in this demo: the script calls no tools, so the harness never asks for one.
  class NoHands final : public wake::SessionHands {
   public:
    absl::StatusOr<wake::ToolResult> Execute(std::string_view, const wake::ToolCall& call, const wake::CancelToken*,
                                             std::vector<wake::Event>*) override {
      return absl::FailedPreconditionError(absl::StrCat("the demo has no hands to run ", call.name));
    }
  } hands;
  wake::HarnessOptions harness_options;
  harness_options.worker_id = "wake_demo";
  wake::Harness harness(log->get(), brain->brain.get(), &hands, harness_options);
  if (auto s = harness.Wake(info.id, agent); !s.ok()) return Fail("waking the harness", s);

  auto events = (*log)->Read(info.id);
  if (!events.ok()) return Fail("reading the session back", events.status());
  auto final_info = (*log)->GetSession(info.id);
  if (!final_info.ok()) return Fail("reading the session record", final_info.status());
  std::fprintf(stderr, "session %s in %s: %zu events, status %s\n", info.id.c_str(), data_dir.c_str(),
               events->size(), final_info->status.c_str());
  for (const wake::Event& e : *events) std::printf("%s\n", wake::EncodeEventJson(e).c_str());
  return 0;
}
