// Event <-> Cap'n Proto (schemas/event.capnp). This is the replay hot path: decoding reads the
// message in place when the bytes are word-aligned and copies each field exactly once into the Event.

#include "schemas/event_codec.h"

#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include "absl/strings/str_cat.h"
#include "absl/utility/utility.h"
#include "base/status_macros.h"
#include "schemas/event.capnp.h"
#include "schemas/internal/event_check.h"

namespace wake {
namespace {

// Nesting of the deepest legitimate event: Event -> body -> content list -> block -> document ->
// source -> payload. The limit leaves room for fields added later while bounding recursion on
// hostile input.
constexpr int kNestingLimit = 24;

capnp::Text::Reader AsText(const std::string& s) { return capnp::Text::Reader(s.data(), s.size()); }

// Into the string's existing memory when it is big enough (see ClearForDecode).
void Assign(std::string& out, capnp::Text::Reader text) { out.assign(text.begin(), text.size()); }

void Assign(std::optional<std::string>& out, bool has, capnp::Text::Reader text) {
  if (!has) {
    out.reset();
    return;
  }
  if (!out) out.emplace();
  Assign(*out, text);
}

// ---------------------------------------------------------------------------------------------------
// Encoding

class Writer {
 public:
  explicit Writer(const EncodeOptions& options) : options_(options) {}

  // Stores `value` inline, or in the blob store when it is large enough and a store was given.
  absl::Status SetPayload(schema::Payload::Builder payload, const std::string& value) const {
    if (options_.put_blob && value.size() >= options_.blob_threshold) {
      absl::StatusOr<std::string> ref = options_.put_blob(value);
      if (!ref.ok()) return ref.status();
      payload.setBlobRef(AsText(*ref));
    } else {
      payload.setInline(AsText(value));
    }
    return absl::OkStatus();
  }

  absl::Status SetContent(capnp::List<schema::ContentBlock>::Builder list,
                          const std::vector<ContentBlock>& blocks) const {
    for (size_t i = 0; i < blocks.size(); ++i) {
      RETURN_IF_ERROR(SetBlock(list[static_cast<unsigned>(i)], blocks[i]));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status SetBlock(schema::ContentBlock::Builder out, const ContentBlock& block) const {
    switch (block.kind) {
      case ContentBlock::Kind::kText:
        return SetPayload(out.initText(), block.text);
      case ContentBlock::Kind::kImage:
        return SetSource(out.initImage().initSource(), block);
      case ContentBlock::Kind::kDocument: {
        schema::DocumentBlock::Builder doc = out.initDocument();
        if (block.title) doc.setTitle(AsText(*block.title));
        if (block.context) doc.setContext(AsText(*block.context));
        return SetSource(doc.initSource(), block);
      }
      case ContentBlock::Kind::kRedacted:
        out.setRedacted();
        return absl::OkStatus();
    }
    return absl::InvalidArgumentError("unknown content block kind");  // CheckEventBody catches it first
  }

  absl::Status SetSource(schema::Source::Builder out, const ContentBlock& block) const {
    switch (block.source) {
      case ContentBlock::SourceKind::kBase64: out.setBase64(); break;
      case ContentBlock::SourceKind::kText: out.setText(); break;
      case ContentBlock::SourceKind::kUrl: out.setUrl(); break;
      case ContentBlock::SourceKind::kFile: out.setFile(); break;
      case ContentBlock::SourceKind::kNone:
        return absl::InvalidArgumentError("image or document without a source");  // checked earlier
    }
    if (!block.media_type.empty()) out.setMediaType(AsText(block.media_type));
    return SetPayload(out.initData(), block.data);
  }

  const EncodeOptions& options_;
};

schema::OptionalBool ToOptionalBool(std::optional<bool> b) {
  if (!b) return schema::OptionalBool::UNSTATED;
  return *b ? schema::OptionalBool::YES : schema::OptionalBool::NO;
}

absl::Status BuildEvent(const Event& e, const Writer& w, schema::Event::Builder out) {
  out.setId(AsText(e.id));
  out.setProcessedAtUs(absl::ToUnixMicros(*e.processed_at));
  switch (e.type) {
    case EventType::kUserMessage:
      return w.SetContent(out.initUserMessage().initContent(static_cast<unsigned>(e.content.size())), e.content);
    case EventType::kUserInterrupt:
      out.initUserInterrupt();
      return absl::OkStatus();
    case EventType::kUserToolConfirmation: {
      schema::UserToolConfirmation::Builder b = out.initUserToolConfirmation();
      b.setToolUseId(AsText(e.tool_use_id));
      b.setAllow(e.allow);
      if (e.deny_message) b.setDenyMessage(AsText(*e.deny_message));
      return absl::OkStatus();
    }
    case EventType::kUserCustomToolResult:
    case EventType::kAgentToolResult: {
      schema::ToolResult::Builder b = e.type == EventType::kAgentToolResult ? out.initAgentToolResult()
                                                                             : out.initUserCustomToolResult();
      b.setToolUseId(AsText(e.tool_use_id));
      b.setIsError(ToOptionalBool(e.is_error));
      return w.SetContent(b.initContent(static_cast<unsigned>(e.content.size())), e.content);
    }
    case EventType::kAgentMessage:
      return w.SetContent(out.initAgentMessage().initContent(static_cast<unsigned>(e.content.size())), e.content);
    case EventType::kAgentThinking:
      out.initAgentThinking();
      return absl::OkStatus();
    case EventType::kAgentToolUse:
    case EventType::kAgentCustomToolUse: {
      schema::ToolUse::Builder b =
          e.type == EventType::kAgentToolUse ? out.initAgentToolUse() : out.initAgentCustomToolUse();
      b.setName(AsText(e.name));
      return w.SetPayload(b.initInput(), e.input_json);
    }
    case EventType::kAgentThreadContextCompacted: {
      schema::AgentThreadContextCompacted::Builder b = out.initAgentThreadContextCompacted();
      b.setThroughSeq(e.compacted_through_seq);
      return w.SetContent(b.initSummary(static_cast<unsigned>(e.content.size())), e.content);
    }
    case EventType::kSessionStatusRunning:
      out.initSessionStatusRunning();
      return absl::OkStatus();
    case EventType::kSessionStatusIdle: {
      schema::StopReason::Builder b = out.initSessionStatusIdle().initStopReason();
      switch (e.stop_reason.kind) {
        case StopReason::Kind::kEndTurn: b.setEndTurn(); break;
        case StopReason::Kind::kRetriesExhausted: b.setRetriesExhausted(); break;
        case StopReason::Kind::kRequiresAction: {
          b.setRequiresAction();
          auto ids = b.initEventIds(static_cast<unsigned>(e.stop_reason.event_ids.size()));
          for (size_t i = 0; i < e.stop_reason.event_ids.size(); ++i) {
            ids.set(static_cast<unsigned>(i), AsText(e.stop_reason.event_ids[i]));
          }
          break;
        }
      }
      return absl::OkStatus();
    }
    case EventType::kSessionStatusRescheduled:
      out.initSessionStatusRescheduled();
      return absl::OkStatus();
    case EventType::kSessionStatusTerminated:
      out.initSessionStatusTerminated();
      return absl::OkStatus();
    case EventType::kSessionError: {
      schema::SessionError::Builder b = out.initSessionError();
      b.setType(AsText(e.error.type));
      b.setMessage(AsText(e.error.message));
      switch (e.error.retry_status) {
        case SessionErrorInfo::RetryStatus::kRetrying: b.setRetryStatus(schema::RetryStatus::RETRYING); break;
        case SessionErrorInfo::RetryStatus::kExhausted: b.setRetryStatus(schema::RetryStatus::EXHAUSTED); break;
        case SessionErrorInfo::RetryStatus::kTerminal: b.setRetryStatus(schema::RetryStatus::TERMINAL); break;
      }
      return absl::OkStatus();
    }
    case EventType::kSpanModelRequestStart:
      out.initSpanModelRequestStart();
      return absl::OkStatus();
    case EventType::kSpanModelRequestEnd: {
      schema::SpanModelRequestEnd::Builder b = out.initSpanModelRequestEnd();
      b.setModelRequestStartId(AsText(e.model_request_start_id));
      b.setIsError(ToOptionalBool(e.is_error));
      b.setInputTokens(e.model_usage.input_tokens);
      b.setOutputTokens(e.model_usage.output_tokens);
      b.setCacheCreationInputTokens(e.model_usage.cache_creation_input_tokens);
      b.setCacheReadInputTokens(e.model_usage.cache_read_input_tokens);
      b.setTimeToFirstTokenUs(e.time_to_first_token_us);
      b.setDurationUs(e.duration_us);
      return absl::OkStatus();
    }
    case EventType::kToolStarted: {
      schema::ToolStarted::Builder b = out.initToolStarted();
      b.setToolUseId(AsText(e.tool_use_id));
      b.setName(AsText(e.name));
      b.setIdempotencyKey(AsText(e.idempotency_key));
      return absl::OkStatus();
    }
    case EventType::kHandProvisioned: {
      schema::HandProvisioned::Builder b = out.initHandProvisioned();
      b.setHandId(AsText(e.hand_id));
      b.setBackend(AsText(e.hand_backend));
      b.setDurationUs(e.duration_us);
      b.setReason(AsText(e.reason));
      return absl::OkStatus();
    }
    case EventType::kHandLost: {
      schema::HandLost::Builder b = out.initHandLost();
      b.setHandId(AsText(e.hand_id));
      b.setBackend(AsText(e.hand_backend));
      b.setReason(AsText(e.reason));
      return absl::OkStatus();
    }
    case EventType::kHandReleased: {
      schema::HandReleased::Builder b = out.initHandReleased();
      b.setHandId(AsText(e.hand_id));
      b.setBackend(AsText(e.hand_backend));
      return absl::OkStatus();
    }
    case EventType::kHarnessWoke: {
      schema::HarnessWoke::Builder b = out.initHarnessWoke();
      b.setWorkerId(AsText(e.worker_id));
      b.setLeaseEpoch(e.lease_epoch);
      return absl::OkStatus();
    }
    case EventType::kRewound:
      out.initRewound().setToSeq(e.rewound_to_seq);
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("unknown event type");  // CheckEventBody catches it first
}

// Words the encoded event will roughly take, so the builder usually needs one segment (one
// allocation, and a reader that never crosses segments).
unsigned EstimateWords(const Event& e) {
  size_t bytes = 256 + e.id.size() + e.name.size() + e.input_json.size() + e.tool_use_id.size() +
                 e.model_request_start_id.size() + e.error.type.size() + e.error.message.size() +
                 e.idempotency_key.size() + e.hand_id.size() + e.reason.size() + e.worker_id.size();
  for (const ContentBlock& b : e.content) {
    bytes += 64 + b.text.size() + b.data.size() + b.media_type.size() + (b.title ? b.title->size() : 0) +
             (b.context ? b.context->size() : 0);
  }
  for (const std::string& id : e.stop_reason.event_ids) bytes += 16 + id.size();
  return static_cast<unsigned>(std::min<size_t>(bytes / 8 + 1, 1u << 28));
}

// ---------------------------------------------------------------------------------------------------
// Decoding

class Reader {
 public:
  explicit Reader(const BlobGet& get_blob) : get_blob_(get_blob) {}

  absl::Status Payload(schema::Payload::Reader payload, std::string& out) const {
    switch (payload.which()) {
      case schema::Payload::INLINE:
        Assign(out, payload.getInline());
        return absl::OkStatus();
      case schema::Payload::BLOB_REF: {
        const capnp::Text::Reader ref = payload.getBlobRef();
        if (!get_blob_) {
          return absl::FailedPreconditionError(
              absl::StrCat("event payload is in blob ", ref.cStr(), " but no blob reader was given"));
        }
        ASSIGN_OR_RETURN(out, get_blob_(std::string_view(ref.begin(), ref.size())));
        return absl::OkStatus();
      }
    }
    return absl::DataLossError(absl::StrCat("unknown payload kind ", static_cast<int>(payload.which())));
  }

  // Fills `out` with the list's blocks in place: blocks `out` already holds (from an earlier event)
  // keep their strings' memory, and every field of each is overwritten.
  absl::Status Content(capnp::List<schema::ContentBlock>::Reader list, std::vector<ContentBlock>& out) const {
    out.resize(list.size());
    for (unsigned i = 0; i < list.size(); ++i) {
      schema::ContentBlock::Reader item = list[i];
      ContentBlock& block = out[i];
      block.text.clear();
      block.source = ContentBlock::SourceKind::kNone;
      block.data.clear();
      block.media_type.clear();
      block.title.reset();
      block.context.reset();
      switch (item.which()) {
        case schema::ContentBlock::TEXT:
          block.kind = ContentBlock::Kind::kText;
          RETURN_IF_ERROR(Payload(item.getText(), block.text));
          break;
        case schema::ContentBlock::IMAGE:
          block.kind = ContentBlock::Kind::kImage;
          RETURN_IF_ERROR(Source(item.getImage().getSource(), block));
          break;
        case schema::ContentBlock::DOCUMENT: {
          block.kind = ContentBlock::Kind::kDocument;
          schema::DocumentBlock::Reader doc = item.getDocument();
          Assign(block.title, doc.hasTitle(), doc.getTitle());
          Assign(block.context, doc.hasContext(), doc.getContext());
          RETURN_IF_ERROR(Source(doc.getSource(), block));
          break;
        }
        case schema::ContentBlock::REDACTED:
          block.kind = ContentBlock::Kind::kRedacted;
          break;
        default:
          return absl::DataLossError(absl::StrCat("unknown content block kind ", static_cast<int>(item.which())));
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Source(schema::Source::Reader source, ContentBlock& block) const {
    switch (source.which()) {
      case schema::Source::BASE64: block.source = ContentBlock::SourceKind::kBase64; break;
      case schema::Source::TEXT: block.source = ContentBlock::SourceKind::kText; break;
      case schema::Source::URL: block.source = ContentBlock::SourceKind::kUrl; break;
      case schema::Source::FILE: block.source = ContentBlock::SourceKind::kFile; break;
      default:
        return absl::DataLossError(absl::StrCat("unknown content source kind ", static_cast<int>(source.which())));
    }
    if (source.hasMediaType()) Assign(block.media_type, source.getMediaType());
    return Payload(source.getData(), block.data);
  }

  const BlobGet& get_blob_;
};

absl::StatusOr<std::optional<bool>> FromOptionalBool(schema::OptionalBool b) {
  switch (b) {
    case schema::OptionalBool::UNSTATED: return std::optional<bool>();
    case schema::OptionalBool::NO: return std::optional<bool>(false);
    case schema::OptionalBool::YES: return std::optional<bool>(true);
  }
  return absl::DataLossError(absl::StrCat("unknown is_error value ", static_cast<int>(b)));
}

absl::Status ReadToolResult(const Reader& r, schema::ToolResult::Reader in, Event& e) {
  Assign(e.tool_use_id, in.getToolUseId());
  ASSIGN_OR_RETURN(e.is_error, FromOptionalBool(in.getIsError()));
  return r.Content(in.getContent(), e.content);
}

absl::Status ReadToolUse(const Reader& r, schema::ToolUse::Reader in, Event& e) {
  Assign(e.name, in.getName());
  return r.Payload(in.getInput(), e.input_json);
}

absl::Status ReadFields(schema::Event::Reader in, const Reader& r, Event& e) {
  Assign(e.id, in.getId());
  e.processed_at = absl::FromUnixMicros(in.getProcessedAtUs());
  switch (in.which()) {
    case schema::Event::USER_MESSAGE:
      e.type = EventType::kUserMessage;
      return r.Content(in.getUserMessage().getContent(), e.content);
    case schema::Event::USER_INTERRUPT:
      e.type = EventType::kUserInterrupt;
      return absl::OkStatus();
    case schema::Event::USER_TOOL_CONFIRMATION: {
      e.type = EventType::kUserToolConfirmation;
      schema::UserToolConfirmation::Reader b = in.getUserToolConfirmation();
      Assign(e.tool_use_id, b.getToolUseId());
      e.allow = b.getAllow();
      Assign(e.deny_message, b.hasDenyMessage(), b.getDenyMessage());
      return absl::OkStatus();
    }
    case schema::Event::USER_CUSTOM_TOOL_RESULT:
      e.type = EventType::kUserCustomToolResult;
      return ReadToolResult(r, in.getUserCustomToolResult(), e);
    case schema::Event::AGENT_MESSAGE:
      e.type = EventType::kAgentMessage;
      return r.Content(in.getAgentMessage().getContent(), e.content);
    case schema::Event::AGENT_THINKING:
      e.type = EventType::kAgentThinking;
      return absl::OkStatus();
    case schema::Event::AGENT_TOOL_USE:
      e.type = EventType::kAgentToolUse;
      return ReadToolUse(r, in.getAgentToolUse(), e);
    case schema::Event::AGENT_TOOL_RESULT:
      e.type = EventType::kAgentToolResult;
      return ReadToolResult(r, in.getAgentToolResult(), e);
    case schema::Event::AGENT_CUSTOM_TOOL_USE:
      e.type = EventType::kAgentCustomToolUse;
      return ReadToolUse(r, in.getAgentCustomToolUse(), e);
    case schema::Event::AGENT_THREAD_CONTEXT_COMPACTED: {
      e.type = EventType::kAgentThreadContextCompacted;
      schema::AgentThreadContextCompacted::Reader compacted = in.getAgentThreadContextCompacted();
      e.compacted_through_seq = compacted.getThroughSeq();
      return r.Content(compacted.getSummary(), e.content);
    }
    case schema::Event::SESSION_STATUS_RUNNING:
      e.type = EventType::kSessionStatusRunning;
      return absl::OkStatus();
    case schema::Event::SESSION_STATUS_IDLE: {
      e.type = EventType::kSessionStatusIdle;
      schema::StopReason::Reader b = in.getSessionStatusIdle().getStopReason();
      switch (b.which()) {
        case schema::StopReason::END_TURN: e.stop_reason.kind = StopReason::Kind::kEndTurn; break;
        case schema::StopReason::RETRIES_EXHAUSTED: e.stop_reason.kind = StopReason::Kind::kRetriesExhausted; break;
        case schema::StopReason::REQUIRES_ACTION: e.stop_reason.kind = StopReason::Kind::kRequiresAction; break;
        default:
          return absl::DataLossError(absl::StrCat("unknown stop reason ", static_cast<int>(b.which())));
      }
      capnp::List<capnp::Text>::Reader ids = b.getEventIds();
      e.stop_reason.event_ids.resize(ids.size());
      for (unsigned i = 0; i < ids.size(); ++i) Assign(e.stop_reason.event_ids[i], ids[i]);
      return absl::OkStatus();
    }
    case schema::Event::SESSION_STATUS_RESCHEDULED:
      e.type = EventType::kSessionStatusRescheduled;
      return absl::OkStatus();
    case schema::Event::SESSION_STATUS_TERMINATED:
      e.type = EventType::kSessionStatusTerminated;
      return absl::OkStatus();
    case schema::Event::SESSION_ERROR: {
      e.type = EventType::kSessionError;
      schema::SessionError::Reader b = in.getSessionError();
      Assign(e.error.type, b.getType());
      Assign(e.error.message, b.getMessage());
      switch (b.getRetryStatus()) {
        case schema::RetryStatus::RETRYING: e.error.retry_status = SessionErrorInfo::RetryStatus::kRetrying; break;
        case schema::RetryStatus::EXHAUSTED: e.error.retry_status = SessionErrorInfo::RetryStatus::kExhausted; break;
        case schema::RetryStatus::TERMINAL: e.error.retry_status = SessionErrorInfo::RetryStatus::kTerminal; break;
        default:
          return absl::DataLossError(
              absl::StrCat("unknown retry status ", static_cast<int>(b.getRetryStatus())));
      }
      return absl::OkStatus();
    }
    case schema::Event::SPAN_MODEL_REQUEST_START:
      e.type = EventType::kSpanModelRequestStart;
      return absl::OkStatus();
    case schema::Event::SPAN_MODEL_REQUEST_END: {
      e.type = EventType::kSpanModelRequestEnd;
      schema::SpanModelRequestEnd::Reader b = in.getSpanModelRequestEnd();
      Assign(e.model_request_start_id, b.getModelRequestStartId());
      ASSIGN_OR_RETURN(e.is_error, FromOptionalBool(b.getIsError()));
      e.model_usage.input_tokens = b.getInputTokens();
      e.model_usage.output_tokens = b.getOutputTokens();
      e.model_usage.cache_creation_input_tokens = b.getCacheCreationInputTokens();
      e.model_usage.cache_read_input_tokens = b.getCacheReadInputTokens();
      e.time_to_first_token_us = b.getTimeToFirstTokenUs();
      e.duration_us = b.getDurationUs();
      return absl::OkStatus();
    }
    case schema::Event::TOOL_STARTED: {
      e.type = EventType::kToolStarted;
      schema::ToolStarted::Reader b = in.getToolStarted();
      Assign(e.tool_use_id, b.getToolUseId());
      Assign(e.name, b.getName());
      Assign(e.idempotency_key, b.getIdempotencyKey());
      return absl::OkStatus();
    }
    case schema::Event::HAND_PROVISIONED: {
      e.type = EventType::kHandProvisioned;
      schema::HandProvisioned::Reader b = in.getHandProvisioned();
      Assign(e.hand_id, b.getHandId());
      Assign(e.hand_backend, b.getBackend());
      e.duration_us = b.getDurationUs();
      Assign(e.reason, b.getReason());
      return absl::OkStatus();
    }
    case schema::Event::HAND_LOST: {
      e.type = EventType::kHandLost;
      schema::HandLost::Reader b = in.getHandLost();
      Assign(e.hand_id, b.getHandId());
      Assign(e.hand_backend, b.getBackend());
      Assign(e.reason, b.getReason());
      return absl::OkStatus();
    }
    case schema::Event::HAND_RELEASED: {
      e.type = EventType::kHandReleased;
      schema::HandReleased::Reader b = in.getHandReleased();
      Assign(e.hand_id, b.getHandId());
      Assign(e.hand_backend, b.getBackend());
      return absl::OkStatus();
    }
    case schema::Event::HARNESS_WOKE: {
      e.type = EventType::kHarnessWoke;
      schema::HarnessWoke::Reader b = in.getHarnessWoke();
      Assign(e.worker_id, b.getWorkerId());
      e.lease_epoch = b.getLeaseEpoch();
      return absl::OkStatus();
    }
    case schema::Event::REWOUND:
      e.type = EventType::kRewound;
      e.rewound_to_seq = in.getRewound().getToSeq();
      return absl::OkStatus();
  }
  // A member added by a newer wake: refuse rather than guess (see event.capnp).
  return absl::DataLossError(absl::StrCat("unknown event kind ", static_cast<int>(in.which())));
}

// Gives every field of `e` but `content` its default value, keeping the memory its strings hold, so
// that decoding into an Event that held an earlier one (SessionLog::Scan decodes a whole session into
// one) allocates only for what outgrows it. Content blocks are kept for Reader::Content to refill.
// A field added to Event must be reset here: EventCodecTest.DecodingOverAnotherEventLeavesNothingOfIt
// fails until it is.
void ClearForDecode(Event& e) {
  e.type = EventType::kUserMessage;
  e.id.clear();
  e.processed_at.reset();
  e.seq = 0;
  e.name.clear();
  e.input_json.clear();
  e.tool_use_id.clear();
  e.is_error.reset();
  e.allow = false;
  e.deny_message.reset();
  e.stop_reason.kind = StopReason::Kind::kEndTurn;
  e.stop_reason.event_ids.clear();
  e.error.type.clear();
  e.error.message.clear();
  e.error.retry_status = SessionErrorInfo::RetryStatus::kTerminal;
  e.model_request_start_id.clear();
  e.model_usage = ModelUsage{};
  e.idempotency_key.clear();
  e.hand_id.clear();
  e.hand_backend.clear();
  e.duration_us = 0;
  e.time_to_first_token_us = 0;
  e.reason.clear();
  e.compacted_through_seq = 0;
  e.rewound_to_seq = 0;
  e.worker_id.clear();
  e.lease_epoch = 0;
}

// Decodes `in` into `e`: a default-constructed Event, or (`reuse`) one holding an earlier event (see
// ClearForDecode; clearing a fresh Event would cost a read ~10 ns per event for nothing).
absl::Status ReadEvent(schema::Event::Reader in, const Reader& r, bool reuse, Event& e) {
  if (!reuse) return ReadFields(in, r, e);
  ClearForDecode(e);
  switch (in.which()) {
    case schema::Event::USER_MESSAGE:
    case schema::Event::USER_CUSTOM_TOOL_RESULT:
    case schema::Event::AGENT_MESSAGE:
    case schema::Event::AGENT_TOOL_RESULT:
    case schema::Event::AGENT_THREAD_CONTEXT_COMPACTED:
      break;  // Reader::Content refills the blocks
    default:
      e.content.clear();
  }
  return ReadFields(in, r, e);
}

// DecodeEvent, filling an Event the caller owns (see DecodeEvent for why).
// `bytes` as 8-byte aligned words: in place when they already are, else a copy. RocksDB values rarely
// are aligned (a memtable entry's value follows its key and two varints; a block packs its values),
// so nearly every event read from the log is copied: into this thread's scratch buffer rather than a
// fresh allocation per event, since a replay decodes millions (a 1,000-event read 2.4 -> 2.5 M/s). A
// decode nested inside another on the same thread (none today) gets a buffer of its own.
class AlignedWords {
 public:
  explicit AlignedWords(std::string_view bytes) {
    if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(capnp::word) == 0) {
      words_ = reinterpret_cast<const capnp::word*>(bytes.data());
      return;
    }
    std::vector<uint64_t>& buffer = scratch_in_use_ ? own_ : scratch_;
    owns_scratch_ = !scratch_in_use_;
    scratch_in_use_ = true;
    const size_t count = (bytes.size() + sizeof(capnp::word) - 1) / sizeof(capnp::word);
    if (buffer.size() < count) buffer.resize(count);
    std::memcpy(buffer.data(), bytes.data(), bytes.size());
    words_ = reinterpret_cast<const capnp::word*>(buffer.data());
  }
  ~AlignedWords() {
    if (!owns_scratch_) return;
    scratch_in_use_ = false;
    // An unusually large event does not pin its buffer for the thread's lifetime.
    if (scratch_.capacity() > kKeptWords) std::vector<uint64_t>().swap(scratch_);
  }
  AlignedWords(const AlignedWords&) = delete;
  AlignedWords& operator=(const AlignedWords&) = delete;

  const capnp::word* words() const { return words_; }

 private:
  static constexpr size_t kKeptWords = 8 * 1024;  // 64 KiB
  // Words as uint64_t: capnp::word is not copyable under every compiler (clang), which std::vector needs.
  static thread_local std::vector<uint64_t> scratch_;
  static thread_local bool scratch_in_use_;

  const capnp::word* words_ = nullptr;
  bool owns_scratch_ = false;
  std::vector<uint64_t> own_;
};
thread_local std::vector<uint64_t> AlignedWords::scratch_;
thread_local bool AlignedWords::scratch_in_use_ = false;

absl::Status DecodeInto(std::string_view bytes, const BlobGet& get_blob, bool reuse, Event& event) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return absl::DataLossError(
        absl::StrCat("event record of ", bytes.size(), " bytes is not a whole number of 8-byte words"));
  }
  const size_t word_count = bytes.size() / sizeof(capnp::word);
  // Cap'n Proto reads words in place, so the buffer must be 8-byte aligned.
  AlignedWords aligned(bytes);
  const capnp::word* words = aligned.words();

  capnp::ReaderOptions options;
  // Reading every field of a well-formed event once touches about as many words as the message has.
  // A bound proportional to the size stops amplification (many pointers to the same data, or lists
  // of zero-size elements) without capping legitimately large events.
  options.traversalLimitInWords = 4 * word_count + 1024;
  options.nestingLimit = kNestingLimit;

  try {
    capnp::FlatArrayMessageReader message(kj::arrayPtr(words, word_count), options);
    if (message.getEnd() != words + word_count) {
      return absl::DataLossError("event record has trailing bytes after the message");
    }
    RETURN_IF_ERROR(ReadEvent(message.getRoot<schema::Event>(), Reader(get_blob), reuse, event));
  } catch (const kj::Exception& e) {
    return absl::DataLossError(absl::StrCat("malformed event record: ", e.getDescription().cStr()));
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("malformed event record: ", e.what()));
  }
  // Well-formed Cap'n Proto can still be an incomplete event (e.g. random bytes that parse).
  if (event.id.empty()) return absl::DataLossError("event record has no id");
  if (absl::Status s = schemas_internal::CheckEventBody(event); !s.ok()) {
    return absl::DataLossError(absl::StrCat("event record ", event.id, " is incomplete: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EncodeEvent(const Event& event, const EncodeOptions& options) {
  if (event.id.empty()) return absl::InvalidArgumentError("event has no id");
  if (!event.processed_at) {
    return absl::InvalidArgumentError(absl::StrCat("event ", event.id, " has no processed_at"));
  }
  RETURN_IF_ERROR(schemas_internal::CheckEventBody(event));
  try {
    capnp::MallocMessageBuilder message(EstimateWords(event));
    RETURN_IF_ERROR(BuildEvent(event, Writer(options), message.initRoot<schema::Event>()));
    // Serialise straight into the result: one copy of the segments, no intermediate word array.
    kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments = message.getSegmentsForOutput();
    std::string out(capnp::computeSerializedSizeInWords(segments) * sizeof(capnp::word), '\0');
    kj::ArrayOutputStream stream(kj::arrayPtr(reinterpret_cast<kj::byte*>(out.data()), out.size()));
    capnp::writeMessage(stream, segments);
    return out;
  } catch (const kj::Exception& e) {
    return absl::InternalError(absl::StrCat("encoding event ", event.id, ": ", e.getDescription().cStr()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("encoding event ", event.id, ": ", e.what()));
  }
}

absl::Status DecodeEventInto(std::string_view bytes, const BlobGet& get_blob, Event& event) {
  return DecodeInto(bytes, get_blob, /*reuse=*/false, event);
}

absl::Status DecodeEventOver(std::string_view bytes, const BlobGet& get_blob, Event& event) {
  return DecodeInto(bytes, get_blob, /*reuse=*/true, event);
}

absl::StatusOr<Event> DecodeEvent(std::string_view bytes, const BlobGet& get_blob) {
  // The event is built inside the result and every path returns that one object, so it is never
  // moved (NRVO): an Event is ~600 bytes of strings and replay decodes millions of them.
  absl::StatusOr<Event> result(absl::in_place);
  absl::Status status = DecodeInto(bytes, get_blob, /*reuse=*/false, *result);
  if (!status.ok()) result = std::move(status);
  return result;
}

}  // namespace wake
