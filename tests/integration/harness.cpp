// The harness: a real server process, and WebSocket, HTTP and SSE clients with deadlines.
#include "integration/harness.hpp"

#include "core/asio.hpp"

#include "store/postgres_database.hpp"
#include "store/sqlite_database.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <stdexcept>

namespace sg::test {

std::string store_name(store_kind k) { return k == store_kind::sqlite ? "sqlite" : "postgres"; }

test_store::test_store(store_kind k) : kind_(k) {
  if (k == store_kind::postgres) pg_ = std::make_unique<postgres_server>();
}

std::vector<std::string> test_store::args(std::vector<std::string> more) const {
  std::vector<std::string> out;
  if (pg_) out = {"--database", pg_->url()};
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

std::unique_ptr<store::database> test_store::open(const std::string& data_dir) const {
  if (pg_) return std::make_unique<store::postgres_database>(pg_->url());
  return std::make_unique<store::sqlite_database>(data_dir + "/streamgate.db");
}

server_process::server_process(std::vector<std::string> args, std::string data_dir) {
  if (data_dir.empty()) {
    char tmpl[] = "/tmp/streamgate-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    data_dir_ = tmpl;
    own_dir_ = true;
  } else {
    data_dir_ = data_dir;
  }
  std::vector<std::string> argv = {STREAMGATE_BIN, "--listen", "127.0.0.1:0", "--data-dir", data_dir_,
                                   "--web-root", "", "--threads", "2", "--demo-ttft-ms", "20",
                                   "--demo-tokens-per-second", "500"};
  argv.insert(argv.end(), args.begin(), args.end());
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(fds[1], STDERR_FILENO);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  close(fds[1]);
  err_fd_ = fds[0];
  reader_ = std::thread([this] {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(err_fd_, buf, sizeof buf);
      if (n <= 0) break;
      std::lock_guard lock(mu_);
      log_.append(buf, static_cast<std::size_t>(n));
      cv_.notify_all();
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    std::lock_guard lock(mu_);
    exited_ = true;
    status_ = status;
    cv_.notify_all();
  });
  std::unique_lock lock(mu_);
  static const std::regex port_re(R"re("msg":"listening".*"port":(\d+))re");
  std::smatch m;
  if (!cv_.wait_for(lock, 20s, [&] { return exited_ || std::regex_search(log_, m, port_re); }) || exited_) {
    // The reader thread ends with the process: kill it if it still runs, and join before throwing.
    std::string log = log_;
    if (!exited_) ::kill(pid_, SIGKILL);
    lock.unlock();
    reader_.join();
    ::close(err_fd_);
    if (own_dir_) {
      std::error_code ec;
      std::filesystem::remove_all(data_dir_, ec);
    }
    throw std::runtime_error("streamgate did not start: " + log);
  }
  port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
  static const std::regex key_re(R"re("adminKey":"([^"]+)")re");
  std::smatch k;
  if (std::regex_search(log_, k, key_re)) admin_key_ = k[1].str();
}

server_process::~server_process() {
  {
    std::unique_lock lock(mu_);
    if (!exited_) {
      ::kill(pid_, SIGKILL);
    }
  }
  if (reader_.joinable()) reader_.join();
  if (err_fd_ >= 0) close(err_fd_);
  if (own_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
  }
}

void server_process::signal(int sig) { ::kill(pid_, sig); }

std::optional<int> server_process::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return exited_; })) return std::nullopt;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

std::string server_process::log() const {
  std::lock_guard lock(mu_);
  return log_;
}

bool server_process::wait_for_log(const std::string& needle, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return log_.find(needle) != std::string::npos; });
}

namespace {
// Runs the io_context until `done` or the deadline; on timeout cancels the socket and throws.
template <class Socket>
void run_until(net::io_context& ioc, Socket& sock, bool& done, std::chrono::milliseconds timeout, const char* what) {
  ioc.restart();
  ioc.run_for(timeout);
  if (!done) {
    error_code ignored;
    sock.cancel(ignored);
    ioc.restart();
    ioc.run();
    throw std::runtime_error(std::string("timeout: ") + what);
  }
}
}  // namespace

struct ws_client::io {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buf;
};

ws_client::ws_client(std::uint16_t port, std::string target, std::map<std::string, std::string> headers, int rcvbuf)
    : io_(std::make_unique<io>()) {
  auto& sock = beast::get_lowest_layer(io_->ws).socket();
  sock.open(tcp::v4());
  if (rcvbuf > 0) sock.set_option(net::socket_base::receive_buffer_size(rcvbuf));
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  // Without it a frame sent while an earlier one is unacknowledged waits for the server's delayed ACK (~40 ms).
  sock.set_option(tcp::no_delay(true));
  io_->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    req.set(http::field::user_agent, "streamgate-tests");
    for (auto& [k, v] : headers) req.set(k, v);
  }));
  io_->ws.read_message_max(64 * 1024 * 1024);
  bool done = false;
  error_code ec;
  io_->ws.async_handshake("127.0.0.1:" + std::to_string(port), target, [&](error_code e) {
    ec = e;
    done = true;
  });
  run_until(io_->ioc, sock, done, 5s, "handshake");
  if (ec) throw std::runtime_error("handshake: " + ec.message());
  auto hello = read();
  if (hello["type"] != "connected") throw std::runtime_error("expected connected, got " + boost::json::serialize(hello));
  connection_id_ = std::string(hello["connectionId"].as_string());
}

ws_client::~ws_client() {
  error_code ec;
  beast::get_lowest_layer(io_->ws).socket().close(ec);
}

void ws_client::send(const std::string& text) {
  io_->ws.text(true);
  bool done = false;
  error_code ec;
  io_->ws.async_write(net::buffer(text), [&](error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  run_until(io_->ioc, beast::get_lowest_layer(io_->ws).socket(), done, 5s, "write");
  if (ec) throw std::runtime_error("write: " + ec.message());
}

void ws_client::send_binary(const std::string& data) {
  io_->ws.binary(true);
  bool done = false;
  error_code ec;
  io_->ws.async_write(net::buffer(data), [&](error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  run_until(io_->ioc, beast::get_lowest_layer(io_->ws).socket(), done, 5s, "write");
  io_->ws.text(true);
  if (ec) throw std::runtime_error("write: " + ec.message());
}

std::optional<std::string> ws_client::read_text(std::chrono::milliseconds timeout) {
  bool done = false;
  error_code ec;
  io_->buf.clear();
  io_->ws.async_read(io_->buf, [&](error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  run_until(io_->ioc, beast::get_lowest_layer(io_->ws).socket(), done, timeout, "read");
  if (ec == websocket::error::closed) {
    close_code_ = io_->ws.reason().code;
    return std::nullopt;
  }
  if (ec == net::error::eof || ec == net::error::connection_reset) {
    close_code_ = 1006;  // closed without a close frame
    return std::nullopt;
  }
  if (ec) throw std::runtime_error("read: " + ec.message());
  return beast::buffers_to_string(io_->buf.data());
}

boost::json::object ws_client::read(std::chrono::milliseconds timeout) {
  auto t = read_text(timeout);
  if (!t) throw std::runtime_error("connection closed with code " + std::to_string(close_code_));
  return boost::json::parse(*t).as_object();
}

std::vector<boost::json::object> ws_client::read_until(const std::string& type, std::chrono::milliseconds timeout,
                                                       const std::string& stream_id) {
  std::vector<boost::json::object> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("no " + type + " before the deadline");
    out.push_back(read(left));
    auto& e = out.back();
    auto is = [&](const char* k, const std::string& v) { return e.contains(k) && e[k].is_string() && e[k].as_string() == v; };
    if (is("type", type) && (stream_id.empty() || is("streamId", stream_id))) return out;
  }
}

void ws_client::close() {
  bool done = false;
  io_->ws.async_close(websocket::close_code::normal, [&](error_code) { done = true; });
  run_until(io_->ioc, beast::get_lowest_layer(io_->ws).socket(), done, 5s, "close");
}

void ws_client::drop() {
  error_code ec;
  beast::get_lowest_layer(io_->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(io_->ws).socket().close(ec);
}

http_result http_request(std::uint16_t port, http::verb method, const std::string& target, const std::string& body,
                         std::map<std::string, std::string> headers, std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::content_type, "application/json");
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  http::response<http::string_body> res;
  beast::flat_buffer buf;
  bool done = false;
  error_code ec;
  http::async_write(stream, req, [&](error_code e, std::size_t) {
    if (e) {
      ec = e;
      done = true;
      return;
    }
    http::async_read(stream, buf, res, [&](error_code e2, std::size_t) {
      ec = e2;
      done = true;
    });
  });
  run_until(ioc, stream.socket(), done, timeout, "http");
  if (ec) throw std::runtime_error("http: " + ec.message());
  http_result out;
  out.status = res.result_int();
  for (auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
  out.body = res.body();
  return out;
}

struct sse_client::io {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
};

sse_client::~sse_client() = default;

sse_client::sse_client(std::uint16_t port, http::verb method, const std::string& target, const std::string& body,
                       std::map<std::string, std::string> headers, int rcvbuf)
    : io_(std::make_unique<io>()) {
  auto& sock = io_->stream.socket();
  sock.open(tcp::v4());
  if (rcvbuf > 0) sock.set_option(net::socket_base::receive_buffer_size(rcvbuf));
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::accept, "text/event-stream");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  bool done = false;
  error_code ec;
  http::async_write(io_->stream, req, [&](error_code e, std::size_t) {
    if (e) {
      ec = e;
      done = true;
      return;
    }
    http::async_read_header(io_->stream, io_->buf, io_->parser, [&](error_code e2, std::size_t) {
      ec = e2;
      done = true;
    });
  });
  run_until(io_->ioc, io_->stream.socket(), done, 5s, "sse header");
  if (ec) throw std::runtime_error("sse: " + ec.message());
  status_ = io_->parser.get().result_int();
  for (auto& f : io_->parser.get()) headers_[std::string(f.name_string())] = std::string(f.value());
  if (io_->parser.is_done()) done_ = true;
}

bool sse_client::fill(std::chrono::milliseconds timeout) {
  if (done_) return false;
  char tmp[16384];
  io_->parser.get().body().data = tmp;
  io_->parser.get().body().size = sizeof tmp;
  bool done = false;
  error_code ec;
  http::async_read(io_->stream, io_->buf, io_->parser, [&](error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  run_until(io_->ioc, io_->stream.socket(), done, timeout, "sse read");
  // What arrived before an error (a body cut short) is kept: the events in it were sent whole.
  auto got = sizeof tmp - io_->parser.get().body().size;
  pending_.append(tmp, got);
  if (ec && ec != http::error::need_buffer) {
    done_ = true;
    return got > 0;
  }
  if (io_->parser.is_done()) done_ = true;
  return true;
}

std::optional<sse_event> sse_client::next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto end = pending_.find("\n\n");
    if (end != std::string::npos) {
      std::string block = pending_.substr(0, end);
      pending_.erase(0, end + 2);
      sse_event ev;
      bool any = false;
      std::size_t pos = 0;
      while (pos <= block.size()) {
        auto nl = block.find('\n', pos);
        if (nl == std::string::npos) nl = block.size();
        std::string line = block.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.empty()) continue;
        if (line[0] == ':') {
          ++comments_;
          continue;
        }
        auto colon = line.find(':');
        std::string field = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        if (field == "id") ev.id = value;
        else if (field == "event") ev.type = value;
        else if (field == "data") ev.data += (ev.data.empty() ? "" : "\n") + value;
        any = true;
      }
      if (any) return ev;
      continue;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("sse: no event before the deadline");
    if (!fill(left)) return std::nullopt;
  }
}

void sse_client::drop() {
  error_code ec;
  io_->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  io_->stream.socket().close(ec);
}

upgrade_answer raw_upgrade(std::uint16_t port, const std::string& target, const std::map<std::string, std::string>& headers) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  timeval tv{5, 0};  // bounds every blocking read below
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(http::field::sec_websocket_version, "13");
  for (auto& [k, v] : headers) req.set(k, v);
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  upgrade_answer out{res.result_int(), res.body(), false};
  // An upgraded socket stays open, and its first frame may already be in `buf`: Asio's blocking
  // read does not heed SO_RCVTIMEO, so only a refusal is waited on for its close.
  if (out.status == 101) return out;
  char c;
  error_code ec;
  s.read_some(net::buffer(&c, 1), ec);
  out.closed_after = ec == net::error::eof || ec == net::error::connection_reset;
  return out;
}

double metric_value(std::uint16_t port, const std::string& series) {
  auto m = http_request(port, http::verb::get, "/metrics").body;
  auto pos = m.find("\n" + series + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(m.substr(pos + series.size() + 2));
}

bool wait_metric(std::uint16_t port, const std::string& series, double value, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (metric_value(port, series) < value) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);  // between polls of the condition, not in place of one
  }
  return true;
}

boost::json::object stream_request(const std::string& input, const std::string& project,
                                   const std::string& request_id) {
  boost::json::object o{{"action", "stream"}, {"projectId", project}, {"userInput", input}};
  if (!request_id.empty()) o["requestId"] = request_id;
  return o;
}

chunk_widths widths_of(const std::vector<boost::json::object>& events) {
  chunk_widths w;
  for (auto& e : events) {
    if (e.at("type") != "stream_chunk") continue;
    auto seq = e.at("seq").to_number<std::uint64_t>();
    auto first = e.contains("firstSeq") ? e.at("firstSeq").to_number<std::uint64_t>() : seq;
    auto deltas = seq - first + 1;
    if (deltas > w.widest) {
      w.widest = deltas;
      w.single_after = 0;
    } else if (deltas == 1) {
      ++w.single_after;
    }
  }
  return w;
}

}  // namespace sg::test
