// The SQLite database (WAL), the embedded default. Blocking: the store thread only.
#pragma once

#include "store/database.hpp"

#include <sqlite3.h>

#include <atomic>
#include <functional>
#include <memory>
#include <utility>

namespace sg::store {

struct sqlite_closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct stmt_finalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

/// One SQLite connection. Prepared statements are cached per SQL text.
class sqlite_database final : public database {
 public:
  /// Opens (creating if needed) `path`, enables WAL and applies the migrations. Throws on failure.
  explicit sqlite_database(const std::string& path);
  struct read_only_t {};
  static constexpr read_only_t read_only{};
  /// Opens `path`, which must exist with its schema, read-only: for reads beside the writer (WAL
  /// lets them run while it writes). Waits for no lock: a busy database throws at once.
  sqlite_database(const std::string& path, read_only_t);

  /// An answer's row found by its stream id. `stream_id <> ''` is spelled out so that the partial
  /// index on stream_id serves it: without it every save of an answer scanned the whole history.
  static constexpr const char* set_answer_sql =
      "UPDATE messages SET content = ?, status = ? WHERE stream_id = ? AND stream_id <> '' AND role = 'assistant' "
      "AND (? = 0 OR status = 'streaming')";
  /// set_answer of a running answer's text (status stays `streaming`).
  static constexpr const char* checkpoint_answer_sql =
      "UPDATE messages SET content = ? WHERE stream_id = ? AND stream_id <> '' AND role = 'assistant' "
      "AND status = 'streaming'";

  void put_connection(const connection_row& r) override;
  void delete_connection(const std::string& id) override;
  void refresh_connections(const std::vector<std::string>& ids, std::int64_t last_active_at, std::int64_t ttl) override;
  int expire_connections(std::int64_t now_ms) override;
  std::optional<connection_row> get_connection(const std::string& id) override;
  std::int64_t count_connections() override;

  void put_project(const project_row& p) override;
  std::optional<project_row> get_project(const std::string& id) override;
  using database::list_projects;
  std::vector<project_row> list_projects(const std::string& owner, std::int64_t limit, std::int64_t offset) override;
  std::int64_t count_projects(const std::string& owner) override;
  bool delete_project(const std::string& id) override;

  void put_card(const card_row& c) override;
  std::optional<card_row> get_card(const std::string& project_id, const std::string& card_id) override;
  using database::list_cards;
  std::vector<card_row> list_cards(const std::string& project_id, std::int64_t limit, std::int64_t offset) override;
  bool delete_card(const std::string& project_id, const std::string& card_id) override;

  std::int64_t add_message(const message_row& m) override;
  bool set_answer(const std::string& stream_id, const std::string& content, const std::string& status,
                  bool only_running) override;
  int interrupt_running(const std::string& node) override;
  std::vector<message_row> list_messages(const std::string& project_id, const std::string& owner, std::int64_t before,
                                         int limit) override;

  void exec(const std::string& sql) override;
  bool in_transaction() const override;
  void begin_write() override { exec("BEGIN IMMEDIATE"); }
  bool failed_statement_aborts_transaction() const override { return false; }
  int schema_version() override;

  /// Caps the file at about `max_bytes` (0: no cap); writes past it fail with SQLITE_FULL.
  void limit_size(std::int64_t max_bytes);
  /// Stops checkpointing on commit (a checkpoint fsyncs, and would stall the next write behind it)
  /// and calls `on_commit(wal_pages)` after each commit instead, so another connection can do it.
  void checkpoint_elsewhere(std::function<void(int wal_pages)> on_commit);
  /// A passive WAL checkpoint on this connection; false if it did not run.
  bool checkpoint();
  /// From now on `generation` is made odd by the first write to a project or a card (or by any SQL
  /// run through exec() that is not BEGIN, COMMIT, a savepoint or a rollback), and even again when
  /// its transaction commits or rolls back (see project_cache).
  void track_project_writes(std::atomic<std::uint64_t>* generation);

 private:
  void migrate();
  std::int64_t query_int(const std::string& sql);
  sqlite3_stmt* prepare(const char* sql);
  sqlite3_stmt* transaction_statement(const std::string& sql);
  std::unique_ptr<sqlite3, sqlite_closer> db_;
  void install_hooks();
  void project_write_begins();
  void project_writes_settled();
  std::function<void(int)> on_commit_;
  std::atomic<std::uint64_t>* project_generation_ = nullptr;
  std::vector<std::pair<const char*, std::unique_ptr<sqlite3_stmt, stmt_finalizer>>> cache_;
  // BEGIN, COMMIT, SAVEPOINT … by their text (exec() is given strings, not literals).
  std::vector<std::pair<std::string, std::unique_ptr<sqlite3_stmt, stmt_finalizer>>> transaction_cache_;
};

}  // namespace sg::store
