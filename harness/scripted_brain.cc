#include "harness/scripted_brain.h"

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "schemas/event_json.h"
#include "simdjson.h"

namespace wake {
namespace {

struct ScriptedTurn {
  std::string text;
  std::vector<TurnBlock> tool_calls;
};

// `text` with each "{{user_message:N}}" replaced by the N-th user message's text (see the header).
std::string QuoteConversation(std::string_view text, const ModelRequest& request) {
  constexpr std::string_view kOpen = "{{user_message:";
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t open = text.find(kOpen, at);
    const size_t close = open == std::string_view::npos ? open : text.find("}}", open);
    size_t n = 0;
    if (close == std::string_view::npos ||
        !absl::SimpleAtoi(ToAbsl(text.substr(open + kOpen.size(), close - open - kOpen.size())), &n)) {
      out.append(text.substr(at));
      return out;
    }
    out.append(text.substr(at, open - at));
    std::string quoted = absl::StrCat("(no user message ", n, ")");
    size_t seen = 0;
    for (const Message& m : request.messages) {
      if (m.role != Message::Role::kUser) continue;
      std::string joined;
      for (const MessageBlock& b : m.blocks) {
        if (b.kind == MessageBlock::Kind::kText) joined += b.text;
      }
      if (!joined.empty() && ++seen == n) {
        quoted = std::move(joined);
        break;
      }
    }
    out += quoted;
    at = close + 2;
  }
}

class ScriptedBrain final : public Brain {
 public:
  ScriptedBrain(std::vector<ScriptedTurn> turns, std::string summary)
      : turns_(std::move(turns)), summary_(std::move(summary)) {}

  std::string_view kind() const override { return "scripted (not a model)"; }

  absl::StatusOr<ModelTurn> Stream(const ModelRequest& request, StreamObserver* observer,
                                   const CancelToken* cancel) override {
    if (cancel != nullptr && cancel->cancelled()) return absl::CancelledError("scripted turn cancelled");
    size_t index = request.compacted_turns;
    for (const Message& m : request.messages) index += m.role == Message::Role::kAssistant ? 1 : 0;

    ModelTurn turn;
    turn.model = request.model;
    turn.message_id = absl::StrCat(request.summarize ? "msg_scripted_summary_" : "msg_scripted_", index);
    ScriptedTurn exhausted{"(scripted brain: the script has no more turns)", {}};
    ScriptedTurn summary{absl::StrCat(summary_, " (", index, " turns so far)"), {}};
    ScriptedTurn script = request.summarize ? summary : index < turns_.size() ? turns_[index] : exhausted;
    script.text = QuoteConversation(script.text, request);
    if (!script.text.empty()) {
      TurnBlock text;
      text.kind = TurnBlock::Kind::kText;
      text.text = script.text;
      if (observer != nullptr) {
        // Word by word, like a model's deltas, so streaming consumers see more than one chunk.
        for (absl::string_view word : absl::StrSplit(absl::string_view(script.text), absl::ByString(" "))) {
          observer->OnTextDelta(0, FromAbsl(word));
        }
      }
      turn.blocks.push_back(std::move(text));
      if (observer != nullptr) observer->OnBlockComplete(0, turn.blocks.back());
    }
    for (size_t i = 0; i < script.tool_calls.size(); ++i) {
      TurnBlock call = script.tool_calls[i];
      call.id = absl::StrCat("toolu_scripted_", index, "_", i);
      turn.blocks.push_back(std::move(call));
      if (observer != nullptr) observer->OnBlockComplete(turn.blocks.size() - 1, turn.blocks.back());
    }
    turn.stop_reason = script.tool_calls.empty() ? "end_turn" : "tool_use";
    // Tokens as a rough, deterministic function of the text (about four bytes a token).
    size_t request_bytes = request.system.size();
    for (const Message& m : request.messages) {
      for (const MessageBlock& b : m.blocks) request_bytes += b.text.size() + b.input_json.size();
    }
    turn.usage.input_tokens = static_cast<int64_t>(request_bytes / 4 + 1);
    turn.usage.output_tokens = static_cast<int64_t>(script.text.size() / 4 + 1);
    return turn;
  }

 private:
  const std::vector<ScriptedTurn> turns_;
  const std::string summary_;
};

absl::Status Invalid(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("scripted brain: ", ToAbsl(what)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Brain>> NewScriptedBrain(std::string_view script_json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(script_json.data(), script_json.size());
  simdjson::dom::element root;
  if (auto error = parser.parse(padded).get(root); error) {
    return Invalid(absl::StrCat("the script is not valid JSON: ", simdjson::error_message(error)));
  }
  simdjson::dom::array turns_json;
  if (root["turns"].get_array().get(turns_json)) return Invalid(R"(the script needs a "turns" array)");
  std::vector<ScriptedTurn> turns;
  for (simdjson::dom::element t : turns_json) {
    const std::string where = absl::StrCat("turn ", turns.size());
    simdjson::dom::object fields;
    if (t.get_object().get(fields)) return Invalid(absl::StrCat(where, " is not an object"));
    ScriptedTurn turn;
    for (auto [key, value] : fields) {
      if (key == "text") {
        std::string_view text;
        if (value.get_string().get(text)) return Invalid(absl::StrCat(where, ": \"text\" must be a string"));
        turn.text = std::string(text);
      } else if (key == "tool_calls") {
        simdjson::dom::array calls;
        if (value.get_array().get(calls)) return Invalid(absl::StrCat(where, ": \"tool_calls\" must be an array"));
        for (simdjson::dom::element c : calls) {
          std::string_view name;
          simdjson::dom::object input;
          if (c["name"].get_string().get(name) || c["input"].get_object().get(input)) {
            return Invalid(absl::StrCat(where, ": each tool call needs a \"name\" string and an \"input\" object"));
          }
          TurnBlock call;
          call.kind = TurnBlock::Kind::kToolUse;
          call.name = std::string(name);
          call.input_json = simdjson::minify(input);
          turn.tool_calls.push_back(std::move(call));
        }
      } else {
        return Invalid(absl::StrCat(where, ": unknown field \"", ToAbsl(key), "\""));
      }
    }
    if (turn.text.empty() && turn.tool_calls.empty()) {
      return Invalid(absl::StrCat(where, " has neither text nor tool calls"));
    }
    turns.push_back(std::move(turn));
  }
  if (turns.empty()) return Invalid("the script has no turns");
  std::string summary = "(scripted summary of the conversation)";
  if (simdjson::dom::element value; root["summary"].get(value) == simdjson::SUCCESS) {
    std::string_view text;
    if (value.get_string().get(text) || text.empty()) return Invalid(R"("summary" must be a non-empty string)");
    summary = std::string(text);
  }
  return std::unique_ptr<Brain>(new ScriptedBrain(std::move(turns), std::move(summary)));
}

absl::StatusOr<std::unique_ptr<Brain>> LoadScriptedBrain(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("scripted brain: cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  return NewScriptedBrain(content.str());
}

}  // namespace wake
