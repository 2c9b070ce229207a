// An HTTP session's streamed responses: SSE (POST /v1/streams, GET …/events) and streamed
// OpenAI completions, written from the stream's events until it ends. The rest of the session (reading
// requests, plain answers, closing) is in http_session.cpp; the class template is instantiated for
// both transports there, and its members defined here are instantiated below.
#include "net/http_session.hpp"

#include "core/clock.hpp"
#include "core/log.hpp"
#include "gateway/stream_routes.hpp"

#include <boost/beast/core/buffers_range.hpp>
#include <span>

namespace sg::io {
namespace {
constexpr auto sse_write_timeout = std::chrono::seconds(60);
constexpr std::size_t sse_events_per_write = 64;  // a backlog goes out in chunks of at most this many events
// The buffer a formatted response's events are written from is kept between writes up to this size.
constexpr std::size_t sse_formatted_keep_bytes = 16 * 1024;
constexpr char last_chunk[] = "0\r\n\r\n";  // the end of a chunked body, without trailers
}  // namespace

// The OpenAI-compatible routes; a streamed completion reuses the SSE write loop with its own format.
template <class Stream>
void basic_http_session<Stream>::openai_request(const gateway::request& req, const gateway::target& t) {
  auto self = this->shared_from_this();
  auto ex = stream_.get_executor();
  gateway::openai_api::handle(
      app_, req, t, who_.owner(), limit_key_, ex,
      [self, ex](gateway::response res) {
        net::post(ex, [self, res = std::move(res)]() mutable { self->send(std::move(res)); });
      },
      [self, req](std::shared_ptr<stream::stream> s, gateway::openai_api::event_formatter f) {
        self->sse_format_ = std::move(f);
        self->sse_cancel_on_close_ = true;
        self->begin_sse(req, std::move(s), 0);
      },
      // A non-streamed completion has no other reader either: a client that leaves before the answer
      // cancels it, so nobody pays for an answer that nobody will read.
      [self](std::shared_ptr<stream::stream> s) {
        self->awaited_stream_ = std::move(s);
        // The answer may take longer than any request deadline: only the response's write is timed.
        beast::get_lowest_layer(self->stream_).expires_never();
        self->watch_client();
      });
}

// POST /v1/streams: with Accept: text/event-stream the answer is the stream itself, else 202.
template <class Stream>
void basic_http_session<Stream>::start_stream(const gateway::request& req) {
  gateway::start_stream(app_, req, who_, limit_key_, stream_.get_executor(),
                        [self = this->shared_from_this(), req](gateway::sse_plan plan) {
                          if (plan.answer) self->send(std::move(*plan.answer));
                          else self->begin_sse(req, std::move(plan.s), 0);
                        });
}

// GET /v1/streams/{id}/events: resume after Last-Event-ID or ?lastSeq=N.
template <class Stream>
void basic_http_session<Stream>::resume_stream(const gateway::request& req, const std::string& id, const gateway::target& t) {
  gateway::resume_stream(app_, req, t, id, who_, stream_.get_executor(),
                         [self = this->shared_from_this(), req](gateway::sse_plan plan) {
                           if (plan.answer) self->send(std::move(*plan.answer));
                           else self->begin_sse(req, std::move(plan.s), plan.after);
                         });
}

template <class Stream>
void basic_http_session<Stream>::begin_sse(const gateway::request& req, std::shared_ptr<stream::stream> s, std::uint64_t after) {
  sse_ = true;
  sse_keep_alive_ = req.keep_alive();
  sse_stream_ = std::move(s);
  sse_last_seq_ = after;
  app_.stats.sse_open.fetch_add(1, std::memory_order_relaxed);
  sse_res_.emplace(gateway::sse_header(req, sse_stream_->id(), issued_key_, secure_, cors_origin_));
  sse_sr_.emplace(*sse_res_);
  // A cluster node's drain ends a resumable response, so EventSource reconnects to another node (a
  // completion, which cannot resume, runs to its end here).
  if (!sse_cancel_on_close_)
    app_.sse_responses.add(this, [w = this->weak_from_this(), ex = stream_.get_executor()] {
      net::post(ex, [w] {
        if (auto self = w.lock()) self->end_sse(false);
      });
    });
  // The header is not written on its own: it goes out in front of the first chunk of the body (the
  // replay, written below), one send and one segment for both. If there is nothing to write yet, it
  // goes out alone (send_held_head).
  sse_head_.clear();
  sse_sr_->split(true);
  error_code ec;
  while (!sse_sr_->is_header_done() && !ec) {
    sse_sr_->next(ec, [&](error_code&, const auto& buffers) {
      for (auto b : beast::buffers_range_ref(buffers)) sse_head_.append(static_cast<const char*>(b.data()), b.size());
      sse_sr_->consume(beast::buffer_bytes(buffers));
    });
  }
  if (ec) {
    end_sse(false);
    return;
  }
  sse_head_held_ = true;
  // The request's read deadline no longer applies; each write below sets its own.
  beast::get_lowest_layer(stream_).expires_never();
  // Subscribing replays the log after sse_last_seq_, then continues live.
  using result = stream::stream::subscribe_result;
  sse_replaying_ = true;
  auto r = sse_stream_->subscribe(this->shared_from_this(), sse_last_seq_);
  sse_replaying_ = false;
  if (r == result::past_end || r == result::beyond_end || r == result::not_retained) {
    // Nothing will follow (the stream ended in between, or its log was trimmed): end the body now
    // rather than send heartbeats forever. An ended stream's replay otherwise ends with its
    // terminal event, which ends the response.
    sse_ending_ = true;
    sse_write();
    return;
  }
  // The read that watches the client starts before any write sets a deadline: it has none.
  if (sse_cancel_on_close_) watch_client();
  sse_write();  // the replay
  send_held_head();
  arm_heartbeat();
}

// The header alone, when no chunk took it along (a resume with nothing new yet, or a first event
// that writes nothing in its format). Chunks queued meanwhile wait for it (sse_write).
template <class Stream>
void basic_http_session<Stream>::send_held_head() {
  if (!sse_ || !sse_head_held_ || pump_.writing() || sse_head_writing_) return;
  sse_head_writing_ = true;
  beast::get_lowest_layer(stream_).expires_after(sse_write_timeout);
  net::async_write(stream_, net::buffer(sse_head_), [self = this->shared_from_this()](error_code ec, std::size_t) {
    self->sse_head_writing_ = false;
    if (!self->sse_) return;
    beast::get_lowest_layer(self->stream_).expires_never();
    if (ec) {
      self->end_sse(false);
      return;
    }
    self->sse_head_held_ = false;
    std::string().swap(self->sse_head_);
    self->sse_write();
  });
}

// A pending read sees a client that leaves mid-answer at once, so its upstream request is cancelled
// rather than left generating. The read timer stays disarmed: only the writes carry timeouts.
template <class Stream>
void basic_http_session<Stream>::watch_client() {
  watching_ = true;
  stream_.async_read_some(buffer_.prepare(1024), [self = this->shared_from_this()](error_code ec, std::size_t n) {
    self->watching_ = false;
    if (!ec) self->buffer_.commit(n);  // a pipelined request: kept for the next read
    if (self->read_after_watch_) {
      self->read_after_watch_ = false;
      if (!ec || ec == net::error::operation_aborted) self->do_read();
      else self->do_close();
      return;
    }
    if (ec && self->sse_) self->end_sse(false);
    if (ec && ec != net::error::operation_aborted && self->awaited_stream_) {
      gateway::abandon_stream(self->app_, self->awaited_stream_->id());
      self->awaited_stream_.reset();
    }
  });
}

template <class Stream>
void basic_http_session<Stream>::deliver(proto::event_ptr ev) {
  // On its own thread (subscribe's replay, its own stream) the event is queued at once: a post made
  // here runs after later posts of other threads, so live events would overtake the replay.
  if (core::running_in(stream_.get_executor())) {
    sse_enqueue(std::move(ev));
    return;
  }
  net::post(stream_.get_executor(), [self = this->shared_from_this(), ev = std::move(ev)]() mutable {
    self->sse_enqueue(std::move(ev));
  });
}

template <class Stream>
void basic_http_session<Stream>::sse_enqueue(proto::event_ptr ev) {
  if (!sse_ || sse_done_ || sse_ending_ || sse_overflow_) return;
  if (ev->seq != 0) {
    if (ev->seq <= sse_last_seq_) return;
    sse_last_seq_ = ev->seq;
  }
  bool terminal = ev->terminal();
  if (pump_.push(std::move(ev)) == outbound_queue::push_result::overflow) {
    core::log_info("sse client too slow", {{"streamId", sse_stream_->id()}, {"sourceIp", source_ip_}});
    end_sse_from_handler();
    return;
  }
  if (terminal) sse_ending_ = true;  // the response ends after this event is written
  if (!sse_replaying_) sse_write();
}

// Every waiting event goes out in one chunk of the body (one send for a backlog or a replay).
// On a plain connection the chunk is written at once, without blocking: it nearly always fits the
// socket's buffer, and then no write operation, timer or completion handler is made for it (an
// asynchronous write that completes at once still posts its completion, a scheduler trip and a
// non-blocking epoll_wait). Whatever does not fit goes out asynchronously, under the write timeout,
// and so does a batch whose oldest event is a paced token already late (outbound_pump::late).
template <class Stream>
void basic_http_session<Stream>::sse_write() {
  for (;;) {
    if (pump_.writing() || sse_done_ || sse_head_writing_) return;
    auto& batch = pump_.begin_write(sse_events_per_write);
    if (batch.empty()) {
      if (sse_ending_) {
        // Terminal event written: end the chunked body, keep the connection for the next request.
        sse_done_ = true;
        sse_buffers_.clear();
        if (sse_head_held_) sse_buffers_.push_back(take_held_head());
        sse_buffers_.push_back(net::buffer(last_chunk, sizeof last_chunk - 1));
        beast::get_lowest_layer(stream_).expires_after(sse_write_timeout);
        net::async_write(stream_, std::span<const net::const_buffer>(sse_buffers_),
                         beast::bind_front_handler(&basic_http_session::on_sse_write, this->shared_from_this(), true));
      }
      return;
    }
    sse_buffers_.clear();
    sse_buffers_.emplace_back();  // the chunk's size line, once its size is known
    if (sse_format_) {
      // A big batch (a replay) does not leave its buffer held for the rest of the response.
      if (sse_formatted_.capacity() > sse_formatted_keep_bytes) std::string().swap(sse_formatted_);
      sse_formatted_.clear();
      for (auto& ev : batch) sse_format_(*ev, sse_formatted_);
      if (!sse_formatted_.empty()) sse_buffers_.push_back(net::buffer(sse_formatted_));
    } else {
      for (auto& ev : batch) sse_buffers_.push_back(net::buffer(ev->sse()));
    }
    if (sse_buffers_.size() == 1) {
      // Nothing to write for these events (progress, in the completions format): an empty chunk
      // would end the body.
      pump_.end_write(false);
      net::post(stream_.get_executor(), [self = this->shared_from_this()] {
        self->sse_write();
        self->send_held_head();
      });
      return;
    }
    // The chunk's frame around its data, as a flat list of buffers (net/chunk_frame.hpp). A span: the
    // write's state copies the buffer sequence, and a copy of a vector is an allocation.
    sse_buffers_.front() = write_chunk_size(sse_chunk_size_, net::buffer_size(sse_buffers_));
    sse_buffers_.push_back(chunk_end());
    const bool with_head = sse_head_held_;
    if (with_head) sse_buffers_.insert(sse_buffers_.begin(), take_held_head());  // the header, in front of the first chunk
    std::span<const net::const_buffer> chunk(sse_buffers_);
    // A paced token already well past its due time means the shard is behind its pacer: the chunk
    // goes out asynchronously, and the tokens made before its completion merge behind it.
    if constexpr (std::is_same_v<Stream, plain_stream>) {
      if (!outbound_pump::late(*batch.front())) {
        auto& sock = beast::get_lowest_layer(stream_).socket();
        error_code ec;
        if (!sock.non_blocking()) sock.non_blocking(true, ec);
        std::size_t n = ec ? 0 : sock.write_some(chunk, ec);
        if (ec && (ec == net::error::would_block || ec == net::error::try_again)) ec = {};
        if (ec) {
          pump_.end_write(false);
          end_sse_from_handler();
          return;
        }
        if (n == beast::buffer_bytes(chunk)) {
          pump_.end_write(true);
          if (with_head) std::string().swap(sse_head_);  // sent
          continue;  // anything queued meanwhile, or the end of the body
        }
        beast::buffers_suffix<decltype(chunk)> rest(chunk);
        rest.consume(n);
        beast::get_lowest_layer(stream_).expires_after(sse_write_timeout);
        net::async_write(stream_, rest,
                         beast::bind_front_handler(&basic_http_session::on_sse_write, this->shared_from_this(), false));
        return;
      }
    }
    beast::get_lowest_layer(stream_).expires_after(sse_write_timeout);
    net::async_write(stream_, chunk,
                     beast::bind_front_handler(&basic_http_session::on_sse_write, this->shared_from_this(), false));
    return;
  }
}

template <class Stream>
void basic_http_session<Stream>::on_sse_write(bool last, error_code ec, std::size_t) {
  if (last) {
    std::string().swap(sse_head_);  // the last write is done: nothing reads these bytes any more
    end_sse(!ec && sse_keep_alive_);
    return;
  }
  pump_.end_write(!ec);
  if (ec) {
    end_sse(false);
    return;
  }
  if (!sse_head_held_) std::string().swap(sse_head_);  // sent with this chunk, if it was still here
  sse_write();
}

template <class Stream>
void basic_http_session<Stream>::arm_heartbeat() {
  heartbeat_.expires_after(std::chrono::milliseconds(app_.cfg.sse_heartbeat_ms));
  heartbeat_.async_wait([self = this->shared_from_this()](error_code ec) {
    if (ec || !self->sse_ || self->sse_done_) return;
    if (self->pump_.empty()) {
      self->pump_.push(proto::heartbeat_event());
      self->sse_write();
    }
    self->arm_heartbeat();
  });
}

template <class Stream>
void basic_http_session<Stream>::end_sse_from_handler() {
  sse_overflow_ = true;
  pump_.clear_waiting();
  net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->end_sse(false); });
}

template <class Stream>
void basic_http_session<Stream>::end_sse(bool keep_alive) {
  if (!sse_) return;
  sse_ = false;
  sse_done_ = false;
  sse_ending_ = false;
  sse_overflow_ = false;
  heartbeat_.cancel();
  app_.sse_responses.remove(this);
  if (sse_cancel_on_close_ && sse_stream_ && !sse_stream_->ended()) gateway::abandon_stream(app_, sse_stream_->id());
  sse_cancel_on_close_ = false;
  sse_format_ = nullptr;
  std::string().swap(sse_formatted_);
  if (sse_stream_) sse_stream_->unsubscribe(this);
  sse_stream_.reset();
  pump_.clear_waiting();
  sse_sr_.reset();
  sse_res_.reset();
  sse_head_held_ = false;  // its bytes stay until the next response: a write in flight may hold them
  app_.stats.sse_open.fetch_sub(1, std::memory_order_relaxed);
  if (keep_alive && !pump_.writing() && watching_) {
    // The watching read still holds the socket: cancel it, and read the next request when it returns.
    read_after_watch_ = true;
    error_code ec;
    beast::get_lowest_layer(stream_).socket().cancel(ec);
  } else if (keep_alive && !pump_.writing()) {
    do_read();
  } else {
    if (watching_) {
      // No read may be pending while a TLS shutdown runs.
      error_code ec;
      beast::get_lowest_layer(stream_).socket().cancel(ec);
    }
    beast::get_lowest_layer(stream_).expires_never();
    do_close();
  }
}

#define SG_SSE_MEMBERS(S)                                                                                         \
  template void basic_http_session<S>::openai_request(const gateway::request&, const gateway::target&);            \
  template void basic_http_session<S>::start_stream(const gateway::request&);                                     \
  template void basic_http_session<S>::resume_stream(const gateway::request&, const std::string&,                 \
                                                     const gateway::target&);                                     \
  template void basic_http_session<S>::begin_sse(const gateway::request&, std::shared_ptr<stream::stream>,        \
                                                 std::uint64_t);                                                  \
  template void basic_http_session<S>::send_held_head();                                                          \
  template void basic_http_session<S>::watch_client();                                                            \
  template void basic_http_session<S>::deliver(proto::event_ptr);                                                 \
  template void basic_http_session<S>::sse_enqueue(proto::event_ptr);                                             \
  template void basic_http_session<S>::sse_write();                                                               \
  template void basic_http_session<S>::on_sse_write(bool, error_code, std::size_t);                               \
  template void basic_http_session<S>::arm_heartbeat();                                                           \
  template void basic_http_session<S>::end_sse_from_handler();                                                    \
  template void basic_http_session<S>::end_sse(bool);

SG_SSE_MEMBERS(plain_stream)
SG_SSE_MEMBERS(tls_stream)
#undef SG_SSE_MEMBERS

}  // namespace sg::io
