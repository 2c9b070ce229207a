// The PostgreSQL database, through libpq. Blocking: a store thread only, one connection per thread.
#pragma once

#include "store/database.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

struct pg_conn;
struct pg_result;

namespace sg::store {

struct pg_conn_closer {
  void operator()(pg_conn* c) const;
};
struct pg_result_clearer {
  void operator()(pg_result* r) const;
};
using pg_result_ptr = std::unique_ptr<pg_result, pg_result_clearer>;

/// One libpq connection. Statements are prepared once per connection and cached per SQL text.
/// A lost connection is re-established by ensure_connected(), at most once per backoff period
/// (100 ms, doubling to 2 s while the server stays away) — unless another connection of its pool
/// connected since this one last failed: then the server is back, and it tries at once.
class postgres_database final : public database {
 public:
  /// Connections of one pool share this count of successful connects.
  using pool_connects = std::shared_ptr<std::atomic<std::uint64_t>>;

  /// Connects to `url` (postgres://… or postgresql://…) and, when `migrate`, applies the
  /// migrations. Throws database_error when the server cannot be reached. `pool`: shared with the
  /// other connections of the same pool (a count of its own when null).
  explicit postgres_database(std::string url, bool migrate = true, pool_connects pool = nullptr);

  /// An answer's row found by its stream id, through the partial index on stream_id (see sqlite_database).
  static constexpr const char* set_answer_sql =
      "UPDATE messages SET content = $1, status = $2 WHERE stream_id = $3 AND stream_id <> '' AND role = 'assistant' "
      "AND ($4::int = 0 OR status = 'streaming')";

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
  void hold_histories(const std::vector<std::pair<std::string_view, std::string_view>>& histories) override;
  bool set_answer(const std::string& stream_id, const std::string& content, const std::string& status,
                  bool only_running) override;
  int interrupt_running(const std::string& node) override;
  std::vector<message_row> list_messages(const std::string& project_id, const std::string& owner, std::int64_t before,
                                         int limit) override;

  void exec(const std::string& sql) override;
  bool in_transaction() const override;
  bool failed_statement_aborts_transaction() const override { return true; }
  int schema_version() override;
  void ensure_connected() override;
  /// BEGIN; on a connection the server dropped while it was idle (a restart), reconnects and
  /// retries once: nothing ran on it yet, so nothing can run twice.
  void begin() override;

  /// Connections (re-)established since construction, the first included.
  std::uint64_t connects() const { return connects_; }

 private:
  using params = std::vector<std::optional<std::string>>;
  void connect();
  void migrate();
  pg_result_ptr run(const char* sql, const params& p);
  [[noreturn]] void fail(pg_result* r, const std::string& context);

  std::string url_;
  std::unique_ptr<pg_conn, pg_conn_closer> conn_;
  std::vector<std::pair<const char*, std::string>> prepared_;  // SQL text → statement name
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  std::uint64_t connects_ = 0;
  pool_connects pool_;
  std::uint64_t pool_connects_at_failure_ = 0;  // the pool's count when this connection last failed to connect
};

}  // namespace sg::store
