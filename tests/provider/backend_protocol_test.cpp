// The streaming backend's contract, sans-I/O: the request body, and SSE and NDJSON replies split at every byte.
#include "chunking.hpp"
#include "provider/backend/backend_protocol.hpp"
#include "provider/provider_config.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace sg::provider {
namespace {

namespace json = boost::json;

// Everything a decoder reported, in order, as one transcript: "p:stage:step:pct", "d:text", "done:in/out", "error:code:msg".
struct transcript {
  std::vector<std::string> items;
  std::string text;
  bool done = false;
  std::optional<proto::error_info> error;
  bool client_message = false;

  void take(decoded& out) {
    std::size_t p = 0;
    auto progress_until = [&](std::size_t at) {
      for (; p < out.progress.size() && out.progress[p].at <= at; ++p)
        items.push_back("p:" + out.progress[p].stage + ":" + out.progress[p].step + ":" +
                        std::to_string(out.progress[p].percent));
    };
    for (std::size_t i = 0; i < out.deltas.size(); ++i) {
      progress_until(i);
      text += out.deltas[i];
    }
    progress_until(out.deltas.size());
    if (out.error && !error) {
      error = out.error;
      client_message = out.client_message;
    }
    if (out.done) {
      EXPECT_FALSE(done) << "done twice";
      done = true;
      items.push_back("done:" + std::to_string(out.usage.input_tokens) + "/" + std::to_string(out.usage.output_tokens));
    }
  }
};

httpc::response_head head_with(std::string content_type) {
  httpc::response_head h;
  h.result(http::status::ok);
  h.set(http::field::content_type, content_type);
  return h;
}

// Decodes `wire` in every chunking; each must give the same transcript (deltas may be split differently,
// so the text is compared whole and progress by position in it).
transcript decode_all_ways(const std::string& content_type, std::string_view wire) {
  std::optional<transcript> first;
  for (auto& c : test::all_chunkings(wire)) {
    auto d = backend::make_decoder("mybackend");
    transcript t;
    EXPECT_FALSE(d->on_head(head_with(content_type)));
    for (auto chunk : c.chunks) {
      decoded out;
      d->feed(chunk, out);
      // Progress is recorded with the text length before it, so a different split gives the same transcript.
      for (auto& pr : out.progress) {
        std::string before;
        for (std::size_t i = 0; i < pr.at; ++i) before += out.deltas[i];
        t.items.push_back("p@" + std::to_string(t.text.size() + before.size()) + ":" + pr.stage + ":" + pr.step + ":" +
                          std::to_string(pr.percent));
      }
      out.progress.clear();
      t.take(out);
    }
    decoded out;
    d->finish(out);
    t.take(out);
    if (!first) {
      first = t;
      continue;
    }
    EXPECT_EQ(t.text, first->text) << c.name;
    EXPECT_EQ(t.items, first->items) << c.name;
    EXPECT_EQ(t.done, first->done) << c.name;
    EXPECT_EQ(t.error.has_value(), first->error.has_value()) << c.name;
    if (t.text != first->text || t.items != first->items) break;
  }
  return *first;
}

TEST(BackendProtocol, SseReplySplitAtEveryByte) {
  std::string wire =
      ": a comment\n"
      "data: {\"type\":\"progress\",\"stage\":\"analyzing\",\"step\":\"Reading the docs...\",\"progress\":25}\n\n"
      "event: ignored-name\r\ndata: {\"type\":\"delta\",\"content\":\"Héllo\"}\r\n\r\n"
      "data: {\"type\":\"delta\",\"content\":\", world\"}\n\n"
      "data: {\"type\":\"progress\",\"stage\":\"finalizing\",\"step\":\"Done\",\"progress\":100}\n\n"
      "data: {\"type\":\"usage\",\"inputTokens\":12,\"outputTokens\":3}\n\n";
  auto t = decode_all_ways("text/event-stream; charset=utf-8", wire);
  EXPECT_EQ(t.text, "Héllo, world");
  EXPECT_FALSE(t.error);
  ASSERT_TRUE(t.done);
  std::vector<std::string> want = {"p@0:analyzing:Reading the docs...:25", "p@13:finalizing:Done:100", "done:12/3"};
  EXPECT_EQ(t.items, want);
}

TEST(BackendProtocol, NdjsonReplySplitAtEveryByte) {
  std::string wire =
      "{\"type\":\"progress\",\"stage\":\"generating\",\"step\":\"Thinking\",\"progress\":40.7}\n"
      "\n"
      "{\"type\":\"delta\",\"content\":\"one \"}\r\n"
      "{\"type\":\"delta\",\"content\":\"two\"}\n"
      "{\"type\":\"something-new\",\"x\":1}\n"
      "{\"type\":\"usage\",\"inputTokens\":5,\"outputTokens\":2}";  // the last line needs no newline
  auto t = decode_all_ways("application/x-ndjson", wire);
  EXPECT_EQ(t.text, "one two");
  EXPECT_FALSE(t.error);
  std::vector<std::string> want = {"p@0:generating:Thinking:40", "done:5/2"};
  EXPECT_EQ(t.items, want);
}

TEST(BackendProtocol, ErrorEventEndsTheStreamWithTheBackendsWords) {
  auto t = decode_all_ways("application/x-ndjson",
                           "{\"type\":\"delta\",\"content\":\"partial\"}\n"
                           "{\"type\":\"error\",\"code\":\"upstream_rate_limited\",\"message\":\"quota spent\",\"retryable\":false}\n"
                           "{\"type\":\"delta\",\"content\":\"never\"}\n");
  EXPECT_EQ(t.text, "partial");
  ASSERT_TRUE(t.error);
  EXPECT_EQ(t.error->code, proto::error_code::upstream_rate_limited);
  EXPECT_EQ(t.error->message, "quota spent");
  EXPECT_FALSE(t.error->retryable);
  EXPECT_TRUE(t.client_message);
  EXPECT_FALSE(t.done);

  auto u = decode_all_ways("text/event-stream", "data: {\"type\":\"error\",\"code\":\"made_up\"}\n\n");
  ASSERT_TRUE(u.error);
  EXPECT_EQ(u.error->code, proto::error_code::upstream_error);
  EXPECT_FALSE(u.error->message.empty());
}

TEST(BackendProtocol, GarbageIsAnUpstreamError) {
  for (auto [ct, wire] : std::vector<std::pair<std::string, std::string>>{
           {"application/x-ndjson", "{\"type\":\"delta\",\"content\":\"a\"}\nnot json at all\n"},
           {"application/x-ndjson", "[1,2,3]\n"},
           {"text/event-stream", "data: <html>\n\n"},
           {"text/event-stream", "data: {\"content\":\"no type\"}\n\n"},
           {"text/event-stream", "data: {\"type\":\"delta\",\"content\":7}\n\n"}}) {
    auto t = decode_all_ways(ct, wire);
    ASSERT_TRUE(t.error) << wire;
    EXPECT_EQ(t.error->code, proto::error_code::upstream_error) << wire;
    EXPECT_FALSE(t.client_message) << "garbage must not reach clients verbatim";
    EXPECT_FALSE(t.done) << wire;
  }
}

TEST(BackendProtocol, ContentTypePicksTheFraming) {
  auto d = backend::make_decoder("mybackend");
  auto refused = d->on_head(head_with("text/html"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, proto::error_code::upstream_error);
  EXPECT_FALSE(backend::make_decoder("b")->on_head(head_with("Application/X-NDJSON; charset=utf-8")));
  EXPECT_FALSE(backend::make_decoder("b")->on_head(head_with("TEXT/EVENT-STREAM")));
  // An empty body is a complete (empty) answer.
  auto e = backend::make_decoder("b");
  e->on_head(head_with("application/x-ndjson"));
  decoded out;
  e->finish(out);
  EXPECT_TRUE(out.done);
  EXPECT_FALSE(out.error);
}

TEST(BackendProtocol, RequestBodyCarriesTheContract) {
  request req;
  req.stream_id = "st_1";
  req.request_id = "r1";
  req.project_id = "p1";
  req.user_input = "hello";
  req.history = {{"user", "earlier"}, {"assistant", "answer"}};
  req.cards = {{"instruction", "be brief"}};
  req.sub = "user-7";
  req.connection_id = "c1";
  req.context_json = R"({"tenant":"acme"})";
  auto o = json::parse(backend::request_body(req, "")).as_object();
  EXPECT_EQ(o.at("streamId"), "st_1");
  EXPECT_EQ(o.at("requestId"), "r1");
  EXPECT_EQ(o.at("projectId"), "p1");
  EXPECT_EQ(o.at("userInput"), "hello");
  EXPECT_EQ(o.at("chatHistory").as_array().size(), 2u);
  EXPECT_EQ(o.at("chatHistory").as_array()[1].at("role"), "assistant");
  EXPECT_EQ(o.at("cards").as_array()[0].at("content"), "be brief");
  EXPECT_EQ(o.at("sub"), "user-7");
  EXPECT_EQ(o.at("connectionId"), "c1");
  EXPECT_EQ(o.at("context").at("tenant"), "acme");
  EXPECT_FALSE(o.contains("model"));
}

TEST(BackendProtocol, EnvironmentSubstitution) {
  std::map<std::string, std::string> env{{"TOKEN", "s3cret"}, {"HOST", "127.0.0.1"}};
  EXPECT_EQ(backend::substitute_env("Bearer ${TOKEN}", env, "x"), "Bearer s3cret");
  EXPECT_EQ(backend::substitute_env("http://${HOST}:9/${TOKEN}${TOKEN}", env, "x"), "http://127.0.0.1:9/s3cret" "s3cret");
  EXPECT_EQ(backend::substitute_env("$TOKEN {x}", env, "x"), "$TOKEN {x}");
  EXPECT_THROW(backend::substitute_env("${MISSING}", env, "x"), std::invalid_argument);
  EXPECT_THROW(backend::substitute_env("${TOKEN", env, "x"), std::invalid_argument);
}

std::string write_config(const std::string& text) {
  char tmpl[] = "/tmp/sg-backend-config-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp");
  ::close(fd);
  std::ofstream(tmpl) << text;
  return tmpl;
}

TEST(BackendProtocol, ConfiguredFromATable) {
  auto path = write_config(
      "[providers.mybackend]\ntype = \"http\"\nurl = \"http://127.0.0.1:9000/generate?x=1\"\n"
      "headers = { Authorization = \"Bearer ${MYBACKEND_TOKEN}\", X-Team = \"search\" }\ntimeout_ms = 1500\n");
  auto settings = load_provider_settings(path, {{"MYBACKEND_TOKEN", "abc"}});
  auto it = std::find_if(settings.begin(), settings.end(), [](auto& s) { return s.name == "mybackend"; });
  ASSERT_NE(it, settings.end());
  EXPECT_EQ(it->kind, "http");
  EXPECT_TRUE(it->configured);
  EXPECT_EQ(it->max_retries, 0);
  EXPECT_EQ(it->limits.first_byte.count(), 1500);
  EXPECT_EQ(it->limits.idle.count(), 1500);
  ASSERT_EQ(it->headers.size(), 2u);
  EXPECT_EQ(it->headers[0], (std::pair<std::string, std::string>{"Authorization", "Bearer abc"}));
  backend::backend_protocol p(*it);
  request req;
  auto spec = p.build(req, "");
  EXPECT_EQ(spec.target, "/generate?x=1");
  EXPECT_EQ(spec.origin.port, 9000);
  EXPECT_THROW(load_provider_settings(path, {}), std::invalid_argument) << "an unset ${VAR} is a start-up error";
  std::remove(path.c_str());

  for (auto bad : {"[providers.b]\ntype = \"http\"\n",                                  // no url
                   "[providers.b]\ntype = \"http\"\nurl = \"ftp://x\"\n",                // not http(s)
                   "[providers.b]\ntype = \"grpc\"\nurl = \"http://x\"\n",               // unknown type
                   "[providers.b]\ntype = \"http\"\nkind = \"openai\"\nurl = \"http://x\"\n",
                   "[providers.b]\ntype = \"http\"\nurl = \"http://x\"\nheaders = { A = 1 }\n",
                   "[providers.b]\nkind = \"openai\"\nheaders = { A = \"1\" }\n"}) {
    auto p2 = write_config(bad);
    EXPECT_THROW(
        {
          auto s = load_provider_settings(p2, {});
          for (auto& x : s)
            if (x.kind == "http") backend::backend_protocol check(x);
        },
        std::invalid_argument)
        << bad;
    std::remove(p2.c_str());
  }
}

}  // namespace
}  // namespace sg::provider
