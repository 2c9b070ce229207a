// Serialization cost of the hot path: one stream_chunk event per token.
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "net/outbound_queue.hpp"
#include "proto/event.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

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
    sg::core::append_json_string(out, text);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AppendJsonString)->Arg(16)->Arg(4096);

// One info line of a stream's end (the fields runner::end writes), to /dev/null. The peer is how a
// line was written before: a boost::json::object filled field by field, the time through gmtime_r
// and strftime, serialized, then written.
namespace {
struct stderr_to_null {
  int saved = ::dup(STDERR_FILENO);
  stderr_to_null() {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDERR_FILENO);
    ::close(null);
  }
  ~stderr_to_null() {
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
  }
};

void log_line_via_json_object(std::string_view msg, std::initializer_list<sg::core::log_field> fields) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  boost::json::object o;
  o["ts"] = buf;
  o["level"] = "info";
  o["msg"] = msg;
  for (auto& f : fields)
    o[f.key] = f.is_text ? boost::json::value(boost::json::string_view(f.text.data(), f.text.size())) : f.value;
  std::string line = boost::json::serialize(o);
  line += '\n';
  if (::write(STDERR_FILENO, line.data(), line.size()) < 0) std::abort();
}

template <class Write>
void stream_end_lines(benchmark::State& state, Write write) {
  stderr_to_null quiet;
  sg::core::set_log_level(sg::core::log_level::info);
  std::string id = "st_MOO8mkzDTwDGMgkW", owner = "anon:c9fb0abe16a1c4629bc3d273f2e7b99f";
  for (auto _ : state)
    write("stream end", {{"streamId", id}, {"owner", owner}, {"requestId", ""}, {"provider", "openai"},
                         {"outcome", "completed"}, {"historySaved", true}, {"ttftMs", 21}, {"chunks", 3},
                         {"durationMs", 26}});
  state.SetItemsProcessed(state.iterations());
}
}  // namespace

static void BM_LogLine(benchmark::State& state) {
  stream_end_lines(state, [](std::string_view m, std::initializer_list<sg::core::log_field> f) { sg::core::log_info(m, f); });
}
BENCHMARK(BM_LogLine);

static void BM_LogLineViaJsonObject(benchmark::State& state) { stream_end_lines(state, log_line_via_json_object); }
BENCHMARK(BM_LogLineViaJsonObject);

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
