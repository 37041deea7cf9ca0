#pragma once
// Cap'n Proto encoding of Event: the on-disk format of the session log (schemas/event.capnp).
//
// Large free-form payloads (content block text/data, tool input JSON) may be moved out of the
// encoded event into a blob store: EncodeEvent hands each payload of at least `blob_threshold` bytes
// to `put_blob`, which stores it and returns a reference (opaque to the codec); the encoded event
// keeps only the reference. DecodeEvent asks `get_blob` for each reference and restores the payload,
// so callers always see whole events.
//
// Thread safety: all functions are pure and thread-safe.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "schemas/event.h"

namespace wake {

// Stores `payload` and returns the reference under which it can be read back.
using BlobPut = std::function<absl::StatusOr<std::string>(std::string_view payload)>;
// Returns the payload stored under `ref`; NotFound/DataLoss when it is missing.
using BlobGet = std::function<absl::StatusOr<std::string>(std::string_view ref)>;

struct EncodeOptions {
  // Payloads of this many bytes or more go to `put_blob`. Ignored when put_blob is empty.
  size_t blob_threshold = 64 * 1024;
  BlobPut put_blob;
};

// Encodes `event` as a Cap'n Proto message (flat array of words, not packed). `event.seq` is not
// encoded. InvalidArgument if the event is not complete for its type (e.g. processed_at missing).
absl::StatusOr<std::string> EncodeEvent(const Event& event, const EncodeOptions& options = {});

// Decodes bytes written by EncodeEvent. `bytes` need not be word-aligned (it is copied when it is
// not), and may be untrusted: traversal is bounded and a malformed message is DataLoss, never a
// crash. A blob reference with no `get_blob` is FailedPrecondition. The result's seq is 0.
absl::StatusOr<Event> DecodeEvent(std::string_view bytes, const BlobGet& get_blob = {});

// DecodeEvent into `event`, a default-constructed Event the caller owns (a result vector's new last
// element), so a replay does not move each ~600-byte Event once more. On an error `event` is partly
// filled: discard it.
absl::Status DecodeEventInto(std::string_view bytes, const BlobGet& get_blob, Event& event);

// DecodeEvent over `event`, which may hold an earlier event: every field is overwritten, and the
// memory of its strings and content blocks is reused, so decoding a whole session into one Event
// (SessionLog::Scan) allocates only where an event outgrows the ones before it. On an error `event`
// is partly filled: decode over it again, or discard it.
absl::Status DecodeEventOver(std::string_view bytes, const BlobGet& get_blob, Event& event);

}  // namespace wake
