// The console's routes (server/internal/console.h) on real parts: an Engine on a temp dir (RocksDB,
// the scripted brain, local hands), the server on 127.0.0.1 port 0 with API keys, libcurl as the
// client. The embedded files are served byte for byte as they are in server/console/, with their
// content types, validators and security headers, without a key; nothing else is reachable under
// /console (unknown names, encoded and literal "..", methods other than GET); the API itself still
// wants a key; and GET /v1/sessions/{id}/timeline.svg draws a session's timeline for a keyed client.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
#include "server/internal/api.h"
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

std::string ReadSource(const std::string& name) {
  std::ifstream in(std::string(WAKE_CONSOLE_SOURCE_DIR) + "/" + name, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

class ConsoleTest : public ServedEngineTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenEngine("console"));
    key_ = NewKey("console test", "default");
    ASSERT_NO_FATAL_FAILURE(Serve(KeyedOptions()));
  }

  HttpResponse Keyed(const std::string& method, const std::string& path, const std::string& body = "") {
    return client_->Call(method, path, body, {absl::StrCat("x-api-key: ", key_)});
  }
  std::string Create(const std::string& path, const std::string& body) {
    HttpResponse r = Keyed("POST", path, body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("/id");
  }

  std::string key_;
};

TEST_F(ConsoleTest, ServesEachFileAsItIsInTheSourceWithItsTypeAndHeadersWithoutAKey) {
  struct Case {
    std::string path;
    std::string file;
    std::string type;
  };
  const std::vector<Case> cases = {
      {"/console", "index.html", "text/html; charset=utf-8"},
      {"/console/", "index.html", "text/html; charset=utf-8"},
      {"/console/index.html", "index.html", "text/html; charset=utf-8"},
      {"/console/sessions/sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK", "session.html", "text/html; charset=utf-8"},
      {"/console/session.html", "session.html", "text/html; charset=utf-8"},
      {"/console/console.js", "console.js", "text/javascript; charset=utf-8"},
      {"/console/console.css", "console.css", "text/css; charset=utf-8"},
      {"/console/icon.svg", "icon.svg", "image/svg+xml"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    HttpResponse r = client_->Get(c.path);  // no key
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string source = ReadSource(c.file);
    ASSERT_FALSE(source.empty());
    EXPECT_TRUE(r.body == source) << "served " << r.body.size() << " bytes, the source has " << source.size();
    EXPECT_EQ(r.headers["content-type"], c.type);
    EXPECT_EQ(r.headers["cache-control"], "no-cache");
    EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
    const std::string& etag = r.headers["etag"];
    EXPECT_EQ(etag.size(), 18u) << etag;  // "<16 hex digits>"
    EXPECT_TRUE(absl::StartsWith(etag, "\"") && absl::EndsWith(etag, "\"")) << etag;
    const std::string& policy = r.headers["content-security-policy"];
    EXPECT_TRUE(absl::StrContains(policy, "default-src 'none'")) << policy;
    EXPECT_TRUE(absl::StrContains(policy, "script-src 'self'")) << policy;
    EXPECT_TRUE(absl::StrContains(policy, "connect-src 'self'")) << policy;
    EXPECT_TRUE(absl::StrContains(policy, "frame-ancestors 'none'")) << policy;
    EXPECT_FALSE(absl::StrContains(policy, "unsafe")) << policy;
  }
  // Different files, different validators.
  EXPECT_NE(client_->Get("/console/console.js").headers["etag"], client_->Get("/console/console.css").headers["etag"]);
}

TEST_F(ConsoleTest, AnswersAMatchingValidatorWithNotModified) {
  HttpResponse first = client_->Get("/console/console.js");
  ASSERT_EQ(first.status, 200);
  const std::string etag = first.headers["etag"];
  HttpResponse again = client_->Call("GET", "/console/console.js", "", {absl::StrCat("If-None-Match: ", etag)});
  EXPECT_EQ(again.status, 304);
  EXPECT_EQ(again.body, "");
  EXPECT_EQ(again.headers["etag"], etag);
  HttpResponse weak = client_->Call("GET", "/console/console.js", "", {absl::StrCat("If-None-Match: \"x\", W/", etag)});
  EXPECT_EQ(weak.status, 304);
  HttpResponse other = client_->Call("GET", "/console/console.js", "", {"If-None-Match: \"0000000000000000\""});
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, first.body);
}

TEST_F(ConsoleTest, ServesNothingButItsFiles) {
  for (const std::string path : {"/console/nope.js", "/console/CMakeLists.txt", "/console/embed.cmake",
                                 "/console/%2e%2e/v1/sessions", "/console/%2E%2E%2Fserver.cc",
                                 "/console/..%2f..%2fCMakeLists.txt", "/console/sessions/", "/console/sessions/a%2fb",
                                 "/console/sessions/x/console.js", "/console/index.html/", "/console//console.js",
                                 "/console/.%2fconsole.js"}) {
    SCOPED_TRACE(path);
    HttpResponse r = client_->Get(path);
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_EQ(r.Str("/error/type"), "not_found_error");
    EXPECT_FALSE(absl::StrContains(r.body, "<!doctype")) << r.body;
  }
  HttpResponse post = client_->Post("/console", "{}");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["allow"], "GET");
  // The console's pages are public; the API behind them is not.
  EXPECT_EQ(client_->Get("/v1/sessions").status, 401);
  EXPECT_EQ(client_->Get("/consoles").status, 401);  // not under /console: an API route, keyed
}

TEST_F(ConsoleTest, LiteralDotDotTargetsReachNothing) {
  // curl squashes "/../" before sending, so the handler gets these targets directly, as a client that
  // sends them verbatim would deliver them.
  server_internal::ApiOptions options;
  options.require_api_key = true;
  options.api_keys = keys_.get();
  server_internal::ApiHandler handler(engine_.get(), options);
  for (const std::string target : {"/console/../v1/sessions", "/console/../../etc/passwd", "/console/./console.js",
                                   "/console/sessions/../console.js", "/console/sessions/..", "/console/.."}) {
    SCOPED_TRACE(target);
    server_internal::ApiRequest request;
    request.method = "GET";
    request.target = target;
    server_internal::ApiResponse response = handler.Handle(request);
    EXPECT_EQ(response.status, 404) << response.body;
    EXPECT_FALSE(absl::StrContains(response.body, "\"data\"")) << response.body;
  }
}

TEST_F(ConsoleTest, DrawsASessionsTimelineForAKeyedClient) {
  const std::string agent = Create("/v1/agents", R"({"name":"t","model":"scripted","tools":[{"type":"agent_toolset_20260401"}]})");
  const std::string environment = Create("/v1/environments", R"({"name":"e","config":{"type":"local"}})");
  const std::string session =
      Create("/v1/sessions", absl::StrCat(R"({"agent":")", agent, R"(","environment_id":")", environment, R"("})"));
  SseClient stream(client_->base() + "/v1/sessions/" + session + "/events/stream", {absl::StrCat("x-api-key: ", key_)});
  ASSERT_EQ(stream.WaitForHead(), 200);
  ASSERT_EQ(Keyed("POST", "/v1/sessions/" + session + "/events",
                  R"({"events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}]})")
                .status,
            200);
  ASSERT_TRUE(stream.WaitForEvent("session.status_idle")) << stream.body();

  const std::string path = "/v1/sessions/" + session + "/timeline.svg";
  EXPECT_EQ(client_->Get(path).status, 401);
  HttpResponse r = Keyed("GET", path);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "image/svg+xml");
  EXPECT_EQ(r.headers["cache-control"], "no-store");
  EXPECT_TRUE(absl::StrContains(r.headers["content-security-policy"], "default-src 'none'"));
  EXPECT_TRUE(absl::StrContains(r.body, "<svg")) << r.body.substr(0, 200);
  EXPECT_TRUE(absl::StrContains(r.body, "</svg>"));
  EXPECT_TRUE(absl::StrContains(r.body, "bash")) << "the tool run is drawn";
  EXPECT_TRUE(absl::StrContains(r.body, "width=\"1200\"")) << r.body.substr(0, 300);
  HttpResponse narrow = Keyed("GET", path + "?width=600");
  ASSERT_EQ(narrow.status, 200);
  EXPECT_TRUE(absl::StrContains(narrow.body, "width=\"600\"")) << narrow.body.substr(0, 300);
  EXPECT_EQ(Keyed("GET", path + "?width=10").status, 400);
  EXPECT_EQ(Keyed("GET", "/v1/sessions/sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK/timeline.svg").status, 404);
  EXPECT_EQ(Keyed("POST", path, "{}").status, 405);
}

}  // namespace
}  // namespace wake
