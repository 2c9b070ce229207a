// The projects REST API: every endpoint, every validation error, history written by streams.
#include "integration/harness.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <set>

namespace sg::test {
namespace {

namespace json = boost::json;

// Every call here is one user: an anonymous program that keeps its identity with a key (without it,
// each request would be somebody new and see nothing of the previous one).
const std::map<std::string, std::string> me{{"X-Streamgate-Anonymous-Key", "projects-test-user-0123456789"}};

class Projects : public per_store {
 protected:
  void SetUp() override { srv_ = std::make_unique<server_process>(with_store({"--demo-tokens-per-second", "2000"})); }
  http_result call(http::verb v, const std::string& path, const std::string& body = {}) {
    return http_request(srv_->port(), v, path, body, me);
  }
  std::string create(const std::string& name) {
    auto r = call(http::verb::post, "/v1/projects", json::serialize(json::object{{"name", name}, {"description", "d"}}));
    EXPECT_EQ(r.status, 201u);
    return std::string(r.json().at("id").as_string());
  }
  void expect_field_error(const http_result& r, const std::string& field) {
    EXPECT_EQ(r.status, 400u) << r.body;
    auto o = r.json().as_object();
    EXPECT_EQ(o.at("code"), "bad_request");
    EXPECT_EQ(std::string(o.at("field").as_string()), field) << r.body;
    EXPECT_FALSE(o.at("message").as_string().empty());
  }
  std::unique_ptr<server_process> srv_;
};

TEST_P(Projects, CreateGetListUpdateDelete) {
  auto id = create("Cooking blog");
  auto got = call(http::verb::get, "/v1/projects/" + id).json().as_object();
  EXPECT_EQ(got.at("name"), "Cooking blog");
  EXPECT_EQ(got.at("description"), "d");
  EXPECT_GT(got.at("createdAt").to_number<std::int64_t>(), 0);
  create("Second");
  auto list = call(http::verb::get, "/v1/projects").json().at("items").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("id"), json::value(id));
  auto upd = call(http::verb::put, "/v1/projects/" + id, R"({"name":"Baking blog"})");
  EXPECT_EQ(upd.status, 200u);
  EXPECT_EQ(upd.json().at("name"), "Baking blog");
  EXPECT_EQ(upd.json().at("description"), "d");  // untouched fields stay
  EXPECT_EQ(call(http::verb::delete_, "/v1/projects/" + id).status, 204u);
  EXPECT_EQ(call(http::verb::get, "/v1/projects/" + id).status, 404u);
  EXPECT_EQ(call(http::verb::delete_, "/v1/projects/" + id).status, 404u);
  EXPECT_EQ(call(http::verb::put, "/v1/projects/" + id, R"({"name":"x"})").status, 404u);
}

TEST_P(Projects, ProjectValidationErrors) {
  expect_field_error(call(http::verb::post, "/v1/projects", "{}"), "name");
  expect_field_error(call(http::verb::post, "/v1/projects", R"({"name":""})"), "name");
  expect_field_error(call(http::verb::post, "/v1/projects", R"({"name":7})"), "name");
  expect_field_error(call(http::verb::post, "/v1/projects", json::serialize(json::object{{"name", std::string(201, 'n')}})),
                     "name");
  expect_field_error(call(http::verb::post, "/v1/projects", R"({"name":"ok","description":[]})"), "description");
  expect_field_error(
      call(http::verb::post, "/v1/projects", json::serialize(json::object{{"name", "ok"}, {"description", std::string(2001, 'd')}})),
      "description");
  expect_field_error(call(http::verb::post, "/v1/projects", "not json"), "body");
  expect_field_error(call(http::verb::post, "/v1/projects", "[1]"), "body");
  auto id = create("p");
  expect_field_error(call(http::verb::put, "/v1/projects/" + id, R"({"name":""})"), "name");
  expect_field_error(call(http::verb::put, "/v1/projects/" + id, "nope"), "body");
  EXPECT_EQ(call(http::verb::patch, "/v1/projects/" + id).status, 400u);
  EXPECT_EQ(call(http::verb::get, "/v1/projects/" + id + "/nothing").status, 404u);
}

TEST_P(Projects, CardsCrudAndOrder) {
  auto pid = create("cards");
  auto base = "/v1/projects/" + pid + "/cards";
  auto c1 = call(http::verb::post, base, R"({"kind":"instruction","content":"Use alliteration"})");
  ASSERT_EQ(c1.status, 201u);
  EXPECT_EQ(c1.json().at("order"), 0);
  auto c2 = call(http::verb::post, base, R"({"kind":"example","content":"Bread Basics","order":-1})");
  ASSERT_EQ(c2.status, 201u);
  auto list = call(http::verb::get, base).json().at("items").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("kind"), "example");  // order -1 sorts first
  auto cid = std::string(c1.json().at("id").as_string());
  auto upd = call(http::verb::put, base + "/" + cid, R"({"content":"Use puns","kind":"style","order":5})");
  EXPECT_EQ(upd.status, 200u);
  EXPECT_EQ(upd.json().at("content"), "Use puns");
  EXPECT_EQ(upd.json().at("kind"), "style");
  EXPECT_EQ(call(http::verb::get, base + "/" + cid).json().at("order"), 5);
  EXPECT_EQ(call(http::verb::delete_, base + "/" + cid).status, 204u);
  EXPECT_EQ(call(http::verb::get, base + "/" + cid).status, 404u);
  EXPECT_EQ(call(http::verb::delete_, base + "/" + cid).status, 404u);
  EXPECT_EQ(call(http::verb::get, "/v1/projects/p_none/cards").status, 404u);
  EXPECT_EQ(call(http::verb::post, "/v1/projects/p_none/cards", R"({"kind":"style","content":"x"})").status, 404u);
  // Deleting the project deletes its cards.
  call(http::verb::delete_, "/v1/projects/" + pid);
  EXPECT_EQ(call(http::verb::get, base).status, 404u);
}

TEST_P(Projects, CardValidationErrors) {
  auto pid = create("v");
  auto base = "/v1/projects/" + pid + "/cards";
  expect_field_error(call(http::verb::post, base, R"({"content":"x"})"), "kind");
  expect_field_error(call(http::verb::post, base, R"({"kind":"poem","content":"x"})"), "kind");
  expect_field_error(call(http::verb::post, base, R"({"kind":"style"})"), "content");
  expect_field_error(call(http::verb::post, base, R"({"kind":"style","content":""})"), "content");
  expect_field_error(call(http::verb::post, base, json::serialize(json::object{{"kind", "style"}, {"content", std::string(8001, 'c')}})),
                     "content");
  expect_field_error(call(http::verb::post, base, R"({"kind":"style","content":"x","order":"1"})"), "order");
  expect_field_error(call(http::verb::post, base, R"({"kind":"style","content":"x","order":1.5})"), "order");
  expect_field_error(call(http::verb::post, base, "{"), "body");
  auto cid = std::string(call(http::verb::post, base, R"({"kind":"style","content":"x"})").json().at("id").as_string());
  expect_field_error(call(http::verb::put, base + "/" + cid, R"({"kind":"nope"})"), "kind");
  expect_field_error(call(http::verb::put, base + "/" + cid, R"({"content":5})"), "content");
}

TEST_P(Projects, StreamsUseTheCardsAndWriteTheHistory) {
  auto pid = create("history");
  call(http::verb::post, "/v1/projects/" + pid + "/cards", R"({"kind":"instruction","content":"Mention sourdough starters"})");
  ws_client c(srv_->port(), "/ws", me);
  for (int i = 0; i < 3; ++i) {
    c.send_json(stream_request("question " + std::to_string(i) + " about bread", pid));
    auto events = c.read_until("stream_complete");
    auto full = std::string(events.back().at("fullContent").as_string());
    EXPECT_NE(full.find("Shaped by 1 prompt card"), std::string::npos) << full;
  }
  auto page = call(http::verb::get, "/v1/projects/" + pid + "/messages?limit=4").json().as_object();
  auto items = page.at("items").as_array();
  ASSERT_EQ(items.size(), 4u);  // the newest four, oldest first
  EXPECT_EQ(items[0].at("role"), "user");
  EXPECT_EQ(items[3].at("role"), "assistant");
  EXPECT_EQ(items[3].at("status"), "complete");
  EXPECT_NE(std::string(items[2].at("content").as_string()).find("question 2"), std::string::npos);
  ASSERT_TRUE(page.at("nextBefore").is_int64());
  auto older = call(http::verb::get, "/v1/projects/" + pid + "/messages?limit=4&before=" +
                                         std::to_string(page.at("nextBefore").as_int64()))
                   .json()
                   .as_object();
  EXPECT_EQ(older.at("items").as_array().size(), 2u);
  EXPECT_TRUE(older.at("nextBefore").is_null());
  expect_field_error(call(http::verb::get, "/v1/projects/" + pid + "/messages?limit=0"), "limit");
  expect_field_error(call(http::verb::get, "/v1/projects/" + pid + "/messages?limit=x"), "limit");
  expect_field_error(call(http::verb::get, "/v1/projects/" + pid + "/messages?before=-3"), "before");
}

// A stream reads its project and cards before its upstream request; on a single node with SQLite they
// are kept in memory between writes. Every write to a card or a project shows in the next stream.
TEST_P(Projects, StreamsSeeEveryCardAndProjectWriteAtOnce) {
  auto pid = create("kept");
  auto base = "/v1/projects/" + pid + "/cards";
  auto c1 = call(http::verb::post, base, R"({"kind":"instruction","content":"Mention sourdough starters"})");
  ASSERT_EQ(c1.status, 201u);
  ws_client c(srv_->port(), "/ws", me);
  auto answer = [&](const std::string& input) {
    c.send_json(stream_request(input, pid));
    auto events = c.read_until("stream_complete");
    return std::string(events.back().at("fullContent").as_string());
  };
  auto hits = [&] { return metric_value(srv_->port(), "streamgate_project_cache_hits_total"); };
  EXPECT_NE(answer("bread 1").find("Shaped by 1 prompt card: \"Mention sourdough"), std::string::npos);
  auto before = hits();
  EXPECT_NE(answer("bread 2").find("Shaped by 1 prompt card: \"Mention sourdough"), std::string::npos);
  if (GetParam() == store_kind::sqlite) {
    EXPECT_EQ(hits(), before + 1) << "nothing was written between the two";
  } else {
    EXPECT_EQ(hits(), 0) << "PostgreSQL may have other writers: nothing is kept";
  }

  auto cid = std::string(c1.json().at("id").as_string());
  ASSERT_EQ(call(http::verb::put, base + "/" + cid, R"({"content":"Use puns","kind":"style","order":5})").status, 200u);
  EXPECT_NE(answer("bread 3").find("Shaped by 1 prompt card: \"Use puns"), std::string::npos);
  ASSERT_EQ(call(http::verb::post, base, R"({"kind":"example","content":"Crumb Shots","order":-1})").status, 201u);
  EXPECT_NE(answer("bread 4").find("Shaped by 2 prompt cards: \"Crumb Shots"), std::string::npos);
  EXPECT_NE(answer("bread 5").find("Shaped by 2 prompt cards"), std::string::npos);
  ASSERT_EQ(call(http::verb::delete_, base + "/" + cid).status, 204u);
  EXPECT_NE(answer("bread 6").find("Shaped by 1 prompt card: \"Crumb Shots"), std::string::npos);

  // Someone else's project stays invisible, kept or not.
  const std::map<std::string, std::string> other{{"X-Streamgate-Anonymous-Key", "projects-test-user-other-98765"}};
  ws_client them(srv_->port(), "/ws", other);
  for (int i = 0; i < 2; ++i) {
    them.send_json(stream_request("not yours", pid));
    auto events = them.read_until("error");
    EXPECT_EQ(events.back().at("code"), "not_found");
  }
  // A deleted project's cards are gone with it.
  ASSERT_EQ(call(http::verb::delete_, "/v1/projects/" + pid).status, 204u);
  EXPECT_EQ(answer("bread 7").find("Shaped by"), std::string::npos);
  if (GetParam() == store_kind::sqlite) {
    EXPECT_GE(hits(), before + 2);
  }
}

TEST_P(Projects, CancelledAnswerIsSavedWithItsStatus) {
  server_process slow(with_store({"--demo-ttft-ms", "5", "--demo-tokens-per-second", "20"}));
  ws_client c(slow.port(), "/ws", me);
  c.send_json(stream_request("stop me", "adhoc"));
  auto events = c.read_until("stream_chunk");
  auto id = std::string(events.front().at("streamId").as_string());
  c.send_json({{"action", "cancel"}, {"streamId", id}});
  c.read_until("stream_cancelled", 5s, id);
  auto items = http_request(slow.port(), http::verb::get, "/v1/projects/adhoc/messages", {}, me).json().at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].at("status"), "cancelled");
  EXPECT_EQ(items[1].at("streamId"), json::value(id));
}

// The questions of streams started within record_gather of each other are written in one store
// transaction, and the answers of streams ended within end_gather of each other are saved in one;
// every question and its answer are in the history, in order, as they were sent.
TEST_P(Projects, QuestionsAndAnswersOfStreamsRunTogetherShareTransactions) {
  constexpr int n = 200;
  server_process many(with_store({"--demo-ttft-ms", "400", "--demo-tokens-per-second", "2000",
                                  "--max-streams-per-user", "1000", "--max-streams-per-connection", "1000"}));
  auto pid = std::string(http_request(many.port(), http::verb::post, "/v1/projects", R"({"name":"together"})", me)
                             .json().at("id").as_string());
  ws_client c(many.port(), "/ws", me);
  for (int i = 0; i < n; ++i) c.send_json(stream_request("question " + std::to_string(i), pid, "q" + std::to_string(i)));
  std::map<std::string, std::string> answers;  // requestId → fullContent
  std::map<std::string, std::string> request_of;  // streamId → requestId
  while (answers.size() < static_cast<std::size_t>(n)) {
    auto e = c.read(20s);
    auto type = e.at("type").as_string();
    ASSERT_NE(type, "error") << json::serialize(e);
    if (type == "stream_start")
      request_of[std::string(e.at("streamId").as_string())] = std::string(e.at("requestId").as_string());
    if (type == "stream_complete")
      answers[request_of.at(std::string(e.at("streamId").as_string()))] = std::string(e.at("fullContent").as_string());
  }
  auto written = metric_value(many.port(), "streamgate_questions_written_total");
  auto batches = metric_value(many.port(), "streamgate_question_batches_total");
  EXPECT_EQ(written, n) << "every question went through a batch (each answer took longer than the gathering)";
  EXPECT_GE(batches, 1);
  EXPECT_LE(batches * 4, written) << "questions sent together share transactions";
  auto saved = metric_value(many.port(), "streamgate_answer_ends_saved_total");
  auto end_batches = metric_value(many.port(), "streamgate_answer_end_batches_total");
  EXPECT_EQ(saved, n) << "every answer's end went through a batch";
  EXPECT_GE(end_batches, 1);
  // Two ends a transaction on average, where every end alone would make one each: the starts spread
  // under a sanitizer's slowness, and so do the ends (200 ends in 52 transactions in one CI run).
  EXPECT_LE(end_batches * 2, saved) << "answers that end together share transactions";
  EXPECT_GE(metric_value(many.port(), "streamgate_answer_checkpoints_total"), 0) << "exported";
  EXPECT_GE(metric_value(many.port(), "streamgate_answer_checkpoints_skipped_total"), 0) << "exported";

  std::vector<json::value> items;
  for (std::string before;;) {
    auto page = http_request(many.port(), http::verb::get,
                             "/v1/projects/" + pid + "/messages?limit=100" + (before.empty() ? "" : "&before=" + before), {}, me)
                    .json().as_object();
    auto& got = page.at("items").as_array();
    items.insert(items.begin(), got.begin(), got.end());
    if (page.at("nextBefore").is_null()) break;
    before = std::to_string(page.at("nextBefore").as_int64());
  }
  ASSERT_EQ(items.size(), 2u * n);
  std::set<std::string> seen;
  for (std::size_t i = 0; i < items.size(); i += 2) {
    auto& q = items[i].as_object();
    auto& a = items[i + 1].as_object();
    ASSERT_EQ(q.at("role"), "user");
    ASSERT_EQ(a.at("role"), "assistant");
    EXPECT_EQ(q.at("streamId"), a.at("streamId")) << "each question is followed by its own answer";
    auto rid = request_of.at(std::string(a.at("streamId").as_string()));
    EXPECT_EQ(std::string(q.at("content").as_string()), "question " + rid.substr(1));
    EXPECT_EQ(a.at("status"), "complete");
    EXPECT_EQ(std::string(a.at("content").as_string()), answers.at(rid));
    seen.insert(rid);
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
}

// A stream that ends before its question's batch is written takes the question back and writes it
// with its answer, in one transaction.
TEST_P(Projects, AStreamEndedBeforeItsBatchWritesItsQuestionWithItsAnswer) {
  server_process slow(with_store({"--demo-ttft-ms", "5000"}));
  ws_client c(slow.port(), "/ws", me);
  c.send_json(stream_request("cancelled at once", "adhoc"));
  auto id = std::string(c.read_until("stream_start").back().at("streamId").as_string());
  c.send_json({{"action", "cancel"}, {"streamId", id}});
  c.read_until("stream_cancelled", 5s, id);
  auto items = http_request(slow.port(), http::verb::get, "/v1/projects/adhoc/messages", {}, me).json().at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].at("content"), "cancelled at once");
  EXPECT_EQ(items[1].at("status"), "cancelled");
  EXPECT_EQ(items[1].at("streamId"), json::value(id));
  EXPECT_EQ(metric_value(slow.port(), "streamgate_questions_written_total"), 0)
      << "the cancel came within the gathering: the end wrote the question";
}

class ProjectsRestart : public per_store {};

TEST_P(ProjectsRestart, HistorySurvivesARestart) {
  char tmpl[] = "/tmp/streamgate-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  std::string dir = tmpl, pid;
  {
    server_process srv(with_store(), dir);
    pid = std::string(http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"durable"})", me).json().at("id").as_string());
    ws_client c(srv.port(), "/ws", me);
    c.send_json(stream_request("remember me", pid));
    c.read_until("stream_complete");
    srv.signal(SIGTERM);
    ASSERT_TRUE(srv.wait(10s));
  }
  server_process again(with_store(), dir);
  EXPECT_EQ(http_request(again.port(), http::verb::get, "/v1/projects/" + pid, {}, me).json().at("name"), "durable");
  EXPECT_EQ(http_request(again.port(), http::verb::get, "/v1/projects/" + pid + "/messages", {}, me).json().at("items").as_array().size(),
            2u);
  std::filesystem::remove_all(dir);
}

// A drain that interrupts a recorded answer saves its end (gathered with others) before the process
// stops: after a restart it is `failed`, as its end wrote it, not `interrupted`, as a start marks an
// answer a crash left `streaming`.
TEST_P(ProjectsRestart, AnAnswerEndedByTheDrainIsSavedBeforeTheServerStops) {
  char tmpl[] = "/tmp/streamgate-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  std::string dir = tmpl, pid, id;
  {
    server_process srv(with_store({"--demo-ttft-ms", "60000", "--drain-timeout-ms", "300"}), dir);
    pid = std::string(http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"drained"})", me).json().at("id").as_string());
    ws_client c(srv.port(), "/ws", me);
    c.send_json(stream_request("cut by the drain", pid));
    id = std::string(c.read_until("stream_start").back().at("streamId").as_string());
    srv.signal(SIGTERM);
    auto events = c.read_until("error", 10s);
    EXPECT_EQ(events.back().at("code"), "interrupted");
    ASSERT_TRUE(srv.wait(10s));
  }
  server_process again(with_store(), dir);
  auto items = http_request(again.port(), http::verb::get, "/v1/projects/" + pid + "/messages", {}, me).json().at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].at("content"), "cut by the drain");
  EXPECT_EQ(items[1].at("streamId"), json::value(id));
  EXPECT_EQ(items[1].at("status"), "failed") << "saved by the stream's end before the process stopped";
  std::filesystem::remove_all(dir);
}

// kill -9 mid-answer, then a restart: the answer is in the history, `interrupted`, with the text it
// had reached (checkpointed every second), never missing. An answer still running is `streaming`.
TEST_P(ProjectsRestart, AnAnswerCutByACrashIsInTheHistoryWithItsText) {
  char tmpl[] = "/tmp/streamgate-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  std::string dir = tmpl, pid, id, received, received_a_second_before;
  {
    server_process srv(with_store({"--demo-tokens-per-second", "20"}), dir);
    pid = std::string(http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"crash"})", me).json().at("id").as_string());
    ws_client c(srv.port(), "/ws", me);
    c.send_json(stream_request("a crash mid answer", pid));
    auto start = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> first_chunk;
    while (true) {
      auto e = c.read(10s);
      if (e.at("type") == "stream_start") id = std::string(e.at("streamId").as_string());
      if (e.at("type") != "stream_chunk") continue;
      if (!first_chunk) first_chunk = std::chrono::steady_clock::now();
      received += e.at("content").as_string();
      auto since = std::chrono::steady_clock::now() - *first_chunk;
      if (since < 1100ms) received_a_second_before = received;
      if (since >= 2500ms) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now() - start, 9s);  // still running (a demo answer takes ~8 s)
    // While it runs, the history already has it.
    auto live = http_request(srv.port(), http::verb::get, "/v1/projects/" + pid + "/messages", {}, me).json();
    auto& items = live.at("items").as_array();
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items.at(1).at("role"), "assistant");  // oldest first
    EXPECT_EQ(items.at(1).at("status"), "streaming");
    srv.signal(SIGKILL);
    ASSERT_TRUE(srv.wait(10s));
  }
  server_process again(with_store(), dir);
  auto items = http_request(again.port(), http::verb::get, "/v1/projects/" + pid + "/messages", {}, me).json().at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  auto& answer = items.at(1).as_object();  // oldest first: the question, then its answer
  EXPECT_EQ(answer.at("role"), "assistant");
  EXPECT_EQ(std::string(answer.at("streamId").as_string()), id);
  EXPECT_EQ(answer.at("status"), "interrupted");
  std::string text(answer.at("content").as_string());
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(received.substr(0, text.size()), text);           // a prefix of what was sent
  EXPECT_GE(text.size(), received_a_second_before.size());  // at most a second behind
  std::filesystem::remove_all(dir);
}

// The same with many answers running at once: the store thread reads each one's text as it writes the
// checkpoint, and every text reaches the history at most a second behind what was sent.
TEST_P(ProjectsRestart, ManyAnswersCutByACrashAreEachInTheHistoryWithTheirText) {
  constexpr int n = 24;
  char tmpl[] = "/tmp/streamgate-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  std::string dir = tmpl, pid;
  struct seen {
    std::string received, received_a_second_before;
    std::optional<std::chrono::steady_clock::time_point> first_chunk;
    bool past = false;  // 2.5 s past its first chunk
  };
  std::map<std::string, seen> streams;
  {
    server_process srv(with_store({"--demo-tokens-per-second", "20", "--max-streams-per-connection", "32"}), dir);
    pid = std::string(http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"crash"})", me).json().at("id").as_string());
    ws_client c(srv.port(), "/ws", me);
    for (int i = 0; i < n; ++i) c.send_json(stream_request("crash " + std::to_string(i), pid));
    auto start = std::chrono::steady_clock::now();
    int past = 0;  // streams 2.5 s past their first chunk
    while (past < n) {
      auto e = c.read(10s);
      if (e.at("type") == "stream_start") streams[std::string(e.at("streamId").as_string())];
      if (e.at("type") != "stream_chunk") continue;
      auto& st = streams.at(std::string(e.at("streamId").as_string()));
      auto now = std::chrono::steady_clock::now();
      if (!st.first_chunk) st.first_chunk = now;
      st.received += e.at("content").as_string();
      if (now - *st.first_chunk < 1100ms) st.received_a_second_before = st.received;
      if (!st.past && now - *st.first_chunk >= 2500ms) {
        st.past = true;
        ++past;
      }
    }
    ASSERT_LT(std::chrono::steady_clock::now() - start, 7s);  // all still running (a demo answer takes ~8 s)
    srv.signal(SIGKILL);
    ASSERT_TRUE(srv.wait(10s));
  }
  ASSERT_EQ(streams.size(), static_cast<std::size_t>(n));
  server_process again(with_store(), dir);
  auto items = http_request(again.port(), http::verb::get, "/v1/projects/" + pid + "/messages?limit=100", {}, me)
                   .json()
                   .at("items")
                   .as_array();
  ASSERT_EQ(items.size(), 2u * n);
  int answers = 0;
  for (auto& item : items) {
    auto& m = item.as_object();
    if (m.at("role") != "assistant") continue;
    ++answers;
    auto& st = streams.at(std::string(m.at("streamId").as_string()));
    EXPECT_EQ(m.at("status"), "interrupted");
    std::string text(m.at("content").as_string());
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(st.received.substr(0, text.size()), text);           // a prefix of what was sent
    EXPECT_GE(text.size(), st.received_a_second_before.size());  // at most a second behind
  }
  EXPECT_EQ(answers, n);
  std::filesystem::remove_all(dir);
}

SG_FOR_EACH_STORE(Projects);
SG_FOR_EACH_STORE(ProjectsRestart);

// Polls /readyz until it answers `status`; false at the deadline.
bool ready_becomes(std::uint16_t port, unsigned status, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (http_request(port, http::verb::get, "/readyz").status != status) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);  // between polls of the condition, not in place of one
  }
  return true;
}

// The PostgreSQL server stops and starts again mid-run: while it is away store work answers 503
// unavailable and /readyz says so; once it is back, every pooled connection is re-established and
// nothing written before is lost.
TEST(PostgresStore, ARestartedServerIsReconnectedAndReadyzFollowsIt) {
  test_store st(store_kind::postgres);
  server_process srv(st.args({"--database-pool-size", "3"}));
  auto call = [&](http::verb v, const std::string& path, const std::string& body = {}) {
    return http_request(srv.port(), v, path, body, me);
  };
  auto before = call(http::verb::post, "/v1/projects", R"({"name":"before the restart"})");
  ASSERT_EQ(before.status, 201u);
  auto pid = std::string(before.json().at("id").as_string());
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/readyz").status, 200u);

  st.postgres()->stop();
  ASSERT_TRUE(ready_becomes(srv.port(), 503, 10s));
  auto ready = http_request(srv.port(), http::verb::get, "/readyz").json().as_object();
  EXPECT_EQ(ready.at("status"), "unavailable");
  auto refused = call(http::verb::post, "/v1/projects", R"({"name":"while away"})");
  EXPECT_EQ(refused.status, 503u) << refused.body;
  EXPECT_EQ(refused.json().at("code"), "unavailable");
  EXPECT_EQ(call(http::verb::get, "/v1/projects").status, 503u);
  // A stream that cannot record its question ends with a retryable error instead of answering.
  {
    ws_client c(srv.port(), "/ws", me);
    c.send_json(stream_request("while away", pid));
    auto events = c.read_until("error");
    EXPECT_TRUE(events.back().at("retryable").as_bool());
  }

  st.postgres()->start();
  ASSERT_TRUE(ready_becomes(srv.port(), 200, 15s)) << srv.log();
  // More requests than pooled connections, so each connection's first work after the restart runs.
  for (int i = 0; i < 8; ++i) {
    auto got = call(http::verb::get, "/v1/projects/" + pid);
    ASSERT_EQ(got.status, 200u) << "request " << i << ": " << got.body;
    EXPECT_EQ(got.json().at("name"), "before the restart");
  }
  EXPECT_EQ(call(http::verb::post, "/v1/projects", R"({"name":"after the restart"})").status, 201u);
  EXPECT_EQ(call(http::verb::get, "/v1/projects").json().at("items").as_array().size(), 2u);
  ws_client c(srv.port(), "/ws", me);
  c.send_json(stream_request("after the restart", pid));
  c.read_until("stream_complete");
  EXPECT_EQ(call(http::verb::get, "/v1/projects/" + pid + "/messages").json().at("items").as_array().size(), 2u);
}

// The URL forms: a socket directory instead of TCP; a URL that is neither SQLite nor PostgreSQL is
// refused at start.
TEST(PostgresStore, SocketDirectoryUrlAndBadUrlsAtStart) {
  test_store st(store_kind::postgres);
  {
    server_process srv({"--database", st.postgres()->socket_url()});
    EXPECT_EQ(http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"over the socket"})", me).status, 201u);
    EXPECT_TRUE(srv.wait_for_log(R"("engine":"postgres")", 5s));
  }
  EXPECT_THROW((server_process(std::vector<std::string>{"--database", "mysql://localhost/db"})), std::runtime_error);
  // Unreachable at start: the server does not start without its store (the password stays out of the log).
  try {
    server_process down({"--database", "postgres://u:hunter2@127.0.0.1:1/db"});
    ADD_FAILURE() << "started without its database";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace sg::test
