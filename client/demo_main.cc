// wake_demo: one demo session against a running waked, end to end over its HTTP/SSE API (the main job
// of scripts/run.sh, which starts waked first).
//
// Creates an agent, an environment with local hands and a session; sends a user.message; then
// follows the session's event stream from that message on and prints each event as it arrives
// (one readable line each, or the Managed Agents JSON with --json), until the session is idle
// again. The agent's first tool call provisions its hand on the server: not before.
//
// The model: Anthropic's Messages API when ANTHROPIC_API_KEY is set in waked's environment and here
// (model $WAKE_MODEL, default claude-sonnet-4-5), an OpenAI-compatible server when OPENAI_BASE_URL is
// set (model $WAKE_MODEL, required), and otherwise the scripted brain, labelled
// "scripted (not a model)", whose script greets, runs one command on the hand and reports.
//
// usage: wake_demo --url URL [--api-key KEY] [--message TEXT] [--json]
//        (the key may also come from $WAKE_API_KEY)
// Exit status: 0 the session went idle after the turn, 1 an error, 2 bad arguments.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "inspect/session_report.h"
#include "schemas/event_json.h"
#include "simdjson.h"

namespace {

int Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "wake_demo: %s: %s\n", what.c_str(), std::string(status.message()).c_str());
  return 1;
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

// The agent's model for what the environment offers (see the header comment), and its label.
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

// A JSON string literal.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// The string at `pointer` in a JSON response.
absl::StatusOr<std::string> Field(const std::string& json, const char* pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view value;
  if (parser.parse(json).get(root) != simdjson::SUCCESS || root.at_pointer(pointer).get(value) != simdjson::SUCCESS) {
    return absl::DataLossError(absl::StrCat("the server's answer has no ", pointer, ": ", json.substr(0, 200)));
  }
  return std::string(value);
}

}  // namespace

int main(int argc, char** argv) {
  wake::ClientOptions options;
  options.api_key = EnvOr("WAKE_API_KEY", "");
  std::string message = "Hello! What are you, and can you run a command on your hand?";
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--url") == 0 && has_value) {
      options.base_url = argv[++i];
    } else if (std::strcmp(argv[i], "--api-key") == 0 && has_value) {
      options.api_key = argv[++i];
    } else if (std::strcmp(argv[i], "--message") == 0 && has_value) {
      message = argv[++i];
    } else if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else {
      std::fprintf(stderr, "usage: %s --url URL [--api-key KEY] [--message TEXT] [--json]\n", argv[0]);
      return 2;
    }
  }
  if (options.base_url.empty()) {
    std::fprintf(stderr, "usage: %s --url URL [--api-key KEY] [--message TEXT] [--json]\n", argv[0]);
    return 2;
  }
  auto client = wake::Client::Create(options);
  if (!client.ok()) return Fail("connecting", client.status());
  auto model = ChooseModel();
  if (!model.ok()) return Fail("choosing the model", model.status());
  std::fprintf(stderr, "wake_demo: brain %s, model %s, server %s\n", model->second.c_str(), model->first.c_str(),
               options.base_url.c_str());

  auto agent = client->Post("/v1/agents", absl::StrCat(R"({"name":"demo agent","model":)", Quote(model->first),
                                                       R"(,"system":"You are a demo agent of wake. Be brief. )",
                                                       R"(You may run shell commands with the bash tool.",)",
                                                       R"("tools":[{"type":"agent_toolset_20260401"}]})"));
  if (!agent.ok()) return Fail("creating the agent", agent.status());
  auto agent_id = Field(*agent, "/id");
  if (!agent_id.ok()) return Fail("creating the agent", agent_id.status());
  auto environment =
      client->Post("/v1/environments", R"json({"name":"demo environment (local hands)","config":{"type":"local"}})json");
  if (!environment.ok()) return Fail("creating the environment", environment.status());
  auto environment_id = Field(*environment, "/id");
  if (!environment_id.ok()) return Fail("creating the environment", environment_id.status());
  auto session = client->Post(
      "/v1/sessions", absl::StrCat(R"({"agent":)", Quote(*agent_id), R"(,"environment_id":)", Quote(*environment_id),
                                   R"(,"title":)", Quote(absl::StrCat("demo session (", model->second, " brain)")), "}"));
  if (!session.ok()) return Fail("creating the session", session.status());
  auto session_id = Field(*session, "/id");
  if (!session_id.ok()) return Fail("creating the session", session_id.status());
  std::fprintf(stderr, "wake_demo: session %s\n", session_id->c_str());

  // Send first, then follow the stream from just after the message: the log keeps every event, so
  // nothing of the turn can be missed, and the first line printed is the message itself.
  auto sent = client->Post(absl::StrCat("/v1/sessions/", *session_id, "/events"),
                           absl::StrCat(R"({"events":[{"type":"user.message","content":[{"type":"text","text":)",
                                        Quote(message), "}]}]}"));
  if (!sent.ok()) return Fail("sending the message", sent.status());
  auto message_id = Field(*sent, "/data/0/id");
  if (!message_id.ok()) return Fail("sending the message", message_id.status());

  // The API's events carry no seq: the lines are numbered as they arrive.
  uint64_t printed = 0;
  auto print = [json, &printed](std::string_view event_json) {
    ++printed;
    if (json) {
      std::printf("%.*s\n", static_cast<int>(event_json.size()), event_json.data());
    } else if (auto event = wake::DecodeEventJson(event_json); event.ok()) {
      event->seq = printed;
      std::printf("%s\n", wake::FormatEventLine(*event, /*color=*/false).c_str());
    } else {
      std::printf("%.*s\n", static_cast<int>(event_json.size()), event_json.data());
    }
    std::fflush(stdout);
  };
  {
    // The message as the server stored it.
    simdjson::dom::parser parser;
    simdjson::dom::element first;
    if (parser.parse(*sent).get(first) == simdjson::SUCCESS && first.at_pointer("/data/0").get(first) == simdjson::SUCCESS) {
      print(simdjson::to_string(first));
    }
  }
  bool idle = false;
  std::string last_seen = *message_id;
  absl::Status streamed = absl::OkStatus();
  // A stream cut by the network is resumed from the last event seen, a few times.
  for (int attempt = 0; attempt < 3 && !idle; ++attempt) {
    streamed = client->StreamEvents(*session_id, last_seen, [&](const wake::SseEvent& frame) {
      print(frame.data);
      if (!frame.id.empty()) last_seen = frame.id;
      idle = frame.event == "session.status_idle" || frame.event == "session.status_terminated";
      return !idle;
    });
    if (streamed.ok()) break;
  }
  if (!streamed.ok()) return Fail("following the session", streamed);
  std::fprintf(stderr,
               "wake_demo: session %s is %s; look at it with: build/engine/wakectl --data <waked's data dir> "
               "sessions show %s\n",
               session_id->c_str(), idle ? "idle" : "no longer streamed", session_id->c_str());
  return idle ? 0 : 1;
}
