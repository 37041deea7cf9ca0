#pragma once
// SseParser: a server-sent-events decoder fed with byte chunks as they arrive from the network, cut
// at arbitrary boundaries (inside a line, between the CR and LF of a CRLF, inside a UTF-8 sequence).
//
// Follows the WHATWG "event stream interpretation": lines end with CRLF, LF or CR; a line starting
// with ':' is a comment; `data:` lines of one event are joined with '\n'; a blank line dispatches the
// event (an event with no data is not dispatched); `id` sets the last event ID, which every later
// event carries until another `id` (one containing NUL is ignored); `retry` and unknown fields are
// ignored; a leading UTF-8 BOM is skipped. An event still being
// assembled when the stream ends is discarded, as the standard says.
//
// Not thread-safe: one parser per stream, used by the thread reading it.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace wake {

struct SseEvent {
  std::string event;  // the `event:` field; "" when the event had none (the standard's "message")
  std::string data;   // the `data:` lines joined with '\n'
  std::string id;     // the last event ID when it was dispatched ("" until the stream sets one)
};

class SseParser {
 public:
  using Handler = absl::FunctionRef<absl::Status(const SseEvent&)>;

  // An event (data plus field names) larger than this is DataLoss: no stream of ours sends one, and
  // the limit keeps a broken peer from growing the buffer without bound.
  static constexpr size_t kMaxEventBytes = 64 * 1024 * 1024;

  // Decodes `bytes`, calling `handler` for each complete event in order. Stops at, and returns, the
  // first non-OK status the handler returns; after an error the parser must not be fed again.
  absl::Status Feed(std::string_view bytes, Handler handler);

  // True when bytes after the last dispatched event are buffered (a line or event not yet ended).
  bool HasPendingData() const;

 private:
  absl::Status ProcessLine(std::string_view line, Handler handler);

  std::string line_;         // the current line, while it is split across chunks
  bool skip_lf_ = false;     // the previous chunk ended with CR: a leading LF completes that CRLF
  bool first_line_ = true;   // the next line is the stream's first (it may start with a BOM)
  SseEvent current_;         // the event being assembled
  bool has_data_ = false;    // current_ has seen a data line (possibly empty)
};

}  // namespace wake
