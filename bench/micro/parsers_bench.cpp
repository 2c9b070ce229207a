// Throughput of the provider stream parsers (SSE, NDJSON, AWS event stream) and SigV4 signing.
#include "provider/aws/crc32.hpp"
#include "provider/aws/event_stream.hpp"
#include "provider/aws/sigv4.hpp"
#include "provider/openai/openai_protocol.hpp"
#include "provider/parse/ndjson_parser.hpp"
#include "provider/parse/sse_parser.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace sg::provider;

// Upstream bodies arrive in TLS-record-sized reads; the chunk size is the benchmark argument.
template <typename Feed>
void feed_in_chunks(const std::string& body, std::size_t chunk, Feed&& feed) {
  for (std::size_t i = 0; i < body.size(); i += chunk)
    feed(std::string_view{body}.substr(i, chunk));
}

// An OpenAI chat.completion.chunk stream: many small events.
std::string openai_sse_body(std::size_t events) {
  std::string body;
  for (std::size_t i = 0; i < events; ++i) {
    body += "data: {\"id\":\"chatcmpl-9x1Yz\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,"
            "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token";
    body += std::to_string(i);
    body += "\"},\"finish_reason\":null}]}\n\n";
    if (i % 50 == 0) body += ": keep-alive\n\n";
  }
  body += "data: [DONE]\n\n";
  return body;
}

// Fewer, large events (tool-call arguments, long JSON), where line scanning dominates.
std::string large_sse_body(std::size_t events, std::size_t data_bytes) {
  std::string body;
  for (std::size_t i = 0; i < events; ++i) {
    body += "event: content_block_delta\r\ndata: {\"partial_json\":\"";
    body.append(data_bytes, 'x');
    body += "\"}\r\n\r\n";
  }
  return body;
}

void BM_SseParse(benchmark::State& state, std::string body) {
  const auto chunk = static_cast<std::size_t>(state.range(0));
  std::size_t events = 0;
  sse_parser parser([&](const sse_event& e) { benchmark::DoNotOptimize(e.data.data()); ++events; });
  for (auto _ : state) {
    feed_in_chunks(body, chunk, [&](std::string_view c) { (void)parser.feed(c); });
    parser.finish();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
  state.counters["events"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_SseParse, openai_small_events, openai_sse_body(2000))->Arg(64)->Arg(1024)->Arg(16384);
BENCHMARK_CAPTURE(BM_SseParse, large_events_8k, large_sse_body(64, 8192))->Arg(1024)->Arg(16384);

// The OpenAI decoder as a proxied completion runs it: one read per event (the upstream writes each
// token as it comes), SSE framing and the chunk's JSON to deltas. The events are chat.completion.chunk
// objects as the official API sends them; the time is per event.
std::vector<std::string> openai_api_events(std::size_t events) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < events; ++i)
    out.push_back("data: {\"id\":\"chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012\",\"object\":\"chat.completion.chunk\","
                  "\"created\":1733600000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_0aa8d3e20b\","
                  "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token" + std::to_string(i) +
                  "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
  return out;
}

void BM_OpenAiDecodeEvent(benchmark::State& state) {
  const auto events = openai_api_events(256);
  std::size_t delivered = 0;
  for (auto _ : state) {
    auto decoder = openai::make_decoder("openai");
    decoded out;
    for (auto& e : events) {
      out.clear();
      decoder->feed(e, out);
      delivered += out.deltas.size();
    }
  }
  if (delivered != state.iterations() * events.size()) state.SkipWithError("a delta was lost");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * events.size()));
}
BENCHMARK(BM_OpenAiDecodeEvent);

std::string ollama_ndjson_body(std::size_t lines) {
  std::string body;
  for (std::size_t i = 0; i < lines; ++i) {
    body += "{\"model\":\"llama3.1\",\"created_at\":\"2024-07-01T12:00:00.000000Z\",\"message\":"
            "{\"role\":\"assistant\",\"content\":\" token";
    body += std::to_string(i);
    body += "\"},\"done\":false}\n";
  }
  body += "{\"model\":\"llama3.1\",\"done\":true,\"total_duration\":123456789,\"eval_count\":";
  body += std::to_string(lines);
  body += "}\n";
  return body;
}

void BM_NdjsonParse(benchmark::State& state) {
  const std::string body = ollama_ndjson_body(2000);
  const auto chunk = static_cast<std::size_t>(state.range(0));
  ndjson_parser parser;
  std::vector<ndjson_item> items;
  for (auto _ : state) {
    feed_in_chunks(body, chunk, [&](std::string_view c) {
      parser.feed(c, items);
      items.clear();
    });
    parser.finish(items);
    items.clear();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_NdjsonParse)->Arg(64)->Arg(1024)->Arg(16384);

// A Bedrock InvokeModelWithResponseStream body: "chunk" events carrying base64 JSON.
std::string bedrock_body(std::size_t frames, std::size_t payload_bytes) {
  std::string body;
  for (std::size_t i = 0; i < frames; ++i) {
    aws::event_stream_message m;
    m.headers = {{":event-type", std::string{"chunk"}},
                 {":content-type", std::string{"application/json"}},
                 {":message-type", std::string{"event"}}};
    m.payload = "{\"bytes\":\"" + std::string(payload_bytes, 'Q') + "\",\"p\":\"abcdefgh\"}";
    body += aws::encode_message(m);
  }
  return body;
}

void BM_EventStreamDecode(benchmark::State& state, std::string body) {
  const auto chunk = static_cast<std::size_t>(state.range(0));
  aws::event_stream_decoder decoder;
  std::vector<aws::event_stream_message> out;
  for (auto _ : state) {
    feed_in_chunks(body, chunk, [&](std::string_view c) {
      (void)decoder.feed(c, out);
      out.clear();
    });
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK_CAPTURE(BM_EventStreamDecode, bedrock_small_frames, bedrock_body(2000, 160))
    ->Arg(64)->Arg(1024)->Arg(16384);
BENCHMARK_CAPTURE(BM_EventStreamDecode, large_frames_64k, bedrock_body(32, 65536))->Arg(16384);

void BM_Crc32(benchmark::State& state) {
  const std::string data(static_cast<std::size_t>(state.range(0)), 'c');
  for (auto _ : state) benchmark::DoNotOptimize(aws::crc32(data));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Crc32)->Arg(256)->Arg(65536);

void BM_SigV4Sign(benchmark::State& state) {
  using namespace std::chrono;
  aws::sigv4_request req;
  req.method = "POST";
  req.path = "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/invoke-with-response-stream";
  req.headers = {{"host", "bedrock-runtime.us-east-1.amazonaws.com"},
                 {"content-type", "application/json"},
                 {"accept", "application/vnd.amazon.eventstream"}};
  const std::string body(2048, 'b');
  req.body = body;
  const aws::credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token"};
  aws::sigv4_options opt;
  opt.region = "us-east-1";
  opt.service = "bedrock";
  opt.time = sys_days{2024y / June / 1} + 12h;
  for (auto _ : state) benchmark::DoNotOptimize(aws::sign_request(req, creds, opt));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_SigV4Sign);

}  // namespace
