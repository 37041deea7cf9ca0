#pragma once
// Model responses in the providers' streaming wire formats, for the benchmarks' local model servers
// (ttft_bench's seeded responder and model_server's instruction follower). The frames follow the
// recorded streams in tests/harness/testdata (anthropic_tool_use.sse, openai_tool_calls.sse).

#include <string>
#include <vector>

namespace wake::bench {

// One Anthropic Messages stream, one chunk per token after the first: `tokens` text tokens, then,
// when `tool_use`, a bash tool_use running `echo hi` (stop_reason tool_use, else end_turn). The first
// chunk carries message_start, the text block's start and the first token, so a server's first-chunk
// delay is the time to first token.
std::vector<std::string> AnthropicMessageChunks(bool tool_use, int tokens);

// The same response as an OpenAI-compatible chat.completion.chunk stream ending in `data: [DONE]`.
std::vector<std::string> OpenAiMessageChunks(bool tool_use, int tokens);

}  // namespace wake::bench
