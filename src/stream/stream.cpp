// The event log and fan-out: one serialized buffer per event, shared by every subscriber.
#include "stream/stream.hpp"

#include "core/clock.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <unordered_map>

namespace sg::stream {

std::string_view to_string(state s) {
  switch (s) {
    case state::running: return "running";
    case state::completed: return "completed";
    case state::cancelled: return "cancelled";
    case state::failed: return "failed";
  }
  return "running";
}

stream::stream(std::string id, std::string project_id, std::string owner, std::string provider,
               std::size_t log_max_bytes, std::int64_t created_at_ms)
    : id_(std::move(id)),
      project_id_(std::move(project_id)),
      owner_(std::move(owner)),
      provider_(std::move(provider)),
      log_max_bytes_(log_max_bytes),
      created_at_ms_(created_at_ms ? created_at_ms : core::now_ms()) {}

namespace {

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::uint64_t get_varint(const std::string& in, std::size_t& pos) {
  std::uint64_t v = 0;
  for (int shift = 0; pos < in.size(); shift += 7) {
    auto b = static_cast<unsigned char>(in[pos++]);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  return v;
}

std::uint64_t zigzag(std::int64_t v) { return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63); }
std::int64_t unzigzag(std::uint64_t v) { return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1); }

// What an event costs beyond its strings: the shared control block and the event itself.
constexpr std::size_t event_overhead = sizeof(proto::event) + 32;

// Progress frames are the same few stages for every stream: a finished stream keeps the row of its
// (stage, step, percent) in this process-wide table instead of its frame, when make_progress rebuilds
// that frame byte for byte from it. Bounded: past max_rows, frames are kept whole.
class progress_table {
 public:
  static constexpr std::size_t max_rows = 4096;
  struct row {
    std::string stage, step;
    int percent;
  };
  static progress_table& instance() {
    static progress_table t;
    return t;
  }
  std::optional<std::uint64_t> intern(std::string_view stage, std::string_view step, int percent) {
    if (percent < 0 || percent > 100) return std::nullopt;
    std::string key;
    key.reserve(stage.size() + step.size() + 8);
    key.append(stage).push_back('\0');
    key.append(step).push_back('\0');
    key += std::to_string(percent);
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) return it->second;
    if (rows_.size() >= max_rows) return std::nullopt;
    rows_.push_back({std::string(stage), std::string(step), percent});
    index_.emplace(std::move(key), rows_.size() - 1);
    return rows_.size() - 1;
  }
  // Rows are never changed nor removed, and a deque keeps them in place as it grows.
  const row& at(std::uint64_t i) const {
    std::lock_guard lock(mu_);
    return rows_.at(static_cast<std::size_t>(i));
  }

 private:
  mutable std::mutex mu_;
  std::deque<row> rows_;
  std::unordered_map<std::string, std::uint64_t> index_;
};

// The type a kept record has when it holds a progress_table row instead of a frame.
constexpr std::uint64_t interned_progress = 0x7f;

// The progress_table row that rebuilds `e`'s frame exactly, if there is one.
std::optional<std::uint64_t> progress_row(const proto::event& e, std::string_view stream_id) {
  boost::system::error_code ec;
  auto v = boost::json::parse(e.json(), ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto& o = v.get_object();
  auto* stage = o.if_contains("stage");
  auto* step = o.if_contains("step");
  auto* pct = o.if_contains("progress");
  if (!stage || !step || !pct || !stage->is_string() || !step->is_string() || !pct->is_int64()) return std::nullopt;
  auto percent = pct->get_int64();
  if (percent < 0 || percent > 100) return std::nullopt;  // before the narrowing to int
  if (proto::make_progress(stream_id, e.seq, stage->get_string(), step->get_string(), static_cast<int>(percent))->json() !=
      e.json())
    return std::nullopt;
  return progress_table::instance().intern(stage->get_string(), step->get_string(), static_cast<int>(percent));
}

}  // namespace

// Reads the kept events of a compact stream one after another (see stream::kept_).
struct kept_reader {
  const std::string& in;
  std::size_t pos = 0;
  std::uint64_t seq = 0;
  proto::event_type type = proto::event_type::error;
  std::string_view frame;
  const progress_table::row* progress = nullptr;  // instead of frame
  bool at_end = false;

  explicit kept_reader(const std::string& s) : in(s) { next(); }
  void next() {
    if (pos >= in.size()) {
      at_end = true;
      return;
    }
    seq = get_varint(in, pos);
    auto t = get_varint(in, pos);
    if (t == interned_progress) {
      type = proto::event_type::progress;
      progress = &progress_table::instance().at(get_varint(in, pos));
      frame = {};
      return;
    }
    progress = nullptr;
    type = static_cast<proto::event_type>(t);
    auto len = static_cast<std::size_t>(get_varint(in, pos));
    frame = std::string_view(in).substr(pos, len);
    pos += len;
  }
};

proto::event_ptr stream::kept_event(const kept_reader& k) const {
  if (k.progress) return proto::make_progress(id_, k.seq, k.progress->stage, k.progress->step, k.progress->percent);
  auto e = std::make_shared<proto::event>();
  e->type = k.type;
  e->stream_id = id_;
  e->seq = k.seq;
  e->frame() = k.frame;
  return e;
}

// Calls fn(event_ptr) for every logged event with after < seq <= upto, in seq order. Lock held.
template <class Fn>
void stream::for_each_logged(std::uint64_t after, std::uint64_t upto, Fn&& fn) const {
  if (!compact_) {
    for (std::size_t i = log_head_; i < log_.size(); ++i)
      if (log_[i]->seq > after && log_[i]->seq <= upto) fn(log_[i]);
    return;
  }
  std::size_t pos = 0, text_at = chunk_text_begin_;
  kept_reader kept(kept_);
  std::int64_t due = 0;
  const proto::chunk_maker chunks(id_, chunk_session_);
  for (std::uint64_t seq = first_retained_; seq <= last_seq_ && seq <= upto; ++seq) {
    if (complete_rebuilt_ && seq == last_seq_) {
      if (seq > after) fn(rebuild_complete());
      continue;
    }
    if (!kept.at_end && kept.seq == seq) {
      if (seq > after) fn(kept_event(kept));
      kept.next();
      continue;
    }
    auto len = static_cast<std::size_t>(get_varint(chunk_code_, pos));
    due += unzigzag(get_varint(chunk_code_, pos));
    if (seq > after) fn(chunks.make(seq, text_.substr(text_at, len), due));
    text_at += len;
  }
}

// Runs once, when the terminal event is logged. Falls back to the full log if the chunks' text is
// not exactly the tail of text_ (it always is for the runner's streams).
void stream::compact() {
  std::size_t chunk_bytes = 0;
  std::string session;
  bool first = true;
  for (std::size_t i = log_head_; i < log_.size(); ++i) {
    auto& e = *log_[i];
    if (e.type != proto::event_type::stream_chunk) continue;
    if (e.first_seq != e.seq || (!first && e.session_id != session)) return;
    session = e.session_id;
    first = false;
    chunk_bytes += e.content.size();
  }
  if (chunk_bytes > text_.size()) return;
  std::size_t at = text_.size() - chunk_bytes;
  std::string code;
  std::vector<proto::event_ptr> kept;
  std::int64_t due = 0;
  for (std::size_t i = log_head_; i < log_.size(); ++i) {
    auto& e = log_[i];
    if (e->type != proto::event_type::stream_chunk) {
      kept.push_back(e);
      continue;
    }
    if (text_.compare(at, e->content.size(), e->content) != 0) return;
    at += e->content.size();
    put_varint(code, e->content.size());
    put_varint(code, zigzag(e->due_us - due));
    due = e->due_us;
  }
  chunk_text_begin_ = text_.size() - chunk_bytes;
  chunk_session_ = std::move(session);
  last_seq_ = log_.back()->seq;
  compact_complete(kept);
  code.shrink_to_fit();
  chunk_code_ = std::move(code);
  std::size_t kept_bytes = 0;
  for (auto& e : kept) kept_bytes += e->json().size() + 12;
  kept_.reserve(kept_bytes);
  for (auto& e : kept) {
    put_varint(kept_, e->seq);
    if (e->type == proto::event_type::progress) {
      auto known = std::find_if(progress_rows_.begin(), progress_rows_.end(), [&](auto& r) { return r.first == e->seq; });
      if (auto row = known != progress_rows_.end() ? std::optional<std::uint64_t>(known->second) : progress_row(*e, id_)) {
        put_varint(kept_, interned_progress);
        put_varint(kept_, *row);
        continue;
      }
    }
    put_varint(kept_, static_cast<std::uint64_t>(e->type));
    put_varint(kept_, e->json().size());
    kept_ += e->json();
  }
  kept_.shrink_to_fit();
  std::vector<proto::event_ptr>().swap(log_);
  std::vector<std::pair<std::uint64_t, std::uint64_t>>().swap(progress_rows_);
  log_head_ = 0;
  text_.shrink_to_fit();
  compact_ = true;
}

proto::event_ptr stream::rebuild_complete() const {
  return proto::make_complete(id_, last_seq_, text_, complete_usage_, complete_metrics_);
}

std::uint64_t stream::last_seq_locked() const {
  if (compact_) return last_seq_;
  return log_.empty() ? 0 : log_.back()->seq;
}

// The terminal stream_complete carries the whole text again: keep its numbers only, if rebuilding it
// from them gives back exactly the frame that was sent.
void stream::compact_complete(std::vector<proto::event_ptr>& kept) {
  if (kept.empty() || kept.back()->type != proto::event_type::stream_complete) return;
  if (complete_numbers_known_) {
    // The numbers it was made from: the JSON need not be parsed back (a DOM parse of a frame that
    // holds the whole text). The comparison below still decides.
    if (rebuild_complete()->json() != kept.back()->json()) return;
    kept.pop_back();
    complete_rebuilt_ = true;
    return;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(kept.back()->json(), ec);
  if (ec || !v.is_object()) return;
  auto& o = v.get_object();
  auto* u = o.if_contains("usage");
  auto* m = o.if_contains("metrics");
  if (!u || !m || !u->is_object() || !m->is_object()) return;
  auto num = [](const boost::json::object& x, const char* k) -> std::int64_t {
    auto* f = x.if_contains(k);
    return f && f->is_int64() ? f->get_int64() : f && f->is_uint64() ? static_cast<std::int64_t>(f->get_uint64()) : 0;
  };
  complete_usage_ = {static_cast<std::uint64_t>(num(u->get_object(), "inputTokens")),
                     static_cast<std::uint64_t>(num(u->get_object(), "outputTokens"))};
  complete_metrics_ = {num(m->get_object(), "firstChunkMs"), static_cast<std::uint64_t>(num(m->get_object(), "totalChunks")),
                       num(m->get_object(), "durationMs")};
  if (rebuild_complete()->json() != kept.back()->json()) return;
  kept.pop_back();
  complete_rebuilt_ = true;
}

void stream::publish_progress(std::string_view stage, std::string_view step, int percent) {
  auto ev = proto::make_progress(id_, next_seq_, stage, step, percent);
  auto row = progress_table::instance().intern(stage, step, percent);
  ++next_seq_;
  std::lock_guard lock(mu_);
  if (row && state_ == state::running) progress_rows_.emplace_back(ev->seq, *row);
  publish_locked(std::move(ev));
}

void stream::publish(proto::event_ptr ev) {
  ++next_seq_;
  std::lock_guard lock(mu_);
  publish_locked(std::move(ev));
}

void stream::publish_complete(proto::event_ptr ev, const proto::usage& u, const proto::stream_metrics& m) {
  ++next_seq_;
  std::lock_guard lock(mu_);
  if (state_ == state::running) {
    complete_usage_ = u;
    complete_metrics_ = m;
    complete_numbers_known_ = true;
  }
  publish_locked(std::move(ev));
}

void stream::publish_chunk(proto::event_ptr ev) {
  ++next_seq_;
  std::lock_guard lock(mu_);
  if (state_ != state::running) return;
  text_.append(ev->content);
  publish_locked(std::move(ev));
}

std::string stream::text() const {
  std::lock_guard lock(mu_);
  return text_;
}

std::optional<std::string> stream::text_to_checkpoint() {
  std::lock_guard lock(mu_);
  auto bytes = static_cast<std::uint32_t>(text_.size());
  if (state_ != state::running || bytes == checkpointed_bytes_) return std::nullopt;
  checkpointed_bytes_ = bytes;
  return text_;
}

void stream::publish_locked(proto::event_ptr ev) {
  if (state_ != state::running) return;  // nothing follows a terminal event
  if (ev->terminal()) {
    using proto::event_type;
    state_ = ev->type == event_type::stream_complete    ? state::completed
             : ev->type == event_type::stream_cancelled ? state::cancelled
                                                        : state::failed;
    ended_at_ms_ = core::now_ms();
  }
  log_bytes_ += ev->frame_bytes();
  log_.push_back(ev);
  // Trim the oldest events past the byte bound, but always keep the newest one.
  while (log_bytes_ > log_max_bytes_ && log_.size() - log_head_ > 1) {
    log_bytes_ -= log_[log_head_]->frame_bytes();
    log_[log_head_].reset();
    ++log_head_;
    ++first_retained_;
  }
  if (log_head_ > 1024 && log_head_ * 2 > log_.size()) {
    log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(log_head_));
    log_head_ = 0;
  }
  bool prune = false;
  for (auto& [key, weak] : subs_) {
    if (auto s = weak.lock())
      s->deliver(ev);
    else
      prune = true;
  }
  if (state_ != state::running) {
    subs_.clear();
    subs_.shrink_to_fit();
    if (resumable_) compact();
  } else if (prune) {
    std::erase_if(subs_, [](auto& p) { return p.second.expired(); });
  }
  if (!joinable_ && !subs_.empty()) keep_newest_only();
}

void stream::keep_newest_only() {
  if (log_.size() - log_head_ <= 1) return;
  auto newest = std::move(log_.back());
  log_.clear();
  log_head_ = 0;
  first_retained_ = newest->seq;
  log_bytes_ = newest->frame_bytes();
  log_.push_back(std::move(newest));
}

void stream::append_text(std::string_view delta) {
  std::lock_guard lock(mu_);
  text_.append(delta);
}

stream::subscribe_result stream::subscribe(const std::shared_ptr<subscriber>& sub, std::uint64_t after_seq) {
  std::lock_guard lock(mu_);
  if (after_seq + 1 < first_retained_) return subscribe_result::not_retained;
  auto last = last_seq_locked();
  if (after_seq > last && state_ == state::running) return subscribe_result::beyond_end;
  if (after_seq >= last && state_ != state::running) return subscribe_result::past_end;
  for_each_logged(after_seq, UINT64_MAX, [&](const proto::event_ptr& e) { sub->deliver(e); });
  if (state_ != state::running) return subscribe_result::ended;
  auto key = sub.get();
  auto it = std::find_if(subs_.begin(), subs_.end(), [key](auto& p) { return p.first == key; });
  if (it == subs_.end()) subs_.emplace_back(key, sub);
  if (!joinable_) keep_newest_only();
  return subscribe_result::ok;
}

void stream::unsubscribe(const subscriber* sub) {
  std::lock_guard lock(mu_);
  std::erase_if(subs_, [sub](auto& p) { return p.first == sub; });
}

proto::event_ptr stream::last_event() const {
  std::lock_guard lock(mu_);
  if (complete_rebuilt_) return rebuild_complete();
  if (compact_) {
    proto::event_ptr last;
    for (kept_reader k(kept_); !k.at_end; k.next()) last = kept_event(k);
    return last;
  }
  return log_.empty() ? nullptr : log_.back();
}

std::optional<std::vector<proto::event_ptr>> stream::events_between(std::uint64_t after, std::uint64_t upto) const {
  std::lock_guard lock(mu_);
  if (after + 1 < first_retained_) return std::nullopt;
  std::vector<proto::event_ptr> out;
  for_each_logged(after, upto, [&](const proto::event_ptr& e) { out.push_back(e); });
  return out;
}

bool stream::ended() const {
  std::lock_guard lock(mu_);
  return state_ != state::running;
}

std::int64_t stream::ended_at_ms() const {
  std::lock_guard lock(mu_);
  return ended_at_ms_;
}

std::size_t stream::subscriber_count() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

std::size_t stream::retained_bytes() const {
  std::lock_guard lock(mu_);
  std::size_t n = sizeof(stream) + text_.capacity() + chunk_code_.capacity() + kept_.capacity() +
                  log_.capacity() * sizeof(proto::event_ptr);
  for (std::size_t i = log_head_; i < log_.size(); ++i)
    n += event_overhead + 2 * log_[i]->frame_bytes() + log_[i]->content.capacity();  // its frame, and its SSE form
  return n;
}

stream_info stream::info() const {
  std::lock_guard lock(mu_);
  stream_info i;
  i.id = id_;
  i.project_id = project_id_;
  i.owner = owner_;
  i.provider = provider_;
  i.st = state_;
  i.last_seq = last_seq_locked();
  i.text = text_;
  i.created_at_ms = created_at_ms_;
  i.ended_at_ms = ended_at_ms_;
  return i;
}

}  // namespace sg::stream
