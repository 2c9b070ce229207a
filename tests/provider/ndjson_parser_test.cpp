// ndjson_parser: Ollama-style streams in every chunking, CRLF, blank lines, limits, bad lines.
#include "provider/parse/ndjson_parser.hpp"

#include "chunking.hpp"
#include "provider/parse/parse_error.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sg::provider {
namespace {

// A compact summary of the items, so one EXPECT_EQ shows the whole outcome.
std::vector<std::string> summarize(const std::vector<ndjson_item>& items) {
  std::vector<std::string> out;
  for (const auto& it : items) {
    if (it.error) {
      out.push_back(std::to_string(it.line) + ":error:" +
                    (it.error == parse_errc::line_too_long ? "too_long" : "invalid_json"));
    } else {
      out.push_back(std::to_string(it.line) + ":" + boost::json::serialize(it.value));
    }
  }
  return out;
}

std::vector<std::string> parse_all(const std::vector<std::string_view>& chunks,
                                   std::size_t max_line = ndjson_parser::default_max_line_bytes) {
  ndjson_parser parser(max_line);
  std::vector<ndjson_item> items;
  for (auto c : chunks) parser.feed(c, items);
  parser.finish(items);
  return summarize(items);
}

void expect_in_every_chunking(const std::string& input, const std::vector<std::string>& expected,
                              std::size_t max_line = ndjson_parser::default_max_line_bytes) {
  for (const auto& chunking : test::all_chunkings(input)) {
    SCOPED_TRACE(chunking.name);
    EXPECT_EQ(parse_all(chunking.chunks, max_line), expected);
  }
}

TEST(NdjsonParser, OllamaChatStream) {
  const std::string body =
      R"({"model":"llama3","message":{"role":"assistant","content":"Hel"},"done":false})" "\n"
      R"({"model":"llama3","message":{"role":"assistant","content":"lo"},"done":false})" "\n"
      R"({"model":"llama3","done":true,"eval_count":2})" "\n";
  expect_in_every_chunking(
      body, {R"(1:{"model":"llama3","message":{"role":"assistant","content":"Hel"},"done":false})",
             R"(2:{"model":"llama3","message":{"role":"assistant","content":"lo"},"done":false})",
             R"(3:{"model":"llama3","done":true,"eval_count":2})"});
}

TEST(NdjsonParser, CrLfAndBlankLinesAndFinalLineWithoutNewline) {
  expect_in_every_chunking("{\"a\":1}\r\n\r\n\n  \t\r\n[1,2]\n\"s\"\r\n42",
                           {"1:{\"a\":1}", "5:[1,2]", "6:\"s\"", "7:42"});
}

TEST(NdjsonParser, BadLineIsReportedAndParsingContinues) {
  expect_in_every_chunking("{\"a\":1}\n{\"a\":\n{\"b\":2} trailing\n[3]\n",
                           {"1:{\"a\":1}", "2:error:invalid_json", "3:error:invalid_json", "4:[3]"});
}

TEST(NdjsonParser, BadLineHasDetail) {
  ndjson_parser parser;
  auto items = parser.feed("{oops}\n");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].error, parse_errc::invalid_json);
  EXPECT_FALSE(items[0].detail.empty());
  EXPECT_TRUE(items[0].value.is_null());
}

TEST(NdjsonParser, UnterminatedBadFinalLine) {
  expect_in_every_chunking("[1]\n{\"a\"", {"1:[1]", "2:error:invalid_json"});
}

TEST(NdjsonParser, LongLineIsRejectedOnceAndSkipped) {
  const std::string long_line = "[\"" + std::string(40, 'x') + "\"]";  // 44 bytes
  expect_in_every_chunking("[1]\n" + long_line + "\n[2]\n", {"1:[1]", "2:error:too_long", "3:[2]"}, 16);
}

TEST(NdjsonParser, LongFinalLineWithoutNewline) {
  expect_in_every_chunking("[1]\n[" + std::string(30, '1') + "]", {"1:[1]", "2:error:too_long"}, 16);
}

TEST(NdjsonParser, LineAtTheLimitIsAccepted) {
  expect_in_every_chunking("[\"0123456789ab\"]\n", {"1:[\"0123456789ab\"]"}, 16);
}

TEST(NdjsonParser, ErrorMessageNamesTheLimit) {
  ndjson_parser parser(8);
  auto items = parser.feed("[1,2,3,4,5]\n");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].error, parse_errc::line_too_long);
  EXPECT_NE(items[0].detail.find("8 bytes"), std::string::npos);
  EXPECT_NE(items[0].error.message().find("maximum"), std::string::npos);
}

TEST(NdjsonParser, ValuesOutliveTheParser) {
  std::vector<ndjson_item> items;
  {
    ndjson_parser parser;
    items = parser.feed("{\"k\":\"a long enough string to need the heap\"}\n");
  }
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].value.at("k").as_string(), "a long enough string to need the heap");
}

TEST(NdjsonParser, FinishResetsForReuse) {
  ndjson_parser parser;
  auto first = parser.feed("[1]\n[2");
  auto last = parser.finish();
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].line, 2u);
  auto again = parser.feed("[3]\n");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].line, 1u);
  EXPECT_TRUE(parser.finish().empty());
}

}  // namespace
}  // namespace sg::provider
