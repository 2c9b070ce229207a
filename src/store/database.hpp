// What the store keeps (connection table, projects, prompt cards, messages), behind one interface
// with a SQLite and a PostgreSQL implementation. Blocking: store threads only.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg::store {

struct connection_row {
  std::string connection_id;
  std::int64_t connected_at = 0;
  std::int64_t last_active_at = 0;
  std::int64_t ttl = 0;  // ms since epoch after which the row is stale
  std::string source_ip;
  std::string user_agent;
  std::string sub;
};

struct project_row {
  std::string id;
  std::string name;
  std::string description;
  std::string owner;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

struct card_row {
  std::string id;
  std::string project_id;
  std::string kind;
  std::string content;
  std::int64_t order = 0;
  std::int64_t created_at = 0;
};

struct message_row {
  std::int64_t id = 0;
  std::string project_id;
  std::string role;
  std::string content;
  std::string status;
  std::string stream_id;
  std::int64_t created_at = 0;
  std::string owner;
  std::string node;  // the node writing a `streaming` answer
};

/// A failed database call: `code` is the engine's own (SQLite's extended result code, or 0 for
/// PostgreSQL, whose SQLSTATE is in the message); `full` when the database or its disk is full;
/// `disconnected` when the connection to the server is gone.
class database_error : public std::runtime_error {
 public:
  database_error(int code, const std::string& what, bool full = false, bool disconnected = false)
      : std::runtime_error(what), code_(code), full_(full), disconnected_(disconnected) {}
  int code() const { return code_; }
  bool full() const { return full_; }
  bool disconnected() const { return disconnected_; }

 private:
  int code_;
  bool full_;
  bool disconnected_;
};

/// One connection to the database. Not thread-safe: each store thread owns its own.
class database {
 public:
  virtual ~database() = default;

  virtual void put_connection(const connection_row& r) = 0;
  virtual void delete_connection(const std::string& id) = 0;
  /// Moves the TTL of the listed live connections to `ttl`.
  virtual void refresh_connections(const std::vector<std::string>& ids, std::int64_t last_active_at,
                                   std::int64_t ttl) = 0;
  /// Deletes rows whose TTL passed; returns how many.
  virtual int expire_connections(std::int64_t now_ms) = 0;
  virtual std::optional<connection_row> get_connection(const std::string& id) = 0;
  virtual std::int64_t count_connections() = 0;

  /// Inserts the project, or replaces the one with its id.
  virtual void put_project(const project_row& p) = 0;
  virtual std::optional<project_row> get_project(const std::string& id) = 0;
  /// All of an owner's projects, oldest first.
  std::vector<project_row> list_projects(const std::string& owner) { return list_projects(owner, -1, 0); }
  /// One page of an owner's projects, oldest first (limit < 0: no limit).
  virtual std::vector<project_row> list_projects(const std::string& owner, std::int64_t limit, std::int64_t offset) = 0;
  virtual std::int64_t count_projects(const std::string& owner) = 0;
  /// Deletes the project with its cards and messages; false if there was none.
  virtual bool delete_project(const std::string& id) = 0;

  /// Inserts the card, or replaces the one with its id.
  virtual void put_card(const card_row& c) = 0;
  virtual std::optional<card_row> get_card(const std::string& project_id, const std::string& card_id) = 0;
  /// All of a project's cards, in card order.
  std::vector<card_row> list_cards(const std::string& project_id) { return list_cards(project_id, -1, 0); }
  /// One page of a project's cards, in card order (limit < 0: no limit).
  virtual std::vector<card_row> list_cards(const std::string& project_id, std::int64_t limit, std::int64_t offset) = 0;
  virtual bool delete_card(const std::string& project_id, const std::string& card_id) = 0;

  /// Appends a message; returns its id (ids grow with time).
  virtual std::int64_t add_message(const message_row& m) = 0;
  /// Until the open transaction ends, no other connection adds messages to these histories (a
  /// project's messages by one owner: {project_id, owner}), so a question and its answer written
  /// in it take adjacent places there. SQLite's single writer does that already. PostgreSQL takes
  /// an advisory lock per history, always in one order, so transactions holding several never wait
  /// on one another in a cycle.
  virtual void hold_histories(const std::vector<std::pair<std::string_view, std::string_view>>& histories) { (void)histories; }
  /// Sets the text and status of the assistant's answer of `stream_id`. With `only_running`, an answer
  /// no longer `streaming` is left alone (a checkpoint that comes after the end). False: no such row.
  virtual bool set_answer(const std::string& stream_id, const std::string& content, const std::string& status,
                          bool only_running) = 0;
  /// Answers still `streaming` become `interrupted`, keeping their text: those of `node`, or of every
  /// node when it is empty (a lone node's start after a crash). Returns how many.
  virtual int interrupt_running(const std::string& node) = 0;
  /// Messages of a project written by `owner`, newest first, with id < before (0 = no bound).
  virtual std::vector<message_row> list_messages(const std::string& project_id, const std::string& owner,
                                                 std::int64_t before, int limit) = 0;

  /// Runs SQL with no result (tests plant rows with it).
  virtual void exec(const std::string& sql) = 0;
  /// Reconnects when the connection to a database server was lost (no more often than its backoff
  /// allows); throws database_error (disconnected) while the server stays unreachable.
  virtual void ensure_connected() {}
  /// Transaction control.
  virtual void begin() { exec("BEGIN"); }
  /// A transaction that will write: SQLite takes the write lock now, waiting for it as any write does,
  /// so a read inside the transaction cannot leave it unable to write when another connection wrote
  /// meanwhile (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out).
  virtual void begin_write() { begin(); }
  virtual void commit() { exec("COMMIT"); }
  virtual void rollback() { exec("ROLLBACK"); }
  /// Whether a transaction is open on this connection (SQLite may roll one back by itself on an error).
  virtual bool in_transaction() const = 0;
  /// Whether a failed statement spoils the whole open transaction (PostgreSQL) rather than undoing
  /// itself only (SQLite): batched work then gives each item a savepoint of its own.
  virtual bool failed_statement_aborts_transaction() const = 0;
  /// The version of the schema the connection sees (the highest applied migration).
  virtual int schema_version() = 0;
};

/// Runs `fn` in a write transaction of its own (begin_write), unless one is open already (a store
/// job on PostgreSQL runs in one): committed after it, rolled back if it or the commit throws.
template <class Fn>
void in_write_transaction(database& db, Fn&& fn) {
  bool own = !db.in_transaction();
  if (own) db.begin_write();
  try {
    fn(own);
    if (own) db.commit();
  } catch (...) {
    if (own && db.in_transaction()) db.rollback();
    throw;
  }
}

}  // namespace sg::store
