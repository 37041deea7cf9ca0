#pragma once
// Structured logs: one JSON object per line, {"ts":..., "level":..., "msg":..., <fields>}, written
// whole with one call to the sink so concurrent lines never interleave. Thread-safe (the sink must
// be, as the default stderr one is).

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace wake::server_internal {

class JsonLog {
 public:
  using Sink = std::function<void(std::string_view line)>;
  using Value = std::variant<std::string_view, int64_t, double, bool>;

  // An empty sink writes to stderr.
  explicit JsonLog(Sink sink);

  // Empty string values are left out, so optional fields (a session id) need no special casing.
  void Write(std::string_view level, std::string_view msg,
             std::initializer_list<std::pair<std::string_view, Value>> fields) const;

 private:
  Sink sink_;
};

}  // namespace wake::server_internal
