// Serialization cost of the hot path: one stream_chunk event per token.
#include "net/outbound_queue.hpp"
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

// A lagging reader's backlog of k chunks of one stream becoming one frame. The peer is the fold of
// merge_chunks, which re-serializes the growing frame on every chunk (how the queue merged before);
// the queue appends each chunk's text and makes the frame once, when it is written.
static std::vector<sg::proto::event_ptr> backlog(std::size_t k) {
  std::vector<sg::proto::event_ptr> out;
  for (std::size_t i = 0; i < k; ++i)
    out.push_back(sg::proto::make_chunk("st_MfAt1-mHBzdxtJbV", 2 + i, " Practical", "project-1",
                                        1795480086700943 + static_cast<std::int64_t>(i) * 50000));
  return out;
}

static void BM_BacklogMergeFold(benchmark::State& state) {
  auto chunks = backlog(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto merged = chunks[0];
    for (std::size_t i = 1; i < chunks.size(); ++i) merged = sg::proto::merge_chunks(*merged, *chunks[i]);
    benchmark::DoNotOptimize(merged);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BacklogMergeFold)->Arg(14)->Arg(1000);

static void BM_BacklogMergeQueue(benchmark::State& state) {
  auto chunks = backlog(static_cast<std::size_t>(state.range(0)));
  auto busy = sg::proto::make_pong("");
  for (auto _ : state) {
    sg::io::outbound_queue q({0, std::size_t{1} << 30});
    q.push(busy);
    q.begin_write();
    for (auto& c : chunks) q.push(c);
    q.end_write();
    benchmark::DoNotOptimize(q.begin_write());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BacklogMergeQueue)->Arg(14)->Arg(1000);
