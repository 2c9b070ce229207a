// One io_uring per I/O thread; a window's sends are submitted together and reaped at once.
#include "net/send_batch.hpp"

#include "net/stream_types.hpp"

#include <liburing.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <climits>

namespace sg::io {
namespace {

constexpr unsigned ring_entries = 256;  // sends per submission; more are submitted in rounds
constexpr std::uint64_t cancel_mark = std::uint64_t{1} << 63;  // a cancellation's own completion
constexpr int no_result = INT_MIN;
constexpr std::size_t max_kept_buffer = std::size_t{1} << 20;  // a window's frames' buffer kept for the next

thread_local std::unique_ptr<send_batch> instance;
thread_local bool unavailable = false;
thread_local send_batch* open_batch = nullptr;
thread_local const ws_socket* on_offer = nullptr;
thread_local send_batch::shortfall offer_told;

std::atomic<std::uint64_t> submissions_made{0};
std::atomic<std::uint64_t> sends_made{0};
std::atomic<std::uint64_t> short_sends_made{0};

}  // namespace

send_batch::~send_batch() {
  if (ring_) io_uring_queue_exit(ring_.get());
}

send_batch* send_batch::here() {
  if (instance) return instance.get();
  if (unavailable) return nullptr;
  std::unique_ptr<send_batch> b(new send_batch);
  b->ring_ = std::make_unique<::io_uring>();
  // One thread submits, and nothing here needs the kernel to interrupt it for completions.
  int rc = io_uring_queue_init(ring_entries, b->ring_.get(), IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN);
  if (rc == -EINVAL) rc = io_uring_queue_init(ring_entries, b->ring_.get(), 0);  // a kernel before 6.0
  if (rc < 0) {
    // No io_uring here (an old kernel, a seccomp filter, io_uring_disabled): frames are sent one by one.
    b->ring_.reset();
    unavailable = true;
    return nullptr;
  }
  instance = std::move(b);
  return instance.get();
}

void send_batch::open_window() {
  auto* b = here();
  if (b && b->depth_++ == 0) open_batch = b;
}

void send_batch::close_window() {
  auto* b = instance.get();
  if (!b || b->depth_ == 0 || --b->depth_ != 0) return;
  open_batch = nullptr;  // what the sends' completions write goes out at once
  b->submit();
}

void send_batch::forget(const ws_socket* s, std::uint32_t at) {
  auto* b = instance.get();
  if (!b || at == 0) return;
  auto& entries = b->submitting_ ? b->sending_ : b->joined_;
  if (at <= entries.size() && entries[at - 1].s == s) entries[at - 1].s = nullptr;
}

send_batch::offer::offer(const ws_socket* s) : offer(s, shortfall{}) {}
send_batch::offer::offer(const ws_socket* s, shortfall told) {
  on_offer = s;
  offer_told = told;
}
send_batch::offer::~offer() {
  on_offer = nullptr;
  offer_told = {};
}

send_batch* send_batch::offered(const ws_socket* s) { return s == on_offer ? open_batch : nullptr; }
send_batch::shortfall send_batch::offered_told() { return offer_told; }

std::uint32_t send_batch::join_tail(ws_socket* s) {
  joined_.push_back({s, in_tail, 0, {}});
  return static_cast<std::uint32_t>(joined_.size());
}

std::uint32_t send_batch::join_buffer(ws_socket* s, shortfall told) {
  joined_.push_back({s, buffer_.size(), 0, told});
  return static_cast<std::uint32_t>(joined_.size());
}

std::string_view send_batch::to_tail(std::uint32_t at) {
  auto& e = joined_[at - 1];
  std::string_view bytes(buffer_.data() + e.at, e.bytes);
  e.at = in_tail;
  return bytes;
}

std::uint64_t send_batch::submissions() { return submissions_made.load(std::memory_order_relaxed); }
std::uint64_t send_batch::sends() { return sends_made.load(std::memory_order_relaxed); }
std::uint64_t send_batch::short_sends() { return short_sends_made.load(std::memory_order_relaxed); }

void send_batch::submit() {
  // A window opened and closed by a handler below adds to joined_: it is sent after this one.
  if (submitting_) return;
  while (!joined_.empty()) submit_joined();
}

void send_batch::submit_joined() {
  sending_.swap(joined_);
  sending_buffer_.swap(buffer_);
  submitting_ = true;
  results_.assign(sending_.size(), no_result);
  auto* ring = ring_.get();
  std::uint64_t sent = 0, rounds = 0;
  for (std::size_t first = 0; first < sending_.size();) {
    const std::size_t last = std::min(sending_.size(), first + ring_entries);
    unsigned queued = 0;
    for (auto i = first; i < last; ++i) {
      auto& e = sending_[i];
      if (!e.s) continue;  // gone since it joined
      if (!e.s->is_open()) {  // closed since it joined: its bytes go nowhere
        results_[i] = -EBADF;
        continue;
      }
      auto bytes = e.at == in_tail ? e.s->batch_bytes() : std::string_view(sending_buffer_.data() + e.at, e.bytes);
      auto* sqe = io_uring_get_sqe(ring);  // there is room: every round's completions are reaped before the next
      io_uring_prep_send(sqe, e.s->native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      io_uring_sqe_set_data64(sqe, i);
      ++queued;
    }
    if (queued > 0) {
      ++rounds;
      int rc = io_uring_submit(ring);
      unsigned submitted = rc > 0 ? static_cast<unsigned>(rc) : 0;
      // The sends ran inline, within the submission: a non-blocking send never waits for the socket.
      // Should one not have completed yet, it is cancelled and waited for, so that no send outlives
      // the window (the bytes it reads belong to the socket, or to this batch's buffer).
      unsigned reaped = 0, cancels = 0;
      bool cancelled = false;
      while (reaped < submitted) {
        io_uring_cqe* cqe = nullptr;
        if (io_uring_peek_cqe(ring, &cqe) != 0) {
          if (!cancelled) {
            cancelled = true;
            for (auto i = first; i < last; ++i) {
              if (results_[i] != no_result) continue;
              auto* c = io_uring_get_sqe(ring);
              if (!c) break;
              io_uring_prep_cancel64(c, i, 0);
              io_uring_sqe_set_data64(c, cancel_mark | i);
              ++cancels;
            }
            io_uring_submit(ring);
          }
          if (io_uring_wait_cqe(ring, &cqe) != 0) break;
        }
        auto data = io_uring_cqe_get_data64(cqe);
        if (data & cancel_mark) {
          --cancels;
        } else {
          results_[data] = cqe->res;
          ++reaped;
        }
        io_uring_cqe_seen(ring, cqe);
      }
      while (cancels > 0) {  // the cancellations' own completions
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe(ring, &cqe) != 0) break;
        if (io_uring_cqe_get_data64(cqe) & cancel_mark) --cancels;
        io_uring_cqe_seen(ring, cqe);
      }
      sent += reaped;
    }
    first = last;
  }
  submissions_made.fetch_add(rounds, std::memory_order_relaxed);
  sends_made.fetch_add(sent, std::memory_order_relaxed);
  // A send the ring never ran (it refused the submission), or that found the socket full, is left to
  // the socket's flush. Each socket stays findable (forget) until its own result is applied.
  std::uint64_t short_sends = 0;
  for (std::size_t i = 0; i < sending_.size(); ++i) {
    auto& e = sending_[i];
    if (!e.s) continue;
    int result = results_[i];
    if (result == no_result || result == -EAGAIN || result == -ECANCELED) result = 0;  // nothing taken now: the flush waits
    const std::size_t bytes = e.at == in_tail ? e.s->batch_bytes().size() : e.bytes;
    if (result < 0 || static_cast<std::size_t>(result) < bytes) ++short_sends;
    if (e.at == in_tail) e.s->batch_done(result);
    else e.s->buffer_done(result, std::string_view(sending_buffer_.data() + e.at, e.bytes), e.told);
  }
  if (short_sends) short_sends_made.fetch_add(short_sends, std::memory_order_relaxed);
  submitting_ = false;
  sending_.clear();
  sending_buffer_.clear();
  // A window of large frames (a burst of replays, say) does not leave its buffer held for good.
  if (sending_buffer_.capacity() > max_kept_buffer) std::string().swap(sending_buffer_);
}

}  // namespace sg::io
