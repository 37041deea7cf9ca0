// /v1/vaults and their credentials over real HTTP: an Engine on a temp dir (RocksDB, the scripted
// brain, local hands), the server on 127.0.0.1 port 0, libcurl as the client. Every endpoint of the
// SDK's vaults and credentials resources, their bad-input paths, and sessions that name vaults. No
// response ever carries a secret value.

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
#include "server/server.h"
#include "tests/server/http_client.h"
#include "tests/server/served_engine_test.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::HttpClient;
using testing::HttpResponse;

// Secret values: none may appear in any response body.
constexpr char kEnvSecret[] = "env-secret-5d1f0e77a2";
constexpr char kBearer[] = "bearer-token-9c4b21e0";
constexpr char kAccess[] = "access-token-3e8a7f11";
constexpr char kRefresh[] = "refresh-token-b07c5d2a";
constexpr char kClientSecret[] = "client-secret-6a9e03f4";
constexpr char kRotated[] = "rotated-secret-44e1b9c8";

class VaultsApiTest : public ServedEngineTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenEngine("vaults_api"));
    ServerOptions options;
    options.blocking_threads = 4;
    ASSERT_NO_FATAL_FAILURE(Serve(std::move(options)));
  }

  // Every call goes through here: no response may hold a secret.
  HttpResponse Call(const std::string& method, const std::string& path, const std::string& body = "") {
    HttpResponse r = client_->Call(method, path, body);
    for (const char* secret : {kEnvSecret, kBearer, kAccess, kRefresh, kClientSecret, kRotated}) {
      EXPECT_FALSE(absl::StrContains(r.body, secret)) << method << " " << path << " leaked: " << r.body;
    }
    return r;
  }
  HttpResponse Get(const std::string& path) { return Call("GET", path); }
  HttpResponse Post(const std::string& path, const std::string& body) { return Call("POST", path, body); }

  std::string CreateVault(const std::string& name = "ci") {
    HttpResponse r = Post("/v1/vaults", absl::StrCat(R"({"display_name":")", name, R"("})"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("/id");
  }
  std::string CreateEnvCredential(const std::string& vault, const std::string& variable) {
    HttpResponse r = Post(absl::StrCat("/v1/vaults/", vault, "/credentials"),
                          absl::StrCat(R"({"auth":{"type":"environment_variable","secret_name":")", variable,
                                       R"(","secret_value":")", kEnvSecret, R"(","networking":{"type":"unrestricted"}}})"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("/id");
  }
  size_t CredentialCount(const std::string& vault) {
    HttpResponse r = Get(absl::StrCat("/v1/vaults/", vault, "/credentials?include_archived=true"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Size("/data");
  }

  static void ExpectError(const HttpResponse& r, long status, const std::string& type, const std::string& mentions = "") {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.Str("/type"), "error") << r.body;
    EXPECT_EQ(r.Str("/error/type"), type) << r.body;
    if (!mentions.empty()) {
      EXPECT_TRUE(absl::StrContains(r.Str("/error/message"), mentions)) << r.body;
    }
  }

};

TEST_F(VaultsApiTest, VaultsAreCreatedReadUpdatedListedArchivedAndDeleted) {
  HttpResponse created = Post("/v1/vaults", R"({"display_name":"Example vault","metadata":{"team":"ci","env":"prod"}})");
  ASSERT_EQ(created.status, 200) << created.body;
  const std::string id = created.Str("/id");
  EXPECT_TRUE(absl::StartsWith(id, "vlt_")) << id;
  EXPECT_EQ(created.Str("/type"), "vault");
  EXPECT_EQ(created.Str("/display_name"), "Example vault");
  EXPECT_EQ(created.Str("/metadata/team"), "ci");
  EXPECT_TRUE(created.IsNull("/archived_at"));
  EXPECT_FALSE(created.Str("/created_at").empty());
  EXPECT_FALSE(created.Str("/updated_at").empty());

  HttpResponse got = Get("/v1/vaults/" + id);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, created.body);

  HttpResponse updated = Post("/v1/vaults/" + id, R"({"display_name":"renamed","metadata":{"env":null,"owner":"me"}})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.Str("/display_name"), "renamed");
  EXPECT_EQ(updated.Str("/metadata/team"), "ci");
  EXPECT_EQ(updated.Str("/metadata/owner"), "me");
  EXPECT_EQ(updated.Str("/metadata/env"), "");
  // An empty update changes nothing.
  EXPECT_EQ(Post("/v1/vaults/" + id, "{}").Str("/display_name"), "renamed");

  const std::string second = CreateVault("second");
  HttpResponse page1 = Get("/v1/vaults?limit=1");
  ASSERT_EQ(page1.status, 200) << page1.body;
  ASSERT_EQ(page1.Size("/data"), 1u);
  EXPECT_EQ(page1.Str("/data/0/id"), id);
  ASSERT_EQ(page1.Str("/next_page"), id);
  HttpResponse page2 = Get("/v1/vaults?limit=1&page=" + id);
  ASSERT_EQ(page2.Size("/data"), 1u);
  EXPECT_EQ(page2.Str("/data/0/id"), second);
  EXPECT_TRUE(page2.IsNull("/next_page"));

  HttpResponse archived = Post("/v1/vaults/" + second + "/archive", "");
  ASSERT_EQ(archived.status, 200) << archived.body;
  EXPECT_FALSE(archived.Str("/archived_at").empty());
  EXPECT_EQ(Get("/v1/vaults").Size("/data"), 1u);
  EXPECT_EQ(Get("/v1/vaults?include_archived=true").Size("/data"), 2u);

  HttpResponse deleted = Call("DELETE", "/v1/vaults/" + id);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.Str("/type"), "vault_deleted");
  EXPECT_EQ(deleted.Str("/id"), id);
  ExpectError(Get("/v1/vaults/" + id), 404, "not_found_error", id);
  ExpectError(Call("DELETE", "/v1/vaults/" + id), 404, "not_found_error");
}

TEST_F(VaultsApiTest, CredentialsOfEveryTypeNeverShowTheirSecrets) {
  const std::string vault = CreateVault();
  const std::string base = absl::StrCat("/v1/vaults/", vault, "/credentials");

  HttpResponse env = Post(base, absl::StrCat(R"({"display_name":"deploy","metadata":{"k":"v"},"auth":{"type":"environment_variable","secret_name":"DEPLOY_TOKEN","secret_value":")",
                                             kEnvSecret, R"(","networking":{"type":"limited","allowed_hosts":["api.example.com","*.example.org"]},"injection_location":{"body":false}}})"));
  ASSERT_EQ(env.status, 200) << env.body;
  const std::string env_id = env.Str("/id");
  EXPECT_TRUE(absl::StartsWith(env_id, "vcrd_")) << env_id;
  EXPECT_EQ(env.Str("/type"), "vault_credential");
  EXPECT_EQ(env.Str("/vault_id"), vault);
  EXPECT_EQ(env.Str("/display_name"), "deploy");
  EXPECT_EQ(env.Str("/metadata/k"), "v");
  EXPECT_EQ(env.Str("/auth/type"), "environment_variable");
  EXPECT_EQ(env.Str("/auth/secret_name"), "DEPLOY_TOKEN");
  EXPECT_FALSE(absl::StrContains(env.body, "secret_value")) << env.body;
  EXPECT_TRUE(absl::StrContains(env.body, R"("injection_location":{"body":false,"header":true})")) << env.body;
  EXPECT_EQ(env.Str("/auth/networking/type"), "limited");
  EXPECT_EQ(env.Str("/auth/networking/allowed_hosts/1"), "*.example.org");
  EXPECT_EQ(*engine_->vault().Get(env_id), kEnvSecret);

  HttpResponse bearer = Post(base, absl::StrCat(R"({"auth":{"type":"static_bearer","mcp_server_url":"https://mcp.example.com/sse","token":")",
                                                kBearer, R"("}})"));
  ASSERT_EQ(bearer.status, 200) << bearer.body;
  EXPECT_EQ(bearer.Str("/auth/type"), "static_bearer");
  EXPECT_EQ(bearer.Str("/auth/mcp_server_url"), "https://mcp.example.com/sse");
  EXPECT_TRUE(bearer.IsNull("/display_name"));
  EXPECT_FALSE(absl::StrContains(bearer.body, "token\"")) << bearer.body;

  HttpResponse oauth = Post(base, absl::StrCat(R"({"auth":{"type":"mcp_oauth","mcp_server_url":"https://mcp.example.com/","access_token":")",
                                               kAccess, R"(","expires_at":"2999-01-01T00:00:00Z","refresh":{"client_id":"client-1","token_endpoint":"https://auth.example.com/token","refresh_token":")",
                                               kRefresh, R"(","scope":"read","token_endpoint_auth":{"type":"client_secret_basic","client_secret":")",
                                               kClientSecret, R"("}}}})"));
  ASSERT_EQ(oauth.status, 200) << oauth.body;
  const std::string oauth_id = oauth.Str("/id");
  EXPECT_EQ(oauth.Str("/auth/type"), "mcp_oauth");
  EXPECT_TRUE(absl::StartsWith(oauth.Str("/auth/expires_at"), "2999-01-01T00:00:00")) << oauth.body;
  EXPECT_EQ(oauth.Str("/auth/refresh/client_id"), "client-1");
  EXPECT_EQ(oauth.Str("/auth/refresh/token_endpoint_auth/type"), "client_secret_basic");
  EXPECT_EQ(oauth.Str("/auth/refresh/scope"), "read");
  EXPECT_TRUE(oauth.IsNull("/auth/refresh/resource"));
  // Every secret of it is masked from now on.
  EXPECT_EQ(engine_->vault().Mask(absl::StrCat(kAccess, " ", kRefresh, " ", kClientSecret)),
            absl::StrCat("[secret:", oauth_id, "] [secret:", oauth_id, ".refresh_token] [secret:", oauth_id,
                         ".client_secret]"));

  HttpResponse got = Get(absl::StrCat(base, "/", env_id));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, env.body);
  HttpResponse listed = Get(base);
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.Size("/data"), 3u);
  HttpResponse page = Get(base + "?limit=2");
  EXPECT_EQ(page.Size("/data"), 2u);
  const std::string cursor = page.Str("/next_page");
  ASSERT_FALSE(cursor.empty()) << page.body;
  HttpResponse rest = Get(absl::StrCat(base, "?limit=2&page=", cursor));
  EXPECT_EQ(rest.Size("/data"), 1u);
  EXPECT_TRUE(rest.IsNull("/next_page")) << rest.body;

  // Update: a new secret, a new scope of hosts, one injection location; the rest is kept.
  HttpResponse updated = Post(absl::StrCat(base, "/", env_id),
                              absl::StrCat(R"({"display_name":"rotated","metadata":{"k":null},"auth":{"type":"environment_variable","secret_value":")",
                                           kRotated, R"(","networking":{"type":"unrestricted"},"injection_location":{"body":true}}})"));
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.Str("/display_name"), "rotated");
  EXPECT_EQ(updated.Size("/metadata"), 0u);
  EXPECT_EQ(updated.Str("/auth/networking/type"), "unrestricted");
  EXPECT_TRUE(absl::StrContains(updated.body, R"("injection_location":{"body":true,"header":true})")) << updated.body;
  EXPECT_EQ(updated.Str("/auth/secret_name"), "DEPLOY_TOKEN");
  EXPECT_EQ(*engine_->vault().Get(env_id), kRotated);
  HttpResponse oauth_updated = Post(absl::StrCat(base, "/", oauth_id),
                                    R"({"auth":{"type":"mcp_oauth","refresh":{"scope":""}}})");
  ASSERT_EQ(oauth_updated.status, 200) << oauth_updated.body;
  EXPECT_TRUE(oauth_updated.IsNull("/auth/refresh/scope")) << oauth_updated.body;
  EXPECT_EQ(*engine_->vault().Get(oauth_id + ".refresh_token"), kRefresh);

  // Validation: wake has no MCP client, so the verdict is unknown; only mcp_oauth credentials.
  HttpResponse validated = Post(absl::StrCat(base, "/", oauth_id, "/mcp_oauth_validate"), "");
  ASSERT_EQ(validated.status, 200) << validated.body;
  EXPECT_EQ(validated.Str("/type"), "vault_credential_validation");
  EXPECT_EQ(validated.Str("/credential_id"), oauth_id);
  EXPECT_EQ(validated.Str("/vault_id"), vault);
  EXPECT_EQ(validated.Str("/status"), "unknown");
  EXPECT_TRUE(absl::StrContains(validated.body, "\"has_refresh_token\":true")) << validated.body;
  EXPECT_TRUE(validated.IsNull("/mcp_probe"));
  ExpectError(Post(absl::StrCat(base, "/", env_id, "/mcp_oauth_validate"), ""), 400, "invalid_request_error",
              "mcp_oauth");

  HttpResponse archived = Post(absl::StrCat(base, "/", env_id, "/archive"), "");
  ASSERT_EQ(archived.status, 200) << archived.body;
  EXPECT_FALSE(archived.Str("/archived_at").empty());
  EXPECT_EQ(Get(base).Size("/data"), 2u);
  EXPECT_EQ(Get(base + "?include_archived=true").Size("/data"), 3u);

  HttpResponse deleted = Call("DELETE", absl::StrCat(base, "/", env_id));
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.Str("/type"), "vault_credential_deleted");
  EXPECT_EQ(deleted.Str("/id"), env_id);
  EXPECT_EQ(engine_->vault().Get(env_id).status().code(), absl::StatusCode::kNotFound);
  ExpectError(Get(absl::StrCat(base, "/", env_id)), 404, "not_found_error");
}

TEST_F(VaultsApiTest, BadRequestsGetTheErrorEnvelopeAndChangeNothing) {
  ExpectError(Post("/v1/vaults", "{}"), 400, "invalid_request_error", "display_name");
  ExpectError(Post("/v1/vaults", R"({"display_name":""})"), 400, "invalid_request_error", "display_name");
  ExpectError(Post("/v1/vaults", R"({"display_name":"x","colour":"red"})"), 400, "invalid_request_error", "colour");
  ExpectError(Post("/v1/vaults", "not json"), 400, "invalid_request_error");
  EXPECT_EQ(Get("/v1/vaults?include_archived=true").Size("/data"), 0u);

  const std::string vault = CreateVault();
  const std::string base = absl::StrCat("/v1/vaults/", vault, "/credentials");
  ExpectError(Get("/v1/vaults/vlt_nope"), 404, "not_found_error");
  ExpectError(Get("/v1/vaults/vlt_01JD3Z4V6W8X9Y0ZABCDEFGHJK"), 404, "not_found_error");
  ExpectError(Call("DELETE", "/v1/vaults/" + vault + "/archive"), 405, "invalid_request_error");
  ExpectError(Get("/v1/vaults?page=garbage"), 400, "invalid_request_error", "page");
  ExpectError(Get("/v1/vaults?limit=0"), 400, "invalid_request_error", "limit");
  ExpectError(Post("/v1/vaults/" + vault, R"({"display_name":""})"), 400, "invalid_request_error", "display_name");

  const std::pair<const char*, const char*> bad_creates[] = {
      {R"({})", "auth"},
      {R"({"auth":{"type":"password","secret_value":"0123456789"}})", "auth.type"},
      {R"({"auth":{"type":"environment_variable","secret_name":"TOKEN","networking":{"type":"unrestricted"}}})",
       "secret_value"},
      {R"({"auth":{"type":"environment_variable","secret_name":"TOKEN","secret_value":"short","networking":{"type":"unrestricted"}}})",
       "at least 8 bytes"},
      {R"({"auth":{"type":"environment_variable","secret_name":"NOT A NAME","secret_value":"0123456789","networking":{"type":"unrestricted"}}})",
       "secret_name"},
      {R"({"auth":{"type":"environment_variable","secret_name":"TOKEN","secret_value":"0123456789"}})", "networking"},
      {R"({"auth":{"type":"environment_variable","secret_name":"TOKEN","secret_value":"0123456789","networking":{"type":"limited","allowed_hosts":["https://x.com:443/p"]}}})",
       "allowed_hosts"},
      {R"({"auth":{"type":"environment_variable","secret_name":"TOKEN","secret_value":"0123456789","networking":{"type":"unrestricted"},"injection_location":{"body":false,"header":false}}})",
       "injection_location"},
      {R"({"auth":{"type":"static_bearer","mcp_server_url":"ftp://x","token":"0123456789"}})", "mcp_server_url"},
      {R"({"auth":{"type":"mcp_oauth","mcp_server_url":"https://x.example","access_token":"0123456789","expires_at":"2000-01-01T00:00:00Z"}})",
       "future"},
      {R"({"auth":{"type":"mcp_oauth","mcp_server_url":"https://x.example","access_token":"0123456789","refresh":{"client_id":"c","token_endpoint":"https://t.example","refresh_token":"0123456789","token_endpoint_auth":{"type":"client_secret_post"}}}})",
       "client_secret"},
      {R"({"auth":{"type":"static_bearer","mcp_server_url":"https://x.example","token":"0123456789","extra":1}})", "extra"},
      {R"({"display_name":"x","metadata":{"k":1},"auth":{"type":"static_bearer","mcp_server_url":"https://x.example","token":"0123456789"}})",
       "metadata"},
  };
  for (const auto& [body, mentions] : bad_creates) {
    ExpectError(Post(base, body), 400, "invalid_request_error", mentions);
  }
  EXPECT_EQ(CredentialCount(vault), 0u);
  EXPECT_TRUE(engine_->vault().Names().empty());

  const std::string id = CreateEnvCredential(vault, "TOKEN");
  const std::string path = absl::StrCat(base, "/", id);
  HttpResponse before = Get(path);
  // The type, the variable's name cannot change; an empty secret is no secret.
  ExpectError(Post(path, R"({"auth":{"type":"static_bearer","token":"0123456789"}})"), 400, "invalid_request_error",
              "type");
  ExpectError(Post(path, R"({"auth":{"type":"environment_variable","secret_name":"OTHER"}})"), 400,
              "invalid_request_error", "secret_name");
  ExpectError(Post(path, R"({"auth":{"type":"environment_variable","secret_value":""}})"), 400,
              "invalid_request_error", "secret_value");
  ExpectError(Post(path, R"({"auth":{"type":"environment_variable","secret_value":"tiny"}})"), 400,
              "invalid_request_error", "secret_value");
  EXPECT_EQ(Get(path).body, before.body);
  EXPECT_EQ(*engine_->vault().Get(id), kEnvSecret);

  // Credentials live under their own vault only.
  const std::string other = CreateVault("other");
  ExpectError(Get(absl::StrCat("/v1/vaults/", other, "/credentials/", id)), 404, "not_found_error");
  ExpectError(Get(absl::StrCat(base, "/vcrd_nope")), 404, "not_found_error");
  ExpectError(Get("/v1/vaults/vlt_01JD3Z4V6W8X9Y0ZABCDEFGHJK/credentials"), 404, "not_found_error");
  ExpectError(Get(base + "?page=" + vault), 400, "invalid_request_error", "page");
  // An archived vault takes no new credentials.
  ASSERT_EQ(Post("/v1/vaults/" + other + "/archive", "").status, 200);
  ExpectError(Post(absl::StrCat("/v1/vaults/", other, "/credentials"),
                   R"({"auth":{"type":"static_bearer","mcp_server_url":"https://x.example","token":"0123456789"}})"),
              400, "invalid_request_error", "archived");
  EXPECT_EQ(CredentialCount(other), 0u);
}

TEST_F(VaultsApiTest, ASessionNamesVaultsAndItsHandGetsTheirVariablesMasked) {
  const std::string vault = CreateVault();
  const std::string credential = CreateEnvCredential(vault, "DEPLOY_TOKEN");
  {
    std::ofstream script(dir_ + "/script.json");
    script << R"({"turns":[{"tool_calls":[{"name":"bash","input":{"command":"echo token=$DEPLOY_TOKEN"}}]},{"text":"done"}]})";
  }
  HttpResponse agent = Post("/v1/agents", absl::StrCat(R"({"name":"a","model":"scripted:)", dir_,
                                                       R"(/script.json","tools":[{"type":"agent_toolset_20260401"}]})"));
  ASSERT_EQ(agent.status, 200) << agent.body;
  HttpResponse env = Post("/v1/environments", R"({"name":"e","config":{"type":"local"}})");
  ASSERT_EQ(env.status, 200) << env.body;
  const std::string prefix = absl::StrCat(R"({"agent":")", agent.Str("/id"), R"(","environment_id":")", env.Str("/id"), R"(")");

  ExpectError(Post("/v1/sessions", prefix + R"(,"vault_ids":["vlt_01JD3Z4V6W8X9Y0ZABCDEFGHJK"]})"), 404,
              "not_found_error");
  ExpectError(Post("/v1/sessions", prefix + R"(,"vault_ids":[7]})"), 400, "invalid_request_error", "vault_ids[0]");
  const std::string archived = CreateVault("archived");
  ASSERT_EQ(Post("/v1/vaults/" + archived + "/archive", "").status, 200);
  ExpectError(Post("/v1/sessions", absl::StrCat(prefix, R"(,"vault_ids":[")", archived, R"("]})")), 400,
              "invalid_request_error", "archived");
  EXPECT_EQ(Get("/v1/sessions").Size("/data"), 0u);

  HttpResponse session = Post("/v1/sessions", absl::StrCat(prefix, R"(,"vault_ids":[")", vault, R"("]})"));
  ASSERT_EQ(session.status, 200) << session.body;
  const std::string id = session.Str("/id");
  EXPECT_EQ(session.Size("/vault_ids"), 1u);
  EXPECT_EQ(session.Str("/vault_ids/0"), vault);
  EXPECT_EQ(Get("/v1/sessions/" + id).Str("/vault_ids/0"), vault);
  EXPECT_EQ(Get("/v1/sessions").Str("/data/0/vault_ids/0"), vault);
  // A session's vaults are fixed when it is created (as in the API).
  ExpectError(Post("/v1/sessions/" + id, absl::StrCat(R"({"vault_ids":[")", vault, R"("]})")), 400,
              "invalid_request_error", "vault_ids");

  HttpResponse sent = Post(absl::StrCat("/v1/sessions/", id, "/events"),
                           R"({"events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}]})");
  ASSERT_EQ(sent.status, 200) << sent.body;
  engine_->WaitUntilQuiet();
  HttpResponse events = Get(absl::StrCat("/v1/sessions/", id, "/events?limit=100"));
  ASSERT_EQ(events.status, 200) << events.body;
  // The hand had the value (the echo printed something), the log has only its mask.
  EXPECT_TRUE(absl::StrContains(events.body, absl::StrCat("token=[secret:", credential, "]"))) << events.body;
}

}  // namespace
}  // namespace wake
