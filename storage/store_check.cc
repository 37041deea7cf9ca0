#include "storage/store_check.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "rocksdb/db.h"
#include "rocksdb/slice_transform.h"
#include "schemas/event_codec.h"
#include "schemas/ids.h"
#include "storage/key_encoding.h"
#include "storage/records.h"

namespace wake {
namespace {

constexpr uint64_t kProgressEvery = 4096;

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(std::string(what), ": ", s.ToString()));
}

std::string_view View(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

class Scanner {
 public:
  Scanner(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles, const StoreCheckOptions& options)
      : db_(db), handles_(std::move(handles)), options_(options) {}

  absl::StatusOr<StoreCheckReport> Run() {
    const absl::Time start = absl::Now();
    rocksdb::ReadOptions read;
    read.total_order_seek = true;  // a full scan, across prefixes
    snapshot_ = db_->GetSnapshot();
    read.snapshot = snapshot_;
    read_ = read;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, events_cf()));
    std::string only_prefix;
    if (!options_.session_id.empty()) {
      ASSIGN_OR_RETURN(IdBytes only, ParseId(kSessionIdPrefix, options_.session_id));
      only_prefix = SessionKey(only);
      it->Seek(only_prefix);
      // A session without events is still checked against its record.
      if (!it->Valid() || View(it->key()).substr(0, kSessionKeySize) != only_prefix) {
        RETURN_IF_ERROR(StartSession(only));
      }
    } else {
      it->SeekToFirst();
    }
    for (; it->Valid(); it->Next()) {
      IdBytes session;
      uint64_t seq = 0;
      if (!DecodeEventKey(View(it->key()), &session, &seq)) {
        report_.findings.push_back({"", 0, "malformed_key", absl::StrCat("an events key of ", it->key().size(), " bytes")});
        continue;
      }
      if (!only_prefix.empty() && SessionKey(session) != only_prefix) break;
      if (!current_ || *current_ != session) {
        RETURN_IF_ERROR(FinishSession());
        RETURN_IF_ERROR(StartSession(session));
      }
      CheckEvent(seq, View(it->value()));
      if (++report_.events % kProgressEvery == 0 && options_.progress) options_.progress(report_.events);
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "scanning events"));
    RETURN_IF_ERROR(FinishSession());
    if (options_.session_id.empty()) RETURN_IF_ERROR(CheckSessionsWithoutEvents());
    db_->ReleaseSnapshot(snapshot_);
    if (options_.progress) options_.progress(report_.events);
    report_.took = absl::Now() - start;
    return report_;
  }

 private:
  rocksdb::ColumnFamilyHandle* events_cf() { return handles_[1]; }
  rocksdb::ColumnFamilyHandle* sessions_cf() { return handles_[2]; }
  rocksdb::ColumnFamilyHandle* blobs_cf() { return handles_[4]; }

  void Add(uint64_t seq, std::string kind, std::string detail) {
    report_.findings.push_back({session_id_, seq, std::move(kind), std::move(detail)});
  }

  absl::Status StartSession(const IdBytes& session) {
    current_ = session;
    session_id_ = FormatId(kSessionIdPrefix, session);
    expected_seq_ = 1;
    events_.clear();
    orphan_ = false;
    head_ = 0;
    ++report_.sessions;
    checked_.insert(SessionKey(session));
    std::string value;
    rocksdb::Status s = db_->Get(read_, sessions_cf(), SessionKey(session), &value);
    if (s.IsNotFound()) {
      orphan_ = true;
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(FromRocks(s, "reading a session record"));
    absl::StatusOr<SessionInfo> info = storage_internal::DecodeSessionRecord(value);
    if (!info.ok()) {
      Add(0, "undecodable_session", std::string(info.status().message()));
      return absl::OkStatus();
    }
    head_ = info->next_seq;
    return absl::OkStatus();
  }

  void CheckEvent(uint64_t seq, std::string_view value) {
    if (seq != expected_seq_) {
      Add(seq, "seq_gap", absl::StrCat("seqs ", expected_seq_, "..", seq - 1, " are missing"));
    }
    expected_seq_ = seq + 1;
    if (!orphan_ && head_ != 0 && seq >= head_) {
      Add(seq, "event_beyond_head", absl::StrCat("the session record's head is #", head_ - 1));
    }
    bool dangling = false;
    BlobGet get_blob = [this, seq, &dangling](std::string_view ref) -> absl::StatusOr<std::string> {
      ++report_.blob_refs;
      std::string payload;
      rocksdb::Status s = db_->Get(read_, blobs_cf(), rocksdb::Slice(ref.data(), ref.size()), &payload);
      if (s.IsNotFound()) {
        Add(seq, "dangling_blob", absl::StrCat("blob ", std::string(ref), " is referenced but missing"));
        dangling = true;
        return absl::DataLossError("dangling blob");
      }
      if (!s.ok()) return absl::UnavailableError(s.ToString());
      return payload;
    };
    absl::StatusOr<Event> event = DecodeEvent(value, get_blob);
    if (!event.ok()) {
      if (!dangling) {
        Add(seq, "undecodable_event", std::string(event.status().message()));
      }
      return;
    }
    event->seq = seq;
    events_.push_back(*std::move(event));
  }

  absl::Status FinishSession() {
    if (!current_) return absl::OkStatus();
    if (orphan_) {
      Add(0, "orphan_events", absl::StrCat("events #1..#", expected_seq_ - 1, " have no session record"));
    } else if (head_ != 0 && expected_seq_ < head_) {
      Add(expected_seq_, "seq_gap",
          absl::StrCat("seqs ", expected_seq_, "..", head_ - 1, " are missing (the record's head is #", head_ - 1, ")"));
    }
    if (options_.on_session_events) options_.on_session_events(session_id_, events_);
    current_.reset();
    return absl::OkStatus();
  }

  // Sessions whose record says they hold events, but none were found.
  absl::Status CheckSessionsWithoutEvents() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_, sessions_cf()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string key(View(it->key()));
      if (checked_.contains(key)) continue;
      IdBytes session{};
      if (key.size() != session.size()) continue;
      std::copy(key.begin(), key.end(), session.begin());
      RETURN_IF_ERROR(StartSession(session));
      RETURN_IF_ERROR(FinishSession());
    }
    return FromRocks(it->status(), "scanning sessions");
  }

  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  const StoreCheckOptions& options_;
  const rocksdb::Snapshot* snapshot_ = nullptr;
  rocksdb::ReadOptions read_;
  StoreCheckReport report_;
  std::optional<IdBytes> current_;
  std::string session_id_;
  uint64_t expected_seq_ = 1;
  uint64_t head_ = 0;  // the session record's next_seq; 0 when unknown
  bool orphan_ = false;
  std::vector<Event> events_;
  std::set<std::string> checked_;
};

}  // namespace

absl::StatusOr<StoreCheckReport> CheckSessionStore(const std::string& path, const StoreCheckOptions& options) {
  if (!std::filesystem::exists(std::filesystem::path(path) / "CURRENT")) {
    return absl::NotFoundError(absl::StrCat("no session store at ", path));
  }
  rocksdb::DBOptions db_options;
  db_options.paranoid_checks = true;
  rocksdb::ColumnFamilyOptions events;
  events.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kSessionKeySize));
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, {}}, {"events", events}, {"sessions", {}}, {"leases", {}}, {"blobs", {}},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(db_options, path, families, &handles, &raw);
  RETURN_IF_ERROR(FromRocks(s, absl::StrCat("opening ", path, " to check it")));
  std::unique_ptr<rocksdb::DB> db(raw);
  absl::StatusOr<StoreCheckReport> report = Scanner(db.get(), handles, options).Run();
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  return report;
}

}  // namespace wake
