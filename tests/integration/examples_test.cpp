// examples/backend-node and examples/backend-python, started as shipped and driven through streamgate:
// the streaming /generate, $connect with its header, the subscribe action with its push, $disconnect.
#include "integration/harness.hpp"
#include "core/asio.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace sg::test {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

const fs::path repo_root = SG_SOURCE_DIR;

std::string on_path(const std::string& name) {
  std::string p = std::getenv("PATH") ? std::getenv("PATH") : "";
  std::stringstream ss(p);
  for (std::string dir; std::getline(ss, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  return {};
}

// A child that prints {"port":N} first on stdout and exits when its stdin closes.
class example_process {
 public:
  example_process(std::vector<std::string> argv, std::vector<std::string> env_add) {
    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      dup2(in[0], STDIN_FILENO);
      for (auto& e : env_add) ::putenv(e.data());
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
        if (n <= 0) throw std::runtime_error(argv[1] + " exited before it listened: " + line);
        line.append(buf, static_cast<std::size_t>(n));
      }
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error(argv[1] + " did not start");
    }
    port_ = static_cast<std::uint16_t>(json::parse(line.substr(0, line.find('\n'))).at("port").to_number<int>());
  }
  ~example_process() {
    close(stdin_);
    ::kill(pid_, SIGTERM);
    int status;
    waitpid(pid_, &status, 0);
    close(out_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int pid_ = -1, stdin_ = -1, out_ = -1;
  std::uint16_t port_ = 0;
};

// A port nobody listens on now; streamgate takes it next (the example must know it to push).
std::uint16_t free_port() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

struct example {
  const char* name;
  const char* interpreter;
  const char* script;
};

void PrintTo(const example& e, std::ostream* os) { *os << e.name; }

class Examples : public ::testing::TestWithParam<example> {};

TEST_P(Examples, ServeEveryRouteThroughStreamgate) {
  auto ex = GetParam();
  // Debian's own python3 first: a version manager's shim on PATH may be slow to start.
  auto interpreter = std::string(ex.interpreter) == "python3" && ::access("/usr/bin/python3", X_OK) == 0
                         ? std::string("/usr/bin/python3")
                         : on_path(ex.interpreter);
  if (interpreter.empty()) GTEST_SKIP() << ex.interpreter << " is not installed";
  auto sg_port = free_port();
  auto dir = repo_root / "examples" / ex.name;
  example_process backend({interpreter, (dir / ex.script).string(), "--exit-with-stdin"},
                          {"PORT=0", "TOKEN_DELAY_MS=0", "STREAMGATE_URL=http://127.0.0.1:" + std::to_string(sg_port)});

  // The example's own config, pointed at the port the backend got.
  std::ifstream in(dir / "streamgate.toml");
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t p; (p = config.find("127.0.0.1:9000")) != std::string::npos;)
    config.replace(p, 14, "127.0.0.1:" + std::to_string(backend.port()));
  char tmpl[] = "/tmp/sg-example-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
  fs::path tmp = tmpl;
  std::ofstream(tmp / "streamgate.toml") << config;
  server_process srv({"--config", (tmp / "streamgate.toml").string(), "--listen", "127.0.0.1:" + std::to_string(sg_port)});

  // The streaming backend is the default provider: SSE first.
  sse_client c(srv.port(), http::verb::post, "/v1/streams",
               json::serialize(json::object{{"projectId", "demo"}, {"userInput", "hello"}}));
  ASSERT_EQ(c.status(), 200u);
  std::string text, last;
  bool backend_stage = false;
  for (;;) {
    auto ev = c.next(10s);
    ASSERT_TRUE(ev);
    last = ev->type;
    if (ev->type == "progress" && ev->json().at("step") == "Looking things up...") backend_stage = true;
    if (ev->type == "stream_chunk") text += std::string(ev->json().at("content").as_string());
    if (ev->type == "stream_complete" || ev->type == "error") break;
  }
  EXPECT_EQ(last, "stream_complete");
  EXPECT_NE(text.find("You asked: \"hello\""), std::string::npos) << text;
  EXPECT_TRUE(backend_stage);

  // $connect refuses a client without the header, with no socket left open.
  auto refused = raw_upgrade(srv.port(), "/ws", {});
  EXPECT_EQ(refused.status, 401u);
  EXPECT_TRUE(refused.closed_after);

  {
    ws_client ws(srv.port(), "/ws?user=ada", {{"X-Demo-Token", "letmein"}});
    ws.send_json(stream_request("over the socket", "demo"));
    auto events = ws.read_until("stream_complete", 10s);
    EXPECT_NE(std::string(events.back().at("fullContent").as_string()).find("over the socket"), std::string::npos);

    ws.send_json({{"action", "subscribe"}, {"room", "blue"}});
    auto answer = ws.read();
    EXPECT_EQ(answer.at("type"), "subscribed");
    EXPECT_EQ(answer.at("room"), "blue");
    EXPECT_EQ(answer.at("user"), "ada") << "the $connect context came back with the action";
    auto pushed = ws.read();
    EXPECT_EQ(pushed.at("type"), "room_message") << "pushed by the backend through @connections";
    EXPECT_EQ(pushed.at("text"), "welcome, ada");
    ws.close();
  }
  EXPECT_TRUE(wait_metric(srv.port(), "streamgate_integration_calls_total{route=\"$disconnect\",result=\"ok\"}", 1));
  std::error_code ec;
  fs::remove_all(tmp, ec);
}

INSTANTIATE_TEST_SUITE_P(Backends, Examples,
                         ::testing::Values(example{"backend-node", "node", "server.mjs"},
                                           example{"backend-python", "python3", "server.py"}),
                         [](const auto& info) { return info.param.name[8] == 'n' ? "Node" : "Python"; });

}  // namespace
}  // namespace sg::test
