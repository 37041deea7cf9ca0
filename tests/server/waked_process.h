#pragma once
// Test programs run as real processes (waked, wakectl): start, wait, and read the URL waked prints.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace wake::testing {

// Starts `argv` (argv[0] a path) with stdout to `out` (truncated) and stderr appended to `err`, and
// `env` ("NAME=value") added to this process's environment. Everything the child needs is prepared
// before fork: tests have threads, so the child calls only async-signal-safe functions before exec.
// -1 when fork fails.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out, const std::string& err,
            const std::vector<std::string>& env = {});

// Waits up to `timeout` for `pid` to exit; its wait status, or nullopt when it is still running.
std::optional<int> WaitExit(pid_t pid, absl::Duration timeout);

// Waits for waked (`pid`, stdout in `out`) to print "listening on http://HOST:PORT": "http://HOST:PORT",
// or "" when it exited first or `timeout` passed (then it is killed); either way it is reaped and
// `error` says which, with its stderr's tail.
std::string WaitForUrl(pid_t pid, const std::string& out, const std::string& err, absl::Duration timeout,
                       std::string* error);

}  // namespace wake::testing
