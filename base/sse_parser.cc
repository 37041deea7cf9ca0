#include "base/sse_parser.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace wake {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

}  // namespace

absl::Status SseParser::Feed(std::string_view bytes, Handler handler) {
  size_t i = 0;
  if (skip_lf_ && !bytes.empty()) {
    if (bytes[0] == '\n') i = 1;
    skip_lf_ = false;
  }
  while (i < bytes.size()) {
    const size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      if (line_.size() + current_.data.size() + (bytes.size() - i) > kMaxEventBytes) {
        return absl::DataLossError(absl::StrCat("server-sent event larger than ", kMaxEventBytes, " bytes"));
      }
      line_.append(bytes.data() + i, bytes.size() - i);
      break;
    }
    std::string_view line = bytes.substr(i, end - i);
    if (!line_.empty()) {
      line_.append(line.data(), line.size());
      line = line_;
    }
    size_t next = end + 1;
    if (bytes[end] == '\r') {
      if (next < bytes.size()) {
        if (bytes[next] == '\n') ++next;
      } else {
        skip_lf_ = true;  // the LF of this CRLF, if any, starts the next chunk
      }
    }
    RETURN_IF_ERROR(ProcessLine(line, handler));
    line_.clear();
    i = next;
  }
  return absl::OkStatus();
}

bool SseParser::HasPendingData() const { return !line_.empty() || has_data_ || !current_.event.empty(); }

absl::Status SseParser::ProcessLine(std::string_view line, Handler handler) {
  if (first_line_) {
    first_line_ = false;
    if (line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  }
  if (line.empty()) {
    absl::Status status = absl::OkStatus();
    if (has_data_) status = handler(current_);
    current_.event.clear();
    current_.data.clear();
    has_data_ = false;
    return status;
  }
  if (line.front() == ':') return absl::OkStatus();  // a comment
  const size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (current_.data.size() + value.size() + 1 > kMaxEventBytes) {
      return absl::DataLossError(absl::StrCat("server-sent event larger than ", kMaxEventBytes, " bytes"));
    }
    if (has_data_) current_.data.push_back('\n');
    current_.data.append(value.data(), value.size());
    has_data_ = true;
  } else if (field == "event") {
    current_.event.assign(value.data(), value.size());
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) current_.id.assign(value.data(), value.size());
  }
  // "retry" and unknown fields are ignored.
  return absl::OkStatus();
}

}  // namespace wake
