// Prepared statements are cached per SQL text; every handle is RAII.
#include "store/sqlite_database.hpp"

#include "core/clock.hpp"
#include "store/schema.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <stdexcept>

namespace sg::store {
namespace {

// A failed SQLite call, with its extended result code (SQLITE_FULL, SQLITE_BUSY, …).
database_error sqlite_error(int code, const std::string& what) {
  return database_error(code, what, (code & 0xff) == SQLITE_FULL);
}

class binder {
 public:
  explicit binder(sqlite3_stmt* s) : s_(s) { sqlite3_reset(s_); sqlite3_clear_bindings(s_); }
  ~binder() { sqlite3_reset(s_); }
  binder& text(const std::string& v) {
    sqlite3_bind_text(s_, ++i_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  binder& text(const char* v) { return text(std::string(v)); }
  binder& integer(std::int64_t v) {
    sqlite3_bind_int64(s_, ++i_, v);
    return *this;
  }
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_;
  int i_ = 0;
};

std::string col_text(sqlite3_stmt* s, int i) {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

}  // namespace

sqlite_database::sqlite_database(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK)
    throw std::runtime_error("cannot open database " + path + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  sqlite3_busy_timeout(raw, 5000);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec("PRAGMA foreign_keys=ON");
  migrate();
}

sqlite_database::sqlite_database(const std::string& path, read_only_t) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK)
    throw sqlite_error(rc, "cannot open database " + path + " to read: " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  // A project and its cards are a few pages: a small page cache does.
  exec("PRAGMA cache_size=-256");
}

std::int64_t sqlite_database::query_int(const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    throw sqlite_error(sqlite3_extended_errcode(db_.get()), std::string("sqlite prepare: ") + sqlite3_errmsg(db_.get()));
  std::unique_ptr<sqlite3_stmt, stmt_finalizer> guard(st);
  return sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
}

void sqlite_database::migrate() {
  // A database from before versioned migrations may lack the one column added after the first
  // release; it gets it here, and is then adopted as version 1 (whose statements are IF NOT EXISTS).
  if (query_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'messages'") &&
      !query_int("SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'owner'"))
    exec("ALTER TABLE messages ADD COLUMN owner TEXT NOT NULL DEFAULT ''");
  exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
       "applied_at INTEGER NOT NULL)");
  // IMMEDIATE: a second process opening the same file waits here instead of applying a step twice.
  exec("BEGIN IMMEDIATE");
  try {
    auto current = schema_version();
    refuse_newer_schema(current);
    auto now = core::now_ms();
    for (auto& m : migrations()) {
      if (m.version <= current) continue;
      exec(m.sqlite);
      binder b(prepare("INSERT INTO schema_version(version, description, applied_at) VALUES(?,?,?)"));
      b.integer(m.version).text(m.description).integer(now);
      if (sqlite3_step(b.get()) != SQLITE_DONE)
        throw sqlite_error(sqlite3_extended_errcode(db_.get()), std::string("sqlite: ") + sqlite3_errmsg(db_.get()));
    }
    exec("COMMIT");
  } catch (...) {
    if (in_transaction()) exec("ROLLBACK");
    throw;
  }
}

int sqlite_database::schema_version() {
  return static_cast<int>(query_int("SELECT coalesce(max(version), 0) FROM schema_version"));
}

void sqlite_database::limit_size(std::int64_t max_bytes) {
  if (max_bytes <= 0) return;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_.get(), "PRAGMA page_size", -1, &st, nullptr);
  std::unique_ptr<sqlite3_stmt, stmt_finalizer> guard(st);
  std::int64_t page = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 4096;
  exec("PRAGMA max_page_count = " + std::to_string(std::max<std::int64_t>(1, max_bytes / std::max<std::int64_t>(page, 512))));
}

void sqlite_database::checkpoint_elsewhere(std::function<void(int)> on_commit) {
  on_commit_ = std::move(on_commit);
  exec("PRAGMA wal_autocheckpoint=0");
  install_hooks();
}

void sqlite_database::track_project_writes(std::atomic<std::uint64_t>* generation) {
  project_generation_ = generation;
  install_hooks();
}

void sqlite_database::install_hooks() {
  // Called after each commit (WAL mode), with the WAL's length.
  sqlite3_wal_hook(
      db_.get(),
      [](void* self, sqlite3*, const char*, int pages) {
        auto* d = static_cast<sqlite_database*>(self);
        d->project_writes_settled();
        if (d->on_commit_) d->on_commit_(pages);
        return SQLITE_OK;
      },
      this);
  sqlite3_rollback_hook(db_.get(), [](void* self) { static_cast<sqlite_database*>(self)->project_writes_settled(); }, this);
}

void sqlite_database::project_write_begins() {
  if (!project_generation_) return;
  // A read-modify-write: a full barrier, so no reader sees this write's rows before the odd value.
  if (!(project_generation_->load(std::memory_order_relaxed) & 1))
    project_generation_->fetch_add(1, std::memory_order_seq_cst);
}

void sqlite_database::project_writes_settled() {
  if (!project_generation_) return;
  if (project_generation_->load(std::memory_order_relaxed) & 1)
    project_generation_->fetch_add(1, std::memory_order_seq_cst);
}

bool sqlite_database::in_transaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }

bool sqlite_database::checkpoint() {
  int log = 0, done = 0;
  return sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK;
}

// The statements that begin, end or mark a transaction run once or twice in every store job and
// around every item of a batch. sqlite3_exec parsed their text each time (about 10 k instructions
// for a `SAVEPOINT item`); kept prepared, a run is a step and a reset.
sqlite3_stmt* sqlite_database::transaction_statement(const std::string& sql) {
  static constexpr std::string_view kinds[] = {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT ", "RELEASE "};
  if (sql.size() > 64 || sql.find(';') != std::string::npos) return nullptr;
  if (std::none_of(std::begin(kinds), std::end(kinds), [&](std::string_view k) { return sql.starts_with(k); }))
    return nullptr;
  for (auto& [k, st] : transaction_cache_)
    if (k == sql) return st.get();
  if (transaction_cache_.size() >= 16) return nullptr;  // savepoint names are few and fixed
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &st, nullptr) != SQLITE_OK || !st) {
    sqlite3_finalize(st);
    return nullptr;  // sqlite3_exec reports it
  }
  transaction_cache_.emplace_back(sql, std::unique_ptr<sqlite3_stmt, stmt_finalizer>(st));
  return st;
}

void sqlite_database::exec(const std::string& sql) {
  if (auto* st = transaction_statement(sql)) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
      sqlite3_reset(st);
      return;
    }
    int code = sqlite3_extended_errcode(db_.get());
    std::string msg = sqlite3_errmsg(db_.get());
    sqlite3_reset(st);
    throw sqlite_error(code, "sqlite: " + msg);
  }
  project_write_begins();  // any statement at all may change a project or a card
  char* err = nullptr;
  if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw sqlite_error(sqlite3_extended_errcode(db_.get()), "sqlite: " + msg);
  }
}

sqlite3_stmt* sqlite_database::prepare(const char* sql) {
  for (auto& [k, s] : cache_)
    if (k == sql) return s.get();
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql, -1, &s, nullptr) != SQLITE_OK)
    throw sqlite_error(sqlite3_extended_errcode(db_.get()), std::string("sqlite prepare: ") + sqlite3_errmsg(db_.get()));
  cache_.emplace_back(sql, std::unique_ptr<sqlite3_stmt, stmt_finalizer>(s));
  return s;
}

namespace {
void step_done(sqlite3* db, sqlite3_stmt* s) {
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) throw sqlite_error(sqlite3_extended_errcode(db), std::string("sqlite step: ") + sqlite3_errmsg(db));
}
}  // namespace

void sqlite_database::put_connection(const connection_row& r) {
  binder b(prepare("INSERT OR REPLACE INTO connections(connection_id, connected_at, last_active_at, ttl, source_ip, "
                   "user_agent, sub) VALUES(?,?,?,?,?,?,?)"));
  b.text(r.connection_id).integer(r.connected_at).integer(r.last_active_at).integer(r.ttl).text(r.source_ip)
      .text(r.user_agent).text(r.sub);
  step_done(db_.get(), b.get());
}

void sqlite_database::delete_connection(const std::string& id) {
  binder b(prepare("DELETE FROM connections WHERE connection_id = ?"));
  b.text(id);
  step_done(db_.get(), b.get());
}

void sqlite_database::refresh_connections(const std::vector<std::string>& ids, std::int64_t last_active_at,
                                   std::int64_t ttl) {
  if (ids.empty()) return;
  // A savepoint, not BEGIN: it nests inside the store's batch transaction and stands alone outside it.
  exec("SAVEPOINT refresh");
  try {
    for (auto& id : ids) {
      binder b(prepare("UPDATE connections SET ttl = ?, last_active_at = max(last_active_at, ?) "
                       "WHERE connection_id = ?"));
      b.integer(ttl).integer(last_active_at).text(id);
      step_done(db_.get(), b.get());
    }
    exec("RELEASE refresh");
  } catch (...) {
    if (in_transaction()) {
      exec("ROLLBACK TO refresh");
      exec("RELEASE refresh");
    }
    throw;
  }
}

int sqlite_database::expire_connections(std::int64_t now_ms) {
  binder b(prepare("DELETE FROM connections WHERE ttl < ?"));
  b.integer(now_ms);
  step_done(db_.get(), b.get());
  return sqlite3_changes(db_.get());
}

std::optional<connection_row> sqlite_database::get_connection(const std::string& id) {
  binder b(prepare("SELECT connection_id, connected_at, last_active_at, ttl, source_ip, user_agent, sub "
                   "FROM connections WHERE connection_id = ?"));
  b.text(id);
  if (sqlite3_step(b.get()) != SQLITE_ROW) return std::nullopt;
  auto s = b.get();
  return connection_row{col_text(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
                        sqlite3_column_int64(s, 3), col_text(s, 4), col_text(s, 5), col_text(s, 6)};
}

std::int64_t sqlite_database::count_connections() {
  binder b(prepare("SELECT count(*) FROM connections"));
  if (sqlite3_step(b.get()) != SQLITE_ROW) return 0;
  return sqlite3_column_int64(b.get(), 0);
}

void sqlite_database::put_project(const project_row& p) {
  project_write_begins();
  binder b(prepare("INSERT OR REPLACE INTO projects(id, name, description, owner, created_at, updated_at) "
                   "VALUES(?,?,?,?,?,?)"));
  b.text(p.id).text(p.name).text(p.description).text(p.owner).integer(p.created_at).integer(p.updated_at);
  step_done(db_.get(), b.get());
}

namespace {
project_row read_project(sqlite3_stmt* s) {
  return project_row{col_text(s, 0), col_text(s, 1), col_text(s, 2), col_text(s, 3), sqlite3_column_int64(s, 4),
                     sqlite3_column_int64(s, 5)};
}
card_row read_card(sqlite3_stmt* s) {
  return card_row{col_text(s, 0), col_text(s, 1), col_text(s, 2), col_text(s, 3), sqlite3_column_int64(s, 4),
                  sqlite3_column_int64(s, 5)};
}
}  // namespace

std::optional<project_row> sqlite_database::get_project(const std::string& id) {
  binder b(prepare("SELECT id, name, description, owner, created_at, updated_at FROM projects WHERE id = ?"));
  b.text(id);
  if (sqlite3_step(b.get()) != SQLITE_ROW) return std::nullopt;
  return read_project(b.get());
}

std::vector<project_row> sqlite_database::list_projects(const std::string& owner, std::int64_t limit, std::int64_t offset) {
  binder b(prepare("SELECT id, name, description, owner, created_at, updated_at FROM projects WHERE owner = ? "
                   "ORDER BY created_at, rowid LIMIT ? OFFSET ?"));
  b.text(owner).integer(limit).integer(offset);
  std::vector<project_row> out;
  while (sqlite3_step(b.get()) == SQLITE_ROW) out.push_back(read_project(b.get()));
  return out;
}

std::int64_t sqlite_database::count_projects(const std::string& owner) {
  binder b(prepare("SELECT count(*) FROM projects WHERE owner = ?"));
  b.text(owner);
  return sqlite3_step(b.get()) == SQLITE_ROW ? sqlite3_column_int64(b.get(), 0) : 0;
}

bool sqlite_database::delete_project(const std::string& id) {
  project_write_begins();
  {
    binder b(prepare("DELETE FROM cards WHERE project_id = ?"));
    b.text(id);
    step_done(db_.get(), b.get());
  }
  {
    binder b(prepare("DELETE FROM messages WHERE project_id = ?"));
    b.text(id);
    step_done(db_.get(), b.get());
  }
  binder b(prepare("DELETE FROM projects WHERE id = ?"));
  b.text(id);
  step_done(db_.get(), b.get());
  return sqlite3_changes(db_.get()) > 0;
}

void sqlite_database::put_card(const card_row& c) {
  project_write_begins();
  binder b(prepare("INSERT OR REPLACE INTO cards(id, project_id, kind, content, ord, created_at) VALUES(?,?,?,?,?,?)"));
  b.text(c.id).text(c.project_id).text(c.kind).text(c.content).integer(c.order).integer(c.created_at);
  step_done(db_.get(), b.get());
}

std::optional<card_row> sqlite_database::get_card(const std::string& project_id, const std::string& card_id) {
  binder b(prepare("SELECT id, project_id, kind, content, ord, created_at FROM cards WHERE project_id = ? AND id = ?"));
  b.text(project_id).text(card_id);
  if (sqlite3_step(b.get()) != SQLITE_ROW) return std::nullopt;
  return read_card(b.get());
}

std::vector<card_row> sqlite_database::list_cards(const std::string& project_id, std::int64_t limit, std::int64_t offset) {
  binder b(prepare("SELECT id, project_id, kind, content, ord, created_at FROM cards WHERE project_id = ? "
                   "ORDER BY ord, created_at, rowid LIMIT ? OFFSET ?"));
  b.text(project_id).integer(limit).integer(offset);
  std::vector<card_row> out;
  while (sqlite3_step(b.get()) == SQLITE_ROW) out.push_back(read_card(b.get()));
  return out;
}

bool sqlite_database::delete_card(const std::string& project_id, const std::string& card_id) {
  project_write_begins();
  binder b(prepare("DELETE FROM cards WHERE project_id = ? AND id = ?"));
  b.text(project_id).text(card_id);
  step_done(db_.get(), b.get());
  return sqlite3_changes(db_.get()) > 0;
}

std::int64_t sqlite_database::add_message(const message_row& m) {
  binder b(prepare("INSERT INTO messages(project_id, role, content, status, stream_id, created_at, owner, node) "
                   "VALUES(?,?,?,?,?,?,?,?)"));
  b.text(m.project_id).text(m.role).text(m.content).text(m.status).text(m.stream_id).integer(m.created_at)
      .text(m.owner).text(m.node);
  step_done(db_.get(), b.get());
  return sqlite3_last_insert_rowid(db_.get());
}

bool sqlite_database::set_answer(const std::string& stream_id, const std::string& content, const std::string& status,
                                 bool only_running) {
  if (only_running && status == "streaming") {
    // A checkpoint: only the text changes. Setting status too, even to the value it has, would make
    // SQLite rewrite the partial index on running answers as well as the row.
    binder b(prepare(checkpoint_answer_sql));
    b.text(content).text(stream_id);
    step_done(db_.get(), b.get());
    return sqlite3_changes(db_.get()) > 0;
  }
  binder b(prepare(set_answer_sql));
  b.text(content).text(status).text(stream_id).integer(only_running ? 1 : 0);
  step_done(db_.get(), b.get());
  return sqlite3_changes(db_.get()) > 0;
}

int sqlite_database::interrupt_running(const std::string& node) {
  binder b(prepare("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming' AND (? = '' OR node = ?)"));
  b.text(node).text(node);
  step_done(db_.get(), b.get());
  return sqlite3_changes(db_.get());
}

std::vector<message_row> sqlite_database::list_messages(const std::string& project_id, const std::string& owner,
                                                 std::int64_t before, int limit) {
  binder b(prepare("SELECT id, project_id, role, content, status, stream_id, created_at, owner, node FROM messages "
                   "WHERE project_id = ? AND owner = ? AND (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?"));
  b.text(project_id).text(owner).integer(before).integer(before).integer(limit);
  std::vector<message_row> out;
  while (sqlite3_step(b.get()) == SQLITE_ROW) {
    auto s = b.get();
    out.push_back(message_row{sqlite3_column_int64(s, 0), col_text(s, 1), col_text(s, 2), col_text(s, 3),
                              col_text(s, 4), col_text(s, 5), sqlite3_column_int64(s, 6), col_text(s, 7),
                              col_text(s, 8)});
  }
  return out;
}

}  // namespace sg::store
