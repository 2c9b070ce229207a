// The frames one run of a shard's pacer writes, sent together: one io_uring submission for all of
// them instead of a send() system call each.
#pragma once

#include <cstdint>
#include <memory>
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

  /// Marks `s` as the socket whose next synchronous write may join the batch, for the scope.
  class offer {
   public:
    explicit offer(const ws_socket* s);
    ~offer();
    offer(const offer&) = delete;
    offer& operator=(const offer&) = delete;
  };

  /// The calling thread's open batch if `s` is the socket on offer; null otherwise.
  static send_batch* offered(const ws_socket* s);

  /// `s` keeps its tail until the window closes (a socket joins once per window).
  void add(ws_socket* s) { joined_.push_back(s); }
  /// `s` is going away: it leaves the calling thread's open batch, if it joined it.
  static void forget(const ws_socket* s);

  /// For the pacer's run hooks: open and close the calling thread's window (as window does).
  static void open_window();
  static void close_window();

  /// Over the process: submissions made, and frames' tails sent through them.
  static std::uint64_t submissions();
  static std::uint64_t sends();

  ~send_batch();

 private:
  send_batch() = default;
  static send_batch* here();  // the calling thread's, made (and its ring set up) at its first use
  void submit();

  std::unique_ptr<::io_uring> ring_;
  std::vector<ws_socket*> joined_;
  std::vector<ws_socket*> sending_;  // joined_ while they are sent (a completion may join none: the window is closed)
  std::vector<int> results_;
  int depth_ = 0;
};

}  // namespace sg::io
