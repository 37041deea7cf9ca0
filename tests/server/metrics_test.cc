// GET /metrics on real parts: an Engine on a temp dir (RocksDB, a scripted brain, local hands), the
// server on 127.0.0.1 port 0 with an API key, libcurl as the client. A scripted turn with tool calls
// runs through the API; then /metrics must parse as Prometheus text (a strict parser of the 0.0.4
// grammar below, written for this test) and its counts must have moved by exactly what the turn did.

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "sandbox/local/local_hand.h"
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
using Labels = std::map<std::string, std::string>;

// --- a strict parser of the text exposition format 0.0.4 -----------------------------------------
//
//   exposition := { line "\n" }
//   line       := "# HELP " name " " help-text | "# TYPE " name " " type | sample
//   sample     := name [ "{" label { "," label } [ "," ] "}" ] " " value [ " " timestamp ]
//   label      := label-name "=" '"' escaped-value '"'
// with names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, escapes \\ \" \n in label
// values and \\ \n in help text (any other backslash is an error), values as Go's ParseFloat reads them
// (plus +Inf, -Inf, NaN). Beyond the grammar: one HELP and one TYPE per family, before its samples;
// a family's lines together; no series twice; a histogram's samples are only <name>_bucket (with le,
// le increasing, counts non-decreasing, ending at +Inf), <name>_sum and <name>_count, and the +Inf
// bucket equals _count.
class Exposition {
 public:
  // Empty on success, else the first problem with its line number.
  std::string Parse(const std::string& text) {
    if (text.empty() || text.back() != '\n') return "the text does not end with a newline";
    std::vector<std::string> lines = absl::StrSplit(text, '\n');
    lines.pop_back();
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string error = ParseLine(lines[i]);
      if (!error.empty()) return absl::StrCat("line ", i + 1, " \"", lines[i], "\": ", error);
    }
    return FinishHistograms();
  }

  std::optional<double> Value(const std::string& name, const Labels& labels = {}) const {
    auto it = samples_.find(Key(name, labels));
    if (it == samples_.end()) return std::nullopt;
    return it->second;
  }
  // The value, or 0 for a series not (yet) exposed.
  double ValueOr0(const std::string& name, const Labels& labels = {}) const { return Value(name, labels).value_or(0); }
  std::string Type(const std::string& family) const {
    auto it = types_.find(family);
    return it == types_.end() ? "" : it->second;
  }
  const std::map<std::string, double>& samples() const { return samples_; }

 private:
  static bool NameChar(char c, bool first, bool colon) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
           (!first && c >= '0' && c <= '9');
  }
  static size_t ScanName(const std::string& s, size_t at, bool colon) {
    size_t end = at;
    while (end < s.size() && NameChar(s[end], end == at, colon)) ++end;
    return end;
  }
  static bool ParseValue(const std::string& s, double* out) {
    if (s == "+Inf") *out = INFINITY;
    else if (s == "-Inf") *out = -INFINITY;
    else if (s == "NaN") *out = NAN;
    // SimpleAtod also takes "inf"/"nan" spellings the format does not allow; a digit must be there.
    else return s.find_first_of("0123456789") != std::string::npos && absl::SimpleAtod(s, out);
    return true;
  }
  static bool IsTimestamp(const std::string& s) {
    int64_t ms = 0;
    return !s.empty() && s[0] != '+' && absl::SimpleAtoi(s, &ms);
  }
  static std::string Key(const std::string& name, const Labels& labels) {
    std::string key = name + "{";
    for (const auto& [k, v] : labels) absl::StrAppend(&key, k, "=", v, ",");
    return key + "}";
  }

  // The family a sample belongs to: its own name, or for a histogram's series the histogram's.
  std::string FamilyOf(const std::string& name) const {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (absl::EndsWith(name, suffix)) {
        std::string stem = name.substr(0, name.size() - std::string(suffix).size());
        if (Type(stem) == "histogram") return stem;
      }
    }
    return name;
  }

  std::string StartFamily(const std::string& family) {
    if (family == current_) return "";
    if (done_.contains(family)) return "the family's lines are not together";
    if (!current_.empty()) done_.insert(current_);
    current_ = family;
    return "";
  }

  std::string ParseLine(const std::string& line) {
    if (line.empty()) return "";
    if (line[0] == '#') return ParseComment(line);
    return ParseSample(line);
  }

  std::string ParseComment(const std::string& line) {
    const bool help = absl::StartsWith(line, "# HELP ");
    const bool type = absl::StartsWith(line, "# TYPE ");
    if (!help && !type) return "a comment other than HELP or TYPE";
    const size_t end = ScanName(line, 7, true);
    if (end == 7) return "no metric name";
    const std::string name = line.substr(7, end - 7);
    if (end >= line.size() || line[end] != ' ') return "no space after the name";
    const std::string rest = line.substr(end + 1);
    if (std::string error = StartFamily(name); !error.empty()) return error;
    if (help) {
      if (!helps_.insert(name).second) return "a second HELP";
      for (size_t i = 0; i < rest.size(); ++i) {
        if (rest[i] != '\\') continue;
        if (i + 1 >= rest.size() || (rest[i + 1] != '\\' && rest[i + 1] != 'n')) return "a bad escape in HELP";
        ++i;
      }
      return "";
    }
    static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
    if (!kTypes.contains(rest)) return "an unknown type";
    if (types_.contains(name)) return "a second TYPE";
    if (sampled_.contains(name)) return "TYPE after the family's samples";
    types_[name] = rest;
    return "";
  }

  std::string ParseSample(const std::string& line) {
    size_t at = ScanName(line, 0, true);
    if (at == 0) return "no metric name";
    const std::string name = line.substr(0, at);
    Labels labels;
    if (at < line.size() && line[at] == '{') {
      ++at;
      while (at < line.size() && line[at] != '}') {
        const size_t end = ScanName(line, at, false);
        if (end == at) return "no label name";
        const std::string label = line.substr(at, end - at);
        if (absl::StartsWith(label, "__")) return "a reserved label name";
        at = end;
        if (line.compare(at, 2, "=\"") != 0) return "no =\" after a label name";
        at += 2;
        std::string value;
        while (true) {
          if (at >= line.size()) return "an unterminated label value";
          const char c = line[at++];
          if (c == '"') break;
          if (c == '\\') {
            if (at >= line.size()) return "a dangling backslash";
            const char e = line[at++];
            if (e == '\\') value += '\\';
            else if (e == '"') value += '"';
            else if (e == 'n') value += '\n';
            else return "a bad escape in a label value";
          } else {
            value += c;
          }
        }
        if (!labels.emplace(label, value).second) return "a label twice";
        if (at < line.size() && line[at] == ',') ++at;
        else if (at >= line.size() || line[at] != '}') return "no , or } after a label";
      }
      if (at >= line.size()) return "no closing }";
      ++at;
    }
    if (at >= line.size() || line[at] != ' ') return "no space before the value";
    std::vector<std::string> fields = absl::StrSplit(line.substr(at + 1), ' ');
    if (fields.empty() || fields.size() > 2) return "not `value [timestamp]`";
    double value = 0;
    if (!ParseValue(fields[0], &value)) return "the value is not a number";
    if (fields.size() == 2 && !IsTimestamp(fields[1])) return "a bad timestamp";

    const std::string family = FamilyOf(name);
    if (std::string error = StartFamily(family); !error.empty()) return error;
    sampled_.insert(family);
    const std::string type = Type(family);
    if (type == "histogram") {
      if (name == family) return "a histogram's sample without _bucket, _sum or _count";
      if (absl::EndsWith(name, "_bucket")) {
        auto le = labels.find("le");
        if (le == labels.end()) return "a bucket without le";
        double bound = 0;
        if (!ParseValue(le->second, &bound) || std::isnan(bound)) return "le is not a number";
        Labels series = labels;
        series.erase("le");
        auto& buckets = buckets_[Key(family, series)];
        if (!buckets.empty() && (bound <= buckets.back().first || value < buckets.back().second)) {
          return "buckets not in increasing le with non-decreasing counts";
        }
        buckets.emplace_back(bound, value);
      } else if (labels.contains("le")) {
        return "le on a histogram's _sum or _count";
      }
    } else if ((type == "counter") && (value < 0 || std::isnan(value))) {
      return "a negative counter";
    }
    if (!samples_.emplace(Key(name, labels), value).second) return "a series twice";
    return "";
  }

  std::string FinishHistograms() const {
    for (const auto& [key, buckets] : buckets_) {
      if (buckets.back().first != INFINITY) return absl::StrCat(key, ": no +Inf bucket");
      const std::string family = key.substr(0, key.find('{'));
      const std::string labels = key.substr(key.find('{'));
      auto count = samples_.find(family + "_count" + labels);
      auto sum = samples_.find(family + "_sum" + labels);
      if (count == samples_.end() || sum == samples_.end()) return absl::StrCat(key, ": no _count or _sum");
      if (count->second != buckets.back().second) return absl::StrCat(key, ": _count differs from the +Inf bucket");
    }
    return "";
  }

  std::map<std::string, std::string> types_;
  std::set<std::string> helps_;
  std::set<std::string> sampled_;
  std::string current_;
  std::set<std::string> done_;
  std::map<std::string, double> samples_;
  std::map<std::string, std::vector<std::pair<double, double>>> buckets_;
};

TEST(ExpositionParserTest, RejectsWhatTheGrammarDoesNot) {
  auto error = [](const std::string& text) { return Exposition().Parse(text); };
  EXPECT_EQ(error("# TYPE a counter\na 1\n"), "");
  EXPECT_EQ(error("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"), "");
  EXPECT_NE(error("a 1"), "");                                   // no final newline
  EXPECT_NE(error("a{b=\"x\\t\"} 1\n"), "");                     // a bad escape
  EXPECT_NE(error("a{b=\"x} 1\n"), "");                          // unterminated value
  EXPECT_NE(error("a 1\nb 1\na 2\n"), "");                       // family lines apart
  EXPECT_NE(error("a 1\na 2\n"), "");                            // a series twice
  EXPECT_NE(error("a one\n"), "");                               // not a number
  EXPECT_NE(error("# TYPE a counter\n# TYPE a gauge\n"), "");    // two TYPEs
  EXPECT_NE(error("a 1\n# TYPE a counter\n"), "");               // TYPE after samples
  EXPECT_NE(error("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n"), "");
  EXPECT_NE(error("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 3\nh_count 1\n"), "");  // no +Inf
  EXPECT_NE(error("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 1\n"), "");  // count differs
}

// --- the server --------------------------------------------------------------------------------------

// Two tool calls in the first turn (one succeeds, one exits 3: a tool error), then an answer.
constexpr char kScript[] = R"({"turns": [
  {"text": "Two commands.", "tool_calls": [
     {"name": "bash", "input": {"command": "echo fine"}},
     {"name": "bash", "input": {"command": "echo failing; exit 3"}}]},
  {"text": "One failed."}
]})";

class MetricsEndpointTest : public ServedEngineTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenEngine("metrics"));
    script_ = dir_ + "/script.json";
    std::ofstream(script_) << kScript;
    key_ = NewKey("metrics test", "default");
    ASSERT_NO_FATAL_FAILURE(Serve(KeyedOptions()));
  }

  HttpResponse Call(const std::string& method, const std::string& path, const std::string& body = "") {
    return client_->Call(method, path, body, {absl::StrCat("Authorization: Bearer ", key_)});
  }
  std::string Create(const std::string& path, const std::string& body) {
    HttpResponse r = Call("POST", path, body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("/id");
  }
  // Scrapes /metrics (as Prometheus would, with a bearer token) and parses it strictly.
  Exposition Scrape() {
    HttpResponse r = Call("GET", "/metrics");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    Exposition exposition;
    const std::string error = exposition.Parse(r.body);
    EXPECT_EQ(error, "") << r.body;
    last_text_ = r.body;
    return exposition;
  }

  std::string script_;
  std::string key_;
  std::string last_text_;
};

TEST_F(MetricsEndpointTest, NeedsTheApiKeyLikeEveryOtherRoute) {
  EXPECT_EQ(client_->Get("/metrics").status, 401);
  EXPECT_EQ(client_->Call("GET", "/metrics", "", {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(client_->Call("GET", "/metrics", "", {absl::StrCat("x-api-key: ", key_)}).status, 200);
  HttpResponse post = Call("POST", "/metrics", "{}");
  EXPECT_EQ(post.status, 405) << post.body;
  // Those requests were counted: route "none" for the refused ones (answered before routing).
  Exposition m = Scrape();
  EXPECT_EQ(m.ValueOr0("wake_http_requests_total", {{"method", "GET"}, {"route", "none"}, {"status", "401"}}), 2);
  EXPECT_EQ(m.ValueOr0("wake_http_requests_total", {{"method", "GET"}, {"route", "/metrics"}, {"status", "200"}}), 1);
  EXPECT_EQ(m.ValueOr0("wake_http_requests_total", {{"method", "POST"}, {"route", "/metrics"}, {"status", "405"}}), 1);
}

TEST_F(MetricsEndpointTest, AScriptedTurnWithToolCallsMovesTheCountsExactly) {
  const Exposition before = Scrape();
  // Registered up front: the families are exposed (with their types) before anything happened.
  EXPECT_EQ(before.Type("wake_turn_seconds"), "histogram");
  EXPECT_EQ(before.Type("wake_model_ttft_seconds"), "histogram");
  EXPECT_EQ(before.Type("wake_hand_execute_seconds"), "histogram");
  EXPECT_EQ(before.Type("wake_errors_total"), "counter");
  EXPECT_EQ(before.Type("wake_sessions_running"), "gauge");
  EXPECT_EQ(before.ValueOr0("wake_turn_seconds_count"), 0);

  const std::string agent = Create(
      "/v1/agents", absl::StrCat(R"({"name":"m","model":"scripted:)", script_, R"(","tools":[{"type":"agent_toolset_20260401"}]})"));
  const std::string environment = Create("/v1/environments", R"({"name":"e","config":{"type":"local"}})");
  const std::string session =
      Create("/v1/sessions", absl::StrCat(R"({"agent":")", agent, R"(","environment_id":")", environment, R"("})"));
  SseClient stream(client_->base() + "/v1/sessions/" + session + "/events/stream",
                   {absl::StrCat("x-api-key: ", key_)});
  ASSERT_EQ(stream.WaitForHead(), 200);
  HttpResponse sent = Call("POST", "/v1/sessions/" + session + "/events",
                           R"({"events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}]})");
  ASSERT_EQ(sent.status, 200) << sent.body;
  ASSERT_TRUE(stream.WaitForEvent("session.status_idle")) << stream.body();
  engine_->WaitUntilQuiet();  // the wake has returned: the scheduler's gauges are settled

  const Exposition m = Scrape();
  auto moved = [&](const std::string& name, const Labels& labels = {}) {
    return m.ValueOr0(name, labels) - before.ValueOr0(name, labels);
  };
  // One turn, one wake, whose first step was the model call; two model calls.
  EXPECT_EQ(moved("wake_turn_seconds_count"), 1);
  EXPECT_EQ(moved("wake_turn_seconds_bucket", {{"le", "+Inf"}}), 1);
  EXPECT_EQ(moved("wake_wakes_total"), 1);
  EXPECT_EQ(moved("wake_wake_seconds_count"), 1);
  EXPECT_EQ(moved("wake_model_ttft_seconds_count"), 2);
  EXPECT_EQ(moved("wake_model_request_seconds_count"), 2);
  // Two tool calls on one local hand, provisioned once (lazily, at the first call); one exited 3.
  EXPECT_EQ(moved("wake_hand_execute_seconds_count", {{"backend", "local"}}), 2);
  EXPECT_EQ(moved("wake_hand_provision_seconds_count", {{"backend", "local"}, {"kind", "new"}}), 1);
  EXPECT_EQ(moved("wake_errors_total", {{"type", "tool_error"}}), 1);
  EXPECT_EQ(moved("wake_errors_total", {{"type", "wake_error"}}), 0);
  EXPECT_EQ(moved("wake_errors_total", {{"type", "hand_lost"}}), 0);
  // Appends: the client's user.message; the harness' 1 (running + woke + span start) + 1 (turn) +
  // 2 x (tool started, tool result) + 1 (span start) + 1 (turn + idle) = 8.
  EXPECT_EQ(moved("wake_log_append_seconds_count", {{"caller", "client"}}), 1);
  EXPECT_EQ(moved("wake_log_append_seconds_count", {{"caller", "harness"}}), 8);
  // Nothing running or queued any more.
  EXPECT_EQ(m.Value("wake_sessions_running"), 0);
  EXPECT_EQ(m.Value("wake_sessions_queued"), 0);

  // HTTP: by route template and status; the ids never appear in a label.
  auto requests = [&](const std::string& method, const std::string& route, const std::string& status) {
    return moved("wake_http_requests_total", {{"method", method}, {"route", route}, {"status", status}});
  };
  EXPECT_EQ(requests("POST", "/v1/agents", "200"), 1);
  EXPECT_EQ(requests("POST", "/v1/environments", "200"), 1);
  EXPECT_EQ(requests("POST", "/v1/sessions", "200"), 1);
  EXPECT_EQ(requests("GET", "/v1/sessions/{id}/events/stream", "200"), 1);
  EXPECT_EQ(requests("POST", "/v1/sessions/{id}/events", "200"), 1);
  EXPECT_EQ(requests("GET", "/metrics", "200"), 1);  // the first scrape; this one is counted once answered
  EXPECT_EQ(moved("wake_http_request_seconds_count", {{"method", "POST"}, {"route", "/v1/sessions/{id}/events"}}), 1);
  EXPECT_FALSE(absl::StrContains(last_text_, session)) << last_text_;
  EXPECT_FALSE(absl::StrContains(last_text_, agent)) << last_text_;

  // Every histogram's +Inf bucket equals its _count (the parser checks it) and every sum is finite.
  for (const auto& [key, value] : m.samples()) {
    EXPECT_TRUE(std::isfinite(value)) << key;
    EXPECT_GE(value, 0) << key;
  }
}

TEST_F(MetricsEndpointTest, ATurnWithoutABrainCountsItsSessionError) {
  const Exposition before = Scrape();
  EXPECT_EQ(before.Value("wake_errors_total", {{"type", "unknown_error"}}), 0);  // exposed at 0 from the start
  // A script that does not exist: no brain can be made, and the engine ends the turn with session.error.
  const std::string agent = Create("/v1/agents", absl::StrCat(R"({"name":"m","model":"scripted:)", dir_,
                                                              R"(/missing.json"})"));
  const std::string session = Create("/v1/sessions", absl::StrCat(R"({"agent":")", agent, R"("})"));
  HttpResponse sent = Call("POST", "/v1/sessions/" + session + "/events",
                           R"({"events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}]})");
  ASSERT_EQ(sent.status, 200) << sent.body;
  engine_->WaitUntilQuiet();
  const Exposition m = Scrape();
  EXPECT_EQ(m.Value("wake_errors_total", {{"type", "unknown_error"}}), 1);
  EXPECT_EQ(m.Value("wake_errors_total", {{"type", "wake_error"}}), 0);  // the wake itself succeeded
  EXPECT_EQ(m.Value("wake_wakes_total"), 1);
  EXPECT_EQ(m.ValueOr0("wake_turn_seconds_count"), 0);  // no harness ran
  EXPECT_EQ(m.Value("wake_sessions_running"), 0);
}

}  // namespace
}  // namespace wake
