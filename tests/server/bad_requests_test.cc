// A corpus of bad requests against every endpoint of waked (a real Engine on a temp dir, the server
// on the loopback with API keys required, libcurl as the client): malformed JSON, oversized bodies,
// deeply nested JSON, a wrong type for every field of a valid body, unknown fields, bodies where none
// is read, bad ids, bad query parameters, wrong methods, bad keys. Each must be answered 4xx with the error envelope, leave
// every resource as it was (a full read of everything is compared before and after each endpoint's
// share of the corpus), and leave the server serving. At the end each valid body the corpus was
// derived from is sent once and accepted, so the refusals were the mutations' doing.
//
// Not covered here: /a2a/{session}'s JSON-RPC route answers protocol errors with HTTP 200, as A2A
// specifies (a2a_test covers them); its route is still in the method and id parts.

#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
#include "schemas/ids.h"
#include "server/server.h"
#include "storage/api_key_store.h"
#include "tests/server/http_client.h"
#include "tests/server/served_engine_test.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

namespace dom = simdjson::dom;
using testing::HttpClient;
using testing::HttpResponse;

constexpr size_t kMaxBody = 256 * 1024;
constexpr char kSecret[] = "credential-secret-value-0123456789abcdef";

// --- JSON mutations --------------------------------------------------------------------------------

// `element` as JSON text, with the value at pre-order position `target` replaced by `replacement`, or
// with `extra` ("\"key\":value") added to the object at position `target` (one of the two is set).
// `counter` numbers the values as they are visited.
std::string Rewrite(dom::element element, size_t target, const std::string& replacement, const std::string& extra,
                    size_t* counter) {
  const size_t here = (*counter)++;
  if (here == target && !replacement.empty()) return replacement;
  switch (element.type()) {
    case dom::element_type::OBJECT: {
      std::string out = "{";
      bool first = true;
      dom::object object = element.get_object().value();
      for (dom::key_value_pair field : object) {
        if (!first) out += ",";
        first = false;
        absl::StrAppend(&out, "\"", std::string(field.key), "\":", Rewrite(field.value, target, replacement, extra, counter));
      }
      if (here == target && !extra.empty()) absl::StrAppend(&out, first ? "" : ",", extra);
      return out + "}";
    }
    case dom::element_type::ARRAY: {
      std::string out = "[";
      bool first = true;
      dom::array array = element.get_array().value();
      for (dom::element item : array) {
        if (!first) out += ",";
        first = false;
        out += Rewrite(item, target, replacement, extra, counter);
      }
      return out + "]";
    }
    default:
      return simdjson::minify(element);
  }
}

// Values of every JSON type but `type`'s (null is left out: optional fields accept it as "unset").
std::vector<std::string> WrongValues(dom::element_type type) {
  using T = dom::element_type;
  switch (type) {
    case T::STRING: return {"0", "1.5", "true", "[]", "{}", R"(["x"])", R"({"a":"b"})"};
    case T::INT64:
    case T::UINT64:
      return {"\"1\"", "true", "[]", "{}", "1.5", "-1", "99999999999999999999"};
    case T::DOUBLE: return {"\"1\"", "true", "[]", "{}"};
    case T::BOOL: return {"\"true\"", "1", "[]", "{}"};
    case T::OBJECT: return {"\"x\"", "1", "true", "[]"};
    case T::ARRAY: return {"\"x\"", "1", "true", "{}"};
    default: return {};
  }
}

struct Mutation {
  std::string what;
  std::string body;
};

// A wrong type for every value of `valid` (each alone), and an unknown field in every object.
std::vector<Mutation> Mutations(const std::string& valid, bool unknown_fields) {
  dom::parser parser;
  dom::element root = parser.parse(valid).value();
  // Pre-order positions and types, by a dry run.
  std::vector<std::pair<dom::element_type, std::string>> nodes;
  std::function<void(dom::element, const std::string&)> visit = [&](dom::element e, const std::string& path) {
    nodes.emplace_back(e.type(), path);
    if (e.type() == dom::element_type::OBJECT) {
      dom::object object = e.get_object().value();
      for (dom::key_value_pair field : object) visit(field.value, absl::StrCat(path, "/", std::string(field.key)));
    } else if (e.type() == dom::element_type::ARRAY) {
      size_t i = 0;
      dom::array array = e.get_array().value();
      for (dom::element item : array) visit(item, absl::StrCat(path, "/", i++));
    }
  };
  visit(root, "");
  std::vector<Mutation> out;
  for (size_t i = 1; i < nodes.size(); ++i) {  // 0 is the body itself (the malformed corpus covers it)
    for (const std::string& value : WrongValues(nodes[i].first)) {
      size_t counter = 0;
      out.push_back({absl::StrCat(nodes[i].second, " = ", value), Rewrite(root, i, value, "", &counter)});
    }
  }
  if (unknown_fields) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i].first != dom::element_type::OBJECT) continue;
      size_t counter = 0;
      out.push_back({absl::StrCat(nodes[i].second, " + unknown field"),
                     Rewrite(root, i, "", R"("zz_unknown_field":1)", &counter)});
    }
  }
  return out;
}

// Bodies that are not a JSON object, or not JSON at all.
std::vector<std::string> MalformedBodies() {
  std::vector<std::string> bodies = {
      "{", "}", "{\"name\":", "{\"name\":\"x\"", "{\"name\":\"x\",}", "{'name':'x'}", "{name:\"x\"}", "[1,2",
      "nul", "tru", "\"just a string\"", "[]", "123", "null", "true", "{\"name\":\"x\"} trailing",
      "{\"name\":\"x\"}{\"name\":\"y\"}", "{\"name\":\"\\u12\"}", "{\"name\":\"\\q\"}", "{\"name\":01}",
      "{\"name\":1e99999}", "{\"name\":-}", "\xEF\xBB\xBF{\"name\":\"x\"}",  // a BOM
      std::string("{\"name\":\"a\0b\"}", sizeof("{\"name\":\"a\0b\"}") - 1), "{\"name\":\"\xFF\xFE\"}", "{\"name\":\"\xC3\"}",
      "{\"name\":\"unterminated}", std::string(1000, '{'), std::string(1000, '['), "\x01\x02\x03",
  };
  // 10,000 levels, bare and under a field.
  bodies.push_back(std::string(10000, '[') + std::string(10000, ']'));
  std::string objects;
  for (int i = 0; i < 10000; ++i) objects += "{\"a\":";
  objects += "1";
  objects += std::string(10000, '}');
  bodies.push_back(objects);
  bodies.push_back(absl::StrCat("{\"metadata\":", objects, "}"));
  bodies.push_back(absl::StrCat("{\"name\":\"x\",\"metadata\":{\"k\":", std::string(10000, '['),
                                std::string(10000, ']'), "}}"));
  return bodies;
}

// --- the test --------------------------------------------------------------------------------------

class BadRequestsTest : public ServedEngineTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenEngine("bad_requests"));
    key_ = NewKey("corpus", "team-a");
    ServerOptions options = KeyedOptions();
    options.max_body_bytes = kMaxBody;
    options.keepalive_interval = absl::Milliseconds(100);
    options.blocking_threads = 4;
    ASSERT_NO_FATAL_FAILURE(Serve(std::move(options)));
  }

  HttpResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                    std::vector<std::string> headers = {}) {
    headers.push_back("x-api-key: " + key_);
    return client_->Call(method, path, body, headers);
  }

  std::string Ok(const std::string& method, const std::string& path, const std::string& body) {
    HttpResponse r = Call(method, path, body);
    EXPECT_EQ(r.status, 200) << method << " " << path << ": " << r.body;
    return r.Str("/id");
  }

  // A full read of every resource (archived ones and internal events included).
  std::string Snapshot() {
    std::string out;
    auto get = [&](const std::string& path) {
      HttpResponse r = Call("GET", path);
      EXPECT_EQ(r.status, 200) << path << ": " << r.body;
      absl::StrAppend(&out, path, " -> ", r.body, "\n");
      return r;
    };
    HttpResponse agents = get("/v1/agents?include_archived=true&limit=1000");
    for (size_t i = 0; i < agents.Size("/data"); ++i) get(absl::StrCat("/v1/agents/", agents.Str(absl::StrCat("/data/", i, "/id")), "/versions?limit=1000"));
    get("/v1/environments?include_archived=true&limit=1000");
    HttpResponse vaults = get("/v1/vaults?include_archived=true&limit=1000");
    for (size_t i = 0; i < vaults.Size("/data"); ++i) {
      get(absl::StrCat("/v1/vaults/", vaults.Str(absl::StrCat("/data/", i, "/id")), "/credentials?include_archived=true&limit=1000"));
    }
    HttpResponse sessions = get("/v1/sessions?include_archived=true&limit=1000");
    for (size_t i = 0; i < sessions.Size("/data"); ++i) {
      get(absl::StrCat("/v1/sessions/", sessions.Str(absl::StrCat("/data/", i, "/id")), "/events?include_internal=true&limit=1000"));
    }
    absl::StatusOr<std::vector<ApiKeyRecord>> keys = keys_->List();
    EXPECT_TRUE(keys.ok()) << keys.status();
    if (keys.ok()) absl::StrAppend(&out, "keys: ", keys->size(), "\n");
    return out;
  }

  // `r` is a 4xx with the error envelope.
  static void ExpectRefused(const HttpResponse& r, const std::string& what) {
    EXPECT_GE(r.status, 400) << what << ": " << r.body;
    EXPECT_LT(r.status, 500) << what << ": " << r.body;
    EXPECT_EQ(r.Str("/type"), "error") << what << ": " << r.body;
    EXPECT_FALSE(r.Str("/error/type").empty()) << what << ": " << r.body;
    EXPECT_FALSE(r.Str("/error/message").empty()) << what << ": " << r.body;
  }

  std::string key_;
};

TEST_F(BadRequestsTest, EveryEndpointRefusesTheCorpusAndChangesNothing) {
  // The resources the corpus aims at: an agent, an environment, a vault with a credential, and a
  // session that has had a turn.
  const std::string agent = Ok("POST", "/v1/agents", R"({"name":"target","model":"scripted"})");
  const std::string env = Ok("POST", "/v1/environments", R"({"name":"target","config":{"type":"local"}})");
  const std::string vault = Ok("POST", "/v1/vaults", R"({"display_name":"target"})");
  const std::string credential = Ok("POST", absl::StrCat("/v1/vaults/", vault, "/credentials"),
                                    absl::StrCat(R"({"auth":{"type":"environment_variable","secret_name":"TARGET","secret_value":")",
                                                 kSecret, R"(","networking":{"type":"unrestricted"}}})"));
  const std::string session =
      Ok("POST", "/v1/sessions", absl::StrCat(R"({"agent":")", agent, R"(","environment_id":")", env, R"("})"));
  const std::string message = R"({"events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]}]})";
  Ok("POST", absl::StrCat("/v1/sessions/", session, "/events"), message);
  engine_->WaitUntilQuiet();

  const std::string a = "/v1/agents/" + agent;
  const std::string e = "/v1/environments/" + env;
  const std::string v = "/v1/vaults/" + vault;
  const std::string c = v + "/credentials/" + credential;
  const std::string s = "/v1/sessions/" + session;

  // Every route with its methods; for the POSTs that read a body, a valid body to mutate (null: the
  // route reads none).
  struct Endpoint {
    std::string method, path;
    std::optional<std::string> valid;  // a body the endpoint accepts
    bool rejects_unknown = true;       // whether an unknown field is refused
  };
  const std::vector<Endpoint> endpoints = {
      {"POST", "/v1/agents",
       R"({"name":"n","model":"scripted","description":"d","system":"s","metadata":{"k":"v"},"tools":[{"type":"agent_toolset_20260401"}]})"},
      {"POST", a, R"({"name":"n2","version":1,"description":"d2","metadata":{"k":"v"}})"},
      {"POST", a + "/archive", std::nullopt},
      {"GET", a, std::nullopt},
      {"GET", a + "/versions", std::nullopt},
      {"GET", "/v1/agents", std::nullopt},
      {"POST", "/v1/environments", R"({"name":"e","description":"d","config":{"type":"local"},"metadata":{"k":"v"}})"},
      {"POST", e, R"({"name":"e2","description":"d2","metadata":{"k":"v"}})"},
      {"POST", e + "/archive", std::nullopt},
      {"DELETE", e, std::nullopt},
      {"GET", e, std::nullopt},
      {"GET", "/v1/environments", std::nullopt},
      {"POST", "/v1/vaults", R"({"display_name":"v","metadata":{"k":"v"}})"},
      {"POST", v, R"({"display_name":"v2","metadata":{"k":"v"}})"},
      {"POST", v + "/archive", std::nullopt},
      {"DELETE", v, std::nullopt},
      {"GET", v, std::nullopt},
      {"GET", "/v1/vaults", std::nullopt},
      {"POST", v + "/credentials",
       absl::StrCat(R"({"display_name":"c","metadata":{"k":"v"},"auth":{"type":"environment_variable","secret_name":"OTHER","secret_value":")",
                    kSecret, R"(","networking":{"type":"unrestricted"}}})")},
      {"POST", c, R"({"display_name":"c2","metadata":{"k":"v"}})"},
      {"POST", c + "/archive", std::nullopt},
      {"POST", c + "/mcp_oauth_validate", std::nullopt},
      {"DELETE", c, std::nullopt},
      {"GET", c, std::nullopt},
      {"GET", v + "/credentials", std::nullopt},
      {"POST", "/v1/sessions",
       absl::StrCat(R"({"agent":")", agent, R"(","environment_id":")", env, R"(","title":"t","metadata":{"k":"v"},"vault_ids":[")",
                    vault, R"("]})")},
      {"POST", s, R"({"title":"t2","metadata":{"k":"v"}})"},
      {"POST", s + "/archive", std::nullopt},
      {"DELETE", s, std::nullopt},
      {"GET", s, std::nullopt},
      {"GET", "/v1/sessions", std::nullopt},
      {"POST", s + "/events", message},
      {"GET", s + "/events", std::nullopt},
      {"GET", "/a2a/" + session + "/.well-known/agent-card.json", std::nullopt},
      {"GET", "/metrics", std::nullopt},
  };

  const std::vector<std::string> malformed = MalformedBodies();
  size_t sent = 0;
  for (const Endpoint& endpoint : endpoints) {
    SCOPED_TRACE(absl::StrCat(endpoint.method, " ", endpoint.path));
    const std::string before = Snapshot();
    // Malformed and deeply nested bodies: where a body is read, and where none is.
    for (const std::string& body : malformed) {
      ExpectRefused(Call(endpoint.method, endpoint.path, body), absl::StrCat("body ", body.substr(0, 40)));
      ++sent;
    }
    // Oversized, announced and chunked.
    const std::string huge = absl::StrCat(R"({"name":")", std::string(kMaxBody + 1024, 'x'), R"("})");
    HttpResponse too_big = Call(endpoint.method, endpoint.path, huge);
    EXPECT_EQ(too_big.status, 413) << too_big.body;
    ExpectRefused(too_big, "oversized");
    if (endpoint.method == "POST") {
      HttpResponse chunked = client_->PostChunked(endpoint.path, huge, 64 * 1024);
      ExpectRefused(chunked, "oversized, chunked");  // 401 or 413: no key was sent; either way refused
    }
    sent += 2;
    if (endpoint.valid) {
      for (const Mutation& m : Mutations(*endpoint.valid, endpoint.rejects_unknown)) {
        ExpectRefused(Call(endpoint.method, endpoint.path, m.body), absl::StrCat(m.what, ": ", m.body));
        ++sent;
      }
    } else {
      // A route that reads no body refuses one rather than ignoring it.
      ExpectRefused(Call(endpoint.method, endpoint.path, R"({"name":"ignored?"})"), "an unread body");
      ++sent;
    }
    engine_->WaitUntilQuiet();
    EXPECT_EQ(Snapshot(), before);
  }

  // Bad ids on every route that has one.
  const std::string before_ids = Snapshot();
  const std::vector<std::string> bad_ids = {
      "nope", "agent_", "env_", "vlt_", "vcrd_", "sesn_", agent.substr(0, agent.size() - 1), agent + "0",
      session, agent, env, vault, credential,  // a real id of another kind
      // (A literal ".." is left out: libcurl resolves dot segments before sending; "%2e%2e" reaches the
      // server as is and is decoded there.)
      std::string(5000, 'a'), "%2e%2e", "%00", "%C3%A9", "%FF", "agent_%00%00", "%25", "a%2Fb", "%20",
  };
  const std::vector<std::pair<std::string, std::string>> id_routes = {
      {"GET", "/v1/agents/{}"},          {"POST", "/v1/agents/{}/archive"},
      {"GET", "/v1/agents/{}/versions"}, {"GET", "/v1/environments/{}"},
      {"DELETE", "/v1/environments/{}"}, {"POST", "/v1/environments/{}/archive"},
      {"GET", "/v1/vaults/{}"},          {"DELETE", "/v1/vaults/{}"},
      {"GET", "/v1/vaults/{}/credentials"}, {"GET", v + "/credentials/{}"},
      {"DELETE", v + "/credentials/{}"}, {"POST", v + "/credentials/{}/archive"},
      {"GET", "/v1/sessions/{}"},        {"DELETE", "/v1/sessions/{}"},
      {"POST", "/v1/sessions/{}/archive"}, {"GET", "/v1/sessions/{}/events"},
      {"POST", "/v1/sessions/{}/events"}, {"GET", "/v1/sessions/{}/events/stream"},
      {"GET", "/a2a/{}/.well-known/agent-card.json"}, {"POST", "/a2a/{}"},
  };
  for (const auto& [method, route] : id_routes) {
    for (const std::string& id : bad_ids) {
      const std::string path = absl::StrReplaceAll(route, {{"{}", id}});
      // Leave out the pairs where the "bad" id is a real one of the route's own kind.
      const std::string& own = absl::StrContains(route, "credentials/{}") ? credential
                               : absl::StartsWith(route, "/v1/agents")     ? agent
                               : absl::StartsWith(route, "/v1/environments") ? env
                               : absl::StartsWith(route, "/v1/vaults")     ? vault
                                                                            : session;
      if (id == own) continue;
      const std::string body = method == "POST" && absl::StrContains(route, "/events") ? message : "";
      ExpectRefused(Call(method, path, body), absl::StrCat(method, " ", path.substr(0, 120)));
      ++sent;
    }
  }
  engine_->WaitUntilQuiet();
  EXPECT_EQ(Snapshot(), before_ids);

  // Bad query parameters on every route that reads some.
  const std::string before_query = Snapshot();
  const std::vector<std::pair<std::string, std::vector<std::string>>> queries = {
      {"/v1/agents", {"limit=0", "limit=-1", "limit=abc", "limit=1001", "limit=99999999999999999999", "limit=",
                      "page=nope", "page=sesn_x", "include_archived=maybe", "include_archived=1",
                      "created_at[gte]=yesterday", "created_at[lte]=2026-13-45T00:00:00Z", "%zz=1", "limit=%"}},
      {a, {"version=0", "version=-1", "version=abc", "version=1.5", "version=99999999999999999999"}},
      {a + "/versions", {"limit=0", "page=0", "page=abc", "page=99"}},
      {"/v1/environments", {"limit=0", "page=agent_x", "include_archived=yes"}},
      {"/v1/vaults", {"limit=2000", "page=vlt_"}},
      {v + "/credentials", {"limit=0", "page=nope", "include_archived=TRUE"}},
      {"/v1/sessions", {"limit=0", "order=sideways", "statuses[]=bogus", "statuses=idle&statuses=nope",
                        "agent_version=1", "agent_version=x&agent_id=" + agent, "page=after:nope", "page=nope",
                        "created_at[gt]=notatime", "include_archived=2"}},
      {s + "/events", {"limit=0", "order=up", "types[]=no.such_type", "page=0", "page=abc", "page=999999",
                       "include_internal=perhaps", "created_at[lt]=soon"}},
      {s + "/events/stream", {"include_internal=perhaps", "event_deltas[]=agent.tool_use", "last_event_id=nope",
                              "last_event_id=sevt_00000000000000000000000000"}},
  };
  for (const auto& [path, params] : queries) {
    for (const std::string& param : params) {
      HttpResponse r = Call("GET", absl::StrCat(path, "?", param));
      ExpectRefused(r, absl::StrCat("GET ", path, "?", param));
      EXPECT_EQ(r.status, 400) << path << "?" << param << ": " << r.body;
      ++sent;
    }
  }
  EXPECT_EQ(Snapshot(), before_query);

  // Wrong methods on every route.
  const std::vector<std::pair<std::string, std::vector<std::string>>> routes = {
      {"/v1/agents", {"GET", "POST"}},
      {a, {"GET", "POST"}},
      {a + "/archive", {"POST"}},
      {a + "/versions", {"GET"}},
      {"/v1/environments", {"GET", "POST"}},
      {e, {"GET", "POST", "DELETE"}},
      {e + "/archive", {"POST"}},
      {"/v1/vaults", {"GET", "POST"}},
      {v, {"GET", "POST", "DELETE"}},
      {v + "/archive", {"POST"}},
      {v + "/credentials", {"GET", "POST"}},
      {c, {"GET", "POST", "DELETE"}},
      {c + "/archive", {"POST"}},
      {c + "/mcp_oauth_validate", {"POST"}},
      {"/v1/sessions", {"GET", "POST"}},
      {s, {"GET", "POST", "DELETE"}},
      {s + "/archive", {"POST"}},
      {s + "/events", {"GET", "POST"}},
      {s + "/events/stream", {"GET"}},
      {"/metrics", {"GET"}},
      {"/a2a/" + session, {"POST"}},
      {"/a2a/" + session + "/.well-known/agent-card.json", {"GET"}},
  };
  const std::string before_methods = Snapshot();
  for (const auto& [path, allowed] : routes) {
    for (const std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW"}) {
      if (std::find(allowed.begin(), allowed.end(), method) != allowed.end()) continue;
      HttpResponse r = Call(method, path, method == "TRACE" ? "" : R"({"name":"x"})");
      ExpectRefused(r, absl::StrCat(method, " ", path));
      if (method != "BREW") {
        EXPECT_EQ(r.status, 405) << method << " " << path << ": " << r.body;
      }
      ++sent;
    }
  }
  EXPECT_EQ(Snapshot(), before_methods);

  // Bad keys: none, wrong, malformed, huge, for a write and a read.
  const std::string before_keys = Snapshot();
  for (const std::vector<std::string>& headers : std::vector<std::vector<std::string>>{
           {},
           {"x-api-key: sk-wake-wrong"},
           {"x-api-key: " + key_ + "x"},
           {"x-api-key: " + key_.substr(0, key_.size() - 1)},
           {"authorization: Bearer"},
           {"authorization: Basic " + key_},
           {"authorization: Bearer sk-wake-" + std::string(6000, 'A')},
           {"x-api-key: \x01\x02"}}) {
    for (const auto& [method, path, body] : std::vector<std::array<std::string, 3>>{
             {"POST", "/v1/agents", R"({"name":"n","model":"scripted"})"},
             {"POST", s + "/events", message},
             {"DELETE", s, ""},
             {"GET", "/v1/sessions", ""}}) {
      HttpResponse r = client_->Call(method, path, body, headers);
      ExpectRefused(r, absl::StrCat("headers ", headers.empty() ? "" : headers[0].substr(0, 40), " ", method, " ", path));
      // A control character in a header is refused by the HTTP parser (400) before any key check.
      const bool unparsable = !headers.empty() && absl::StrContains(headers[0], "\x01");
      EXPECT_EQ(r.status, unparsable ? 400 : 401) << r.body;
      ++sent;
    }
  }
  EXPECT_EQ(Snapshot(), before_keys);

  // The server is still up, and each valid body the corpus came from is accepted (so the refusals
  // were the mutations' doing).
  for (const Endpoint& endpoint : endpoints) {
    if (!endpoint.valid) continue;
    HttpResponse r = Call(endpoint.method, endpoint.path, *endpoint.valid);
    EXPECT_EQ(r.status, 200) << endpoint.method << " " << endpoint.path << ": " << r.body;
    engine_->WaitUntilQuiet();
  }
  std::printf("bad requests sent: %zu\n", sent);
  EXPECT_GT(sent, 1000u);
}

}  // namespace
}  // namespace wake
