#pragma once
// Helpers shared by the network brains' tests: an observer that records what a brain streamed,
// recorded provider streams cut into events, and a scoped environment variable.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/brain.h"

namespace wake::testing {

// Records every callback. Not thread-safe (a brain calls it from the streaming thread only).
class CollectingObserver : public StreamObserver {
 public:
  void OnTextDelta(size_t index, std::string_view text) override;
  void OnBlockComplete(size_t index, const TurnBlock& block) override;

  std::vector<std::string> deltas;
  std::vector<size_t> delta_indexes;
  std::vector<TurnBlock> completed;
  std::vector<size_t> completed_indexes;
};

// One user message of one text block, max_tokens 256.
ModelRequest SimpleRequest(std::string_view model, std::string_view text);
// A request with a system prompt, two tools and every kind of block: a user question with an image,
// an assistant text + get_weather tool_use (id sevt_1), then a user message with its error
// tool_result (`result_text`) and, unless `follow_up` is empty, a text block after it. The first two
// messages are the stable prefix.
ModelRequest ToolRequest(std::string_view model, std::string_view result_text, std::string_view follow_up);

// tests/harness/testdata/<name>; a test failure (and "") when it cannot be read.
std::string Recorded(std::string_view name);

// The events of an SSE body, comment lines dropped, each ending with its blank line ("\n\n").
std::vector<std::string> SplitEvents(std::string_view body);
// events[from, to) concatenated.
std::string JoinEvents(const std::vector<std::string>& events, size_t from, size_t to);

// EXPECTs that two turns have the same content (everything but the timings).
void ExpectSameTurn(const ModelTurn& actual, const ModelTurn& expected);

// Sets (or, for a null value, unsets) an environment variable for its lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace wake::testing
