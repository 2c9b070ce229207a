// Text-format parameters and results; every integer is bound and cast as bigint.
#include "store/postgres_database.hpp"

#include "core/clock.hpp"
#include "store/schema.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace sg::store {

void pg_conn_closer::operator()(pg_conn* c) const { PQfinish(c); }
void pg_result_clearer::operator()(pg_result* r) const { PQclear(r); }

namespace {

constexpr std::chrono::milliseconds first_backoff{100};
constexpr std::chrono::milliseconds max_backoff{2000};
// Serialises migrations when several nodes start against one database at once.
constexpr const char* migration_lock = "SELECT pg_advisory_xact_lock(7426517)";
// A history's lock: (7426518, FNV-1a of its project and owner). Every node computes the
// same key, so the lock holds across the cluster. All of a transaction's in one round trip, in the
// array's order: the scan of unnest WITH ORDINALITY is in that order already (EXPLAIN shows no
// sort), and a volatile function in the target list would be called after a sort if there were one.
constexpr const char* history_locks =
    "SELECT pg_advisory_xact_lock(7426518, k) FROM unnest($1::integer[]) WITH ORDINALITY AS t(k, n) ORDER BY n";

std::int32_t history_key(std::string_view project_id, std::string_view owner) {
  std::uint32_t h = 2166136261u;
  auto mix = [&h](unsigned char c) { h = (h ^ c) * 16777619u; };
  for (unsigned char c : project_id) mix(c);
  mix(0);
  for (unsigned char c : owner) mix(c);
  return static_cast<std::int32_t>(h);
}

std::int64_t to_int(const char* v) {
  std::int64_t out = 0;
  std::from_chars(v, v + std::strlen(v), out);
  return out;
}

std::string text(PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
}
std::int64_t integer(PGresult* r, int row, int col) { return to_int(PQgetvalue(r, row, col)); }

project_row read_project(PGresult* r, int i) {
  return project_row{text(r, i, 0), text(r, i, 1), text(r, i, 2), text(r, i, 3), integer(r, i, 4), integer(r, i, 5)};
}
card_row read_card(PGresult* r, int i) {
  return card_row{text(r, i, 0), text(r, i, 1), text(r, i, 2), text(r, i, 3), integer(r, i, 4), integer(r, i, 5)};
}

std::optional<std::string> num(std::int64_t v) { return std::to_string(v); }
/// A LIMIT parameter: NULL (no limit) for a negative limit.
std::optional<std::string> limit_param(std::int64_t limit) { return limit < 0 ? std::nullopt : num(limit); }

/// Every row of `r`, each read by `read(r, i)`.
template <class Read>
auto rows_of(PGresult* r, Read read) {
  std::vector<decltype(read(r, 0))> out;
  for (int i = 0, n = PQntuples(r); i < n; ++i) out.push_back(read(r, i));
  return out;
}

// A text[] literal: {"a","b"} with " and \ escaped.
std::string text_array(const std::vector<std::string>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : v[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace

postgres_database::postgres_database(std::string url, bool migrate_now, pool_connects pool)
    : url_(std::move(url)), pool_(pool ? std::move(pool) : std::make_shared<std::atomic<std::uint64_t>>(0)) {
  connect();
  if (migrate_now) migrate();
}

void postgres_database::connect() {
  prepared_.clear();
  // Taken before the attempt: a sibling that connects while this attempt fails still counts.
  auto pool_before = pool_->load(std::memory_order_acquire);
  // Ours first: settings in the URL override them.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "streamgate", url_.c_str(), nullptr};
  std::unique_ptr<pg_conn, pg_conn_closer> c(PQconnectdbParams(keys, values, 1));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    std::string why = c ? PQerrorMessage(c.get()) : "out of memory";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    conn_.reset();
    backoff_ = backoff_.count() ? std::min(backoff_ * 2, max_backoff) : first_backoff;
    next_attempt_ = std::chrono::steady_clock::now() + backoff_;
    pool_connects_at_failure_ = pool_before;
    throw database_error(0, "postgres: cannot connect: " + why, false, true);
  }
  // NOTICEs (an IF NOT EXISTS that found the table) would go to stderr, outside the JSON log.
  PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
  conn_ = std::move(c);
  backoff_ = std::chrono::milliseconds(0);
  ++connects_;
  pool_->fetch_add(1, std::memory_order_release);
}

void postgres_database::ensure_connected() {
  if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) return;
  // Backed off only while no connection of the pool has connected since this one failed: after a
  // server restart, the first connection back means every other may try at once, rather than
  // failing work for up to 2 s more while /readyz (answered by the first) already says ready.
  if (std::chrono::steady_clock::now() < next_attempt_ &&
      pool_->load(std::memory_order_acquire) == pool_connects_at_failure_)
    throw database_error(0, "postgres: not connected (the next attempt is backed off)", false, true);
  connect();
}

void postgres_database::begin() {
  ensure_connected();
  if (in_transaction()) exec("ROLLBACK");  // left open by a failure elsewhere
  pg_result_ptr r(PQexec(conn_.get(), "BEGIN"));
  if (PQresultStatus(r.get()) == PGRES_COMMAND_OK) return;
  if (PQstatus(conn_.get()) != CONNECTION_BAD) fail(r.get(), "BEGIN");
  // The server dropped the idle connection (it restarted): one immediate attempt, no backoff.
  next_attempt_ = {};
  connect();
  exec("BEGIN");
}

void postgres_database::fail(pg_result* r, const std::string& context) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  bool disconnected = !conn_ || PQstatus(conn_.get()) == CONNECTION_BAD;
  // Class 08 is a connection exception, 57P01-57P03 a server shutting down or starting; 53100 is disk_full.
  if (state && (std::strncmp(state, "08", 2) == 0 || std::strncmp(state, "57P0", 4) == 0)) disconnected = true;
  bool full = state && std::strcmp(state, "53100") == 0;
  std::string msg = r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(conn_.get());
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (disconnected) {
    // Reconnect at the next work item (backed off if that fails too).
    conn_.reset();
    next_attempt_ = {};
  }
  throw database_error(0, "postgres " + context + (state ? std::string(" (") + state + ")" : "") + ": " + msg, full,
                       disconnected);
}

void postgres_database::exec(const std::string& sql) {
  ensure_connected();
  pg_result_ptr r(PQexec(conn_.get(), sql.c_str()));
  auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r.get(), "exec");
}

bool postgres_database::in_transaction() const {
  if (!conn_) return false;
  auto s = PQtransactionStatus(conn_.get());
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

pg_result_ptr postgres_database::run(const char* sql, const params& p) {
  ensure_connected();
  const std::string* name = nullptr;
  for (auto& [k, n] : prepared_)
    if (k == sql) name = &n;
  if (!name) {
    std::string n = "sg" + std::to_string(prepared_.size());
    pg_result_ptr r(PQprepare(conn_.get(), n.c_str(), sql, 0, nullptr));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) fail(r.get(), "prepare");
    prepared_.emplace_back(sql, std::move(n));
    name = &prepared_.back().second;
  }
  std::vector<const char*> values;
  values.reserve(p.size());
  for (auto& v : p) values.push_back(v ? v->c_str() : nullptr);
  pg_result_ptr r(PQexecPrepared(conn_.get(), name->c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                                 nullptr, 0));
  auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r.get(), "statement");
  return r;
}

void postgres_database::migrate() {
  exec("BEGIN");
  try {
    exec(migration_lock);
    exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
         "applied_at BIGINT NOT NULL)");
    auto current = schema_version();
    refuse_newer_schema(current);
    auto now = core::now_ms();
    for (auto& m : migrations()) {
      if (m.version <= current) continue;
      exec(m.postgres);
      run("INSERT INTO schema_version(version, description, applied_at) VALUES($1::int, $2, $3::bigint)",
          {num(m.version), std::string(m.description), num(now)});
    }
    exec("COMMIT");
  } catch (...) {
    if (in_transaction()) exec("ROLLBACK");
    throw;
  }
}

int postgres_database::schema_version() {
  auto r = run("SELECT coalesce(max(version), 0) FROM schema_version", {});
  return static_cast<int>(integer(r.get(), 0, 0));
}

void postgres_database::put_connection(const connection_row& r) {
  run("INSERT INTO connections(connection_id, connected_at, last_active_at, ttl, source_ip, user_agent, sub) "
      "VALUES($1, $2::bigint, $3::bigint, $4::bigint, $5, $6, $7) ON CONFLICT (connection_id) DO UPDATE SET "
      "connected_at = EXCLUDED.connected_at, last_active_at = EXCLUDED.last_active_at, ttl = EXCLUDED.ttl, "
      "source_ip = EXCLUDED.source_ip, user_agent = EXCLUDED.user_agent, sub = EXCLUDED.sub",
      {r.connection_id, num(r.connected_at), num(r.last_active_at), num(r.ttl), r.source_ip, r.user_agent, r.sub});
}

void postgres_database::delete_connection(const std::string& id) {
  run("DELETE FROM connections WHERE connection_id = $1", {id});
}

void postgres_database::refresh_connections(const std::vector<std::string>& ids, std::int64_t last_active_at,
                                            std::int64_t ttl) {
  if (ids.empty()) return;
  // One statement for every id: one round trip, and atomic inside or outside a transaction.
  run("UPDATE connections SET ttl = $1::bigint, last_active_at = GREATEST(last_active_at, $2::bigint) "
      "WHERE connection_id = ANY($3::text[])",
      {num(ttl), num(last_active_at), text_array(ids)});
}

int postgres_database::expire_connections(std::int64_t now_ms) {
  auto r = run("DELETE FROM connections WHERE ttl < $1::bigint", {num(now_ms)});
  return static_cast<int>(to_int(PQcmdTuples(r.get())));
}

std::optional<connection_row> postgres_database::get_connection(const std::string& id) {
  auto r = run("SELECT connection_id, connected_at, last_active_at, ttl, source_ip, user_agent, sub "
               "FROM connections WHERE connection_id = $1",
               {id});
  if (PQntuples(r.get()) == 0) return std::nullopt;
  auto* s = r.get();
  return connection_row{text(s, 0, 0), integer(s, 0, 1), integer(s, 0, 2), integer(s, 0, 3),
                        text(s, 0, 4), text(s, 0, 5), text(s, 0, 6)};
}

std::int64_t postgres_database::count_connections() {
  auto r = run("SELECT count(*) FROM connections", {});
  return integer(r.get(), 0, 0);
}

void postgres_database::put_project(const project_row& p) {
  run("INSERT INTO projects(id, name, description, owner, created_at, updated_at) "
      "VALUES($1, $2, $3, $4, $5::bigint, $6::bigint) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
      "description = EXCLUDED.description, owner = EXCLUDED.owner, created_at = EXCLUDED.created_at, "
      "updated_at = EXCLUDED.updated_at",
      {p.id, p.name, p.description, p.owner, num(p.created_at), num(p.updated_at)});
}

std::optional<project_row> postgres_database::get_project(const std::string& id) {
  auto r = run("SELECT id, name, description, owner, created_at, updated_at FROM projects WHERE id = $1", {id});
  if (PQntuples(r.get()) == 0) return std::nullopt;
  return read_project(r.get(), 0);
}

std::vector<project_row> postgres_database::list_projects(const std::string& owner, std::int64_t limit,
                                                          std::int64_t offset) {
  // LIMIT NULL: no limit.
  auto r = run("SELECT id, name, description, owner, created_at, updated_at FROM projects WHERE owner = $1 "
               "ORDER BY created_at, seq LIMIT $2::bigint OFFSET $3::bigint",
               {owner, limit_param(limit), num(offset)});
  return rows_of(r.get(), read_project);
}

std::int64_t postgres_database::count_projects(const std::string& owner) {
  auto r = run("SELECT count(*) FROM projects WHERE owner = $1", {owner});
  return integer(r.get(), 0, 0);
}

bool postgres_database::delete_project(const std::string& id) {
  run("DELETE FROM cards WHERE project_id = $1", {id});
  run("DELETE FROM messages WHERE project_id = $1", {id});
  auto r = run("DELETE FROM projects WHERE id = $1", {id});
  return to_int(PQcmdTuples(r.get())) > 0;
}

void postgres_database::put_card(const card_row& c) {
  run("INSERT INTO cards(id, project_id, kind, content, ord, created_at) VALUES($1, $2, $3, $4, $5::bigint, $6::bigint) "
      "ON CONFLICT (id) DO UPDATE SET project_id = EXCLUDED.project_id, kind = EXCLUDED.kind, "
      "content = EXCLUDED.content, ord = EXCLUDED.ord, created_at = EXCLUDED.created_at",
      {c.id, c.project_id, c.kind, c.content, num(c.order), num(c.created_at)});
}

std::optional<card_row> postgres_database::get_card(const std::string& project_id, const std::string& card_id) {
  auto r = run("SELECT id, project_id, kind, content, ord, created_at FROM cards WHERE project_id = $1 AND id = $2",
               {project_id, card_id});
  if (PQntuples(r.get()) == 0) return std::nullopt;
  return read_card(r.get(), 0);
}

std::vector<card_row> postgres_database::list_cards(const std::string& project_id, std::int64_t limit,
                                                    std::int64_t offset) {
  auto r = run("SELECT id, project_id, kind, content, ord, created_at FROM cards WHERE project_id = $1 "
               "ORDER BY ord, created_at, seq LIMIT $2::bigint OFFSET $3::bigint",
               {project_id, limit_param(limit), num(offset)});
  return rows_of(r.get(), read_card);
}

bool postgres_database::delete_card(const std::string& project_id, const std::string& card_id) {
  auto r = run("DELETE FROM cards WHERE project_id = $1 AND id = $2", {project_id, card_id});
  return to_int(PQcmdTuples(r.get())) > 0;
}

std::int64_t postgres_database::add_message(const message_row& m) {
  auto r = run("INSERT INTO messages(project_id, role, content, status, stream_id, created_at, owner, node) "
               "VALUES($1, $2, $3, $4, $5, $6::bigint, $7, $8) RETURNING id",
               {m.project_id, m.role, m.content, m.status, m.stream_id, num(m.created_at), m.owner, m.node});
  return integer(r.get(), 0, 0);
}

void postgres_database::hold_histories(const std::vector<std::pair<std::string_view, std::string_view>>& histories) {
  std::vector<std::int32_t> keys;
  keys.reserve(histories.size());
  for (auto& [project_id, owner] : histories) keys.push_back(history_key(project_id, owner));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  if (keys.empty()) return;
  std::vector<std::string> array;
  array.reserve(keys.size());
  for (auto k : keys) array.push_back(std::to_string(k));
  run(history_locks, {text_array(array)});
}

bool postgres_database::set_answer(const std::string& stream_id, const std::string& content,
                                   const std::string& status, bool only_running) {
  auto r = run(set_answer_sql, {content, status, stream_id, only_running ? "1" : "0"});
  return to_int(PQcmdTuples(r.get())) > 0;
}

int postgres_database::interrupt_running(const std::string& node) {
  auto r = run("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming' AND ($1 = '' OR node = $1)",
               {node});
  return static_cast<int>(to_int(PQcmdTuples(r.get())));
}

std::vector<message_row> postgres_database::list_messages(const std::string& project_id, const std::string& owner,
                                                          std::int64_t before, int limit) {
  auto r = run("SELECT id, project_id, role, content, status, stream_id, created_at, owner, node FROM messages "
               "WHERE project_id = $1 AND owner = $2 AND ($3::bigint = 0 OR id < $3::bigint) "
               "ORDER BY id DESC LIMIT $4::bigint",
               {project_id, owner, num(before), num(limit)});
  return rows_of(r.get(), [](PGresult* s, int i) {
    return message_row{integer(s, i, 0), text(s, i, 1), text(s, i, 2), text(s, i, 3), text(s, i, 4),
                       text(s, i, 5), integer(s, i, 6), text(s, i, 7), text(s, i, 8)};
  });
}

}  // namespace sg::store
