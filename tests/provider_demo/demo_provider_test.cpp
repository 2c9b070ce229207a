// The demo provider: deterministic titles from key phrases, and pacing against absolute time.
#include "provider/demo/demo_provider.hpp"
#include "provider/demo/title_generator.hpp"

#include "core/clock.hpp"
#include "core/pacer.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace sg::provider::demo {
namespace {

request make_request(std::string input) {
  request r;
  r.user_input = std::move(input);
  return r;
}

TEST(TitleGenerator, TokensConcatenateToTheText) {
  auto g = generate_titles(make_request("Kubernetes cost optimisation for small startups"));
  std::string joined;
  for (auto& t : g.tokens) joined += t;
  EXPECT_EQ(joined, g.text);
  EXPECT_GT(g.tokens.size(), 50u);
  EXPECT_GT(g.input_tokens, 0u);
}

TEST(TitleGenerator, IsDeterministicAndDependsOnTheInput) {
  auto a = generate_titles(make_request("sourdough baking at home"));
  auto b = generate_titles(make_request("sourdough baking at home"));
  auto c = generate_titles(make_request("electric bicycles in winter"));
  EXPECT_EQ(a.text, b.text);
  EXPECT_NE(a.text, c.text);
  EXPECT_NE(a.text.find("Sourdough Baking"), std::string::npos) << a.text;
  EXPECT_NE(c.text.find("Electric Bicycles"), std::string::npos) << c.text;
}

TEST(TitleGenerator, KeyPhrasesWeighInputCardsAndHistory) {
  request r = make_request("quantum networking");
  r.cards.push_back({"instruction", "Mention security and security again for security teams"});
  r.history.push_back({"user", "earlier we discussed satellites"});
  auto phrases = key_phrases(r, 3);
  ASSERT_EQ(phrases.size(), 3u);
  EXPECT_EQ(phrases[0], "quantum networking");
  EXPECT_EQ(phrases[1], "security");
  auto g = generate_titles(r);
  EXPECT_NE(g.text.find("Shaped by 1 prompt card"), std::string::npos);
}

TEST(TitleGenerator, StopwordsOnlyInputFallsBack) {
  auto phrases = key_phrases(make_request("hello, can you help me?"), 3);
  EXPECT_EQ(phrases.size(), 3u);
  EXPECT_EQ(phrases[0], "fresh ideas");
}

TEST(TitleGenerator, TokenizeKeepsSpacesAndUtf8Together) {
  auto t = tokenize("Hi there, 日本!\n\nOK");
  std::string joined;
  for (auto& x : t) joined += x;
  EXPECT_EQ(joined, "Hi there, 日本!\n\nOK");
  EXPECT_EQ(t[0], "Hi");
  EXPECT_EQ(t[1], " there");
  EXPECT_EQ(t[2], ",");
}

struct capture : sink {
  std::vector<std::pair<std::string, std::int64_t>> deltas;
  std::vector<std::int64_t> arrived_us;  // system clock, like the due times
  bool sent = false, done = false;
  proto::usage u;
  void on_request_sent() override { sent = true; }
  void on_delta(std::string text, std::int64_t due) override {
    arrived_us.push_back(core::now_us());
    deltas.emplace_back(std::move(text), due);
  }
  void on_done(proto::usage x) override {
    done = true;
    u = x;
  }
  void on_error(proto::error_info) override {}
};

TEST(DemoProvider, PacesAgainstAbsoluteTime) {
  net::io_context ioc;
  demo_provider p(20, 500);  // 2 ms apart
  auto out = std::make_shared<capture>();
  auto req = std::make_shared<request>(make_request("pacing"));
  auto t0 = std::chrono::steady_clock::now();
  p.start(req, out, ioc.get_executor(), std::make_shared<cancellation>());
  ioc.run_for(std::chrono::seconds(10));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(out->done);
  EXPECT_TRUE(out->sent);
  auto n = out->deltas.size();
  EXPECT_EQ(out->u.output_tokens, n);
  for (std::size_t k = 1; k < n; ++k) EXPECT_EQ(out->deltas[k].second - out->deltas[0].second, 2000 * std::int64_t(k));
  // Never early: each token comes at or after the time it says it was due.
  for (std::size_t k = 0; k < n; ++k) EXPECT_GE(out->arrived_us[k], out->deltas[k].second) << "token " << k;
  // The whole stream takes ttft + (n-1)/rate at least, less the part of a tick its schedule starts
  // before the request (a shard's schedule starts on the pacer's last tick).
  EXPECT_GE(elapsed, std::chrono::milliseconds(20 + 2 * (n - 1)) - core::pacer::tick);
  // The first token is due ttft after the schedule's start, which is at most a tick before the
  // job's start, itself no earlier than start() was called.
  auto started_us = core::now_us() - std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  EXPECT_GE(out->deltas[0].second, started_us + 20'000 - 1'000 - 100);  // 100 µs: the two clocks read apart
}

TEST(DemoProvider, CancelStopsDeltas) {
  net::io_context ioc;
  demo_provider p(1, 100);
  auto out = std::make_shared<capture>();
  auto cancel = std::make_shared<cancellation>();
  p.start(std::make_shared<request>(make_request("cancel")), out, ioc.get_executor(), cancel);
  // Run until three deltas arrived, then cancel.
  while (out->deltas.size() < 3) ioc.run_one_for(std::chrono::seconds(5));
  cancel->cancel();
  ioc.run_for(std::chrono::milliseconds(300));
  EXPECT_LE(out->deltas.size(), 4u);
  EXPECT_FALSE(out->done);
}

}  // namespace
}  // namespace sg::provider::demo
