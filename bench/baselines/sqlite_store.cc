#include "bench/baselines/sqlite_store.h"

#include <sqlite3.h>

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/strings.h"
#include "schemas/event_json.h"

namespace wake::bench {
namespace {

struct ConnectionCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

absl::Status SqliteError(sqlite3* db, std::string_view what) {
  return absl::InternalError(absl::StrCat("sqlite ", ToAbsl(what), ": ", sqlite3_errmsg(db)));
}

absl::Status Exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    absl::Status s = absl::InternalError(absl::StrCat("sqlite ", sql, ": ", message ? message : "?"));
    sqlite3_free(message);
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    return SqliteError(db, sql);
  }
  return Statement(stmt);
}

// Runs a statement that returns no rows and resets it for the next use.
absl::Status StepDone(sqlite3* db, sqlite3_stmt* stmt, std::string_view what) {
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return SqliteError(db, what);
  return absl::OkStatus();
}

// A connection for one thread. synchronous and busy_timeout are per-connection settings, so every
// connection sets them; journal_mode=WAL is stored in the database file and set once at open.
absl::StatusOr<Connection> OpenConnection(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  // NOMUTEX: each connection is used by one thread at a time, so SQLite's own locking is waste.
  const int rc = sqlite3_open_v2(path.c_str(), &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK) return SqliteError(raw, absl::StrCat("open ", path));
  if (sqlite3_busy_timeout(db.get(), busy_timeout_ms) != SQLITE_OK) return SqliteError(db.get(), "busy_timeout");
  absl::Status s = Exec(db.get(), "PRAGMA synchronous=FULL");
  if (!s.ok()) return s;
  return db;
}

constexpr char kInsertSql[] = "INSERT INTO events(session_id, seq, body) VALUES(?1, ?2, ?3)";

class SqliteWriter final : public SessionWriter {
 public:
  static absl::StatusOr<std::unique_ptr<SessionWriter>> Open(const std::string& path, int busy_timeout_ms,
                                                             std::string_view session_id) {
    absl::StatusOr<Connection> db = OpenConnection(path, busy_timeout_ms);
    if (!db.ok()) return db.status();
    auto writer = std::unique_ptr<SqliteWriter>(new SqliteWriter(*std::move(db), session_id));
    absl::Status s = writer->PrepareStatements();
    if (!s.ok()) return s;
    return writer;
  }

  absl::Status Append(Event event) override {
    body_ = EncodeEventJson(event);
    // BEGIN IMMEDIATE takes the write lock up front (waiting via busy_timeout), so the insert can
    // never fail with SQLITE_BUSY halfway through a transaction.
    absl::Status s = StepDone(db_.get(), begin_.get(), "BEGIN IMMEDIATE");
    if (!s.ok()) return s;
    sqlite3_bind_text(insert_.get(), 1, session_id_.data(), static_cast<int>(session_id_.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_.get(), 2, static_cast<sqlite3_int64>(next_seq_));
    sqlite3_bind_text(insert_.get(), 3, body_.data(), static_cast<int>(body_.size()), SQLITE_STATIC);
    s = StepDone(db_.get(), insert_.get(), "INSERT");
    if (s.ok()) s = StepDone(db_.get(), commit_.get(), "COMMIT");
    if (!s.ok()) {
      Exec(db_.get(), "ROLLBACK").IgnoreError();  // best effort; the append already failed
      return s;
    }
    ++next_seq_;
    return absl::OkStatus();
  }

 private:
  SqliteWriter(Connection db, std::string_view session_id) : db_(std::move(db)), session_id_(session_id) {}

  absl::Status PrepareStatements() {
    absl::StatusOr<Statement> begin = Prepare(db_.get(), "BEGIN IMMEDIATE");
    if (!begin.ok()) return begin.status();
    absl::StatusOr<Statement> insert = Prepare(db_.get(), kInsertSql);
    if (!insert.ok()) return insert.status();
    absl::StatusOr<Statement> commit = Prepare(db_.get(), "COMMIT");
    if (!commit.ok()) return commit.status();
    begin_ = *std::move(begin);
    insert_ = *std::move(insert);
    commit_ = *std::move(commit);
    return absl::OkStatus();
  }

  Connection db_;
  // Statements are finalized before the connection closes (members die in reverse order).
  Statement begin_, insert_, commit_;
  const std::string session_id_;
  std::string body_;  // bound SQLITE_STATIC, so it must outlive the step
  uint64_t next_seq_ = 1;
};

class SqliteStore final : public SessionStore {
 public:
  SqliteStore(SqliteStoreOptions options, std::string path, Connection db)
      : options_(std::move(options)), path_(std::move(path)), db_(std::move(db)) {}

  absl::StatusOr<std::unique_ptr<SessionWriter>> CreateSession(std::string_view session_id) override {
    // A session is just its rows: nothing to create until the first append.
    return SqliteWriter::Open(path_, options_.busy_timeout_ms, session_id);
  }

  absl::Status BulkLoad(std::string_view session_id, const std::vector<Event>& events) override {
    absl::MutexLock lock(&mu_);
    absl::Status s = Exec(db_.get(), "BEGIN IMMEDIATE");
    if (!s.ok()) return s;
    absl::StatusOr<Statement> insert = Prepare(db_.get(), kInsertSql);
    if (!insert.ok()) return insert.status();
    for (size_t i = 0; i < events.size(); ++i) {
      const std::string body = EncodeEventJson(events[i]);
      sqlite3_bind_text(insert->get(), 1, session_id.data(), static_cast<int>(session_id.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert->get(), 2, static_cast<sqlite3_int64>(i + 1));
      sqlite3_bind_text(insert->get(), 3, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      s = StepDone(db_.get(), insert->get(), "INSERT");
      if (!s.ok()) {
        Exec(db_.get(), "ROLLBACK").IgnoreError();
        return s;
      }
    }
    return Exec(db_.get(), "COMMIT");
  }

  absl::StatusOr<std::vector<Event>> ReadSession(std::string_view session_id) override {
    absl::MutexLock lock(&mu_);
    if (!select_) {
      absl::StatusOr<Statement> select =
          Prepare(db_.get(), "SELECT seq, body FROM events WHERE session_id = ?1 ORDER BY seq");
      if (!select.ok()) return select.status();
      select_ = *std::move(select);
    }
    sqlite3_stmt* stmt = select_.get();
    sqlite3_bind_text(stmt, 1, session_id.data(), static_cast<int>(session_id.size()), SQLITE_STATIC);
    std::vector<Event> events;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const auto* body = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
      const int size = sqlite3_column_bytes(stmt, 1);
      const sqlite3_int64 seq = sqlite3_column_int64(stmt, 0);
      absl::StatusOr<Event> event = DecodeEventJson(std::string_view(body, static_cast<size_t>(size)));
      if (!event.ok()) {
        sqlite3_reset(stmt);
        return absl::DataLossError(
            absl::StrCat("events row ", ToAbsl(session_id), "/", seq, ": ", event.status().message()));
      }
      event->seq = static_cast<uint64_t>(seq);
      events.push_back(*std::move(event));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), "SELECT");
    return events;
  }

 private:
  const SqliteStoreOptions options_;
  const std::string path_;
  absl::Mutex mu_;
  // The store's own connection, for bulk loads and reads (which the benchmark runs on one thread).
  Connection db_ ABSL_GUARDED_BY(mu_);
  Statement select_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<SessionStore>> OpenSqliteStore(const SqliteStoreOptions& options) {
  const std::string path = absl::StrCat(options.root, "/events.db");
  absl::StatusOr<Connection> db = OpenConnection(path, options.busy_timeout_ms);
  if (!db.ok()) return db.status();
  absl::Status s = Exec(db->get(), "PRAGMA journal_mode=WAL");
  if (s.ok()) {
    s = Exec(db->get(),
             "CREATE TABLE IF NOT EXISTS events(session_id TEXT NOT NULL, seq INTEGER NOT NULL, "
             "body TEXT NOT NULL, PRIMARY KEY(session_id, seq)) WITHOUT ROWID");
  }
  if (!s.ok()) return s;
  return std::make_unique<SqliteStore>(options, path, *std::move(db));
}

}  // namespace wake::bench
