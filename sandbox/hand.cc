#include "sandbox/hand.h"

namespace wake {

bool IsIdempotentTool(std::string_view name) { return name == "read" || name == "glob" || name == "grep" || name == "session_history"; }

}  // namespace wake
