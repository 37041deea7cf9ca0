#pragma once
// DocumentStore: the engine's small, versioned records beside the session logs: agents,
// environments, vault entries, API key hashes. Each document is a kind ("agent"), an id, a JSON body
// the engine defines, a version bumped by every update, and timestamps. Writes are durable when they
// return.
//
// Thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wake {

struct Document {
  std::string kind;
  std::string id;
  uint64_t version = 0;  // 1 when created
  std::string json;
  absl::Time created_at = absl::UnixEpoch();
  absl::Time updated_at = absl::UnixEpoch();
  std::optional<absl::Time> archived_at;

  friend bool operator==(const Document&, const Document&) = default;
};

struct DocumentPage {
  std::vector<Document> documents;  // in id order
  std::string next_cursor;          // the last id returned when more may follow; "" otherwise
};

class DocumentStore {
 public:
  virtual ~DocumentStore() = default;

  // AlreadyExists when the id is taken; InvalidArgument for an empty kind or id.
  virtual absl::StatusOr<Document> Create(std::string_view kind, std::string_view id, std::string json) = 0;
  // NotFound when absent.
  virtual absl::StatusOr<Document> Get(std::string_view kind, std::string_view id) = 0;
  // Replaces the body and bumps the version. `expected_version` 0 accepts any; otherwise a different
  // current version is Aborted (someone else updated it), and nothing changes.
  virtual absl::StatusOr<Document> Update(std::string_view kind, std::string_view id, uint64_t expected_version,
                                          std::string json) = 0;
  // Sets archived_at (idempotent: an archived document keeps its first archived_at).
  virtual absl::StatusOr<Document> Archive(std::string_view kind, std::string_view id) = 0;
  // NotFound when absent.
  virtual absl::Status Delete(std::string_view kind, std::string_view id) = 0;
  // Documents of `kind` with ids after `after_id`, at most `limit` (>= 1).
  virtual absl::StatusOr<DocumentPage> List(std::string_view kind, std::string_view after_id, size_t limit,
                                            bool include_archived) = 0;
};

}  // namespace wake
