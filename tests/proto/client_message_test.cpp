// Client message parsing: every action, every field fault, and the answers' error fields.
#include "proto/client_message.hpp"

#include <gtest/gtest.h>

namespace sg::proto {
namespace {

parse_error expect_error(std::string_view text) {
  auto r = parse_client_message(text);
  EXPECT_TRUE(r.has_error()) << text;
  return r.has_error() ? r.error() : parse_error{};
}

template <class T>
T expect_message(std::string_view text) {
  auto r = parse_client_message(text);
  EXPECT_TRUE(r.has_value()) << text;
  if (!r) return T{};
  auto& m = *r;
  EXPECT_TRUE(std::holds_alternative<T>(m)) << text;
  return std::get<T>(m);
}

TEST(ClientMessage, StreamWithAllFields) {
  auto s = expect_message<stream_request>(
      R"({"action":"stream","projectId":"p1","userInput":"Hi","requestId":"r","provider":"demo","model":"m",
          "chat_history":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]})");
  EXPECT_EQ(s.project_id, "p1");
  EXPECT_EQ(s.user_input, "Hi");
  EXPECT_EQ(s.request_id, "r");
  EXPECT_EQ(s.provider, "demo");
  EXPECT_EQ(s.model, "m");
  ASSERT_EQ(s.history.size(), 2u);
  EXPECT_EQ(s.history[1].role, "assistant");
  EXPECT_EQ(s.history[1].content, "b");
}

TEST(ClientMessage, SeedMessageWithoutOptionalFields) {
  auto s = expect_message<stream_request>(R"({"action": "stream", "projectId": "test", "userInput": "Hello"})");
  EXPECT_TRUE(s.history.empty());
  EXPECT_TRUE(s.request_id.empty());
}

TEST(ClientMessage, CancelResumePing) {
  EXPECT_EQ(expect_message<cancel_request>(R"({"action":"cancel","streamId":"s"})").stream_id, "s");
  auto r = expect_message<resume_request>(R"({"action":"resume","streamId":"s","lastSeq":42})");
  EXPECT_EQ(r.last_seq, 42u);
  EXPECT_EQ(expect_message<resume_request>(R"({"action":"resume","streamId":"s"})").last_seq, 0u);
  EXPECT_EQ(expect_message<resume_request>(R"({"action":"resume","streamId":"s","lastSeq":7.0})").last_seq, 7u);
  EXPECT_EQ(expect_message<ping_request>(R"({"action":"ping","message":"x","requestId":"q"})").request_id, "q");
}

TEST(ClientMessage, Faults) {
  EXPECT_EQ(expect_error("nope").error.code, error_code::bad_request);
  EXPECT_EQ(expect_error("").error.code, error_code::bad_request);
  EXPECT_EQ(expect_error("null").error.code, error_code::bad_request);
  EXPECT_EQ(expect_error("{}").error.code, error_code::unknown_action);
  EXPECT_EQ(expect_error(R"({"action":"fly","requestId":"r"})").request_id, "r");
  EXPECT_EQ(expect_error(R"({"action":"fly"})").error.code, error_code::unknown_action);
  EXPECT_EQ(expect_error(R"({"action":null})").error.field, "action");
  EXPECT_EQ(expect_error(R"({"action":"stream","userInput":"x"})").error.field, "projectId");
  EXPECT_EQ(expect_error(R"({"action":"stream","projectId":"","userInput":"x"})").error.field, "projectId");
  EXPECT_EQ(expect_error(R"({"action":"stream","projectId":"p","userInput":[]})").error.field, "userInput");
  EXPECT_EQ(expect_error(R"({"action":"stream","projectId":"p","userInput":"x","model":1})").error.field, "model");
  EXPECT_EQ(expect_error(R"({"action":"stream","projectId":"p","userInput":"x","chat_history":[1]})").error.field,
            "chat_history[0]");
  EXPECT_EQ(expect_error(R"({"action":"stream","projectId":"p","userInput":"x","chat_history":[{"content":"c"}]})")
                .error.field,
            "chat_history[0].role");
  EXPECT_EQ(expect_error(R"({"action":"cancel"})").error.field, "streamId");
  EXPECT_EQ(expect_error(R"({"action":"resume","streamId":"s","lastSeq":1.5})").error.field, "lastSeq");
  EXPECT_EQ(expect_error(R"({"action":"resume","streamId":"s","lastSeq":true})").error.field, "lastSeq");
  EXPECT_EQ(expect_error(R"({"action":"stream","projectId":")" + std::string(300, 'p') + R"(","userInput":"x"})")
                .error.field,
            "projectId");
}

TEST(ClientMessage, ErrorsAreNotRetryable) {
  auto e = expect_error("{");
  EXPECT_FALSE(e.error.retryable);
  EXPECT_FALSE(e.error.message.empty());
}

}  // namespace
}  // namespace sg::proto
