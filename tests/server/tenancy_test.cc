// Tenancy over HTTP: two API keys in two workspaces against one waked (a real Engine on a temp dir,
// the server on the loopback, libcurl as the client). Every endpoint is crossed both ways: another
// workspace's ids answer exactly as ids that do not exist (404, the same envelope and message), lists
// leave them out, and nothing the intruder sends changes the owner's resources. Also: keys are stored
// hashed, a revoked key is refused on its next request and its open streams end (at their next event
// or keepalive), and a server without
// keys works in the default workspace.

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
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

using testing::HttpClient;
using testing::HttpResponse;
using testing::SseClient;

constexpr char kSecret[] = "s3cret-value-of-the-owner-0123456789";

// One workspace's resources, all made through the API with its key.
struct World {
  std::string key;
  std::string agent, environment, vault, credential, session;
};

class TenancyTest : public ServedEngineTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(OpenEngine("tenancy")); }

  void Start(bool require_api_key) {
    ServerOptions options = KeyedOptions();
    options.require_api_key = require_api_key;
    options.max_body_bytes = 256 * 1024;
    options.keepalive_interval = absl::Milliseconds(100);
    options.blocking_threads = 4;
    ASSERT_NO_FATAL_FAILURE(Serve(std::move(options)));
  }

  HttpResponse Call(const std::string& key, const std::string& method, const std::string& path,
                    const std::string& body = "") {
    std::vector<std::string> headers;
    if (!key.empty()) headers.push_back("x-api-key: " + key);
    return client_->Call(method, path, body, headers);
  }

  // An agent, an environment, a vault with one credential, and a session naming all three that has
  // had one scripted turn (so it has events).
  World MakeWorld(const std::string& key) {
    World w;
    w.key = key;
    HttpResponse r = Call(key, "POST", "/v1/agents", R"({"name":"tenant agent","model":"scripted"})");
    EXPECT_EQ(r.status, 200) << r.body;
    w.agent = r.Str("/id");
    r = Call(key, "POST", "/v1/environments", R"({"name":"tenant env","config":{"type":"local"}})");
    EXPECT_EQ(r.status, 200) << r.body;
    w.environment = r.Str("/id");
    r = Call(key, "POST", "/v1/vaults", R"({"display_name":"tenant vault"})");
    EXPECT_EQ(r.status, 200) << r.body;
    w.vault = r.Str("/id");
    r = Call(key, "POST", absl::StrCat("/v1/vaults/", w.vault, "/credentials"),
             absl::StrCat(R"({"display_name":"c","auth":{"type":"environment_variable","secret_name":"TENANT_TOKEN","secret_value":")",
                          kSecret, R"(","networking":{"type":"unrestricted"}}})"));
    EXPECT_EQ(r.status, 200) << r.body;
    w.credential = r.Str("/id");
    r = Call(key, "POST", "/v1/sessions",
             absl::StrCat(R"({"agent":")", w.agent, R"(","environment_id":")", w.environment, R"(","vault_ids":[")",
                          w.vault, R"("]})"));
    EXPECT_EQ(r.status, 200) << r.body;
    w.session = r.Str("/id");
    r = Call(key, "POST", absl::StrCat("/v1/sessions/", w.session, "/events"), UserMessage("hello"));
    EXPECT_EQ(r.status, 200) << r.body;
    engine_->WaitUntilQuiet();
    return w;
  }

  static std::string UserMessage(const std::string& text) {
    return absl::StrCat(R"({"events":[{"type":"user.message","content":[{"type":"text","text":")", text, R"("}]}]})");
  }

  // Everything `w`'s key can read of its own resources: compared before and after an intruder's
  // requests.
  std::string Snapshot(const World& w) {
    std::string out;
    for (const std::string& path :
         {absl::StrCat("/v1/agents/", w.agent), absl::StrCat("/v1/agents/", w.agent, "/versions"),
          absl::StrCat("/v1/environments/", w.environment), absl::StrCat("/v1/vaults/", w.vault),
          absl::StrCat("/v1/vaults/", w.vault, "/credentials"),
          absl::StrCat("/v1/vaults/", w.vault, "/credentials/", w.credential), absl::StrCat("/v1/sessions/", w.session),
          absl::StrCat("/v1/sessions/", w.session, "/events?limit=1000&include_internal=true"),
          std::string("/v1/agents?include_archived=true"), std::string("/v1/environments?include_archived=true"),
          std::string("/v1/vaults?include_archived=true"), std::string("/v1/sessions?include_archived=true")}) {
      HttpResponse r = Call(w.key, "GET", path);
      EXPECT_EQ(r.status, 200) << path << ": " << r.body;
      absl::StrAppend(&out, path, " -> ", r.body, "\n");
    }
    return out;
  }

  // Every request another workspace could make on `w`'s ids: {method, path, body}.
  static std::vector<std::array<std::string, 3>> CrossRequests(const World& w) {
    const std::string agent = "/v1/agents/" + w.agent;
    const std::string env = "/v1/environments/" + w.environment;
    const std::string vault = "/v1/vaults/" + w.vault;
    const std::string credential = vault + "/credentials/" + w.credential;
    const std::string session = "/v1/sessions/" + w.session;
    return {
        {"GET", agent, ""},
        {"GET", agent + "?version=1", ""},
        {"GET", agent + "?version=7", ""},
        {"POST", agent, R"({"name":"taken over"})"},
        {"POST", agent + "/archive", ""},
        {"GET", agent + "/versions", ""},
        {"GET", env, ""},
        {"POST", env, R"({"name":"taken over"})"},
        {"DELETE", env, ""},
        {"POST", env + "/archive", ""},
        {"GET", vault, ""},
        {"POST", vault, R"({"display_name":"taken over"})"},
        {"DELETE", vault, ""},
        {"POST", vault + "/archive", ""},
        {"GET", vault + "/credentials", ""},
        {"POST", vault + "/credentials",
         R"({"auth":{"type":"environment_variable","secret_name":"PLANTED","secret_value":"planted-secret-0123456789abcdef","networking":{"type":"unrestricted"}}})"},
        {"GET", credential, ""},
        {"POST", credential, R"({"display_name":"taken over"})"},
        {"DELETE", credential, ""},
        {"POST", credential + "/archive", ""},
        {"POST", credential + "/mcp_oauth_validate", ""},
        {"GET", session, ""},
        {"POST", session, R"({"title":"taken over"})"},
        {"DELETE", session, ""},
        {"POST", session + "/archive", ""},
        {"GET", session + "/events", ""},
        {"POST", session + "/events", UserMessage("injected")},
        {"POST", session + "/events", R"({"events":[{"type":"user.interrupt"}]})"},
        {"GET", "/a2a/" + w.session + "/.well-known/agent-card.json", ""},
        {"POST", "/a2a/" + w.session,
         R"({"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"injected"}]}}})"},
    };
  }

  // `w`'s ids replaced by well-formed ids that exist nowhere.
  static std::string WithPhantomIds(std::string text, const World& w, const World& phantom) {
    return absl::StrReplaceAll(text, {{w.agent, phantom.agent},
                                      {w.environment, phantom.environment},
                                      {w.vault, phantom.vault},
                                      {w.credential, phantom.credential},
                                      {w.session, phantom.session}});
  }

  static World Phantom() {
    World p;
    const absl::Time now = absl::Now();
    p.agent = FormatId("agent_", NewIdBytes(now));
    p.environment = FormatId("env_", NewIdBytes(now));
    p.vault = FormatId("vlt_", NewIdBytes(now));
    p.credential = FormatId("vcrd_", NewIdBytes(now));
    p.session = NewSessionId(now);
    return p;
  }

  // `intruder` tries everything on `owner`'s ids: each answer is the 404 a phantom id gets (same
  // status, envelope and message but for the id), and the owner's resources are as they were.
  void ExpectSealedFrom(const World& owner, const World& intruder) {
    const std::string before = Snapshot(owner);
    const World phantom = Phantom();
    for (const auto& [method, path, body] : CrossRequests(owner)) {
      SCOPED_TRACE(absl::StrCat(method, " ", path));
      HttpResponse crossed = Call(intruder.key, method, path, body);
      EXPECT_EQ(crossed.status, 404) << crossed.body;
      EXPECT_EQ(crossed.Str("/type"), "error") << crossed.body;
      EXPECT_EQ(crossed.Str("/error/type"), "not_found_error") << crossed.body;
      HttpResponse missing =
          Call(intruder.key, method, WithPhantomIds(path, owner, phantom), WithPhantomIds(body, owner, phantom));
      EXPECT_EQ(missing.status, 404) << missing.body;
      // No existence oracle: the foreign id is answered exactly as a missing one.
      EXPECT_EQ(WithPhantomIds(crossed.body, owner, phantom), missing.body);
    }

    // The event stream, too.
    SseClient stream(client_->base() + "/v1/sessions/" + owner.session + "/events/stream",
                     {"x-api-key: " + intruder.key});
    EXPECT_EQ(stream.WaitForHead(), 404);
    EXPECT_TRUE(stream.WaitForEnd());  // the body may come after the head
    EXPECT_TRUE(absl::StrContains(stream.body(), "not_found_error")) << stream.body();
    stream.Stop();

    // Sessions that would name the owner's agent, environment or vault.
    const std::string own_agent = Call(intruder.key, "GET", "/v1/agents/" + intruder.agent).Str("/id");
    ASSERT_EQ(own_agent, intruder.agent);
    for (const std::string& body :
         {absl::StrCat(R"({"agent":")", owner.agent, R"("})"),
          absl::StrCat(R"({"agent":{"type":"agent","id":")", owner.agent, R"(","version":1}})"),
          absl::StrCat(R"({"agent":")", intruder.agent, R"(","environment_id":")", owner.environment, R"("})"),
          absl::StrCat(R"({"agent":")", intruder.agent, R"(","vault_ids":[")", owner.vault, R"("]})")}) {
      SCOPED_TRACE(body);
      HttpResponse crossed = Call(intruder.key, "POST", "/v1/sessions", body);
      EXPECT_EQ(crossed.status, 404) << crossed.body;
      HttpResponse missing = Call(intruder.key, "POST", "/v1/sessions", WithPhantomIds(body, owner, phantom));
      EXPECT_EQ(WithPhantomIds(crossed.body, owner, phantom), missing.body);
    }

    // Lists show the intruder none of the owner's ids, and its own.
    for (const std::string& path :
         {std::string("/v1/agents?include_archived=true&limit=1000"),
          std::string("/v1/environments?include_archived=true&limit=1000"),
          std::string("/v1/vaults?include_archived=true&limit=1000"),
          std::string("/v1/sessions?include_archived=true&limit=1000"),
          std::string("/v1/sessions?agent_id=") + owner.agent}) {
      HttpResponse list = Call(intruder.key, "GET", path);
      EXPECT_EQ(list.status, 200) << list.body;
      for (const std::string& id : {owner.agent, owner.environment, owner.vault, owner.session}) {
        EXPECT_FALSE(absl::StrContains(list.body, id)) << path << " shows " << id << ": " << list.body;
      }
    }
    EXPECT_TRUE(absl::StrContains(Call(intruder.key, "GET", "/v1/sessions").body, intruder.session));
    EXPECT_TRUE(absl::StrContains(Call(intruder.key, "GET", "/v1/agents").body, intruder.agent));

    engine_->WaitUntilQuiet();
    EXPECT_EQ(Snapshot(owner), before);
  }

};

TEST_F(TenancyTest, EveryEndpointIsSealedBetweenWorkspacesBothWays) {
  Start(/*require_api_key=*/true);
  const World a = MakeWorld(NewKey("a", "team-a"));
  const World b = MakeWorld(NewKey("b", "team-b"));
  // Each resource carries its creator's workspace.
  absl::StatusOr<SessionInfo> session = engine_->GetSession(a.session);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->workspace_id, "team-a");
  absl::StatusOr<Agent> agent = engine_->GetAgent(b.agent);
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_EQ(agent->spec.workspace_id, "team-b");
  absl::StatusOr<Environment> environment = engine_->GetEnvironment(a.environment);
  ASSERT_TRUE(environment.ok()) << environment.status();
  EXPECT_EQ(environment->spec.workspace_id, "team-a");
  absl::StatusOr<VaultInfo> vault = engine_->GetVault(b.vault);
  ASSERT_TRUE(vault.ok()) << vault.status();
  EXPECT_EQ(vault->spec.workspace_id, "team-b");

  ExpectSealedFrom(a, b);
  ExpectSealedFrom(b, a);

  // The metrics count every workspace's sessions: the operator's keys (default workspace) read
  // them, a tenant's do not.
  HttpResponse metrics = Call(a.key, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 403) << metrics.body;
  EXPECT_EQ(metrics.Str("/error/type"), "permission_error");
  EXPECT_TRUE(absl::StrContains(metrics.body, "team-a")) << metrics.body;
  metrics = Call(NewKey("operator", "default"), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200) << metrics.body;
  EXPECT_TRUE(absl::StrContains(metrics.body, "wake_http_requests_total")) << metrics.body;

  // Naming another workspace in the SDK's header does not reach it; naming one's own is fine.
  HttpResponse named = client_->Call("GET", "/v1/sessions/" + a.session, "",
                                     {"x-api-key: " + b.key, "anthropic-workspace-id: team-a"});
  EXPECT_EQ(named.status, 403) << named.body;
  EXPECT_EQ(named.Str("/error/type"), "permission_error");
  named = client_->Call("GET", "/v1/sessions/" + a.session, "", {"x-api-key: " + a.key, "anthropic-workspace-id: team-a"});
  EXPECT_EQ(named.status, 200) << named.body;

  // A second key of the same workspace sees and changes the workspace's resources.
  const std::string a2 = NewKey("a2", "team-a");
  EXPECT_EQ(Call(a2, "GET", "/v1/sessions/" + a.session).status, 200);
  HttpResponse updated = Call(a2, "POST", "/v1/agents/" + a.agent, R"({"name":"renamed","version":1})");
  EXPECT_EQ(updated.status, 200) << updated.body;
  // An update keeps the owner.
  agent = engine_->GetAgent(a.agent);
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_EQ(agent->spec.workspace_id, "team-a");
  EXPECT_EQ(agent->version, 2u);
  EXPECT_EQ(Call(b.key, "GET", "/v1/agents/" + a.agent + "?version=2").status, 404);
  // The owner deletes what the intruder could not.
  EXPECT_EQ(Call(a.key, "DELETE", "/v1/vaults/" + a.vault + "/credentials/" + a.credential).status, 200);
  EXPECT_EQ(Call(a.key, "POST", "/v1/sessions/" + a.session + "/archive").status, 200);
  EXPECT_EQ(Call(a.key, "DELETE", "/v1/sessions/" + a.session).status, 200);
  EXPECT_EQ(Call(a.key, "GET", "/v1/sessions/" + a.session).status, 404);
}

TEST_F(TenancyTest, AStreamSeesOnlyItsWorkspaceAndOthersCannotWriteIntoIt) {
  Start(/*require_api_key=*/true);
  const World a = MakeWorld(NewKey("a", "team-a"));
  const World b = MakeWorld(NewKey("b", "team-b"));
  SseClient stream(client_->base() + "/v1/sessions/" + a.session + "/events/stream", {"x-api-key: " + a.key});
  ASSERT_EQ(stream.WaitForHead(), 200);
  // b's attempt to write into a's session is refused and never reaches a's stream.
  EXPECT_EQ(Call(b.key, "POST", "/v1/sessions/" + a.session + "/events", UserMessage("from b")).status, 404);
  ASSERT_EQ(Call(a.key, "POST", "/v1/sessions/" + a.session + "/events", UserMessage("from a")).status, 200);
  ASSERT_TRUE(stream.WaitForEvent("session.status_idle"));
  engine_->WaitUntilQuiet();
  bool from_a = false;
  for (const SseClient::Frame& f : stream.frames()) {
    EXPECT_FALSE(absl::StrContains(f.data, "from b")) << f.data;
    from_a = from_a || absl::StrContains(f.data, "from a");
  }
  EXPECT_TRUE(from_a);
}

TEST_F(TenancyTest, KeysAreStoredHashedAndRevocationIsImmediate) {
  Start(/*require_api_key=*/true);
  const std::string key = NewKey("doomed", "team-a");
  const std::string other = NewKey("survivor", "team-a");
  const World a = MakeWorld(key);
  const World quiet = MakeWorld(key);  // a session nothing happens in after the revocation

  // Only the key's SHA-256 is on disk, never the key.
  std::ifstream file(keys_->path());
  std::stringstream text;
  text << file.rdbuf();
  EXPECT_FALSE(absl::StrContains(text.str(), key));
  EXPECT_FALSE(absl::StrContains(text.str(), key.substr(std::string(kApiKeyPrefix).size())));
  EXPECT_TRUE(absl::StrContains(text.str(), Sha256Hex(Sha256(key))));
  absl::StatusOr<std::vector<ApiKeyRecord>> records = keys_->List();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].sha256_hex, Sha256Hex(Sha256(key)));

  // A stream opened with the key, then the key revoked (as `wakectl keys revoke` does, from another
  // ApiKeyStore on the same file).
  SseClient stream(client_->base() + "/v1/sessions/" + a.session + "/events/stream", {"x-api-key: " + key});
  ASSERT_EQ(stream.WaitForHead(), 200);
  SseClient idle(client_->base() + "/v1/sessions/" + quiet.session + "/events/stream", {"x-api-key: " + key});
  ASSERT_EQ(idle.WaitForHead(), 200);
  ApiKeyStoreOptions operator_options;
  operator_options.data_dir = dir_ + "/data";
  ApiKeyStore operator_keys(operator_options);
  ASSERT_TRUE(operator_keys.Revoke((*records)[0].id).ok());

  // The very next request with it is refused.
  HttpResponse refused = Call(key, "GET", "/v1/sessions/" + a.session);
  EXPECT_EQ(refused.status, 401) << refused.body;
  EXPECT_EQ(refused.Str("/error/type"), "authentication_error");
  EXPECT_TRUE(absl::StrContains(refused.Str("/error/message"), "revoked")) << refused.body;
  EXPECT_EQ(Call(key, "GET", "/v1/agents").status, 401);
  HttpResponse bearer = client_->Call("GET", "/v1/agents", "", {"authorization: Bearer " + key});
  EXPECT_EQ(bearer.status, 401);
  // The open stream ends with an authentication error at its next event, which carries nothing.
  ASSERT_EQ(Call(other, "POST", "/v1/sessions/" + a.session + "/events", UserMessage("after revocation")).status, 200);
  ASSERT_TRUE(stream.WaitForEnd());
  bool error_frame = false;
  for (const SseClient::Frame& f : stream.frames()) {
    EXPECT_FALSE(absl::StrContains(f.data, "after revocation")) << f.data;
    if (f.event == "error") error_frame = absl::StrContains(f.data, "authentication_error");
  }
  EXPECT_TRUE(error_frame);
  // A stream with no event to carry ends too, at its next keepalive (every 100 ms here).
  ASSERT_TRUE(idle.WaitForEnd());
  ASSERT_FALSE(idle.frames().empty());
  EXPECT_EQ(idle.frames().back().event, "error");
  EXPECT_TRUE(absl::StrContains(idle.frames().back().data, "authentication_error")) << idle.frames().back().data;
  // The workspace's other key is unaffected.
  engine_->WaitUntilQuiet();
  EXPECT_EQ(Call(other, "GET", "/v1/sessions/" + a.session).status, 200);
}

TEST_F(TenancyTest, TheEngineKeepsAnOwnerThroughUpdatesWhateverTheSpecSays) {
  AgentSpec agent_spec;
  agent_spec.name = "a";
  agent_spec.model = "scripted";
  agent_spec.workspace_id = "team-a";
  absl::StatusOr<Agent> agent = engine_->CreateAgent(agent_spec);
  ASSERT_TRUE(agent.ok()) << agent.status();
  agent_spec.name = "b";
  agent_spec.workspace_id = "team-b";
  agent = engine_->UpdateAgent(agent->id, 0, agent_spec);
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_EQ(agent->spec.name, "b");
  EXPECT_EQ(agent->spec.workspace_id, "team-a");
  absl::StatusOr<Agent> first = engine_->GetAgent(agent->id, 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->spec.workspace_id, "team-a");

  EnvironmentSpec env_spec;
  env_spec.name = "e";
  env_spec.workspace_id = "team-a";
  absl::StatusOr<Environment> env = engine_->CreateEnvironment(env_spec);
  ASSERT_TRUE(env.ok()) << env.status();
  env_spec.workspace_id = "";
  env = engine_->UpdateEnvironment(env->id, env_spec);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->spec.workspace_id, "team-a");

  VaultSpec vault_spec;
  vault_spec.display_name = "v";
  vault_spec.workspace_id = "team-a";
  absl::StatusOr<VaultInfo> vault = engine_->CreateVault(vault_spec);
  ASSERT_TRUE(vault.ok()) << vault.status();
  vault_spec.workspace_id = "team-b";
  vault = engine_->UpdateVault(vault->id, vault_spec);
  ASSERT_TRUE(vault.ok()) << vault.status();
  EXPECT_EQ(vault->spec.workspace_id, "team-a");
  // And after a reopen of the store, the owners are as stored.
  const std::string agent_id = agent->id, env_id = env->id, vault_id = vault->id;
  engine_.reset();
  EngineOptions options;
  options.data_dir = dir_ + "/data";
  options.hand_providers = {{"local", local_.get()}};
  absl::StatusOr<std::unique_ptr<Engine>> reopened = Engine::Open(std::move(options));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  engine_ = *std::move(reopened);
  EXPECT_EQ(engine_->GetAgent(agent_id).value().spec.workspace_id, "team-a");
  EXPECT_EQ(engine_->GetEnvironment(env_id).value().spec.workspace_id, "team-a");
  EXPECT_EQ(engine_->GetVault(vault_id).value().spec.workspace_id, "team-a");
}

TEST_F(TenancyTest, WithoutKeysEverythingIsInTheDefaultWorkspace) {
  Start(/*require_api_key=*/false);
  const World open = MakeWorld("");
  absl::StatusOr<SessionInfo> session = engine_->GetSession(open.session);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->workspace_id, std::string(kDefaultWorkspaceId));
  absl::StatusOr<Agent> agent = engine_->GetAgent(open.agent);
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_EQ(agent->spec.workspace_id, std::string(kDefaultWorkspaceId));

  // Turn keys on: a default-workspace key sees it all, another workspace's key nothing of it.
  const std::string team = NewKey("team", "team-a");
  const std::string plain = NewKey("plain", "");
  Start(/*require_api_key=*/true);
  const World in_default{plain, open.agent, open.environment, open.vault, open.credential, open.session};
  const World in_team = MakeWorld(team);
  EXPECT_EQ(Call(plain, "GET", "/v1/sessions/" + open.session).status, 200);
  EXPECT_EQ(Call(plain, "GET", "/v1/vaults/" + open.vault + "/credentials/" + open.credential).status, 200);
  ExpectSealedFrom(in_default, in_team);
  ExpectSealedFrom(in_team, in_default);
}

}  // namespace
}  // namespace wake
