// /metrics is valid Prometheus text (checked by the reference parser) and its values move with traffic.
#include "integration/harness.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace sg::test {
namespace {

// Runs the Prometheus client's parser over `body`; returns its sample lines, or nullopt if it refused.
std::optional<std::map<std::string, double>> parse_with_prometheus(const std::string& body) {
  char path[] = "/tmp/streamgate-metrics-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return std::nullopt;
  { std::ofstream(path) << body; }
  close(fd);
  std::string cmd = std::string("/usr/bin/python3 ") + SG_SOURCE_DIR + "/tests/metrics/parse_metrics.py < " + path;
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = pclose(p);
  std::remove(path);
  if (status != 0) return std::nullopt;
  std::map<std::string, double> samples;
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto nl = out.find('\n', pos);
    auto line = out.substr(pos, nl - pos);
    pos = nl == std::string::npos ? out.size() : nl + 1;
    auto sp = line.rfind(' ');
    if (sp != std::string::npos) samples[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return samples;
}

TEST(Metrics, ReferenceParserAcceptsItAndValuesFollowTraffic) {
  server_process srv({"--demo-ttft-ms", "5", "--demo-tokens-per-second", "400", "--rate-tokens-per-minute", "100"});
  ws_client c(srv.port());
  c.send_json(stream_request("count me"));
  c.read_until("stream_complete");
  c.send_json(stream_request("over quota"));
  EXPECT_EQ(c.read().at("code"), "rate_limited");
  c.send("{not json");
  c.read();
  http_request(srv.port(), http::verb::get, "/v1/projects", {}, {{"Origin", "https://elsewhere.example"}});

  auto samples = parse_with_prometheus(http_request(srv.port(), http::verb::get, "/metrics").body);
  ASSERT_TRUE(samples) << "the Prometheus parser refused /metrics";
  auto& m = *samples;
  EXPECT_EQ(m["streamgate_connections_active{transport=\"websocket\"}"], 1);
  EXPECT_EQ(m["streamgate_streams_total{outcome=\"completed\"}"], 1);
  EXPECT_EQ(m["streamgate_upstream_requests_total{provider=\"demo\"}"], 1);
  EXPECT_EQ(m["streamgate_time_to_first_token_seconds_count{}"], 1);
  EXPECT_GT(m["streamgate_inter_chunk_seconds_count{}"], 50);
  EXPECT_GT(m["streamgate_chunk_lateness_seconds_count{}"], 0);
  EXPECT_GT(m["streamgate_event_loop_lag_seconds_count{}"], 0);  // the demo's pacing ticks
  EXPECT_GT(m["streamgate_store_op_seconds_count{}"], 0);
  EXPECT_EQ(m["streamgate_rate_limited_total{limit=\"tokens\"}"], 1);
  EXPECT_EQ(m["streamgate_bad_messages_total{}"], 1);
  EXPECT_EQ(m["streamgate_origin_refusals_total{}"], 1);
  EXPECT_GT(m["streamgate_chunks_total{}"], 50);
}

TEST(Metrics, ParserRefusesMalformedText) {
  // The check is only worth something if the parser can say no.
  EXPECT_FALSE(parse_with_prometheus("# TYPE x counter\nx{a=\"1\" 2\n"));
}

}  // namespace
}  // namespace sg::test
