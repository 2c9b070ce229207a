// sgbench's command line: the run's shape (mode, connections, rates, durations) and where to report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sg::tools {

enum class bench_mode { idle, stream, burst, slow };
enum class bench_transport { ws, sse };

struct bench_options {
  bench_mode mode = bench_mode::stream;
  bench_transport transport = bench_transport::ws;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string path = "/ws";
  unsigned connections = 100;
  double connect_rate = 0;   // new connections per second; 0 = as fast as max_pending allows
  unsigned max_pending = 256;  // connections being opened at once (bounds SYN backlog overflow)
  double stream_rate = 0;    // first streams started per second; 0 = all at once
  double warmup_s = 2;
  double duration_s = 10;
  double max_time_s = 0;     // hard stop for the whole run; 0 = derived from the others
  unsigned sources = 16;     // source addresses 127.0.0.<source_base>…
  unsigned source_base = 1;
  double slow_share = 0.1;   // slow mode: share of clients that read slowly
  double slow_factor = 10;   // slow mode: they read this many times slower than the stream
  double tps = 20;           // the server's demo pace, to size the slow readers' rate
  unsigned rounds = 3;       // burst mode: drop-and-reconnect rounds
  double burst_after_s = 1;  // burst mode: seconds of streaming before each drop
  bool resume = true;        // burst mode: resume the stream after reconnecting
  int server_pid = 0;
  unsigned threads = 1;
  std::string json_path;     // write the JSON report here ("-" = stdout)
  bool markdown = true;      // print the markdown table on stdout
  std::string label;
  std::string project = "bench";
  std::string input = "bench";
  bool fail_on_error = false;
  bool openai = false;       // SSE in OpenAI's chat.completion.chunk format, timed by "|<µs>" send stamps
  bool quiet = false;
};

/// Parses argv; throws std::invalid_argument with a message on bad input. Sets `help` for --help.
bench_options parse_bench_options(int argc, char** argv, bool& help);
std::string bench_usage();
const char* to_string(bench_mode m);

}  // namespace sg::tools
