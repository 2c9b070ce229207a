// The frames one run of a shard's pacer writes, sent together: one io_uring submission for all of
// them instead of a send() system call each.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct io_uring;

namespace sg::io {

class ws_socket;

/// One per I/O thread, made at its first window. While a window is open (the pacer runs its
/// callbacks in one), a WebSocket frame the session writes at once (basic_ws_session::write_at_once)
/// is not sent: its socket keeps it as its tail and joins the batch. When the window closes, every
/// socket's tail goes out in one `io_uring_enter`, each as a non-blocking send (MSG_DONTWAIT: the
/// kernel sends what the socket takes at once and never waits). A socket whose tail was sent whole
/// is at rest again; one that took part of it, or none, writes the rest through its flush, as after
/// a short send; an error goes to the session's write handler.
///
/// A write offered with a `shortfall` handler (the session's) goes into the batch's own buffer
/// instead, and the socket keeps no state for it: a frame the socket takes whole, as nearly every one
/// is, costs no allocation, no handler and no write in flight; the session counts it as written. A
/// frame written right after it to the same socket joins it there. Only when the submission is back
/// is the handler told, and only if the socket did not take it all: with no error, the socket now
/// keeps the rest as its tail for the session to flush (ws_socket::async_flush); with an error, the
/// socket's. Any other write to that socket within the window (after another socket's frame, or
/// one of Beast's) first moves the waiting bytes into the socket's tail, as without a handler.
///
/// On this machine a send() costs about 1 µs of system-call entry and return alone; at 500 streams
/// a pacer run writes about ten frames, and the submission pays that once for all of them.
/// Where io_uring cannot be set up (a kernel without it, a seccomp filter that refuses it) nothing is
/// batched and every frame is sent as before.
class send_batch {
 public:
  /// Opens the calling thread's batch for the scope (nested windows join the outer one); its end
  /// sends what joined.
  class window {
   public:
    window() { open_window(); }
    ~window() { close_window(); }
    window(const window&) = delete;
    window& operator=(const window&) = delete;
  };

  /// What a write left in the batch's buffer calls when the socket did not take it all (see above).
  /// Runs on the window's thread once the submission is back; a handler writes to its own socket only.
  struct shortfall {
    void (*fn)(void* ctx, const boost::system::error_code& ec) = nullptr;
    void* ctx = nullptr;
  };

  /// Marks `s` as the socket whose next synchronous write may join the batch, for the scope; with
  /// `told`, it joins through the batch's buffer.
  class offer {
   public:
    explicit offer(const ws_socket* s);
    offer(const ws_socket* s, shortfall told);
    ~offer();
    offer(const offer&) = delete;
    offer& operator=(const offer&) = delete;
  };

  /// The calling thread's open batch if `s` is the socket on offer; null otherwise.
  static send_batch* offered(const ws_socket* s);

  /// `s` is going away: it leaves the calling thread's batch, where it joined as `at` (see ws_socket).
  static void forget(const ws_socket* s, std::uint32_t at);

  /// For the pacer's run hooks: open and close the calling thread's window (as window does).
  static void open_window();
  static void close_window();

  /// Over the process: submissions made, frames' tails sent through them, and the sends the socket
  /// did not take whole (a reader too slow for its socket's buffer, or an error): their rest went
  /// through the socket's flush.
  static std::uint64_t submissions();
  static std::uint64_t sends();
  static std::uint64_t short_sends();

  ~send_batch();

 private:
  friend class ws_socket;
  static constexpr std::size_t in_tail = static_cast<std::size_t>(-1);
  struct entry {
    ws_socket* s;             // null once gone
    std::size_t at;           // where its bytes start in the buffer, or in_tail: they are its socket's tail
    std::size_t bytes;
    shortfall told;
  };

  send_batch() = default;
  static send_batch* here();  // the calling thread's, made (and its ring set up) at its first use
  void submit();
  void submit_joined();

  // For ws_socket. Entries are numbered from 1 (0: not in the batch).
  static shortfall offered_told();  // the handler of the write on offer
  std::uint32_t join_tail(ws_socket* s);                   // `s` keeps its bytes as its tail
  std::uint32_t join_buffer(ws_socket* s, shortfall told);  // `s` puts them in the buffer, appended next
  // `at`'s bytes are the buffer's last: what is appended next grows them.
  bool last_in_buffer(std::uint32_t at) const {
    return at == joined_.size() && joined_.back().at != in_tail;
  }
  void append(const void* data, std::size_t n) {
    buffer_.append(static_cast<const char*>(data), n);
    joined_.back().bytes += n;
  }
  // `at`'s bytes in the buffer, which its socket takes as its tail from now on.
  std::string_view to_tail(std::uint32_t at);

  std::unique_ptr<::io_uring> ring_;
  std::vector<entry> joined_;
  std::vector<entry> sending_;  // joined_ while they are sent (a completion may join none: the window is closed)
  std::string buffer_;          // the frames of entries not in a tail, back to back
  std::string sending_buffer_;  // buffer_ while they are sent
  std::vector<int> results_;
  int depth_ = 0;
  bool submitting_ = false;
};

}  // namespace sg::io
