#pragma once
// Cap'n Proto encoding of the per-session records kept beside the events: SessionInfo in the
// "sessions" column family and Lease in "leases" (schemas/event.capnp: SessionRecord, LeaseRecord).

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/document_store.h"
#include "storage/session_log.h"

namespace wake::storage_internal {

std::string EncodeSessionRecord(const SessionInfo& info);
// DataLoss when `bytes` is not a valid record.
absl::StatusOr<SessionInfo> DecodeSessionRecord(std::string_view bytes);

std::string EncodeLeaseRecord(const Lease& lease);
absl::StatusOr<Lease> DecodeLeaseRecord(std::string_view bytes);

// A Document's record (its kind and id are its key).
std::string EncodeDocumentRecord(const Document& document);
absl::StatusOr<Document> DecodeDocumentRecord(std::string_view bytes);

// The lowercase hex SHA-256 of `payload`: the key of a blob.
std::string BlobKey(std::string_view payload);

}  // namespace wake::storage_internal
