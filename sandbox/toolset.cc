#include "sandbox/toolset.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "simdjson.h"

namespace wake {
namespace {

namespace dom = simdjson::dom;

// `s` cut at every `sep` (std::string_view pieces: Debian's abseil has its own string_view).
std::vector<std::string_view> Split(std::string_view s, char sep, bool skip_empty) {
  std::vector<std::string_view> parts;
  while (true) {
    const size_t at = s.find(sep);
    std::string_view part = s.substr(0, at);
    if (!skip_empty || !part.empty()) parts.push_back(part);
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Results.

ToolResult Text(std::string text, bool is_error = false) {
  ToolResult result;
  ContentBlock block;
  block.text = std::move(text);
  result.content.push_back(std::move(block));
  result.is_error = is_error;
  return result;
}

ToolResult Error(std::string text) { return Text(std::move(text), /*is_error=*/true); }

// A hand failure passes through as a Status (the pool replaces the hand); any other error of a file
// primitive is the tool's failure, told to the model.
absl::StatusOr<ToolResult> FileError(const absl::Status& status, std::string_view tool, std::string_view path) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return status;
    case absl::StatusCode::kNotFound:
      return Error(absl::StrCat(ToAbsl(tool), ": ", ToAbsl(path), " does not exist"));
    case absl::StatusCode::kFailedPrecondition:
      return Error(absl::StrCat(ToAbsl(tool), ": ", ToAbsl(path), " is not a regular file (", status.message(), ")"));
    case absl::StatusCode::kOutOfRange:
      return Error(absl::StrCat(ToAbsl(tool), ": ", ToAbsl(path), " is too large (", status.message(), ")"));
    default:
      return Error(absl::StrCat(ToAbsl(tool), ": ", ToAbsl(path), ": ", status.message()));
  }
}

// ---------------------------------------------------------------------------------------------
// Input: a JSON object whose known fields must have the right types. Unknown fields are ignored
// (models add some), a missing required one is an error naming it.

class Input {
 public:
  static absl::StatusOr<Input> Parse(std::string_view tool, std::string_view json) {
    Input input(tool);
    simdjson::padded_string padded(json);
    dom::element root;
    if (input.parser_->parse(padded).get(root) != simdjson::SUCCESS || root.get(input.object_) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(tool), ": the input is not a JSON object"));
    }
    return input;
  }

  absl::StatusOr<std::string> String(std::string_view key) const {
    ASSIGN_OR_RETURN(std::optional<std::string> value, OptionalString(key));
    if (!value) return Missing(key, "a string");
    return *std::move(value);
  }

  absl::StatusOr<std::optional<std::string>> OptionalString(std::string_view key) const {
    dom::element value;
    if (!Get(key, value)) return std::nullopt;
    std::string_view text;
    if (value.get(text) != simdjson::SUCCESS) return WrongType(key, "a string");
    return std::string(text);
  }

  absl::StatusOr<std::optional<bool>> OptionalBool(std::string_view key) const {
    dom::element value;
    if (!Get(key, value)) return std::nullopt;
    bool b = false;
    if (value.get(b) != simdjson::SUCCESS) return WrongType(key, "true or false");
    return b;
  }

  absl::StatusOr<std::optional<int64_t>> OptionalInt(std::string_view key) const {
    dom::element value;
    if (!Get(key, value)) return std::nullopt;
    int64_t n = 0;
    if (value.get(n) != simdjson::SUCCESS) return WrongType(key, "an integer");
    return n;
  }

  // An optional array of exactly two integers.
  absl::StatusOr<std::optional<std::pair<int64_t, int64_t>>> OptionalIntPair(std::string_view key) const {
    dom::element value;
    if (!Get(key, value)) return std::nullopt;
    dom::array array;
    if (value.get(array) != simdjson::SUCCESS || array.size() != 2) return WrongType(key, "an array of two integers");
    int64_t first = 0;
    int64_t second = 0;
    if (array.at(0).get(first) != simdjson::SUCCESS || array.at(1).get(second) != simdjson::SUCCESS) {
      return WrongType(key, "an array of two integers");
    }
    return std::make_pair(first, second);
  }

 private:
  explicit Input(std::string_view tool) : tool_(tool), parser_(std::make_unique<dom::parser>()) {}

  // Present and not null.
  bool Get(std::string_view key, dom::element& value) const {
    return object_.at_key(key).get(value) == simdjson::SUCCESS && !value.is_null();
  }
  absl::Status Missing(std::string_view key, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(tool_), ": the input needs \"", ToAbsl(key), "\" (", ToAbsl(what), ")"));
  }
  absl::Status WrongType(std::string_view key, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(tool_), ": \"", ToAbsl(key), "\" must be ", ToAbsl(what)));
  }

  std::string tool_;
  // Behind a pointer so an Input can move: the object points into the parser's document.
  std::unique_ptr<dom::parser> parser_;
  dom::object object_;
};

// ---------------------------------------------------------------------------------------------
// Process output as a model reads it.

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0.
size_t Utf8Length(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = byte(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < n || byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
  }
  return n;
}

// Process output as text a model (and a JSON event) can carry: each byte that is not part of a
// well-formed UTF-8 sequence becomes U+FFFD.
std::string ValidUtf8(std::string_view data) {
  std::string out;
  out.reserve(data.size());
  while (!data.empty()) {
    const size_t n = Utf8Length(data);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");
      data.remove_prefix(1);
    } else {
      out.append(data.substr(0, n));
      data.remove_prefix(n);
    }
  }
  return out;
}

std::string Capped(const std::string& data, bool truncated, size_t cap) {
  if (!truncated) return ValidUtf8(data);
  return absl::StrCat(ValidUtf8(data), "\n[output truncated: only the first ", cap, " bytes are shown]");
}

// A one-line summary of why a run did not succeed, or "" when it exited 0.
std::string Failure(const RunOutcome& outcome, absl::Duration timeout) {
  if (outcome.cancelled) return "The command was cancelled (interrupted); its processes were killed.";
  if (outcome.timed_out) {
    return absl::StrCat("The command timed out after ", absl::FormatDuration(timeout),
                        "; its processes were killed.");
  }
  if (!outcome.exited) return absl::StrCat("The command was killed by signal ", outcome.term_signal, ".");
  if (outcome.exit_code != 0) return absl::StrCat("Exit code ", outcome.exit_code, ".");
  return "";
}

// Quotes a path for the messages (not a shell: argv never goes through one).
std::string Quoted(std::string_view s) { return absl::StrCat("\"", ToAbsl(s), "\""); }

// `path` relative to `work_dir` for display, when it is inside it.
std::string_view Relative(std::string_view work_dir, std::string_view path) {
  if (path == work_dir) return ".";
  if (path.size() > work_dir.size() && path.substr(0, work_dir.size()) == work_dir && path[work_dir.size()] == '/') {
    return path.substr(work_dir.size() + (work_dir == "/" ? 0 : 1));
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// The tools.

class Toolset {
 public:
  Toolset(Hand& hand, const CancelToken* cancel, const ToolsetOptions& options)
      : hand_(hand), cancel_(cancel), options_(options) {}

  absl::StatusOr<ToolResult> Run(const ToolCall& call) {
    absl::StatusOr<ToolResult> result = Dispatch(call);
    // Bad input is the model's to fix: a tool error, not a hand failure.
    if (!result.ok() && result.status().code() == absl::StatusCode::kInvalidArgument) {
      return Error(std::string(result.status().message()));
    }
    return result;
  }

 private:
  absl::StatusOr<ToolResult> Dispatch(const ToolCall& call) {
    ASSIGN_OR_RETURN(Input input, Input::Parse(call.name, call.input_json));
    if (call.name == "bash") return Bash(input);
    if (call.name == "read") return Read(input);
    if (call.name == "write") return Write(input);
    if (call.name == "edit") return Edit(input);
    if (call.name == "glob") return Glob(input);
    if (call.name == "grep") return Grep(input);
    std::vector<std::string> names;
    for (const ToolSpec& spec : StandardTools()) names.push_back(spec.name);
    return Error(absl::StrCat("unknown tool ", Quoted(call.name), "; this hand runs ", absl::StrJoin(names, ", ")));
  }

  absl::StatusOr<std::string> PathField(const Input& input, std::string_view tool, std::string_view key,
                                        bool required) {
    std::optional<std::string> raw;
    if (required) {
      ASSIGN_OR_RETURN(raw, input.String(key));
    } else {
      ASSIGN_OR_RETURN(raw, input.OptionalString(key));
    }
    if (!raw) return hand_.work_dir();
    absl::StatusOr<std::string> path = ResolveToolPath(hand_.work_dir(), *raw);
    if (!path.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(tool), ": ", path.status().message()));
    }
    return path;
  }

  // `command` run on `base` (a path ResolveToolPath accepted) only if `base` also stays in the work
  // dir physically. ResolveToolPath is lexical; a symlink planted in the work dir (`ln -s / x`) would
  // otherwise take find or grep out of it, since both follow the symlinks of a path they are given.
  // (Inside the tree, grep -r and find do not follow links.) The check and the command share one
  // shell, so it costs no extra process; a nonexistent base goes straight to the command, whose own
  // error says so.
  static std::vector<std::string> Confined(const std::string& base, std::vector<std::string> command) {
    std::vector<std::string> argv = {
        "/bin/sh", "-c",
        "[ -e \"$1\" ] || { shift; exec \"$@\"; }\n"
        "root=$(readlink -f .) && real=$(readlink -f -- \"$1\") || exit 2\n"
        "case \"$real/\" in \"$root\"/*) shift; exec \"$@\";; esac\n"
        "echo \"$1: a symbolic link leads outside the work dir\" >&2; exit 2",
        "sh", base};
    argv.insert(argv.end(), std::make_move_iterator(command.begin()), std::make_move_iterator(command.end()));
    return argv;
  }

  absl::StatusOr<RunOutcome> RunProcess(RunRequest request) {
    for (const auto& kv : options_.env) request.env.push_back(kv);
    request.output_cap = options_.output_cap;
    return hand_.Run(request, cancel_);
  }

  absl::StatusOr<ToolResult> Bash(const Input& input) {
    ASSIGN_OR_RETURN(std::optional<bool> restart, input.OptionalBool("restart"));
    ASSIGN_OR_RETURN(std::optional<std::string> command, input.OptionalString("command"));
    if (restart.value_or(false) && !command) {
      return Text("The shell was restarted. (Every command runs in a fresh shell: no state carries over.)");
    }
    if (!command) return input.String("command").status();  // the missing-field error
    if (command->empty()) return Error("bash: \"command\" is empty");
    ASSIGN_OR_RETURN(std::optional<int64_t> timeout_ms, input.OptionalInt("timeout_ms"));
    absl::Duration timeout = options_.default_bash_timeout;
    if (timeout_ms) {
      if (*timeout_ms <= 0) return Error("bash: \"timeout_ms\" must be positive");
      timeout = std::min(absl::Milliseconds(*timeout_ms), options_.max_bash_timeout);
    }
    RunRequest request;
    request.shell = *command;
    request.timeout = timeout;
    ASSIGN_OR_RETURN(RunOutcome outcome, RunProcess(std::move(request)));

    std::string text = Capped(outcome.stdout_data, outcome.stdout_truncated, options_.output_cap);
    if (!outcome.stderr_data.empty() || outcome.stderr_truncated) {
      if (!text.empty() && text.back() != '\n') text.push_back('\n');
      absl::StrAppend(&text, Capped(outcome.stderr_data, outcome.stderr_truncated, options_.output_cap));
    }
    const std::string failure = Failure(outcome, timeout);
    if (!failure.empty()) {
      if (!text.empty() && text.back() != '\n') text.push_back('\n');
      absl::StrAppend(&text, failure);
    }
    if (text.empty()) text = "(no output)";
    return Text(std::move(text), !failure.empty());
  }

  absl::StatusOr<ToolResult> Read(const Input& input) {
    ASSIGN_OR_RETURN(std::string path, PathField(input, "read", "file_path", /*required=*/true));
    ASSIGN_OR_RETURN(auto range, input.OptionalIntPair("view_range"));
    absl::StatusOr<std::string> data = hand_.ReadFile(path, options_.max_file_bytes);
    if (!data.ok()) return FileError(data.status(), "read", path);
    if (data->find('\0') != std::string::npos) {
      return Error(absl::StrCat("read: ", path, " is a binary file (", data->size(),
                                " bytes); only text files can be shown"));
    }
    std::vector<std::string_view> lines = Split(*data, '\n', /*skip_empty=*/false);
    if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the newline that ends the file
    int64_t first = 1;
    int64_t last = static_cast<int64_t>(lines.size());
    if (range) {
      first = range->first;
      last = range->second == -1 ? last : range->second;
      if (first < 1 || last < first || (range->second != -1 && last > static_cast<int64_t>(lines.size()))) {
        return Error(absl::StrCat("read: view_range [", range->first, ", ", range->second, "] is not within ",
                                  path, ", which has ", lines.size(), " lines (lines count from 1; -1 ends at the last)"));
      }
    }
    if (lines.empty()) return Text(absl::StrCat(path, " is empty"));
    std::string out;
    char number[24];
    for (int64_t i = first; i <= last; ++i) {
      std::snprintf(number, sizeof(number), "%6lld\t", static_cast<long long>(i));
      absl::StrAppend(&out, number, ValidUtf8(lines[i - 1]), "\n");
      if (out.size() > options_.max_read_output) {
        absl::StrAppend(&out, "[stopped after line ", i, " of ", lines.size(),
                        ": use view_range to read further]");
        break;
      }
    }
    return Text(std::move(out));
  }

  absl::StatusOr<ToolResult> Write(const Input& input) {
    ASSIGN_OR_RETURN(std::string path, PathField(input, "write", "file_path", /*required=*/true));
    ASSIGN_OR_RETURN(std::string content, input.String("content"));
    if (absl::Status s = hand_.WriteFile(path, content); !s.ok()) return FileError(s, "write", path);
    return Text(absl::StrCat("Wrote ", content.size(), " bytes to ", path));
  }

  absl::StatusOr<ToolResult> Edit(const Input& input) {
    ASSIGN_OR_RETURN(std::string path, PathField(input, "edit", "file_path", /*required=*/true));
    ASSIGN_OR_RETURN(std::string old_string, input.String("old_string"));
    ASSIGN_OR_RETURN(std::string new_string, input.String("new_string"));
    ASSIGN_OR_RETURN(std::optional<bool> replace_all, input.OptionalBool("replace_all"));
    if (old_string.empty()) return Error("edit: \"old_string\" is empty; use write to create a file");
    if (old_string == new_string) return Error("edit: \"old_string\" and \"new_string\" are the same");
    absl::StatusOr<std::string> data = hand_.ReadFile(path, options_.max_file_bytes);
    if (!data.ok()) return FileError(data.status(), "edit", path);
    std::vector<size_t> at;
    for (size_t pos = data->find(old_string); pos != std::string::npos;
         pos = data->find(old_string, pos + old_string.size())) {
      at.push_back(pos);
    }
    if (at.empty()) return Error(absl::StrCat("edit: old_string was not found in ", path, "; nothing changed"));
    if (at.size() > 1 && !replace_all.value_or(false)) {
      return Error(absl::StrCat("edit: old_string occurs ", at.size(), " times in ", path,
                                "; add surrounding lines to make it unique, or set replace_all; nothing changed"));
    }
    std::string edited;
    edited.reserve(data->size() + at.size() * new_string.size());
    size_t from = 0;
    for (size_t pos : at) {
      edited.append(*data, from, pos - from);
      edited.append(new_string);
      from = pos + old_string.size();
    }
    edited.append(*data, from, std::string::npos);
    if (absl::Status s = hand_.WriteFile(path, edited); !s.ok()) return FileError(s, "edit", path);
    return Text(absl::StrCat("Edited ", path, ": ", at.size(), at.size() == 1 ? " replacement" : " replacements"));
  }

  absl::StatusOr<ToolResult> Glob(const Input& input) {
    ASSIGN_OR_RETURN(std::string pattern, input.String("pattern"));
    ASSIGN_OR_RETURN(std::string base, PathField(input, "glob", "path", /*required=*/false));
    if (pattern.empty()) return Error("glob: \"pattern\" is empty");
    RunRequest request;
    // find's own output: one path per line, every regular file under base (busybox's find as well).
    request.argv = Confined(base, {"find", base, "-type", "f"});
    request.timeout = options_.default_bash_timeout;
    ASSIGN_OR_RETURN(RunOutcome outcome, RunProcess(std::move(request)));
    if (const std::string failure = Failure(outcome, options_.default_bash_timeout); !failure.empty()) {
      if (outcome.exited && outcome.stdout_data.empty()) {
        return Error(absl::StrCat("glob: cannot list ", base, ": ", ValidUtf8(outcome.stderr_data)));
      }
      // find exits non-zero on an unreadable subdirectory but lists the rest: use what it found.
    }
    std::vector<std::string> matches;
    const std::string prefix = base == "/" ? base : base + "/";
    for (std::string_view line : Split(outcome.stdout_data, '\n', /*skip_empty=*/true)) {
      if (line.substr(0, prefix.size()) != prefix) continue;
      if (GlobMatch(pattern, line.substr(prefix.size()))) {
        matches.push_back(ValidUtf8(Relative(hand_.work_dir(), line)));
      }
    }
    std::sort(matches.begin(), matches.end());
    if (matches.empty()) return Text(absl::StrCat("No files match ", Quoted(pattern), " under ", base));
    std::string out;
    const size_t shown = std::min(matches.size(), options_.max_glob_results);
    for (size_t i = 0; i < shown; ++i) absl::StrAppend(&out, matches[i], "\n");
    if (shown < matches.size()) {
      absl::StrAppend(&out, "[", matches.size() - shown, " more matches not shown: narrow the pattern]\n");
    }
    if (outcome.stdout_truncated) absl::StrAppend(&out, "[the listing was too long and was cut: narrow path]\n");
    return Text(std::move(out));
  }

  absl::StatusOr<ToolResult> Grep(const Input& input) {
    ASSIGN_OR_RETURN(std::string pattern, input.String("pattern"));
    ASSIGN_OR_RETURN(std::string base, PathField(input, "grep", "path", /*required=*/false));
    if (pattern.empty()) return Error("grep: \"pattern\" is empty");
    RunRequest request;
    request.argv = Confined(base, {"grep", "-rnE", "--", pattern, base});
    request.cwd = "";
    request.timeout = options_.default_bash_timeout;
    ASSIGN_OR_RETURN(RunOutcome outcome, RunProcess(std::move(request)));
    if (outcome.cancelled || outcome.timed_out || !outcome.exited) {
      return Error(Failure(outcome, options_.default_bash_timeout));
    }
    // grep: 0 = lines matched, 1 = none, 2 = an error (a bad regex, an unreadable file).
    if (outcome.exit_code == 1) return Text(absl::StrCat("No matches for ", Quoted(pattern), " under ", base));
    if (outcome.exit_code != 0 && outcome.stdout_data.empty()) {
      return Error(absl::StrCat("grep: ", outcome.stderr_data.empty() ? "failed" : ValidUtf8(outcome.stderr_data)));
    }
    std::string out;
    const std::string prefix = hand_.work_dir() == "/" ? "/" : hand_.work_dir() + "/";
    for (std::string_view line : Split(outcome.stdout_data, '\n', /*skip_empty=*/true)) {
      if (line.substr(0, prefix.size()) == prefix) line.remove_prefix(prefix.size());
      absl::StrAppend(&out, ValidUtf8(line), "\n");
    }
    if (outcome.stdout_truncated) {
      absl::StrAppend(&out, "[output truncated after ", options_.output_cap, " bytes: narrow the pattern or path]\n");
    }
    return Text(std::move(out));
  }

  Hand& hand_;
  const CancelToken* cancel_;
  const ToolsetOptions& options_;
};

// Matches one path component against one pattern component (no '/').
bool MatchComponent(std::string_view pattern, std::string_view name) {
  size_t p = 0;
  size_t n = 0;
  size_t star_p = std::string_view::npos;
  size_t star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star_p = p++;
      star_n = n;
      continue;
    }
    if (p < pattern.size() && pattern[p] == '[') {
      // A character class: [abc], [a-z], [!x] / [^x]. An unterminated '[' is a literal.
      size_t q = p + 1;
      bool negate = q < pattern.size() && (pattern[q] == '!' || pattern[q] == '^');
      if (negate) ++q;
      size_t close = pattern.find(']', q + 1);
      if (close != std::string_view::npos) {
        bool hit = false;
        for (size_t i = q; i < close; ++i) {
          if (i + 2 < close && pattern[i + 1] == '-') {
            hit = hit || (name[n] >= pattern[i] && name[n] <= pattern[i + 2]);
            i += 2;
          } else {
            hit = hit || name[n] == pattern[i];
          }
        }
        if (hit != negate) {
          p = close + 1;
          ++n;
          continue;
        }
      } else if (name[n] == '[') {
        ++p;
        ++n;
        continue;
      }
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p + 1;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool MatchComponents(const std::vector<std::string_view>& pattern, size_t p,
                     const std::vector<std::string_view>& path, size_t n) {
  while (p < pattern.size()) {
    if (pattern[p] == "**") {
      // Zero or more whole components.
      for (size_t skip = n; skip <= path.size(); ++skip) {
        if (MatchComponents(pattern, p + 1, path, skip)) return true;
      }
      return false;
    }
    if (n == path.size() || !MatchComponent(pattern[p], path[n])) return false;
    ++p;
    ++n;
  }
  return n == path.size();
}

}  // namespace

const std::vector<ToolSpec>& StandardTools() {
  static const std::vector<ToolSpec>* const kTools = new std::vector<ToolSpec>{
      {"bash", "Run a shell command (/bin/sh -c) in the work dir. Returns stdout, then stderr, and the exit code when it is not 0. Each command runs in a fresh shell.",
       R"json({"type":"object","properties":{"command":{"type":"string","description":"The command to run"},"timeout_ms":{"type":"integer","description":"Kill the command after this many milliseconds (default 120000, at most 600000)"},"restart":{"type":"boolean","description":"Restart the shell"}},"required":["command"]})json"},
      {"read", "Read a text file, with line numbers. view_range [first, last] (from 1; last -1 for the end) reads part of it.",
       R"({"type":"object","properties":{"file_path":{"type":"string"},"view_range":{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":2}},"required":["file_path"]})"},
      {"write", "Create or replace a file with the given content; missing parent directories are made.",
       R"({"type":"object","properties":{"file_path":{"type":"string"},"content":{"type":"string"}},"required":["file_path","content"]})"},
      {"edit", "Replace old_string with new_string in a file. old_string must occur exactly once unless replace_all is true.",
       R"({"type":"object","properties":{"file_path":{"type":"string"},"old_string":{"type":"string"},"new_string":{"type":"string"},"replace_all":{"type":"boolean"}},"required":["file_path","old_string","new_string"]})"},
      {"glob", "List files matching a glob pattern (* ? [...] and ** across directories) under path (default: the work dir), sorted.",
       R"({"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string"}},"required":["pattern"]})"},
      {"grep", "Search file contents recursively with an extended regular expression under path (default: the work dir). Prints file:line:text.",
       R"({"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string"}},"required":["pattern"]})"},
  };
  return *kTools;
}

bool IsStandardTool(std::string_view name) {
  const std::vector<ToolSpec>& tools = StandardTools();
  return std::any_of(tools.begin(), tools.end(), [&](const ToolSpec& t) { return t.name == name; });
}

absl::StatusOr<ToolResult> RunTool(Hand& hand, const ToolCall& call, const CancelToken* cancel,
                                   const ToolsetOptions& options) {
  return Toolset(hand, cancel, options).Run(call);
}

absl::StatusOr<std::string> ResolveToolPath(std::string_view work_dir, std::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("the path is empty");
  if (path.find('\0') != std::string_view::npos) return absl::InvalidArgumentError("the path contains a NUL byte");
  std::string joined = path.front() == '/' ? std::string(path) : absl::StrCat(ToAbsl(work_dir), "/", ToAbsl(path));
  std::vector<std::string_view> parts;
  for (std::string_view part : Split(joined, '/', /*skip_empty=*/true)) {
    if (part == ".") continue;
    if (part == "..") {
      if (parts.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Quoted(path), " is outside the work dir ", ToAbsl(work_dir), "; paths must stay inside it"));
      }
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string normal;
  for (std::string_view part : parts) absl::StrAppend(&normal, "/", ToAbsl(part));
  if (normal.empty()) normal = "/";
  const bool inside = work_dir == "/" || normal == work_dir ||
                      (normal.size() > work_dir.size() && normal.compare(0, work_dir.size(), work_dir) == 0 &&
                       normal[work_dir.size()] == '/');
  if (!inside) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quoted(path), " is outside the work dir ", ToAbsl(work_dir), "; paths must stay inside it"));
  }
  return normal;
}

bool GlobMatch(std::string_view pattern, std::string_view path) {
  std::vector<std::string_view> pattern_parts = Split(pattern, '/', /*skip_empty=*/true);
  std::vector<std::string_view> path_parts = Split(path, '/', /*skip_empty=*/true);
  return MatchComponents(pattern_parts, 0, path_parts, 0);
}

}  // namespace wake
