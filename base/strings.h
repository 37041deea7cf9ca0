#pragma once
// Debian's Abseil 20220623 is built with ABSL_OPTION_USE_STD_STRING_VIEW 0: absl::string_view is its
// own type, and absl::StrCat / absl::Status do not accept std::string_view. wake's interfaces use
// std::string_view; this is the one place that bridges the two.

#include <string_view>

#include "absl/strings/string_view.h"

namespace wake {

inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view FromAbsl(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace wake
