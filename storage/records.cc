#include "storage/records.h"

#include <openssl/evp.h>

#include <cstring>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "schemas/event.capnp.h"
#include "schemas/ids.h"

namespace wake::storage_internal {
namespace {

std::string ToBytes(capnp::MessageBuilder& message) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  kj::ArrayPtr<const char> bytes = words.asChars();
  return std::string(bytes.begin(), bytes.size());
}

// Runs `read` on a word-aligned copy of `bytes`; any Cap'n Proto exception becomes DataLoss.
template <typename Record, typename Read>
auto ReadRecord(std::string_view bytes, std::string_view what, Read read) -> decltype(read(
    std::declval<typename Record::Reader>())) {
  if (bytes.size() % sizeof(capnp::word) != 0) {
    return absl::DataLossError(absl::StrCat(ToAbsl(what), " record has a size that is not a whole number of words"));
  }
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  try {
    capnp::FlatArrayMessageReader message(words);
    return read(message.getRoot<Record>());
  } catch (const kj::Exception& e) {
    return absl::DataLossError(absl::StrCat(ToAbsl(what), " record is corrupt: ", e.getDescription().cStr()));
  }
}

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

}  // namespace

std::string EncodeSessionRecord(const SessionInfo& info) {
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<schema::SessionRecord>();
  auto id = ParseId(kSessionIdPrefix, info.id);
  // Callers validated the id before it reached the committer.
  record.setId(capnp::Data::Reader(id.ok() ? id->data() : nullptr, id.ok() ? id->size() : 0));
  record.setWorkspaceId(info.workspace_id);
  record.setStatus(info.status);
  record.setCreatedAtUs(ToMicros(info.created_at));
  record.setUpdatedAtUs(ToMicros(info.updated_at));
  record.setNextSeq(info.next_seq);
  record.setAgentId(info.agent_id);
  record.setAgentVersion(info.agent_version);
  record.setEnvironmentId(info.environment_id);
  record.setTitle(info.title);
  auto metadata = record.initMetadata(info.metadata.size());
  for (size_t i = 0; i < info.metadata.size(); ++i) {
    metadata[i].setKey(info.metadata[i].first);
    metadata[i].setValue(info.metadata[i].second);
  }
  record.setArchivedAtUs(info.archived_at ? ToMicros(*info.archived_at) : 0);
  return ToBytes(message);
}

absl::StatusOr<SessionInfo> DecodeSessionRecord(std::string_view bytes) {
  return ReadRecord<schema::SessionRecord>(
      bytes, "session", [](schema::SessionRecord::Reader record) -> absl::StatusOr<SessionInfo> {
        SessionInfo info;
        auto id = record.getId();
        if (id.size() != sizeof(IdBytes)) return absl::DataLossError("session record has no valid id");
        IdBytes bytes;
        std::memcpy(bytes.data(), id.begin(), bytes.size());
        info.id = FormatId(kSessionIdPrefix, bytes);
        info.workspace_id = record.getWorkspaceId();
        info.status = record.getStatus();
        info.created_at = FromMicros(record.getCreatedAtUs());
        info.updated_at = FromMicros(record.getUpdatedAtUs());
        info.next_seq = record.getNextSeq();
        info.agent_id = record.getAgentId();
        info.agent_version = record.getAgentVersion();
        info.environment_id = record.getEnvironmentId();
        info.title = record.getTitle();
        for (auto entry : record.getMetadata()) info.metadata.emplace_back(entry.getKey(), entry.getValue());
        if (record.getArchivedAtUs() != 0) info.archived_at = FromMicros(record.getArchivedAtUs());
        return info;
      });
}

std::string EncodeLeaseRecord(const Lease& lease) {
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<schema::LeaseRecord>();
  record.setEpoch(lease.epoch);
  record.setOwner(lease.owner);
  record.setExpiresAtUs(ToMicros(lease.expires_at));
  return ToBytes(message);
}

absl::StatusOr<Lease> DecodeLeaseRecord(std::string_view bytes) {
  return ReadRecord<schema::LeaseRecord>(bytes, "lease",
                                         [](schema::LeaseRecord::Reader record) -> absl::StatusOr<Lease> {
                                           return Lease{record.getEpoch(), record.getOwner(),
                                                        FromMicros(record.getExpiresAtUs())};
                                         });
}

std::string EncodeDocumentRecord(const Document& document) {
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<schema::DocumentRecord>();
  record.setVersion(document.version);
  record.setJson(document.json);
  record.setCreatedAtUs(ToMicros(document.created_at));
  record.setUpdatedAtUs(ToMicros(document.updated_at));
  record.setArchivedAtUs(document.archived_at ? ToMicros(*document.archived_at) : 0);
  return ToBytes(message);
}

absl::StatusOr<Document> DecodeDocumentRecord(std::string_view bytes) {
  return ReadRecord<schema::DocumentRecord>(
      bytes, "document", [](schema::DocumentRecord::Reader record) -> absl::StatusOr<Document> {
        Document document;
        document.version = record.getVersion();
        document.json = record.getJson();
        document.created_at = FromMicros(record.getCreatedAtUs());
        document.updated_at = FromMicros(record.getUpdatedAtUs());
        if (record.getArchivedAtUs() != 0) document.archived_at = FromMicros(record.getArchivedAtUs());
        return document;
      });
}

std::string BlobKey(std::string_view payload) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(payload.data(), payload.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key;
  key.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    key.push_back(kHex[digest[i] >> 4]);
    key.push_back(kHex[digest[i] & 0xf]);
  }
  return key;
}

}  // namespace wake::storage_internal
