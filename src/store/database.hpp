// The SQLite database (WAL): connection table, projects, prompt cards, messages. Blocking: store thread only.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
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
};

struct sqlite_closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct stmt_finalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

/// One SQLite connection. Not thread-safe: used only on the store's own thread.
/// A failed SQLite call, with its extended result code (SQLITE_FULL, SQLITE_BUSY, …).
class database_error : public std::runtime_error {
 public:
  database_error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class database {
 public:
  /// Opens (creating if needed) `path`, enables WAL and applies the schema. Throws on failure.
  explicit database(const std::string& path);

  void put_connection(const connection_row& r);
  void delete_connection(const std::string& id);
  /// Moves the TTL of the listed live connections to `ttl`.
  void refresh_connections(const std::vector<std::string>& ids, std::int64_t last_active_at, std::int64_t ttl);
  /// Deletes rows whose TTL passed; returns how many.
  int expire_connections(std::int64_t now_ms);
  std::optional<connection_row> get_connection(const std::string& id);
  std::int64_t count_connections();

  void put_project(const project_row& p);
  std::optional<project_row> get_project(const std::string& id);
  std::vector<project_row> list_projects(const std::string& owner);
  /// One page of an owner's projects, oldest first.
  std::vector<project_row> list_projects(const std::string& owner, std::int64_t limit, std::int64_t offset);
  std::int64_t count_projects(const std::string& owner);
  bool delete_project(const std::string& id);

  void put_card(const card_row& c);
  std::optional<card_row> get_card(const std::string& project_id, const std::string& card_id);
  std::vector<card_row> list_cards(const std::string& project_id);
  /// One page of a project's cards, in card order.
  std::vector<card_row> list_cards(const std::string& project_id, std::int64_t limit, std::int64_t offset);
  bool delete_card(const std::string& project_id, const std::string& card_id);

  std::int64_t add_message(const message_row& m);
  /// Messages of a project written by `owner`, newest first, with id < before (0 = no bound).
  std::vector<message_row> list_messages(const std::string& project_id, const std::string& owner, std::int64_t before,
                                         int limit);

  /// Caps the file at about `max_bytes` (0: no cap); writes past it fail with SQLITE_FULL.
  void limit_size(std::int64_t max_bytes);
  /// Stops checkpointing on commit (a checkpoint fsyncs, and would stall the next write behind it)
  /// and calls `on_commit(wal_pages)` after each commit instead, so another connection can do it.
  void checkpoint_elsewhere(std::function<void(int wal_pages)> on_commit);
  /// A passive WAL checkpoint on this connection; false if it did not run.
  bool checkpoint();
  /// Whether a transaction is open on this connection (SQLite may roll one back by itself on an error).
  bool in_transaction() const;
  /// Runs a statement with no result (used by tests to plant rows).
  void exec(const std::string& sql);

 private:
  sqlite3_stmt* prepare(const char* sql);
  std::unique_ptr<sqlite3, sqlite_closer> db_;
  std::function<void(int)> on_commit_;
  std::vector<std::pair<const char*, std::unique_ptr<sqlite3_stmt, stmt_finalizer>>> cache_;
};

}  // namespace sg::store
