#include "engine/records_json.h"

#include "absl/strings/str_cat.h"
#include "schemas/event_json.h"
#include "simdjson.h"

namespace wake {
namespace {

namespace dom = simdjson::dom;

void Key(std::string& out, std::string_view key) {
  if (out.back() != '{') out.push_back(',');
  AppendJsonString(out, key);
  out.push_back(':');
}
void String(std::string& out, std::string_view key, std::string_view value) {
  Key(out, key);
  AppendJsonString(out, value);
}
void Pairs(std::string& out, std::string_view key, const std::vector<std::pair<std::string, std::string>>& pairs) {
  Key(out, key);
  out.push_back('[');
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('[');
    AppendJsonString(out, pairs[i].first);
    out.push_back(',');
    AppendJsonString(out, pairs[i].second);
    out.push_back(']');
  }
  out.push_back(']');
}

absl::Status Bad(std::string_view what) {
  return absl::DataLossError(absl::StrCat("stored record: ", std::string(what)));
}

std::string Str(dom::object o, std::string_view key) {
  std::string_view v;
  return o[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadPairs(dom::object o, std::string_view key) {
  std::vector<std::pair<std::string, std::string>> pairs;
  dom::array array;
  if (o[key].get(array) != simdjson::SUCCESS) return pairs;
  for (dom::element item : array) {
    dom::array pair;
    std::string_view a, b;
    if (item.get(pair) != simdjson::SUCCESS || pair.size() != 2 || pair.at(0).get(a) != simdjson::SUCCESS ||
        pair.at(1).get(b) != simdjson::SUCCESS) {
      return Bad(absl::StrCat("\"", std::string(key), "\" holds a malformed pair"));
    }
    pairs.emplace_back(a, b);
  }
  return pairs;
}

}  // namespace

std::string EncodeAgentSpecJson(const AgentSpec& spec) {
  std::string out = "{";
  String(out, "name", spec.name);
  String(out, "model", spec.model);
  String(out, "system", spec.system);
  String(out, "description", spec.description);
  Key(out, "standard_tools");
  out += spec.standard_tools ? "true" : "false";
  Key(out, "always_ask");
  out.push_back('[');
  for (size_t i = 0; i < spec.always_ask.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(out, spec.always_ask[i]);
  }
  out.push_back(']');
  Key(out, "custom_tools");
  out.push_back('[');
  for (size_t i = 0; i < spec.custom_tools.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('{');
    String(out, "name", spec.custom_tools[i].name);
    String(out, "description", spec.custom_tools[i].description);
    String(out, "input_schema", spec.custom_tools[i].input_schema_json);
    out.push_back('}');
  }
  out.push_back(']');
  Key(out, "max_tokens");
  absl::StrAppend(&out, spec.max_tokens);
  Pairs(out, "metadata", spec.metadata);
  if (!spec.workspace_id.empty()) String(out, "workspace_id", spec.workspace_id);
  out.push_back('}');
  return out;
}

absl::StatusOr<AgentSpec> DecodeAgentSpecJson(std::string_view json) {
  dom::parser parser;
  dom::object o;
  if (parser.parse(simdjson::padded_string(json)).get(o) != simdjson::SUCCESS) return Bad("an agent is not a JSON object");
  AgentSpec spec;
  spec.name = Str(o, "name");
  spec.model = Str(o, "model");
  spec.system = Str(o, "system");
  spec.description = Str(o, "description");
  bool standard = true;
  if (o["standard_tools"].get(standard) == simdjson::SUCCESS) spec.standard_tools = standard;
  dom::array array;
  if (o["always_ask"].get(array) == simdjson::SUCCESS) {
    for (dom::element e : array) {
      std::string_view name;
      if (e.get(name) != simdjson::SUCCESS) return Bad("always_ask holds a non-string");
      spec.always_ask.emplace_back(name);
    }
  }
  if (o["custom_tools"].get(array) == simdjson::SUCCESS) {
    for (dom::element e : array) {
      dom::object tool;
      if (e.get(tool) != simdjson::SUCCESS) return Bad("custom_tools holds a non-object");
      spec.custom_tools.push_back(ToolDefinition{Str(tool, "name"), Str(tool, "description"), Str(tool, "input_schema")});
    }
  }
  int64_t max_tokens = 0;
  if (o["max_tokens"].get(max_tokens) == simdjson::SUCCESS) spec.max_tokens = max_tokens;
  auto metadata = ReadPairs(o, "metadata");
  if (!metadata.ok()) return metadata.status();
  spec.metadata = *std::move(metadata);
  spec.workspace_id = Str(o, "workspace_id");
  return spec;
}

std::string EncodeEnvironmentSpecJson(const EnvironmentSpec& spec) {
  std::string out = "{";
  String(out, "name", spec.name);
  String(out, "description", spec.description);
  String(out, "backend", spec.backend);
  Key(out, "memory_bytes");
  absl::StrAppend(&out, spec.resources.memory_bytes);
  Key(out, "cpus");
  absl::StrAppend(&out, spec.resources.cpus);
  Key(out, "pids");
  absl::StrAppend(&out, spec.resources.pids);
  Key(out, "network");
  out += spec.resources.network ? "true" : "false";
  Pairs(out, "env", spec.resources.env);
  Pairs(out, "secret_env", spec.secret_env);
  Pairs(out, "metadata", spec.metadata);
  if (!spec.workspace_id.empty()) String(out, "workspace_id", spec.workspace_id);
  out.push_back('}');
  return out;
}

absl::StatusOr<EnvironmentSpec> DecodeEnvironmentSpecJson(std::string_view json) {
  dom::parser parser;
  dom::object o;
  if (parser.parse(simdjson::padded_string(json)).get(o) != simdjson::SUCCESS) {
    return Bad("an environment is not a JSON object");
  }
  EnvironmentSpec spec;
  spec.name = Str(o, "name");
  spec.description = Str(o, "description");
  spec.backend = Str(o, "backend");
  int64_t n = 0;
  if (o["memory_bytes"].get(n) == simdjson::SUCCESS) spec.resources.memory_bytes = n;
  if (o["pids"].get(n) == simdjson::SUCCESS) spec.resources.pids = n;
  double cpus = 0;
  if (o["cpus"].get(cpus) == simdjson::SUCCESS) spec.resources.cpus = cpus;
  bool network = false;
  if (o["network"].get(network) == simdjson::SUCCESS) spec.resources.network = network;
  for (auto [key, target] : {std::pair{"env", &spec.resources.env}, std::pair{"secret_env", &spec.secret_env},
                             std::pair{"metadata", &spec.metadata}}) {
    auto pairs = ReadPairs(o, key);
    if (!pairs.ok()) return pairs.status();
    *target = *std::move(pairs);
  }
  spec.workspace_id = Str(o, "workspace_id");
  return spec;
}

}  // namespace wake
