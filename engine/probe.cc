#include "engine/probe.h"

#include <cstdio>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sandbox/managed_agents/managed_agents_api.h"

namespace wake {
namespace {

std::string FreshToken() {
  std::random_device random;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%08x%08x", random(), random());
  return absl::StrCat("wake-probe-", hex);
}

double Millis(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

ProbeReport RunProbe(const Client& client, const ProbeOptions& options) {
  ProbeReport report;
  report.token = options.token.empty() ? FreshToken() : options.token;
  // Runs one step; false when it failed.
  auto step = [&report](std::string name, auto body) {
    ProbeStep& s = report.steps.emplace_back();
    s.name = std::move(name);
    const absl::Time start = absl::Now();
    absl::StatusOr<std::string> done = body();
    s.duration = absl::Now() - start;
    s.ok = done.ok();
    s.detail = done.ok() ? *done : std::string(done.status().message());
    return s.ok;
  };
  std::string environment_id;
  std::string agent_id;
  TurnOptions turn;
  turn.timeout = options.turn_timeout;
  auto run_turn = [&](const std::string& text) -> absl::StatusOr<std::string> {
    absl::StatusOr<TurnOutcome> outcome = RunTurn(client, report.session_id, text, turn, nullptr);
    if (!outcome.ok()) return outcome.status();
    if (outcome->stop_reason != "end_turn") {
      return absl::FailedPreconditionError(absl::StrCat("the turn ended with ", outcome->stop_reason,
                                                        outcome->errors.empty() ? "" : ": ", outcome->errors.empty() ? "" : outcome->errors.back()));
    }
    return outcome->text;
  };
  const bool lifecycle =
      step("environment_create",
           [&]() -> absl::StatusOr<std::string> {
             auto id = CreateResource(client, "/v1/environments", R"({"name":"wake probe","config":{"type":"cloud"}})");
             if (id.ok()) environment_id = *id;
             return id;
           }) &&
      step("agent_create",
           [&]() -> absl::StatusOr<std::string> {
             auto id = CreateResource(client, "/v1/agents",
                                      absl::StrCat(R"({"name":"wake probe","model":)", JsonQuote(options.model),
                                                   R"(,"system":"You are being probed. Follow the instructions exactly and be brief."})"));
             if (id.ok()) agent_id = *id;
             return id;
           }) &&
      step("session_create",
           [&]() -> absl::StatusOr<std::string> {
             auto id = CreateResource(client, "/v1/sessions",
                                      absl::StrCat(R"({"agent":)", JsonQuote(agent_id), R"(,"environment_id":)",
                                                   JsonQuote(environment_id), R"(,"title":"wake probe"})"));
             if (id.ok()) report.session_id = *id;
             return id;
           }) &&
      step("turn_1",
           [&] {
             return run_turn(absl::StrCat("Remember this token for later: ", report.token, ". Reply with just OK."));
           }) &&
      step("turn_2", [&] {
        return run_turn("What was the token I asked you to remember? Reply with the token only.");
      });
  if (lifecycle) report.continuity = absl::StrContains(report.steps.back().detail, report.token);
  report.passed = lifecycle && report.continuity;
  if (!report.session_id.empty()) {
    step("session_archive", [&]() -> absl::StatusOr<std::string> {
      if (absl::Status archived = ArchiveSession(client, report.session_id); !archived.ok()) return archived;
      return report.session_id;
    });
  }
  return report;
}

std::string ProbeReportJson(const ProbeReport& report) {
  std::string out = absl::StrCat(R"({"passed":)", report.passed ? "true" : "false", R"(,"continuity":)",
                                 report.continuity ? "true" : "false", R"(,"token":)", JsonQuote(report.token),
                                 R"(,"session_id":)", JsonQuote(report.session_id), R"(,"steps":[)");
  for (size_t i = 0; i < report.steps.size(); ++i) {
    const ProbeStep& s = report.steps[i];
    char ms[32];
    std::snprintf(ms, sizeof(ms), "%.3f", Millis(s.duration));
    absl::StrAppend(&out, i == 0 ? "" : ",", R"({"name":)", JsonQuote(s.name), R"(,"ok":)", s.ok ? "true" : "false",
                    R"(,"ms":)", ms, R"(,"detail":)", JsonQuote(s.detail), "}");
  }
  return out + "]}";
}

std::string ProbeReportText(const ProbeReport& report) {
  std::string out;
  for (const ProbeStep& s : report.steps) {
    std::string detail = s.detail;
    for (char& c : detail) c = c == '\n' ? ' ' : c;
    if (detail.size() > 100) detail = absl::StrCat(detail.substr(0, 97), "...");
    char line[96];
    std::snprintf(line, sizeof(line), "%-18s %-4s %10.1f ms  ", s.name.c_str(), s.ok ? "ok" : "FAIL", Millis(s.duration));
    absl::StrAppend(&out, line, detail, "\n");
  }
  bool turn_2_ran = false;
  for (const ProbeStep& s : report.steps) turn_2_ran = turn_2_ran || (s.name == "turn_2" && s.ok);
  absl::StrAppend(&out, "continuity         ", report.continuity ? "ok  " : "FAIL",
                  report.continuity ? "  turn 2 quoted the token "
                  : turn_2_ran      ? "  turn 2 did not quote the token "
                                    : "  not checked (the lifecycle failed) for the token ",
                  report.token, "\n", report.passed ? "PASS" : "FAIL", "\n");
  return out;
}

}  // namespace wake
