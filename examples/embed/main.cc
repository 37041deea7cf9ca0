// Embedding wake: an Engine in your own process, with local hands and the scripted brain. Run it
// with a data directory: ./embed_wake /tmp/embed-data
#include <cstdio>

#include "engine/engine.h"
#include "sandbox/local/local_hand.h"

int main(int argc, char** argv) {
  const std::string data = argc > 1 ? argv[1] : "embed-data";
  auto hands = wake::NewLocalProvider({.base_dir = data + "/hands", .isolate = false});
  if (!hands.ok()) return 1;

  wake::EngineOptions options;
  options.data_dir = data;
  options.hand_providers = {{"local", hands->get()}};
  auto engine = wake::Engine::Open(options);
  if (!engine.ok()) return std::fprintf(stderr, "%s\n", engine.status().ToString().c_str()), 1;

  wake::AgentSpec agent;
  agent.name = "helper";
  agent.model = "scripted";  // or an Anthropic model id with ANTHROPIC_API_KEY set
  wake::CreateSessionRequest request;
  request.agent_id = (*engine)->CreateAgent(agent)->id;
  auto session = (*engine)->CreateSession(request);
  if (!session.ok()) return 1;

  wake::Event hello;
  hello.type = wake::EventType::kUserMessage;
  hello.content.push_back(wake::ContentBlock{.text = "hello"});
  if (!(*engine)->SendEvents(session->id, {hello}).ok()) return 1;
  (*engine)->WaitUntilQuiet();

  auto events = (*engine)->ReadEvents(session->id);
  if (!events.ok()) return 1;
  for (const wake::Event& e : *events) {
    if (e.type == wake::EventType::kAgentToolResult) std::printf("tool said: %s", e.content[0].text.c_str());
    if (e.type == wake::EventType::kAgentMessage) std::printf("agent said: %s\n", e.content[0].text.c_str());
  }
  return 0;
}
