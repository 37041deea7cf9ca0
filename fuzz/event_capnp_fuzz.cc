// The Cap'n Proto event reader on untrusted bytes (a damaged store, an import): it either reports
// DataLoss (or a missing blob) or decodes an event that encodes and decodes to the same event.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "schemas/event_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const wake::BlobGet no_blobs = [](std::string_view) -> absl::StatusOr<std::string> {
    return absl::NotFoundError("no blob store");
  };
  absl::StatusOr<wake::Event> event = wake::DecodeEvent(bytes, no_blobs);
  if (!event.ok()) return 0;
  absl::StatusOr<std::string> encoded = wake::EncodeEvent(*event);
  if (!encoded.ok()) return 0;  // decodable yet incomplete for its type: the writer refuses it
  absl::StatusOr<wake::Event> again = wake::DecodeEvent(*encoded, no_blobs);
  FUZZ_CHECK(again.ok(), "an encoded event decodes");
  FUZZ_CHECK(*again == *event, "a round trip keeps the event");
  return 0;
}
