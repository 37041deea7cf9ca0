#pragma once
// OpenAiBrain: a Brain on the OpenAI chat-completions API as OpenAI and local servers (Ollama,
// llama.cpp, vLLM) serve it: POST {base_url}/chat/completions with "stream": true and
// "stream_options": {"include_usage": true}, streamed as `data: {...}` chunks ending with
// `data: [DONE]`.
//
// Request mapping: system -> a "system" message; user text/images -> a "user" message (a lone text
// block as a plain string, otherwise content parts; images as image_url, base64 ones as data: URLs;
// text documents as text parts); assistant text and tool_use -> one "assistant" message with
// tool_calls [{id, type:"function", function:{name, arguments}}]; each tool_result -> a "tool"
// message (text only: the chat API has no is_error, so an error result is prefixed "Error: ").
// Tools -> [{type:"function", function:{name, description, parameters}}]. The encoding is
// deterministic with "messages" last, so turns that share messages share a byte prefix (what
// servers' automatic prefix caching keys on).
//
// Stream decoding: choices[0].delta.content -> a text block; reasoning_content / reasoning (local
// servers' thinking) -> a thinking block; tool_calls fragments joined by index (id and name first,
// arguments in pieces; a new id at a used index starts a new call, as Ollama sends parallel calls);
// finish_reason stop / tool_calls / length / content_filter -> end_turn / tool_use / max_tokens /
// refusal; the usage chunk -> ModelUsage (prompt_tokens minus cached_tokens as input_tokens, the
// cached ones as cache_read_input_tokens). Blocks complete at finish_reason. A `data: {"error":...}`
// chunk is an error (server_error, rate limits and overload Unavailable, others InvalidArgument).
// Malformed JSON or an invalid tool-arguments object is DataLoss; a stream without [DONE] is
// Unavailable. HTTP errors map as for AnthropicBrain, from the envelope {"error":{message,type,code}}.
//
// Thread-safe: Stream may run on several threads at once.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "harness/brain.h"

namespace wake {

struct OpenAiBrainOptions {
  std::string base_url;  // e.g. "http://localhost:11434/v1" (Ollama) or "https://api.openai.com/v1"
  std::string api_key;   // optional: sent as "Authorization: Bearer <key>" when set
  absl::Duration connect_timeout = absl::Seconds(10);
  // No byte for this long while the response streams = Unavailable. Local servers send nothing while
  // they load a model or read a long prompt, so this is generous.
  absl::Duration idle_timeout = absl::Seconds(300);

  // OPENAI_BASE_URL (required: FailedPrecondition naming it when unset or empty) and OPENAI_API_KEY
  // (optional).
  static absl::StatusOr<OpenAiBrainOptions> FromEnv();
};

// InvalidArgument when the options cannot work (a base_url that is not http(s)).
absl::StatusOr<std::unique_ptr<Brain>> NewOpenAiBrain(OpenAiBrainOptions options);

}  // namespace wake
