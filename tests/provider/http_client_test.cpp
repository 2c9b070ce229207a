// The upstream HTTP client against scripted loopback servers: streaming, keep-alive, timeouts, abort, TLS, proxy.
#include "provider/http/http_client.hpp"
#include "provider/http/inq_socket.hpp"
#include "local_server.hpp"

#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

#include <latch>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <optional>

namespace sg::provider::httpc {
namespace {

using namespace std::chrono_literals;
using test::local_server;
namespace ssl = boost::asio::ssl;

// Runs an io_context on a thread and records what one exchange reports.
struct harness {
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  std::thread thread{[this] { ioc.run(); }};
  ~harness() {
    work.reset();
    ioc.stop();
    thread.join();
  }
  auto strand() { return net::make_strand(ioc); }
};

struct recorder {
  std::mutex mu;
  std::condition_variable cv;
  unsigned status = 0;
  std::string body;
  std::vector<std::string> pieces;
  int sent = 0;
  std::optional<error_code> end;
  std::function<void(std::string_view)> on_piece;

  handlers make() {
    handlers h;
    h.on_sent = [this] {
      std::lock_guard l(mu);
      ++sent;
    };
    h.on_head = [this](const response_head& head) {
      std::lock_guard l(mu);
      status = head.result_int();
      cv.notify_all();
    };
    h.on_body = [this](std::string_view b) {
      {
        std::lock_guard l(mu);
        body.append(b);
        pieces.emplace_back(b);
        cv.notify_all();
      }
      if (on_piece) on_piece(b);
    };
    h.on_end = [this](error_code ec) {
      std::lock_guard l(mu);
      end = ec;
      cv.notify_all();
    };
    return h;
  }
  bool wait_end(std::chrono::milliseconds d = 5s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, d, [&] { return end.has_value(); });
  }
  bool wait_body(std::string_view needle, std::chrono::milliseconds d = 5s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, d, [&] { return body.find(needle) != std::string::npos; });
  }
};

request_spec spec_for(std::uint16_t port, std::string target = "/x", std::string host = "127.0.0.1") {
  request_spec s;
  s.method = http::verb::post;
  s.origin = *parse_url("http://" + host + ":" + std::to_string(port));
  s.target = std::move(target);
  s.body = R"({"hello":1})";
  s.headers = {{"content-type", "application/json"}};
  return s;
}

/// spec_for, over TLS to "localhost" (the name the test certificates carry).
request_spec tls_spec_for(std::uint16_t port) {
  auto s = spec_for(port);
  s.origin = *parse_url("https://localhost:" + std::to_string(port));
  return s;
}

constexpr std::string_view chunked_head =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

std::string chunk(std::string_view s) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "%zx", s.size());
  return std::string(hex) + "\r\n" + std::string(s) + "\r\n";
}

TEST(Url, ParsesSchemesPortsAndPrefixes) {
  auto u = parse_url("https://api.openai.com/v1/");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "api.openai.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/v1");
  EXPECT_EQ(u->authority(), "api.openai.com");
  auto l = parse_url("http://127.0.0.1:11434");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->port, 11434);
  EXPECT_EQ(l->path, "");
  EXPECT_EQ(l->authority(), "127.0.0.1:11434");
  auto v6 = parse_url("http://[::1]:8080/a");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->authority(), "[::1]:8080");
  EXPECT_FALSE(parse_url("ftp://x"));
  EXPECT_FALSE(parse_url("http://"));
  EXPECT_FALSE(parse_url("http://u:p@host/"));
  EXPECT_FALSE(parse_url("http://h:99999/"));
  EXPECT_FALSE(parse_url("localhost:11434"));
}

// A connected loopback pair: `writer` blocking, `reader` non-blocking with TCP_INQ as asked.
struct loopback_pair {
  net::io_context ioc;
  tcp::socket writer{ioc}, reader{ioc};
  explicit loopback_pair(bool count_queued) {
    tcp::acceptor acc(ioc, {net::ip::address_v4::loopback(), 0});
    writer.connect(acc.local_endpoint());
    acc.accept(reader);
    reader.non_blocking(true);
    int on = 1;
    if (count_queued) {
      EXPECT_EQ(::setsockopt(reader.native_handle(), IPPROTO_TCP, TCP_INQ, &on, sizeof on), 0);
    }
  }
  // Waits (poll, 5 s at most) until the reader sees `events`: data, or the writer's FIN as well.
  bool arrived(short events) {
    pollfd p{reader.native_handle(), events, 0};
    return ::poll(&p, 1, 5000) == 1 && (p.revents & events) == events;
  }
  auto receive(std::size_t size, std::string& into) {
    char buf[256];
    error_code ec;
    std::size_t n = 0;
    auto st = receive_counting_queue(reader.native_handle(), net::buffer(buf, size), ec, n);
    into.assign(buf, n);
    return std::pair{st, ec};
  }
};

using status = net::detail::reactor_op::status;

TEST(InqSocket, AReadThatLeavesNothingQueuedSaysTheSocketIsExhausted) {
  loopback_pair p(true);
  net::write(p.writer, net::buffer(std::string_view("0123456789")));
  ASSERT_TRUE(p.arrived(POLLIN));
  std::string got;
  auto [st, ec] = p.receive(4, got);
  EXPECT_EQ(st, status::done);  // six bytes still queued: the next read may try at once
  EXPECT_FALSE(ec);
  EXPECT_EQ(got, "0123");
  std::tie(st, ec) = p.receive(100, got);
  EXPECT_EQ(st, status::done_and_exhausted);
  EXPECT_EQ(got, "456789");
  std::tie(st, ec) = p.receive(100, got);
  EXPECT_EQ(st, status::not_done);
}

TEST(InqSocket, AnEndOfStreamQueuedBehindTheLastBytesIsNotExhausted) {
  loopback_pair p(true);
  net::write(p.writer, net::buffer(std::string_view("end")));
  p.writer.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(p.arrived(POLLIN | POLLRDHUP));
  std::string got;
  auto [st, ec] = p.receive(100, got);
  EXPECT_EQ(st, status::done);  // the FIN is still to be read, and no edge will announce it again
  EXPECT_EQ(got, "end");
  std::tie(st, ec) = p.receive(100, got);
  EXPECT_EQ(st, status::done_and_exhausted);
  EXPECT_EQ(ec, net::error::eof);
}

TEST(InqSocket, WithoutTheCountEveryReadIsDone) {
  loopback_pair p(false);
  net::write(p.writer, net::buffer(std::string_view("abc")));
  ASSERT_TRUE(p.arrived(POLLIN));
  std::string got;
  auto [st, ec] = p.receive(100, got);
  EXPECT_EQ(st, status::done);
  EXPECT_EQ(got, "abc");
}

// Through the reactor: data written after a read that exhausted the socket is read, and so is an
// end of stream that arrives together with the last bytes (a read that took a short read for an
// empty queue would wait for it until run_for gives up).
TEST(InqSocket, ReadsSeeLaterDataAndAnEndThatCameWithTheLastBytes) {
  net::io_context ioc;
  tcp::acceptor acc(ioc, {net::ip::address_v4::loopback(), 0});
  inq_socket reader(ioc.get_executor());
  reader.connect(acc.local_endpoint());
  ASSERT_TRUE(reader.count_queued_bytes());
  tcp::socket writer(ioc);
  acc.accept(writer);
  std::string got;
  std::optional<error_code> end;
  std::array<char, 64> buf{};
  int step = 0;
  std::function<void(error_code, std::size_t)> on_read = [&](error_code ec, std::size_t n) {
    if (ec) {
      end = ec;
      return;
    }
    got.append(buf.data(), n);
    if (++step == 1) {
      net::write(writer, net::buffer(std::string_view("b")));
    } else if (step == 2) {
      net::write(writer, net::buffer(std::string_view("c")));
      writer.shutdown(tcp::socket::shutdown_send);
    }
    reader.async_read_some(net::buffer(buf), on_read);
  };
  net::write(writer, net::buffer(std::string_view("a")));
  reader.async_read_some(net::buffer(buf), on_read);
  ioc.run_for(10s);
  EXPECT_EQ(got, "abc");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(*end, net::error::eof);
}

TEST(ProxyEnv, ReadsHttpsProxyAndNoProxy) {
  auto o = options_from_env({{"https_proxy", "proxy.local:3128"}, {"NO_PROXY", "localhost, .internal,10.0.0.1:80"}});
  ASSERT_TRUE(o.https_proxy);
  EXPECT_EQ(o.https_proxy->host, "proxy.local");
  EXPECT_EQ(o.https_proxy->port, 3128);
  EXPECT_EQ(o.no_proxy, (std::vector<std::string>{"localhost", ".internal", "10.0.0.1"}));
  EXPECT_FALSE(options_from_env({}).https_proxy);
  EXPECT_THROW(options_from_env({{"HTTPS_PROXY", "https://p:1"}}), std::invalid_argument);
}

TEST(HttpClient, StreamsTheBodyAsItArrives) {
  std::promise<void> first_seen;
  auto first_seen_f = first_seen.get_future().share();
  std::string got_target, got_body, got_host;
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    auto req = test::read_request(s, buf);
    got_target = std::string(req.target());
    got_body = req.body();
    got_host = std::string(req[http::field::host]);
    test::write_raw(s, std::string(chunked_head) + chunk("data: one\n\n"));
    // The second chunk goes out only once the client has delivered the first: proof of streaming.
    if (first_seen_f.wait_for(5s) != std::future_status::ready) return;
    test::write_raw(s, chunk("data: two\n\n") + "0\r\n\r\n");
    test::wait_peer_close(s);
  });
  harness h;
  client c;
  recorder r;
  bool signalled = false;
  r.on_piece = [&](std::string_view) {
    if (!std::exchange(signalled, true)) first_seen.set_value();
  };
  c.start(spec_for(srv.port(), "/v1/chat/completions?x=1"), r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_FALSE(*r.end) << r.end->message();
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "data: one\n\ndata: two\n\n");
  EXPECT_GE(r.pieces.size(), 2u);
  EXPECT_EQ(r.sent, 1);
  EXPECT_EQ(got_target, "/v1/chat/completions?x=1");
  EXPECT_EQ(got_body, R"({"hello":1})");
  EXPECT_EQ(got_host, "127.0.0.1:" + std::to_string(srv.port()));
}

// The body is parsed from what each read brings: many chunks in one read reach on_body together,
// a chunk larger than the client's 16 KiB body buffer is handed over in parts, a chunk split
// across reads is joined, and sized, close-delimited and cut-short bodies end as they should.
TEST(HttpClient, ParsesEveryBodyFramingFromWhatOneReadBrings) {
  std::string many;  // 200 small chunks written at once
  std::string many_text;
  for (int i = 0; i < 200; ++i) {
    auto ev = "data: " + std::to_string(i) + "\n\n";
    many += chunk(ev);
    many_text += ev;
  }
  std::string big(40000, 'b');
  for (std::size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
  std::string split = chunk("data: split across reads\n\n") + "0\r\n\r\n";
  local_server srv([&](tcp::socket& s, int n) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    switch (n) {
      case 0: test::write_raw(s, std::string(chunked_head) + many + chunk(big) + "0\r\n\r\n"); break;
      case 1:
        test::write_raw(s, chunked_head);
        s.set_option(tcp::no_delay(true));
        for (char c : split) {  // one byte per send: every parse state meets the end of a read
          test::write_raw(s, std::string_view(&c, 1));
          std::this_thread::yield();
        }
        break;
      case 2:
        test::write_raw(s, "HTTP/1.1 200 OK\r\ncontent-length: " + std::to_string(big.size()) + "\r\n\r\n" + big);
        break;
      case 3:  // HTTP/1.0 style: the body ends with the connection
        test::write_raw(s, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + big);
        s.shutdown(tcp::socket::shutdown_both);
        return;
      case 4:  // cut inside a chunk
        test::write_raw(s, std::string(chunked_head) + "20\r\ndata: half");
        s.shutdown(tcp::socket::shutdown_both);
        return;
    }
    test::wait_peer_close(s);
  });
  harness h;
  auto run = [&](recorder& r) {
    client c;  // a pool of its own: each case on a fresh connection, so the server's `n` names it
    c.start(spec_for(srv.port()), r.make(), h.ioc.get_executor());
    ASSERT_TRUE(r.wait_end());
  };
  {
    recorder r;
    run(r);
    EXPECT_FALSE(*r.end) << r.end->message();
    EXPECT_EQ(r.body, many_text + big);
    // Handed over per read, not per chunk: 201 chunks arrive in far fewer pieces.
    EXPECT_LT(r.pieces.size(), 50u);
    for (auto& p : r.pieces) EXPECT_LE(p.size(), 16u * 1024);
  }
  {
    recorder r;
    run(r);
    EXPECT_FALSE(*r.end) << r.end->message();
    EXPECT_EQ(r.body, "data: split across reads\n\n");
  }
  {
    recorder r;
    run(r);
    EXPECT_FALSE(*r.end) << r.end->message();
    EXPECT_EQ(r.body, big);
  }
  {
    recorder r;
    run(r);
    EXPECT_FALSE(*r.end) << r.end->message();
    EXPECT_EQ(r.body, big);
  }
  {
    recorder r;
    run(r);
    ASSERT_TRUE(*r.end);
    EXPECT_EQ(*r.end, http::error::partial_message) << r.end->message();
    EXPECT_EQ(r.body, "data: half");
  }
  EXPECT_EQ(srv.connections(), 5);
}

// A server's connection handler that answers "ok" to up to `requests` requests on one connection.
test::local_server::handler answers_ok(int requests) {
  return [requests](tcp::socket& s, int) {
    beast::flat_buffer buf;
    for (int i = 0; i < requests; ++i) {
      error_code ec;
      http::request<http::string_body> req;
      http::read(s, buf, req, ec);
      if (ec) return;
      test::write_raw(s, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    }
  };
}

// Exchanges run on a shard's own executor (one thread runs its io_context) or on a strand; both
// kinds share the keep-alive pool, since every socket names the io_context's executor type.
TEST(HttpClient, ReusesKeepAliveConnectionsAcrossShardAndStrandExchanges) {
  local_server srv(answers_ok(4));
  harness h;
  client c;
  auto origin = spec_for(srv.port()).origin.origin();
  for (int i = 0; i < 4; ++i) {
    recorder r;
    if (i % 2 == 0) c.start(spec_for(srv.port()), r.make(), h.strand());
    else c.start(spec_for(srv.port()), r.make(), h.ioc.get_executor());
    ASSERT_TRUE(r.wait_end());
    EXPECT_FALSE(*r.end) << i << ": " << r.end->message();
    EXPECT_EQ(r.body, "ok");
    EXPECT_EQ(c.idle_connections(origin), 1u);
  }
  EXPECT_EQ(srv.connections(), 1);
}

// Taking a pooled connection leaves the origin's other idle connections in the pool: three exchanges
// at once open three connections, and the exchanges after them, one at a time or three at once, use
// those three. (Taking one used to close the others, so concurrent streams connected anew each time.)
TEST(HttpClient, TakingAPooledConnectionLeavesTheOthersIdle) {
  std::latch all_open(3);  // each connection answers its first request once all three are open
  local_server srv([&](tcp::socket& s, int conn) {
    beast::flat_buffer buf;
    for (int i = 0;; ++i) {
      error_code ec;
      http::request<http::string_body> req;
      http::read(s, buf, req, ec);
      if (ec) return;
      if (i == 0 && conn < 3) all_open.arrive_and_wait();
      test::write_raw(s, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    }
  });
  harness h;
  client c;
  auto origin = spec_for(srv.port()).origin.origin();
  auto round = [&](int n) {
    std::vector<std::unique_ptr<recorder>> rs;
    for (int i = 0; i < n; ++i) {
      rs.push_back(std::make_unique<recorder>());
      c.start(spec_for(srv.port()), rs.back()->make(), h.strand());
    }
    for (auto& r : rs) {
      ASSERT_TRUE(r->wait_end());
      EXPECT_FALSE(*r->end) << r->end->message();
      EXPECT_EQ(r->body, "ok");
    }
  };
  round(3);
  EXPECT_EQ(c.idle_connections(origin), 3u);
  round(1);
  EXPECT_EQ(c.idle_connections(origin), 3u);
  round(3);
  EXPECT_EQ(c.idle_connections(origin), 3u);
  for (int i = 0; i < 10; ++i) round(2);
  EXPECT_EQ(c.idle_connections(origin), 3u);
  EXPECT_EQ(srv.connections(), 3);
}

TEST(HttpClient, RefusesAnExecutorThatIsNeitherAShardNorAStrand) {
  client c;
  recorder r;
  net::thread_pool other(1);
  EXPECT_THROW(c.start(spec_for(1), r.make(), net::any_io_executor(other.get_executor())), std::invalid_argument);
  EXPECT_FALSE(r.end);  // nothing ran
}

TEST(HttpClient, RetriesAPooledConnectionTheServerClosed) {
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    // Keep-alive promised, then the server drops the idle connection anyway.
    test::write_raw(s, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    s.shutdown(tcp::socket::shutdown_both);
    s.close();
  });
  harness h;
  client c;
  for (int i = 0; i < 2; ++i) {
    recorder r;
    c.start(spec_for(srv.port()), r.make(), h.strand());
    ASSERT_TRUE(r.wait_end());
    EXPECT_FALSE(*r.end) << i << ": " << r.end->message();
    EXPECT_EQ(r.body, "ok");
  }
  EXPECT_EQ(srv.connections(), 2);
}

TEST(HttpClient, ErrorStatusStillDeliversTheBody) {
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    test::write_raw(s,
                    "HTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\ncontent-type: application/json\r\n"
                    "content-length: 20\r\nconnection: close\r\n\r\n{\"error\":\"slow\"}    ");
  });
  harness h;
  client c;
  recorder r;
  c.start(spec_for(srv.port()), r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_FALSE(*r.end);
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.body, "{\"error\":\"slow\"}    ");
}

TEST(HttpClient, RefusedConnectionFails) {
  std::uint16_t port;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  harness h;
  client c;
  recorder r;
  c.start(spec_for(port), r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_EQ(*r.end, net::error::connection_refused);
}

TEST(HttpClient, FirstByteTimeout) {
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    test::wait_peer_close(s);  // never answers
  });
  harness h;
  client c;
  recorder r;
  auto spec = spec_for(srv.port());
  spec.limits.first_byte = 100ms;
  c.start(spec, r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_EQ(*r.end, client_errc::first_byte_timeout);
  EXPECT_TRUE(is_timeout(*r.end));
}

TEST(HttpClient, BetweenChunkTimeout) {
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    test::write_raw(s, std::string(chunked_head) + chunk("data: one\n\n"));
    test::wait_peer_close(s);  // stalls mid-body
  });
  harness h;
  client c;
  recorder r;
  auto spec = spec_for(srv.port());
  spec.limits.idle = 100ms;
  c.start(spec, r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_EQ(*r.end, client_errc::idle_timeout);
  EXPECT_EQ(r.body, "data: one\n\n");
}

// The between-chunk limit is checked lazily (a read notes the time; the timer waits again for what
// is left): a body whose chunks keep coming for longer than the limit is not cut, and a stall after
// them still is, no sooner than the limit after the last chunk.
TEST(HttpClient, BetweenChunkTimeoutCountsFromTheLastChunk) {
  constexpr int chunks = 12;
  using clock = std::chrono::steady_clock;
  std::atomic<clock::time_point> last_write{};
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    test::write_raw(s, std::string(chunked_head));
    for (int i = 0; i < chunks; ++i) {
      std::this_thread::sleep_for(30ms);  // the body's pace, well inside the limit
      last_write = clock::now();  // before the write: the client cannot see the bytes earlier
      test::write_raw(s, chunk("data: " + std::to_string(i) + "\n\n"));
    }
    test::wait_peer_close(s);  // then stalls
  });
  harness h;
  client c;
  recorder r;
  auto spec = spec_for(srv.port());
  spec.limits.idle = 250ms;  // shorter than the whole body (12 × 30 ms), longer than any gap
  auto started = clock::now();
  c.start(spec, r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  auto ended = clock::now();
  EXPECT_EQ(*r.end, client_errc::idle_timeout);
  std::string want;
  for (int i = 0; i < chunks; ++i) want += "data: " + std::to_string(i) + "\n\n";
  EXPECT_EQ(r.body, want);
  EXPECT_GE(ended - last_write.load(), 250ms);
  EXPECT_GE(ended - started, chunks * 30ms + 250ms);
}

TEST(HttpClient, MidStreamCloseIsAnError) {
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    test::write_raw(s, std::string(chunked_head) + chunk("data: one\n\n"));
    s.shutdown(tcp::socket::shutdown_both);
  });
  harness h;
  client c;
  recorder r;
  c.start(spec_for(srv.port()), r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_TRUE(*r.end);
  EXPECT_EQ(r.body, "data: one\n\n");
}

TEST(HttpClient, AbortClosesTheUpstreamSocketAtOnce) {
  std::promise<std::chrono::steady_clock::time_point> closed;
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    test::write_raw(s, std::string(chunked_head) + chunk("data: one\n\n"));
    if (test::wait_peer_close(s)) closed.set_value(std::chrono::steady_clock::now());
  });
  harness h;
  client c;
  recorder r;
  auto strand = h.strand();
  auto x = c.start(spec_for(srv.port()), r.make(), strand);
  ASSERT_TRUE(r.wait_body("one"));
  auto t0 = std::chrono::steady_clock::now();
  net::post(strand, [x] { x->abort(); });
  auto f = closed.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_LT(f.get() - t0, 50ms);
  EXPECT_FALSE(r.wait_end(100ms)) << "no callback after abort";
}

// A TLS server on 127.0.0.1 whose certificate names "localhost".
struct tls_server {
  test::test_cert cert = test::make_self_signed("localhost");
  std::string ca_path = test::write_temp_file(cert.cert_pem);
  ssl::context ctx{ssl::context::tls_server};
  std::string sni;
  std::mutex mu;
  local_server srv{[this](tcp::socket& s, int) {
    ssl::stream<tcp::socket&> tls(s, ctx);
    error_code ec;
    tls.handshake(ssl::stream_base::server, ec);
    if (ec) return;
    if (const char* name = SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name)) {
      std::lock_guard l(mu);
      sni = name;
    }
    beast::flat_buffer buf;
    test::read_request(tls, buf);
    test::write_raw(tls, "HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecure");
    tls.shutdown(ec);
  }};
  tls_server() {
    ctx.use_certificate_chain(net::buffer(cert.cert_pem));
    ctx.use_private_key(net::buffer(cert.key_pem), ssl::context::pem);
  }
  ~tls_server() { std::remove(ca_path.c_str()); }
};

TEST(HttpClient, TlsWithSniAndVerification) {
  tls_server ts;
  harness h;
  client_options o;
  o.ca_file = ts.ca_path;
  client c(o);
  recorder r;
  request_spec spec = tls_spec_for(ts.srv.port());
  c.start(spec, r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_FALSE(*r.end) << r.end->message();
  EXPECT_EQ(r.body, "secure");
  std::lock_guard l(ts.mu);
  EXPECT_EQ(ts.sni, "localhost");
}

TEST(HttpClient, TlsRejectsACertificateForAnotherName) {
  tls_server ts;
  harness h;
  client_options o;
  o.ca_file = ts.ca_path;
  client c(o);
  recorder r;
  request_spec spec = spec_for(ts.srv.port());
  spec.origin = *parse_url("https://127.0.0.1:" + std::to_string(ts.srv.port()));  // not the certificate's name
  c.start(spec, r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_TRUE(*r.end);
  EXPECT_EQ(r.status, 0u);
}

// A request over TLS that `c` must refuse: it ends with an error and no body.
void expect_refused(client& c, std::uint16_t port, harness& h) {
  recorder r;
  c.start(tls_spec_for(port), r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_TRUE(*r.end);
  EXPECT_TRUE(r.body.empty());
}

TEST(HttpClient, TlsRejectsAnUntrustedCertificate) {
  tls_server ts;
  harness h;
  client_options o;
  o.use_system_store = true;  // the self-signed certificate is in no store
  client c(o);
  expect_refused(c, ts.srv.port(), h);
}

// The system's trust store is read on a thread of its own from the first client's construction, and
// a client's first TLS connection takes it: right after the client is made, a server whose CA is in
// the store (SSL_CERT_FILE, which OpenSSL's default paths read) is trusted. In a process of its own,
// so that the store is read with that variable set.
TEST(HttpClient, TheFirstTlsConnectionTrustsTheSystemStoreReadInTheBackground) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        tls_server ts;
        ::setenv("SSL_CERT_FILE", ts.ca_path.c_str(), 1);
        harness h;
        client_options o;
        o.use_system_store = true;
        client c(o);
        recorder r;
        c.start(tls_spec_for(ts.srv.port()), r.make(), h.strand());
        bool trusted = r.wait_end() && !*r.end && r.body == "secure";
        std::fflush(nullptr);
        std::_Exit(trusted ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

// Clients without a CA file share one copy of the system's trust store; a client with a CA file
// builds its own, so that file never widens what the others trust.
TEST(HttpClient, ACaFileOfOneClientNeverWidensTheSharedTrustStore) {
  tls_server ts;
  harness h;
  client_options with_ca;
  with_ca.ca_file = ts.ca_path;
  client trusting(with_ca);
  client_options system_only;
  system_only.use_system_store = true;
  client c(system_only);
  expect_refused(c, ts.srv.port(), h);
}

TEST(HttpClient, TlsHandshakeCountsTowardTheConnectTimeout) {
  local_server srv([&](tcp::socket& s, int) { test::wait_peer_close(s); });  // accepts, never speaks TLS
  harness h;
  client c;
  recorder r;
  request_spec spec = tls_spec_for(srv.port());
  spec.limits.connect = 100ms;
  c.start(spec, r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_EQ(*r.end, client_errc::connect_timeout);
}

TEST(HttpClient, HttpsThroughAConnectProxy) {
  tls_server ts;
  std::string connect_line;
  local_server proxy([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    http::request<http::empty_body> req;
    http::request_parser<http::empty_body> p;
    p.skip(true);
    http::read(s, buf, p);
    connect_line = std::string(p.get().method_string()) + " " + std::string(p.get().target());
    net::io_context ioc;
    tcp::socket up(ioc);
    up.connect({net::ip::make_address("127.0.0.1"), ts.srv.port()});
    test::write_raw(s, "HTTP/1.1 200 Connection established\r\n\r\n");
    // Pipe both ways until either side closes.
    std::thread back([&] {
      char b[4096];
      error_code ec;
      for (;;) {
        auto n = up.read_some(net::buffer(b), ec);
        if (ec) break;
        net::write(s, net::buffer(b, n), ec);
        if (ec) break;
      }
      s.shutdown(tcp::socket::shutdown_both, ec);
    });
    char b[4096];
    error_code ec;
    for (;;) {
      auto n = s.read_some(net::buffer(b), ec);
      if (ec) break;
      net::write(up, net::buffer(b, n), ec);
      if (ec) break;
    }
    up.shutdown(tcp::socket::shutdown_both, ec);
    back.join();
  });
  harness h;
  client_options o;
  o.ca_file = ts.ca_path;
  o.https_proxy = parse_url("http://127.0.0.1:" + std::to_string(proxy.port()));
  client c(o);
  recorder r;
  request_spec spec = tls_spec_for(ts.srv.port());
  c.start(spec, r.make(), h.strand());
  ASSERT_TRUE(r.wait_end());
  EXPECT_FALSE(*r.end) << r.end->message();
  EXPECT_EQ(r.body, "secure");
  EXPECT_EQ(connect_line, "CONNECT localhost:" + std::to_string(ts.srv.port()));
}

TEST(HttpClient, NoProxyBypassesTheProxy) {
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    test::write_raw(s, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
  });
  harness h;
  client_options o = options_from_env({{"HTTPS_PROXY", "http://127.0.0.1:1"}, {"NO_PROXY", "127.0.0.1"}});
  client c(o);
  recorder r;
  c.start(spec_for(srv.port()), r.make(), h.strand());  // plain http never uses the https proxy anyway
  ASSERT_TRUE(r.wait_end());
  EXPECT_FALSE(*r.end);
}

}  // namespace
}  // namespace sg::provider::httpc
