// Turns bench_report into JSON (Boost.JSON) and a markdown table; derived figures are computed here once.
#include "report.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <sstream>

namespace sg::tools {
namespace {

namespace json = boost::json;

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

json::object percentiles(const histogram& h, double scale) {
  json::object o;
  o["count"] = h.count();
  o["p50"] = static_cast<double>(h.percentile(50)) / scale;
  o["p90"] = static_cast<double>(h.percentile(90)) / scale;
  o["p99"] = static_cast<double>(h.percentile(99)) / scale;
  o["p999"] = static_cast<double>(h.percentile(99.9)) / scale;
  o["max"] = static_cast<double>(h.max()) / scale;
  o["mean"] = h.mean() / scale;
  return o;
}

std::string fmt(double v, int digits = 1) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::string pct_row(const histogram& h, double scale, int digits) {
  if (h.count() == 0) return "–";
  return fmt(static_cast<double>(h.percentile(50)) / scale, digits) + " / " +
         fmt(static_cast<double>(h.percentile(90)) / scale, digits) + " / " +
         fmt(static_cast<double>(h.percentile(99)) / scale, digits) + " / " +
         fmt(static_cast<double>(h.percentile(99.9)) / scale, digits) + " / " +
         fmt(static_cast<double>(h.max()) / scale, digits);
}

}  // namespace

std::string bench_report::json() const {
  const auto& o = *opt;
  json::object j;
  j["label"] = o.label;
  j["mode"] = to_string(o.mode);
  j["transport"] = o.transport == bench_transport::ws ? "ws" : "sse";
  j["target"] = o.host + ":" + std::to_string(o.port) + o.path;
  j["connections"] = o.connections;
  j["threads"] = o.threads;
  j["connected"] = connected;
  j["still_open"] = still_open;
  j["timed_out"] = timed_out;

  json::object c;
  c["seconds"] = connect_s;
  c["rate_per_s"] = ratio(static_cast<double>(connected), connect_s);
  c["latency_ms"] = percentiles(stats.connect_us, 1000.0);
  c["server_cpu_s"] = connect_server_cpu_s;
  c["server_cpu_us_per_connection"] = ratio(connect_server_cpu_s * 1e6, static_cast<double>(connected));
  c["per_server_cpu_s"] = ratio(static_cast<double>(connected), connect_server_cpu_s);
  j["connect"] = c;

  json::object s;
  s["started"] = stats.streams_started;
  s["completed"] = stats.streams_completed;
  s["cancelled"] = stats.streams_cancelled;
  j["streams"] = s;
  j["ttft_ms"] = percentiles(stats.ttft_us, 1000.0);
  j["lateness_us"] = percentiles(stats.lateness_us, 1.0);
  j["lateness_negative"] = stats.lateness_us.negative() + stats.lateness_slow_us.negative();
  if (o.mode == bench_mode::slow) j["lateness_slow_us"] = percentiles(stats.lateness_slow_us, 1.0);

  std::uint64_t frames = stats.chunk_frames + stats.chunk_frames_slow;
  json::object ch;
  ch["frames"] = frames;
  ch["frames_slow"] = stats.chunk_frames_slow;
  ch["tokens"] = stats.chunk_tokens;
  ch["frames_per_s"] = ratio(static_cast<double>(frames), window_s);
  ch["tokens_per_s"] = ratio(static_cast<double>(stats.chunk_tokens), window_s);
  ch["bytes_in"] = stats.bytes_in;
  j["chunks"] = ch;
  j["window_s"] = window_s;

  json::object sv;
  sv["pid"] = o.server_pid;
  sv["sampled"] = server_before.ok && server_after.ok;
  sv["window_cpu_s"] = server_window_cpu_s;
  sv["cpu_util"] = ratio(server_window_cpu_s, window_s);
  sv["cpu_us_per_chunk"] = ratio(server_window_cpu_s * 1e6, static_cast<double>(frames));
  sv["user_us_per_chunk"] = ratio(server_window_user_s * 1e6, static_cast<double>(frames));
  sv["sys_us_per_chunk"] = ratio(server_window_sys_s * 1e6, static_cast<double>(frames));
  sv["rss_before_kib"] = server_before.rss_kib;
  sv["rss_after_kib"] = server_after.rss_kib;
  sv["rss_peak_kib"] = server_after.hwm_kib;
  sv["rss_per_connection_kib"] =
      ratio(static_cast<double>(server_after.rss_kib - server_before.rss_kib), static_cast<double>(connected));
  j["server"] = sv;

  json::object cl;
  cl["cpu_s"] = client_cpu_s;
  cl["window_cpu_s"] = window_client_cpu_s;
  cl["window_cpu_util"] = ratio(window_client_cpu_s, window_s);
  j["client"] = cl;

  json::object e;
  e["total"] = stats.errors();
  e["connect"] = stats.connect_errors;
  e["handshake"] = stats.handshake_errors;
  e["closed_by_server"] = stats.closed_by_server;
  e["reset"] = stats.reset;
  e["error_events"] = stats.error_events;
  e["seq_gaps"] = stats.seq_gaps;
  e["bad_resume"] = stats.bad_resume;
  json::object codes;
  for (auto& [k, v] : stats.error_codes) codes[k] = v;
  e["codes"] = codes;
  j["errors"] = e;

  if (o.mode == bench_mode::burst) {
    json::array rs;
    for (auto& r : rounds) {
      json::object x;
      x["dropped"] = r.dropped;
      x["reconnected"] = r.reconnected;
      x["resumed"] = r.resumed;
      x["seconds"] = r.seconds;
      x["rate_per_s"] = ratio(static_cast<double>(r.reconnected), r.seconds);
      x["server_cpu_us_per_reconnect"] = ratio(r.server_cpu_s * 1e6, static_cast<double>(r.reconnected));
      rs.push_back(x);
    }
    j["rounds"] = rs;
    j["resume_ms"] = percentiles(stats.resume_us, 1000.0);
  }
  return json::serialize(j);
}

std::string bench_report::markdown() const {
  const auto& o = *opt;
  std::ostringstream m;
  std::uint64_t frames = stats.chunk_frames + stats.chunk_frames_slow;
  m << "\n| " << (o.label.empty() ? std::string("sgbench ") + to_string(o.mode) : o.label) << " | |\n|---|---|\n";
  m << "| mode / transport | " << to_string(o.mode) << " / " << (o.transport == bench_transport::ws ? "WebSocket" : "SSE")
    << " |\n";
  m << "| connections (open at end) | " << connected << " of " << o.connections << " (" << still_open << ") |\n";
  m << "| connect rate | " << fmt(ratio(static_cast<double>(connected), connect_s), 0) << "/s over "
    << fmt(connect_s, 2) << " s; server " << fmt(ratio(connect_server_cpu_s * 1e6, static_cast<double>(connected)), 1)
    << " µs CPU each |\n";
  m << "| connect latency ms p50 / p90 / p99 / p99.9 / max | " << pct_row(stats.connect_us, 1000.0, 2) << " |\n";
  if (o.mode != bench_mode::idle) {
    m << "| streams started / completed | " << stats.streams_started << " / " << stats.streams_completed << " |\n";
    m << "| TTFT ms p50 / p90 / p99 / p99.9 / max | " << pct_row(stats.ttft_us, 1000.0, 1) << " |\n";
  }
  if (o.mode == bench_mode::stream || o.mode == bench_mode::slow) {
    m << "| chunk lateness µs p50 / p90 / p99 / p99.9 / max" << (o.mode == bench_mode::slow ? " (normal clients)" : "")
      << " | " << pct_row(stats.lateness_us, 1.0, 0) << " |\n";
    if (o.mode == bench_mode::slow)
      m << "| chunk lateness µs, slow clients | " << pct_row(stats.lateness_slow_us, 1.0, 0) << " |\n";
    m << "| chunk events delivered | " << frames << " (" << fmt(ratio(static_cast<double>(frames), window_s), 0)
      << "/s, " << stats.chunk_tokens << " tokens) |\n";
    m << "| server CPU | " << fmt(ratio(server_window_cpu_s, window_s) * 100, 1) << "% of a core; "
      << fmt(ratio(server_window_cpu_s * 1e6, static_cast<double>(frames)), 2) << " µs per chunk ("
      << fmt(ratio(server_window_user_s * 1e6, static_cast<double>(frames)), 2) << " user + "
      << fmt(ratio(server_window_sys_s * 1e6, static_cast<double>(frames)), 2) << " kernel) |\n";
    m << "| sgbench CPU | " << fmt(ratio(window_client_cpu_s, window_s) * 100, 1) << "% of a core |\n";
  }
  if (o.mode == bench_mode::burst) {
    for (std::size_t i = 0; i < rounds.size(); ++i) {
      auto& r = rounds[i];
      m << "| round " << i + 1 << " | " << r.reconnected << " of " << r.dropped << " back in " << fmt(r.seconds, 2)
        << " s (" << fmt(ratio(static_cast<double>(r.reconnected), r.seconds), 0) << "/s), " << r.resumed
        << " resumed; server " << fmt(ratio(r.server_cpu_s * 1e6, static_cast<double>(r.reconnected)), 1)
        << " µs CPU each |\n";
    }
    m << "| resume ms p50 / p90 / p99 / p99.9 / max | " << pct_row(stats.resume_us, 1000.0, 1) << " |\n";
  }
  if (server_before.ok && server_after.ok) {
    m << "| server RSS | " << server_before.rss_kib / 1024 << " → " << server_after.rss_kib / 1024 << " MiB; "
      << fmt(ratio(static_cast<double>(server_after.rss_kib - server_before.rss_kib), static_cast<double>(connected)), 2)
      << " KiB per connection |\n";
  }
  m << "| errors | " << stats.errors();
  if (stats.errors()) {
    m << " (connect " << stats.connect_errors << ", handshake " << stats.handshake_errors << ", closed "
      << stats.closed_by_server << ", reset " << stats.reset << ", error events " << stats.error_events << ", gaps "
      << stats.seq_gaps << ", bad resume " << stats.bad_resume << ")";
    for (auto& [k, v] : stats.error_codes) m << " " << k << "×" << v;
  }
  m << (timed_out ? "; timed out" : "") << " |\n";
  return m.str();
}

}  // namespace sg::tools
