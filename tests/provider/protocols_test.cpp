// The wire formats of each provider, sans-I/O: request bodies, and decoders fed bytes split every way.
#include "chunking.hpp"
#include "provider/anthropic/anthropic_protocol.hpp"
#include "provider/aws/event_stream.hpp"
#include "provider/bedrock/bedrock_protocol.hpp"
#include "core/base64.hpp"
#include "provider/ollama/ollama_protocol.hpp"
#include "provider/openai/openai_protocol.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace sg::provider {
namespace {

namespace json = boost::json;

struct result {
  std::string text;
  bool done = false;
  proto::usage usage;
  std::optional<proto::error_info> error;
};

// Feeds `wire` in every chunking and checks each gives the same result; returns it.
result decode_all_ways(const std::function<std::unique_ptr<stream_decoder>()>& make, std::string_view wire,
                       bool finish = true) {
  std::optional<result> first;
  for (auto& c : test::all_chunkings(wire)) {
    auto d = make();
    result r;
    auto take = [&](decoded& out) {
      for (auto& t : out.deltas) r.text += t;
      if (out.done) {
        EXPECT_FALSE(r.done) << "done twice";
        r.done = true;
        r.usage = out.usage;
      }
      if (out.error && !r.error) r.error = out.error;
    };
    for (auto chunk : c.chunks) {
      decoded out;
      d->feed(chunk, out);
      take(out);
    }
    if (finish) {
      decoded out;
      d->finish(out);
      take(out);
    }
    if (!first) {
      first = r;
      continue;
    }
    EXPECT_EQ(r.text, first->text) << c.name;
    EXPECT_EQ(r.done, first->done) << c.name;
    EXPECT_EQ(r.error.has_value(), first->error.has_value()) << c.name;
    if (r.text != first->text) break;
  }
  return *first;
}

request sample_request() {
  request r;
  r.user_input = "Name my blog";
  r.system_prompt = "You suggest titles.";
  r.history = {{"user", "hi"}, {"assistant", "hello"}};
  return r;
}

// ---------------- OpenAI ----------------

constexpr std::string_view openai_stream =
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":null},\"finish_reason\":null}],\"timings\":{\"predicted_ms\":1}}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n"
    "data: [DONE]\n\n";

TEST(OpenAiDecoder, TextUsageAndDone) {
  auto r = decode_all_ways([] { return openai::make_decoder("openai"); }, openai_stream);
  EXPECT_EQ(r.text, "Hello world");
  EXPECT_TRUE(r.done);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.usage.input_tokens, 9u);
  EXPECT_EQ(r.usage.output_tokens, 2u);
}

TEST(OpenAiDecoder, MidStreamErrorPayload) {
  std::string wire = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                     "data: {\"error\":{\"message\":\"overloaded now\",\"type\":\"server_error\",\"code\":null}}\n\n";
  auto r = decode_all_ways([] { return openai::make_decoder("openai"); }, wire);
  EXPECT_EQ(r.text, "Hi");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, proto::error_code::upstream_unavailable);
  EXPECT_NE(r.error->message.find("overloaded now"), std::string::npos);
}

TEST(OpenAiDecoder, EndWithoutDoneOrFinishReasonIsAnError) {
  auto r = decode_all_ways([] { return openai::make_decoder("openai"); },
                           "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, proto::error_code::upstream_unavailable);
  EXPECT_TRUE(r.error->retryable);
}

TEST(OpenAiDecoder, FinishReasonWithoutDoneCompletes) {
  auto r = decode_all_ways([] { return openai::make_decoder("openai"); },
                           "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n");
  EXPECT_TRUE(r.done);
  EXPECT_FALSE(r.error);
}

// What an event meant when each was parsed to a DOM and read with if_contains: the reference the
// decoder's reader (which builds no DOM) is held to, event by event.
struct event_reading {
  std::string text;
  bool finished = false;
  bool usage_seen = false;
  proto::usage usage;
  bool error = false;
  std::string message;
};

event_reading read_as_dom(std::string_view data) {
  event_reading r;
  boost::system::error_code ec;
  auto v = json::parse(data, ec);
  if (ec || !v.is_object()) {
    r.error = true;
    r.message = "openai sent an event that is not JSON";
    return r;
  }
  auto& o = v.get_object();
  auto count = [](const json::object& u, const char* k) -> std::uint64_t {
    auto* f = u.if_contains(k);
    if (f && f->is_uint64()) return f->get_uint64();
    if (f && f->is_int64() && f->get_int64() >= 0) return static_cast<std::uint64_t>(f->get_int64());
    return 0;
  };
  if (auto* e = o.if_contains("error"); e && !e->is_null()) {
    r.error = true;
    r.message = "openai reported an error";
    if (e->is_object()) {
      if (auto* m = e->get_object().if_contains("message"); m && m->is_string() && !m->get_string().empty())
        r.message += ": " + std::string(m->get_string());
    } else if (e->is_string()) {
      r.message += ": " + std::string(e->get_string());
    }
    return r;
  }
  if (auto* u = o.if_contains("usage"); u && u->is_object()) {
    r.usage_seen = true;
    r.usage = {count(u->get_object(), "prompt_tokens"), count(u->get_object(), "completion_tokens")};
  }
  auto* choices = o.if_contains("choices");
  if (!choices || !choices->is_array()) return r;
  for (auto& ch : choices->get_array()) {
    if (!ch.is_object()) continue;
    auto& co = ch.get_object();
    if (auto* idx = co.if_contains("index"); idx && idx->is_int64() && idx->get_int64() != 0) continue;
    if (auto* fr = co.if_contains("finish_reason"); fr && fr->is_string()) r.finished = true;
    auto* delta = co.if_contains("delta");
    if (!delta || !delta->is_object()) continue;
    if (auto* c = delta->get_object().if_contains("content"); c && c->is_string() && !c->get_string().empty())
      r.text += c->get_string();
  }
  return r;
}

// One event through the decoder, then [DONE] (which reports the usage), or its end.
event_reading read_with_decoder(std::string_view data) {
  event_reading r;
  auto d = openai::make_decoder("openai");
  decoded out;
  d->feed("data: " + std::string(data) + "\n\n", out);
  for (auto& t : out.deltas) r.text += t;
  if (out.error) {
    r.error = true;
    r.message = out.error->message;
    return r;
  }
  decoded end;
  d->finish(end);
  r.finished = end.done;  // without [DONE], only a finish_reason completes the answer
  d = openai::make_decoder("openai");
  decoded again;
  d->feed("data: " + std::string(data) + "\n\ndata: [DONE]\n\n", again);
  r.usage = again.usage;
  r.usage_seen = again.usage.input_tokens || again.usage.output_tokens;
  return r;
}

TEST(OpenAiDecoder, ReadsEveryEventAsItsDomReads) {
  std::string long_escaped;
  for (int i = 0; i < 3000; ++i) long_escaped += i % 7 ? "ab" : "\\n\\\"\\u00e9";
  const std::vector<std::string> events = {
      R"({"choices":[{"index":0,"delta":{"content":"a\"b\\n\u00e9\ud83d\ude00"}}]})",
      R"({"choices":[{"index":0,"delta":{"content":")" + long_escaped + R"("}}]})",
      R"({"choices":[{"delta":{"content":"skipped"},"index":1},{"delta":{"content":"kept"},"index":0}]})",
      R"({"choices":[{"index":0.0,"delta":{"content":"a double index is not skipped"}}]})",
      R"({"choices":[{"index":0,"delta":{"content":null}},{"index":0,"delta":{"content":5}}]})",
      R"({"choices":[{"index":0,"delta":{"content":["a"]}},{"index":0,"delta":{"content":{"text":"a"}}}]})",
      R"({"choices":[{"index":0,"delta":{"content":"lost"}}],"error":{"message":"after the text"}})",
      R"({"error":null,"choices":[{"index":0,"delta":{"content":"kept"}}]})",
      R"({"error":"boom"})",
      R"({"error":0})",
      R"({"error":true})",
      R"({"error":[]})",
      R"({"error":{"message":"","type":"server_error"}})",
      R"({"choices":[],"usage":{"prompt_tokens":-1,"completion_tokens":2.5}})",
      R"({"choices":[],"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":7}})",
      R"({"choices":[],"usage":null})",
      R"({"choices":[],"usage":{"nested":{"prompt_tokens":3},"completion_tokens":4}})",
      R"([{"choices":[]}])",
      R"("text")",
      R"(1)",
      R"(null)",
      R"(true)",
      R"({"choices":[]} x)",
      R"({"x":[[[[[[[[[[{"content":"deep"}]]]]]]]]]],"choices":[{"index":0,"delta":{"content":"ok"}}]})",
      R"({"choices":[{"index":0,"delta":{"cont\u0065nt":"an escaped key"}}]})",
      R"({"choices":[{"index":0,"delta":{"delta":{"content":"inner"},"content":"outer"}}]})",
      R"({"choices":[{"index":2,"finish_reason":"stop"}]})",
      R"({"choices":[{"index":0,"finish_reason":null,"delta":{}},{"finish_reason":"length"}]})",
      R"({"choices":{"index":0,"delta":{"content":"not an array"}}})",
      R"({"choices":[{"index":0,"delta":{"content":"one"}},{"index":0,"delta":{"content":" two"}}]})",
      R"({"choices":["x",1,null,[{"index":0,"delta":{"content":"nested array"}}]]})",
  };
  for (auto& e : events) {
    auto want = read_as_dom(e);
    auto got = read_with_decoder(e);
    EXPECT_EQ(got.text, want.text) << e;
    EXPECT_EQ(got.finished, want.finished) << e;
    EXPECT_EQ(got.error, want.error) << e;
    if (want.error) {
      EXPECT_EQ(got.message, want.message) << e;
    }
    if (!want.error && want.usage_seen) {
      EXPECT_EQ(got.usage.input_tokens, want.usage.input_tokens) << e;
      EXPECT_EQ(got.usage.output_tokens, want.usage.output_tokens) << e;
    }
  }
}

TEST(OpenAiDecoder, GarbageIsAnError) {
  auto r = decode_all_ways([] { return openai::make_decoder("openai"); }, "data: {not json\n\n");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, proto::error_code::upstream_error);
  EXPECT_FALSE(r.error->retryable);
}

TEST(OpenAiBody, MessagesStreamAndUsage) {
  auto v = json::parse(openai::chat_body(sample_request(), "gpt-x")).as_object();
  EXPECT_EQ(v["model"], "gpt-x");
  EXPECT_EQ(v["stream"], true);
  EXPECT_EQ(v["stream_options"].as_object()["include_usage"], true);
  auto& m = v["messages"].as_array();
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].as_object().at("role"), "system");
  EXPECT_EQ(m[0].as_object().at("content"), "You suggest titles.");
  EXPECT_EQ(m[3].as_object().at("content"), "Name my blog");
}

// The bodies are written straight out; a DOM serialized by Boost.JSON is the reference they must
// equal byte for byte, whatever the text holds.
std::string chat_body_from_dom(const request& req, const std::string& model, bool include_usage) {
  json::array messages;
  if (auto sys = system_prompt_of(req); !sys.empty()) messages.push_back(json::object{{"role", "system"}, {"content", sys}});
  for (auto& t : turns_of(req, false)) messages.push_back(json::object{{"role", t.role}, {"content", t.content}});
  json::object body{{"model", model}, {"messages", std::move(messages)}, {"stream", true}};
  if (include_usage) body["stream_options"] = json::object{{"include_usage", true}};
  return json::serialize(body);
}

TEST(ChatBodies, AreWhatBoostJsonWritesForTheSameObject) {
  std::vector<request> cases;
  cases.push_back(sample_request());
  request tricky;
  tricky.user_input = "quote \" backslash \\ slash / newline \n tab \t cr \r bell \x07 nul " + std::string(1, '\0') +
                      " unit \x1f del \x7f";
  tricky.system_prompt = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x8C\x8A and a long run of plain ASCII text past sixteen bytes";
  tricky.history = {{"user", ""}, {"assistant", "\xE6\xB2\xB3"}, {"user", "again"}};
  cases.push_back(tricky);  // the system prompt above is the one sent
  tricky.history.insert(tricky.history.begin(), {"system", "Be terse."});
  tricky.cards = {{"style", "short \"quoted\""}};
  cases.push_back(tricky);  // the history's system message replaces it, the cards appended
  request bare;  // no system prompt, no history
  bare.user_input = "only this";
  cases.push_back(bare);
  for (auto& r : cases) {
    for (std::string model : {"gpt-x", "we\"ird/model\\name"}) {
      EXPECT_EQ(openai::chat_body(r, model), chat_body_from_dom(r, model, true));
      EXPECT_EQ(ollama::chat_body(r, model), chat_body_from_dom(r, model, false));
    }
  }
}

TEST(SystemPrompt, HistorySystemMessagesReplaceTheDefault) {
  auto r = sample_request();
  r.history.insert(r.history.begin(), {"system", "Be terse."});
  r.cards = {{"style", "short"}};
  EXPECT_EQ(system_prompt_of(r), "Be terse.\n[style] short");
  auto turns = turns_of(r, true);
  ASSERT_EQ(turns.size(), 3u);
  EXPECT_EQ(turns[0].role, "user");
}

TEST(Turns, ConsecutiveRolesMergeWhenAsked) {
  request r;
  r.history = {{"user", "a"}, {"user", "b"}};
  r.user_input = "c";
  EXPECT_EQ(turns_of(r, false).size(), 3u);
  auto merged = turns_of(r, true);
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].content, "a\n\nb\n\nc");
}

// ---------------- Anthropic ----------------

constexpr std::string_view anthropic_stream =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
    "\"content\":[],\"model\":\"claude\",\"stop_reason\":null,\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
    "event: some_future_event\ndata: {\"type\":\"some_future_event\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"!\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":15}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

TEST(AnthropicDecoder, TextCumulativeUsagePingAndUnknownEvents) {
  auto r = decode_all_ways([] { return anthropic::make_decoder("anthropic"); }, anthropic_stream);
  EXPECT_EQ(r.text, "Hello!");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.usage.input_tokens, 25u);
  EXPECT_EQ(r.usage.output_tokens, 15u);
}

TEST(AnthropicDecoder, ErrorEvent) {
  std::string wire = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
  auto r = decode_all_ways([] { return anthropic::make_decoder("anthropic"); }, wire);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, proto::error_code::upstream_unavailable);
  EXPECT_TRUE(r.error->retryable);
  EXPECT_EQ(anthropic::code_for_error_type("rate_limit_error"), proto::error_code::upstream_rate_limited);
  EXPECT_EQ(anthropic::code_for_error_type("invalid_request_error"), proto::error_code::upstream_error);
}

TEST(AnthropicDecoder, CloseBeforeMessageStop) {
  auto cut = anthropic_stream.substr(0, anthropic_stream.find("event: message_stop"));
  auto r = decode_all_ways([] { return anthropic::make_decoder("anthropic"); }, cut);
  EXPECT_EQ(r.text, "Hello!");
  EXPECT_FALSE(r.done);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, proto::error_code::upstream_unavailable);
}

TEST(AnthropicBody, MaxTokensSystemAndBedrockForm) {
  auto v = json::parse(anthropic::messages_body(sample_request(), "claude-x", 321)).as_object();
  EXPECT_EQ(v["model"], "claude-x");
  EXPECT_EQ(v["max_tokens"], 321);
  EXPECT_EQ(v["system"], "You suggest titles.");
  EXPECT_EQ(v["stream"], true);
  auto b = json::parse(anthropic::messages_body(sample_request(), "claude-x", 321, "bedrock-2023-05-31")).as_object();
  EXPECT_FALSE(b.contains("model"));
  EXPECT_FALSE(b.contains("stream"));
  EXPECT_EQ(b["anthropic_version"], "bedrock-2023-05-31");
}

// ---------------- Bedrock ----------------

std::string b64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t n = (std::uint8_t(in[i]) << 16) | (std::uint8_t(in[i + 1]) << 8) | std::uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += t[(n >> k) & 63];
  }
  if (i < in.size()) {
    std::uint32_t n = std::uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) n |= std::uint8_t(in[i + 1]) << 8;
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += i + 1 < in.size() ? t[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string frame(std::string event_type, std::string payload) {
  aws::event_stream_message m;
  m.headers = {{":event-type", event_type}, {":content-type", std::string("application/json")},
               {":message-type", std::string("event")}};
  m.payload = std::move(payload);
  return aws::encode_message(m);
}

std::string exception_frame(std::string type, std::string payload) {
  aws::event_stream_message m;
  m.headers = {{":exception-type", type}, {":content-type", std::string("application/json")},
               {":message-type", std::string("exception")}};
  m.payload = std::move(payload);
  return aws::encode_message(m);
}

std::string invoke_chunk(std::string anthropic_event) {
  return frame("chunk", "{\"bytes\":\"" + b64(anthropic_event) + "\",\"p\":\"abcd\"}");
}

TEST(Base64, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(core::base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(core::base64_decode("aGVsbG8"), "hello");
  EXPECT_EQ(core::base64_decode(b64("{\"a\":1}")), "{\"a\":1}");
  EXPECT_FALSE(core::base64_decode("a$=="));
}

TEST(BedrockInvokeDecoder, AnthropicEventsInsideChunks) {
  std::string wire =
      invoke_chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}})") +
      invoke_chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Bed"}})") +
      invoke_chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"rock"}})") +
      invoke_chunk(R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}})") +
      invoke_chunk(R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":4}})");
  auto r = decode_all_ways([] { return bedrock::make_invoke_decoder("bedrock"); }, wire);
  EXPECT_EQ(r.text, "Bedrock");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.usage.input_tokens, 12u);
  EXPECT_EQ(r.usage.output_tokens, 4u);
}

TEST(BedrockInvokeDecoder, ExceptionFrames) {
  auto r = decode_all_ways([] { return bedrock::make_invoke_decoder("bedrock"); },
                           exception_frame("throttlingException", R"({"message":"Too many requests"})"));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, proto::error_code::upstream_rate_limited);
  EXPECT_NE(r.error->message.find("Too many requests"), std::string::npos);
  EXPECT_EQ(bedrock::code_for_exception("modelTimeoutException"), proto::error_code::upstream_timeout);
  EXPECT_EQ(bedrock::code_for_exception("ServiceUnavailableException:http://x"), proto::error_code::upstream_unavailable);
  EXPECT_EQ(bedrock::code_for_exception("validationException"), proto::error_code::upstream_error);
}

TEST(BedrockInvokeDecoder, BadCrcIsAnError) {
  auto wire = invoke_chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})");
  wire[wire.size() - 1] ^= 0x5a;
  auto r = decode_all_ways([] { return bedrock::make_invoke_decoder("bedrock"); }, wire);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, proto::error_code::upstream_error);
  EXPECT_EQ(r.text, "");
}

TEST(BedrockConverseDecoder, DeltasMetadataAndStop) {
  std::string wire = frame("messageStart", R"({"p":"ab","role":"assistant"})") +
                     frame("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Con"},"p":"x"})") +
                     frame("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"verse"},"p":"x"})") +
                     frame("contentBlockStop", R"({"contentBlockIndex":0,"p":"x"})") +
                     frame("messageStop", R"({"p":"x","stopReason":"end_turn"})") +
                     frame("metadata", R"({"metrics":{"latencyMs":10},"p":"x","usage":{"inputTokens":7,"outputTokens":2,"totalTokens":9}})");
  auto r = decode_all_ways([] { return bedrock::make_converse_decoder("bedrock"); }, wire);
  EXPECT_EQ(r.text, "Converse");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.usage.input_tokens, 7u);
  EXPECT_EQ(r.usage.output_tokens, 2u);
}

TEST(BedrockConverseDecoder, TruncatedStreamIsAnError) {
  std::string wire = frame("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Con"}})");
  auto r = decode_all_ways([] { return bedrock::make_converse_decoder("bedrock"); }, wire.substr(0, wire.size() - 3));
  ASSERT_TRUE(r.error);
}

TEST(BedrockProtocol, SignsAndEncodesTheModelId) {
  provider_settings s;
  s.name = "bedrock";
  s.kind = "bedrock";
  s.region = "us-east-1";
  s.access_key_id = "AKIDEXAMPLE";
  s.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  s.session_token = "token";
  bedrock::bedrock_protocol p(s, [] { return std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)); });
  auto spec = p.build(sample_request(), "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(spec.origin.host, "bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_TRUE(spec.origin.tls);
  EXPECT_EQ(spec.target, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream");
  auto header = [&](std::string_view k) {
    for (auto& [n, v] : spec.headers)
      if (n == k) return v;
    return std::string();
  };
  EXPECT_EQ(header("x-amz-date"), "20231114T221320Z");
  EXPECT_EQ(header("x-amz-security-token"), "token");
  EXPECT_EQ(header("authorization").rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock/aws4_request", 0), 0u);
  EXPECT_EQ(p.api_for("meta.llama3-8b-instruct-v1:0"), bedrock::api::converse);
  EXPECT_EQ(p.api_for("us.anthropic.claude-3-5-haiku-20241022-v1:0"), bedrock::api::invoke);
  auto conv = p.build(sample_request(), "meta.llama3-8b-instruct-v1:0");
  EXPECT_EQ(conv.target, "/model/meta.llama3-8b-instruct-v1%3A0/converse-stream");
  auto body = json::parse(conv.body).as_object();
  EXPECT_EQ(body["system"].as_array()[0].as_object()["text"], "You suggest titles.");
  EXPECT_EQ(body["inferenceConfig"].as_object()["maxTokens"], 1024);
}

// ---------------- Ollama ----------------

TEST(OllamaDecoder, LinesAndFinalCounts) {
  std::string wire =
      "{\"model\":\"llama3.2\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"Lla\"},\"done\":false}\n"
      "{\"model\":\"llama3.2\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"ma\"},\"done\":false}\n"
      "{\"model\":\"llama3.2\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
      "\"done_reason\":\"stop\",\"done\":true,\"total_duration\":1,\"prompt_eval_count\":26,\"eval_count\":2}\n";
  auto r = decode_all_ways([] { return ollama::make_decoder("ollama"); }, wire);
  EXPECT_EQ(r.text, "Llama");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.usage.input_tokens, 26u);
  EXPECT_EQ(r.usage.output_tokens, 2u);
}

TEST(OllamaDecoder, ErrorLine) {
  std::string wire = "{\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n"
                     "{\"error\":\"model runner has unexpectedly stopped\"}\n";
  auto r = decode_all_ways([] { return ollama::make_decoder("ollama"); }, wire);
  EXPECT_EQ(r.text, "a");
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message.find("unexpectedly stopped"), std::string::npos);
}

TEST(OllamaHost, SdkConventions) {
  EXPECT_EQ(ollama::base_url_from_host(""), "http://127.0.0.1:11434");
  EXPECT_EQ(ollama::base_url_from_host("0.0.0.0:9999"), "http://127.0.0.1:9999");
  EXPECT_EQ(ollama::base_url_from_host("gpu-box"), "http://gpu-box:11434");
  EXPECT_EQ(ollama::base_url_from_host("https://ollama.example.com/"), "https://ollama.example.com:443");
  EXPECT_EQ(ollama::base_url_from_host("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
}

// ---------------- status mapping ----------------

TEST(StatusMapping, CodesRetryableAndRetryAfter) {
  httpc::response_head h;
  h.set(http::field::retry_after, "2");
  auto e = error_for_status("openai", 429, h, R"({"error":{"message":"slow down","type":"requests"}})");
  EXPECT_EQ(e.code, proto::error_code::upstream_rate_limited);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.retry_after_ms, 2000);
  EXPECT_NE(e.message.find("slow down"), std::string::npos);
  httpc::response_head ms;
  ms.set("retry-after-ms", "150");
  EXPECT_EQ(retry_after_ms(ms), 150);
  EXPECT_EQ(error_for_status("x", 500, {}, "").code, proto::error_code::upstream_unavailable);
  EXPECT_EQ(error_for_status("x", 503, {}, "").code, proto::error_code::upstream_unavailable);
  EXPECT_EQ(error_for_status("x", 504, {}, "").code, proto::error_code::upstream_timeout);
  auto bad = error_for_status("x", 401, {}, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})");
  EXPECT_EQ(bad.code, proto::error_code::upstream_error);
  EXPECT_FALSE(bad.retryable);
  EXPECT_NE(bad.message.find("invalid x-api-key"), std::string::npos);
  EXPECT_EQ(error_message_in(R"({"error":"model 'x' not found"})"), "model 'x' not found");
  EXPECT_EQ(error_message_in(R"({"message":"The security token included in the request is invalid."})"),
            "The security token included in the request is invalid.");
}

}  // namespace
}  // namespace sg::provider
