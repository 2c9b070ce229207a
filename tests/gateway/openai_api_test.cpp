// The OpenAI-compatible surface without sockets: request parsing and the chat.completion.chunk framing.
#include "gateway/openai_api.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace sg::gateway::openai_api {
namespace {

namespace json = boost::json;

// What the formatter appends for one event.
std::string format(const event_formatter& f, const proto::event& ev) {
  std::string out;
  f(ev, out);
  return out;
}

TEST(OpenAiApi, ParsesMessagesIntoAStreamRequest) {
  auto r = parse_chat_request(R"({"model":"openai/gpt-x","stream":true,"stream_options":{"include_usage":true},
    "messages":[{"role":"developer","content":"Be terse."},{"role":"user","content":"hi"},
                {"role":"assistant","content":"hello"},{"role":"user","content":[{"type":"text","text":"name "},{"type":"text","text":"it"}]}]})");
  ASSERT_TRUE(r.has_value());
  auto& c = *r;
  EXPECT_EQ(c.model, "openai/gpt-x");
  EXPECT_TRUE(c.stream_mode);
  EXPECT_TRUE(c.include_usage);
  EXPECT_EQ(c.stream.user_input, "name it");
  ASSERT_EQ(c.stream.history.size(), 3u);
  EXPECT_EQ(c.stream.history[0].role, "system");
  EXPECT_EQ(c.stream.history[0].content, "Be terse.");
  // No project named: nothing is recorded and no cards are read, so no store round trip precedes generation.
  EXPECT_FALSE(c.stream.record);
  EXPECT_FALSE(c.stream.read_cards);
}

TEST(OpenAiApi, NoSystemMessageStillReplacesTheDefaultInstruction) {
  auto r = parse_chat_request(R"({"model":"demo","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(r.has_value());
  auto& c = *r;
  ASSERT_EQ(c.stream.history.size(), 1u);
  EXPECT_EQ(c.stream.history[0].role, "system");
  EXPECT_EQ(c.stream.history[0].content, "");
  EXPECT_FALSE(c.stream_mode);
}

TEST(OpenAiApi, RejectsBadBodiesTheOpenAiWay) {
  for (auto body : {"", "[]", R"({"messages":[{"role":"user","content":"x"}]})", R"({"model":"m","messages":[]})",
                    R"({"model":"m","messages":[{"role":"assistant","content":"x"}]})",
                    R"({"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]})"}) {
    auto r = parse_chat_request(body);
    ASSERT_TRUE(r.has_error()) << body;
    EXPECT_EQ(r.error().code, proto::error_code::bad_request);
    EXPECT_EQ(proto::http_status(r.error().code), 400u);
    auto err = json::parse(openai_error_body(r.error())).at("error").as_object();
    EXPECT_EQ(err.at("type"), "invalid_request_error");
    EXPECT_TRUE(err.contains("param"));
  }
}

// Built in one buffer: a text delta is escaped in place, an empty one is still {"content":""},
// and without include_usage no usage field appears.
TEST(OpenAiApi, ChunkFramingWithoutUsageEscapesInPlace) {
  auto f = chunk_formatter("chatcmpl-2", "m\"x", 1, false);
  auto head = R"(data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"m\"x","system_fingerprint":null,)";
  auto tail = R"(,"logprobs":null,"finish_reason":null}]})";
  EXPECT_EQ(format(f, *proto::make_chunk("st_2", 1, "", "p")), std::string(head) + R"("choices":[{"index":0,"delta":{"content":""})" + tail + "\n\n");
  EXPECT_EQ(format(f, *proto::make_chunk("st_2", 2, "a\nb\t\"c\\", "p")),
            std::string(head) + R"("choices":[{"index":0,"delta":{"content":"a\nb\t\"c\\"})" + tail + "\n\n");
  std::string big(5000, 'x');
  EXPECT_EQ(format(f, *proto::make_chunk("st_2", 3, big, "p")),
            std::string(head) + R"("choices":[{"index":0,"delta":{"content":")" + big + "\"}" + tail + "\n\n");
}

TEST(OpenAiApi, ChunkFramingWithUsageAndDone) {
  auto f = chunk_formatter("chatcmpl-1", "demo", 1700000000, true);
  auto start = format(f, *proto::make_stream_start("st_1", "p", "r"));
  auto head = R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"demo","system_fingerprint":null,)";
  EXPECT_EQ(start, std::string(head) +
                       R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null})" +
                       "\n\n");
  EXPECT_EQ(format(f, *proto::make_progress("st_1", 2, "generating", "x", 40)), "");
  auto chunk = format(f, *proto::make_chunk("st_1", 3, "Hi \"you\"", "p"));
  EXPECT_EQ(chunk, std::string(head) +
                       R"("choices":[{"index":0,"delta":{"content":"Hi \"you\""},"logprobs":null,"finish_reason":null}],"usage":null})" +
                       "\n\n");
  auto end = format(f, *proto::make_complete("st_1", 4, "Hi", proto::usage{7, 2}, proto::stream_metrics{}));
  EXPECT_EQ(end, std::string(head) +
                     R"("choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null})" + "\n\n" +
                     head + R"("choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}})" + "\n\n" +
                     "data: [DONE]\n\n");
}

// A batch's events are appended to one buffer, after what it already holds, in order.
TEST(OpenAiApi, EventsOfABatchAppendToOneBuffer) {
  auto f = chunk_formatter("chatcmpl-3", "m", 1, false);
  auto start = proto::make_stream_start("st_3", "p", "r");
  auto a = proto::make_chunk("st_3", 2, "a", "p");
  auto progress = proto::make_progress("st_3", 3, "generating", "x", 40);
  auto b = proto::make_chunk("st_3", 4, "b", "p");
  std::string out = "kept";
  for (auto* ev : {start.get(), a.get(), progress.get(), b.get()}) f(*ev, out);
  EXPECT_EQ(out, "kept" + format(f, *start) + format(f, *a) + format(f, *b));
}

TEST(OpenAiApi, ErrorsMidStreamAreErrorPayloads) {
  auto f = chunk_formatter("chatcmpl-1", "m", 1, false);
  proto::error_info e{proto::error_code::upstream_rate_limited, "slow down", true, 1000, {}};
  auto out = format(f, *proto::make_error(e, "st_1", 5));
  ASSERT_EQ(out.rfind("data: ", 0), 0u);
  auto err = json::parse(out.substr(6)).at("error").as_object();
  EXPECT_EQ(err.at("message"), "slow down");
  EXPECT_EQ(err.at("type"), "rate_limit_error");
  EXPECT_EQ(err.at("code"), "upstream_rate_limited");
  EXPECT_EQ(out.find("[DONE]"), std::string::npos);
}

}  // namespace
}  // namespace sg::gateway::openai_api
