// The exchange state machine: pool or connect (resolve, proxy CONNECT, TLS), write, read head, stream body.
#include "provider/http/http_client.hpp"

#include "core/asio.hpp"
#include "provider/http/inq_socket.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <array>
#include <atomic>
#include <deque>
#include <future>
#include <mutex>

namespace sg::provider::httpc {
namespace ssl = boost::asio::ssl;

// One upstream connection; a TLS connection's socket lives inside its ssl::stream.
// Beast reads at most the buffer's free capacity, 512 bytes when empty: reserving room up front
// lets one read take a response's head and first events instead of one syscall per 512 bytes. Kept
// small: every pooled and every streaming upstream connection holds it.
constexpr std::size_t read_buffer_bytes = 4 * 1024;

// Sockets, timers and resolvers name the io_context's executor type; an exchange's handlers are
// bound to its own executor type (a shard's, or a strand over one). Through `any_io_executor`,
// every executor copy, move and work count inside Asio's and Beast's operations was a call through
// a function table.
using io_executor = net::io_context::executor_type;
using socket_type = inq_socket;  // its reads know when the kernel queue is empty (inq_socket.hpp)
using timer_type = net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>, io_executor>;
using resolver_type = net::ip::basic_resolver<tcp, io_executor>;

struct connection {
  explicit connection(const io_executor& ex) : sock(ex) { buffer.reserve(read_buffer_bytes); }
  socket_type sock;
  std::unique_ptr<ssl::stream<socket_type>> tls;
  beast::flat_buffer buffer;
  std::string key;
  std::chrono::steady_clock::time_point idle_since;

  socket_type& lowest() { return tls ? tls->next_layer() : sock; }
  void close() {
    error_code ec;
    lowest().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close(ec);
  }
};

// Idle keep-alive connections per origin. Idle sockets have no pending operation, so any thread may
// take one and drive it from its own strand.
class pool {
 public:
  pool(std::size_t max_idle, std::chrono::milliseconds keep_alive) : max_idle_(max_idle), keep_alive_(keep_alive) {}

  std::unique_ptr<connection> take(const std::string& key) {
    std::vector<std::unique_ptr<connection>> stale;  // closed outside the lock
    std::unique_ptr<connection> out;
    {
      std::lock_guard lock(mu_);
      auto it = idle_.find(key);
      if (it == idle_.end()) return nullptr;
      auto now = std::chrono::steady_clock::now();
      auto& q = it->second;
      // The newest first. The others stay for the exchanges that come next, unless this one has
      // expired: then every one before it, idle for longer, has expired too.
      if (!q.empty()) {
        auto c = std::move(q.back());
        q.pop_back();
        if (now - c->idle_since < keep_alive_) {
          out = std::move(c);
        } else {
          stale.push_back(std::move(c));
          for (auto& older : q) stale.push_back(std::move(older));
          q.clear();
        }
      }
      if (q.empty()) idle_.erase(it);
    }
    for (auto& c : stale) c->close();
    return out;
  }

  void put(std::unique_ptr<connection> c) {
    c->idle_since = std::chrono::steady_clock::now();
    std::unique_ptr<connection> evicted;
    {
      std::lock_guard lock(mu_);
      auto& q = idle_[c->key];
      q.push_back(std::move(c));
      if (q.size() > max_idle_) {
        evicted = std::move(q.front());
        q.pop_front();
      }
    }
    if (evicted) evicted->close();
  }

  std::size_t idle(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = idle_.find(key);
    return it == idle_.end() ? 0 : it->second.size();
  }

 private:
  const std::size_t max_idle_;
  const std::chrono::milliseconds keep_alive_;
  mutable std::mutex mu_;
  std::map<std::string, std::deque<std::unique_ptr<connection>>> idle_;
};

// The system's trust store, read once for every client in the process: parsing its ~140
// certificates costs about 240 million instructions (24 ms of a 112 ms start-up here), and the
// providers' client and the route integrations' client both use it. It is read on a thread of its
// own from the first client's construction, so start-up does not wait for it; each client's context
// takes it before its first TLS connection, which waits only if the store is still being read.
// Shared read-only (SSL_CTX_set1_cert_store); a client with a CA file of its own builds its own
// store. Null if it cannot be made.
namespace {
// The store lives as long as the process, as the contexts that share it do; this pointer keeps it
// reachable (for a leak checker) once the future that handed it out is gone at exit.
std::atomic<X509_STORE*> process_trust_store{nullptr};

std::shared_future<X509_STORE*> system_trust_store() {
  static const std::shared_future<X509_STORE*> store = std::async(std::launch::async, [] {
                                                         X509_STORE* s = X509_STORE_new();
                                                         // What loaded is kept, as set_default_verify_paths does.
                                                         if (s && X509_STORE_set_default_paths(s) != 1) ERR_clear_error();
                                                         process_trust_store.store(s);
                                                         return s;
                                                       }).share();
  return store;
}
}  // namespace

struct client::impl {
  explicit impl(client_options o)
      : opts(std::move(o)), ctx(ssl::context::tls_client), idle(opts.max_idle_per_origin, opts.keep_alive) {
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (opts.use_system_store && opts.ca_file.empty()) {
      shared_store = system_trust_store();
    } else {
      if (opts.use_system_store) ctx.set_default_verify_paths();
      if (!opts.ca_file.empty()) ctx.load_verify_file(opts.ca_file);
    }
    ctx.set_verify_mode(ssl::verify_peer);
  }
  /// The context for a TLS connection, with the shared trust store in it from the first call on.
  ssl::context& tls_context() {
    std::call_once(store_taken, [this] {
      if (!shared_store.valid()) return;
      if (X509_STORE* s = shared_store.get()) SSL_CTX_set1_cert_store(ctx.native_handle(), s);
      else ctx.set_default_verify_paths();
    });
    return ctx;
  }
  client_options opts;
  ssl::context ctx;
  std::shared_future<X509_STORE*> shared_store;  // valid for a client that uses it
  std::once_flag store_taken;
  pool idle;
};

namespace {

io_executor io_executor_of(const io_executor& ex) { return ex; }
io_executor io_executor_of(const net::strand<io_executor>& ex) { return ex.get_inner_executor(); }

/// `Executor`: where the exchange's handlers and callbacks run, a shard's executor or a strand.
template <class Executor>
class exchange_impl final : public exchange, public std::enable_shared_from_this<exchange_impl<Executor>> {
  using std::enable_shared_from_this<exchange_impl<Executor>>::shared_from_this;

 public:
  exchange_impl(std::shared_ptr<client::impl> c, request_spec spec, handlers h, Executor ex)
      : client_(std::move(c)),
        spec_(std::move(spec)),
        h_(std::move(h)),
        ex_(std::move(ex)),
        io_ex_(io_executor_of(ex_)),
        resolver_(io_ex_),
        timer_(io_ex_) {
    key_ = spec_.origin.origin();
    use_proxy_ = spec_.origin.tls && client_->opts.https_proxy &&
                 !bypasses_proxy(client_->opts.no_proxy, spec_.origin.host);
    if (use_proxy_) key_ += " via " + client_->opts.https_proxy->origin();
  }

  void run() {
    if (aborted_) return;
    if (auto c = client_->idle.take(key_)) {
      conn_ = std::move(c);
      reused_ = true;
      write_request();
      return;
    }
    connect();
  }

  void abort() override {
    if (aborted_) return;
    aborted_ = true;
    ++timer_gen_;
    timer_.cancel();
    resolver_.cancel();
    if (conn_) conn_->close();
  }

 private:
  template <class F>
  auto bind(F&& f) {
    return net::bind_executor(ex_, std::forward<F>(f));
  }
  template <class F>
  void with_stream(F&& f) {
    if (conn_->tls) f(*conn_->tls);
    else f(conn_->sock);
  }

  // A timer per phase; its expiry closes the socket so the pending operation fails at once.
  void arm(std::chrono::milliseconds d, client_errc what) {
    auto gen = ++timer_gen_;
    timer_.expires_after(d);
    timer_.async_wait(bind([self = shared_from_this(), gen, what](error_code ec) {
      if (ec || gen != self->timer_gen_ || self->aborted_) return;
      self->timed_out_ = make_error_code(what);
      self->resolver_.cancel();
      if (self->conn_) self->conn_->close();
    }));
  }
  void disarm() {
    ++timer_gen_;
    timer_.cancel();
  }

  // The body's between-chunk limit is checked lazily: a read that brings bytes only notes the time,
  // and the timer, when it fires, waits again for what is left of the limit. Re-arming the timer on
  // every read (a cancel, a completion and a new wait in the reactor's timer heap) was about 5% of
  // the instructions of a proxied chunk.
  void arm_idle() {
    active_at_ = std::chrono::steady_clock::now();
    auto gen = ++timer_gen_;
    timer_.expires_at(active_at_ + spec_.limits.idle);
    wait_idle(gen);
  }
  void wait_idle(std::uint64_t gen) {
    timer_.async_wait(bind([self = shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->timer_gen_ || self->aborted_) return;
      auto due = self->active_at_ + self->spec_.limits.idle;
      if (std::chrono::steady_clock::now() < due) {
        self->timer_.expires_at(due);
        return self->wait_idle(gen);
      }
      self->timed_out_ = make_error_code(client_errc::idle_timeout);
      if (self->conn_) self->conn_->close();
    }));
  }

  void connect() {
    conn_ = std::make_unique<connection>(io_ex_);
    conn_->key = key_;
    reused_ = false;
    arm(spec_.limits.connect, client_errc::connect_timeout);
    const url& to = use_proxy_ ? *client_->opts.https_proxy : spec_.origin;
    // An address written as such needs no resolver: Asio resolves on a thread of its own, and the
    // hop there and back (two wake-ups) came before every new upstream connection's first byte.
    error_code literal;
    auto address = net::ip::make_address(to.host, literal);
    if (!literal) {
      conn_->sock.async_connect(tcp::endpoint(address, to.port),
                                bind([self = shared_from_this()](error_code ec) { self->on_connect(ec); }));
      return;
    }
    resolver_.async_resolve(to.host, std::to_string(to.port),
                            bind([self = shared_from_this()](error_code ec, typename resolver_type::results_type r) {
                              self->on_resolve(ec, std::move(r));
                            }));
  }

  void on_resolve(error_code ec, typename resolver_type::results_type results) {
    if (aborted_) return;
    if (!ec && results.empty()) ec = client_errc::resolve_empty;
    if (ec) return fail(ec);
    net::async_connect(conn_->sock, results,
                       bind([self = shared_from_this()](error_code ec, const tcp::endpoint&) { self->on_connect(ec); }));
  }

  void on_connect(error_code ec) {
    if (aborted_) return;
    if (ec) return fail(ec);
    conn_->sock.set_option(tcp::no_delay(true), ec);
    conn_->sock.count_queued_bytes();
    if (use_proxy_) return proxy_connect();
    after_tcp();
  }

  void proxy_connect() {
    proxy_req_.emplace(http::verb::connect, spec_.origin.host + ":" + std::to_string(spec_.origin.port), 11);
    proxy_req_->set(http::field::host, spec_.origin.host + ":" + std::to_string(spec_.origin.port));
    proxy_req_->set(http::field::user_agent, "streamgate/0.1");
    http::async_write(conn_->sock, *proxy_req_, bind([self = shared_from_this()](error_code ec, std::size_t) {
                        if (self->aborted_) return;
                        if (ec) return self->fail(ec);
                        self->proxy_res_.emplace();
                        self->proxy_res_->skip(true);  // a CONNECT answer has no body
                        http::async_read(self->conn_->sock, self->conn_->buffer, *self->proxy_res_,
                                         self->bind([self](error_code ec, std::size_t) { self->on_proxy(ec); }));
                      }));
  }

  void on_proxy(error_code ec) {
    if (aborted_) return;
    if (ec) return fail(ec);
    auto status = proxy_res_->get().result_int();
    proxy_res_.reset();
    if (status / 100 != 2 || conn_->buffer.size() != 0) return fail(client_errc::proxy_refused);
    after_tcp();
  }

  void after_tcp() {
    if (!spec_.origin.tls) {
      disarm();
      return write_request();
    }
    conn_->tls = std::make_unique<ssl::stream<socket_type>>(std::move(conn_->sock), client_->tls_context());
    auto& host = spec_.origin.host;
    // SNI lets the server pick the certificate; IP literals must not be sent as a server name.
    if (!is_ip_literal(host) && !SSL_set_tlsext_host_name(conn_->tls->native_handle(), host.c_str()))
      return fail(error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category()));
    conn_->tls->set_verify_mode(ssl::verify_peer);
    conn_->tls->set_verify_callback(ssl::host_name_verification(host));
    conn_->tls->async_handshake(ssl::stream_base::client, bind([self = shared_from_this()](error_code ec) {
                                  if (self->aborted_) return;
                                  if (ec) return self->fail(ec);
                                  self->disarm();
                                  self->write_request();
                                }));
  }

  void write_request() {
    req_.emplace(spec_.method, spec_.target, 11);
    req_->set(http::field::host, spec_.origin.authority());
    req_->set(http::field::user_agent, "streamgate/0.1");
    for (auto& [k, v] : spec_.headers) req_->set(k, v);
    req_->body() = spec_.body;
    req_->keep_alive(true);
    req_->prepare_payload();
    arm(spec_.limits.first_byte, client_errc::first_byte_timeout);
    with_stream([&](auto& s) {
      http::async_write(s, *req_, bind([self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); }));
    });
  }

  void on_write(error_code ec) {
    if (aborted_) return;
    if (ec) return fail(ec);
    if (h_.on_sent) h_.on_sent();
    if (aborted_) return;
    parser_.emplace();
    parser_->body_limit(boost::none);  // a streamed answer has no size known in advance
    parser_->header_limit(64 * 1024);
    with_stream([&](auto& s) {
      http::async_read_header(s, conn_->buffer, *parser_,
                              bind([self = shared_from_this()](error_code ec, std::size_t) { self->on_head(ec); }));
    });
  }

  void on_head(error_code ec) {
    if (aborted_) return;
    if (ec) return fail(ec);
    got_response_ = true;
    arm_idle();
    if (h_.on_head) h_.on_head(parser_->get().base());
    if (aborted_) return;
    if (parser_->is_done()) return complete();
    parser_->eager(true);  // the body: as much as the buffer holds in one put, several chunks at once
    read_body();
  }

  // The body is parsed here from the connection's buffer, and the socket is read only when the
  // parser needs more. Beast's http::async_read_some, given bytes already buffered (a chunk's
  // trailing CRLF, the next chunk read with this one), completes through a post: one more trip
  // through the scheduler and one more non-blocking epoll_wait for every chunk. Everything parsed
  // from one read reaches on_body as one piece.
  void read_body() {
    auto& body = parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    body.more = true;
    while (conn_->buffer.size() != 0) {
      error_code ec;
      auto used = parser_->put(conn_->buffer.data(), ec);
      conn_->buffer.consume(used);
      if (ec == http::error::need_more) break;
      if (ec == http::error::need_buffer) {  // chunk_ is full: hand it over, parse on into it again
        if (!hand_over()) return;
        continue;
      }
      if (ec || parser_->is_done()) {
        if (!hand_over()) return;
        if (ec) return fail(ec);
        return complete();
      }
      if (used == 0) break;  // no progress without more bytes
    }
    if (!hand_over()) return;
    auto size = beast::read_size(conn_->buffer, 65536);
    if (size == 0) return fail(http::error::buffer_overflow);
    with_stream([&](auto& s) {
      s.async_read_some(conn_->buffer.prepare(size), bind([self = shared_from_this()](error_code ec, std::size_t n) {
                          self->on_read(ec, n);
                        }));
    });
  }

  // What the parser has written into chunk_ goes to on_body; false if the exchange ended meanwhile.
  bool hand_over() {
    if (aborted_) return false;
    auto& body = parser_->get().body();
    std::size_t got = chunk_.size() - body.size;
    if (!got) return true;
    active_at_ = std::chrono::steady_clock::now();
    body.data = chunk_.data();
    body.size = chunk_.size();
    if (h_.on_body) h_.on_body(std::string_view(chunk_.data(), got));
    return !aborted_;
  }

  void on_read(error_code ec, std::size_t n) {
    if (aborted_) return;
    conn_->buffer.commit(n);
    if (ec == net::error::eof) {
      // The head was read, so the parser has seen bytes: a body that ends with the connection is
      // complete, a chunked or sized one cut short is a partial message.
      error_code end;
      parser_->put_eof(end);
      if (end) return fail(end);
      return complete();
    }
    if (ec) return fail(ec);
    read_body();
  }

  void complete() {
    disarm();
    bool reusable = parser_->keep_alive() && conn_->buffer.size() == 0;
    parser_.reset();
    if (reusable) client_->idle.put(std::move(conn_));
    else {
      conn_->close();
      conn_.reset();
    }
    finish({});
  }

  void fail(error_code ec) {
    if (timed_out_) ec = timed_out_;
    // A pooled connection the server closed while idle fails before any answer: retry it fresh.
    if (reused_ && !got_response_ && !timed_out_ &&
        (ec == net::error::eof || ec == http::error::end_of_stream || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::ssl::error::stream_truncated)) {
      conn_->close();
      conn_.reset();
      parser_.reset();
      disarm();
      connect();
      return;
    }
    disarm();
    if (conn_) {
      conn_->close();
      conn_.reset();
    }
    finish(ec);
  }

  void finish(error_code ec) {
    if (done_) return;
    done_ = true;
    auto end = std::move(h_.on_end);
    h_ = {};  // drops whatever the callbacks hold
    if (end) end(ec);
  }

  std::shared_ptr<client::impl> client_;
  request_spec spec_;
  handlers h_;
  Executor ex_;
  io_executor io_ex_;  // the sockets', timer's and resolver's: the io_context under ex_
  resolver_type resolver_;
  timer_type timer_;
  std::uint64_t timer_gen_ = 0;
  std::chrono::steady_clock::time_point active_at_;  // the body's last bytes (arm_idle)
  std::string key_;
  bool use_proxy_ = false;
  std::unique_ptr<connection> conn_;
  std::optional<http::request<http::empty_body>> proxy_req_;
  std::optional<http::response_parser<http::empty_body>> proxy_res_;
  std::optional<http::request<http::string_body>> req_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  // Left uninitialized: the parser writes what on_body reads. Zeroed, its 16 KiB were resident for
  // every exchange (10 KiB of RSS per proxied stream) and 16 k instructions per request.
  std::array<char, 16 * 1024> chunk_;
  error_code timed_out_;
  bool reused_ = false;
  bool got_response_ = false;
  bool aborted_ = false;
  bool done_ = false;
};

}  // namespace

client::client(client_options opts) : impl_(std::make_shared<impl>(std::move(opts))) {}
client::~client() = default;

std::shared_ptr<exchange> client::start(request_spec spec, handlers h, net::any_io_executor ex) {
  auto go = [&](const auto& e) -> std::shared_ptr<exchange> {
    using executor = std::decay_t<decltype(e)>;
    auto x = std::make_shared<exchange_impl<executor>>(impl_, std::move(spec), std::move(h), e);
    net::dispatch(e, [x] { x->run(); });
    return x;
  };
  if (auto* io = ex.target<io_executor>()) return go(*io);
  if (auto* strand = ex.target<net::strand<io_executor>>()) return go(*strand);
  // Every executor in the process is one of those two; anything else is a programming error.
  throw std::invalid_argument("httpc::client::start: the executor must be an io_context's or a strand over one");
}

std::size_t client::idle_connections(const std::string& origin) const { return impl_->idle.idle(origin); }

}  // namespace sg::provider::httpc
