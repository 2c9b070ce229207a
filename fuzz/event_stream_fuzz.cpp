// libFuzzer target: the event stream decoder on hostile bytes, split anywhere; what it
// accepts must re-encode to the same frames.
#include "fuzz_chunks.hpp"
#include "provider/aws/event_stream.hpp"

#include <cstdlib>
#include <vector>

namespace {

using namespace sg::provider::aws;

struct outcome {
  std::vector<event_stream_message> messages;
  std::error_code error;
};

outcome run(const std::vector<std::string_view>& chunks) {
  event_stream_limits limits;
  limits.max_message_bytes = 64 * 1024;
  limits.max_headers_bytes = 8 * 1024;
  event_stream_decoder decoder(limits);
  outcome o;
  for (auto c : chunks)
    if ((o.error = decoder.feed(c, o.messages))) return o;
  o.error = decoder.finish();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};
  const outcome whole = run({input});
  const outcome split = run(sg::fuzz::chunks_of(input, data[0]));
  if (whole.error != split.error || whole.messages != split.messages) std::abort();
  // Every accepted frame must survive encode -> decode unchanged.
  for (const auto& m : whole.messages) {
    event_stream_message back;
    if (decode_message(encode_message(m), back) || !(back == m)) std::abort();
  }
  return 0;
}
