#pragma once
// Conversions between sandbox/hand.h's types and their hand.capnp wire form, used by both ends of
// the hand agent protocol (the agent and AgentConnection).

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/strings.h"
#include "sandbox/hand.h"
#include "schemas/hand.capnp.h"

namespace wake::agent_internal {

// The protocol version ping reports; bumped when the meaning of a field changes.
inline constexpr uint32_t kProtocolVersion = 1;

inline std::string_view View(capnp::Text::Reader text) { return std::string_view(text.cStr(), text.size()); }
inline std::string_view View(capnp::Data::Reader data) {
  return std::string_view(reinterpret_cast<const char*>(data.begin()), data.size());
}
inline capnp::Data::Reader AsData(std::string_view bytes) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size());
}
inline capnp::Text::Reader AsText(std::string_view text) { return capnp::Text::Reader(text.data(), text.size()); }

inline void ToWire(const absl::Status& status, agent_wire::Status::Builder out) {
  out.setCode(static_cast<uint32_t>(status.code()));
  out.setMessage(AsText(FromAbsl(status.message())));
}

inline absl::Status FromWire(agent_wire::Status::Reader status) {
  if (status.getCode() == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.getCode()), ToAbsl(View(status.getMessage())));
}

inline void ToWire(const RunRequest& request, uint64_t run_id, agent_wire::RunRequest::Builder out) {
  auto argv = out.initArgv(static_cast<unsigned>(request.argv.size()));
  for (size_t i = 0; i < request.argv.size(); ++i) argv.set(static_cast<unsigned>(i), AsText(request.argv[i]));
  out.setShell(AsText(request.shell));
  out.setStdin(AsData(request.stdin_data));
  auto env = out.initEnv(static_cast<unsigned>(request.env.size()));
  for (size_t i = 0; i < request.env.size(); ++i) {
    env[static_cast<unsigned>(i)].setName(AsText(request.env[i].first));
    env[static_cast<unsigned>(i)].setValue(AsText(request.env[i].second));
  }
  out.setCwd(AsText(request.cwd));
  out.setTimeoutNanos(absl::ToInt64Nanoseconds(request.timeout));
  out.setOutputCap(request.output_cap);
  out.setRunId(run_id);
}

inline RunRequest FromWire(agent_wire::RunRequest::Reader in) {
  RunRequest request;
  for (capnp::Text::Reader arg : in.getArgv()) request.argv.emplace_back(View(arg));
  request.shell = std::string(View(in.getShell()));
  request.stdin_data = std::string(View(in.getStdin()));
  for (agent_wire::EnvVar::Reader var : in.getEnv()) {
    request.env.emplace_back(std::string(View(var.getName())), std::string(View(var.getValue())));
  }
  request.cwd = std::string(View(in.getCwd()));
  request.timeout = absl::Nanoseconds(in.getTimeoutNanos());
  request.output_cap = static_cast<size_t>(in.getOutputCap());
  return request;
}

inline void ToWire(const RunOutcome& outcome, agent_wire::RunOutcome::Builder out) {
  out.setExited(outcome.exited);
  out.setExitCode(outcome.exit_code);
  out.setTermSignal(outcome.term_signal);
  out.setTimedOut(outcome.timed_out);
  out.setCancelled(outcome.cancelled);
  out.setStdout(AsData(outcome.stdout_data));
  out.setStderr(AsData(outcome.stderr_data));
  out.setStdoutTruncated(outcome.stdout_truncated);
  out.setStderrTruncated(outcome.stderr_truncated);
}

inline RunOutcome FromWire(agent_wire::RunOutcome::Reader in) {
  RunOutcome outcome;
  outcome.exited = in.getExited();
  outcome.exit_code = in.getExitCode();
  outcome.term_signal = in.getTermSignal();
  outcome.timed_out = in.getTimedOut();
  outcome.cancelled = in.getCancelled();
  outcome.stdout_data = std::string(View(in.getStdout()));
  outcome.stderr_data = std::string(View(in.getStderr()));
  outcome.stdout_truncated = in.getStdoutTruncated();
  outcome.stderr_truncated = in.getStderrTruncated();
  return outcome;
}

}  // namespace wake::agent_internal
