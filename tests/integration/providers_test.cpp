// Real providers end to end: streamgate streams from the Node fakes of OpenAI, Anthropic, Bedrock and Ollama.
#include "integration/harness.hpp"
#include "support/temp_dir.hpp"
#include "core/asio.hpp"
#include "proto/error_code.hpp"
#include "provider/protocol.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

namespace sg::test {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

const fs::path repo_root = SG_SOURCE_DIR;  // set by CMake: __FILE__ may be relative under ccache

std::string find_node() {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "";
  std::size_t start = 0;
  while (start <= p.size()) {
    auto colon = p.find(':', start);
    auto dir = p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty() && ::access((dir + "/node").c_str(), X_OK) == 0) return dir + "/node";
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return {};
}

// The fakes (tests/fakes/server.mjs, no npm packages needed) in a child process on a free port.
class fake_upstreams {
 public:
  explicit fake_upstreams(std::vector<std::string> extra = {}) {
    auto node = find_node();
    if (node.empty()) throw std::runtime_error("node not found");
    std::vector<std::string> argv = {node, (repo_root / "tests/fakes/server.mjs").string(), "--exit-with-stdin"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      dup2(in[0], STDIN_FILENO);
      std::vector<char*> c;
      for (auto& a : argv) c.push_back(a.data());
      c.push_back(nullptr);
      execv(c[0], c.data());
      _exit(127);
    }
    close(out[1]);
    close(in[0]);
    stdin_ = in[1];
    out_ = out[0];
    // The first stdout line is {"port":N}; bounded by poll so a broken node cannot hang the test.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (line.find('\n') == std::string::npos) {
      fd_set fds;
      FD_ZERO(&fds);
      FD_SET(out_, &fds);
      timeval tv{0, 100000};
      if (::select(out_ + 1, &fds, nullptr, nullptr, &tv) > 0) {
        char buf[256];
        auto n = ::read(out_, buf, sizeof buf);
        if (n <= 0) throw std::runtime_error("the fakes exited: " + line);
        line.append(buf, static_cast<std::size_t>(n));
      }
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("the fakes did not start");
    }
    port_ = static_cast<std::uint16_t>(json::parse(line.substr(0, line.find('\n'))).at("port").to_number<int>());
  }
  ~fake_upstreams() {
    close(stdin_);
    ::kill(pid_, SIGTERM);
    int status;
    waitpid(pid_, &status, 0);
    close(out_);
  }
  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

  json::array requests() const { return http_request(port_, http::verb::get, "/_fake/requests").json().as_array(); }
  /// The id of the latest request for `model`, or 0.
  std::int64_t last_request_for(const std::string& model) const {
    std::int64_t id = 0;
    for (auto& r : requests())
      if (r.at("model").is_string() && r.at("model").as_string() == model) id = r.at("id").to_number<std::int64_t>();
    return id;
  }
  /// Waits (bounded) until request `id`'s response closed; its record.
  json::object wait_closed(std::int64_t id) const {
    auto r = http_request(port_, http::verb::get, "/_fake/wait-closed?id=" + std::to_string(id) + "&timeoutMs=3000", {},
                          {}, 5s);
    if (r.status != 200) throw std::runtime_error("fake: " + r.body);
    return r.json().as_object();
  }

 private:
  int pid_ = -1;
  int stdin_ = -1;
  int out_ = -1;
  std::uint16_t port_ = 0;
};

// The fakes' deterministic answer and its token count (words with their leading space).
std::string reply(const std::string& kind, const std::string& input) {
  return "Hello from the fake " + kind + "! You said: " + input;
}
std::size_t token_count(const std::string& text) {
  static const std::regex word(R"(\s*\S+)");
  return static_cast<std::size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), word), std::sregex_iterator()));
}

using sg::test::temp_dir;

constexpr const char* aws_key_id = "AKIDFAKEFAKEFAKE";
constexpr const char* aws_secret = "fake/secret+key/for+tests";

// One config naming every provider kind against the fakes; retries off so each fault maps as it is.
std::string config_for(const fake_upstreams& f, const temp_dir& dir, const std::string& secret = aws_secret) {
  auto creds = dir.write("credentials", std::string("[fake]\naws_access_key_id = ") + aws_key_id +
                                            "\naws_secret_access_key = " + secret + "\naws_session_token = tok\n");
  std::string common = "max_retries = 0\nfirst_byte_timeout_ms = 700\nidle_timeout_ms = 5000\n";
  return dir.write("streamgate.toml",
                   "[providers.openai]\nbase_url = \"" + f.url("/v1") + "\"\napi_key_env = \"SG_TEST_OPENAI_KEY\"\n"
                   "default_model = \"gpt-fake\"\n" + common +
                   "[providers.openai-retry]\nkind = \"openai\"\nbase_url = \"" + f.url("/v1") +
                   "\"\ndefault_model = \"gpt-fake\"\nmax_retries = 2\nretry_base_ms = 10\n"
                   "[providers.anthropic]\nbase_url = \"" + f.url() + "\"\napi_key_env = \"SG_TEST_ANTHROPIC_KEY\"\n"
                   "default_model = \"claude-fake\"\nmax_tokens = 200\n" + common +
                   "[providers.bedrock]\nregion = \"us-east-1\"\nendpoint = \"" + f.url() + "\"\ncredentials_file = \"" +
                   creds + "\"\nprofile = \"fake\"\ndefault_model = \"anthropic.claude-3-5-haiku-20241022-v1:0\"\n" + common +
                   "[providers.bedrock-converse]\nkind = \"bedrock\"\napi = \"converse\"\nregion = \"us-east-1\"\nendpoint = \"" +
                   f.url() + "\"\ncredentials_file = \"" + creds + "\"\nprofile = \"fake\"\n"
                   "default_model = \"meta.llama3-1-8b-instruct-v1:0\"\n" + common +
                   "[providers.ollama]\nbase_url = \"" + f.url() + "\"\ndefault_model = \"llama3.2\"\n" + common);
}

struct outcome {
  std::string stream_id;
  std::string text;
  json::object terminal;
  std::vector<std::string> types;
  bool generating_before_first_chunk = false;
};

outcome stream_via(ws_client& ws, const std::string& provider, const std::string& model, const std::string& input) {
  auto req = stream_request(input, "providers");
  if (!provider.empty()) req["provider"] = provider;
  if (!model.empty()) req["model"] = model;
  ws.send_json(req);
  outcome o;
  bool generating = false;
  for (;;) {
    auto ev = ws.read(15s);
    std::string type(ev.at("type").as_string());
    o.types.push_back(type);
    if (type == "stream_start") o.stream_id = std::string(ev.at("streamId").as_string());
    if (type == "progress" && ev.at("stage") == "generating") generating = true;
    if (type == "stream_chunk") {
      if (o.text.empty()) o.generating_before_first_chunk = generating;
      o.text += std::string(ev.at("content").as_string());
    }
    if (type == "stream_complete" || type == "error" || type == "stream_cancelled") {
      o.terminal = ev;
      return o;
    }
  }
}

class Providers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (find_node().empty()) GTEST_SKIP() << "node is not installed";
    ::setenv("SG_TEST_OPENAI_KEY", "sk-fake", 1);
    ::setenv("SG_TEST_ANTHROPIC_KEY", "sk-ant-fake", 1);
    fakes_ = new fake_upstreams({"--slow-ms", "3000"});
    dir_ = new temp_dir();
    server_ = new server_process({"--config", config_for(*fakes_, *dir_)});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
    delete fakes_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "node is not installed";
  }
  static fake_upstreams* fakes_;
  static temp_dir* dir_;
  static server_process* server_;
};
fake_upstreams* Providers::fakes_ = nullptr;
temp_dir* Providers::dir_ = nullptr;
server_process* Providers::server_ = nullptr;

TEST_F(Providers, EachProviderStreamsTextAndUsage) {
  ws_client ws(server_->port());
  struct row {
    std::string provider, kind;
  };
  for (auto& r : {row{"openai", "openai"}, row{"anthropic", "anthropic"}, row{"bedrock", "bedrock"},
                  row{"bedrock-converse", "bedrock"}, row{"ollama", "ollama"}}) {
    SCOPED_TRACE(r.provider);
    std::string input = "Name my blog about " + r.provider;
    auto o = stream_via(ws, r.provider, "", input);
    ASSERT_EQ(o.terminal.at("type"), "stream_complete") << json::serialize(o.terminal);
    auto expected = reply(r.kind, input);
    EXPECT_EQ(o.text, expected);
    EXPECT_EQ(std::string(o.terminal.at("fullContent").as_string()), expected);
    auto& usage = o.terminal.at("usage").as_object();
    EXPECT_EQ(usage.at("outputTokens").to_number<std::size_t>(), token_count(expected));
    EXPECT_GT(usage.at("inputTokens").to_number<std::size_t>(), 0u);
    EXPECT_TRUE(o.generating_before_first_chunk);
  }
  // What went upstream: each wire format's request shape.
  auto reqs = fakes_->requests();
  bool saw_invoke = false, saw_converse = false;
  for (auto& rv : reqs) {
    auto& r = rv.as_object();
    auto body = json::parse(r.at("body").as_string()).as_object();
    auto& h = r.at("headers").as_object();
    auto kind = std::string(r.at("kind").as_string());
    if (kind == "openai") {
      EXPECT_EQ(h.at("authorization"), "Bearer sk-fake");
      EXPECT_EQ(body.at("stream_options").at("include_usage"), true);
    } else if (kind == "anthropic") {
      EXPECT_EQ(h.at("x-api-key"), "sk-ant-fake");
      EXPECT_EQ(h.at("anthropic-version"), "2023-06-01");
      EXPECT_EQ(body.at("max_tokens"), 200);
    } else if (kind == "bedrock-invoke") {
      saw_invoke = true;
      EXPECT_EQ(r.at("path"), "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke-with-response-stream");
      EXPECT_EQ(h.at("x-amz-security-token"), "tok");
    } else if (kind == "bedrock-converse") {
      saw_converse = true;
      EXPECT_EQ(r.at("path"), "/model/meta.llama3-1-8b-instruct-v1%3A0/converse-stream");
    }
  }
  EXPECT_TRUE(saw_invoke);
  EXPECT_TRUE(saw_converse);
}

TEST_F(Providers, UpstreamFailuresMapToErrorCodes) {
  ws_client ws(server_->port());
  struct row {
    std::string provider, model, code;
    bool retryable;
    std::string text;  // what arrived before the failure
  };
  const std::vector<row> rows = {
      {"openai", "fault-429", "upstream_rate_limited", true, ""},
      {"openai", "fault-500", "upstream_unavailable", true, ""},
      {"openai", "fault-cut", "upstream_unavailable", true, "Hello from"},
      {"openai", "fault-garbage", "upstream_error", false, ""},
      {"openai", "fault-error", "upstream_unavailable", true, "Hello"},
      {"anthropic", "fault-429", "upstream_rate_limited", true, ""},
      {"anthropic", "fault-500", "upstream_unavailable", true, ""},
      {"anthropic", "fault-error", "upstream_unavailable", true, "Hello"},
      {"anthropic", "fault-slow", "upstream_timeout", true, ""},
      {"bedrock", "anthropic.claude-fault-429", "upstream_rate_limited", true, ""},
      {"bedrock", "anthropic.claude-fault-error", "upstream_rate_limited", true, "Hello"},
      {"bedrock", "anthropic.claude-fault-badcrc", "upstream_error", false, "Hello"},
      {"bedrock-converse", "fault-500", "upstream_unavailable", true, ""},
      {"bedrock-converse", "fault-garbage", "upstream_error", false, ""},
      {"bedrock-converse", "fault-cut", "upstream_unavailable", true, "Hello from"},
      {"ollama", "fault-error", "upstream_error", false, "Hello"},
      {"ollama", "fault-garbage", "upstream_error", false, ""},
      {"ollama", "missing", "upstream_error", false, ""},
      {"ollama", "fault-slow", "upstream_timeout", true, ""},
  };
  for (auto& r : rows) {
    SCOPED_TRACE(r.provider + " " + r.model);
    auto o = stream_via(ws, r.provider, r.model, "faulty");
    ASSERT_EQ(o.terminal.at("type"), "error") << json::serialize(o.terminal);
    EXPECT_EQ(std::string(o.terminal.at("code").as_string()), r.code) << o.terminal.at("message");
    EXPECT_EQ(o.terminal.at("retryable"), r.retryable);
    // The upstream's words (error bodies can echo keys and organisation ids) never reach the client.
    auto message = std::string(o.terminal.at("message").as_string());
    EXPECT_EQ(message, provider::client_message(*proto::code_named(r.code))) << message;
    EXPECT_EQ(message.find("Sorry about that"), std::string::npos) << message;
    EXPECT_EQ(message.find("HTTP"), std::string::npos) << message;
    EXPECT_EQ(std::string(o.terminal.at("streamId").as_string()), o.stream_id);
    EXPECT_EQ(o.text.substr(0, r.text.size()), r.text);
    if (r.code == "upstream_rate_limited" && r.provider == "openai") {
      EXPECT_EQ(o.terminal.at("retryAfterMs"), 1000);
    }
  }
}

TEST_F(Providers, RetriesBeforeTheFirstToken) {
  ws_client ws(server_->port());
  auto o = stream_via(ws, "openai-retry", "fault-429-once", "retry me");
  ASSERT_EQ(o.terminal.at("type"), "stream_complete") << json::serialize(o.terminal);
  EXPECT_EQ(o.text, reply("openai", "retry me"));
  int attempts = 0;
  for (auto& r : fakes_->requests())
    if (r.at("model") == "fault-429-once") ++attempts;
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(std::count(o.types.begin(), o.types.end(), "progress"), 4) << "generating is entered once";
}

TEST_F(Providers, CancelClosesTheUpstreamConnection) {
  ws_client ws(server_->port());
  for (std::string provider : {"openai", "anthropic", "bedrock", "bedrock-converse", "ollama"}) {
    SCOPED_TRACE(provider);
    std::string model = provider == "bedrock" ? "anthropic.claude-fault-stall" : "fault-stall";
    auto req = stream_request("cancel me", "providers");
    req["provider"] = provider;
    req["model"] = model;
    ws.send_json(req);
    std::string id;
    for (;;) {
      auto ev = ws.read(10s);
      if (ev.at("type") == "stream_start") id = std::string(ev.at("streamId").as_string());
      if (ev.at("type") == "stream_chunk") break;
      ASSERT_NE(ev.at("type"), "error") << json::serialize(ev);
    }
    auto upstream = fakes_->last_request_for(model);
    ASSERT_GT(upstream, 0);
    auto sent_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
    ws.send_json({{"action", "cancel"}, {"streamId", id}});
    auto events = ws.read_until("stream_cancelled", 5s, id);
    auto closed = fakes_->wait_closed(upstream);
    EXPECT_EQ(closed.at("aborted"), true) << "the fake saw the socket close before its response ended";
    auto after_ms = closed.at("closedAt").to_number<std::int64_t>() - sent_at;
    std::cout << "[ measured ] " << provider << ": upstream saw the close " << after_ms << " ms after cancel\n";
    EXPECT_LT(after_ms, 1000);
  }
}

TEST_F(Providers, BadAwsCredentialsAreNotRetryable) {
  temp_dir dir;
  server_process srv({"--config", config_for(*fakes_, dir, "wrong-secret")});
  ws_client ws(srv.port());
  auto o = stream_via(ws, "bedrock", "", "hello");
  ASSERT_EQ(o.terminal.at("type"), "error");
  EXPECT_EQ(o.terminal.at("code"), "upstream_error");
  EXPECT_EQ(o.terminal.at("retryable"), false);
  // The detail is for the operator's log, not for the client.
  EXPECT_EQ(std::string(o.terminal.at("message").as_string()).find("InvalidSignatureException"), std::string::npos)
      << o.terminal.at("message");
  EXPECT_TRUE(srv.wait_for_log("InvalidSignatureException", 5s)) << srv.log();
}

// Runs streamgate to its exit (bounded): exit status and stderr.
std::pair<int, std::string> run_to_exit(std::vector<std::string> args) {
  std::vector<std::string> argv = {STREAMGATE_BIN, "--listen", "127.0.0.1:0", "--web-root", ""};
  argv.insert(argv.end(), args.begin(), args.end());
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  int pid = fork();
  if (pid == 0) {
    dup2(err[1], STDERR_FILENO);
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    execv(c[0], c.data());
    _exit(127);
  }
  close(err[1]);
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {  // stderr reaches EOF when the process exits
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(err[0], &fds);
    timeval tv{0, 100000};
    if (::select(err[0] + 1, &fds, nullptr, nullptr, &tv) > 0) {
      char buf[1024];
      auto n = ::read(err[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      break;
    }
  }
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

TEST_F(Providers, UnknownDefaultProviderIsAStartUpError) {
  temp_dir dir;
  auto [status, err] = run_to_exit({"--provider", "nonesuch", "--data-dir", dir.path.string()});
  EXPECT_NE(status, 0);
  EXPECT_NE(err.find("unknown provider 'nonesuch'"), std::string::npos) << err;
  auto bad = dir.write("bad.toml", "[providers.x]\nkind = \"nope\"\n");
  auto [status2, err2] = run_to_exit({"--config", bad, "--data-dir", dir.path.string()});
  EXPECT_NE(status2, 0);
  EXPECT_NE(err2.find("providers.x.kind"), std::string::npos) << err2;
}

// With no config file, the official SDKs' environment variables are enough.
TEST_F(Providers, SdkEnvironmentConventions) {
  struct env_guard {
    std::vector<std::string> names;
    void set(const std::string& k, const std::string& v) {
      ::setenv(k.c_str(), v.c_str(), 1);
      names.push_back(k);
    }
    ~env_guard() {
      for (auto& n : names) ::unsetenv(n.c_str());
    }
  } env;
  temp_dir dir;
  auto creds = dir.write("credentials", std::string("[default]\naws_access_key_id = ") + aws_key_id +
                                            "\naws_secret_access_key = " + aws_secret + "\n");
  env.set("OPENAI_BASE_URL", fakes_->url("/v1"));
  env.set("OPENAI_API_KEY", "sk-fake");
  env.set("ANTHROPIC_BASE_URL", fakes_->url());
  env.set("ANTHROPIC_API_KEY", "sk-ant-fake");
  env.set("OLLAMA_HOST", "127.0.0.1:" + std::to_string(fakes_->port()));
  env.set("AWS_REGION", "us-east-1");
  env.set("AWS_SHARED_CREDENTIALS_FILE", creds);
  env.set("STREAMGATE_BEDROCK_ENDPOINT", fakes_->url());
  server_process srv({"--provider", "openai", "--enable-providers", "anthropic, ollama,bedrock"});
  ws_client ws(srv.port());
  auto o = stream_via(ws, "", "", "env only");  // the default provider
  ASSERT_EQ(o.terminal.at("type"), "stream_complete") << json::serialize(o.terminal);
  EXPECT_EQ(o.text, reply("openai", "env only"));
  for (auto& [provider, kind] : std::vector<std::pair<std::string, std::string>>{
           {"anthropic", "anthropic"}, {"ollama", "ollama"}, {"bedrock", "bedrock"}}) {
    auto m = provider == "ollama" ? "llama3.2" : "";
    auto r = stream_via(ws, provider, m, "env only");
    ASSERT_EQ(r.terminal.at("type"), "stream_complete") << provider << ": " << json::serialize(r.terminal);
    EXPECT_EQ(r.text, reply(kind, "env only"));
  }
}

}  // namespace
}  // namespace sg::test

namespace sg::test {
namespace {

// ---- the OpenAI-compatible surface of streamgate itself ----

std::string chat_body(const std::string& model, const std::string& input, bool stream, bool usage = true) {
  json::object o{{"model", model}, {"messages", json::array{json::object{{"role", "user"}, {"content", input}}}}};
  if (stream) {
    o["stream"] = true;
    if (usage) o["stream_options"] = json::object{{"include_usage", true}};
  }
  return json::serialize(o);
}

struct chat_stream {
  std::string text;
  std::vector<json::object> chunks;
  std::optional<json::object> usage;
  std::optional<json::object> error;
  bool done = false;
  std::string finish_reason;
};

chat_stream read_chat_stream(sse_client& c) {
  chat_stream out;
  while (auto ev = c.next(10s)) {
    if (ev->data == "[DONE]") {
      out.done = true;
      continue;
    }
    auto o = json::parse(ev->data).as_object();
    if (o.contains("error")) {
      out.error = o.at("error").as_object();
      continue;
    }
    EXPECT_EQ(o.at("object"), "chat.completion.chunk");
    out.chunks.push_back(o);
    auto& choices = o.at("choices").as_array();
    if (!choices.empty()) {
      auto& ch = choices[0].as_object();
      auto& d = ch.at("delta").as_object();
      if (auto* c = d.if_contains("content"); c && c->is_string()) out.text += std::string(c->as_string());
      if (ch.at("finish_reason").is_string()) out.finish_reason = std::string(ch.at("finish_reason").as_string());
    }
    if (auto* u = o.if_contains("usage"); u && u->is_object()) out.usage = u->as_object();
  }
  return out;
}

TEST_F(Providers, ModelsListsEveryProvider) {
  auto r = http_request(server_->port(), http::verb::get, "/v1/models");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto o = r.json().as_object();
  EXPECT_EQ(o.at("object"), "list");
  std::set<std::string> ids;
  for (auto& m : o.at("data").as_array()) ids.insert(std::string(m.at("id").as_string()));
  for (auto id : {"demo", "openai", "openai/gpt-fake", "anthropic/claude-fake", "bedrock-converse", "ollama/llama3.2"})
    EXPECT_TRUE(ids.count(id)) << id;
}

TEST_F(Providers, ChatCompletionsStreamsInOpenAiFormat) {
  sse_client c(server_->port(), http::verb::post, "/v1/chat/completions", chat_body("openai/gpt-fake", "via surface", true),
               {{"Content-Type", "application/json"}});
  ASSERT_EQ(c.status(), 200u);
  EXPECT_EQ(c.headers().at("Content-Type"), "text/event-stream; charset=utf-8");
  auto s = read_chat_stream(c);
  EXPECT_FALSE(s.error);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, reply("openai", "via surface"));
  EXPECT_EQ(s.finish_reason, "stop");
  ASSERT_TRUE(s.usage);
  EXPECT_EQ(s.usage->at("completion_tokens").to_number<std::size_t>(), token_count(s.text));
  ASSERT_GE(s.chunks.size(), 3u);
  EXPECT_EQ(s.chunks.front().at("choices").at(0).at("delta").at("role"), "assistant");
  EXPECT_TRUE(s.chunks.back().at("choices").as_array().empty()) << "usage comes in a last chunk with no choices";
  auto id = s.chunks.front().at("id");
  for (auto& ch : s.chunks) {
    EXPECT_EQ(ch.at("id"), id);
    EXPECT_EQ(ch.at("model"), "openai/gpt-fake");
  }
}

// A completion cannot be resumed by its client, so it is dropped when it ends: it holds none of the
// retention budget, and its stream id is unknown afterwards. A stream of the native API, finished
// beside it, is kept.
TEST_F(Providers, ACompletionIsDroppedWhenItEndsAndANativeStreamIsKept) {
  server_process srv({"--config", config_for(*fakes_, *dir_)});
  sse_client c(srv.port(), http::verb::post, "/v1/chat/completions", chat_body("openai/gpt-fake", "not kept", true),
               {{"Content-Type", "application/json"}});
  ASSERT_EQ(c.status(), 200u);
  auto streamed = read_chat_stream(c);
  ASSERT_TRUE(streamed.done);
  auto whole = http_request(srv.port(), http::verb::post, "/v1/chat/completions",
                            chat_body("openai/gpt-fake", "not kept either", false), {{"Content-Type", "application/json"}});
  ASSERT_EQ(whole.status, 200u) << whole.body;
  ws_client ws(srv.port());
  auto native = stream_via(ws, "openai", "gpt-fake", "kept");
  ASSERT_EQ(native.terminal.at("type"), "stream_complete");
  std::vector<std::string> completions;
  for (auto id : {json::value(streamed.chunks.front().at("id")), whole.json().at("id")}) {
    std::string text(id.as_string());
    ASSERT_EQ(text.rfind("chatcmpl-", 0), 0u) << text;
    completions.push_back(text.substr(9));
  }
  // A stream leaves the table just after its terminal event has been sent.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  double retained = 0;
  do {
    retained = metric_value(srv.port(), "streamgate_streams_retained");
  } while (retained != 1 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(retained, 1);
  for (auto& id : completions) EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/streams/" + id).status, 404u) << id;
  auto kept = http_request(srv.port(), http::verb::get, "/v1/streams/" + native.stream_id);
  ASSERT_EQ(kept.status, 200u);
  EXPECT_EQ(kept.json().at("state"), "completed");
  EXPECT_GT(metric_value(srv.port(), "streamgate_streams_retained_bytes"), 0);
}

// An answer far larger than the socket's buffers, to a reader with a small receive window: writes
// that do not fit at once go out as they drain, and every byte arrives in order.
TEST_F(Providers, ChatCompletionsLongerThanTheSocketBuffersArriveWhole) {
  std::string input = "w0";
  for (int i = 1; i < 4000; ++i) input += " w" + std::to_string(i);
  server_process srv({"--config", config_for(*fakes_, *dir_), "--socket-send-buffer", "4096"});
  sse_client c(srv.port(), http::verb::post, "/v1/chat/completions", chat_body("openai/gpt-fake", input, true),
               {{"Content-Type", "application/json"}}, 2048);
  ASSERT_EQ(c.status(), 200u);
  auto s = read_chat_stream(c);
  EXPECT_FALSE(s.error);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, reply("openai", input));
  EXPECT_EQ(s.finish_reason, "stop");
}

TEST_F(Providers, ChatCompletionsWithoutStreamAndForEachProvider) {
  for (auto& [model, kind] : std::vector<std::pair<std::string, std::string>>{
           {"anthropic/claude-fake", "anthropic"}, {"bedrock", "bedrock"}, {"ollama", "ollama"}, {"openai", "openai"}}) {
    auto r = http_request(server_->port(), http::verb::post, "/v1/chat/completions", chat_body(model, "plain", false),
                          {{"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200u) << model << ": " << r.body;
    auto o = r.json().as_object();
    EXPECT_EQ(o.at("object"), "chat.completion");
    EXPECT_EQ(std::string(o.at("choices").at(0).at("message").at("content").as_string()), reply(kind, "plain"));
    EXPECT_EQ(o.at("choices").at(0).at("finish_reason"), "stop");
    EXPECT_GT(o.at("usage").at("total_tokens").to_number<int>(), 0);
  }
  auto demo = http_request(server_->port(), http::verb::post, "/v1/chat/completions", chat_body("demo", "titles", false));
  ASSERT_EQ(demo.status, 200u) << demo.body;
  EXPECT_FALSE(demo.json().at("choices").at(0).at("message").at("content").as_string().empty());
}

TEST_F(Providers, ChatCompletionsErrorsInOpenAiShape) {
  auto unknown = http_request(server_->port(), http::verb::post, "/v1/chat/completions", chat_body("nope/nope", "x", false));
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(unknown.json().at("error").at("param"), "model");
  auto limited = http_request(server_->port(), http::verb::post, "/v1/chat/completions", chat_body("openai/fault-429", "x", false));
  EXPECT_EQ(limited.status, 503u);
  EXPECT_EQ(limited.json().at("error").at("code"), "upstream_rate_limited");
  EXPECT_EQ(limited.json().at("error").at("type"), "rate_limit_error");
  sse_client c(server_->port(), http::verb::post, "/v1/chat/completions", chat_body("anthropic/fault-error", "x", true));
  auto s = read_chat_stream(c);
  ASSERT_TRUE(s.error);
  EXPECT_EQ(s.error->at("code"), "upstream_unavailable");
  EXPECT_FALSE(s.done);
}

TEST_F(Providers, ChatCompletionsClientThatLeavesCancelsTheUpstream) {
  // A raw socket: the answer stalls after one token, so the client must see bytes as they come.
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({net::ip::make_address("127.0.0.1"), server_->port()});
  timeval tv{10, 0};
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto body = chat_body("openai/fault-stall", "leave", true);
  std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server_->port()) +
                    "\r\nContent-Type: application/json\r\n"
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  net::write(sock, net::buffer(req));
  std::string got;
  while (got.find("\"content\":\"Hello\"") == std::string::npos) {
    char buf[4096];
    error_code ec;
    auto n = sock.read_some(net::buffer(buf), ec);
    ASSERT_FALSE(ec) << ec.message() << ": " << got;
    got.append(buf, n);
  }
  auto upstream = fakes_->last_request_for("fault-stall");
  auto left_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch()).count();
  sock.shutdown(tcp::socket::shutdown_both);
  sock.close();
  auto closed = fakes_->wait_closed(upstream);
  EXPECT_EQ(closed.at("aborted"), true);
  auto after_ms = closed.at("closedAt").to_number<std::int64_t>() - left_at;
  std::cout << "[ measured ] the upstream saw the close " << after_ms << " ms after the client left\n";
  EXPECT_LT(after_ms, 1000) << "cancelled by the client leaving, not by an upstream timeout";
}

}  // namespace
}  // namespace sg::test

namespace sg::test {
namespace {

// A non-streamed completion has no other reader: a client that leaves before the answer cancels it.
TEST_F(Providers, NonStreamedCompletionClientThatLeavesCancelsTheUpstream) {
  auto before = fakes_->last_request_for("fault-stall");
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({net::ip::make_address("127.0.0.1"), server_->port()});
  auto body = chat_body("openai/fault-stall", "leave before the answer", false);
  std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server_->port()) +
                    "\r\nContent-Type: application/json\r\n"
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  net::write(sock, net::buffer(req));
  // The upstream request is out once the fake has recorded it (bounded wait on that condition).
  std::int64_t upstream = before;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (upstream == before && std::chrono::steady_clock::now() < deadline) {
    upstream = fakes_->last_request_for("fault-stall");
    if (upstream == before) std::this_thread::sleep_for(20ms);
  }
  ASSERT_NE(upstream, before) << "the upstream request never arrived";
  sock.shutdown(tcp::socket::shutdown_both);
  sock.close();
  auto closed = fakes_->wait_closed(upstream);
  EXPECT_EQ(closed.at("aborted"), true) << "the stalled upstream request was left running after its client left";
}

// An API key in the environment does not make a provider callable: only --provider, a [providers.*]
// table or --enable-providers do.
TEST_F(Providers, EnvironmentAloneEnablesNoProvider) {
  struct env_guard {
    ~env_guard() {
      ::unsetenv("OPENAI_BASE_URL");
      ::unsetenv("OPENAI_API_KEY");
    }
  } guard;
  ::setenv("OPENAI_BASE_URL", fakes_->url("/v1").c_str(), 1);
  ::setenv("OPENAI_API_KEY", "sk-fake", 1);
  temp_dir dir;
  server_process srv({"--data-dir", dir.path.string()});  // --provider demo, no config file
  ws_client ws(srv.port());
  auto o = stream_via(ws, "openai", "", "who pays for this?");
  ASSERT_EQ(o.terminal.at("type"), "error") << json::serialize(o.terminal);
  EXPECT_EQ(o.terminal.at("code"), "bad_request");
  EXPECT_EQ(o.terminal.at("field"), "provider");
  auto models = http_request(srv.port(), http::verb::get, "/v1/models").json().as_object();
  for (auto& m : models.at("data").as_array()) EXPECT_EQ(m.at("id"), "demo") << json::serialize(m);
  auto chat = http_request(srv.port(), http::verb::post, "/v1/chat/completions", chat_body("openai", "x", false));
  EXPECT_EQ(chat.status, 404u) << chat.body;
}

}  // namespace
}  // namespace sg::test
