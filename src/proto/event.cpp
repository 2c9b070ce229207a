// Event construction: each event's JSON is written once, directly into its buffer.
#include "proto/event.hpp"

#include "core/json_text.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <thread>

namespace sg::proto {
namespace {

// Appends "key":value pairs into one JSON object without an intermediate DOM.
class object_writer {
 public:
  explicit object_writer(std::string& out) : out_(out) { out_ += '{'; }
  object_writer& str(std::string_view key, std::string_view v) {
    sep(key);
    core::append_json_string(out_, v);
    return *this;
  }
  object_writer& num(std::string_view key, std::int64_t v) {
    sep(key);
    digits(v);
    return *this;
  }
  object_writer& unum(std::string_view key, std::uint64_t v) {
    sep(key);
    digits(v);
    return *this;
  }
  object_writer& boolean(std::string_view key, bool v) {
    sep(key);
    out_ += v ? "true" : "false";
    return *this;
  }
  object_writer& raw(std::string_view key, std::string_view json) {
    sep(key);
    out_ += json;
    return *this;
  }
  void close() { out_ += '}'; }

 private:
  // Numbers are written in place: std::to_string would allocate for every dueUs (16 digits).
  template <class Int>
  void digits(Int v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
  }
  void sep(std::string_view key) {
    // One append per key: `,"key":` (keys are literals from this file: no escaping needed).
    char buf[64];
    std::size_t n = 0;
    if (!first_) buf[n++] = ',';
    first_ = false;
    buf[n++] = '"';
    if (key.size() > sizeof buf - 4) {
      out_.append(buf, n);
      out_ += key;
      out_ += "\":";
      return;
    }
    std::memcpy(buf + n, key.data(), key.size());
    n += key.size();
    buf[n++] = '"';
    buf[n++] = ':';
    out_.append(buf, n);
  }
  std::string& out_;
  bool first_ = true;
};

std::shared_ptr<event> start_event(event_type t, std::string_view stream_id, std::uint64_t seq,
                                   std::string*& json) {
  auto e = std::make_shared<event>();
  e->type = t;
  e->stream_id = stream_id;
  e->seq = seq;
  json = &e->frame();
  return e;
}

std::size_t decimal_digits(std::uint64_t v) {
  std::size_t n = 1;
  for (; v >= 10000; v /= 10000) n += 4;
  for (; v >= 10; v /= 10) ++n;
  return n;
}

std::size_t decimal_digits(std::int64_t v) {
  return v < 0 ? 1 + decimal_digits(0 - static_cast<std::uint64_t>(v)) : decimal_digits(static_cast<std::uint64_t>(v));
}

// A chunk's frame from its fields, as object_writer writes it: make_chunk writes it at once, a
// chunk_maker's chunk on first use. `plain_ids`: neither id needs escaping.
void write_chunk_frame(std::string& j, const event& e, bool plain_ids) {
  std::string_view sid = e.stream_id, sess = e.session_id, text = e.content;
  // The usual chunk, a short text that needs no escaping: written on the stack and copied once.
  constexpr std::size_t max_text = 256, max_ids = 160;
  if (plain_ids && text.size() <= max_text && sid.size() + sess.size() <= max_ids && core::json_plain(text)) {
    char buf[max_text + max_ids + 224];  // the names, quotes and three 20-digit numbers: under 160
    char* p = buf;
    auto put = [&p](std::string_view s) {
      std::memcpy(p, s.data(), s.size());
      p += s.size();
    };
    auto num = [&p](auto v) { p = std::to_chars(p, p + 24, v).ptr; };
    put("{\"type\":\"stream_chunk\",\"streamId\":\"");
    put(sid);
    put("\",\"seq\":");
    num(e.seq);
    if (e.first_seq && e.first_seq != e.seq) {
      put(",\"firstSeq\":");
      num(e.first_seq);
    }
    put(",\"content\":\"");
    put(text);
    put("\",\"sessionId\":\"");
    put(sess);
    *p++ = '"';
    if (e.due_us) {
      put(",\"dueUs\":");
      num(e.due_us);
    }
    *p++ = '}';
    j.assign(buf, static_cast<std::size_t>(p - buf));
    return;
  }
  j.reserve(j.size() + 96 + sid.size() + sess.size() + text.size());
  object_writer w(j);
  w.str("type", "stream_chunk").str("streamId", sid).unum("seq", e.seq);
  if (e.first_seq && e.first_seq != e.seq) w.unum("firstSeq", e.first_seq);
  w.str("content", text).str("sessionId", sess);
  if (e.due_us) w.num("dueUs", e.due_us);
  w.close();
}

}  // namespace

std::string_view to_string(event_type t) {
  switch (t) {
    case event_type::connected: return "connected";
    case event_type::pong: return "pong";
    case event_type::stream_start: return "stream_start";
    case event_type::progress: return "progress";
    case event_type::stream_chunk: return "stream_chunk";
    case event_type::stream_complete: return "stream_complete";
    case event_type::stream_cancelled: return "stream_cancelled";
    case event_type::error: return "error";
    case event_type::raw: return "message";
    case event_type::heartbeat: return "heartbeat";
  }
  return "error";
}

event_ptr make_raw(std::string text) {
  auto e = std::make_shared<event>();
  e->type = event_type::raw;
  e->frame() = std::move(text);
  return e;
}

event_ptr heartbeat_event() {
  static const event_ptr hb = [] {
    auto e = std::make_shared<event>();
    e->type = event_type::heartbeat;
    return e;
  }();
  return hb;
}

bool event::terminal() const {
  return type == event_type::stream_complete || type == event_type::stream_cancelled ||
         (type == event_type::error && seq != 0);
}

event::~event() { delete sse_.load(std::memory_order_acquire); }

// The first reader writes the frame; a reader that finds another thread writing it waits for it
// (well under a microsecond), so every reader returns the same bytes.
void event::write_frame() const {
  std::uint8_t expected = 1;
  if (frame_state_.compare_exchange_strong(expected, 2, std::memory_order_acquire, std::memory_order_acquire)) {
    write_chunk_frame(json_, *this, plain_ids_);
    frame_state_.store(0, std::memory_order_release);
    return;
  }
  while (frame_state_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

// Built without a lock: two threads that both find it missing both build it, and the first to
// install its copy wins (std::call_once would cost a futex wake per event: glibc's once always wakes).
const std::string& event::sse() const {
  if (auto* ready = sse_.load(std::memory_order_acquire)) return *ready;
  auto built = std::make_unique<std::string>();
  std::string& s = *built;
  const std::string& json = this->json();
  if (type == event_type::heartbeat) {
    s = ": ping\n\n";
  } else {
    s.reserve(json.size() + 40);
    if (seq != 0) {
      s += "id: ";
      s += std::to_string(seq);
      s += '\n';
    }
    s += "event: ";
    s += to_string(type);
    s += "\ndata: ";
    if (type == event_type::raw) {
      // A verbatim frame may span lines: each line becomes its own data field.
      for (std::size_t i = 0; i <= json.size();) {
        auto nl = json.find('\n', i);
        if (nl == std::string::npos) nl = json.size();
        if (i != 0) s += "\ndata: ";
        s.append(json, i, nl - i);
        i = nl + 1;
      }
    } else {
      s += json;  // serialized JSON never contains a raw newline
    }
    s += "\n\n";
  }
  const std::string* expected = nullptr;
  if (sse_.compare_exchange_strong(expected, built.get(), std::memory_order_acq_rel, std::memory_order_acquire))
    return *built.release();
  return *expected;
}

event_ptr make_connected(std::string_view connection_id, std::int64_t server_time_ms) {
  std::string* j;
  auto e = start_event(event_type::connected, {}, 0, j);
  j->reserve(64 + connection_id.size());  // {"type":"connected","connectionId":"…","serverTime":…}: one allocation
  object_writer(*j).str("type", "connected").str("connectionId", connection_id).num("serverTime", server_time_ms).close();
  return e;
}

event_ptr make_pong(std::string_view request_id) {
  std::string* j;
  auto e = start_event(event_type::pong, {}, 0, j);
  object_writer w(*j);
  w.str("type", "pong");
  if (!request_id.empty()) w.str("requestId", request_id);
  w.close();
  return e;
}

event_ptr make_stream_start(std::string_view stream_id, std::string_view session_id, std::string_view request_id) {
  std::string* j;
  auto e = start_event(event_type::stream_start, stream_id, 1, j);
  object_writer w(*j);
  w.str("type", "stream_start").str("streamId", stream_id).unum("seq", 1).str("sessionId", session_id);
  w.str("requestId", request_id);
  w.close();
  return e;
}

event_ptr make_progress(std::string_view stream_id, std::uint64_t seq, std::string_view stage, std::string_view step,
                        int percent) {
  std::string* j;
  auto e = start_event(event_type::progress, stream_id, seq, j);
  object_writer(*j)
      .str("type", "progress")
      .str("streamId", stream_id)
      .unum("seq", seq)
      .str("stage", stage)
      .str("step", step)
      .num("progress", percent)
      .close();
  return e;
}

event_ptr make_chunk(std::string_view stream_id, std::uint64_t seq, std::string content, std::string_view session_id,
                     std::int64_t due_us, std::uint64_t first_seq) {
  std::string* j;
  auto e = start_event(event_type::stream_chunk, stream_id, seq, j);
  e->first_seq = first_seq ? first_seq : seq;
  e->session_id = session_id;
  e->due_us = due_us;
  e->content = std::move(content);
  write_chunk_frame(*j, *e, core::json_plain(e->stream_id) && core::json_plain(e->session_id));
  return e;
}

chunk_maker::chunk_maker(std::string_view stream_id, std::string_view session_id)
    : stream_id_(stream_id), session_id_(session_id) {
  // {"type":"stream_chunk","streamId":"…","seq":…,"content":"…","sessionId":"…"}, less seq and content
  std::string fixed;
  object_writer(fixed).str("type", "stream_chunk").str("streamId", stream_id);
  fixed += ",\"seq\":,\"content\":\"\",\"sessionId\":";
  core::append_json_string(fixed, session_id);
  fixed_bytes_ = fixed.size() + 1;
  plain_ids_ = core::json_plain(stream_id) && core::json_plain(session_id);
}

event_ptr chunk_maker::make(std::uint64_t seq, std::string content, std::int64_t due_us) const {
  auto e = std::make_shared<event>();
  e->type = event_type::stream_chunk;
  e->stream_id = stream_id_;
  e->seq = e->first_seq = seq;
  e->session_id = session_id_;
  e->due_us = due_us;
  std::size_t bytes = fixed_bytes_ + decimal_digits(seq) + content.size();
  if (due_us) bytes += std::strlen(",\"dueUs\":") + decimal_digits(due_us);
  e->frame_bytes_ = static_cast<std::uint32_t>(std::min<std::size_t>(bytes, std::numeric_limits<std::uint32_t>::max()));
  e->content = std::move(content);
  e->plain_ids_ = plain_ids_;
  e->frame_state_.store(1, std::memory_order_relaxed);
  return e;
}

event_ptr merge_chunks(const event& a, const event& b) {
  // The merged chunk is due when its last delta was: lateness is measured on the newest token.
  return make_chunk(a.stream_id, b.seq, a.content + b.content, a.session_id, b.due_us, a.first_seq);
}

event_ptr make_complete(std::string_view stream_id, std::uint64_t seq, std::string_view full_content, const usage& u,
                        const stream_metrics& m) {
  std::string* j;
  auto e = start_event(event_type::stream_complete, stream_id, seq, j);
  std::string usage_json, metrics_json;
  object_writer(usage_json).unum("inputTokens", u.input_tokens).unum("outputTokens", u.output_tokens).close();
  object_writer(metrics_json)
      .num("firstChunkMs", m.first_chunk_ms)
      .unum("totalChunks", m.total_chunks)
      .num("durationMs", m.duration_ms)
      .close();
  object_writer(*j)
      .str("type", "stream_complete")
      .str("streamId", stream_id)
      .unum("seq", seq)
      .str("fullContent", full_content)
      .raw("usage", usage_json)
      .raw("metrics", metrics_json)
      .close();
  return e;
}

event_ptr make_cancelled(std::string_view stream_id, std::uint64_t seq) {
  std::string* j;
  auto e = start_event(event_type::stream_cancelled, stream_id, seq, j);
  object_writer(*j).str("type", "stream_cancelled").str("streamId", stream_id).unum("seq", seq).close();
  return e;
}

namespace {
void write_error_fields(object_writer& w, const error_info& err) {
  w.str("type", "error").str("code", to_string(err.code)).str("message", err.message).boolean("retryable", err.retryable);
  if (err.retry_after_ms) w.num("retryAfterMs", *err.retry_after_ms);
  if (!err.field.empty()) w.str("field", err.field);
}
}  // namespace

event_ptr make_error(const error_info& err, std::string_view stream_id, std::uint64_t seq,
                     std::string_view request_id) {
  std::string* j;
  auto e = start_event(event_type::error, stream_id, seq, j);
  object_writer w(*j);
  write_error_fields(w, err);
  if (!stream_id.empty()) w.str("streamId", stream_id);
  if (seq) w.unum("seq", seq);
  if (!request_id.empty()) w.str("requestId", request_id);
  w.close();
  return e;
}

std::string error_body(const error_info& err, std::string_view request_id) {
  std::string out;
  object_writer w(out);
  write_error_fields(w, err);
  if (!request_id.empty()) w.str("requestId", request_id);
  w.close();
  return out;
}

}  // namespace sg::proto
