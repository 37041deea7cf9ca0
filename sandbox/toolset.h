#pragma once
// The standard toolset, written once over a Hand's three primitives, with the Managed Agents input
// shapes:
//
//   bash  {command, timeout_ms?, restart?}        /bin/sh -c in the work dir; stdout, then stderr
//   read  {file_path, view_range?: [first, last]} numbered lines ("%6d\t"), last = -1 for the end
//   write {file_path, content}                    creates or replaces, parent dirs made
//   edit  {file_path, old_string, new_string, replace_all?}
//   glob  {pattern, path?}                        files under path matching pattern (`*`, `?`,
//                                                 `[...]`, `**` across directories), sorted
//   grep  {pattern, path?}                        extended regex, recursive, "file:line:text"
//
// Every command runs in a fresh shell: there is no shell state between calls, so `restart` has
// nothing to reset and only says so.
//
// Paths are relative to the hand's work dir or absolute; one that leaves the work dir (lexically,
// `..` included) is refused before the hand sees it, and the local backend also refuses symlinks out.
//
// A tool's own failure is a ToolResult with is_error and a message a model can act on: malformed
// input (naming the field), a non-zero exit (with the exit code), a timeout (the process tree was
// killed), a cancel, a missing file, an ambiguous edit, truncated output (said in the text). A non-OK
// Status only when the hand itself failed (Unavailable: dead, unreachable).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/cancel.h"
#include "sandbox/hand.h"

namespace wake {

struct ToolsetOptions {
  absl::Duration default_bash_timeout = absl::Minutes(2);
  absl::Duration max_bash_timeout = absl::Minutes(10);
  // Per output stream of a process the tool runs: what a model can usefully read.
  size_t output_cap = 100 * 1024;
  // A file larger than this is not read (read, edit).
  size_t max_file_bytes = 16 << 20;
  // What `read` returns at most; the text says when it stopped early.
  size_t max_read_output = 256 * 1024;
  size_t max_glob_results = 1000;
  // Added to every process the tools run (from HandResources, e.g. secrets a resource asked for).
  std::vector<std::pair<std::string, std::string>> env;
};

// Name, description and JSON Schema of one standard tool, for a model's tool list.
struct ToolSpec {
  std::string name;
  std::string description;
  std::string input_schema_json;  // compact JSON Schema object
};

// The six standard tools, in a fixed order.
const std::vector<ToolSpec>& StandardTools();
bool IsStandardTool(std::string_view name);

// Runs `call` on `hand`. An unknown tool name is a tool error naming the known ones.
absl::StatusOr<ToolResult> RunTool(Hand& hand, const ToolCall& call, const CancelToken* cancel,
                                   const ToolsetOptions& options);

// `path` (absolute, or relative to `work_dir`) made absolute and normal (no `.`, `..`, `//`), or
// InvalidArgument when it leaves `work_dir` or is empty. `work_dir` is absolute and normal.
absl::StatusOr<std::string> ResolveToolPath(std::string_view work_dir, std::string_view path);

// Whether `path` (relative, '/'-separated) matches the glob `pattern`: `*` and `?` within one path
// component, `[...]` character classes (with `!` or `^` negation and ranges), `**` as a whole
// component for zero or more directories.
bool GlobMatch(std::string_view pattern, std::string_view path);

}  // namespace wake
