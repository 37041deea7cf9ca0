// The SSE parser (model streams, the Managed Agents stream) on untrusted bytes: however the stream
// is cut into chunks, the same events come out, and nothing crashes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/sse_parser.h"
#include "fuzz/fuzz_util.h"

namespace {

struct Parsed {
  std::vector<std::string> events;  // event, id, data of each, joined
  bool ok = true;
};

Parsed Parse(std::string_view stream, size_t chunk) {
  wake::SseParser parser;
  Parsed out;
  for (size_t at = 0; at < stream.size() && out.ok; at += chunk) {
    absl::Status s = parser.Feed(stream.substr(at, chunk), [&](const wake::SseEvent& e) {
      out.events.push_back(e.event + '\x1f' + e.id + '\x1f' + e.data);
      return absl::OkStatus();
    });
    out.ok = s.ok();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 16;  // the first byte picks how the rest is cut
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Parsed whole = Parse(stream, stream.size() + 1);
  const Parsed cut = Parse(stream, chunk);
  FUZZ_CHECK(whole.ok == cut.ok, "chunking does not change whether a stream is valid");
  if (whole.ok) FUZZ_CHECK(whole.events == cut.events, "chunking does not change the events");
  return 0;
}
