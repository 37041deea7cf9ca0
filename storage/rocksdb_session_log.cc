#include "storage/rocksdb_session_log.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/huge_pages.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/sync.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "schemas/event_codec.h"
#include "schemas/ids.h"
#include "storage/api_key_store.h"
#include "storage/info_log.h"
#include "storage/key_encoding.h"
#include "storage/records.h"

namespace wake {
namespace {

using storage_internal::BlobKey;
using storage_internal::DecodeDocumentRecord;
using storage_internal::EncodeDocumentRecord;
using storage_internal::DecodeLeaseRecord;
using storage_internal::DecodeSessionRecord;
using storage_internal::EncodeLeaseRecord;
using storage_internal::EncodeSessionRecord;

constexpr char kEventsCf[] = "events";
constexpr char kSessionsCf[] = "sessions";
constexpr char kLeasesCf[] = "leases";
constexpr char kBlobsCf[] = "blobs";
constexpr char kDocumentsCf[] = "documents";

// RocksDB's status -> the code a caller can act on (DESIGN.md "Conventions").
absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(ToAbsl(what), ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsNotFound()) return absl::NotFoundError(message);
  // The service cannot store anything until an operator frees space (a 503 over HTTP, not a 429: no
  // client is over a quota).
  if (s.IsNoSpace()) return absl::UnavailableError(absl::StrCat(message, " (the data dir's filesystem is full)"));
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return absl::UnavailableError(message);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return absl::UnavailableError(absl::StrCat(message, " (is another process using this data dir?)"));
  }
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  return absl::InternalError(message);
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// Memtable insert hints. Writes land where the same key's or session's last write did: an append at
// the end of its session's event range, a session record's new version just before its previous one.
// With a hint, the skip-list search starts at that write's position instead of at the top: the
// list's comparisons were the biggest part of the serial commit's CPU. Measured (storage_bench, 300 B
// events, 64 sessions, old and new binaries alternated 4 times): AppendAsync 95-100 -> 112-120 k
// events/s, 64 writer threads 66-81 -> 86-92 k/s. A configuration, not a format: changing it needs no
// migration.
//
// RocksDB 7.8 keeps one hint per prefix for both the point and the range-deletion memtables of a
// column family, and a range tombstone inserted with a splice cut from the point list corrupts the
// tombstone list. So a hint's domain must exclude every range tombstone's start key: DeleteSession's
// tombstone starts at the session's seq 0, which no event has (seqs start at 1); this excludes it in
// WALs written before hints existed too. The sessions column family has no range deletions.
class InsertHint final : public rocksdb::SliceTransform {
 public:
  enum class Keys { kAppendedEvents, kSessionRecords };
  explicit InsertHint(Keys keys) : keys_(keys) {}

  const char* Name() const override {
    return keys_ == Keys::kAppendedEvents ? "wake.AppendedEventHint" : "wake.SessionRecordHint";
  }
  // By session: the 16-byte id both keys start with.
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), kSessionKeySize);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    if (keys_ == Keys::kSessionRecords) return key.size() == kSessionKeySize;
    IdBytes session;
    uint64_t seq = 0;
    return DecodeEventKey(std::string_view(key.data(), key.size()), &session, &seq) && seq != 0;
  }

 private:
  Keys keys_;
};

// The status a session's status_* events put it in; nullopt for other events.
std::optional<std::string_view> StatusAfter(EventType type) {
  switch (type) {
    case EventType::kSessionStatusRunning: return "running";
    case EventType::kSessionStatusIdle: return "idle";
    case EventType::kSessionStatusRescheduled: return "rescheduling";
    case EventType::kSessionStatusTerminated: return "terminated";
    default: return std::nullopt;
  }
}

struct ColumnFamilies {
  rocksdb::ColumnFamilyHandle* events = nullptr;
  rocksdb::ColumnFamilyHandle* sessions = nullptr;
  rocksdb::ColumnFamilyHandle* leases = nullptr;
  rocksdb::ColumnFamilyHandle* blobs = nullptr;
};

// What the committer knows of one session: its record and its lease.
struct SessionState {
  SessionInfo info;
  std::optional<Lease> lease;
  bool deleted = false;
};

class RocksDbSessionLog;

// An append's events, encoded on the caller's thread so the committer only builds keys.
struct EncodedAppend {
  std::vector<std::string> values;
  std::vector<std::pair<std::string, std::string>> blobs;  // key -> payload, new ones only
  std::optional<std::string> new_status;                    // from the last status_* event
  size_t count = 0;
  absl::Time processed_at;  // given to the events that came without one
};

// The view of session states while one group is validated: requests of a group see the effects of
// earlier requests of the same group, and none of it reaches the committed cache unless the
// group's WriteBatch is durable.
class GroupContext {
 public:
  GroupContext(RocksDbSessionLog* log, const ColumnFamilies& cf) : log_(log), cf_(cf) {}

  // The state of `session`, or NotFound. The pointer stays valid for the group.
  absl::StatusOr<SessionState*> Find(const IdBytes& session, std::string_view session_id);
  // A fresh state for a session that does not exist yet (AlreadyExists otherwise).
  absl::StatusOr<SessionState*> Insert(const IdBytes& session, std::string_view session_id);

  void MarkInfoChanged(const IdBytes& session) { info_changed_.insert(session); }
  void MarkAppended(const IdBytes& session) { appended_.insert(session); }

  rocksdb::WriteBatch& batch() { return batch_; }
  const ColumnFamilies& cf() const { return cf_; }
  absl::flat_hash_map<IdBytes, SessionState>& overlay() { return overlay_; }
  const absl::flat_hash_set<IdBytes>& info_changed() const { return info_changed_; }
  const absl::flat_hash_set<IdBytes>& appended() const { return appended_; }

 private:
  RocksDbSessionLog* log_;
  const ColumnFamilies& cf_;
  rocksdb::WriteBatch batch_;
  absl::flat_hash_map<IdBytes, SessionState> overlay_;
  absl::flat_hash_set<IdBytes> info_changed_;
  absl::flat_hash_set<IdBytes> appended_;
};

// One queued write. Apply() validates it against the group's view and adds its writes to the
// batch; Complete() reports the outcome once the batch is durable (or failed).
// A caller blocked in one of the log's write methods. The committing thread stores every result of a
// group first and then wakes only the first such caller; each woken caller wakes the next two before
// it returns (a binary tree: log2(n) rounds), so the wake-ups, a futex call and a reschedule each on
// this VM, are spread over the woken threads instead of holding the committing thread from the next
// group. With Notification on a plain futex (base/sync.h), 64 writer threads at 300 B, 6 alternated
// runs: p99 3.4 -> 1.5 ms (median), 79 -> 80 k appends/s.
struct Sleeper {
  Notification woken;
  // Set by the committing thread before the first caller of the group is woken.
  std::shared_ptr<const std::vector<Sleeper*>> group;
  size_t index = 0;

  // Wakes this caller's two children in the group's tree. Called once woken, before returning.
  void WakeChildren() const {
    for (size_t child = 2 * index + 1; child <= 2 * index + 2 && child < group->size(); ++child) {
      (*group)[child]->woken.Notify();
    }
  }
};

class WriteRequest {
 public:
  virtual ~WriteRequest() = default;
  virtual absl::Status Apply(GroupContext& ctx, absl::Time now) = 0;
  // `status` is Apply's status, or the write's error when the batch failed.
  virtual void Complete(const absl::Status& status) = 0;
  // Whether the caller's answer must wait for an fsync (under Durability::kSync). A group is synced
  // when any of its requests needs it.
  virtual bool needs_sync() const { return true; }

  IdBytes session{};
  std::string session_id;
  // The blocked caller to wake once Complete has stored the result; null for AppendAsync.
  Sleeper* sleeper = nullptr;
};

// A request whose caller receives a T (or the error).
template <typename T>
class RequestFor : public WriteRequest {
 public:
  void Complete(const absl::Status& status) override {
    if (status.ok()) {
      done(std::move(result));
    } else {
      done(status);
    }
  }

  T result{};
  std::function<void(absl::StatusOr<T>)> done;
};

class SubscriptionImpl;

// The open database, shared by the session log and the document store: closed when both are gone.
struct SharedDb {
  std::unique_ptr<rocksdb::DB> db;
  // [default, events, sessions, leases, blobs, documents]; documents is null when a read-only open
  // found a store made before it existed.
  std::vector<rocksdb::ColumnFamilyHandle*> handles;

  ~SharedDb() {
    if (db == nullptr) return;  // the open failed
    for (auto* h : handles) {
      if (h != nullptr) db->DestroyColumnFamilyHandle(h);
    }
    db->Close().PermitUncheckedError();
  }
};

class RocksDbSessionLog final : public SessionLog {
 public:
  RocksDbSessionLog(RocksDbSessionLogOptions options, std::shared_ptr<SharedDb> shared)
      : options_(std::move(options)), shared_(std::move(shared)), db_(shared_->db.get()), handles_(shared_->handles) {
    write_options_.sync = options_.durability == Durability::kSync;
    cf_ = ColumnFamilies{handles_[1], handles_[2], handles_[3], handles_[4]};
    if (options_.access != StoreAccess::kReadWrite) {
      // Every write is refused the way a failed one is: through the sticky error.
      sticky_error_ = absl::FailedPreconditionError(
          absl::StrCat("the session log at ", options_.path, " is open for reading only; writes are refused"));
    }
    committer_ = std::thread([this] { CommitterLoop(); });
  }

  ~RocksDbSessionLog() override {
    {
      MutexLock lock(&queue_mu_);
      stopping_ = true;
      queue_mu_.SignalAll();
    }
    committer_.join();
  }

  // --- sessions ---------------------------------------------------------------------------------

  // kFollow: pulls in the writer's latest appends before a read.
  void CatchUpWithWriter();

  absl::StatusOr<SessionInfo> CreateSession(SessionInfo info) override;
  absl::StatusOr<SessionInfo> GetSession(std::string_view session_id) override;
  absl::StatusOr<SessionInfo> UpdateSession(const SessionInfo& info) override;
  absl::StatusOr<SessionPage> ListSessions(const ListSessionsOptions& options) override;
  absl::Status DeleteSession(std::string_view session_id) override;

  // --- events -----------------------------------------------------------------------------------

  absl::StatusOr<AppendResult> Append(std::string_view session_id, std::vector<Event> events,
                                      uint64_t expected_next_seq, uint64_t lease_epoch) override;
  void AppendAsync(std::string_view session_id, std::vector<Event> events, uint64_t expected_next_seq,
                   uint64_t lease_epoch, AppendCallback done) override;
  absl::StatusOr<std::vector<Event>> Read(std::string_view session_id,
                                          const ReadOptions& options) override;
  absl::Status Scan(std::string_view session_id, const ReadOptions& options,
                    absl::FunctionRef<absl::Status(const Event&)> visit) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string_view session_id,
                                                          uint64_t from_seq) override;

  // --- leases -----------------------------------------------------------------------------------

  absl::StatusOr<Lease> AcquireLease(std::string_view session_id, std::string_view owner,
                                     absl::Duration ttl) override;
  absl::StatusOr<Lease> RenewLease(std::string_view session_id, uint64_t epoch,
                                   absl::Duration ttl) override;
  absl::Status ReleaseLease(std::string_view session_id, uint64_t epoch) override;
  absl::StatusOr<Lease> GetLease(std::string_view session_id) override;

  absl::Status health() const override {
    MutexLock lock(&sticky_mu_);
    return sticky_error_;
  }

  // The committed state of a session (only the committing thread calls this; see committing_).
  absl::StatusOr<SessionState*> CommittedState(const IdBytes& session, std::string_view session_id);

  void Unregister(const IdBytes& session, SubscriptionImpl* sub);

 private:
  // Queues `request` for the committer.
  void Enqueue(std::unique_ptr<WriteRequest> request);
  void CommitterLoop();
  // For synchronous callers: queues `request`, and when no group is being committed, takes the whole
  // queue into `group` and returns true: the caller then commits it itself (CommitAsLeader), so a
  // lone writer pays no thread hand-off on top of its WAL sync.
  bool EnqueueOrLead(std::unique_ptr<WriteRequest> request, std::vector<std::unique_ptr<WriteRequest>>& group);
  void CommitAsLeader(std::vector<std::unique_ptr<WriteRequest>>& group);
  // Completes every request of `group` with status_of(i), then wakes its blocked callers (Sleeper).
  template <typename StatusOf>
  void CompleteGroup(std::vector<std::unique_ptr<WriteRequest>>& group, StatusOf status_of);
  void CommitGroup(std::vector<std::unique_ptr<WriteRequest>>& group);
  void NotifySubscribers(const IdBytes& session);

  // A request for `session`, to be filled in by the caller and passed to RunAndWait or Enqueue.
  template <typename Request>
  static std::unique_ptr<Request> NewRequest(const IdBytes& session, std::string_view session_id) {
    auto request = std::make_unique<Request>();
    request->session = session;
    request->session_id = std::string(session_id);
    return request;
  }
  // Queues `request` and waits for its result.
  template <typename T>
  absl::StatusOr<T> RunAndWait(std::unique_ptr<RequestFor<T>> request);

  // Encodes events for an append on the caller's thread, so the committer only builds keys.
  absl::StatusOr<EncodedAppend> EncodeAppend(std::vector<Event>& events);
  absl::StatusOr<std::unique_ptr<RequestFor<AppendResult>>> NewAppendRequest(std::string_view session_id,
                                                                             std::vector<Event> events,
                                                                             uint64_t expected_next_seq,
                                                                             uint64_t lease_epoch);

  absl::StatusOr<std::string> GetBlob(std::string_view ref);
  // Read and Scan: walks the events `options` selects under one snapshot, checking seqs for gaps;
  // `sink` (CollectEvents, VisitEvents) says where each event is decoded and what becomes of it.
  template <typename Sink>
  absl::Status Walk(std::string_view session_id, const ReadOptions& options, Sink& sink);

  const RocksDbSessionLogOptions options_;
  const std::shared_ptr<SharedDb> shared_;
  rocksdb::DB* const db_;
  const std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // as in SharedDb
  ColumnFamilies cf_;
  rocksdb::WriteOptions write_options_;

  Mutex queue_mu_;
  std::vector<std::unique_ptr<WriteRequest>> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  // True while some thread commits a group; at most one does, which is what serialises cache_.
  bool committing_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread committer_;

  mutable Mutex sticky_mu_;
  absl::Status sticky_error_ ABSL_GUARDED_BY(sticky_mu_);

  // Committed session states; touched only by the thread that is committing (see committing_).
  absl::flat_hash_map<IdBytes, SessionState> cache_;

  Mutex subs_mu_;
  absl::flat_hash_map<IdBytes, std::vector<SubscriptionImpl*>> subscribers_ ABSL_GUARDED_BY(subs_mu_);
};

// --- GroupContext ---------------------------------------------------------------------------------

absl::StatusOr<SessionState*> GroupContext::Find(const IdBytes& session, std::string_view session_id) {
  auto it = overlay_.find(session);
  if (it == overlay_.end()) {
    ASSIGN_OR_RETURN(SessionState * committed, log_->CommittedState(session, session_id));
    if (committed == nullptr) {
      return absl::NotFoundError(absl::StrCat("session ", ToAbsl(session_id), " does not exist"));
    }
    it = overlay_.emplace(session, *committed).first;
  }
  if (it->second.deleted) {
    return absl::NotFoundError(absl::StrCat("session ", ToAbsl(session_id), " does not exist"));
  }
  return &it->second;
}

absl::StatusOr<SessionState*> GroupContext::Insert(const IdBytes& session, std::string_view session_id) {
  auto found = Find(session, session_id);
  if (found.ok()) {
    return absl::AlreadyExistsError(absl::StrCat("session ", ToAbsl(session_id), " already exists"));
  }
  if (!absl::IsNotFound(found.status())) return found.status();
  SessionState& state = overlay_[session];
  state = SessionState{};
  return &state;
}

// --- Requests -------------------------------------------------------------------------------------

class AppendRequest final : public RequestFor<AppendResult> {
 public:
  absl::Status Apply(GroupContext& ctx, absl::Time now) override {
    ASSIGN_OR_RETURN(SessionState * state, ctx.Find(session, session_id));
    if (state->info.status == "terminated") {
      return absl::FailedPreconditionError(
          absl::StrCat("session ", ToAbsl(session_id), " is terminated; it accepts no more events"));
    }
    if (lease_epoch != kNoLease) {
      const uint64_t current = state->lease ? state->lease->epoch : 0;
      if (lease_epoch != current) {
        return absl::AbortedError(absl::StrCat("stale lease on ", ToAbsl(session_id), ": append carries epoch ",
                                               lease_epoch, " but the current epoch is ", current));
      }
    }
    const uint64_t head = state->info.next_seq;
    if (expected_next_seq != kAppendAtHead && expected_next_seq != head) {
      return absl::AbortedError(absl::StrCat("seq conflict on ", ToAbsl(session_id), ": append expected next seq ",
                                             expected_next_seq, " but the head is ", head));
    }
    rocksdb::WriteBatch& batch = ctx.batch();
    for (size_t i = 0; i < encoded.values.size(); ++i) {
      batch.Put(ctx.cf().events, ToSlice(EventKey(session, head + i)), ToSlice(encoded.values[i]));
    }
    for (const auto& [key, payload] : encoded.blobs) {
      batch.Put(ctx.cf().blobs, ToSlice(key), ToSlice(payload));
    }
    state->info.next_seq = head + encoded.count;
    state->info.updated_at = now;
    if (encoded.new_status) state->info.status = *encoded.new_status;
    ctx.MarkInfoChanged(session);
    ctx.MarkAppended(session);
    result = AppendResult{head, head + encoded.count - 1, encoded.processed_at};
    return absl::OkStatus();
  }

  EncodedAppend encoded;
  uint64_t expected_next_seq = 0;
  uint64_t lease_epoch = 0;
};

// Create, update and delete of a session record.
class SessionRequest final : public RequestFor<SessionInfo> {
 public:
  enum class Kind { kCreate, kUpdate, kDelete };

  absl::Status Apply(GroupContext& ctx, absl::Time now) override {
    switch (kind) {
      case Kind::kCreate: {
        ASSIGN_OR_RETURN(SessionState * state, ctx.Insert(session, session_id));
        state->info = std::move(info);
        state->info.status = "idle";
        state->info.next_seq = 1;
        state->info.created_at = now;
        state->info.updated_at = now;
        ctx.MarkInfoChanged(session);
        result = state->info;
        return absl::OkStatus();
      }
      case Kind::kUpdate: {
        ASSIGN_OR_RETURN(SessionState * state, ctx.Find(session, session_id));
        SessionInfo& current = state->info;
        current.workspace_id = info.workspace_id;
        current.agent_id = info.agent_id;
        current.agent_version = info.agent_version;
        current.environment_id = info.environment_id;
        current.title = info.title;
        current.metadata = info.metadata;
        current.archived_at = info.archived_at;
        current.updated_at = now;
        ctx.MarkInfoChanged(session);
        result = current;
        return absl::OkStatus();
      }
      case Kind::kDelete: {
        ASSIGN_OR_RETURN(SessionState * state, ctx.Find(session, session_id));
        state->deleted = true;
        rocksdb::WriteBatch& batch = ctx.batch();
        // From seq 0, which no event has: InsertHint relies on it to keep the tombstone off the hint.
        batch.DeleteRange(ctx.cf().events, ToSlice(EventKey(session, 0)),
                          ToSlice(EventKey(session, UINT64_MAX)));
        batch.Delete(ctx.cf().sessions, ToSlice(SessionKey(session)));
        batch.Delete(ctx.cf().leases, ToSlice(SessionKey(session)));
        ctx.MarkAppended(session);  // wakes subscribers, whose next read says NotFound
        return absl::OkStatus();
      }
    }
    return absl::InternalError("unknown session request");
  }

  Kind kind = Kind::kCreate;
  SessionInfo info;  // kCreate, kUpdate: what the caller asked for
};

class LeaseRequest final : public RequestFor<Lease> {
 public:
  enum class Kind { kAcquire, kRenew, kRelease };

  // Leases are written without an fsync of their own. They fence harnesses of live processes, and
  // the store's lock admits one writer process at a time, so after a crash no holder is alive to
  // fence; the next synced append (which a holder must make before anything it does counts) makes
  // the grant durable with it, since the WAL is synced in order. An OS crash can thus forget a grant
  // no event was ever written under, and nothing else. This saves one fsync per wake.
  bool needs_sync() const override { return false; }

  absl::Status Apply(GroupContext& ctx, absl::Time now) override {
    ASSIGN_OR_RETURN(SessionState * state, ctx.Find(session, session_id));
    std::optional<Lease>& lease = state->lease;
    switch (kind) {
      case Kind::kAcquire: {
        if (lease && !lease->owner.empty() && lease->owner != owner && lease->expires_at > now) {
          return absl::AbortedError(absl::StrCat("session ", ToAbsl(session_id), " is leased to ", lease->owner,
                                                 " (epoch ", lease->epoch, ") until ",
                                                 absl::FormatTime(lease->expires_at)));
        }
        const uint64_t epoch = lease ? lease->epoch + 1 : 1;
        lease = Lease{epoch, owner, now + ttl};
        break;
      }
      case Kind::kRenew: {
        RETURN_IF_ERROR(CheckHeld(lease));
        lease->expires_at = now + ttl;
        break;
      }
      case Kind::kRelease: {
        RETURN_IF_ERROR(CheckHeld(lease));
        // The epoch stays: appends fenced with it keep failing after a later grant.
        lease->owner.clear();
        lease->expires_at = now;
        break;
      }
    }
    ctx.batch().Put(ctx.cf().leases, ToSlice(SessionKey(session)), ToSlice(EncodeLeaseRecord(*lease)));
    result = *lease;
    return absl::OkStatus();
  }

  Kind kind = Kind::kAcquire;
  std::string owner;                      // kAcquire
  absl::Duration ttl;                     // kAcquire, kRenew
  uint64_t epoch = 0;                     // kRenew, kRelease: the epoch the caller holds

 private:
  // Renew and release need the caller's epoch to be the current, unreleased grant.
  absl::Status CheckHeld(const std::optional<Lease>& lease) const {
    if (!lease || lease->epoch != epoch || lease->owner.empty()) {
      return absl::AbortedError(
          absl::StrCat("lease epoch ", epoch, " on ", ToAbsl(session_id), " is no longer current"));
    }
    return absl::OkStatus();
  }
};

// --- Subscription ---------------------------------------------------------------------------------

class SubscriptionImpl final : public Subscription {
 public:
  SubscriptionImpl(RocksDbSessionLog* log, IdBytes session, std::string session_id, uint64_t from)
      : log_(log), session_(session), session_id_(std::move(session_id)), cursor_(from) {}

  ~SubscriptionImpl() override { log_->Unregister(session_, this); }

  absl::StatusOr<std::vector<Event>> Next(size_t max_events, absl::Time deadline) override {
    while (true) {
      uint64_t seen;
      {
        MutexLock lock(&mu_);
        if (cancelled_) return absl::CancelledError("subscription cancelled");
        seen = generation_;
      }
      ReadOptions read;
      read.from_seq = cursor_;
      read.limit = max_events;
      ASSIGN_OR_RETURN(std::vector<Event> events, log_->Read(session_id_, read));
      if (!events.empty()) {
        cursor_ = events.back().seq + 1;
        return events;
      }
      // Nothing new: wait for the committer to say something was appended since `seen`.
      MutexLock lock(&mu_);
      auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return generation_ != seen || cancelled_;
      };
      if (!mu_.AwaitWithDeadline(changed, deadline)) {
        return std::vector<Event>{};
      }
    }
  }

  uint64_t cursor() const override { return cursor_; }

  void SetNotifier(std::function<void()> notify) override {
    MutexLock lock(&mu_);
    notify_ = std::move(notify);
  }

  void Cancel() override {
    MutexLock lock(&mu_);
    cancelled_ = true;
    mu_.SignalAll();
  }

  // Called by the committer after an append to this session.
  void Notify() {
    std::function<void()> notify;
    {
      MutexLock lock(&mu_);
      ++generation_;
      mu_.SignalAll();
      notify = notify_;
    }
    if (notify) notify();
  }

 private:
  RocksDbSessionLog* const log_;
  const IdBytes session_;
  const std::string session_id_;
  uint64_t cursor_;  // consumer-owned

  Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> notify_ ABSL_GUARDED_BY(mu_);
};

// --- RocksDbSessionLog ----------------------------------------------------------------------------

absl::StatusOr<SessionState*> RocksDbSessionLog::CommittedState(const IdBytes& session,
                                                                std::string_view session_id) {
  auto it = cache_.find(session);
  if (it != cache_.end()) return &it->second;
  const std::string key = SessionKey(session);
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_.sessions, key, &value);
  if (s.IsNotFound()) return nullptr;
  RETURN_IF_ERROR(FromRocks(s, "reading session record"));
  SessionState state;
  ASSIGN_OR_RETURN(state.info, DecodeSessionRecord(value));
  s = db_->Get(rocksdb::ReadOptions(), cf_.leases, key, &value);
  if (s.ok()) {
    ASSIGN_OR_RETURN(state.lease, DecodeLeaseRecord(value));
  } else if (!s.IsNotFound()) {
    return FromRocks(s, absl::StrCat("reading lease of ", ToAbsl(session_id)));
  }
  return &cache_.emplace(session, std::move(state)).first->second;
}

void RocksDbSessionLog::Enqueue(std::unique_ptr<WriteRequest> request) {
  MutexLock lock(&queue_mu_);
  queue_.push_back(std::move(request));
  if (!committing_) queue_mu_.SignalAll();
}

bool RocksDbSessionLog::EnqueueOrLead(std::unique_ptr<WriteRequest> request,
                                      std::vector<std::unique_ptr<WriteRequest>>& group) {
  MutexLock lock(&queue_mu_);
  queue_.push_back(std::move(request));
  if (committing_) return false;  // the current committer, or the committer thread after it, takes it
  committing_ = true;
  group.swap(queue_);
  return true;
}

void RocksDbSessionLog::CommitAsLeader(std::vector<std::unique_ptr<WriteRequest>>& group) {
  CommitGroup(group);
  group.clear();
  MutexLock lock(&queue_mu_);
  committing_ = false;
  // Whatever queued meanwhile is the committer thread's: the leader's caller wants its result now.
  if (!queue_.empty() || stopping_) queue_mu_.SignalAll();
}

void RocksDbSessionLog::CommitterLoop() {
  std::vector<std::unique_ptr<WriteRequest>> group;
  while (true) {
    {
      MutexLock lock(&queue_mu_);
      queue_mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
        return !committing_ && (!queue_.empty() || stopping_);
      });
      if (queue_.empty()) return;  // stopping, and everything queued has been committed
      committing_ = true;
      group.swap(queue_);
    }
    CommitAsLeader(group);
  }
}

void RocksDbSessionLog::CommitGroup(std::vector<std::unique_ptr<WriteRequest>>& group) {
  absl::Status sticky = health();
  if (!sticky.ok()) {
    CompleteGroup(group, [&](size_t) { return sticky; });
    return;
  }
  const absl::Time now = options_.clock->Now();
  GroupContext ctx(this, cf_);
  std::vector<absl::Status> statuses;
  statuses.reserve(group.size());
  for (auto& request : group) statuses.push_back(request->Apply(ctx, now));
  for (const IdBytes& session : ctx.info_changed()) {
    const SessionState& state = ctx.overlay().at(session);
    if (state.deleted) continue;
    ctx.batch().Put(cf_.sessions, ToSlice(SessionKey(session)), ToSlice(EncodeSessionRecord(state.info)));
  }

  if (ctx.batch().Count() > 0) {
    rocksdb::WriteOptions write = write_options_;
    write.sync = write_options_.sync && std::any_of(group.begin(), group.end(), [](const auto& request) {
                   return request->needs_sync();
                 });
    rocksdb::Status s = db_->Write(write, &ctx.batch());
    if (!s.ok()) {
      // Whether the batch reached the WAL is unknown: refuse every later write until the log is
      // reopened and recovery has settled it (DESIGN.md rule 6).
      const absl::Status error = FromRocks(s, "writing to the session log");
      {
        MutexLock lock(&sticky_mu_);
        // Unavailable: nothing is wrong with the caller's request, and a reopen (a restart) ends it.
        sticky_error_ = absl::UnavailableError(absl::StrCat(
            "the session log refuses writes until it is reopened, after: ", error.message()));
      }
      cache_.clear();  // committed state is unknown now; reloaded from disk if ever needed
      CompleteGroup(group, [&](size_t i) { return statuses[i].ok() ? error : statuses[i]; });
      return;
    }
  }
  for (auto& [session, state] : ctx.overlay()) {
    if (state.deleted) {
      cache_.erase(session);
    } else {
      cache_[session] = std::move(state);
    }
  }
  // Subscribers first: once an Append returns, every subscriber of its session has been woken.
  for (const IdBytes& session : ctx.appended()) NotifySubscribers(session);
  CompleteGroup(group, [&](size_t i) { return statuses[i]; });
}

template <typename StatusOf>
void RocksDbSessionLog::CompleteGroup(std::vector<std::unique_ptr<WriteRequest>>& group, StatusOf status_of) {
  auto sleepers = std::make_shared<std::vector<Sleeper*>>();
  for (size_t i = 0; i < group.size(); ++i) {
    group[i]->Complete(status_of(i));
    if (group[i]->sleeper != nullptr) sleepers->push_back(group[i]->sleeper);
  }
  if (sleepers->empty()) return;
  for (size_t i = 0; i < sleepers->size(); ++i) {
    (*sleepers)[i]->group = sleepers;
    (*sleepers)[i]->index = i;
  }
  // The root wakes the rest; until it is woken, every sleeper (and its stack) is still there.
  (*sleepers)[0]->woken.Notify();
}

void RocksDbSessionLog::NotifySubscribers(const IdBytes& session) {
  MutexLock lock(&subs_mu_);
  auto it = subscribers_.find(session);
  if (it == subscribers_.end()) return;
  for (SubscriptionImpl* sub : it->second) sub->Notify();
}

void RocksDbSessionLog::Unregister(const IdBytes& session, SubscriptionImpl* sub) {
  MutexLock lock(&subs_mu_);
  auto it = subscribers_.find(session);
  if (it == subscribers_.end()) return;
  std::erase(it->second, sub);
  if (it->second.empty()) subscribers_.erase(it);
}

template <typename T>
absl::StatusOr<T> RocksDbSessionLog::RunAndWait(std::unique_ptr<RequestFor<T>> request) {
  Sleeper sleeper;
  absl::StatusOr<T> result = absl::UnknownError("not completed");
  request->done = [&](absl::StatusOr<T> r) { result = std::move(r); };
  request->sleeper = &sleeper;
  std::vector<std::unique_ptr<WriteRequest>> group;
  if (EnqueueOrLead(std::move(request), group)) CommitAsLeader(group);
  sleeper.woken.WaitForNotification();
  sleeper.WakeChildren();
  return result;
}

absl::StatusOr<SessionInfo> RocksDbSessionLog::CreateSession(SessionInfo info) {
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, info.id));
  auto request = NewRequest<SessionRequest>(session, info.id);
  request->kind = SessionRequest::Kind::kCreate;
  request->info = std::move(info);
  return RunAndWait<SessionInfo>(std::move(request));
}

void RocksDbSessionLog::CatchUpWithWriter() {
  // Best effort: a follower that cannot catch up serves what it has.
  if (options_.access == StoreAccess::kFollow) db_->TryCatchUpWithPrimary().PermitUncheckedError();
}

absl::StatusOr<SessionInfo> RocksDbSessionLog::GetSession(std::string_view session_id) {
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, session_id));
  CatchUpWithWriter();
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_.sessions, SessionKey(session), &value);
  if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat("session ", ToAbsl(session_id), " does not exist"));
  RETURN_IF_ERROR(FromRocks(s, "reading session record"));
  return DecodeSessionRecord(value);
}

absl::StatusOr<SessionInfo> RocksDbSessionLog::UpdateSession(const SessionInfo& info) {
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, info.id));
  auto request = NewRequest<SessionRequest>(session, info.id);
  request->kind = SessionRequest::Kind::kUpdate;
  request->info = info;
  return RunAndWait<SessionInfo>(std::move(request));
}

absl::Status RocksDbSessionLog::DeleteSession(std::string_view session_id) {
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, session_id));
  auto request = NewRequest<SessionRequest>(session, session_id);
  request->kind = SessionRequest::Kind::kDelete;
  return RunAndWait<SessionInfo>(std::move(request)).status();
}

absl::StatusOr<SessionPage> RocksDbSessionLog::ListSessions(const ListSessionsOptions& options) {
  if (options.limit == 0) return absl::InvalidArgumentError("ListSessions: limit must be at least 1");
  CatchUpWithWriter();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_.sessions));
  if (options.after_session_id.empty()) {
    it->SeekToFirst();
  } else {
    ASSIGN_OR_RETURN(IdBytes after, ParseId(kSessionIdPrefix, options.after_session_id));
    const std::string key = SessionKey(after);
    it->Seek(key);
    if (it->Valid() && it->key() == rocksdb::Slice(key)) it->Next();
  }
  SessionPage page;
  for (; it->Valid(); it->Next()) {
    ASSIGN_OR_RETURN(SessionInfo info,
                     DecodeSessionRecord(std::string_view(it->value().data(), it->value().size())));
    if (!options.workspace_id.empty() &&
        (info.workspace_id.empty() ? kDefaultWorkspaceId : std::string_view(info.workspace_id)) != options.workspace_id) {
      continue;
    }
    if (!options.status.empty() && info.status != options.status) continue;
    if (!options.include_archived && info.archived_at) continue;
    if (page.sessions.size() == options.limit) {
      page.next_cursor = page.sessions.back().id;
      break;
    }
    page.sessions.push_back(std::move(info));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "listing sessions"));
  return page;
}

absl::StatusOr<EncodedAppend> RocksDbSessionLog::EncodeAppend(std::vector<Event>& events) {
  EncodedAppend out;
  if (events.empty()) return absl::InvalidArgumentError("Append: no events given");
  // Events store time in microseconds: round here so the caller's view equals what is stored.
  const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(options_.clock->Now()));
  out.processed_at = now;
  EncodeOptions encode;
  encode.blob_threshold = options_.blob_threshold;
  absl::flat_hash_set<std::string> seen_blobs;
  encode.put_blob = [&](std::string_view payload) -> absl::StatusOr<std::string> {
    if (payload.size() > options_.max_payload_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("a payload of ", payload.size(),
                                                     " bytes exceeds the limit of ",
                                                     options_.max_payload_bytes));
    }
    std::string key = BlobKey(payload);
    if (seen_blobs.insert(key).second) {
      // Stored once: skip the write when the blob is already there.
      std::string existing;
      rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_.blobs, key, &existing);
      if (s.IsNotFound()) {
        out.blobs.emplace_back(key, std::string(payload));
      } else {
        RETURN_IF_ERROR(FromRocks(s, "checking blob"));
      }
    }
    return key;
  };
  out.values.reserve(events.size());
  for (Event& event : events) {
    if (!ParseId(kEventIdPrefix, event.id).ok()) {
      return absl::InvalidArgumentError(absl::StrCat("event ", ToAbsl(EventTypeName(event.type)),
                                                     " has no valid id (want sevt_...), got \"",
                                                     event.id.substr(0, 64), "\""));
    }
    if (!event.processed_at) event.processed_at = now;
    ASSIGN_OR_RETURN(std::string value, EncodeEvent(event, encode));
    if (value.size() > options_.max_event_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("event ", event.id, " encodes to ", value.size(),
                                                     " bytes, over the limit of ", options_.max_event_bytes));
    }
    if (auto status = StatusAfter(event.type)) out.new_status = std::string(*status);
    out.values.push_back(std::move(value));
  }
  out.count = events.size();
  return out;
}

absl::StatusOr<std::unique_ptr<RequestFor<AppendResult>>> RocksDbSessionLog::NewAppendRequest(
    std::string_view session_id, std::vector<Event> events, uint64_t expected_next_seq, uint64_t lease_epoch) {
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, session_id));
  ASSIGN_OR_RETURN(EncodedAppend encoded, EncodeAppend(events));
  auto request = NewRequest<AppendRequest>(session, session_id);
  request->encoded = std::move(encoded);
  request->expected_next_seq = expected_next_seq;
  request->lease_epoch = lease_epoch;
  return request;
}

void RocksDbSessionLog::AppendAsync(std::string_view session_id, std::vector<Event> events,
                                    uint64_t expected_next_seq, uint64_t lease_epoch, AppendCallback done) {
  auto request = NewAppendRequest(session_id, std::move(events), expected_next_seq, lease_epoch);
  if (!request.ok()) return done(request.status());
  (*request)->done = std::move(done);
  Enqueue(*std::move(request));
}

absl::StatusOr<AppendResult> RocksDbSessionLog::Append(std::string_view session_id, std::vector<Event> events,
                                                       uint64_t expected_next_seq, uint64_t lease_epoch) {
  ASSIGN_OR_RETURN(auto request, NewAppendRequest(session_id, std::move(events), expected_next_seq, lease_epoch));
  return RunAndWait<AppendResult>(std::move(request));
}

absl::StatusOr<std::string> RocksDbSessionLog::GetBlob(std::string_view ref) {
  std::string payload;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_.blobs, ToSlice(ref), &payload);
  if (s.IsNotFound()) return absl::DataLossError(absl::StrCat("blob ", ToAbsl(ref), " is referenced but missing"));
  RETURN_IF_ERROR(FromRocks(s, "reading blob"));
  return payload;
}

// Read's way through the events: each one decoded as the result's next element (no move of each Event
// into the vector), dropped again when the type filter rejects it.
class CollectEvents {
 public:
  explicit CollectEvents(std::vector<Event>& events) : events_(events) {}

  // The record knows the head: size the result once instead of growing it (an Event is ~600 bytes), in
  // huge pages when it is big (100,000 events at 300 B: 1.0 -> 1.6 M events/s, storage_bench).
  void Reserve(size_t count) {
    events_.reserve(count);
    AdviseHugePages(events_.data(), events_.capacity() * sizeof(Event));
  }
  absl::StatusOr<Event*> Decode(std::string_view bytes, const BlobGet& get_blob) {
    Event& event = events_.emplace_back();
    RETURN_IF_ERROR(DecodeEventInto(bytes, get_blob, event));
    return &event;
  }
  void Drop() { events_.pop_back(); }
  absl::Status Keep(const Event&) { return absl::OkStatus(); }

 private:
  std::vector<Event>& events_;
};

// Scan's: every event decoded over the one before it, which reuses its memory.
class VisitEvents {
 public:
  explicit VisitEvents(absl::FunctionRef<absl::Status(const Event&)> visit) : visit_(visit) {}

  void Reserve(size_t) {}
  absl::StatusOr<Event*> Decode(std::string_view bytes, const BlobGet& get_blob) {
    RETURN_IF_ERROR(DecodeEventOver(bytes, get_blob, event_));
    return &event_;
  }
  void Drop() {}
  absl::Status Keep(const Event& event) { return visit_(event); }

 private:
  absl::FunctionRef<absl::Status(const Event&)> visit_;
  Event event_;
};

template <typename Sink>
absl::Status RocksDbSessionLog::Walk(std::string_view session_id, const ReadOptions& options, Sink& sink) {
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, session_id));
  CatchUpWithWriter();
  // One snapshot for the existence check and the scan, so a concurrent delete cannot split them. (A
  // follower has no snapshots; it changes only when it catches up, which it did just above.)
  const rocksdb::Snapshot* snapshot = options_.access == StoreAccess::kFollow ? nullptr : db_->GetSnapshot();
  struct Release {
    rocksdb::DB* db;
    const rocksdb::Snapshot* snapshot;
    ~Release() {
      if (snapshot != nullptr) db->ReleaseSnapshot(snapshot);
    }
  } release{db_, snapshot};
  rocksdb::ReadOptions read;
  read.snapshot = snapshot;
  std::string record;
  rocksdb::Status s = db_->Get(read, cf_.sessions, SessionKey(session), &record);
  if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat("session ", ToAbsl(session_id), " does not exist"));
  RETURN_IF_ERROR(FromRocks(s, "reading session record"));

  if (options.limit == 0) return absl::OkStatus();
  const uint64_t from = std::max<uint64_t>(options.from_seq, 1);
  ASSIGN_OR_RETURN(SessionInfo info, DecodeSessionRecord(record));
  if (options.types.empty() && info.next_seq > from) {
    sink.Reserve(std::min<uint64_t>(options.limit, info.next_seq - from));
  }
  const std::string start = EventKey(session, from);
  const std::string end = EventKey(session, UINT64_MAX);
  rocksdb::Slice upper(end);
  read.iterate_upper_bound = &upper;
  read.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, cf_.events));
  BlobGet get_blob = [this](std::string_view ref) { return GetBlob(ref); };
  bool filter[kEventTypeCount] = {};
  for (EventType t : options.types) filter[static_cast<int>(t)] = true;
  uint64_t expected = from;
  size_t kept = 0;
  for (it->Seek(start); it->Valid() && kept < options.limit; it->Next()) {
    IdBytes key_session;
    uint64_t seq = 0;
    if (!DecodeEventKey(std::string_view(it->key().data(), it->key().size()), &key_session, &seq)) {
      return absl::DataLossError(absl::StrCat("malformed event key in ", ToAbsl(session_id)));
    }
    if (seq != expected) {
      return absl::DataLossError(absl::StrCat("gap in ", ToAbsl(session_id), ": expected seq ", expected,
                                              ", found ", seq));
    }
    ++expected;
    absl::StatusOr<Event*> event = sink.Decode(std::string_view(it->value().data(), it->value().size()), get_blob);
    if (!event.ok()) {
      return absl::DataLossError(absl::StrCat("event ", seq, " of ", ToAbsl(session_id),
                                              " cannot be decoded: ", event.status().message()));
    }
    if (!options.types.empty() && !filter[static_cast<int>((*event)->type)]) {
      sink.Drop();
      continue;
    }
    (*event)->seq = seq;
    ++kept;
    RETURN_IF_ERROR(sink.Keep(**event));
  }
  return FromRocks(it->status(), absl::StrCat("reading events of ", ToAbsl(session_id)));
}

absl::StatusOr<std::vector<Event>> RocksDbSessionLog::Read(std::string_view session_id,
                                                           const ReadOptions& options) {
  std::vector<Event> events;
  CollectEvents sink(events);
  RETURN_IF_ERROR(Walk(session_id, options, sink));
  return events;
}

absl::Status RocksDbSessionLog::Scan(std::string_view session_id, const ReadOptions& options,
                                     absl::FunctionRef<absl::Status(const Event&)> visit) {
  VisitEvents sink(visit);
  return Walk(session_id, options, sink);
}

absl::StatusOr<std::unique_ptr<Subscription>> RocksDbSessionLog::Subscribe(std::string_view session_id,
                                                                           uint64_t from_seq) {
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, session_id));
  RETURN_IF_ERROR(GetSession(session_id).status());
  auto sub = std::make_unique<SubscriptionImpl>(this, session, std::string(session_id),
                                                std::max<uint64_t>(from_seq, 1));
  MutexLock lock(&subs_mu_);
  subscribers_[session].push_back(sub.get());
  return sub;
}

absl::StatusOr<Lease> RocksDbSessionLog::AcquireLease(std::string_view session_id, std::string_view owner,
                                                      absl::Duration ttl) {
  if (owner.empty()) return absl::InvalidArgumentError("AcquireLease: owner must not be empty");
  if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("AcquireLease: ttl must be positive");
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, session_id));
  auto request = NewRequest<LeaseRequest>(session, session_id);
  request->kind = LeaseRequest::Kind::kAcquire;
  request->owner = std::string(owner);
  request->ttl = ttl;
  return RunAndWait<Lease>(std::move(request));
}

absl::StatusOr<Lease> RocksDbSessionLog::RenewLease(std::string_view session_id, uint64_t epoch,
                                                    absl::Duration ttl) {
  if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("RenewLease: ttl must be positive");
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, session_id));
  auto request = NewRequest<LeaseRequest>(session, session_id);
  request->kind = LeaseRequest::Kind::kRenew;
  request->epoch = epoch;
  request->ttl = ttl;
  return RunAndWait<Lease>(std::move(request));
}

absl::Status RocksDbSessionLog::ReleaseLease(std::string_view session_id, uint64_t epoch) {
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, session_id));
  auto request = NewRequest<LeaseRequest>(session, session_id);
  request->kind = LeaseRequest::Kind::kRelease;
  request->epoch = epoch;
  return RunAndWait<Lease>(std::move(request)).status();
}

absl::StatusOr<Lease> RocksDbSessionLog::GetLease(std::string_view session_id) {
  ASSIGN_OR_RETURN(IdBytes session, ParseId(kSessionIdPrefix, session_id));
  RETURN_IF_ERROR(GetSession(session_id).status());
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_.leases, SessionKey(session), &value);
  if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat("session ", ToAbsl(session_id), " has never been leased"));
  RETURN_IF_ERROR(FromRocks(s, "reading lease"));
  return DecodeLeaseRecord(value);
}

// --- RocksDbDocumentStore -------------------------------------------------------------------------

// Keys: kind, a NUL, id. Low-rate writes (agents, environments): each is its own synced write, and a
// mutex makes read-modify-write updates atomic within the process (the store has one writer process).
class RocksDbDocumentStore final : public DocumentStore {
 public:
  RocksDbDocumentStore(const RocksDbSessionLogOptions& options, std::shared_ptr<SharedDb> shared)
      : shared_(std::move(shared)), cf_(shared_->handles[5]), clock_(options.clock),
        read_only_(options.access != StoreAccess::kReadWrite) {
    write_.sync = options.durability == Durability::kSync;
  }

  absl::StatusOr<Document> Create(std::string_view kind, std::string_view id, std::string json) override {
    RETURN_IF_ERROR(CheckKey(kind, id));
    RETURN_IF_ERROR(CheckWritable());
    MutexLock lock(&mu_);
    if (Load(kind, id).ok()) {
      return absl::AlreadyExistsError(absl::StrCat(ToAbsl(kind), " ", ToAbsl(id), " already exists"));
    }
    Document doc;
    doc.kind = std::string(kind);
    doc.id = std::string(id);
    doc.version = 1;
    doc.json = std::move(json);
    doc.created_at = doc.updated_at = clock_->Now();
    RETURN_IF_ERROR(Store(doc));
    return doc;
  }

  absl::StatusOr<Document> Get(std::string_view kind, std::string_view id) override {
    RETURN_IF_ERROR(CheckKey(kind, id));
    return Load(kind, id);
  }

  absl::StatusOr<Document> Update(std::string_view kind, std::string_view id, uint64_t expected_version,
                                  std::string json) override {
    RETURN_IF_ERROR(CheckKey(kind, id));
    RETURN_IF_ERROR(CheckWritable());
    MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Document doc, Load(kind, id));
    if (expected_version != 0 && doc.version != expected_version) {
      return absl::AbortedError(absl::StrCat(ToAbsl(kind), " ", ToAbsl(id), " is at version ", doc.version,
                                             ", not ", expected_version, ": it was updated meanwhile"));
    }
    ++doc.version;
    doc.json = std::move(json);
    doc.updated_at = clock_->Now();
    RETURN_IF_ERROR(Store(doc));
    return doc;
  }

  absl::StatusOr<Document> Archive(std::string_view kind, std::string_view id) override {
    RETURN_IF_ERROR(CheckKey(kind, id));
    RETURN_IF_ERROR(CheckWritable());
    MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Document doc, Load(kind, id));
    if (doc.archived_at) return doc;
    doc.archived_at = doc.updated_at = clock_->Now();
    RETURN_IF_ERROR(Store(doc));
    return doc;
  }

  absl::Status Delete(std::string_view kind, std::string_view id) override {
    RETURN_IF_ERROR(CheckKey(kind, id));
    RETURN_IF_ERROR(CheckWritable());
    MutexLock lock(&mu_);
    RETURN_IF_ERROR(Load(kind, id).status());
    return FromRocks(shared_->db->Delete(write_, cf_, Key(kind, id)), "deleting a document");
  }

  absl::StatusOr<DocumentPage> List(std::string_view kind, std::string_view after_id, size_t limit,
                                    bool include_archived) override {
    if (limit == 0) return absl::InvalidArgumentError("List: limit must be at least 1");
    if (cf_ == nullptr) return DocumentPage{};
    const std::string prefix = Key(kind, "");
    std::unique_ptr<rocksdb::Iterator> it(shared_->db->NewIterator(rocksdb::ReadOptions(), cf_));
    const std::string start = Key(kind, after_id);
    it->Seek(start);
    if (!after_id.empty() && it->Valid() && it->key() == rocksdb::Slice(start)) it->Next();
    DocumentPage page;
    for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
      ASSIGN_OR_RETURN(Document doc, DecodeDocumentRecord(std::string_view(it->value().data(), it->value().size())));
      doc.kind = std::string(kind);
      doc.id = it->key().ToString().substr(prefix.size());
      if (doc.archived_at && !include_archived) continue;
      if (page.documents.size() == limit) {
        page.next_cursor = page.documents.back().id;
        break;
      }
      page.documents.push_back(std::move(doc));
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "listing documents"));
    return page;
  }

 private:
  static std::string Key(std::string_view kind, std::string_view id) {
    return absl::StrCat(ToAbsl(kind), std::string(1, '\0'), ToAbsl(id));
  }
  static absl::Status CheckKey(std::string_view kind, std::string_view id) {
    if (kind.empty() || id.empty() || kind.find('\0') != std::string_view::npos) {
      return absl::InvalidArgumentError("a document needs a kind and an id");
    }
    return absl::OkStatus();
  }
  absl::Status CheckWritable() const {
    if (read_only_ || cf_ == nullptr) return absl::FailedPreconditionError("the document store is open for reading only");
    return absl::OkStatus();
  }
  absl::StatusOr<Document> Load(std::string_view kind, std::string_view id) {
    if (cf_ == nullptr) return absl::NotFoundError(absl::StrCat(ToAbsl(kind), " ", ToAbsl(id), " does not exist"));
    std::string value;
    rocksdb::Status s = shared_->db->Get(rocksdb::ReadOptions(), cf_, Key(kind, id), &value);
    if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat(ToAbsl(kind), " ", ToAbsl(id), " does not exist"));
    RETURN_IF_ERROR(FromRocks(s, "reading a document"));
    ASSIGN_OR_RETURN(Document doc, DecodeDocumentRecord(value));
    doc.kind = std::string(kind);
    doc.id = std::string(id);
    return doc;
  }
  absl::Status Store(const Document& doc) {
    return FromRocks(shared_->db->Put(write_, cf_, Key(doc.kind, doc.id), EncodeDocumentRecord(doc)),
                     "writing a document");
  }

  const std::shared_ptr<SharedDb> shared_;
  rocksdb::ColumnFamilyHandle* const cf_;
  Clock* const clock_;
  const bool read_only_;
  rocksdb::WriteOptions write_;
  Mutex mu_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SessionLog>> OpenRocksDbSessionLog(const RocksDbSessionLogOptions& options) {
  ASSIGN_OR_RETURN(RocksDbStore store, OpenRocksDbStore(options));
  return std::move(store.log);
}

absl::StatusOr<RocksDbStore> OpenRocksDbStore(const RocksDbSessionLogOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("OpenRocksDbSessionLog: path is empty");
  if (options.clock == nullptr) return absl::InvalidArgumentError("OpenRocksDbSessionLog: clock is null");

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.access == StoreAccess::kReadWrite;
  db_options.create_missing_column_families = options.access == StoreAccess::kReadWrite;
  db_options.paranoid_checks = true;
  if (options.env != nullptr) db_options.env = options.env;
  // A torn last WAL record is the normal result of a crash mid-write; anything worse is corruption.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.max_background_jobs = 2;
  db_options.IncreaseParallelism(2);

  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  auto table_options = [&](bool prefix_bloom) {
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    t.whole_key_filtering = !prefix_bloom;
    t.cache_index_and_filter_blocks = true;
    // The events column family is read as whole-session scans, never by point lookups: 32 KiB
    // blocks (RocksDB's default is 4 KiB) mean fewer reads, index entries and decompressions per
    // session. Measured (storage_bench): a 1,000-event session loaded after the page cache was
    // dropped 3.6 -> 2.7 ms (2.2 KB events) and 1.18 -> 0.78 ms (300 B); a 100,000-event read
    // 0.3 -> 0.45 M events/s; warm reads unchanged.
    if (prefix_bloom) t.block_size = 32 * 1024;
    return std::shared_ptr<rocksdb::TableFactory>(rocksdb::NewBlockBasedTableFactory(t));
  };

  rocksdb::ColumnFamilyOptions events;
  // One session's events share the 16-byte id prefix: seeks use the prefix bloom filters.
  events.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kSessionKeySize));
  events.memtable_prefix_bloom_size_ratio = 0.1;
  events.memtable_insert_with_hint_prefix_extractor = std::make_shared<InsertHint>(InsertHint::Keys::kAppendedEvents);
  events.table_factory = table_options(/*prefix_bloom=*/true);
  events.compression = rocksdb::kLZ4Compression;
  events.bottommost_compression = rocksdb::kZSTD;
  rocksdb::ColumnFamilyOptions point;  // sessions, leases, blobs: point lookups
  point.table_factory = table_options(/*prefix_bloom=*/false);
  point.compression = rocksdb::kLZ4Compression;

  rocksdb::ColumnFamilyOptions sessions = point;  // a record rewritten by every append
  sessions.memtable_insert_with_hint_prefix_extractor = std::make_shared<InsertHint>(InsertHint::Keys::kSessionRecords);

  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, point}, {kEventsCf, events}, {kSessionsCf, sessions},
      {kLeasesCf, point},                         {kBlobsCf, point},  {kDocumentsCf, point},
  };
  if (options.access != StoreAccess::kReadWrite) {
    // A reader cannot create a column family: a store from before documents existed opens without.
    std::vector<std::string> existing;
    rocksdb::DB::ListColumnFamilies(db_options, options.path, &existing).PermitUncheckedError();
    if (std::find(existing.begin(), existing.end(), kDocumentsCf) == existing.end()) families.pop_back();
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (options.access == StoreAccess::kReadWrite) {
    // RocksDB makes the last directory only; a data dir such as /var/lib/wake/data needs its parents.
    std::error_code ec;
    std::filesystem::create_directories(options.path, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("making ", options.path, ": ", ec.message()));
    // Not RocksDB's own LOG writer: it aborts the process on the line after a failed write (a full
    // disk) in Debian's RocksDB build. See info_log.h.
    db_options.info_log = NewInfoLog(options.path);
  }
  rocksdb::Status s;
  switch (options.access) {
    case StoreAccess::kReadWrite:
      s = rocksdb::DB::Open(db_options, options.path, families, &handles, &raw);
      break;
    case StoreAccess::kReadOnly:
      s = rocksdb::DB::OpenForReadOnly(db_options, options.path, families, &handles, &raw);
      break;
    case StoreAccess::kFollow:
      if (options.follow_dir.empty()) {
        return absl::InvalidArgumentError("OpenRocksDbSessionLog: kFollow needs a follow_dir");
      }
      db_options.max_open_files = -1;  // a secondary instance keeps every table file open
      s = rocksdb::DB::OpenAsSecondary(db_options, options.path, options.follow_dir, families, &handles, &raw);
      break;
  }
  auto shared = std::make_shared<SharedDb>();
  shared->db.reset(raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("opening session log at ", options.path));
  shared->handles = std::move(handles);
  shared->handles.resize(6, nullptr);
  RocksDbStore store;
  store.log = std::unique_ptr<SessionLog>(new RocksDbSessionLog(options, shared));
  store.documents = std::unique_ptr<DocumentStore>(new RocksDbDocumentStore(options, shared));
  return store;
}

}  // namespace wake
