#include "tests/schemas/sample_events.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"

namespace wake::testing {
namespace {

// 2025-11-22T11:08:26.123456Z plus a few microseconds per event.
absl::Time At(int64_t offset_us) { return absl::FromUnixMicros(1'763'809'706'123'456 + offset_us); }

// A 1x1 transparent PNG, as clients send images.
constexpr char kPngBase64[] =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

ContentBlock Text(std::string text) {
  ContentBlock b;
  b.kind = ContentBlock::Kind::kText;
  b.text = std::move(text);
  return b;
}

ContentBlock Sourced(ContentBlock::Kind kind, ContentBlock::SourceKind source, std::string data,
                     std::string media_type = "") {
  ContentBlock b;
  b.kind = kind;
  b.source = source;
  b.data = std::move(data);
  b.media_type = std::move(media_type);
  return b;
}

ContentBlock Redacted() {
  ContentBlock b;
  b.kind = ContentBlock::Kind::kRedacted;
  return b;
}

Event Base(EventType type, int n) {
  Event e;
  e.type = type;
  e.id = absl::StrCat("sevt_01JD3Z4V6W8X9Y0ZABCDE", 100 + n);
  e.processed_at = At(n * 1000 + n);
  return e;
}

}  // namespace

std::vector<Event> SampleEvents() {
  using Kind = ContentBlock::Kind;
  using Src = ContentBlock::SourceKind;
  std::vector<Event> events;
  int n = 0;
  auto add = [&](EventType type) -> Event& {
    events.push_back(Base(type, n++));
    return events.back();
  };

  {
    Event& e = add(EventType::kUserMessage);
    e.content.push_back(Text("Fix the failing test in src/parser.cc \xE2\x80\x94 it says \"expected ';'\"\n"
                             "\tThanks! \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x9A\x80 back\\slash \x01\x1F"));
    e.content.push_back(Sourced(Kind::kImage, Src::kBase64, kPngBase64, "image/png"));
    ContentBlock doc = Sourced(Kind::kDocument, Src::kUrl, "https://www.rfc-editor.org/rfc/rfc8259.txt");
    doc.title = "RFC 8259: The JSON Data Interchange Format";
    doc.context = "The grammar the API speaks";
    e.content.push_back(doc);
    e.content.push_back(Sourced(Kind::kDocument, Src::kText, "Plain notes.\nLine two.", "text/plain"));
    ContentBlock pdf = Sourced(Kind::kDocument, Src::kBase64, "JVBERi0xLjQK", "application/pdf");
    pdf.title = "";  // present but empty is distinct from absent
    e.content.push_back(pdf);
    e.content.push_back(Sourced(Kind::kDocument, Src::kFile, "file_011CNha8iCJcU1wXNR6q4V8w"));
    e.content.push_back(Sourced(Kind::kImage, Src::kUrl, "https://example.com/diagram.png?size=large&v=2"));
    e.content.push_back(Sourced(Kind::kImage, Src::kFile, "file_011CPMxVD3fHLUhvTqtsQA5w"));
    e.content.push_back(Redacted());
  }
  {
    Event& e = add(EventType::kUserMessage);
    e.content.push_back(Text("hello"));
  }
  add(EventType::kUserInterrupt);
  {
    Event& e = add(EventType::kUserToolConfirmation);
    e.tool_use_id = "sevt_01JD3Z4V6W8X9Y0ZABCDEFGTOOL";
    e.allow = true;
  }
  {
    Event& e = add(EventType::kUserToolConfirmation);
    e.tool_use_id = "sevt_01JD3Z4V6W8X9Y0ZABCDEFGTOOL";
    e.allow = false;
    e.deny_message = "Don't touch /etc \xE2\x80\x94 use a scratch dir.";
  }
  {
    Event& e = add(EventType::kUserCustomToolResult);
    e.tool_use_id = "sevt_01JD3Z4V6W8X9Y0ZABCDEFGCUST";
    e.content.push_back(Text("{\"temperature_c\": 21.5, \"conditions\": \"fog\"}"));
    e.is_error = false;
  }
  {
    Event& e = add(EventType::kAgentMessage);
    e.content.push_back(Text("I'll run the tests first."));
    e.content.push_back(Redacted());
    e.content.push_back(Text("Then I'll fix `parse()`:\n```cpp\nif (c == '\"') return;\n```"));
  }
  add(EventType::kAgentThinking);
  {
    Event& e = add(EventType::kAgentToolUse);
    e.name = "bash";
    e.input_json = R"({"command":"grep -rn \"TODO\" src/ | head -n 5\n","timeout_ms":30000})";
  }
  {
    Event& e = add(EventType::kAgentToolResult);
    e.tool_use_id = "sevt_01JD3Z4V6W8X9Y0ZABCDEFGTOOL";
    e.content.push_back(Text("src/a.cc:12: // TODO: handle \\r\\n\r\nsrc/b.cc:40: // TODO\n"));
    e.content.push_back(Sourced(Kind::kImage, Src::kBase64, kPngBase64, "image/png"));
    e.is_error = true;
  }
  {
    Event& e = add(EventType::kAgentToolResult);  // no content, is_error unstated
    e.tool_use_id = "sevt_01JD3Z4V6W8X9Y0ZABCDEFGTOO2";
  }
  {
    Event& e = add(EventType::kAgentCustomToolUse);
    e.name = "get_weather";
    e.input_json =
        R"({"location":"San Francisco, CA","unit":"celsius","days":[1,2,3],"precise":true,"ratio":0.5,)"
        R"("extra":null,"nested":{"a":{"b":[]}},"note":"caf)" "\xC3\xA9" R"( \"quoted\"\t"})";
  }
  add(EventType::kAgentThreadContextCompacted);
  add(EventType::kSessionStatusRunning);
  add(EventType::kSessionStatusIdle);  // end_turn
  {
    Event& e = add(EventType::kSessionStatusIdle);
    e.stop_reason.kind = StopReason::Kind::kRequiresAction;
    e.stop_reason.event_ids = {"sevt_01JD3Z4V6W8X9Y0ZABCDEFGTOOL", "sevt_01JD3Z4V6W8X9Y0ZABCDEFGCUST"};
  }
  add(EventType::kSessionStatusIdle).stop_reason.kind = StopReason::Kind::kRetriesExhausted;
  add(EventType::kSessionStatusRescheduled);
  add(EventType::kSessionStatusTerminated);
  {
    Event& e = add(EventType::kSessionError);
    e.error.type = "model_overloaded_error";
    e.error.message = "Overloaded";
    e.error.retry_status = SessionErrorInfo::RetryStatus::kRetrying;
  }
  {
    Event& e = add(EventType::kSessionError);
    e.error.type = "unknown_error";
    e.error.message = "upstream closed the stream: \"unexpected EOF\"";
    e.error.retry_status = SessionErrorInfo::RetryStatus::kExhausted;
  }
  add(EventType::kSpanModelRequestStart);
  {
    Event& e = add(EventType::kSpanModelRequestEnd);
    e.model_request_start_id = "sevt_01JD3Z4V6W8X9Y0ZABCDEFGSPAN";
    e.is_error = false;
    e.model_usage = {.input_tokens = 2095,
                     .output_tokens = 503,
                     .cache_creation_input_tokens = 1024,
                     .cache_read_input_tokens = 18432};
  }
  {
    Event& e = add(EventType::kSpanModelRequestEnd);  // failed request: is_error unstated, zero usage
    e.model_request_start_id = "sevt_01JD3Z4V6W8X9Y0ZABCDEFGSPA2";
  }
  {
    Event& e = add(EventType::kToolStarted);
    e.tool_use_id = "sevt_01JD3Z4V6W8X9Y0ZABCDEFGTOOL";
    e.name = "bash";
    e.idempotency_key = "sesn_01JD3Z4V6W8X9Y0ZABCDEFGHJK/7";
  }
  {
    Event& e = add(EventType::kHandProvisioned);
    e.hand_id = "hand_01JD3Z4V6W8X9Y0ZABCDEFGHJK";
    e.hand_backend = "docker";
    e.duration_us = 734'512;
  }
  {
    Event& e = add(EventType::kHandProvisioned);  // an earlier process's sandbox found again
    e.hand_id = "hand_01JD3Z4V6W8X9Y0ZABCDEFGHJK";
    e.hand_backend = "docker";
    e.duration_us = 41'803;
    e.reason = "reattached";
  }
  {
    Event& e = add(EventType::kHandLost);
    e.hand_id = "hand_01JD3Z4V6W8X9Y0ZABCDEFGHJK";
    e.hand_backend = "ssh";
    e.reason = "connection reset by peer";
  }
  {
    Event& e = add(EventType::kHandReleased);
    e.hand_id = "hand_01JD3Z4V6W8X9Y0ZABCDEFGHJK";
    e.hand_backend = "local";
  }
  {
    Event& e = add(EventType::kHarnessWoke);
    e.worker_id = "worker-3@build-host";
    e.lease_epoch = 42;
  }
  {
    Event& e = add(EventType::kHarnessWoke);  // an epoch above INT64_MAX (JSON UINT64 path)
    e.worker_id = "w";
    e.lease_epoch = (uint64_t{1} << 63) + 5;
  }
  {
    Event& e = add(EventType::kRewound);
    e.rewound_to_seq = 12;
  }
  return events;
}

std::string SampleName(const Event& event, size_t index) {
  return absl::StrCat(absl::StrReplaceAll(std::string(EventTypeName(event.type)), {{".", "_"}}), "_", index);
}

}  // namespace wake::testing
