// libFuzzer target: ndjson_parser must never crash or throw, whatever the bytes and splits.
#include "fuzz_chunks.hpp"
#include "provider/parse/ndjson_parser.hpp"

#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <string>
#include <vector>

namespace {

std::vector<std::string> run(const std::vector<std::string_view>& chunks) {
  sg::provider::ndjson_parser parser(128);
  std::vector<sg::provider::ndjson_item> items;
  for (auto c : chunks) parser.feed(c, items);
  parser.finish(items);
  std::vector<std::string> out;
  for (const auto& it : items)
    out.push_back(std::to_string(it.line) + ':' +
                  (it.error ? it.error.message() : boost::json::serialize(it.value)));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};
  if (run({input}) != run(sg::fuzz::chunks_of(input, data[0]))) std::abort();
  return 0;
}
