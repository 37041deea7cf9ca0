#include "schemas/event_codec.h"

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "schemas/event.capnp.h"
#include "tests/schemas/sample_events.h"

namespace wake {
namespace {

using testing::SampleEvents;
using testing::SampleName;

class CodecRoundTripTest : public ::testing::TestWithParam<size_t> {};

TEST_P(CodecRoundTripTest, DecodeOfEncodeIsTheSameEvent) {
  Event event = SampleEvents()[GetParam()];
  event.seq = 77;  // the storage key, not part of the encoding
  absl::StatusOr<std::string> bytes = EncodeEvent(event);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<Event> decoded = DecodeEvent(*bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->seq, 0u);
  event.seq = 0;
  EXPECT_EQ(*decoded, event);
}

TEST_P(CodecRoundTripTest, MisalignedInputIsCopiedNotRejected) {
  const Event event = SampleEvents()[GetParam()];
  absl::StatusOr<std::string> bytes = EncodeEvent(event);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  // RocksDB hands out values at arbitrary addresses: place the bytes one past an aligned start.
  std::string buffer(bytes->size() + 8, '\0');
  std::memcpy(buffer.data() + 1, bytes->data(), bytes->size());
  absl::StatusOr<Event> decoded = DecodeEvent(std::string_view(buffer.data() + 1, bytes->size()));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, event);
}

INSTANTIATE_TEST_SUITE_P(AllSamples, CodecRoundTripTest, ::testing::Range<size_t>(0, SampleEvents().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return SampleName(SampleEvents()[info.param], info.param);
                         });

TEST(EventCodecTest, SamplesCoverEveryType) {
  std::vector<bool> seen(kEventTypeCount);
  for (const Event& e : SampleEvents()) seen[static_cast<int>(e.type)] = true;
  for (int i = 0; i < kEventTypeCount; ++i) EXPECT_TRUE(seen[i]) << EventTypeName(static_cast<EventType>(i));
}

// Every field of Event set to something no sample has, so a field the decoder forgets to reset shows.
Event EveryFieldSet() {
  // A field added to Event changes its size: set it here, and reset it in the decoder's ClearForDecode.
  static_assert(sizeof(Event) == 608, "Event changed: update EveryFieldSet and event_codec.cc's ClearForDecode");
  static_assert(sizeof(ContentBlock) == 192, "ContentBlock changed: update EveryFieldSet and Reader::Content");
  Event e;
  e.type = EventType::kHandLost;
  e.id = "sevt_stale";
  e.processed_at = absl::FromUnixSeconds(1);
  e.seq = 9;
  ContentBlock block;
  block.kind = ContentBlock::Kind::kDocument;
  block.text = std::string(300, 't');
  block.source = ContentBlock::SourceKind::kUrl;
  block.data = "stale data";
  block.media_type = "stale/type";
  block.title = "stale title";
  block.context = "stale context";
  e.content = {block, block, block};
  e.name = "stale_name";
  e.input_json = R"({"stale":true})";
  e.tool_use_id = "sevt_stale_tool";
  e.is_error = true;
  e.allow = true;
  e.deny_message = "stale deny";
  e.stop_reason.kind = StopReason::Kind::kRetriesExhausted;
  e.stop_reason.event_ids = {"a", "b", "c", "d"};
  e.error = {"stale_error", "stale message", SessionErrorInfo::RetryStatus::kRetrying};
  e.model_request_start_id = "sevt_stale_span";
  e.model_usage = {1, 2, 3, 4};
  e.idempotency_key = "stale key";
  e.hand_id = "stale hand";
  e.hand_backend = "stale backend";
  e.duration_us = 5;
  e.time_to_first_token_us = 6;
  e.reason = "stale reason";
  e.compacted_through_seq = 7;
  e.rewound_to_seq = 8;
  e.worker_id = "stale worker";
  e.lease_epoch = 10;
  return e;
}

// SessionLog::Scan decodes a whole session into one Event: what an event leaves behind must never show
// in the next, whatever the two types.
TEST(EventCodecTest, DecodingOverAnotherEventLeavesNothingOfIt) {
  const std::vector<Event> samples = SampleEvents();
  std::vector<std::string> encoded;
  for (const Event& e : samples) {
    absl::StatusOr<std::string> bytes = EncodeEvent(e);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    encoded.push_back(*std::move(bytes));
  }
  for (size_t i = 0; i < samples.size(); ++i) {
    Event over_everything = EveryFieldSet();
    ASSERT_TRUE(DecodeEventOver(encoded[i], {}, over_everything).ok());
    EXPECT_EQ(over_everything, samples[i]) << SampleName(samples[i], i) << " decoded over every field set";
    for (size_t j = 0; j < samples.size(); ++j) {
      Event reused;
      ASSERT_TRUE(DecodeEventOver(encoded[j], {}, reused).ok());
      ASSERT_TRUE(DecodeEventOver(encoded[i], {}, reused).ok());
      EXPECT_EQ(reused, samples[i]) << SampleName(samples[i], i) << " decoded over " << SampleName(samples[j], j);
    }
  }
}

TEST(EventCodecTest, EmbeddedNulAndEmptyStringsSurvive) {
  Event e;
  e.type = EventType::kAgentMessage;
  e.id = "sevt_1";
  e.processed_at = absl::FromUnixMicros(-1);  // before the epoch is still a time
  ContentBlock text;
  text.text = std::string("a\0b", 3);
  e.content = {text, ContentBlock{}};
  absl::StatusOr<std::string> bytes = EncodeEvent(e);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<Event> decoded = DecodeEvent(*bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, e);
}

Event BigToolEvent(size_t payload_size) {
  Event e;
  e.type = EventType::kAgentToolResult;
  e.id = "sevt_blob";
  e.processed_at = absl::FromUnixMicros(1);
  e.tool_use_id = "sevt_tool";
  ContentBlock big;
  big.text = std::string(payload_size, 'x');
  ContentBlock small;
  small.text = "short";
  ContentBlock image;
  image.kind = ContentBlock::Kind::kImage;
  image.source = ContentBlock::SourceKind::kBase64;
  image.media_type = "image/png";
  image.data = std::string(payload_size, 'A');
  e.content = {big, small, image};
  return e;
}

// Payloads of 1,000 bytes or more go to `store`, under "blob-<n>".
EncodeOptions BlobsInto(std::map<std::string, std::string>& store) {
  EncodeOptions options;
  options.blob_threshold = 1000;
  options.put_blob = [&store](std::string_view payload) -> absl::StatusOr<std::string> {
    std::string ref = absl::StrCat("blob-", store.size());
    store[ref] = std::string(payload);
    return ref;
  };
  return options;
}

TEST(EventCodecTest, LargePayloadsGoToTheBlobStore) {
  std::map<std::string, std::string> store;
  const EncodeOptions options = BlobsInto(store);
  const Event event = BigToolEvent(1000);  // exactly the threshold: externalised
  absl::StatusOr<std::string> bytes = EncodeEvent(event, options);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(store.size(), 2u);  // the text and the image data, not the short block
  EXPECT_LT(bytes->size(), 500u);

  int gets = 0;
  BlobGet get = [&](std::string_view ref) -> absl::StatusOr<std::string> {
    ++gets;
    auto it = store.find(std::string(ref));
    if (it == store.end()) return absl::NotFoundError(absl::StrCat("no blob ", std::string(ref)));
    return it->second;
  };
  absl::StatusOr<Event> decoded = DecodeEvent(*bytes, get);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, event);
  EXPECT_EQ(gets, 2);

  // Without a reader the reference cannot be resolved.
  EXPECT_EQ(DecodeEvent(*bytes).status().code(), absl::StatusCode::kFailedPrecondition);
  // A missing blob is the reader's error, passed through.
  store.clear();
  EXPECT_EQ(DecodeEvent(*bytes, get).status().code(), absl::StatusCode::kNotFound);
}

// Misaligned bytes are decoded from a per-thread copy. A decode started inside another one on the same
// thread (here, from the blob reader) must not overwrite the copy the outer decode is reading.
TEST(EventCodecTest, MisalignedDecodesNestedInABlobReaderStayApart) {
  std::map<std::string, std::string> store;
  const EncodeOptions options = BlobsInto(store);
  const Event outer = BigToolEvent(1000);
  absl::StatusOr<std::string> outer_bytes = EncodeEvent(outer, options);
  ASSERT_TRUE(outer_bytes.ok()) << outer_bytes.status();
  // Bigger than the outer event, so a shared buffer would be overwritten whole while still in use (a
  // warm-up decode below makes sure the buffer needs no regrowing, which would hide the overwrite).
  const Event inner = BigToolEvent(2000);
  absl::StatusOr<std::string> inner_bytes = EncodeEvent(inner);
  ASSERT_TRUE(inner_bytes.ok()) << inner_bytes.status();
  ASSERT_GT(inner_bytes->size(), outer_bytes->size());
  auto misaligned = [](const std::string& bytes) {
    auto buffer = std::make_shared<std::string>(bytes.size() + 8, '\0');
    std::memcpy(buffer->data() + 1, bytes.data(), bytes.size());
    return buffer;
  };
  auto outer_buffer = misaligned(*outer_bytes);
  auto inner_buffer = misaligned(*inner_bytes);

  const Event warm_up = BigToolEvent(4000);
  absl::StatusOr<std::string> warm_up_bytes = EncodeEvent(warm_up);
  ASSERT_TRUE(warm_up_bytes.ok()) << warm_up_bytes.status();
  auto warm_up_buffer = misaligned(*warm_up_bytes);
  ASSERT_TRUE(DecodeEvent(std::string_view(warm_up_buffer->data() + 1, warm_up_bytes->size())).ok());

  int nested = 0;
  BlobGet get = [&](std::string_view ref) -> absl::StatusOr<std::string> {
    absl::StatusOr<Event> decoded = DecodeEvent(std::string_view(inner_buffer->data() + 1, inner_bytes->size()));
    EXPECT_TRUE(decoded.ok()) << decoded.status();
    if (decoded.ok()) {
      EXPECT_EQ(*decoded, inner);
    }
    ++nested;
    return store.at(std::string(ref));
  };
  absl::StatusOr<Event> decoded = DecodeEvent(std::string_view(outer_buffer->data() + 1, outer_bytes->size()), get);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, outer);
  EXPECT_EQ(nested, 2);
}

TEST(EventCodecTest, PayloadsBelowTheThresholdStayInline) {
  int puts = 0;
  EncodeOptions options;
  options.blob_threshold = 1000;
  options.put_blob = [&](std::string_view) -> absl::StatusOr<std::string> {
    ++puts;
    return std::string("unused");
  };
  const Event event = BigToolEvent(999);
  absl::StatusOr<std::string> bytes = EncodeEvent(event, options);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(puts, 0);
  absl::StatusOr<Event> decoded = DecodeEvent(*bytes);  // no blob reader needed
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, event);
}

TEST(EventCodecTest, ToolInputCanBeExternalised) {
  Event e;
  e.type = EventType::kAgentToolUse;
  e.id = "sevt_in";
  e.processed_at = absl::UnixEpoch();
  e.name = "write";
  e.input_json = absl::StrCat(R"({"path":"a.txt","content":")", std::string(5000, 'z'), R"("})");
  std::string stored;
  EncodeOptions options;
  options.blob_threshold = 4096;
  options.put_blob = [&](std::string_view payload) -> absl::StatusOr<std::string> {
    stored = std::string(payload);
    return std::string("ref");
  };
  absl::StatusOr<std::string> bytes = EncodeEvent(e, options);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(stored, e.input_json);
  absl::StatusOr<Event> decoded =
      DecodeEvent(*bytes, [&](std::string_view) -> absl::StatusOr<std::string> { return stored; });
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, e);
}

TEST(EventCodecTest, BlobStoreFailureFailsTheEncode) {
  EncodeOptions options;
  options.blob_threshold = 10;
  options.put_blob = [](std::string_view) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("disk full");
  };
  absl::StatusOr<std::string> bytes = EncodeEvent(BigToolEvent(100), options);
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kUnavailable);
}

TEST(EventCodecTest, IncompleteEventsAreRejected) {
  Event e = SampleEvents()[0];
  e.processed_at.reset();
  EXPECT_EQ(EncodeEvent(e).status().code(), absl::StatusCode::kInvalidArgument);

  e = SampleEvents()[0];
  e.id.clear();
  EXPECT_EQ(EncodeEvent(e).status().code(), absl::StatusCode::kInvalidArgument);

  Event tool;
  tool.type = EventType::kAgentToolResult;
  tool.id = "sevt_x";
  tool.processed_at = absl::UnixEpoch();
  absl::Status s = EncodeEvent(tool).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "agent.tool_result: field \"tool_use_id\"")) << s;

  Event use;
  use.type = EventType::kAgentToolUse;
  use.id = "sevt_x";
  use.processed_at = absl::UnixEpoch();
  use.name = "bash";
  use.input_json = "[1]";
  s = EncodeEvent(use).status();
  EXPECT_TRUE(absl::StrContains(s.message(), "field \"input\" must be a JSON object")) << s;

  Event msg = SampleEvents()[0];
  msg.content.clear();
  s = EncodeEvent(msg).status();
  EXPECT_TRUE(absl::StrContains(s.message(), "user.message: field \"content\" must not be empty")) << s;

  Event agent;
  agent.type = EventType::kAgentMessage;
  agent.id = "sevt_x";
  agent.processed_at = absl::UnixEpoch();
  agent.content = {SampleEvents()[0].content[1]};  // an image: not allowed in agent.message
  s = EncodeEvent(agent).status();
  EXPECT_TRUE(absl::StrContains(s.message(), "content[0].type")) << s;

  Event idle;
  idle.type = EventType::kSessionStatusIdle;
  idle.id = "sevt_x";
  idle.processed_at = absl::UnixEpoch();
  idle.stop_reason.kind = StopReason::Kind::kRequiresAction;
  s = EncodeEvent(idle).status();
  EXPECT_TRUE(absl::StrContains(s.message(), "stop_reason.event_ids")) << s;
}

// Encodes `event`, then overwrites the discriminant of the struct `patch` selects with `value`, as a
// newer wake that added a union member would have written it.
template <typename Patch>
std::string WithDiscriminant(const Event& event, capnp::StructSchema schema, uint16_t value, Patch patch) {
  absl::StatusOr<std::string> bytes = EncodeEvent(event);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes->size() / 8);
  std::memcpy(words.begin(), bytes->data(), bytes->size());
  capnp::FlatArrayMessageReader reader(words);
  capnp::MallocMessageBuilder builder;
  builder.setRoot(reader.getRoot<schema::Event>());
  capnp::AnyStruct::Builder target = patch(builder.getRoot<schema::Event>());
  const uint32_t offset = schema.getProto().getStruct().getDiscriminantOffset();
  kj::ArrayPtr<kj::byte> data = target.getDataSection();
  std::memcpy(data.begin() + offset * 2, &value, sizeof(value));  // little-endian on every target we build
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(builder);
  return std::string(reinterpret_cast<const char*>(flat.begin()), flat.size() * sizeof(capnp::word));
}

TEST(EventCodecTest, UnknownEventKindIsDataLoss) {
  const std::string bytes =
      WithDiscriminant(SampleEvents()[2], capnp::Schema::from<schema::Event>(), 99,
                       [](schema::Event::Builder root) { return capnp::toAny(root); });
  absl::Status s = DecodeEvent(bytes).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(s.message(), "unknown event kind 99")) << s;
}

TEST(EventCodecTest, UnknownContentBlockKindIsDataLoss) {
  const std::string bytes = WithDiscriminant(
      SampleEvents()[0], capnp::Schema::from<schema::ContentBlock>(), 7, [](schema::Event::Builder root) {
        return capnp::toAny(root.getUserMessage().getContent()[0]);
      });
  absl::Status s = DecodeEvent(bytes).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(s.message(), "unknown content block kind 7")) << s;
}

TEST(EventCodecTest, MalformedLengthsAreDataLoss) {
  EXPECT_EQ(DecodeEvent("").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeEvent("1234567").status().code(), absl::StatusCode::kDataLoss);
  absl::StatusOr<std::string> bytes = EncodeEvent(SampleEvents()[0]);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(DecodeEvent(*bytes + std::string(8, '\0')).status().code(), absl::StatusCode::kDataLoss);
}

// Untrusted bytes must come back as a status, never a crash (run under ASan in CI to catch reads
// out of bounds too).
TEST(EventCodecTest, RandomGarbageIsDataLoss) {
  std::mt19937_64 rng(20261122);
  for (int i = 0; i < 3000; ++i) {
    std::string bytes(8 * (1 + rng() % 40), '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (i % 3 == 0) bytes[0] = bytes[1] = bytes[2] = bytes[3] = 0;  // one segment: get past the table
    absl::Status s = DecodeEvent(bytes).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << i << ": " << s;
  }
}

TEST(EventCodecTest, TruncatedAndCorruptedMessagesNeverCrash) {
  std::mt19937_64 rng(42);
  const std::vector<Event> samples = SampleEvents();
  int decoded_ok = 0;
  for (const Event& event : samples) {
    absl::StatusOr<std::string> full = EncodeEvent(event);
    ASSERT_TRUE(full.ok()) << full.status();
    // Every shorter whole-word prefix: the header promises more than is there.
    for (size_t len = 8; len < full->size(); len += 8) {
      EXPECT_EQ(DecodeEvent(std::string_view(*full).substr(0, len)).status().code(),
                absl::StatusCode::kDataLoss);
    }
    // Random bit flips and overwritten words: any outcome but a crash; errors are DataLoss (or
    // FailedPrecondition when a flip turned an inline payload into a blob reference).
    for (int i = 0; i < 150; ++i) {
      std::string bytes = *full;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        const size_t at = rng() % bytes.size();
        if (rng() % 2) {
          bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
        } else {
          bytes[at] = static_cast<char>(rng());
        }
      }
      absl::StatusOr<Event> result = DecodeEvent(bytes);
      if (result.ok()) {
        ++decoded_ok;
        continue;
      }
      EXPECT_TRUE(result.status().code() == absl::StatusCode::kDataLoss ||
                  result.status().code() == absl::StatusCode::kFailedPrecondition)
          << result.status();
    }
  }
  EXPECT_GT(decoded_ok, 0);  // flips inside text are harmless: the test did reach the field readers
}

}  // namespace
}  // namespace wake
