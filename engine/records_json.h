#pragma once
// The JSON bodies the engine keeps in its DocumentStore for agents and environments. wake's own,
// stable storage format (not the Managed Agents API shape, which waked maps to and from): field
// names are never renamed, unknown fields are ignored on read so older binaries can read newer
// records.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace wake {

std::string EncodeAgentSpecJson(const AgentSpec& spec);
// DataLoss when the stored text is not an agent record.
absl::StatusOr<AgentSpec> DecodeAgentSpecJson(std::string_view json);

std::string EncodeEnvironmentSpecJson(const EnvironmentSpec& spec);
absl::StatusOr<EnvironmentSpec> DecodeEnvironmentSpecJson(std::string_view json);

}  // namespace wake
