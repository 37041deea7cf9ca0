#include "server/internal/api_json.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "sandbox/toolset.h"
#include "schemas/event_json.h"

namespace wake::server_internal {
namespace {

namespace dom = simdjson::dom;

constexpr char kErrorCodePayload[] = "type.wake.dev/api_error_code";
constexpr char kToolsetType[] = "agent_toolset_20260401";
constexpr size_t kMaxMetadataKeys = 16;
constexpr size_t kMaxMetadataKeyChars = 64;
constexpr size_t kMaxMetadataValueChars = 512;
constexpr size_t kMaxToolNameChars = 128;

absl::Status Invalid(std::string_view path, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(path), ": ", std::string(problem)));
}

// Characters, not bytes: the API's limits count characters (UTF-8 continuation bytes do not count).
size_t Utf8Length(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

absl::Status CheckMetadata(const Metadata& metadata, std::string_view path) {
  if (metadata.size() > kMaxMetadataKeys) {
    return WithErrorCode(Invalid(path, absl::StrCat("at most ", kMaxMetadataKeys, " keys (got ", metadata.size(), ")")),
                         "invalid_metadata");
  }
  for (const auto& [key, value] : metadata) {
    if (key.empty() || Utf8Length(key) > kMaxMetadataKeyChars) {
      return WithErrorCode(
          Invalid(path, absl::StrCat("key \"", key, "\" must have 1 to ", kMaxMetadataKeyChars, " characters")),
          "invalid_metadata");
    }
    if (Utf8Length(value) > kMaxMetadataValueChars) {
      return WithErrorCode(Invalid(absl::StrCat(std::string(path), ".", key),
                                   absl::StrCat("at most ", kMaxMetadataValueChars, " characters")),
                           "invalid_metadata");
    }
  }
  return absl::OkStatus();
}

// A create request's metadata: {"k": "v"}.
absl::StatusOr<Metadata> ReadMetadata(const BodyReader& body) {
  Metadata metadata;
  ASSIGN_OR_RETURN(std::optional<dom::object> object, body.OptObject("metadata"));
  if (!object) return metadata;
  ASSIGN_OR_RETURN(auto pairs, ReadStringMap(*object, body.PathOf("metadata"), /*allow_null_values=*/false));
  for (auto& [key, value] : pairs) metadata.emplace_back(std::move(key), std::move(*value));
  RETURN_IF_ERROR(CheckMetadata(metadata, body.PathOf("metadata")));
  return metadata;
}

// An update's metadata patch applied to `current`: a string upserts, null deletes. nullopt when the
// request leaves metadata alone (absent, or null).
absl::StatusOr<std::optional<Metadata>> PatchMetadata(const Metadata& current, const BodyReader& body) {
  ASSIGN_OR_RETURN(std::optional<dom::object> object, body.OptObject("metadata"));
  if (!object) return std::nullopt;
  ASSIGN_OR_RETURN(auto pairs, ReadStringMap(*object, body.PathOf("metadata"), /*allow_null_values=*/true));
  Metadata patched = current;
  for (auto& [key, value] : pairs) {
    const std::string& name = key;  // clang 14 (the fuzz build) cannot capture a structured binding
    auto it = std::find_if(patched.begin(), patched.end(), [&](const auto& kv) { return kv.first == name; });
    if (!value) {
      if (it != patched.end()) patched.erase(it);
    } else if (it != patched.end()) {
      it->second = std::move(*value);
    } else {
      patched.emplace_back(std::move(key), std::move(*value));
    }
  }
  RETURN_IF_ERROR(CheckMetadata(patched, body.PathOf("metadata")));
  return patched;
}

// {"NAME": "value"} for process environments: names are non-empty and hold no '=' or NUL.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadEnvMap(const BodyReader& body,
                                                                            std::string_view key) {
  std::vector<std::pair<std::string, std::string>> out;
  ASSIGN_OR_RETURN(std::optional<dom::object> object, body.OptObject(key));
  if (!object) return out;
  ASSIGN_OR_RETURN(auto pairs, ReadStringMap(*object, body.PathOf(key), /*allow_null_values=*/false));
  for (auto& [name, value] : pairs) {
    if (name.empty() || name.find_first_of(std::string_view("=\0", 2)) != std::string::npos) {
      return body.Error(key, absl::StrCat("\"", name, "\" is not an environment variable name"));
    }
    out.emplace_back(std::move(name), std::move(*value));
  }
  return out;
}

void WriteStringMap(JsonWriter& out, const std::vector<std::pair<std::string, std::string>>& pairs) {
  out.BeginObject();
  for (const auto& [key, value] : pairs) out.Key(key).String(value);
  out.EndObject();
}

void WriteTime(JsonWriter& out, std::optional<absl::Time> t) {
  if (t) {
    out.String(FormatRfc3339(*t));
  } else {
    out.Null();
  }
}

// A field wake has nothing for must be absent, null, or an empty array.
absl::Status RefuseNonEmpty(const BodyReader& body, std::string_view key, std::string_view why) {
  std::optional<dom::element> value = body.Find(key);
  if (!value || value->is_null()) return absl::OkStatus();
  dom::array array;
  if (value->get(array) == simdjson::SUCCESS && array.size() == 0) return absl::OkStatus();
  return body.Error(key, why);
}

// --- agents ---------------------------------------------------------------------------------------

absl::StatusOr<std::string> ReadModel(const BodyReader& body) {
  std::optional<dom::element> value = body.Find("model");
  if (!value || value->is_null()) return body.Error("model", "is required");
  std::string_view id;
  if (value->get(id) == simdjson::SUCCESS) {
    if (id.empty()) return body.Error("model", "must not be empty");
    return std::string(id);
  }
  dom::object object;
  if (value->get(object) != simdjson::SUCCESS) return body.Error("model", "must be a string or an object with an id");
  BodyReader config(object, body.PathOf("model"));
  RETURN_IF_ERROR(config.ExpectOnly({"id", "effort", "inference_geo", "speed"}));
  for (std::string_view option : {"effort", "inference_geo", "speed"}) {
    if (config.Has(option)) return config.Error(option, "is not supported by wake (leave it out)");
  }
  ASSIGN_OR_RETURN(std::string model, config.String("id"));
  if (model.empty()) return config.Error("id", "must not be empty");
  return model;
}

// "always_allow" -> false, "always_ask" -> true; nullopt when absent or null.
absl::StatusOr<std::optional<bool>> ReadAsk(const BodyReader& body) {
  ASSIGN_OR_RETURN(std::optional<dom::object> policy, body.OptObject("permission_policy"));
  if (!policy) return std::nullopt;
  BodyReader reader(*policy, body.PathOf("permission_policy"));
  RETURN_IF_ERROR(reader.ExpectOnly({"type"}));
  ASSIGN_OR_RETURN(std::string type, reader.String("type"));
  if (type == "always_allow") return false;
  if (type == "always_ask") return true;
  if (type == "auto") return reader.Error("type", "\"auto\" is not supported by wake: use always_allow or always_ask");
  return reader.Error("type", absl::StrCat("unknown permission policy \"", type, "\" (always_allow, always_ask)"));
}

std::string StandardToolNames() {
  std::string names;
  for (const ToolSpec& tool : StandardTools()) absl::StrAppend(&names, names.empty() ? "" : ", ", tool.name);
  return names;
}

// The agent toolset: spec.standard_tools and spec.always_ask.
absl::Status ReadToolset(const BodyReader& tool, AgentSpec& spec) {
  RETURN_IF_ERROR(tool.ExpectOnly({"type", "configs", "default_config"}));
  bool default_on = true;
  bool default_ask = false;
  ASSIGN_OR_RETURN(std::optional<dom::object> defaults, tool.OptObject("default_config"));
  if (defaults) {
    BodyReader reader(*defaults, tool.PathOf("default_config"));
    RETURN_IF_ERROR(reader.ExpectOnly({"enabled", "permission_policy"}));
    ASSIGN_OR_RETURN(std::optional<bool> enabled, reader.OptBool("enabled"));
    ASSIGN_OR_RETURN(std::optional<bool> ask, ReadAsk(reader));
    default_on = enabled.value_or(true);
    default_ask = ask.value_or(false);
  }
  struct Setting {
    bool on;
    bool ask;
  };
  std::map<std::string, Setting> settings;
  for (const ToolSpec& standard : StandardTools()) settings[standard.name] = Setting{default_on, default_ask};

  ASSIGN_OR_RETURN(std::optional<dom::array> configs, tool.OptArray("configs"));
  if (configs) {
    std::set<std::string> seen;
    size_t index = 0;
    for (dom::element item : *configs) {
      const std::string path = tool.PathOf("configs", index++);
      dom::object object;
      if (item.get(object) != simdjson::SUCCESS) return Invalid(path, "must be an object");
      BodyReader config(object, path);
      RETURN_IF_ERROR(config.ExpectOnly({"name", "type", "enabled", "permission_policy", "allowed_domains",
                                         "blocked_domains", "max_content_tokens", "url_sources", "user_location"}));
      ASSIGN_OR_RETURN(std::string name, config.String("name"));
      ASSIGN_OR_RETURN(std::optional<std::string> type, config.OptString("type"));
      if (type && *type != name) return config.Error("type", absl::StrCat("must be \"", name, "\", like name"));
      if (!seen.insert(name).second) return config.Error("name", absl::StrCat("\"", name, "\" is configured twice"));
      ASSIGN_OR_RETURN(std::optional<bool> enabled, config.OptBool("enabled"));
      ASSIGN_OR_RETURN(std::optional<bool> ask, ReadAsk(config));
      const bool on = enabled.value_or(default_on);
      if (name == "web_fetch" || name == "web_search") {
        if (on) return config.Error("name", absl::StrCat("wake has no ", name, " tool: set enabled to false"));
        continue;
      }
      auto it = settings.find(name);
      if (it == settings.end()) {
        return config.Error("name", absl::StrCat("unknown tool \"", name, "\" (the toolset has ", StandardToolNames(), ")"));
      }
      for (std::string_view web_only :
           {"allowed_domains", "blocked_domains", "max_content_tokens", "url_sources", "user_location"}) {
        if (config.Has(web_only)) return config.Error(web_only, "applies to web_fetch and web_search only");
      }
      it->second = Setting{on, ask.value_or(default_ask)};
    }
  }

  std::string on_name, off_name;
  for (const auto& [name, setting] : settings) (setting.on ? on_name : off_name) = name;
  if (!on_name.empty() && !off_name.empty()) {
    return tool.Error("configs", absl::StrCat("wake turns its standard tools on or off together (", StandardToolNames(),
                                              "), but ", on_name, " is enabled and ", off_name, " is not"));
  }
  spec.standard_tools = !on_name.empty();
  if (spec.standard_tools) {
    for (const ToolSpec& standard : StandardTools()) {
      if (settings[standard.name].ask) spec.always_ask.push_back(standard.name);
    }
  }
  return absl::OkStatus();
}

bool IsToolName(std::string_view name) {
  if (name.empty() || name.size() > kMaxToolNameChars) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

absl::Status ReadCustomTool(const BodyReader& tool, AgentSpec& spec) {
  RETURN_IF_ERROR(tool.ExpectOnly({"type", "name", "description", "input_schema"}));
  ToolDefinition definition;
  ASSIGN_OR_RETURN(definition.name, tool.String("name"));
  if (!IsToolName(definition.name)) {
    return tool.Error("name", "must have 1 to 128 characters: letters, digits, underscores and hyphens");
  }
  ASSIGN_OR_RETURN(definition.description, tool.String("description"));
  ASSIGN_OR_RETURN(std::optional<dom::object> schema, tool.OptObject("input_schema"));
  if (!schema) return tool.Error("input_schema", "is required");
  std::string_view schema_type;
  if ((*schema)["type"].get(schema_type) != simdjson::SUCCESS || schema_type != "object") {
    return tool.Error("input_schema", "must be a JSON Schema with \"type\": \"object\"");
  }
  ASSIGN_OR_RETURN(definition.input_schema_json, CompactJsonObject(ToJsonText(*schema)));
  spec.custom_tools.push_back(std::move(definition));
  return absl::OkStatus();
}

// `tools` replaces the agent's tools (absent or null: none).
absl::Status ReadTools(const BodyReader& body, AgentSpec& spec) {
  spec.standard_tools = false;
  spec.always_ask.clear();
  spec.custom_tools.clear();
  ASSIGN_OR_RETURN(std::optional<dom::array> tools, body.OptArray("tools"));
  if (!tools) return absl::OkStatus();
  bool toolset_seen = false;
  size_t index = 0;
  for (dom::element item : *tools) {
    const std::string path = body.PathOf("tools", index++);
    dom::object object;
    if (item.get(object) != simdjson::SUCCESS) return Invalid(path, "must be an object");
    BodyReader tool(object, path);
    ASSIGN_OR_RETURN(std::string type, tool.String("type"));
    if (type == kToolsetType) {
      if (toolset_seen) return Invalid(path, "the agent toolset appears twice");
      toolset_seen = true;
      RETURN_IF_ERROR(ReadToolset(tool, spec));
    } else if (type == "custom") {
      RETURN_IF_ERROR(ReadCustomTool(tool, spec));
    } else if (type == "mcp_toolset") {
      return tool.Error("type", "MCP toolsets are not supported by wake");
    } else {
      return tool.Error("type", absl::StrCat("unknown tool type \"", type, "\" (", kToolsetType, ", custom)"));
    }
  }
  std::set<std::string> names;
  for (const ToolDefinition& custom : spec.custom_tools) {
    if (spec.standard_tools && IsStandardTool(custom.name)) {
      return body.Error("tools", absl::StrCat("custom tool \"", custom.name, "\" has the name of a standard tool"));
    }
    if (!names.insert(custom.name).second) {
      return body.Error("tools", absl::StrCat("two custom tools are named \"", custom.name, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status RefuseAgentExtras(const BodyReader& body) {
  RETURN_IF_ERROR(RefuseNonEmpty(body, "mcp_servers", "MCP servers are not supported by wake"));
  RETURN_IF_ERROR(RefuseNonEmpty(body, "skills", "skills are not supported by wake"));
  if (body.Has("multiagent")) return body.Error("multiagent", "multiagent orchestration is not supported by wake");
  ASSIGN_OR_RETURN(std::optional<dom::object> identity, body.OptObject("execution_identity"));
  if (identity) {
    BodyReader reader(*identity, body.PathOf("execution_identity"));
    RETURN_IF_ERROR(reader.ExpectOnly({"type", "role_arn"}));
    ASSIGN_OR_RETURN(std::string type, reader.String("type"));
    if (type != "service_account") return reader.Error("type", "wake runs agents as \"service_account\" only");
  }
  return absl::OkStatus();
}

// --- environments ---------------------------------------------------------------------------------

struct EnvironmentConfig {
  std::string backend;  // "" = cloud = the engine's default
  HandResources resources;
  std::vector<std::pair<std::string, std::string>> secret_env;
};

std::string ConfigType(const EnvironmentSpec& spec) { return spec.backend.empty() ? "cloud" : spec.backend; }

absl::Status ReadCloudConfig(const BodyReader& config, EnvironmentConfig& out) {
  RETURN_IF_ERROR(config.ExpectOnly({"type", "networking", "packages"}));
  out.resources.network = false;
  ASSIGN_OR_RETURN(std::optional<dom::object> networking, config.OptObject("networking"));
  if (networking) {
    BodyReader net(*networking, config.PathOf("networking"));
    ASSIGN_OR_RETURN(std::string type, net.String("type"));
    if (type == "unrestricted") {
      RETURN_IF_ERROR(net.ExpectOnly({"type"}));
      out.resources.network = true;
    } else if (type == "limited") {
      RETURN_IF_ERROR(net.ExpectOnly({"type", "allow_mcp_servers", "allow_package_managers", "allowed_hosts"}));
      for (std::string_view flag : {"allow_mcp_servers", "allow_package_managers"}) {
        ASSIGN_OR_RETURN(std::optional<bool> allowed, net.OptBool(flag));
        if (allowed.value_or(false)) {
          return net.Error(flag, "wake's hands have the network on (unrestricted) or off (limited), nothing between");
        }
      }
      RETURN_IF_ERROR(RefuseNonEmpty(net, "allowed_hosts",
                                     "wake's hands have the network on (unrestricted) or off (limited), nothing between"));
    } else {
      return net.Error("type", absl::StrCat("unknown networking \"", type, "\" (unrestricted, limited)"));
    }
  }
  ASSIGN_OR_RETURN(std::optional<dom::object> packages, config.OptObject("packages"));
  if (packages) {
    BodyReader reader(*packages, config.PathOf("packages"));
    RETURN_IF_ERROR(reader.ExpectOnly({"type", "apt", "cargo", "gem", "go", "npm", "pip"}));
    for (std::string_view manager : {"apt", "cargo", "gem", "go", "npm", "pip"}) {
      RETURN_IF_ERROR(RefuseNonEmpty(reader, manager,
                                     "wake installs no packages into hands: put them in the hand's image instead"));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadBackendConfig(const BodyReader& config, EnvironmentConfig& out) {
  RETURN_IF_ERROR(config.ExpectOnly({"type", "network", "memory_bytes", "cpus", "pids", "env", "secret_env"}));
  ASSIGN_OR_RETURN(std::optional<bool> network, config.OptBool("network"));
  if (network) out.resources.network = *network;
  for (auto [key, target] : {std::pair{"memory_bytes", &out.resources.memory_bytes},
                             std::pair{"pids", &out.resources.pids}}) {
    ASSIGN_OR_RETURN(std::optional<int64_t> n, config.OptInt(key));
    if (n && *n < 0) return config.Error(key, "must not be negative (0: unlimited)");
    if (n) *target = *n;
  }
  ASSIGN_OR_RETURN(std::optional<double> cpus, config.OptNumber("cpus"));
  if (cpus && *cpus < 0) return config.Error("cpus", "must not be negative (0: unlimited)");
  if (cpus) out.resources.cpus = *cpus;
  ASSIGN_OR_RETURN(out.resources.env, ReadEnvMap(config, "env"));
  ASSIGN_OR_RETURN(out.secret_env, ReadEnvMap(config, "secret_env"));
  return absl::OkStatus();
}

// `config` of an environment request; absent or null: a cloud config with its defaults.
absl::StatusOr<EnvironmentConfig> ReadEnvironmentConfig(const BodyReader& body) {
  EnvironmentConfig out;
  ASSIGN_OR_RETURN(std::optional<dom::object> object, body.OptObject("config"));
  if (!object) return out;
  BodyReader config(*object, body.PathOf("config"));
  ASSIGN_OR_RETURN(std::string type, config.String("type"));
  if (type == "cloud") {
    RETURN_IF_ERROR(ReadCloudConfig(config, out));
  } else if (type == "self_hosted") {
    return config.Error("type", "self-hosted environments are not supported by wake: name a hand backend as the type "
                                "(\"local\", \"docker\", \"ssh\") or use \"cloud\" for the default one");
  } else if (type.empty()) {
    return config.Error("type", "must not be empty");
  } else {
    out.backend = type;  // the engine checks it names a registered backend
    RETURN_IF_ERROR(ReadBackendConfig(config, out));
  }
  return out;
}

void WriteEnvironmentConfig(JsonWriter& out, const EnvironmentSpec& spec) {
  out.BeginObject();
  if (spec.backend.empty()) {
    out.Key("type").String("cloud");
    out.Key("networking").BeginObject();
    if (spec.resources.network) {
      out.Key("type").String("unrestricted");
    } else {
      out.Key("type").String("limited");
      out.Key("allow_mcp_servers").Bool(false);
      out.Key("allow_package_managers").Bool(false);
      out.Key("allowed_hosts").BeginArray().EndArray();
    }
    out.EndObject();
    out.Key("packages").BeginObject().Key("type").String("packages");
    for (std::string_view manager : {"apt", "cargo", "gem", "go", "npm", "pip"}) out.Key(manager).BeginArray().EndArray();
    out.EndObject();
  } else {
    out.Key("type").String(spec.backend);
    out.Key("network").Bool(spec.resources.network);
    out.Key("memory_bytes").Int(spec.resources.memory_bytes);
    out.Key("cpus").Double(spec.resources.cpus);
    out.Key("pids").Int(spec.resources.pids);
    out.Key("env");
    WriteStringMap(out, spec.resources.env);
    out.Key("secret_env");
    WriteStringMap(out, spec.secret_env);
  }
  out.EndObject();
}

absl::Status RefuseScope(const BodyReader& body) {
  if (body.Has("scope")) return body.Error("scope", "is not supported by wake (leave it out)");
  return absl::OkStatus();
}

}  // namespace

absl::Status WithErrorCode(absl::Status status, std::string_view code) {
  status.SetPayload(kErrorCodePayload, absl::Cord(ToAbsl(code)));
  return status;
}

std::optional<std::string> ErrorCodeOf(const absl::Status& status) {
  auto code = status.GetPayload(kErrorCodePayload);  // an absl::optional on this Abseil
  if (!code) return std::nullopt;
  return std::string(*code);
}

// --- agents ---------------------------------------------------------------------------------------

absl::StatusOr<AgentSpec> AgentSpecFromCreateParams(dom::object object) {
  BodyReader body(object, "");
  RETURN_IF_ERROR(body.ExpectOnly({"name", "model", "description", "system", "tools", "metadata", "mcp_servers",
                                   "skills", "multiagent", "execution_identity"}));
  AgentSpec spec;
  ASSIGN_OR_RETURN(spec.name, body.String("name"));
  if (spec.name.empty()) return body.Error("name", "must not be empty");
  ASSIGN_OR_RETURN(spec.model, ReadModel(body));
  ASSIGN_OR_RETURN(std::optional<std::string> description, body.OptString("description"));
  spec.description = description.value_or("");
  ASSIGN_OR_RETURN(std::optional<std::string> system, body.OptString("system"));
  spec.system = system.value_or("");
  RETURN_IF_ERROR(ReadTools(body, spec));
  ASSIGN_OR_RETURN(spec.metadata, ReadMetadata(body));
  RETURN_IF_ERROR(RefuseAgentExtras(body));
  return spec;
}

absl::StatusOr<AgentUpdate> ApplyAgentUpdateParams(const AgentSpec& current, dom::object object) {
  BodyReader body(object, "");
  RETURN_IF_ERROR(body.ExpectOnly({"name", "model", "description", "system", "tools", "metadata", "mcp_servers",
                                   "skills", "multiagent", "execution_identity", "version"}));
  AgentUpdate update;
  update.spec = current;
  AgentSpec& spec = update.spec;
  ASSIGN_OR_RETURN(std::optional<int64_t> version, body.OptInt("version"));
  if (version && *version < 1) return body.Error("version", "must be at least 1");
  update.expected_version = version.value_or(0);
  if (body.Find("name")) {
    ASSIGN_OR_RETURN(spec.name, body.String("name"));
    if (spec.name.empty()) return body.Error("name", "must not be empty (an agent's name cannot be cleared)");
  }
  if (body.Find("model")) {
    ASSIGN_OR_RETURN(spec.model, ReadModel(body));
  }
  // description and system: a string sets, null (or "") clears, absent keeps.
  if (body.Find("description")) {
    ASSIGN_OR_RETURN(std::optional<std::string> description, body.OptString("description"));
    spec.description = description.value_or("");
  }
  if (body.Find("system")) {
    ASSIGN_OR_RETURN(std::optional<std::string> system, body.OptString("system"));
    spec.system = system.value_or("");
  }
  if (body.Find("tools")) RETURN_IF_ERROR(ReadTools(body, spec));
  ASSIGN_OR_RETURN(std::optional<Metadata> metadata, PatchMetadata(current.metadata, body));
  if (metadata) spec.metadata = *std::move(metadata);
  RETURN_IF_ERROR(RefuseAgentExtras(body));
  return update;
}

void WriteAgent(JsonWriter& out, const Agent& agent, bool for_session) {
  const AgentSpec& spec = agent.spec;
  out.BeginObject();
  out.Key("type").String("agent");
  out.Key("id").String(agent.id);
  out.Key("version").Uint(agent.version);
  out.Key("name").String(spec.name);
  out.Key("description").StringOrNull(spec.description);
  out.Key("system").StringOrNull(spec.system);
  out.Key("model").BeginObject().Key("id").String(spec.model).EndObject();
  out.Key("tools").BeginArray();
  if (spec.standard_tools) {
    out.BeginObject();
    out.Key("type").String(kToolsetType);
    out.Key("default_config").BeginObject();
    out.Key("enabled").Bool(true);
    out.Key("permission_policy").BeginObject().Key("type").String("always_allow").EndObject();
    out.EndObject();
    out.Key("configs").BeginArray();
    for (const ToolSpec& tool : StandardTools()) {
      const bool ask = std::find(spec.always_ask.begin(), spec.always_ask.end(), tool.name) != spec.always_ask.end();
      out.BeginObject();
      out.Key("type").String(tool.name);
      out.Key("name").String(tool.name);
      out.Key("enabled").Bool(true);
      out.Key("permission_policy").BeginObject().Key("type").String(ask ? "always_ask" : "always_allow").EndObject();
      out.EndObject();
    }
    out.EndArray();
    out.EndObject();
  }
  for (const ToolDefinition& tool : spec.custom_tools) {
    out.BeginObject();
    out.Key("type").String("custom");
    out.Key("name").String(tool.name);
    out.Key("description").String(tool.description);
    out.Key("input_schema").Raw(tool.input_schema_json.empty() ? R"({"type":"object"})" : tool.input_schema_json);
    out.EndObject();
  }
  out.EndArray();
  out.Key("mcp_servers").BeginArray().EndArray();
  out.Key("skills").BeginArray().EndArray();
  out.Key("multiagent").Null();
  out.Key("execution_identity").BeginObject().Key("type").String("service_account").EndObject();
  if (!for_session) {
    out.Key("metadata");
    WriteStringMap(out, spec.metadata);
    out.Key("created_at");
    WriteTime(out, agent.created_at);
    out.Key("updated_at");
    WriteTime(out, agent.updated_at);
    out.Key("archived_at");
    WriteTime(out, agent.archived_at);
  }
  out.EndObject();
}

// --- environments ---------------------------------------------------------------------------------

absl::StatusOr<EnvironmentSpec> EnvironmentSpecFromCreateParams(dom::object object) {
  BodyReader body(object, "");
  RETURN_IF_ERROR(body.ExpectOnly({"name", "config", "description", "metadata", "scope"}));
  EnvironmentSpec spec;
  ASSIGN_OR_RETURN(spec.name, body.String("name"));
  if (spec.name.empty()) return body.Error("name", "must not be empty");
  ASSIGN_OR_RETURN(std::optional<std::string> description, body.OptString("description"));
  spec.description = description.value_or("");
  ASSIGN_OR_RETURN(EnvironmentConfig config, ReadEnvironmentConfig(body));
  spec.backend = std::move(config.backend);
  spec.resources = std::move(config.resources);
  spec.secret_env = std::move(config.secret_env);
  ASSIGN_OR_RETURN(spec.metadata, ReadMetadata(body));
  RETURN_IF_ERROR(RefuseScope(body));
  return spec;
}

absl::StatusOr<EnvironmentSpec> ApplyEnvironmentUpdateParams(const EnvironmentSpec& current, dom::object object) {
  BodyReader body(object, "");
  RETURN_IF_ERROR(body.ExpectOnly({"name", "config", "description", "metadata", "scope"}));
  EnvironmentSpec spec = current;
  ASSIGN_OR_RETURN(std::optional<std::string> name, body.OptString("name"));
  if (name) {
    if (name->empty()) return body.Error("name", "must not be empty");
    spec.name = *name;
  }
  if (body.Find("description")) {
    ASSIGN_OR_RETURN(std::optional<std::string> description, body.OptString("description"));
    spec.description = description.value_or("");
  }
  if (body.Has("config")) {
    ASSIGN_OR_RETURN(EnvironmentConfig config, ReadEnvironmentConfig(body));
    const std::string from = ConfigType(current);
    const std::string to = config.backend.empty() ? "cloud" : config.backend;
    if (from != to) {
      return WithErrorCode(
          body.Error("config", absl::StrCat("an environment's config type cannot change (", from, " -> ", to,
                                            "): create another environment")),
          "invalid_config_type_change");
    }
    spec.resources = std::move(config.resources);
    spec.secret_env = std::move(config.secret_env);
  }
  ASSIGN_OR_RETURN(std::optional<Metadata> metadata, PatchMetadata(current.metadata, body));
  if (metadata) spec.metadata = *std::move(metadata);
  RETURN_IF_ERROR(RefuseScope(body));
  return spec;
}

void WriteEnvironment(JsonWriter& out, const Environment& environment) {
  const EnvironmentSpec& spec = environment.spec;
  out.BeginObject();
  out.Key("type").String("environment");
  out.Key("id").String(environment.id);
  out.Key("name").String(spec.name);
  out.Key("description").StringOrNull(spec.description);
  out.Key("config");
  WriteEnvironmentConfig(out, spec);
  out.Key("metadata");
  WriteStringMap(out, spec.metadata);
  out.Key("created_at");
  WriteTime(out, environment.created_at);
  out.Key("updated_at");
  WriteTime(out, environment.updated_at);
  out.Key("archived_at");
  WriteTime(out, environment.archived_at);
  out.EndObject();
}

// --- sessions -------------------------------------------------------------------------------------

absl::StatusOr<SessionCreate> SessionCreateFromParams(dom::object object) {
  BodyReader body(object, "");
  RETURN_IF_ERROR(body.ExpectOnly({"agent", "environment_id", "title", "metadata", "initial_events", "resources",
                                   "vault_ids", "budget"}));
  SessionCreate create;
  CreateSessionRequest& request = create.request;
  std::optional<dom::element> agent = body.Find("agent");
  if (!agent || agent->is_null()) return body.Error("agent", "is required (an agent id, or {\"type\":\"agent\",\"id\":...})");
  std::string_view agent_id;
  dom::object agent_object;
  if (agent->get(agent_id) == simdjson::SUCCESS) {
    request.agent_id = std::string(agent_id);
  } else if (agent->get(agent_object) == simdjson::SUCCESS) {
    BodyReader reader(agent_object, "agent");
    ASSIGN_OR_RETURN(std::string type, reader.String("type"));
    if (type == "agent_with_overrides") {
      return reader.Error("type", "agent overrides are not supported by wake: create an agent version instead");
    }
    if (type != "agent") return reader.Error("type", "must be \"agent\"");
    RETURN_IF_ERROR(reader.ExpectOnly({"type", "id", "version"}));
    ASSIGN_OR_RETURN(request.agent_id, reader.String("id"));
    ASSIGN_OR_RETURN(std::optional<int64_t> version, reader.OptInt("version"));
    if (version && *version < 1) return reader.Error("version", "must be at least 1");
    request.agent_version = static_cast<uint64_t>(version.value_or(0));
  } else {
    return body.Error("agent", "must be an agent id or {\"type\":\"agent\",\"id\":...}");
  }
  if (request.agent_id.empty()) return body.Error("agent", "the agent id must not be empty");
  ASSIGN_OR_RETURN(std::optional<std::string> environment_id, body.OptString("environment_id"));
  request.environment_id = environment_id.value_or("");
  ASSIGN_OR_RETURN(std::optional<std::string> title, body.OptString("title"));
  request.title = title.value_or("");
  ASSIGN_OR_RETURN(request.metadata, ReadMetadata(body));
  ASSIGN_OR_RETURN(std::optional<dom::array> initial, body.OptArray("initial_events"));
  if (initial) {
    size_t index = 0;
    for (dom::element item : *initial) {
      const std::string path = body.PathOf("initial_events", index++);
      absl::StatusOr<Event> event = DecodeEventJson(ToJsonText(item), JsonEventMode::kClientParams);
      if (!event.ok()) return Invalid(path, FromAbsl(event.status().message()));
      if (event->type != EventType::kUserMessage) {
        return Invalid(path, "initial events must be user.message events");
      }
      create.initial_events.push_back(*std::move(event));
    }
  }
  ASSIGN_OR_RETURN(std::optional<dom::array> vault_ids, body.OptArray("vault_ids"));
  if (vault_ids) {
    size_t index = 0;
    for (dom::element item : *vault_ids) {
      std::string_view id;
      if (item.get(id) != simdjson::SUCCESS || id.empty()) {
        return Invalid(body.PathOf("vault_ids", index), "must be a vault id");
      }
      request.vault_ids.emplace_back(id);
      ++index;
    }
  }
  RETURN_IF_ERROR(RefuseNonEmpty(body, "resources", "session resources are not supported by wake"));
  if (body.Has("budget")) return body.Error("budget", "budgets are not supported by wake");
  return create;
}

absl::StatusOr<SessionUpdate> SessionUpdateFromParams(const SessionInfo& current, dom::object object) {
  BodyReader body(object, "");
  RETURN_IF_ERROR(body.ExpectOnly({"agent", "budget", "metadata", "title", "vault_ids"}));
  SessionUpdate update;
  if (body.Has("agent")) {
    return body.Error("agent", "a wake session keeps its agent version: update the agent and start a new session");
  }
  if (body.Has("budget")) return body.Error("budget", "budgets are not supported by wake");
  RETURN_IF_ERROR(RefuseNonEmpty(body, "vault_ids", "a session's vaults are set when it is created"));
  if (body.Find("title")) {
    ASSIGN_OR_RETURN(std::optional<std::string> title, body.OptString("title"));
    update.title = title.value_or("");
  }
  ASSIGN_OR_RETURN(update.metadata, PatchMetadata(current.metadata, body));
  return update;
}

void WriteSession(JsonWriter& out, const SessionInfo& session, const Agent* agent,
                  const std::vector<std::string>& vault_ids) {
  out.BeginObject();
  out.Key("type").String("session");
  out.Key("id").String(session.id);
  out.Key("title").StringOrNull(session.title);
  out.Key("status").String(session.status);
  out.Key("environment_id").String(session.environment_id);
  out.Key("agent");
  if (agent != nullptr) {
    WriteAgent(out, *agent, /*for_session=*/true);
  } else {
    out.BeginObject().Key("type").String("agent").Key("id").String(session.agent_id);
    out.Key("version").Uint(session.agent_version).EndObject();
  }
  out.Key("metadata");
  WriteStringMap(out, session.metadata);
  out.Key("resources").BeginArray().EndArray();
  out.Key("vault_ids").BeginArray();
  for (const std::string& id : vault_ids) out.String(id);
  out.EndArray();
  out.Key("outcome_evaluations").BeginArray().EndArray();
  out.Key("budget").Null();
  out.Key("stats").BeginObject().EndObject();
  out.Key("usage").BeginObject().EndObject();
  out.Key("created_at");
  WriteTime(out, session.created_at);
  out.Key("updated_at");
  WriteTime(out, session.updated_at);
  out.Key("archived_at");
  WriteTime(out, session.archived_at);
  out.EndObject();
}

// --- shared with vault_json.cc ---------------------------------------------------------------------

absl::StatusOr<Metadata> ReadMetadataParam(const BodyReader& body) { return ReadMetadata(body); }
absl::StatusOr<std::optional<Metadata>> PatchMetadataParam(const Metadata& current, const BodyReader& body) {
  return PatchMetadata(current, body);
}
void WriteMetadata(JsonWriter& out, const Metadata& metadata) { WriteStringMap(out, metadata); }
void WriteTimeOrNull(JsonWriter& out, std::optional<absl::Time> t) { WriteTime(out, t); }

}  // namespace wake::server_internal
