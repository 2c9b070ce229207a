// The provider job over real sockets: deltas and usage, retry before the first token only, cancel, refusals.
#include "local_server.hpp"
#include "provider/openai/openai_protocol.hpp"
#include "provider/upstream_provider.hpp"

#include <gtest/gtest.h>

#include <condition_variable>

namespace sg::provider {
namespace {

using namespace std::chrono_literals;
using test::local_server;

struct recording_sink final : sink {
  std::mutex mu;
  std::condition_variable cv;
  int sent = 0;
  std::string text;
  int deltas = 0;
  std::optional<proto::usage> done;
  std::optional<proto::error_info> error;
  int terminal = 0;

  void on_request_sent() override {
    std::lock_guard l(mu);
    ++sent;
  }
  void on_delta(std::string t, std::int64_t) override {
    std::lock_guard l(mu);
    text += t;
    ++deltas;
    cv.notify_all();
  }
  void on_done(proto::usage u) override {
    std::lock_guard l(mu);
    done = u;
    ++terminal;
    cv.notify_all();
  }
  void on_error(proto::error_info e) override {
    std::lock_guard l(mu);
    error = e;
    ++terminal;
    cv.notify_all();
  }
  bool wait_terminal(std::chrono::milliseconds d = 5s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, d, [&] { return terminal > 0; });
  }
  bool wait_text(std::chrono::milliseconds d = 5s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, d, [&] { return !text.empty(); });
  }
};

struct fixture {
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  std::thread thread{[this] { ioc.run(); }};
  std::shared_ptr<httpc::client> client = std::make_shared<httpc::client>();
  ~fixture() {
    work.reset();
    ioc.stop();
    thread.join();
  }

  std::shared_ptr<upstream_provider> openai(std::uint16_t port, int retries = 2) {
    provider_settings s;
    s.name = "openai";
    s.kind = "openai";
    s.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    s.api_key = "sk-test";
    s.default_model = "gpt-test";
    s.allowed_models = {"gpt-test", "other"};
    s.max_retries = retries;
    s.retry_base_ms = 10;
    s.max_retry_wait_ms = 100;
    s.limits.first_byte = 2s;
    s.limits.idle = 2s;
    auto p = std::make_unique<openai::openai_protocol>(s);
    return std::make_shared<upstream_provider>(s, std::move(p), client);
  }

  std::shared_ptr<recording_sink> run(provider& p, std::shared_ptr<cancellation> cancel = nullptr,
                                      std::string model = {}) {
    auto out = std::make_shared<recording_sink>();
    auto req = std::make_shared<request>();
    req->user_input = "hello";
    req->model = std::move(model);
    p.start(req, out, net::make_strand(ioc), cancel ? cancel : std::make_shared<cancellation>());
    return out;
  }
};

std::string sse_response(std::string_view body) {
  return "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

constexpr std::string_view ok_body =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n"
    "data: [DONE]\n\n";

TEST(UpstreamProvider, StreamsTextAndUsage) {
  std::string auth, path;
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    auto req = test::read_request(s, buf);
    auth = std::string(req[http::field::authorization]);
    path = std::string(req.target());
    test::write_raw(s, sse_response(ok_body));
    test::wait_peer_close(s);
  });
  fixture f;
  auto out = f.run(*f.openai(srv.port()));
  ASSERT_TRUE(out->wait_terminal());
  ASSERT_TRUE(out->done) << out->error->message;
  EXPECT_EQ(out->text, "Hi there");
  EXPECT_EQ(out->done->input_tokens, 3u);
  EXPECT_EQ(out->done->output_tokens, 2u);
  EXPECT_EQ(out->sent, 1);
  EXPECT_EQ(auth, "Bearer sk-test");
  EXPECT_EQ(path, "/v1/chat/completions");
}

TEST(UpstreamProvider, RetriesRateLimitBeforeTheFirstToken) {
  local_server srv([&](tcp::socket& s, int i) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    if (i == 0)
      test::write_raw(s, "HTTP/1.1 429 Too Many Requests\r\nretry-after-ms: 20\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
    else
      test::write_raw(s, sse_response(ok_body));
    test::wait_peer_close(s);
  });
  fixture f;
  auto out = f.run(*f.openai(srv.port()));
  ASSERT_TRUE(out->wait_terminal());
  ASSERT_TRUE(out->done);
  EXPECT_EQ(out->text, "Hi there");
  EXPECT_EQ(out->sent, 1) << "the generating stage is entered once";
  EXPECT_EQ(srv.connections(), 2);
}

TEST(UpstreamProvider, GivesUpAfterMaxRetries) {
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    test::write_raw(s, "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 39\r\nconnection: close\r\n\r\n"
                       "{\"error\":{\"message\":\"boom\",\"type\":\"x\"}}");
  });
  fixture f;
  auto out = f.run(*f.openai(srv.port(), 1));
  ASSERT_TRUE(out->wait_terminal());
  ASSERT_TRUE(out->error);
  EXPECT_EQ(out->error->code, proto::error_code::upstream_unavailable);
  EXPECT_TRUE(out->error->retryable);
  // The upstream's own words stay in the log: the sink (and so the client) gets the fixed text.
  EXPECT_EQ(out->error->message.find("boom"), std::string::npos) << out->error->message;
  EXPECT_EQ(out->error->message, client_message(proto::error_code::upstream_unavailable));
  EXPECT_EQ(srv.connections(), 2);
}

TEST(UpstreamProvider, NoRetryAfterTheFirstToken) {
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    std::string part = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    test::write_raw(s, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
    char hex[16];
    std::snprintf(hex, sizeof hex, "%zx\r\n", part.size());
    test::write_raw(s, hex + part + "\r\n");
    s.shutdown(tcp::socket::shutdown_both);  // mid-stream close
  });
  fixture f;
  auto out = f.run(*f.openai(srv.port()));
  ASSERT_TRUE(out->wait_terminal());
  ASSERT_TRUE(out->error);
  EXPECT_EQ(out->text, "Hi");
  EXPECT_EQ(out->error->code, proto::error_code::upstream_unavailable);
  EXPECT_EQ(srv.connections(), 1);
}

TEST(UpstreamProvider, TimeoutMapsToUpstreamTimeout) {
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    test::wait_peer_close(s);
  });
  fixture f;
  provider_settings s;
  s.name = "slow";
  s.kind = "openai";
  s.base_url = "http://127.0.0.1:" + std::to_string(srv.port());
  s.default_model = "m";
  s.max_retries = 0;
  s.limits.first_byte = 100ms;
  auto p = std::make_shared<upstream_provider>(s, std::make_unique<openai::openai_protocol>(s), f.client);
  auto out = f.run(*p);
  ASSERT_TRUE(out->wait_terminal());
  ASSERT_TRUE(out->error);
  EXPECT_EQ(out->error->code, proto::error_code::upstream_timeout);
  EXPECT_TRUE(out->error->retryable);
}

TEST(UpstreamProvider, CancelClosesTheUpstreamConnection) {
  std::promise<void> closed;
  local_server srv([&](tcp::socket& s, int) {
    beast::flat_buffer buf;
    test::read_request(s, buf);
    std::string part = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    char hex[16];
    std::snprintf(hex, sizeof hex, "%zx\r\n", part.size());
    test::write_raw(s, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" +
                           std::string(hex) + part + "\r\n");
    if (test::wait_peer_close(s)) closed.set_value();
  });
  fixture f;
  auto cancel = std::make_shared<cancellation>();
  auto out = f.run(*f.openai(srv.port()), cancel);
  ASSERT_TRUE(out->wait_text());
  cancel->cancel();
  ASSERT_EQ(closed.get_future().wait_for(2s), std::future_status::ready);
  EXPECT_FALSE(out->wait_terminal(100ms)) << "nothing is reported after a cancel";
}

TEST(UpstreamProvider, RefusesModelsOutsideTheAllowList) {
  fixture f;
  auto out = f.run(*f.openai(1), nullptr, "gpt-forbidden");
  ASSERT_TRUE(out->wait_terminal());
  ASSERT_TRUE(out->error);
  EXPECT_EQ(out->error->code, proto::error_code::bad_request);
  EXPECT_EQ(out->error->field, "model");
}

TEST(RetryDelay, BackoffWithJitterAndRetryAfter) {
  EXPECT_EQ(retry_delay_ms(1, 500, 20000, std::nullopt, 0.0), 250);
  EXPECT_EQ(retry_delay_ms(1, 500, 20000, std::nullopt, 0.999999), 499);
  EXPECT_EQ(retry_delay_ms(3, 500, 20000, std::nullopt, 0.0), 1000);
  EXPECT_EQ(retry_delay_ms(20, 500, 20000, std::nullopt, 0.0), 10000);
  EXPECT_EQ(retry_delay_ms(1, 500, 20000, 3000, 0.5), 3000);
  EXPECT_EQ(retry_delay_ms(1, 500, 2000, 3000, 0.5), 2000);
}

}  // namespace
}  // namespace sg::provider
