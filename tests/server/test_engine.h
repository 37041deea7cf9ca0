#pragma once
// The Engine the in-process server tests run (served_engine_test.h, disk_full_test) and the client
// and managed-agents tests start a server in front of.

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"

namespace wake::testing {

// Data under `data_dir`, hands from `local` under the backend name "local" (not owned; it must
// outlive the engine), 2 workers, a 200 ms shutdown grace so a test's tear-down is quick.
inline absl::StatusOr<std::unique_ptr<Engine>> OpenTestEngine(const std::string& data_dir, HandProvider* local) {
  EngineOptions options;
  options.data_dir = data_dir;
  options.hand_providers = {{"local", local}};
  options.workers = 2;
  options.shutdown_grace = absl::Milliseconds(200);
  return Engine::Open(std::move(options));
}

}  // namespace wake::testing
