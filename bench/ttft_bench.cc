// ttft_bench: time to first token of a session's first turn, with hands provisioned lazily (wake: on
// the first tool call) against eagerly (the usual platform way: a sandbox when the session starts),
// same workload, same machine, in one run.
//
// Each session: the client creates it and sends its task; the model (a local server speaking
// Anthropic's streaming protocol, with a fixed time to first token) answers with a bash tool call,
// the hand runs it, the model answers again. For each first turn it measures:
//   start -> model request     the engine's part before the model is asked: session creation (with
//                              the hand, when eager), the append, the wake, the context
//   TTFT                       start -> model request + the model's own time to first token
//   first turn                 start -> the model's first turn appended
//   hand provision             from wake.hand_provisioned (paid before the first token when eager,
//                              during the first tool call when lazy)
// and prints p50/p95/p99 per mode and the lazy/eager ratios, and writes the numbers as JSON.
//
// usage: ttft_bench [--backend docker|local] [--sessions N] [--concurrency C] [--model-ttft-ms M]
//                   [--json FILE]
// The docker backend needs dockerd and the wake-test-busybox image (scripts/services/docker.sh).

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "harness/anthropic_brain.h"
#include "sandbox/docker/docker_hand.h"
#include "sandbox/local/local_hand.h"
#include "tests/harness/fake_model_server.h"

namespace wake {
namespace {

using testing::FakeModelServer;
using testing::FakeResponse;
using testing::RecordedRequest;

// One Anthropic Messages stream: a text block, or a tool_use block, as the API sends them.
std::string MessageStream(bool tool_use) {
  std::string s =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\","
      "\"role\":\"assistant\",\"model\":\"claude-bench\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
      "\"usage\":{\"input_tokens\":100,\"output_tokens\":1}}}\n\n";
  if (tool_use) {
    s += "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
         "{\"type\":\"tool_use\",\"id\":\"toolu_bench\",\"name\":\"bash\",\"input\":{}}}\n\n"
         "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
         "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"command\\\": \\\"echo hi\\\"}\"}}\n\n";
  } else {
    s += "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
         "{\"type\":\"text\",\"text\":\"\"}}\n\n"
         "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
         "{\"type\":\"text_delta\",\"text\":\"Done.\"}}\n\n";
  }
  s += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
       "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" +
       std::string(tool_use ? "tool_use" : "end_turn") +
       "\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":12}}\n\n"
       "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  return s;
}

struct Sample {
  double to_request_ms = 0;
  double ttft_ms = 0;
  double first_turn_ms = 0;
  double provision_ms = 0;
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

struct Config {
  std::string backend = "docker";
  int sessions = 20;
  int concurrency = 4;
  int model_ttft_ms = 250;
  std::string json;
};

absl::StatusOr<std::vector<Sample>> RunMode(const Config& config, EngineOptions::Provisioning mode,
                                            FakeModelServer& server, HandProvider& provider,
                                            const std::string& data_dir) {
  std::filesystem::remove_all(data_dir);
  AnthropicBrainOptions brain_options;
  brain_options.base_url = server.base_url();
  brain_options.api_key = "bench";
  absl::StatusOr<std::unique_ptr<Brain>> brain = NewAnthropicBrain(brain_options);
  if (!brain.ok()) return brain.status();
  EngineOptions options;
  options.data_dir = data_dir;
  options.hand_providers = {{config.backend, &provider}};
  options.default_backend = config.backend;
  options.workers = static_cast<size_t>(config.concurrency);
  options.provisioning = mode;
  Brain* shared_brain = brain->get();
  options.brain_override = [shared_brain](std::string_view) -> absl::StatusOr<Brain*> { return shared_brain; };
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
  if (!engine.ok()) return engine.status();
  AgentSpec spec;
  spec.name = "bench";
  spec.model = "claude-bench";
  absl::StatusOr<Agent> agent = (*engine)->CreateAgent(spec);
  if (!agent.ok()) return agent.status();

  std::vector<Sample> samples(static_cast<size_t>(config.sessions));
  std::vector<std::string> session_ids(samples.size());
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < config.concurrency; ++c) {
    clients.emplace_back([&] {
      for (int k = next++; k < config.sessions && !failed; k = next++) {
        const absl::Time start = absl::Now();
        CreateSessionRequest request;
        request.agent_id = agent->id;
        absl::StatusOr<SessionInfo> session = (*engine)->CreateSession(request);
        if (!session.ok()) {
          std::fprintf(stderr, "ttft_bench: %s\n", std::string(session.status().message()).c_str());
          failed = true;
          return;
        }
        session_ids[static_cast<size_t>(k)] = session->id;
        Event task;
        task.type = EventType::kUserMessage;
        ContentBlock text;
        text.text = absl::StrCat("bench task ", session->id);
        task.content.push_back(text);
        absl::StatusOr<std::unique_ptr<Subscription>> follow = (*engine)->Subscribe(session->id, 1);
        if (!follow.ok() || !(*engine)->SendEvents(session->id, {task}).ok()) {
          failed = true;
          return;
        }
        Sample& sample = samples[static_cast<size_t>(k)];
        bool done = false;
        while (!done) {
          absl::StatusOr<std::vector<Event>> events = (*follow)->Next(64, absl::Now() + absl::Seconds(60));
          if (!events.ok() || events->empty()) {
            failed = true;
            return;
          }
          for (const Event& e : *events) {
            if (e.type == EventType::kHandProvisioned) sample.provision_ms = static_cast<double>(e.duration_us) / 1000;
            if (e.type == EventType::kSpanModelRequestEnd && sample.first_turn_ms == 0) {
              sample.first_turn_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
            }
            if (e.type == EventType::kSessionStatusIdle) done = true;
          }
        }
        // The model was asked when the server received the session's first request.
        for (const RecordedRequest& r : server.requests()) {
          if (absl::StrContains(r.body, session->id)) {
            sample.to_request_ms = absl::ToDoubleMilliseconds(r.received_at - start);
            break;
          }
        }
        sample.ttft_ms = sample.to_request_ms + config.model_ttft_ms;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  (*engine)->Shutdown();
  // The sandboxes of this run go.
  for (const std::string& id : session_ids) {
    if (absl::StatusOr<std::unique_ptr<Hand>> hand = provider.Reattach(id, HandResources{}); hand.ok()) {
      (void)(*hand)->Release();
    }
  }
  if (failed) return absl::InternalError("a session did not complete; see above");
  return samples;
}

}  // namespace
}  // namespace wake

int main(int argc, char** argv) {
  wake::Config config;
  for (int i = 1; i < argc; ++i) {
    auto value = [&](const char* flag) -> const char* {
      return std::strcmp(argv[i], flag) == 0 && i + 1 < argc ? argv[++i] : nullptr;
    };
    if (const char* v = value("--backend")) config.backend = v;
    else if (const char* v = value("--sessions")) config.sessions = std::atoi(v);
    else if (const char* v = value("--concurrency")) config.concurrency = std::atoi(v);
    else if (const char* v = value("--model-ttft-ms")) config.model_ttft_ms = std::atoi(v);
    else if (const char* v = value("--json")) config.json = v;
    else {
      std::fprintf(stderr, "usage: %s [--backend docker|local] [--sessions N] [--concurrency C] [--model-ttft-ms M] [--json FILE]\n", argv[0]);
      return 2;
    }
  }
  const std::string base = (std::filesystem::temp_directory_path() / "wake-ttft-bench").string();
  std::unique_ptr<wake::HandProvider> provider;
  if (config.backend == "docker") {
    wake::DockerProviderOptions options;
    options.image = "wake-test-busybox:latest";
    options.labels = {{"wake.bench", "ttft"}};
    auto made = wake::NewDockerProvider(options);
    if (!made.ok()) return std::fprintf(stderr, "ttft_bench: docker: %s\n", std::string(made.status().message()).c_str()), 1;
    provider = *std::move(made);
  } else {
    auto made = wake::NewLocalProvider({.base_dir = base + "/hands", .isolate = false});
    if (!made.ok()) return 1;
    provider = *std::move(made);
  }
  auto server = wake::testing::FakeModelServer::Start();
  if (!server.ok()) return 1;
  const absl::Duration model_ttft = absl::Milliseconds(config.model_ttft_ms);
  (*server)->SetResponder([model_ttft](const wake::testing::RecordedRequest& request) {
    // A request that carries the tool's result gets the closing text; a first request, the tool call.
    wake::testing::FakeResponse response =
        wake::testing::FakeResponse::Sse(wake::MessageStream(!absl::StrContains(request.body, "\"tool_result\"")));
    response.first_chunk_delay = model_ttft;
    return response;
  });

  std::map<std::string, std::vector<wake::Sample>> results;
  for (auto [name, mode] : {std::pair{"eager", wake::EngineOptions::Provisioning::kEager},
                            std::pair{"lazy", wake::EngineOptions::Provisioning::kLazy}}) {
    std::fprintf(stderr, "ttft_bench: %s, %d sessions, %d at a time, %s hands, model TTFT %d ms...\n", name,
                 config.sessions, config.concurrency, config.backend.c_str(), config.model_ttft_ms);
    auto samples = wake::RunMode(config, mode, **server, *provider, base + "/" + name);
    if (!samples.ok()) return std::fprintf(stderr, "ttft_bench: %s\n", std::string(samples.status().message()).c_str()), 1;
    results[name] = *std::move(samples);
  }

  auto column = [&](const std::string& mode, double wake::Sample::*field) {
    std::vector<double> v;
    for (const wake::Sample& s : results[mode]) v.push_back(s.*field);
    return v;
  };
  std::printf("| %s hands, model TTFT %d ms, %d sessions, %d at a time | eager p50 | eager p95 | eager p99 | lazy p50 | lazy p95 | lazy p99 | lazy/eager p50 | lazy/eager p95 |\n",
              config.backend.c_str(), config.model_ttft_ms, config.sessions, config.concurrency);
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  std::string json = absl::StrCat("{\"backend\":\"", config.backend, "\",\"model_ttft_ms\":", config.model_ttft_ms,
                                  ",\"sessions\":", config.sessions, ",\"concurrency\":", config.concurrency);
  for (auto [label, field] : {std::pair{"start -> model request (ms)", &wake::Sample::to_request_ms},
                              std::pair{"time to first token (ms)", &wake::Sample::ttft_ms},
                              std::pair{"first turn complete (ms)", &wake::Sample::first_turn_ms},
                              std::pair{"hand provision (ms)", &wake::Sample::provision_ms}}) {
    const auto eager = column("eager", field);
    const auto lazy = column("lazy", field);
    const double e50 = wake::Percentile(eager, 0.5), e95 = wake::Percentile(eager, 0.95);
    const double l50 = wake::Percentile(lazy, 0.5), l95 = wake::Percentile(lazy, 0.95);
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f |\n", label, e50, e95,
                wake::Percentile(eager, 0.99), l50, l95, wake::Percentile(lazy, 0.99), e50 > 0 ? l50 / e50 : 0,
                e95 > 0 ? l95 / e95 : 0);
    absl::StrAppend(&json, ",\"", label, "\":{\"eager\":[", absl::StrFormat("%.3f,%.3f,%.3f", e50, e95, wake::Percentile(eager, 0.99)),
                    "],\"lazy\":[", absl::StrFormat("%.3f,%.3f,%.3f", l50, l95, wake::Percentile(lazy, 0.99)), "]}");
  }
  json += "}";
  if (!config.json.empty()) std::ofstream(config.json) << json << "\n";
  std::filesystem::remove_all(base);
  return 0;
}
