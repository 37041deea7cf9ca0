// ResolveToolPath, the lexical half of path confinement: any path it accepts is the work dir or
// beneath it, in normal form (no `.`, `..` or empty components), and resolving it again is a no-op.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "fuzz/fuzz_util.h"
#include "sandbox/toolset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kWorkDir = "/work/dir";
  const std::string_view path(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> resolved = wake::ResolveToolPath(kWorkDir, path);
  if (!resolved.ok()) return 0;
  FUZZ_CHECK(*resolved == kWorkDir || absl::StartsWith(*resolved, kWorkDir + "/"), "stays beneath the work dir");
  for (absl::string_view part : absl::StrSplit(absl::string_view(*resolved).substr(1), '/')) {
    FUZZ_CHECK(!part.empty() && part != "." && part != "..", "normal form");
  }
  FUZZ_CHECK(resolved->find('\0') == std::string::npos, "no NUL reaches a system call");
  absl::StatusOr<std::string> again = wake::ResolveToolPath(kWorkDir, *resolved);
  FUZZ_CHECK(again.ok() && *again == *resolved, "resolving is idempotent");
  return 0;
}
