// The HTTP/SSE server on real parts: an Engine on a temp dir (RocksDB, the scripted brain, local
// hands), the server on 127.0.0.1 port 0, and libcurl as the client. Every endpoint, its error paths,
// event streams (a scripted turn to idle, resuming after an event id) and the server's limits.

#include "server/server.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/strings.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
#include "tests/server/http_client.h"
#include "tests/server/served_engine_test.h"
#include "tests/storage/test_util.h"

namespace wake {
namespace {

using testing::HttpClient;
using testing::HttpResponse;
using testing::SseClient;
using Frames = std::vector<SseClient::Frame>;

constexpr char kToolset[] = R"({"type":"agent_toolset_20260401"})";

// The ids of a session's events listed page by page (`limit` each) in `order`, following next_page.
std::vector<std::string> PagedEventIds(HttpClient& client, const std::string& session, std::string_view order,
                                       size_t limit) {
  std::vector<std::string> ids;
  std::string page;
  for (int guard = 0; guard < 1000; ++guard) {
    HttpResponse r = client.Get(absl::StrCat("/v1/sessions/", session, "/events?limit=", limit, "&order=",
                                             ToAbsl(order), page.empty() ? "" : "&page=" + page));
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) break;
    for (size_t i = 0; i < r.Size("/data"); ++i) ids.push_back(r.Str(absl::StrCat("/data/", i, "/id")));
    if (r.IsNull("/next_page")) break;
    page = r.Str("/next_page");
  }
  return ids;
}
constexpr size_t kTestMaxBody = 256 * 1024;

class ServerTest : public ServedEngineTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenEngine("server"));
    ASSERT_NO_FATAL_FAILURE(Serve(Options()));
  }

  ServerOptions Options() {
    ServerOptions options;
    options.max_body_bytes = kTestMaxBody;
    options.keepalive_interval = absl::Milliseconds(100);
    options.blocking_threads = 4;
    options.log = [this](std::string_view line) {
      MutexLock lock(&log_mu_);
      log_.emplace_back(line);
    };
    return options;
  }

  std::string Url(const std::string& path) const { return client_->base() + path; }

  std::string CreateAgent(const std::string& extra = "", const std::string& model = "scripted") {
    HttpResponse r = client_->Post("/v1/agents", absl::StrCat(R"({"name":"tester","model":")", model, R"(")", extra, "}"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("/id");
  }
  std::string CreateEnvironment(const std::string& config = R"({"type":"local"})") {
    HttpResponse r = client_->Post("/v1/environments", absl::StrCat(R"({"name":"env","config":)", config, "}"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("/id");
  }
  std::string CreateSession(const std::string& agent, const std::string& environment) {
    HttpResponse r = client_->Post(
        "/v1/sessions", absl::StrCat(R"({"agent":")", agent, R"(","environment_id":")", environment, R"("})"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("/id");
  }
  // A session whose agent runs the default script (a bash call on the hand, then an answer).
  std::string ScriptedSession() {
    return CreateSession(CreateAgent(absl::StrCat(",\"tools\":[", kToolset, "]")), CreateEnvironment());
  }
  HttpResponse SendText(const std::string& session, const std::string& text) {
    return client_->Post(absl::StrCat("/v1/sessions/", session, "/events"),
                         absl::StrCat(R"({"events":[{"type":"user.message","content":[{"type":"text","text":")", text,
                                      R"("}]}]})"));
  }
  size_t EventCount(const std::string& session) {
    absl::StatusOr<std::vector<Event>> events = engine_->ReadEvents(session);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? events->size() : 0;
  }
  static void ExpectError(const HttpResponse& r, long status, const std::string& type, const std::string& mentions = "") {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.Str("/type"), "error") << r.body;
    EXPECT_EQ(r.Str("/error/type"), type) << r.body;
    EXPECT_FALSE(r.Str("/error/message").empty()) << r.body;
    if (!mentions.empty()) {
      EXPECT_TRUE(absl::StrContains(r.Str("/error/message"), mentions)) << r.body;
    }
  }
  static bool HasEvent(const Frames& frames, const std::string& type) {
    for (const auto& f : frames) {
      if (f.event == type) return true;
    }
    return false;
  }
  static size_t CountEvent(const Frames& frames, const std::string& type) {
    size_t n = 0;
    for (const auto& f : frames) n += f.event == type ? 1 : 0;
    return n;
  }
  std::vector<std::string> LogLines() {
    MutexLock lock(&log_mu_);
    return log_;
  }

  Mutex log_mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(log_mu_);
};

// --- agents ---------------------------------------------------------------------------------------

TEST_F(ServerTest, AgentsAreCreatedRetrievedUpdatedListedAndArchived) {
  HttpResponse created = client_->Post(
      "/v1/agents?beta=true",
      R"({"name":"a1","model":{"id":"scripted"},"system":"be brief","description":"d","metadata":{"team":"x"},
          "tools":[{"type":"agent_toolset_20260401","configs":[{"name":"bash","permission_policy":{"type":"always_ask"}}]},
                   {"type":"custom","name":"lookup","description":"looks up","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}}]})");
  ASSERT_EQ(created.status, 200) << created.body;
  const std::string id = created.Str("/id");
  EXPECT_TRUE(absl::StartsWith(id, "agent_"));
  EXPECT_EQ(created.Str("/type"), "agent");
  EXPECT_EQ(created.Int("/version"), 1);
  EXPECT_EQ(created.Str("/model/id"), "scripted");
  EXPECT_EQ(created.Str("/system"), "be brief");
  EXPECT_EQ(created.Str("/metadata/team"), "x");
  EXPECT_TRUE(created.IsNull("/archived_at"));
  EXPECT_FALSE(created.Str("/created_at").empty());
  EXPECT_EQ(created.Str("/tools/0/type"), "agent_toolset_20260401");
  EXPECT_EQ(created.Size("/tools/0/configs"), 6u);
  EXPECT_EQ(created.Str("/tools/0/configs/0/name"), "bash");
  EXPECT_EQ(created.Str("/tools/0/configs/0/permission_policy/type"), "always_ask");
  EXPECT_EQ(created.Str("/tools/0/configs/1/permission_policy/type"), "always_allow");
  EXPECT_EQ(created.Str("/tools/1/type"), "custom");
  EXPECT_EQ(created.Str("/tools/1/input_schema/properties/q/type"), "string");
  EXPECT_FALSE(created.headers["request-id"].empty());

  HttpResponse got = client_->Get("/v1/agents/" + id);
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, created.body);

  // An update names the version it read; a stale one is a conflict and changes nothing.
  HttpResponse updated = client_->Post("/v1/agents/" + id, R"({"version":1,"system":null,"metadata":{"team":null,"k":"v"}})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.Int("/version"), 2);
  EXPECT_TRUE(updated.IsNull("/system"));
  EXPECT_EQ(updated.Str("/metadata/k"), "v");
  EXPECT_EQ(updated.Str("/metadata/team"), "");
  ExpectError(client_->Post("/v1/agents/" + id, R"({"version":1,"name":"other"})"), 409, "conflict_error");
  EXPECT_EQ(client_->Get("/v1/agents/" + id).Str("/name"), "a1");
  // Changing nothing makes no version.
  EXPECT_EQ(client_->Post("/v1/agents/" + id, R"({"name":"a1"})").Int("/version"), 2);
  EXPECT_EQ(client_->Get("/v1/agents/" + id + "?version=1").Str("/system"), "be brief");
  ExpectError(client_->Get("/v1/agents/" + id + "?version=9"), 404, "not_found_error");

  HttpResponse versions = client_->Get("/v1/agents/" + id + "/versions?limit=1");
  ASSERT_EQ(versions.status, 200) << versions.body;
  EXPECT_EQ(versions.Int("/data/0/version"), 2);
  ASSERT_EQ(versions.Str("/next_page"), "1");
  HttpResponse older = client_->Get("/v1/agents/" + id + "/versions?limit=1&page=1");
  EXPECT_EQ(older.Int("/data/0/version"), 1);
  EXPECT_TRUE(older.IsNull("/next_page"));

  // Cursor pages, as the SDK walks them.
  const std::string second = CreateAgent();
  HttpResponse page1 = client_->Get("/v1/agents?limit=1");
  ASSERT_EQ(page1.status, 200) << page1.body;
  EXPECT_EQ(page1.Str("/data/0/id"), id);
  ASSERT_FALSE(page1.Str("/next_page").empty());
  HttpResponse page2 = client_->Get("/v1/agents?limit=1&page=" + page1.Str("/next_page"));
  EXPECT_EQ(page2.Str("/data/0/id"), second);
  EXPECT_TRUE(page2.IsNull("/next_page"));

  HttpResponse archived = client_->Post("/v1/agents/" + id + "/archive", "");
  ASSERT_EQ(archived.status, 200) << archived.body;
  EXPECT_FALSE(archived.Str("/archived_at").empty());
  EXPECT_EQ(client_->Get("/v1/agents").Size("/data"), 1u);
  EXPECT_EQ(client_->Get("/v1/agents?include_archived=true").Size("/data"), 2u);
}

TEST_F(ServerTest, BadAgentRequestsAreRefusedNamingTheField) {
  ExpectError(client_->Post("/v1/agents", R"({"model":"scripted"})"), 400, "invalid_request_error", "name");
  ExpectError(client_->Post("/v1/agents", R"({"name":7,"model":"scripted"})"), 400, "invalid_request_error",
              "name: must be a string");
  ExpectError(client_->Post("/v1/agents", R"({"name":"a","model":"scripted","colour":"red"})"), 400,
              "invalid_request_error", "unknown field \"colour\"");
  ExpectError(client_->Post("/v1/agents", R"({"name":"a","model":"scripted","tools":[{"type":"mcp_toolset","mcp_server_name":"x"}]})"),
              400, "invalid_request_error", "MCP");
  ExpectError(client_->Post("/v1/agents",
                            R"({"name":"a","model":"scripted","tools":[{"type":"agent_toolset_20260401","configs":[{"name":"bash","enabled":false}]}]})"),
              400, "invalid_request_error", "together");
  ExpectError(client_->Post("/v1/agents",
                            R"({"name":"a","model":"scripted","tools":[{"type":"custom","name":"bad name","description":"d","input_schema":{"type":"object"}}]})"),
              400, "invalid_request_error", "tools[0].name");
  ExpectError(client_->Post("/v1/agents", R"({"name":"a","model":"scripted","metadata":{"k":1}})"), 400,
              "invalid_request_error", "metadata.k");
  ExpectError(client_->Post("/v1/agents", "[1,2]"), 400, "invalid_request_error", "JSON object");
  ExpectError(client_->Get("/v1/agents/agent_01M8283G3YJK1CPHJVGZYVQ6XJ"), 404, "not_found_error");
  ExpectError(client_->Get("/v1/agents/not-an-id"), 404, "not_found_error");
  ExpectError(client_->Get("/v1/agents?limit=0"), 400, "invalid_request_error", "limit");
  ExpectError(client_->Get("/v1/agents?page=bogus"), 400, "invalid_request_error", "page");
  EXPECT_EQ(client_->Get("/v1/agents?include_archived=true").Size("/data"), 0u);  // nothing was made
}

// --- environments ---------------------------------------------------------------------------------

TEST_F(ServerTest, EnvironmentsMapConfigsToHandBackends) {
  HttpResponse cloud = client_->Post("/v1/environments", R"({"name":"c","metadata":{"a":"1"}})");
  ASSERT_EQ(cloud.status, 200) << cloud.body;
  EXPECT_TRUE(absl::StartsWith(cloud.Str("/id"), "env_"));
  EXPECT_EQ(cloud.Str("/type"), "environment");
  EXPECT_EQ(cloud.Str("/config/type"), "cloud");
  EXPECT_EQ(cloud.Str("/config/networking/type"), "limited");
  const std::string cloud_id = cloud.Str("/id");
  EXPECT_EQ(engine_->GetEnvironment(cloud_id)->spec.backend, "");

  HttpResponse local = client_->Post(
      "/v1/environments", R"({"name":"l","config":{"type":"local","network":true,"env":{"GREETING":"hi"}}})");
  ASSERT_EQ(local.status, 200) << local.body;
  EXPECT_EQ(local.Str("/config/type"), "local");
  EXPECT_EQ(local.Str("/config/env/GREETING"), "hi");
  const std::string local_id = local.Str("/id");
  EXPECT_EQ(engine_->GetEnvironment(local_id)->spec.backend, "local");
  EXPECT_TRUE(engine_->GetEnvironment(local_id)->spec.resources.network);

  ExpectError(client_->Post("/v1/environments", R"({"name":"x","config":{"type":"teleporter"}})"), 400,
              "invalid_request_error", "local");
  ExpectError(client_->Post("/v1/environments", R"({"name":"x","config":{"type":"cloud","packages":{"pip":["numpy"]}}})"),
              400, "invalid_request_error", "packages");

  HttpResponse updated = client_->Post("/v1/environments/" + cloud_id,
                                       R"({"name":"c2","config":{"type":"cloud","networking":{"type":"unrestricted"}},"metadata":{"a":null}})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.Str("/name"), "c2");
  EXPECT_EQ(updated.Str("/config/networking/type"), "unrestricted");
  EXPECT_EQ(updated.Size("/metadata"), 0u);
  HttpResponse change = client_->Post("/v1/environments/" + cloud_id, R"({"config":{"type":"local"}})");
  ExpectError(change, 400, "invalid_request_error");
  EXPECT_EQ(change.Str("/error/details/error_code"), "invalid_config_type_change");

  EXPECT_EQ(client_->Get("/v1/environments").Size("/data"), 2u);
  HttpResponse archived = client_->Post("/v1/environments/" + local_id + "/archive", "");
  EXPECT_FALSE(archived.Str("/archived_at").empty()) << archived.body;
  EXPECT_EQ(client_->Get("/v1/environments").Size("/data"), 1u);
  HttpResponse session = client_->Post(
      "/v1/sessions", absl::StrCat(R"({"agent":")", CreateAgent(), R"(","environment_id":")", local_id, R"("})"));
  ExpectError(session, 400, "invalid_request_error", "archived");
  EXPECT_EQ(session.Str("/error/details/error_code"), "environment_archived");

  HttpResponse deleted = client_->Call("DELETE", "/v1/environments/" + cloud_id);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.Str("/type"), "environment_deleted");
  EXPECT_EQ(deleted.Str("/id"), cloud_id);
  HttpResponse gone = client_->Get("/v1/environments/" + cloud_id);
  ExpectError(gone, 404, "not_found_error");
  EXPECT_EQ(gone.Str("/error/details/error_code"), "environment_not_found");
}

// --- sessions -------------------------------------------------------------------------------------

TEST_F(ServerTest, SessionsAreCreatedListedUpdatedArchivedAndDeleted) {
  const std::string agent = CreateAgent();
  const std::string environment = CreateEnvironment();
  HttpResponse created = client_->Post(
      "/v1/sessions", absl::StrCat(R"({"agent":{"type":"agent","id":")", agent, R"(","version":1},"environment_id":")",
                                   environment, R"(","title":"first","metadata":{"k":"v","drop":"me"}})"));
  ASSERT_EQ(created.status, 200) << created.body;
  const std::string first = created.Str("/id");
  EXPECT_TRUE(absl::StartsWith(first, "sesn_"));
  EXPECT_EQ(created.Str("/type"), "session");
  EXPECT_EQ(created.Str("/status"), "idle");
  EXPECT_EQ(created.Str("/title"), "first");
  EXPECT_EQ(created.Str("/environment_id"), environment);
  EXPECT_EQ(created.Str("/agent/id"), agent);
  EXPECT_EQ(created.Int("/agent/version"), 1);
  EXPECT_EQ(created.Str("/agent/model/id"), "scripted");
  const std::string second = CreateSession(agent, environment);
  const std::string third = CreateSession(agent, environment);

  EXPECT_EQ(client_->Get("/v1/sessions/" + first).body, created.body);
  HttpResponse updated = client_->Post("/v1/sessions/" + first, R"({"title":"renamed","metadata":{"drop":null,"new":"x"}})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.Str("/title"), "renamed");
  EXPECT_EQ(updated.Str("/metadata/k"), "v");
  EXPECT_EQ(updated.Str("/metadata/new"), "x");
  EXPECT_EQ(updated.Str("/metadata/drop"), "");

  // Newest first by default; pages both ways. (Ids order sessions by creation time, but only to the
  // millisecond across threads: the expected order is the ids'.)
  std::vector<std::string> ids = {first, second, third};
  std::sort(ids.begin(), ids.end(), std::greater<>());
  HttpResponse page1 = client_->Get("/v1/sessions?limit=2");
  ASSERT_EQ(page1.status, 200) << page1.body;
  ASSERT_EQ(page1.Size("/data"), 2u);
  EXPECT_EQ(page1.Str("/data/0/id"), ids[0]);
  EXPECT_EQ(page1.Str("/data/1/id"), ids[1]);
  EXPECT_TRUE(page1.IsNull("/prev_page"));
  HttpResponse page2 = client_->Get("/v1/sessions?limit=2&page=" + page1.Str("/next_page"));
  ASSERT_EQ(page2.Size("/data"), 1u) << page2.body;
  EXPECT_EQ(page2.Str("/data/0/id"), ids[2]);
  EXPECT_TRUE(page2.IsNull("/next_page"));
  HttpResponse back = client_->Get("/v1/sessions?limit=2&page=" + page2.Str("/prev_page"));
  EXPECT_EQ(back.Str("/data/0/id"), ids[0]);
  EXPECT_EQ(back.Str("/data/1/id"), ids[1]);
  EXPECT_EQ(client_->Get("/v1/sessions?order=asc&limit=1").Str("/data/0/id"), ids[2]);
  EXPECT_EQ(client_->Get("/v1/sessions?statuses%5B%5D=idle").Size("/data"), 3u);
  EXPECT_EQ(client_->Get("/v1/sessions?statuses%5B%5D=running").Size("/data"), 0u);
  EXPECT_EQ(client_->Get("/v1/sessions?agent_id=" + agent).Size("/data"), 3u);
  ExpectError(client_->Get("/v1/sessions?statuses[]=sleepy"), 400, "invalid_request_error", "sleepy");

  HttpResponse archived = client_->Post("/v1/sessions/" + second + "/archive", "");
  EXPECT_FALSE(archived.Str("/archived_at").empty()) << archived.body;
  EXPECT_EQ(client_->Get("/v1/sessions").Size("/data"), 2u);
  EXPECT_EQ(client_->Get("/v1/sessions?include_archived=true").Size("/data"), 3u);
  ExpectError(SendText(second, "hello?"), 400, "invalid_request_error", "archived");

  HttpResponse deleted = client_->Call("DELETE", "/v1/sessions/" + third);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.Str("/type"), "session_deleted");
  ExpectError(client_->Get("/v1/sessions/" + third), 404, "not_found_error");
  ExpectError(client_->Get("/v1/sessions/sesn_nope"), 404, "not_found_error");
  ExpectError(client_->Post("/v1/sessions", R"({"agent":"agent_01M8283G3YJK1CPHJVGZYVQ6XJ"})"), 404, "not_found_error");
  ExpectError(client_->Post("/v1/sessions", absl::StrCat(R"({"agent":")", agent, R"(","resources":[{"type":"file","file_id":"f"}]})")),
              400, "invalid_request_error", "resources");
}

TEST_F(ServerTest, SessionCreatedWithInitialEventsStartsItsTurn) {
  const std::string agent = CreateAgent(absl::StrCat(",\"tools\":[", kToolset, "]"));
  HttpResponse created = client_->Post(
      "/v1/sessions", absl::StrCat(R"({"agent":")", agent, R"(","environment_id":")", CreateEnvironment(),
                                   R"(","initial_events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}]})"));
  ASSERT_EQ(created.status, 200) << created.body;
  engine_->WaitUntilQuiet();
  HttpResponse events = client_->Get("/v1/sessions/" + created.Str("/id") + "/events?limit=1000");
  EXPECT_EQ(events.Str("/data/0/type"), "user.message");
  EXPECT_EQ(events.Str("/data/0/content/0/text"), "go");
  EXPECT_EQ(client_->Get("/v1/sessions/" + created.Str("/id")).Str("/status"), "idle");
  // A bad initial event makes no session at all.
  const size_t sessions = client_->Get("/v1/sessions?limit=1000").Size("/data");
  ExpectError(client_->Post("/v1/sessions", absl::StrCat(R"({"agent":")", agent,
                                                         R"(","initial_events":[{"type":"user.interrupt"}]})")),
              400, "invalid_request_error", "initial_events[0]");
  EXPECT_EQ(client_->Get("/v1/sessions?limit=1000").Size("/data"), sessions);
}

// --- events ---------------------------------------------------------------------------------------

TEST_F(ServerTest, EventsAreSentAndListedInPages) {
  const std::string session = ScriptedSession();
  HttpResponse sent = SendText(session, "hello");
  ASSERT_EQ(sent.status, 200) << sent.body;
  ASSERT_EQ(sent.Size("/data"), 1u);
  EXPECT_EQ(sent.Str("/data/0/type"), "user.message");
  EXPECT_TRUE(absl::StartsWith(sent.Str("/data/0/id"), "sevt_"));
  EXPECT_FALSE(sent.Str("/data/0/processed_at").empty());
  engine_->WaitUntilQuiet();

  HttpResponse all = client_->Get("/v1/sessions/" + session + "/events?limit=1000");
  ASSERT_EQ(all.status, 200) << all.body;
  const size_t n = all.Size("/data");
  ASSERT_GE(n, 5u);
  EXPECT_EQ(all.Str("/data/0/id"), sent.Str("/data/0/id"));
  EXPECT_TRUE(all.IsNull("/next_page"));
  for (size_t i = 0; i < n; ++i) {
    EXPECT_FALSE(absl::StartsWith(all.Str(absl::StrCat("/data/", i, "/type")), "wake.")) << all.body;
  }
  // wake's own events only on request.
  HttpResponse internal = client_->Get("/v1/sessions/" + session + "/events?limit=1000&include_internal=true");
  EXPECT_GT(internal.Size("/data"), n);
  EXPECT_EQ(client_->Get("/v1/sessions/" + session + "/events?types[]=wake.hand_provisioned").Size("/data"), 1u);

  // Pages of 2, in both orders, cover the list exactly once.
  for (const std::string order : {"asc", "desc"}) {
    const std::vector<std::string> ids = PagedEventIds(*client_, session, order, 2);
    ASSERT_EQ(ids.size(), n) << order;
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(ids[i], all.Str(absl::StrCat("/data/", order == "asc" ? i : n - 1 - i, "/id"))) << order;
    }
  }
  HttpResponse filtered =
      client_->Get("/v1/sessions/" + session + "/events?types%5B%5D=agent.message&types%5B%5D=session.status_idle");
  ASSERT_EQ(filtered.Size("/data"), 3u) << filtered.body;
  EXPECT_EQ(filtered.Str("/data/0/type"), "agent.message");
  EXPECT_EQ(filtered.Str("/data/2/type"), "session.status_idle");
  EXPECT_EQ(client_->Get("/v1/sessions/" + session + "/events?types[]=session.thread_created").Size("/data"), 0u);
  ExpectError(client_->Get("/v1/sessions/" + session + "/events?types[]=agent.daydream"), 400, "invalid_request_error",
              "agent.daydream");
  ExpectError(client_->Get("/v1/sessions/" + session + "/events?created_at[gt]=yesterday"), 400,
              "invalid_request_error", "created_at[gt]");
  EXPECT_EQ(client_->Get("/v1/sessions/" + session + "/events?created_at[lt]=2000-01-01T00:00:00Z").Size("/data"), 0u);
}

TEST_F(ServerTest, BadEventBodiesChangeNothingAndTheServerKeepsServing) {
  const std::string session = ScriptedSession();
  const std::string path = "/v1/sessions/" + session + "/events";
  ExpectError(client_->Post(path, "{not json"), 400, "invalid_request_error");
  ExpectError(client_->Post(path, R"({"events":"user.message"})"), 400, "invalid_request_error");
  ExpectError(client_->Post(path, R"({"events":[{"type":"user.bogus"}]})"), 400, "invalid_request_error", "user.bogus");
  ExpectError(client_->Post(path, R"({"events":[{"type":"user.message","content":[{"type":"text","text":5}]}]})"), 400,
              "invalid_request_error");
  ExpectError(client_->Post(path, R"({"events":[{"type":"agent.message","content":[]}]})"), 400, "invalid_request_error");
  // All or nothing: a good event beside a bad one is not stored either.
  ExpectError(client_->Post(path, R"({"events":[{"type":"user.message","content":[{"type":"text","text":"ok"}]},{"type":"user.nope"}]})"),
              400, "invalid_request_error");
  ExpectError(client_->Post(path, R"({"events":[]})"), 400, "invalid_request_error");
  EXPECT_EQ(EventCount(session), 0u);
  ExpectError(client_->Post("/v1/sessions/sesn_01M8283KKK3HDJS2D1YMHMDV2E/events",
                            R"({"events":[{"type":"user.message","content":[{"type":"text","text":"x"}]}]})"),
              404, "not_found_error");
  EXPECT_EQ(client_->Get("/v1/sessions/" + session).status, 200);
  EXPECT_EQ(SendText(session, "now a good one").status, 200);
  engine_->WaitUntilQuiet();
  EXPECT_GT(EventCount(session), 1u);
}

TEST_F(ServerTest, OversizedBodiesAre413AndChangeNothing) {
  const std::string session = ScriptedSession();
  const std::string path = "/v1/sessions/" + session + "/events";
  const std::string huge = absl::StrCat(R"({"events":[{"type":"user.message","content":[{"type":"text","text":")",
                                        std::string(kTestMaxBody, 'x'), R"("}]}]})");
  // With a content-length (curl also sends Expect: 100-continue for a body this size): refused
  // before the body is read.
  ExpectError(client_->Post(path, huge), 413, "request_too_large");
  ExpectError(client_->Call("POST", path, huge, {"expect:"}), 413, "request_too_large");
  // Chunked: the server finds out while reading.
  ExpectError(client_->PostChunked(path, huge, 16 * 1024), 413, "request_too_large");
  EXPECT_EQ(EventCount(session), 0u);
  EXPECT_EQ(SendText(session, "small").status, 200);
}

// --- event streams --------------------------------------------------------------------------------

TEST_F(ServerTest, StreamsAScriptedTurnToIdle) {
  const std::string session = ScriptedSession();
  SseClient stream(Url("/v1/sessions/" + session + "/events/stream?beta=true"), {"anthropic-beta: managed-agents-2026-04-01"});
  ASSERT_EQ(stream.WaitForHead(), 200);
  HttpResponse sent = SendText(session, "run something");
  ASSERT_EQ(sent.status, 200) << sent.body;
  ASSERT_TRUE(stream.WaitForEvent("session.status_idle")) << stream.body();
  const Frames frames = stream.frames();
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.front().event, "user.message");
  EXPECT_EQ(frames.front().id, sent.Str("/data/0/id"));
  EXPECT_TRUE(HasEvent(frames, "session.status_running"));
  EXPECT_TRUE(HasEvent(frames, "agent.tool_use"));
  EXPECT_EQ(CountEvent(frames, "agent.message"), 2u);
  bool saw_hand_output = false;
  for (const auto& f : frames) {
    EXPECT_FALSE(absl::StartsWith(f.event, "wake.")) << f.event;
    // Each frame's data is the event's JSON, with the same type and id as the frame.
    EXPECT_TRUE(absl::StrContains(f.data, absl::StrCat("\"type\":\"", f.event, "\""))) << f.data;
    EXPECT_TRUE(absl::StrContains(f.data, absl::StrCat("\"id\":\"", f.id, "\""))) << f.data;
    if (f.event == "agent.tool_result") saw_hand_output = absl::StrContains(f.data, "hello from the hand");
  }
  EXPECT_TRUE(saw_hand_output);
  EXPECT_TRUE(absl::StrContains(frames.back().data, R"("stop_reason":{"type":"end_turn"})")) << frames.back().data;
  // The stream stays open for the next turn.
  ASSERT_EQ(SendText(session, "again").status, 200);
  EXPECT_TRUE(stream.WaitFor([](const Frames& f) { return CountEvent(f, "session.status_idle") == 2; }));
}

// A session longer than the server's read batches (512): a resume point far from the head is still
// found (the search walks back from the head), and listings page through it both ways.
TEST_F(ServerTest, ResumingAndListingALongSessionCrossReadBatches) {
  const std::string session = ScriptedSession();
  constexpr size_t kEvents = 1300;
  std::vector<Event> events;
  for (size_t i = 0; i < kEvents; ++i) events.push_back(testing::TextMessage(EventType::kAgentMessage, absl::StrCat(i)));
  ASSERT_TRUE(engine_->log().Append(session, std::move(events), kAppendAtHead, kNoLease).ok());
  absl::StatusOr<std::vector<Event>> stored = engine_->ReadEvents(session);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), kEvents);

  SseClient resumed(Url("/v1/sessions/" + session + "/events/stream"), {"Last-Event-ID: " + (*stored)[4].id});
  ASSERT_EQ(resumed.WaitForHead(), 200);
  ASSERT_TRUE(resumed.WaitFor([&](const Frames& f) { return f.size() == kEvents - 5; })) << resumed.body().substr(0, 300);
  const Frames frames = resumed.frames();
  EXPECT_EQ(frames.front().id, (*stored)[5].id);
  EXPECT_EQ(frames.back().id, stored->back().id);

  for (const std::string order : {"asc", "desc"}) {
    std::vector<std::string> ids = PagedEventIds(*client_, session, order, 600);
    ASSERT_EQ(ids.size(), kEvents) << order;
    if (order == "desc") std::reverse(ids.begin(), ids.end());
    for (size_t i = 0; i < kEvents; ++i) ASSERT_EQ(ids[i], (*stored)[i].id) << order << " #" << i + 1;
  }
}

TEST_F(ServerTest, StreamResumesAfterAnEventId) {
  const std::string session = ScriptedSession();
  ASSERT_EQ(SendText(session, "first").status, 200);
  engine_->WaitUntilQuiet();
  HttpResponse all = client_->Get("/v1/sessions/" + session + "/events?limit=1000");
  const size_t n = all.Size("/data");
  ASSERT_GE(n, 4u);
  const std::string after = all.Str("/data/1/id");

  // Last-Event-ID, as an EventSource reconnecting sends it.
  SseClient by_header(Url("/v1/sessions/" + session + "/events/stream"), {"Last-Event-ID: " + after});
  ASSERT_EQ(by_header.WaitForHead(), 200);
  ASSERT_TRUE(by_header.WaitFor([&](const Frames& f) { return f.size() == n - 2; })) << by_header.body();
  Frames frames = by_header.frames();
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(frames[i].id, all.Str(absl::StrCat("/data/", i + 2, "/id")));

  // The query parameter; resuming after the last event waits for the next one.
  const std::string last = all.Str(absl::StrCat("/data/", n - 1, "/id"));
  SseClient by_query(Url("/v1/sessions/" + session + "/events/stream?last_event_id=" + last));
  ASSERT_EQ(by_query.WaitForHead(), 200);
  HttpResponse sent = SendText(session, "second");
  ASSERT_TRUE(by_query.WaitForEvent("session.status_idle"));
  frames = by_query.frames();
  EXPECT_EQ(frames.front().id, sent.Str("/data/0/id"));

  ExpectError(client_->Call("GET", "/v1/sessions/" + session + "/events/stream", "",
                            {"Last-Event-ID: sevt_01M8283M3PMRA5E008YZRKBNBS"}),
              400, "invalid_request_error", "resume");
  ExpectError(client_->Get("/v1/sessions/sesn_01M8283KKK3HDJS2D1YMHMDV2E/events/stream"), 404, "not_found_error");
}

TEST_F(ServerTest, StreamSendsKeepAliveCommentsAndEndsWhenTheServerStops) {
  const std::string session = ScriptedSession();
  SseClient stream(Url("/v1/sessions/" + session + "/events/stream"));
  ASSERT_EQ(stream.WaitForHead(), 200);
  EXPECT_TRUE(stream.WaitForComments(2));
  server_->Stop();
  EXPECT_TRUE(stream.WaitForEnd());
}

TEST_F(ServerTest, CustomToolCallsWaitForTheClientsResult) {
  const std::string script = dir_ + "/custom.json";
  std::ofstream(script) << R"({"turns":[{"text":"asking","tool_calls":[{"name":"lookup","input":{"q":"x"}}]},{"text":"thanks"}]})";
  const std::string agent = CreateAgent(
      R"(,"tools":[{"type":"custom","name":"lookup","description":"looks up","input_schema":{"type":"object"}}])",
      "scripted:" + script);
  const std::string session = CreateSession(agent, CreateEnvironment());
  SseClient stream(Url("/v1/sessions/" + session + "/events/stream"));
  ASSERT_EQ(stream.WaitForHead(), 200);
  ASSERT_EQ(SendText(session, "look it up").status, 200);
  ASSERT_TRUE(stream.WaitForEvent("session.status_idle")) << stream.body();
  std::string tool_use_id;
  for (const auto& f : stream.frames()) {
    if (f.event == "agent.custom_tool_use") tool_use_id = f.id;
    if (f.event == "session.status_idle") {
      EXPECT_TRUE(absl::StrContains(f.data, "requires_action")) << f.data;
      EXPECT_TRUE(absl::StrContains(f.data, tool_use_id)) << f.data;
    }
  }
  ASSERT_FALSE(tool_use_id.empty());
  HttpResponse result = client_->Post(
      "/v1/sessions/" + session + "/events",
      absl::StrCat(R"({"events":[{"type":"user.custom_tool_result","custom_tool_use_id":")", tool_use_id,
                   R"(","content":[{"type":"text","text":"42"}]}]})"));
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_TRUE(stream.WaitFor([](const Frames& f) { return CountEvent(f, "session.status_idle") == 2; }));
  EXPECT_TRUE(absl::StrContains(stream.frames().back().data, "end_turn"));
}

TEST_F(ServerTest, AlwaysAskToolsWaitForAConfirmation) {
  const std::string agent = CreateAgent(
      R"(,"tools":[{"type":"agent_toolset_20260401","default_config":{"permission_policy":{"type":"always_ask"}}}])");
  const std::string session = CreateSession(agent, CreateEnvironment());
  SseClient stream(Url("/v1/sessions/" + session + "/events/stream"));
  ASSERT_EQ(stream.WaitForHead(), 200);
  ASSERT_EQ(SendText(session, "run it").status, 200);
  ASSERT_TRUE(stream.WaitForEvent("session.status_idle")) << stream.body();
  std::string tool_use_id;
  for (const auto& f : stream.frames()) {
    if (f.event == "agent.tool_use") tool_use_id = f.id;
  }
  ASSERT_FALSE(tool_use_id.empty());
  EXPECT_FALSE(HasEvent(stream.frames(), "agent.tool_result"));
  HttpResponse allow = client_->Post("/v1/sessions/" + session + "/events",
                                     absl::StrCat(R"({"events":[{"type":"user.tool_confirmation","tool_use_id":")",
                                                  tool_use_id, R"(","result":"allow"}]})"));
  ASSERT_EQ(allow.status, 200) << allow.body;
  ASSERT_TRUE(stream.WaitFor([](const Frames& f) { return CountEvent(f, "session.status_idle") == 2; }));
  EXPECT_TRUE(HasEvent(stream.frames(), "agent.tool_result"));
}

TEST_F(ServerTest, StreamsBeyondTheLimitAre429) {
  ServerOptions options = Options();
  options.max_sse_subscribers = 1;
  ASSERT_NO_FATAL_FAILURE(Serve(options));
  const std::string session = ScriptedSession();
  const std::string path = "/v1/sessions/" + session + "/events/stream";
  auto first = std::make_unique<SseClient>(Url(path));
  ASSERT_EQ(first->WaitForHead(), 200);
  SseClient second(Url(path));
  EXPECT_EQ(second.WaitForHead(), 429);
  EXPECT_TRUE(second.WaitForEnd());
  EXPECT_TRUE(absl::StrContains(second.body(), "rate_limit_error")) << second.body();
  first.reset();  // the server notices the client left and frees the place
  bool admitted = false;
  for (int attempt = 0; attempt < 200 && !admitted; ++attempt) {
    SseClient again(Url(path));
    admitted = again.WaitForHead() == 200;
    if (!admitted) absl::SleepFor(absl::Milliseconds(25));
  }
  EXPECT_TRUE(admitted);
}

// --- auth, routes, logs ---------------------------------------------------------------------------

TEST_F(ServerTest, ApiKeysAreCheckedAgainstTheKeyStore) {
  ApiKeyStoreOptions key_options;
  key_options.data_dir = dir_ + "/data";
  ApiKeyStore keys(key_options);
  ServerOptions options = Options();
  options.require_api_key = true;
  options.api_keys = &keys;
  ASSERT_NO_FATAL_FAILURE(Serve(options));
  // No key exists yet: the answer says how to make one.
  ExpectError(client_->Call("GET", "/v1/agents", "", {"x-api-key: sk-wake-guess"}), 401, "authentication_error",
              "keys create");

  absl::StatusOr<CreatedApiKey> key = keys.Create("test", "");
  absl::StatusOr<CreatedApiKey> other = keys.Create("other", "team-b");
  ASSERT_TRUE(key.ok() && other.ok());
  const std::string with_key = "x-api-key: " + key->key;
  ExpectError(client_->Get("/v1/agents"), 401, "authentication_error", "x-api-key");
  HttpResponse wrong = client_->Call("GET", "/v1/agents", "", {"x-api-key: sk-wrong"});
  ExpectError(wrong, 401, "authentication_error", "invalid API key");
  ExpectError(client_->Call("GET", "/v1/agents", "", {"Authorization: Basic c2stdGVzdC1rZXk="}), 401,
              "authentication_error");
  ExpectError(client_->Call("GET", "/v1/nowhere", ""), 401, "authentication_error");
  EXPECT_EQ(client_->Call("GET", "/v1/agents", "", {with_key}).status, 200);
  EXPECT_EQ(client_->Call("GET", "/v1/agents", "", {"Authorization: Bearer " + other->key}).status, 200);
  HttpResponse created = client_->Call("POST", "/v1/agents", R"({"name":"a","model":"scripted"})", {"x-api-key: sk-wrong"});
  ExpectError(created, 401, "authentication_error");
  EXPECT_EQ(client_->Call("GET", "/v1/agents?include_archived=true", "", {with_key}).Size("/data"), 0u);
  SseClient stream(Url("/v1/sessions/sesn_01M8283KKK3HDJS2D1YMHMDV2E/events/stream"));
  EXPECT_EQ(stream.WaitForHead(), 401);

  // Revoked by another store object (as `wakectl keys revoke` does while waked runs): refused on the
  // next request, naming the key.
  ApiKeyStore operator_tool(key_options);
  ASSERT_TRUE(operator_tool.Revoke(key->record.id).ok());
  ExpectError(client_->Call("GET", "/v1/agents", "", {with_key}), 401, "authentication_error",
              absl::StrCat("the API key ", key->record.id, " was revoked"));
  EXPECT_EQ(client_->Call("GET", "/v1/agents", "", {"x-api-key: " + other->key}).status, 200);
  // A key created now works at once.
  absl::StatusOr<CreatedApiKey> fresh = operator_tool.Create("fresh", "");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(client_->Call("GET", "/v1/agents", "", {"x-api-key: " + fresh->key}).status, 200);
}

TEST_F(ServerTest, ACorruptKeyFileRefusesEveryRequestAndSaysWhy) {
  ApiKeyStoreOptions key_options;
  key_options.data_dir = dir_ + "/data";
  ApiKeyStore keys(key_options);
  absl::StatusOr<CreatedApiKey> key = keys.Create("test", "");
  ASSERT_TRUE(key.ok());
  ServerOptions options = Options();
  options.require_api_key = true;
  options.api_keys = &keys;
  ASSERT_NO_FATAL_FAILURE(Serve(options));
  const std::string with_key = "x-api-key: " + key->key;
  ASSERT_EQ(client_->Call("GET", "/v1/agents", "", {with_key}).status, 200);
  {
    std::ofstream corrupt(keys.path(), std::ios::app);
    corrupt << "not a record\n";
  }
  HttpResponse refused = client_->Call("GET", "/v1/agents", "", {with_key});
  ExpectError(refused, 500, "api_error", "is corrupt");
  EXPECT_TRUE(absl::StrContains(refused.Str("/error/message"), "cannot check API keys")) << refused.body;
  ExpectError(client_->Call("GET", "/v1/agents", "", {"x-api-key: sk-wrong"}), 500, "api_error", "is corrupt");
  // With no key at all, the answer is still the plain 401.
  ExpectError(client_->Get("/v1/agents"), 401, "authentication_error", "x-api-key");
}

TEST_F(ServerTest, SessionsCreatedWithAKeyAreInItsWorkspace) {
  ApiKeyStoreOptions key_options;
  key_options.data_dir = dir_ + "/data";
  ApiKeyStore keys(key_options);
  absl::StatusOr<CreatedApiKey> team = keys.Create("team", "team-a");
  absl::StatusOr<CreatedApiKey> plain = keys.Create("plain", "");
  ASSERT_TRUE(team.ok() && plain.ok());
  ServerOptions options = Options();
  options.require_api_key = true;
  options.api_keys = &keys;
  ASSERT_NO_FATAL_FAILURE(Serve(options));
  auto create_session = [&](const std::string& key) {
    const std::vector<std::string> headers = {"x-api-key: " + key};
    HttpResponse agent = client_->Call("POST", "/v1/agents", R"({"name":"a","model":"scripted"})", headers);
    EXPECT_EQ(agent.status, 200) << agent.body;
    HttpResponse session = client_->Call(
        "POST", "/v1/sessions", absl::StrCat(R"({"agent":")", agent.Str("/id"), R"("})"), headers);
    EXPECT_EQ(session.status, 200) << session.body;
    return session.Str("/id");
  };
  const std::string in_team = create_session(team->key);
  const std::string in_default = create_session(plain->key);
  absl::StatusOr<SessionInfo> info = engine_->GetSession(in_team);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->workspace_id, "team-a");
  info = engine_->GetSession(in_default);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->workspace_id, "default");
}

TEST_F(ServerTest, UnknownRoutesAre404AndWrongMethods405) {
  ExpectError(client_->Get("/"), 404, "not_found_error");
  ExpectError(client_->Get("/v1/widgets"), 404, "not_found_error");
  ExpectError(client_->Get("/v1/sessions/sesn_x/events/stream/more"), 404, "not_found_error");
  HttpResponse wrong = client_->Call("DELETE", "/v1/agents");
  ExpectError(wrong, 405, "invalid_request_error", "GET, POST");
  EXPECT_EQ(wrong.headers["allow"], "GET, POST");
  ExpectError(client_->Call("PUT", "/v1/sessions/sesn_x/events"), 405, "invalid_request_error");
  ExpectError(client_->Get("/v1/agents?limit=%zz"), 400, "invalid_request_error", "percent");
  EXPECT_EQ(client_->Get("/v1/agents").status, 200);
}

TEST_F(ServerTest, LogsAreJsonLinesWithSessionIds) {
  const std::string session = ScriptedSession();
  ASSERT_EQ(client_->Get("/v1/sessions/" + session).status, 200);
  ExpectError(client_->Get("/v1/nowhere"), 404, "not_found_error");
  bool session_line = false, error_line = false;
  for (const std::string& line : LogLines()) {
    simdjson::dom::parser parser;
    simdjson::dom::element json;
    ASSERT_EQ(parser.parse(line).get(json), simdjson::SUCCESS) << line;
    std::string_view msg, session_field, target;
    if (json["msg"].get(msg) != simdjson::SUCCESS || msg != "request") continue;
    int64_t status = 0;
    EXPECT_EQ(json["status"].get(status), simdjson::SUCCESS) << line;
    if (json["session"].get(session_field) == simdjson::SUCCESS && session_field == session) session_line = true;
    if (json["target"].get(target) == simdjson::SUCCESS && target == "/v1/nowhere") {
      error_line = status == 404 && json["error"].error() == simdjson::SUCCESS;
    }
  }
  EXPECT_TRUE(session_line);
  EXPECT_TRUE(error_line);
}

TEST(StartServerTest, RefusesOptionsThatCouldNeverWork) {
  ServerOptions options;
  options.require_api_key = true;  // and no key store
  EXPECT_EQ(StartServer(reinterpret_cast<Engine*>(1), options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wake
