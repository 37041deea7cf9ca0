#pragma once
// Helpers shared by the storage tests and the crash_appender child.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "schemas/event.h"

namespace wake::testing {

// A fresh, empty directory under $TEST_TMPDIR or /tmp; removed by the caller if it wants.
std::string MakeTempDir(const std::string& name);
void RemoveDir(const std::string& path);

// A user.message whose text is derived from `tag`, so a reader can check it: "message <tag>"
// padded with `padding` 'x' characters.
Event TextMessage(EventType type, const std::string& tag, size_t padding = 0);
// An agent.tool_use with a JSON input.
Event ToolUse(const std::string& name, const std::string& input_json);

}  // namespace wake::testing
