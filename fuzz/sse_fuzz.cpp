// libFuzzer target: sse_parser must never crash and must not depend on how bytes are split.
#include "fuzz_chunks.hpp"
#include "provider/parse/sse_parser.hpp"

#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct outcome {
  std::vector<std::string> events;  // type, data and id joined, one entry per event
  std::string last_event_id;
  std::error_code error;
  bool operator==(const outcome&) const = default;
};

outcome run(const std::vector<std::string_view>& chunks) {
  outcome o;
  sg::provider::sse_parser parser(
      [&](const sg::provider::sse_event& e) {
        o.events.push_back(std::string{e.type} + '\x1f' + std::string{e.data} + '\x1f' +
                           std::string{e.last_event_id});
      },
      sg::provider::sse_limits{256, 1024});
  for (auto c : chunks)
    if ((o.error = parser.feed(c))) break;
  parser.finish();
  o.last_event_id = parser.last_event_id();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};
  const outcome whole = run({input});
  const outcome split = run(sg::fuzz::chunks_of(input, data[0]));
  // An error may surface at a different event boundary only if it is the same error.
  if (whole.error != split.error) std::abort();
  if (!whole.error && !(whole == split)) std::abort();
  return 0;
}
