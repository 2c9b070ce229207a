// One load-generating thread: its io_context, its share of the clients and the statistics they gather.
#pragma once

#include "histogram.hpp"
#include "options.hpp"

#include "core/asio.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sg::tools {

/// What a worker's clients measured; merged across workers once they have stopped.
struct bench_stats {
  histogram connect_us;    // TCP connect to protocol-ready (WebSocket: the `connected` event)
  histogram ttft_us;       // stream request written to first stream_chunk
  histogram lateness_us;   // chunk arrival minus its dueUs, normal clients
  histogram lateness_slow_us;
  histogram resume_us;     // burst: reconnect start to the first resumed event
  std::uint64_t connect_errors = 0, handshake_errors = 0, closed_by_server = 0, reset = 0;
  std::uint64_t error_events = 0, seq_gaps = 0, bad_resume = 0;
  std::uint64_t streams_started = 0, streams_completed = 0, streams_cancelled = 0;
  std::uint64_t chunk_frames = 0, chunk_tokens = 0, chunk_frames_slow = 0, bytes_in = 0;
  std::map<std::string, std::uint64_t> error_codes;
  void merge(const bench_stats& o);
  std::uint64_t errors() const {
    return connect_errors + handshake_errors + closed_by_server + reset + error_events + seq_gaps + bad_resume;
  }
};

class worker;
class client;

/// Flags every worker reads; set by the coordinator thread.
struct bench_control {
  std::atomic<bool> recording{false};    // samples and counters count only inside the window
  std::atomic<bool> restart{true};       // a finished stream is followed by the next one
  std::atomic<bool> lateness{true};      // burst mode replays on purpose: its lateness is meaningless
};

class worker {
 public:
  worker(const bench_options& opt, bench_control& ctl, unsigned index, unsigned count);
  ~worker();
  worker(const worker&) = delete;

  /// Runs the io_context on a new thread.
  void start();
  /// Stops the io_context and joins; stats are then safe to read.
  void join();

  // The coordinator's commands, posted into this worker's io_context.
  void begin_connect();
  void begin_streams();
  void drop_and_reconnect();
  void close_all();

  // Progress, readable from any thread.
  std::atomic<std::uint64_t> open_{0};         // connections protocol-ready now
  std::atomic<std::uint64_t> settled_{0};      // connection attempts finished (ok or failed) this phase
  std::atomic<std::uint64_t> started_{0};      // first streams started
  std::atomic<std::uint64_t> resumed_{0};      // burst: clients back in their stream (or given up)
  std::atomic<std::uint64_t> to_resume_{0};    // burst: clients that had a stream when dropped
  std::atomic<std::uint64_t> dropped_{0};       // burst: clients dropped this round, to reconnect
  std::atomic<std::int64_t> first_connect_us_{0}, last_open_us_{0};

  bench_stats stats_;
  const bench_options& opt_;
  bench_control& ctl_;
  net::io_context ioc_{1};

 private:
  friend class client;
  void tick();
  void arm_tick();
  /// A connection attempt ended (open, or failed): frees its pending slot.
  void connect_done(bool ok);

  unsigned index_;
  std::vector<std::unique_ptr<client>> clients_;
  std::deque<client*> connect_queue_;
  std::deque<client*> stream_queue_;
  unsigned pending_connects_ = 0;
  unsigned max_pending_;
  double connect_rate_, stream_rate_;
  std::int64_t connect_epoch_us_ = 0, stream_epoch_us_ = 0;
  std::uint64_t connects_issued_ = 0, streams_issued_ = 0;
  net::steady_timer tick_timer_;
  bool ticking_ = false;
  bool in_tick_ = false;
  bool streams_begun_ = false;
  std::thread thread_;
};

}  // namespace sg::tools
