// The clients: a minimal WebSocket and SSE client each, reading streamgate's events without a JSON parse.
#include "worker.hpp"

#include "wire.hpp"

#include "core/clock.hpp"
#include "provider/parse/sse_parser.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace sg::tools {

void bench_stats::merge(const bench_stats& o) {
  connect_us.merge(o.connect_us);
  ttft_us.merge(o.ttft_us);
  lateness_us.merge(o.lateness_us);
  lateness_slow_us.merge(o.lateness_slow_us);
  resume_us.merge(o.resume_us);
  connect_errors += o.connect_errors;
  handshake_errors += o.handshake_errors;
  closed_by_server += o.closed_by_server;
  reset += o.reset;
  error_events += o.error_events;
  seq_gaps += o.seq_gaps;
  bad_resume += o.bad_resume;
  streams_started += o.streams_started;
  streams_completed += o.streams_completed;
  streams_cancelled += o.streams_cancelled;
  chunk_frames += o.chunk_frames;
  chunk_tokens += o.chunk_tokens;
  chunk_frames_slow += o.chunk_frames_slow;
  bytes_in += o.bytes_in;
  for (auto& [k, v] : o.error_codes) error_codes[k] += v;
}

namespace {
constexpr std::size_t read_size = 8192;
}

// One connection. Lives for the whole run; a drop bumps gen_ so that the old socket's
// late completions are recognised and ignored.
class client {
 public:
  client(worker& w, unsigned id, bool slow)
      : w_(w), id_(id), slow_(slow), sock_(w.ioc_), sse_([this](const provider::sse_event& e) { on_event(e.data); }) {
    if (slow_) {
      // Slow readers drain this many bytes per second: a tenth (by default) of a stream's pace,
      // taking ~150 bytes per chunk frame.
      slow_bps_ = std::max(1.0, w.opt_.tps * 150.0 / w.opt_.slow_factor);
      timer_ = std::make_unique<net::steady_timer>(w.ioc_);
    }
  }

  void connect() {
    ++gen_;
    reset_connection_state();
    state_ = state::connecting;
    connect_start_us_ = core::now_us();
    error_code ec;
    sock_.open(tcp::v4(), ec);
    if (ec) return fail_connect(ec);
    // Bind first, port chosen at connect time: each source address has its own ephemeral range.
    int one = 1;
    ::setsockopt(sock_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (slow_) sock_.set_option(net::socket_base::receive_buffer_size(4096), ec);
    auto src = net::ip::address_v4((127u << 24) | (w_.opt_.source_base + id_ % w_.opt_.sources));
    sock_.bind(tcp::endpoint(src, 0), ec);
    if (ec) return fail_connect(ec);
    tcp::endpoint dst(net::ip::make_address(w_.opt_.host), w_.opt_.port);
    sock_.async_connect(dst, [this, g = gen_](error_code e) {
      if (g != gen_) return;
      on_connect(e);
    });
  }

  /// Starts a stream (or resumes the one it had, if `resume_` says so).
  void start_stream() {
    if (state_ != state::open) return;
    ++w_.stats_.streams_started;
    stream_id_.clear();
    last_seq_ = 0;
    first_chunk_seen_ = false;
    in_stream_ = true;
    request_us_ = core::now_us();
    if (w_.opt_.transport == bench_transport::ws) {
      send_ws(stream_body());
    } else {
      auto body = w_.opt_.openai ? openai_body() : stream_body();
      std::string req = "POST " + std::string(w_.opt_.openai ? w_.opt_.path : "/v1/streams") +
                        " HTTP/1.1\r\nHost: " + host_header() +
                        "\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\nUser-Agent: sgbench\r\n\r\n" + body;
      send_raw(std::move(req));
    }
  }

  /// Drops the connection abruptly and reconnects; the stream it had is resumed when open.
  void drop_and_reconnect() {
    if (state_ != state::open) return;
    want_resume_ = in_stream_ && !stream_id_.empty() && w_.opt_.resume;
    if (want_resume_) w_.to_resume_.fetch_add(1, std::memory_order_relaxed);
    w_.open_.fetch_sub(1, std::memory_order_relaxed);
    abort_socket();
    drop_us_ = core::now_us();
    w_.connect_queue_.push_back(this);
  }

  /// Queues the client's first stream if it is open and idle.
  void queue_if_open() {
    if (state_ == state::open && !in_stream_) w_.stream_queue_.push_back(this);
  }

  bool is_open() const { return state_ == state::open; }

  void close() {
    if (state_ == state::open) w_.open_.fetch_sub(1, std::memory_order_relaxed);
    ++gen_;
    abort_socket();
    state_ = state::closed;
  }

 private:
  enum class state { idle, connecting, handshaking, open, closed };

  std::string stream_body() {
    ++streams_sent_;
    std::string s = "{\"action\":\"stream\",\"projectId\":";
    append_str(s, w_.opt_.project);
    s += ",\"userInput\":";
    append_str(s, w_.opt_.input);
    // Unique per stream: the server answers a repeated requestId with the stream it already started.
    s += ",\"requestId\":\"b" + std::to_string(id_) + "-" + std::to_string(streams_sent_) + "\"}";
    return s;
  }
  std::string openai_body() const {
    std::string s = "{\"model\":\"bench\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":";
    append_str(s, w_.opt_.input);
    s += "}]}";
    return s;
  }

  // An OpenAI chat.completion.chunk (or [DONE], or an error object) from a proxied fake upstream.
  void on_openai(std::string_view data) {
    if (data == "[DONE]") {
      ++w_.stats_.streams_completed;
      errors_in_row_ = 0;
      end_stream();
      return;
    }
    if (data.find("\"error\":") != std::string_view::npos && data.find("\"choices\"") == std::string_view::npos) {
      ++w_.stats_.error_events;
      ++w_.stats_.error_codes["openai_error"];
      return;
    }
    auto content = json_str(data, "content");
    auto bar = content.rfind('|');
    if (bar == std::string_view::npos) return;  // the role-only first chunk, or the finish chunk
    if (!first_chunk_seen_) {
      first_chunk_seen_ = true;
      if (w_.ctl_.recording.load(std::memory_order_relaxed) && request_us_)
        w_.stats_.ttft_us.record(now_us_ - request_us_);
    }
    if (!w_.ctl_.recording.load(std::memory_order_relaxed)) return;
    ++(slow_ ? w_.stats_.chunk_frames_slow : w_.stats_.chunk_frames);
    std::size_t stamps = 0;
    for (char c : content) stamps += c == '|';
    w_.stats_.chunk_tokens += stamps;  // a proxy that merges deltas puts several stamps in one chunk
    // The stamp is CLOCK_MONOTONIC (system-wide, as steady_clock is here): no wall-clock skew between
    // the upstream's runtime and this process.
    std::int64_t sent = 0;
    std::from_chars(content.data() + bar + 1, content.data() + content.size(), sent);
    if (sent > 0) (slow_ ? w_.stats_.lateness_slow_us : w_.stats_.lateness_us).record(mono_us_ - sent);
  }

  static void append_str(std::string& s, const std::string& v) {
    s += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') s += '\\';
      if (static_cast<unsigned char>(c) < 0x20) continue;
      s += c;
    }
    s += '"';
  }
  std::string host_header() const { return w_.opt_.host + ":" + std::to_string(w_.opt_.port); }

  void reset_connection_state() {
    pending_.clear();
    message_.clear();
    out_.clear();
    writing_ = false;
    reading_ = false;
    handshake_done_ = false;
    sse_.finish();
    http_.reset();
  }

  void abort_socket() {
    error_code ec;
    if (sock_.is_open()) {
      // RST, not FIN: a dropped network, and no TIME_WAIT left behind on either side.
      sock_.set_option(net::socket_base::linger(true, 0), ec);
      sock_.close(ec);
    }
    ++gen_;
    state_ = state::closed;
  }

  void fail_connect(error_code) {
    ++w_.stats_.connect_errors;
    abort_socket();
    w_.connect_done(false);
  }

  void on_connect(error_code ec) {
    if (ec) return fail_connect(ec);
    error_code ignored;
    sock_.set_option(tcp::no_delay(true), ignored);
    if (w_.opt_.transport == bench_transport::sse) {
      // SSE has no handshake of its own: the TCP connection is the session.
      become_open();
    } else {
      state_ = state::handshaking;
      send_raw("GET " + w_.opt_.path + " HTTP/1.1\r\nHost: " + host_header() +
               "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\nUser-Agent: sgbench\r\n\r\n");
    }
    do_read();
  }

  void become_open() {
    state_ = state::open;
    auto now = core::now_us();
    w_.stats_.connect_us.record(now - connect_start_us_);
    w_.open_.fetch_add(1, std::memory_order_relaxed);
    w_.connect_done(true);
    if (want_resume_) {
      want_resume_ = false;
      resuming_ = true;
      resume_from_ = last_seq_;
      if (w_.opt_.transport == bench_transport::ws) {
        std::string s = "{\"action\":\"resume\",\"streamId\":\"" + stream_id_ +
                        "\",\"lastSeq\":" + std::to_string(last_seq_) + "}";
        send_ws(s);
      } else {
        send_raw("GET /v1/streams/" + stream_id_ + "/events HTTP/1.1\r\nHost: " + host_header() +
                 "\r\nAccept: text/event-stream\r\nLast-Event-ID: " + std::to_string(last_seq_) +
                 "\r\nUser-Agent: sgbench\r\n\r\n");
      }
    } else {
      in_stream_ = false;
      if (w_.streams_begun_) w_.stream_queue_.push_back(this);
    }
  }

  void send_ws(std::string_view text, std::uint8_t opcode = 1) {
    mask_ = mask_ * 1664525u + 1013904223u;
    send_raw(make_ws_frame(opcode, text, mask_));
  }

  void send_raw(std::string bytes) {
    out_.push_back(std::move(bytes));
    if (writing_) return;
    do_write();
  }

  void do_write() {
    writing_ = true;
    net::async_write(sock_, net::buffer(out_.front()), [this, g = gen_](error_code ec, std::size_t) {
      if (g != gen_) return;
      if (ec) return on_lost(ec);
      out_.pop_front();
      if (out_.empty()) writing_ = false;
      else do_write();
    });
  }

  void do_read() {
    if (reading_) return;
    std::size_t want = read_size;
    if (slow_ && state_ == state::open) {
      // Token bucket: read only what the slow reader's rate has earned since its last read.
      auto now = core::now_us();
      budget_ = std::min(budget_ + static_cast<double>(now - budget_us_) * slow_bps_ / 1e6, 4096.0);
      budget_us_ = now;
      if (budget_ < 256) {
        auto wait = std::chrono::microseconds(static_cast<std::int64_t>((256 - budget_) * 1e6 / slow_bps_) + 1);
        timer_->expires_after(wait);
        reading_ = true;
        timer_->async_wait([this, g = gen_](error_code ec) {
          if (g != gen_ || ec) return;
          reading_ = false;
          do_read();
        });
        return;
      }
      want = std::min(want, static_cast<std::size_t>(budget_));
    }
    reading_ = true;
    if (!buf_) buf_.reset(new char[read_size]);
    sock_.async_read_some(net::buffer(buf_.get(), want), [this, g = gen_](error_code ec, std::size_t n) {
      if (g != gen_) return;
      reading_ = false;
      if (ec) return on_lost(ec);
      if (slow_) budget_ -= static_cast<double>(n);
      w_.stats_.bytes_in += n;
      now_us_ = core::now_us();
      if (w_.opt_.openai)
        mono_us_ = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
      if (!on_bytes(buf_.get(), n)) return;
      do_read();
    });
  }

  // False when the connection was closed while handling the bytes.
  bool on_bytes(char* p, std::size_t n) {
    if (w_.opt_.transport == bench_transport::sse) {
      if (!http_.feed(std::string_view(p, n))) {
        ++w_.stats_.handshake_errors;
        return lose();
      }
      return state_ != state::closed;
    }
    if (!handshake_done_) {
      pending_.append(p, n);
      auto end = pending_.find("\r\n\r\n");
      if (end == std::string::npos) return true;
      if (pending_.compare(0, 12, "HTTP/1.1 101") != 0) {
        ++w_.stats_.handshake_errors;
        w_.connect_done(false);
        abort_socket();
        return false;
      }
      handshake_done_ = true;
      pending_.erase(0, end + 4);
      std::string rest;
      rest.swap(pending_);
      return rest.empty() ? true : frames(rest.data(), rest.size());
    }
    if (pending_.empty()) return frames(p, n);
    pending_.append(p, n);
    std::string all;
    all.swap(pending_);
    return frames(all.data(), all.size());
  }

  bool frames(char* p, std::size_t n) {
    std::size_t off = 0;
    while (off < n) {
      auto f = parse_ws_frame(p + off, n - off);
      if (!f) break;
      off += f->consumed;
      switch (f->opcode) {
        case 1:
        case 2:
          if (f->fin) on_event(f->payload);
          else message_.assign(f->payload);
          break;
        case 0:
          message_.append(f->payload);
          if (f->fin) {
            std::string m;
            m.swap(message_);
            on_event(m);
          }
          break;
        case 8:
          ++w_.stats_.closed_by_server;
          return lose();
        case 9:
          send_ws(f->payload, 10);
          break;
        default:
          break;
      }
      if (state_ == state::closed) return false;
    }
    if (off < n) pending_.assign(p + off, n - off);
    return true;
  }

  void on_event(std::string_view json) {
    if (w_.opt_.openai) return on_openai(json);
    auto type = json_str(json, "type");
    if (type == "connected") {
      if (state_ == state::handshaking) become_open();
      return;
    }
    if (type == "pong" || type.empty()) return;
    bool rec = w_.ctl_.recording.load(std::memory_order_relaxed);
    auto seq = static_cast<std::uint64_t>(json_int(json, "seq"));
    if (seq != 0) {
      auto first = static_cast<std::uint64_t>(json_int(json, "firstSeq", static_cast<std::int64_t>(seq)));
      if (resuming_) {
        resuming_ = false;
        w_.stats_.resume_us.record(now_us_ - drop_us_);
        if (first != resume_from_ + 1) ++w_.stats_.bad_resume;
        w_.resumed_.fetch_add(1, std::memory_order_relaxed);
      } else if (last_seq_ != 0 && first != last_seq_ + 1) {
        ++w_.stats_.seq_gaps;
      }
      last_seq_ = seq;
    }
    if (type == "stream_chunk") {
      if (!first_chunk_seen_) {
        first_chunk_seen_ = true;
        if (rec && request_us_) w_.stats_.ttft_us.record(now_us_ - request_us_);
      }
      if (!rec) return;
      auto first = static_cast<std::uint64_t>(json_int(json, "firstSeq", static_cast<std::int64_t>(seq)));
      if (slow_) ++w_.stats_.chunk_frames_slow;
      else ++w_.stats_.chunk_frames;
      w_.stats_.chunk_tokens += seq >= first ? seq - first + 1 : 1;
      if (w_.ctl_.lateness.load(std::memory_order_relaxed)) {
        if (auto due = json_int(json, "dueUs"); due > 0)
          (slow_ ? w_.stats_.lateness_slow_us : w_.stats_.lateness_us).record(now_us_ - due);
      }
    } else if (type == "stream_start") {
      stream_id_ = std::string(json_str(json, "streamId"));
    } else if (type == "stream_complete") {
      ++w_.stats_.streams_completed;
      errors_in_row_ = 0;
      end_stream();
    } else if (type == "stream_cancelled") {
      ++w_.stats_.streams_cancelled;
      end_stream();
    } else if (type == "error") {
      ++w_.stats_.error_events;
      ++w_.stats_.error_codes[std::string(json_str(json, "code"))];
      if (resuming_) {
        resuming_ = false;
        ++w_.stats_.bad_resume;
        w_.resumed_.fetch_add(1, std::memory_order_relaxed);
      }
      // An error that answers our request or ends our stream: the stream is over.
      ++errors_in_row_;
      if (in_stream_) end_stream();
    }
  }

  void end_stream() {
    in_stream_ = false;
    request_us_ = 0;
    // The next stream starts at once, so the load stays at one stream per connection; a client
    // whose starts keep being refused stops rather than spin.
    if (w_.ctl_.restart.load(std::memory_order_relaxed) && errors_in_row_ < 3) {
      if (w_.opt_.transport == bench_transport::ws) start_stream();
      else restart_after_response_ = true;  // SSE: the next POST goes out when this response ends
    }
  }

  // http_response_reader's handler: SSE responses on a keep-alive connection.
 public:
  void on_status(int status) {
    status_ = status;
    if (status != 200) {
      ++w_.stats_.error_events;
      ++w_.stats_.error_codes["http_" + std::to_string(status)];
    }
  }
  void on_body(std::string_view b) {
    if (status_ == 200) sse_.feed(b);
  }
  void on_end() {
    sse_.finish();
    if (status_ != 200 && in_stream_) {
      ++errors_in_row_;
      if (resuming_) {
        resuming_ = false;
        ++w_.stats_.bad_resume;
        w_.resumed_.fetch_add(1, std::memory_order_relaxed);
      }
      end_stream();
    }
    if (restart_after_response_) {
      restart_after_response_ = false;
      start_stream();
    }
  }

 private:
  bool lose() {
    on_lost({});
    return false;
  }

  void on_lost(error_code ec) {
    if (state_ == state::closed) return;
    bool was_open = state_ == state::open;
    if (ec && ec != net::error::operation_aborted) ++w_.stats_.reset;
    abort_socket();
    if (was_open) w_.open_.fetch_sub(1, std::memory_order_relaxed);
    else w_.connect_done(false);
    if (resuming_) {
      resuming_ = false;
      ++w_.stats_.bad_resume;
      w_.resumed_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  worker& w_;
  unsigned id_;
  bool slow_;
  tcp::socket sock_;
  std::unique_ptr<net::steady_timer> timer_;
  std::unique_ptr<char[]> buf_;
  std::string pending_, message_;
  std::deque<std::string> out_;
  provider::sse_parser sse_;
  http_response_reader<client> http_{*this};
  state state_ = state::idle;
  unsigned gen_ = 0;
  std::uint32_t mask_ = 0x9e3779b9u;
  bool writing_ = false, reading_ = false, handshake_done_ = false;
  bool in_stream_ = false, first_chunk_seen_ = false, resuming_ = false, want_resume_ = false;
  bool restart_after_response_ = false;
  int status_ = 0;
  int errors_in_row_ = 0;
  std::uint64_t streams_sent_ = 0;
  std::string stream_id_;
  std::uint64_t last_seq_ = 0, resume_from_ = 0;
  std::int64_t connect_start_us_ = 0, request_us_ = 0, drop_us_ = 0, now_us_ = 0;
  std::int64_t mono_us_ = 0;  // --openai: CLOCK_MONOTONIC at the read, against the upstream's stamps
  double slow_bps_ = 0, budget_ = 0;
  std::int64_t budget_us_ = 0;
};

worker::worker(const bench_options& opt, bench_control& ctl, unsigned index, unsigned count)
    : opt_(opt), ctl_(ctl), index_(index), tick_timer_(ioc_) {
  // Client i of the run lives on worker i % count, so source addresses and slow clients spread evenly.
  unsigned slow_every = 0;
  if (opt.mode == bench_mode::slow && opt.slow_share > 0)
    slow_every = static_cast<unsigned>(std::lround(1.0 / opt.slow_share));
  for (unsigned i = index; i < opt.connections; i += count) {
    bool slow = slow_every && (i % slow_every == slow_every - 1);
    clients_.push_back(std::make_unique<client>(*this, i, slow));
  }
  max_pending_ = std::max(1u, opt.max_pending / count);
  connect_rate_ = opt.connect_rate / count;
  stream_rate_ = opt.stream_rate / count;
}

worker::~worker() { join(); }

void worker::start() {
  thread_ = std::thread([this] {
    auto guard = net::make_work_guard(ioc_);
    ioc_.run();
  });
}

void worker::join() {
  if (!thread_.joinable()) return;
  ioc_.stop();
  thread_.join();
}

void worker::begin_connect() {
  net::post(ioc_, [this] {
    settled_.store(0);
    for (auto& c : clients_) connect_queue_.push_back(c.get());
    connect_epoch_us_ = core::now_us();
    connects_issued_ = 0;
    arm_tick();
    tick();
  });
}

void worker::begin_streams() {
  net::post(ioc_, [this] {
    streams_begun_ = true;
    // Only clients that are open can start; the others failed to connect and are counted.
    for (auto& c : clients_) c->queue_if_open();
    stream_epoch_us_ = core::now_us();
    streams_issued_ = 0;
    arm_tick();
    tick();
  });
}

void worker::drop_and_reconnect() {
  // Until the posted work has counted the dropped clients, "all settled" must not look true.
  dropped_.store(UINT64_MAX / 4);
  settled_.store(0);
  resumed_.store(0);
  to_resume_.store(0);
  net::post(ioc_, [this] {
    stream_queue_.clear();
    connect_queue_.clear();
    std::uint64_t n = 0;
    for (auto& c : clients_) {
      if (!c->is_open()) continue;
      c->drop_and_reconnect();
      ++n;
    }
    dropped_.store(n);
    connect_epoch_us_ = core::now_us();
    connects_issued_ = 0;
    arm_tick();
    tick();
  });
}

void worker::close_all() {
  net::post(ioc_, [this] {
    ctl_.restart.store(false);
    connect_queue_.clear();
    stream_queue_.clear();
    for (auto& c : clients_) c->close();
    tick_timer_.cancel();
  });
}

void worker::connect_done(bool ok) {
  --pending_connects_;
  settled_.fetch_add(1, std::memory_order_relaxed);
  if (ok) {
    auto now = core::now_us();
    last_open_us_.store(now, std::memory_order_relaxed);
  }
  // A finished handshake frees a slot: start the next connection now rather than at the next
  // tick (unless this is tick() itself, failing a connect synchronously: its loop goes on).
  if (!connect_queue_.empty() && !in_tick_) tick();
}

void worker::arm_tick() {
  if (ticking_) return;
  ticking_ = true;
  tick_timer_.expires_after(std::chrono::milliseconds(1));
  tick_timer_.async_wait([this](error_code ec) {
    ticking_ = false;
    if (ec) return;
    tick();
    if (!connect_queue_.empty() || !stream_queue_.empty()) arm_tick();
  });
}

void worker::tick() {
  in_tick_ = true;
  auto now = core::now_us();
  // Connections: as many as the rate has earned since the phase began, within max_pending.
  while (!connect_queue_.empty() && pending_connects_ < max_pending_) {
    if (connect_rate_ > 0 &&
        static_cast<double>(connects_issued_) >= static_cast<double>(now - connect_epoch_us_) * connect_rate_ / 1e6)
      break;
    auto* c = connect_queue_.front();
    connect_queue_.pop_front();
    ++connects_issued_;
    ++pending_connects_;
    std::int64_t expected = 0;
    first_connect_us_.compare_exchange_strong(expected, now, std::memory_order_relaxed);
    c->connect();
  }
  while (!stream_queue_.empty()) {
    if (stream_rate_ > 0 &&
        static_cast<double>(streams_issued_) >= static_cast<double>(now - stream_epoch_us_) * stream_rate_ / 1e6)
      break;
    auto* c = stream_queue_.front();
    stream_queue_.pop_front();
    ++streams_issued_;
    started_.fetch_add(1, std::memory_order_relaxed);
    c->start_stream();
  }
  in_tick_ = false;
  if (!connect_queue_.empty() || !stream_queue_.empty()) arm_tick();
}

}  // namespace sg::tools
