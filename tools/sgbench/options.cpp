// Parses sgbench's flags and URL into bench_options.
#include "options.hpp"

#include <charconv>
#include <stdexcept>
#include <string_view>

namespace sg::tools {
namespace {

double to_double(const std::string& name, const std::string& v) {
  try {
    std::size_t pos = 0;
    double d = std::stod(v, &pos);
    if (pos != v.size() || d < 0) throw std::invalid_argument("");
    return d;
  } catch (const std::exception&) {
    throw std::invalid_argument("--" + name + ": expected a non-negative number, got '" + v + "'");
  }
}

unsigned to_unsigned(const std::string& name, const std::string& v) {
  unsigned out = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), out);
  if (r.ec != std::errc{} || r.ptr != v.data() + v.size())
    throw std::invalid_argument("--" + name + ": expected a whole number, got '" + v + "'");
  return out;
}

void parse_url(bench_options& o, const std::string& url) {
  std::string_view u = url;
  if (u.rfind("ws://", 0) == 0) {
    o.transport = bench_transport::ws;
    u.remove_prefix(5);
  } else if (u.rfind("http://", 0) == 0) {
    o.transport = bench_transport::sse;
    u.remove_prefix(7);
  } else {
    throw std::invalid_argument("URL must start with ws:// (WebSocket) or http:// (SSE): " + url);
  }
  auto slash = u.find('/');
  std::string_view hostport = u.substr(0, slash);
  o.path = slash == std::string_view::npos ? std::string(o.transport == bench_transport::ws ? "/ws" : "/")
                                           : std::string(u.substr(slash));
  auto colon = hostport.rfind(':');
  if (colon == std::string_view::npos) throw std::invalid_argument("URL needs a port: " + url);
  o.host = std::string(hostport.substr(0, colon));
  if (o.host == "localhost") o.host = "127.0.0.1";
  o.port = static_cast<std::uint16_t>(to_unsigned("url", std::string(hostport.substr(colon + 1))));
  // Load goes to this machine only: a load generator aimed elsewhere is a mistake, not a feature.
  if (o.host.rfind("127.", 0) != 0) throw std::invalid_argument("sgbench targets loopback addresses (127.0.0.0/8) only");
}

}  // namespace

const char* to_string(bench_mode m) {
  switch (m) {
    case bench_mode::idle: return "idle";
    case bench_mode::stream: return "stream";
    case bench_mode::burst: return "burst";
    case bench_mode::slow: return "slow";
  }
  return "?";
}

std::string bench_usage() {
  return R"(sgbench: a load generator for streamgate (and for any server speaking its protocol).

usage: sgbench MODE URL [options]
  MODE  idle    open N connections and hold them: connect rate, server RSS per connection
        stream  N connections, each running one stream after another: TTFT, chunk lateness,
                chunks/s, server CPU per delivered chunk
        burst   N connections with a stream each, all dropped at once and reconnected
                (resuming their stream), --rounds times: reconnect rate, time to resume
        slow    like stream, with a share of clients reading at a tenth of the speed;
                the others' lateness is reported separately
        ttft    sgbench ttft [--requests N] [--warmup N] --target NAME PORT PATH BODY ...:
                one request at a time to each target in turn, time to first token and the
                time outside a stamping fake upstream, every sample as JSON (no URL)
  URL   ws://127.0.0.1:PORT/ws (WebSocket) or http://127.0.0.1:PORT (SSE, POST /v1/streams)

options:
  --connections N      connections (default 100)
  --connect-rate R     new connections per second (default 0 = as fast as --max-pending allows)
  --max-pending N      connections being opened at once (default 256)
  --stream-rate R      first streams started per second (default 0 = all at once)
  --warmup S           seconds after the ramp before measuring (default 2)
  --duration S         seconds measured (idle: held) (default 10)
  --max-time S         hard stop for the whole run (default: derived, at most ramp + 60 s)
  --sources N          spread source addresses over 127.0.0.B … 127.0.0.(B+N-1) (default 16)
  --source-base B      first source address's last byte (default 1)
  --slow-share F       slow mode: share of slow clients (default 0.1)
  --slow-factor F      slow mode: how many times slower they read (default 10)
  --tps T              the server's tokens per second, to size the slow readers (default 20)
  --rounds N           burst mode: drop/reconnect rounds (default 3)
  --burst-after S      burst mode: seconds of streaming before each drop (default 1)
  --no-resume          burst mode: reconnect without resuming (servers without resume)
  --server-pid PID     sample this process's CPU time and RSS from /proc
  --threads N          client threads, each with its own io_context (default 1)
  --project P          projectId of the streams (default bench)
  --input TEXT         userInput of the streams (default bench)
  --json FILE          write the JSON report to FILE ("-" = stdout)
  --no-markdown        do not print the markdown table
  --label TEXT         a label carried into the report
  --openai             the URL is an OpenAI-compatible POST …/chat/completions (stream: true); each
                       chunk's delay is read from the last "|<µs>" stamp in its content, as
                       bench/peers/node-ws/fake-openai.js writes them (for comparing proxies)
  --fail-on-error      exit 3 if any error was counted
  --quiet              no progress lines on stderr
)";
}

bench_options parse_bench_options(int argc, char** argv, bool& help) {
  bench_options o;
  help = false;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      help = true;
      return o;
    }
    if (a.rfind("--", 0) != 0) {
      positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    auto flag = [&](const char* n) { return name == n; };
    if (flag("no-resume")) { o.resume = false; continue; }
    if (flag("no-markdown")) { o.markdown = false; continue; }
    if (flag("fail-on-error")) { o.fail_on_error = true; continue; }
    if (flag("openai")) { o.openai = true; continue; }
    if (flag("quiet")) { o.quiet = true; continue; }
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else {
      if (i + 1 >= argc) throw std::invalid_argument("--" + name + " needs a value");
      value = argv[++i];
    }
    if (flag("connections")) o.connections = to_unsigned(name, value);
    else if (flag("connect-rate")) o.connect_rate = to_double(name, value);
    else if (flag("max-pending")) o.max_pending = to_unsigned(name, value);
    else if (flag("stream-rate")) o.stream_rate = to_double(name, value);
    else if (flag("warmup")) o.warmup_s = to_double(name, value);
    else if (flag("duration")) o.duration_s = to_double(name, value);
    else if (flag("max-time")) o.max_time_s = to_double(name, value);
    else if (flag("sources")) o.sources = to_unsigned(name, value);
    else if (flag("source-base")) o.source_base = to_unsigned(name, value);
    else if (flag("slow-share")) o.slow_share = to_double(name, value);
    else if (flag("slow-factor")) o.slow_factor = to_double(name, value);
    else if (flag("tps")) o.tps = to_double(name, value);
    else if (flag("rounds")) o.rounds = to_unsigned(name, value);
    else if (flag("burst-after")) o.burst_after_s = to_double(name, value);
    else if (flag("server-pid")) o.server_pid = static_cast<int>(to_unsigned(name, value));
    else if (flag("threads")) o.threads = to_unsigned(name, value);
    else if (flag("project")) o.project = value;
    else if (flag("input")) o.input = value;
    else if (flag("json")) o.json_path = value;
    else if (flag("label")) o.label = value;
    else throw std::invalid_argument("unknown option --" + name + " (see --help)");
  }
  if (positional.size() != 2) throw std::invalid_argument("expected MODE and URL (see --help)");
  const auto& m = positional[0];
  if (m == "idle") o.mode = bench_mode::idle;
  else if (m == "stream") o.mode = bench_mode::stream;
  else if (m == "burst") o.mode = bench_mode::burst;
  else if (m == "slow") o.mode = bench_mode::slow;
  else throw std::invalid_argument("unknown mode '" + m + "': idle, stream, burst or slow");
  parse_url(o, positional[1]);
  if (o.openai) {
    if (o.transport != bench_transport::sse) throw std::invalid_argument("--openai needs an http:// URL");
    if (o.path == "/") o.path = "/v1/chat/completions";
    if (o.mode == bench_mode::burst) throw std::invalid_argument("--openai has no resume: use idle, stream or slow");
  }
  if (o.connections == 0) throw std::invalid_argument("--connections must be at least 1");
  if (o.threads == 0 || o.threads > 16) throw std::invalid_argument("--threads must be 1..16");
  if (o.sources == 0 || o.source_base == 0 || o.source_base + o.sources > 255)
    throw std::invalid_argument("--sources/--source-base must stay within 127.0.0.1..127.0.0.254");
  if (o.max_pending == 0) o.max_pending = 1;
  if (o.slow_share > 1) throw std::invalid_argument("--slow-share must be within 0..1");
  if (o.slow_factor < 1) o.slow_factor = 1;
  return o;
}

}  // namespace sg::tools
