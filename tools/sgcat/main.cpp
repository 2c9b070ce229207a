// sgcat: a terminal client for streamgate, interactive like wscat or one-shot (--ask), over WebSocket or SSE.
#include "args.hpp"

#include "core/asio.hpp"
#include "provider/parse/sse_parser.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <thread>

namespace sg::tools {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

enum exit_code { ok = 0, failed = 1, usage = 2, cancelled = 3 };

struct cat_options {
  cat_url url;
  std::string project = "default";
  std::string ask;
  bool json = false;
  std::string resume_id;
  std::uint64_t resume_seq = 0;
  bool resume = false;
  std::int64_t cancel_after_ms = -1;
  int retries = 5;
  bool quiet = false;
  std::vector<std::pair<std::string, std::string>> headers;
};

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// One-shot state shared by both transports: what was seen, what to print, how it ended.
class one_shot {
 public:
  explicit one_shot(const cat_options& o) : o_(o), tty_(isatty(STDERR_FILENO) && !o.quiet), out_tty_(isatty(STDOUT_FILENO)) {
    if (o.resume) {
      stream_id_ = o.resume_id;
      last_seq_ = o.resume_seq;
    }
  }

  const std::string& stream_id() const { return stream_id_; }
  std::uint64_t last_seq() const { return last_seq_; }
  bool done() const { return done_; }
  int code() const { return code_; }

  void mark_request() { request_at_ = std::chrono::steady_clock::now(); }
  void mark_connected(double ms) {
    if (connect_ms_ < 0) connect_ms_ = ms;
  }

  /// Handles one event's JSON text.
  void on_event(std::string_view text) {
    json::value v;
    try {
      v = json::parse(text);
    } catch (const std::exception&) {
      note("unparseable frame: " + std::string(text));
      return;
    }
    if (!v.is_object()) return;
    auto& e = v.as_object();
    auto str = [&](const char* k) -> std::string {
      auto* p = e.if_contains(k);
      return p && p->is_string() ? std::string(p->as_string()) : std::string();
    };
    auto num = [&](const char* k) -> std::uint64_t {
      auto* p = e.if_contains(k);
      if (!p) return 0;
      if (p->is_uint64()) return p->as_uint64();
      if (p->is_int64()) return static_cast<std::uint64_t>(std::max<std::int64_t>(0, p->as_int64()));
      return 0;
    };
    std::string type = str("type");
    if (type == "connected" || type == "pong") {
      if (o_.json) emit_json(text);
      return;
    }
    // After a resume the server replays from lastSeq+1; anything at or below it was printed already.
    auto seq = num("seq");
    if (seq != 0) {
      if (seq <= last_seq_) return;
      last_seq_ = seq;
    }
    if (o_.json) emit_json(text);
    if (type == "stream_start") {
      stream_id_ = str("streamId");
    } else if (type == "progress") {
      if (!o_.json) show_progress(static_cast<int>(num("progress")), str("step"));
    } else if (type == "stream_chunk") {
      auto now = std::chrono::steady_clock::now();
      if (chunks_ == 0) {
        first_chunk_ms_ = ms_since(request_at_);
        clear_bar();
      }
      last_chunk_at_ = now;
      if (chunks_ == 0) first_chunk_at_ = now;
      ++chunks_;
      if (!o_.json) {
        auto c = str("content");
        std::fwrite(c.data(), 1, c.size(), stdout);
        std::fflush(stdout);
        printed_any_ = true;
        ends_with_newline_ = !c.empty() && c.back() == '\n';
      }
    } else if (type == "stream_complete") {
      finish(exit_code::ok);
      if (!o_.json && !o_.quiet) {
        double mean = chunks_ > 1 ? std::chrono::duration<double, std::milli>(last_chunk_at_ - first_chunk_at_).count() /
                                        static_cast<double>(chunks_ - 1)
                                  : 0;
        char line[256];
        std::snprintf(line, sizeof line,
                      "connection %.0f ms · first chunk %.0f ms · %llu chunks · mean interval %.1f ms · total %.0f ms",
                      connect_ms_, first_chunk_ms_, static_cast<unsigned long long>(chunks_), mean,
                      ms_since(request_at_));
        std::fprintf(stderr, "%s\n", line);
      }
    } else if (type == "stream_cancelled") {
      finish(exit_code::cancelled);
      note("stream cancelled");
    } else if (type == "error") {
      // An error ends the run when it ends our stream or answers our request; others are notes.
      bool ends_stream = seq != 0 || stream_id_.empty() || str("streamId") == stream_id_;
      note("error " + str("code") + ": " + str("message"));
      if (ends_stream) finish(exit_code::failed);
    }
  }

  /// Prints a note on stderr (keeping the progress bar's line clean).
  void note(const std::string& s) {
    if (o_.quiet) return;
    clear_bar();
    if (printed_any_ && !ends_with_newline_) {
      std::fputc('\n', stdout);
      std::fflush(stdout);
      ends_with_newline_ = true;
    }
    std::fprintf(stderr, "sgcat: %s\n", s.c_str());
  }

 private:
  void emit_json(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }

  void show_progress(int pct, const std::string& step) {
    // On a terminal shared with the answer, the bar only lives until the text starts.
    if (!tty_ || (out_tty_ && printed_any_)) return;
    std::fprintf(stderr, "\r\033[K%s", progress_bar(pct, step).c_str());
    std::fflush(stderr);
    bar_shown_ = true;
  }

  void clear_bar() {
    if (!bar_shown_) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    bar_shown_ = false;
  }

  void finish(int code) {
    done_ = true;
    code_ = code;
    clear_bar();
    if (!o_.json && printed_any_ && !ends_with_newline_) {
      std::fputc('\n', stdout);
      std::fflush(stdout);
    }
  }

  const cat_options& o_;
  bool tty_, out_tty_;
  std::string stream_id_;
  std::uint64_t last_seq_ = 0;
  bool done_ = false, printed_any_ = false, ends_with_newline_ = false, bar_shown_ = false;
  int code_ = exit_code::failed;
  double connect_ms_ = -1, first_chunk_ms_ = 0;
  std::uint64_t chunks_ = 0;
  std::chrono::steady_clock::time_point request_at_ = std::chrono::steady_clock::now(), first_chunk_at_, last_chunk_at_;
};

std::string stream_request_json(const cat_options& o) {
  json::object req{{"action", "stream"}, {"projectId", o.project}, {"userInput", o.ask}};
  return json::serialize(req);
}

net::awaitable<error_code> connect_tcp(tcp::socket& sock, const cat_url& u) {
  tcp::resolver resolver(sock.get_executor());
  auto [ec, results] = co_await resolver.async_resolve(u.host, u.port, tuple_awaitable);
  if (ec) co_return ec;
  auto [ec2, ep] = co_await net::async_connect(sock, results, tuple_awaitable);
  co_return ec2;
}

net::awaitable<void> sleep_ms(std::int64_t ms) {
  net::steady_timer t(co_await net::this_coro::executor);
  t.expires_after(std::chrono::milliseconds(ms));
  co_await t.async_wait(tuple_awaitable);
}

// ---- WebSocket ----

net::awaitable<void> ws_one_shot(const cat_options& o, one_shot& st) {
  auto ex = co_await net::this_coro::executor;
  bool request_sent = false;
  bool cancel_armed = false;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      if (attempt > o.retries) {
        st.note("giving up after " + std::to_string(o.retries) + " reconnects");
        co_return;
      }
      // Back off a little more each time: a restarting server should not be hammered.
      co_await sleep_ms(std::min<std::int64_t>(200LL << (attempt - 1), 5000));
    }
    auto t0 = std::chrono::steady_clock::now();
    auto ws = std::make_shared<websocket::stream<tcp::socket>>(ex);
    if (auto ec = co_await connect_tcp(ws->next_layer(), o.url)) {
      st.note("connect: " + ec.message());
      continue;
    }
    ws->set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws->set_option(websocket::stream_base::decorator([&o](websocket::request_type& req) {
      req.set(http::field::user_agent, "sgcat");
      for (auto& [k, v] : o.headers) req.set(k, v);
    }));
    ws->read_message_max(64 << 20);
    auto [hec] = co_await ws->async_handshake(o.url.host + ":" + o.url.port, o.url.path, tuple_awaitable);
    if (hec) {
      st.note("handshake: " + hec.message());
      if (hec == websocket::error::upgrade_declined) co_return;  // wrong path or refused: retrying will not help
      continue;
    }
    st.mark_connected(ms_since(t0));
    if (attempt > 0) st.note("reconnected; resuming " + st.stream_id() + " after seq " + std::to_string(st.last_seq()));

    std::string first;
    if (!st.stream_id().empty()) {
      json::object r{{"action", "resume"}, {"streamId", st.stream_id()}, {"lastSeq", st.last_seq()}};
      first = json::serialize(r);
    } else if (!request_sent || st.last_seq() == 0) {
      // Nothing of the stream was seen yet (not even stream_start): asking again is safe.
      first = stream_request_json(o);
      st.mark_request();
      request_sent = true;
    }
    ws->text(true);
    auto [wec, wn] = co_await ws->async_write(net::buffer(first), tuple_awaitable);
    (void)wn;
    if (wec) {
      st.note("write: " + wec.message());
      continue;
    }
    if (o.cancel_after_ms >= 0 && !cancel_armed) {
      cancel_armed = true;
      // The cancel goes out on whichever connection is current when the time comes.
      net::co_spawn(
          ex,
          [ws, &st, ms = o.cancel_after_ms]() -> net::awaitable<void> {
            co_await sleep_ms(ms);
            if (st.done() || st.stream_id().empty() || !ws->is_open()) co_return;
            json::object c{{"action", "cancel"}, {"streamId", st.stream_id()}};
            auto text = std::make_shared<std::string>(json::serialize(c));
            co_await ws->async_write(net::buffer(*text), tuple_awaitable);
          },
          net::detached);
    }
    beast::flat_buffer buf;
    for (;;) {
      buf.clear();
      auto [rec, n] = co_await ws->async_read(buf, tuple_awaitable);
      (void)n;
      if (rec) {
        if (rec == websocket::error::closed) st.note("server closed the connection (" + std::to_string(ws->reason().code) + ")");
        else st.note("connection lost: " + rec.message());
        break;
      }
      st.on_event(beast::buffers_to_string(buf.data()));
      if (st.done()) {
        auto [cec] = co_await ws->async_close(websocket::close_code::normal, tuple_awaitable);
        (void)cec;
        co_return;
      }
    }
  }
}

// Interactive: stdin lines become text frames, frames are printed as they come.
class interactive : public std::enable_shared_from_this<interactive> {
 public:
  interactive(net::io_context& ioc, const cat_options& o) : ioc_(ioc), o_(o), ws_(ioc), quiet_timer_(ioc) {}

  net::awaitable<int> run() {
    if (auto ec = co_await connect_tcp(ws_.next_layer(), o_.url)) {
      std::cerr << "sgcat: connect: " << ec.message() << "\n";
      co_return exit_code::failed;
    }
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws_.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
      req.set(http::field::user_agent, "sgcat");
      for (auto& [k, v] : o_.headers) req.set(k, v);
    }));
    ws_.read_message_max(64 << 20);
    auto [hec] = co_await ws_.async_handshake(o_.url.host + ":" + o_.url.port, o_.url.path, tuple_awaitable);
    if (hec) {
      std::cerr << "sgcat: handshake: " << hec.message() << "\n";
      co_return exit_code::failed;
    }
    if (!o_.quiet) std::cerr << "connected (press Ctrl-D to close)\n";
    // A plain thread reads stdin (which may be a terminal, a pipe or a file) and posts each line.
    std::thread([self = shared_from_this()] {
      std::string line;
      while (std::getline(std::cin, line)) net::post(self->ioc_, [self, line] { self->send(line); });
      net::post(self->ioc_, [self] { self->on_stdin_end(); });
    }).detach();
    beast::flat_buffer buf;
    for (;;) {
      buf.clear();
      auto [ec, n] = co_await ws_.async_read(buf, tuple_awaitable);
      (void)n;
      if (ec == websocket::error::closed) {
        if (!o_.quiet) std::cerr << "closed (" << ws_.reason().code << ")\n";
        co_return closing_ ? exit_code::ok : exit_code::failed;
      }
      if (ec) {
        if (closing_) co_return exit_code::ok;
        std::cerr << "sgcat: " << ec.message() << "\n";
        co_return exit_code::failed;
      }
      std::cout << beast::buffers_to_string(buf.data()) << std::endl;
      if (stdin_done_) arm_quiet_close();
    }
  }

 private:
  void send(std::string line) {
    if (line.empty() || closing_) return;
    out_.push_back(std::move(line));
    if (out_.size() == 1) do_write();
  }
  void do_write() {
    ws_.text(true);
    ws_.async_write(net::buffer(out_.front()), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return;
      self->out_.pop_front();
      if (!self->out_.empty()) self->do_write();
      else if (self->close_pending_) self->send_close();
    });
  }
  // Input ended: the answers to what was sent may still be coming, so close once the server has
  // been quiet for a moment (a close now would make Beast discard them unread).
  void on_stdin_end() {
    stdin_done_ = true;
    arm_quiet_close();
  }
  void arm_quiet_close() {
    quiet_timer_.expires_after(std::chrono::milliseconds(500));
    quiet_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->send_close();
    });
  }

  void send_close() {
    if (!out_.empty()) {
      close_pending_ = true;  // let queued lines go out first
      return;
    }
    if (closing_) return;
    closing_ = true;
    ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](error_code) {});
  }

  net::io_context& ioc_;
  const cat_options& o_;
  websocket::stream<tcp::socket> ws_;
  net::steady_timer quiet_timer_;
  std::deque<std::string> out_;
  bool closing_ = false, close_pending_ = false, stdin_done_ = false;
};

// ---- SSE ----

net::awaitable<void> sse_one_shot(const cat_options& o, one_shot& st) {
  auto ex = co_await net::this_coro::executor;
  bool cancel_armed = false;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      if (attempt > o.retries) {
        st.note("giving up after " + std::to_string(o.retries) + " reconnects");
        co_return;
      }
      co_await sleep_ms(std::min<std::int64_t>(200LL << (attempt - 1), 5000));
    }
    auto t0 = std::chrono::steady_clock::now();
    beast::tcp_stream stream(ex);
    if (auto ec = co_await connect_tcp(stream.socket(), o.url)) {
      st.note("connect: " + ec.message());
      continue;
    }
    st.mark_connected(ms_since(t0));
    http::request<http::string_body> req;
    req.version(11);
    req.set(http::field::host, o.url.host + ":" + o.url.port);
    req.set(http::field::user_agent, "sgcat");
    req.set(http::field::accept, "text/event-stream");
    for (auto& [k, v] : o.headers) req.set(k, v);
    if (st.stream_id().empty()) {
      req.method(http::verb::post);
      req.target(o.url.path + "/v1/streams");
      req.set(http::field::content_type, "application/json");
      json::object body{{"projectId", o.project}, {"userInput", o.ask}};
      req.body() = json::serialize(body);
      st.mark_request();
    } else {
      if (attempt > 0) st.note("reconnected; resuming " + st.stream_id() + " after seq " + std::to_string(st.last_seq()));
      req.method(http::verb::get);
      req.target(o.url.path + "/v1/streams/" + st.stream_id() + "/events");
      req.set("Last-Event-ID", std::to_string(st.last_seq()));
    }
    req.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, req, tuple_awaitable);
    (void)wn;
    if (wec) {
      st.note("write: " + wec.message());
      continue;
    }
    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    auto [hec, hn] = co_await http::async_read_header(stream, buf, parser, tuple_awaitable);
    (void)hn;
    if (hec) {
      st.note("read: " + hec.message());
      continue;
    }
    if (parser.get().result() != http::status::ok) {
      // A refusal (4xx) will not change on retry: show the server's error and stop.
      http::response_parser<http::string_body> rest(std::move(parser));
      auto [bec, bn] = co_await http::async_read(stream, buf, rest, tuple_awaitable);
      (void)bec;
      (void)bn;
      st.note("HTTP " + std::to_string(rest.get().result_int()) + ": " + rest.get().body());
      if (rest.get().result_int() >= 500) continue;
      co_return;
    }
    if (o.cancel_after_ms >= 0 && !cancel_armed) {
      cancel_armed = true;
      // SSE cancels out of band: DELETE /v1/streams/{id} on a second connection.
      net::co_spawn(
          ex,
          [&o, &st]() -> net::awaitable<void> {
            co_await sleep_ms(o.cancel_after_ms);
            if (st.done() || st.stream_id().empty()) co_return;
            beast::tcp_stream s(co_await net::this_coro::executor);
            if (auto ec = co_await connect_tcp(s.socket(), o.url)) co_return;
            http::request<http::empty_body> del{http::verb::delete_, o.url.path + "/v1/streams/" + st.stream_id(), 11};
            del.set(http::field::host, o.url.host + ":" + o.url.port);
            for (auto& [k, v] : o.headers) del.set(k, v);
            co_await http::async_write(s, del, tuple_awaitable);
            beast::flat_buffer b;
            http::response<http::string_body> res;
            co_await http::async_read(s, b, res, tuple_awaitable);
          },
          net::detached);
    }
    provider::sse_parser sse([&st](const provider::sse_event& e) { st.on_event(e.data); });
    char tmp[16384];
    while (!parser.is_done() && !st.done()) {
      parser.get().body().data = tmp;
      parser.get().body().size = sizeof tmp;
      auto [rec, rn] = co_await http::async_read_some(stream, buf, parser, tuple_awaitable);
      (void)rn;
      if (rec && rec != http::error::need_buffer) {
        st.note("connection lost: " + rec.message());
        break;
      }
      sse.feed(std::string_view(tmp, sizeof tmp - parser.get().body().size));
    }
    if (st.done()) co_return;
    if (parser.is_done()) st.note("the event stream ended early");
  }
}

std::string usage_text() {
  return R"(sgcat: a terminal client for streamgate.

usage: sgcat URL                                 interactive: stdin lines are sent as frames, frames printed
       sgcat URL --ask TEXT [--project P]        one shot: stream the answer to stdout
       sgcat URL --resume STREAM:SEQ             one shot: resume a stream after SEQ
  URL  ws://host:port/ws (WebSocket) or http://host:port (SSE: POST /v1/streams)

options:
  --project P          projectId of the request (default "default")
  --ask TEXT           the userInput to stream an answer for
  --json               print every event as raw JSON, one per line
  --resume STREAM:SEQ  resume STREAM after event SEQ (0 = from the start)
  --cancel-after MS    cancel the stream MS milliseconds after the request
  --retries N          reconnect and resume up to N times on a dropped connection (default 5)
  -H, --header 'K: V'  an extra request header (e.g. Authorization)
  --quiet              no progress bar, notes or metrics line
A one-shot run prints progress as a bar on stderr when stderr is a terminal, and a metrics line at the
end. Exit status: 0 stream_complete, 1 error or connection failure, 2 usage, 3 cancelled.
)";
}

}  // namespace
}  // namespace sg::tools

int main(int argc, char** argv) {
  using namespace sg::tools;
  cat_options o;
  std::string url;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "-h" || a == "--help") {
        std::cout << usage_text();
        return 0;
      } else if (a == "--project") o.project = next();
      else if (a == "--ask") o.ask = next();
      else if (a == "--json") o.json = true;
      else if (a == "--quiet") o.quiet = true;
      else if (a == "--resume") {
        auto [id, seq] = parse_resume(next());
        o.resume = true;
        o.resume_id = id;
        o.resume_seq = seq;
      } else if (a == "--cancel-after") o.cancel_after_ms = std::stoll(next());
      else if (a == "--retries") o.retries = std::stoi(next());
      else if (a == "-H" || a == "--header") {
        auto h = next();
        auto colon = h.find(':');
        if (colon == std::string::npos) throw std::invalid_argument("--header: expected 'Name: value'");
        auto v = h.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        o.headers.emplace_back(h.substr(0, colon), v);
      } else if (a.rfind("-", 0) == 0) throw std::invalid_argument("unknown option " + a + " (see --help)");
      else if (url.empty()) url = a;
      else throw std::invalid_argument("unexpected argument " + a);
    }
    if (url.empty()) throw std::invalid_argument("a URL is required (see --help)");
    o.url = parse_cat_url(url);
    if (o.url.sse && o.ask.empty() && !o.resume)
      throw std::invalid_argument("interactive mode needs a ws:// URL; with http:// use --ask or --resume");
  } catch (const std::exception& e) {
    std::cerr << "sgcat: " << e.what() << "\n";
    return exit_code::usage;
  }

  sg::net::io_context ioc;
  int code = exit_code::failed;
  if (o.ask.empty() && !o.resume) {
    auto s = std::make_shared<interactive>(ioc, o);
    sg::net::co_spawn(ioc, s->run(), [&](std::exception_ptr, int c) {
      code = c;
      ioc.stop();  // the stdin thread may still be blocked reading: do not wait for it
    });
    ioc.run();
    std::cout.flush();
    std::_Exit(code);
  }
  one_shot st(o);
  sg::net::co_spawn(ioc, o.url.sse ? sse_one_shot(o, st) : ws_one_shot(o, st), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        std::cerr << "sgcat: " << x.what() << "\n";
      }
    }
    ioc.stop();
  });
  ioc.run();
  return st.done() ? st.code() : exit_code::failed;
}
