// The event JSON decoder on untrusted bytes (API bodies, imports): it either rejects the input or
// decodes an event that encodes to JSON it decodes again to the same event (what the API returns
// can always be read back), in both modes (stored events and client params).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "schemas/event_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  for (wake::JsonEventMode mode : {wake::JsonEventMode::kStored, wake::JsonEventMode::kClientParams}) {
    absl::StatusOr<wake::Event> event = wake::DecodeEventJson(json, mode);
    if (!event.ok()) {
      FUZZ_CHECK(!event.status().message().empty(), "a rejection says why");
      continue;
    }
    if (mode != wake::JsonEventMode::kStored) continue;  // params have no id: not a stored event
    const std::string encoded = wake::EncodeEventJson(*event);
    absl::StatusOr<wake::Event> again = wake::DecodeEventJson(encoded, wake::JsonEventMode::kStored);
    FUZZ_CHECK(again.ok(), "an encoded event decodes");
    FUZZ_CHECK(wake::EncodeEventJson(*again) == encoded, "encoding is stable over a round trip");
  }
  (void)wake::DecodeEventSendParams(json);  // the body of POST /v1/sessions/{id}/events
  absl::StatusOr<std::string> compact = wake::CompactJsonObject(json);
  if (compact.ok()) {
    absl::StatusOr<std::string> twice = wake::CompactJsonObject(*compact);
    FUZZ_CHECK(twice.ok() && *twice == *compact, "compaction is idempotent");
  }
  return 0;
}
