// Integration-test harness: starts the real streamgate binary on port 0 and talks to it.
#pragma once

#include "core/http_message.hpp"
#include "integration/postgres_server.hpp"
#include "store/database.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sg::test {

using namespace std::chrono_literals;

/// A streamgate process; its stderr is collected, its port read from the "listening" line.
class server_process {
 public:
  explicit server_process(std::vector<std::string> args = {}, std::string data_dir = {});
  ~server_process();
  server_process(const server_process&) = delete;

  std::uint16_t port() const { return port_; }
  int pid() const { return pid_; }
  /// The admin key the server generated and logged (empty when one was configured).
  const std::string& admin_key() const { return admin_key_; }
  /// {"X-Admin-Key": the generated key}, for the management API.
  std::map<std::string, std::string> admin_headers() const { return {{"X-Admin-Key", admin_key_}}; }
  const std::string& data_dir() const { return data_dir_; }
  /// Sends a signal (SIGTERM by default).
  void signal(int sig);
  /// Waits for the process to exit; returns its exit status, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  /// Everything the process wrote to stderr so far.
  std::string log() const;
  /// Waits until the log contains `needle`.
  bool wait_for_log(const std::string& needle, std::chrono::milliseconds timeout) const;

 private:
  int pid_ = -1;
  int err_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string admin_key_;
  std::string data_dir_;
  bool own_dir_ = false;
  std::thread reader_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string log_;
  bool exited_ = false;
  int status_ = 0;
};

/// A WebSocket client with deadlines on every operation.
class ws_client {
 public:
  explicit ws_client(std::uint16_t port, std::string target = "/ws",
                     std::map<std::string, std::string> headers = {}, int rcvbuf = 0);
  ~ws_client();
  void send(const std::string& text);
  void send_json(const boost::json::object& o) { send(boost::json::serialize(o)); }
  void send_binary(const std::string& data);
  /// The next text frame as JSON; throws on timeout or close.
  boost::json::object read(std::chrono::milliseconds timeout = 5s);
  /// The next frame as text; nullopt when the connection closed (close_code() tells why; 1006 = no close frame).
  std::optional<std::string> read_text(std::chrono::milliseconds timeout = 5s);
  /// Reads until an event of `type` (for `stream_id` if given) arrives; returns all events read.
  std::vector<boost::json::object> read_until(const std::string& type, std::chrono::milliseconds timeout = 10s,
                                              const std::string& stream_id = {});
  int close_code() const { return close_code_; }
  void close();
  /// Drops the TCP connection without a close handshake.
  void drop();
  const std::string& connection_id() const { return connection_id_; }

 private:
  struct io;  // the socket, its io_context and read buffer: Beast stays out of the tests that include this
  std::unique_ptr<io> io_;
  int close_code_ = 0;
  std::string connection_id_;
};

/// One HTTP request; returns status, headers and body.
struct http_result {
  unsigned status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  boost::json::value json() const { return boost::json::parse(body); }
};
http_result http_request(std::uint16_t port, http::verb method, const std::string& target, const std::string& body = {},
                         std::map<std::string, std::string> headers = {}, std::chrono::milliseconds timeout = 10s);

struct sse_event {
  std::string id, type, data;
  boost::json::object json() const { return boost::json::parse(data).as_object(); }
};

/// An SSE client that reads a chunked event-stream response event by event.
class sse_client {
 public:
  sse_client(std::uint16_t port, http::verb method, const std::string& target, const std::string& body = {},
             std::map<std::string, std::string> headers = {}, int rcvbuf = 0);
  ~sse_client();
  unsigned status() const { return status_; }
  const std::map<std::string, std::string>& headers() const { return headers_; }
  /// The next event (comments are counted, not returned); nullopt at the end of the response.
  std::optional<sse_event> next(std::chrono::milliseconds timeout = 5s);
  int comments() const { return comments_; }
  void drop();

 private:
  bool fill(std::chrono::milliseconds timeout);
  struct io;
  std::unique_ptr<io> io_;
  unsigned status_ = 0;
  std::map<std::string, std::string> headers_;
  std::string pending_;
  bool done_ = false;
  int comments_ = 0;
};

/// The answer to a WebSocket upgrade sent by hand: a refusal's status and body, and whether the
/// server closed the socket after it.
struct upgrade_answer {
  unsigned status = 0;
  std::string body;
  bool closed_after = false;
};
upgrade_answer raw_upgrade(std::uint16_t port, const std::string& target, const std::map<std::string, std::string>& headers);

/// The value of one /metrics series (name with its labels), or -1 when absent.
double metric_value(std::uint16_t port, const std::string& series);
/// Polls /metrics until `series` reaches `value`; false at the deadline.
bool wait_metric(std::uint16_t port, const std::string& series, double value, std::chrono::milliseconds timeout = 5s);

/// The store behind a test's servers.
enum class store_kind { sqlite, postgres };
/// "sqlite" or "postgres": the name of a parameterized test's instance.
std::string store_name(store_kind k);

/// SQLite (in each server's data dir), or a PostgreSQL server of the test's own that every server
/// of the test shares, as a store does across nodes.
class test_store {
 public:
  explicit test_store(store_kind k);
  store_kind kind() const { return kind_; }
  /// `more`, after the flags that point a server at this store (none for SQLite).
  std::vector<std::string> args(std::vector<std::string> more = {}) const;
  /// The PostgreSQL server (null for SQLite).
  postgres_server* postgres() const { return pg_.get(); }
  /// A connection of the test's own to the database a server with `data_dir` uses (its schema
  /// applied), to plant or inspect rows.
  std::unique_ptr<store::database> open(const std::string& data_dir) const;

 private:
  store_kind kind_;
  std::unique_ptr<postgres_server> pg_;
};

/// A test run once per store (TEST_P, instantiated by SG_FOR_EACH_STORE): servers started with
/// with_store(args) use it.
class per_store : public ::testing::TestWithParam<store_kind> {
 protected:
  test_store& store() {
    if (!store_) store_ = std::make_unique<test_store>(GetParam());
    return *store_;
  }
  std::vector<std::string> with_store(std::vector<std::string> args = {}) { return store().args(std::move(args)); }

 private:
  std::unique_ptr<test_store> store_;
};

#define SG_FOR_EACH_STORE(suite)                                                                          \
  INSTANTIATE_TEST_SUITE_P(Stores, suite, ::testing::Values(::sg::test::store_kind::sqlite,              \
                                                            ::sg::test::store_kind::postgres),           \
                           [](const ::testing::TestParamInfo<::sg::test::store_kind>& i) {               \
                             return ::sg::test::store_name(i.param);                                      \
                           })

boost::json::object stream_request(const std::string& input, const std::string& project = "test",
                                   const std::string& request_id = {});

/// The shape of a stream's chunks in arrival order (other events are skipped): the most deltas one
/// chunk held (seq - firstSeq + 1), and how many one-delta chunks came after the first chunk that
/// held that many.
struct chunk_widths {
  std::uint64_t widest = 0;
  std::uint64_t single_after = 0;
};
chunk_widths widths_of(const std::vector<boost::json::object>& events);

}  // namespace sg::test
