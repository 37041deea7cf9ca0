#pragma once
// The hand conformance suite: one set of tests every backend (local, docker, ssh) passes, run over the
// toolset and the primitives of a real provisioned hand.
//
// A backend's test binary links hand_conformance_test.cc with a fixture file of its own that
// instantiates the suite:
//
//   const wake::testing::HandBackendFixture kDocker = {...};
//   INSTANTIATE_TEST_SUITE_P(Docker, HandConformanceTest, ::testing::Values(&kDocker),
//                            [](const auto&) { return std::string("docker"); });

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "sandbox/hand.h"
#include "sandbox/toolset.h"

namespace wake::testing {

struct HandBackendFixture {
  std::string name;  // "local", "docker", "ssh"
  // A provider ready to provision (the daemon or server it needs is running). Called once per test.
  std::function<absl::StatusOr<std::unique_ptr<HandProvider>>()> make_provider;
  // Kills `hand`'s sandbox from outside the engine, as a crash of the sandbox would (docker kill,
  // the sshd serving its connection killed, the local work dir's processes killed and the dir
  // removed). After it, the hand's calls fail Unavailable.
  std::function<absl::Status(Hand& hand)> kill_from_outside;
};

class HandConformanceTest : public ::testing::TestWithParam<const HandBackendFixture*> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Runs a standard tool on hand_ (expecting the hand to run it: an OK status).
  ToolResult Tool(std::string_view name, std::string_view input_json, const CancelToken* cancel = nullptr);
  // Runs the shell `command` with bash, expects success, returns its output.
  std::string Sh(std::string_view command);

  ToolsetOptions options_;
  int calls_ = 0;

  std::unique_ptr<HandProvider> provider_;
  std::unique_ptr<Hand> hand_;  // provisioned for session_id_
  std::string session_id_;
};

}  // namespace wake::testing
