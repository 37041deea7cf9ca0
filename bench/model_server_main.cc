// model_server: a local model that follows instructions, for running ttft_bench's real-brain mode
// (and any client of a model provider) without a provider. It speaks Anthropic's Messages stream at
// /v1/messages and the OpenAI-compatible chat-completions stream at .../chat/completions, each
// response after a fixed time to first token and at a fixed token rate.
//
// What it answers: when the conversation's last "Use the bash tool" instruction has not yet been
// followed by a tool result, a bash tool call running `echo hi`; otherwise a short text answer.
//
//   model_server [--ttft-ms M] [--tokens-per-s T] [--output-tokens K]
// prints its base URL ("http://127.0.0.1:<port>") on a line of stdout, then serves until SIGINT or
// SIGTERM.

#include <csignal>
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "bench/model_streams.h"
#include "tests/harness/fake_model_server.h"

namespace {

using wake::testing::FakeResponse;
using wake::testing::RecordedRequest;

struct Options {
  double ttft_ms = 250;
  double tokens_per_s = 200;
  int output_tokens = 20;
};

FakeResponse Answer(const Options& o, const RecordedRequest& request) {
  const bool openai = absl::StrContains(request.target, "/chat/completions");
  if (!openai && !absl::StrContains(request.target, "/v1/messages")) {
    return FakeResponse::Json(404, R"({"type":"error","error":{"type":"not_found_error","message":"not found"}})");
  }
  const size_t asked = request.body.rfind("Use the bash tool");
  const char* tool_result = openai ? "\"role\":\"tool\"" : "\"tool_result\"";
  const bool call_tool = asked != std::string::npos && request.body.find(tool_result, asked) == std::string::npos;
  FakeResponse response;
  response.headers = {{"content-type", "text/event-stream"}};
  response.chunks = openai ? wake::bench::OpenAiMessageChunks(call_tool, o.output_tokens)
                           : wake::bench::AnthropicMessageChunks(call_tool, o.output_tokens);
  response.first_chunk_delay = absl::Milliseconds(o.ttft_ms);
  response.chunk_interval = absl::Seconds(1.0 / o.tokens_per_s);
  return response;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const bool has_value = i + 1 < argc;
    bool ok = has_value;
    if (ok && flag == "--ttft-ms") ok = absl::SimpleAtod(argv[++i], &o.ttft_ms) && o.ttft_ms >= 0;
    else if (ok && flag == "--tokens-per-s") ok = absl::SimpleAtod(argv[++i], &o.tokens_per_s) && o.tokens_per_s > 0;
    else if (ok && flag == "--output-tokens") ok = absl::SimpleAtoi(argv[++i], &o.output_tokens) && o.output_tokens > 0;
    else ok = false;
    if (!ok) {
      std::fprintf(stderr, "usage: model_server [--ttft-ms M] [--tokens-per-s T] [--output-tokens K]\n");
      return 2;
    }
  }
  // Block the stop signals before any thread starts, so every thread inherits the mask and
  // sigwait below is the one place they arrive.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto server = wake::testing::FakeModelServer::Start();
  if (!server.ok()) {
    std::fprintf(stderr, "model_server: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  (*server)->SetResponder([o](const RecordedRequest& r) { return Answer(o, r); });
  std::printf("%s\n", (*server)->base_url().c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  (*server)->Stop();
  return 0;
}
