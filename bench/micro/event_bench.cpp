// Serialization cost of the hot path: one stream_chunk event per token.
#include "proto/event.hpp"

#include <benchmark/benchmark.h>

static void BM_MakeChunk(benchmark::State& state) {
  std::string token = " Practical";
  for (auto _ : state) {
    auto ev = sg::proto::make_chunk("st_MfAt1-mHBzdxtJbV", 42, token, "project-1", 1795480086700943);
    benchmark::DoNotOptimize(ev);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MakeChunk);

static void BM_AppendJsonString(benchmark::State& state) {
  std::string text(static_cast<std::size_t>(state.range(0)), 'a');
  for (std::size_t i = 0; i < text.size(); i += 40) text[i] = '\n';
  std::string out;
  for (auto _ : state) {
    out.clear();
    sg::proto::append_json_string(out, text);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AppendJsonString)->Arg(16)->Arg(4096);
