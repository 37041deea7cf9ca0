#pragma once
// The Managed Agents probe (`wakectl probe`): the lifecycle a platform team checks before adopting a
// Managed Agents endpoint (Anthropic's API, waked, or another server with the same API), timed step
// by step: environment create, agent create, session create (cold start), turn 1 (the agent is given
// a unique token to remember), turn 2 (asked to quote it back), and the session archived. It passes
// when every step up to turn 2 succeeded and turn 2's answer holds the token (state continuity: the
// second turn saw the first).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"

namespace wake {

struct ProbeOptions {
  std::string model = "claude-sonnet-4-5";
  std::string token;  // "" : a fresh random one ("wake-probe-<hex>")
  absl::Duration turn_timeout = absl::Minutes(5);
};

struct ProbeStep {
  std::string name;  // "environment_create", "agent_create", "session_create", "turn_1", "turn_2", "session_archive"
  bool ok = false;
  absl::Duration duration;
  std::string detail;  // the id made, the agent's answer, or the error
};

struct ProbeReport {
  std::vector<ProbeStep> steps;  // in order; stops after the first failed step before the archive
  std::string token;
  std::string session_id;
  bool continuity = false;  // turn 2's answer quotes the token
  bool passed = false;
};

// Runs the probe with `client` (whose options carry the URL, the key and the headers). Never fails
// as a whole: a failing step is in the report.
ProbeReport RunProbe(const Client& client, const ProbeOptions& options);

// The report as one JSON object, and as readable lines.
std::string ProbeReportJson(const ProbeReport& report);
std::string ProbeReportText(const ProbeReport& report);

}  // namespace wake
