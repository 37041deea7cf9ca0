#include "server/internal/log.h"

#include <cstdio>

#include "absl/time/clock.h"
#include "schemas/event_json.h"
#include "server/internal/json.h"

namespace wake::server_internal {

JsonLog::JsonLog(Sink sink) : sink_(std::move(sink)) {
  if (!sink_) {
    sink_ = [](std::string_view line) {
      std::string text(line);
      text.push_back('\n');
      std::fwrite(text.data(), 1, text.size(), stderr);  // one write: stderr is unbuffered
    };
  }
}

void JsonLog::Write(std::string_view level, std::string_view msg,
                    std::initializer_list<std::pair<std::string_view, Value>> fields) const {
  JsonWriter out;
  out.BeginObject();
  out.Key("ts").String(FormatRfc3339(absl::Now()));
  out.Key("level").String(level);
  out.Key("msg").String(msg);
  for (const auto& [key, value] : fields) {
    if (const auto* s = std::get_if<std::string_view>(&value)) {
      if (!s->empty()) out.Key(key).String(*s);
    } else if (const auto* i = std::get_if<int64_t>(&value)) {
      out.Key(key).Int(*i);
    } else if (const auto* d = std::get_if<double>(&value)) {
      out.Key(key).Double(*d);
    } else {
      out.Key(key).Bool(std::get<bool>(value));
    }
  }
  out.EndObject();
  sink_(out.str());
}

}  // namespace wake::server_internal
