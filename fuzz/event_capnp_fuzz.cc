// The Cap'n Proto event reader on untrusted bytes (a damaged store, an import): it either reports
// DataLoss (or a missing blob) or decodes an event that encodes and decodes to the same event, and
// decoding over an Event that held another gives the same result.
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

  // Decoding over an Event that held another (SessionLog::Scan) fails alike, or gives the same event.
  wake::Event reused;
  reused.type = wake::EventType::kAgentToolUse;
  reused.id = "sevt_previous";
  reused.name = "previous_tool";
  reused.input_json = "{}";
  reused.deny_message = "previous";
  reused.stop_reason.event_ids = {"a", "b"};
  wake::ContentBlock previous_block;
  previous_block.kind = wake::ContentBlock::Kind::kDocument;
  previous_block.data = "previous data";
  previous_block.title = "previous title";
  reused.content = {previous_block, previous_block};
  const absl::Status over = wake::DecodeEventOver(bytes, no_blobs, reused);
  FUZZ_CHECK(over.code() == event.status().code(), "decoding over another event fails as a fresh decode does");
  if (!event.ok()) return 0;
  FUZZ_CHECK(reused == *event, "decoding over another event gives the fresh decode's event");
  absl::StatusOr<std::string> encoded = wake::EncodeEvent(*event);
  if (!encoded.ok()) return 0;  // decodable yet incomplete for its type: the writer refuses it
  absl::StatusOr<wake::Event> again = wake::DecodeEvent(*encoded, no_blobs);
  FUZZ_CHECK(again.ok(), "an encoded event decodes");
  FUZZ_CHECK(*again == *event, "a round trip keeps the event");
  return 0;
}
