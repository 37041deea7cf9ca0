#include "bench/model_streams.h"

#include "absl/strings/str_cat.h"

namespace wake::bench {

std::vector<std::string> AnthropicMessageChunks(bool tool_use, int tokens) {
  std::vector<std::string> chunks;
  auto delta = [](const char* text) {
    return absl::StrCat(
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
        "{\"type\":\"text_delta\",\"text\":\"",
        text, "\"}}\n\n");
  };
  chunks.push_back(absl::StrCat(
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\","
      "\"role\":\"assistant\",\"model\":\"claude-bench\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
      "\"usage\":{\"input_tokens\":100,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
      "{\"type\":\"text\",\"text\":\"\"}}\n\n",
      delta("Token")));
  for (int i = 1; i < tokens; ++i) chunks.push_back(delta(" token"));
  std::string last = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
  if (tool_use) {
    last +=
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":"
        "{\"type\":\"tool_use\",\"id\":\"toolu_bench\",\"name\":\"bash\",\"input\":{}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
        "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"command\\\": \\\"echo hi\\\"}\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n";
  }
  absl::StrAppend(&last,
                  "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"",
                  tool_use ? "tool_use" : "end_turn", "\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":", tokens,
                  "}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
  chunks.push_back(std::move(last));
  return chunks;
}

std::vector<std::string> OpenAiMessageChunks(bool tool_use, int tokens) {
  auto chunk = [](const std::string& delta, const char* finish_reason) {
    return absl::StrCat(
        "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1788016822,"
        "\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":",
        delta, ",\"finish_reason\":", finish_reason, "}]}\n\n");
  };
  std::vector<std::string> chunks;
  chunks.push_back(chunk(R"({"role":"assistant","content":"Token"})", "null"));
  for (int i = 1; i < tokens; ++i) chunks.push_back(chunk(R"({"content":" token"})", "null"));
  std::string last;
  if (tool_use) {
    last += chunk(
        R"({"tool_calls":[{"index":0,"id":"call_bench","type":"function","function":{"name":"bash","arguments":"{\"command\":\"echo hi\"}"}}]})",
        "null");
  }
  absl::StrAppend(&last, chunk("{}", tool_use ? "\"tool_calls\"" : "\"stop\""), "data: [DONE]\n\n");
  chunks.push_back(std::move(last));
  return chunks;
}

}  // namespace wake::bench
