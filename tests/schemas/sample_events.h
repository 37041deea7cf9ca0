#pragma once
// Realistic events of every type, shared by the codec tests. Each sample sets only the fields its
// type uses, so a codec round trip must reproduce it exactly.

#include <string>
#include <vector>

#include "schemas/event.h"

namespace wake::testing {

// A few events per type (several content block shapes, both stop reasons with and without ids,
// optional fields present and absent), every type at least once. All have an id and processed_at.
std::vector<Event> SampleEvents();

// A test-name-safe label for an event, e.g. "agent_tool_use_7".
std::string SampleName(const Event& event, size_t index);

}  // namespace wake::testing
