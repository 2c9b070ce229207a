// What the server's TCP connections look like from the kernel: options accepted sockets carry, and
// how the opening of a WebSocket is segmented.
#include "integration/harness.hpp"
#include "integration/tcp_info.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sg::test {
namespace {

// A blocking loopback client, every read bounded by SO_RCVTIMEO.
struct raw_client {
  int fd = -1;
  explicit raw_client(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~raw_client() { ::close(fd); }
  void send(const std::string& s) { ASSERT_EQ(::send(fd, s.data(), s.size(), 0), static_cast<ssize_t>(s.size())); }
  // Reads until `complete(received)` holds; false on timeout or close.
  template <class Pred>
  bool read_until(std::string& got, Pred complete) {
    char buf[4096];
    while (!complete(got)) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      got.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  std::uint16_t local_port() const {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  }
};

std::string upgrade_request(std::uint16_t port) {
  return "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n";
}

// The server's end of the client connection whose port is `client_port`, duplicated into this
// process (pidfd_getfd): its socket's inode from /proc/<pid>/net/tcp, then the descriptor that
// holds it. -1 when not found; -2 when the kernel refuses the duplication.
int server_end(int pid, std::uint16_t server_port, std::uint16_t client_port) {
  std::ifstream tcp("/proc/" + std::to_string(pid) + "/net/tcp");
  std::string line, inode;
  char want[32];
  std::snprintf(want, sizeof want, ":%04X", server_port);
  char peer[32];
  std::snprintf(peer, sizeof peer, ":%04X", client_port);
  std::getline(tcp, line);  // the header
  while (std::getline(tcp, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, st, queues, timer, retr, uid, timeout;
    f >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode;
    if (local.ends_with(want) && remote.ends_with(peer)) break;
    inode.clear();
  }
  if (inode.empty()) return -1;
  const std::string target = "socket:[" + inode + "]";
  for (auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec).string() != target) continue;
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) return -2;
    int fd = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, std::stoi(e.path().filename().string()), 0));
    ::close(pidfd);
    return fd < 0 ? -2 : fd;
  }
  return -1;
}

int int_option(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  ::getsockopt(fd, level, name, &v, &len);
  return v;
}

// The 101 is held in the server's socket and the "connected" frame after it takes it along: the
// client's kernel received the two in one segment carrying data.
TEST(Transport, TheUpgradeAndTheConnectedFrameArriveInOneSegment) {
  server_process srv;
  raw_client c(srv.port());
  c.send(upgrade_request(srv.port()));
  std::string got;
  std::size_t head_end = 0, frame_end = 0;
  ASSERT_TRUE(c.read_until(got, [&](const std::string& s) {
    head_end = s.find("\r\n\r\n");
    if (head_end == std::string::npos || s.size() < head_end + 6) return false;
    std::size_t at = head_end + 4, len = static_cast<unsigned char>(s[at + 1]) & 0x7f, header = 2;
    if (len == 126) {
      len = (static_cast<std::size_t>(static_cast<unsigned char>(s[at + 2])) << 8) | static_cast<unsigned char>(s[at + 3]);
      header = 4;
    }
    frame_end = at + header + len;
    return s.size() >= frame_end;
  }));
  EXPECT_TRUE(got.starts_with("HTTP/1.1 101 ")) << got.substr(0, 40);
  EXPECT_NE(got.substr(head_end, frame_end - head_end).find("\"type\":\"connected\""), std::string::npos);
  EXPECT_EQ(got.size(), frame_end);  // nothing else was sent
  auto segments = data_segments_in(c.fd);
  ASSERT_TRUE(segments.has_value());
  EXPECT_EQ(*segments, 1u);
}

std::string post_request(std::uint16_t port, const std::string& target, const std::string& body,
                         const std::string& accept = "text/event-stream") {
  return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nAccept: " + accept +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The complete chunks of a chunked body that starts at `at` in `s`.
std::vector<std::string> chunks_in(const std::string& s, std::size_t at) {
  std::vector<std::string> out;
  while (at < s.size()) {
    auto line = s.find("\r\n", at);
    if (line == std::string::npos) break;
    auto size = std::stoul(s.substr(at, line - at), nullptr, 16);
    if (s.size() < line + 2 + size + 2) break;
    out.push_back(s.substr(line + 2, size));
    at = line + 2 + size + 2;
  }
  return out;
}

// An SSE response's header is held and goes out with the first chunk of its body (the replay of the
// stream's start): each write is one chunk and one segment, and the header took none of its own.
// Nothing else is sent before the first token, 3 s away.
TEST(Transport, AnSseResponsesHeaderGoesOutWithItsFirstChunk) {
  server_process srv({"--demo-ttft-ms", "3000"});
  struct path {
    std::string target, body, first, last;  // `last`: read until a chunk holds it
  };
  for (auto& p : {path{"/v1/streams", R"({"projectId":"test","userInput":"one segment"})", "stream_start",
                       "\"stage\":\"generating\""},
                  path{"/v1/chat/completions",
                       R"({"model":"demo","stream":true,"messages":[{"role":"user","content":"one segment"}]})",
                       "\"role\":\"assistant\"", "\"role\":\"assistant\""}}) {
    raw_client c(srv.port());
    c.send(post_request(srv.port(), p.target, p.body));
    std::string got;
    std::size_t head_end = 0;
    std::vector<std::string> chunks;
    ASSERT_TRUE(c.read_until(got, [&](const std::string& s) {
      head_end = s.find("\r\n\r\n");
      if (head_end == std::string::npos) return false;
      chunks = chunks_in(s, head_end + 4);
      return !chunks.empty() && chunks.back().find(p.last) != std::string::npos;
    })) << p.target;
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 ")) << got.substr(0, 40);
    EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << got.substr(0, head_end);
    EXPECT_NE(chunks.front().find(p.first), std::string::npos) << chunks.front();
    auto segments = data_segments_in(c.fd);
    ASSERT_TRUE(segments.has_value());
    EXPECT_EQ(*segments, chunks.size()) << p.target << ": one segment per chunk, none for the header alone";
  }
}

// A response with nothing to send yet (a resume at the stream's last event, its next token far away)
// still gets its header at once, alone.
TEST(Transport, AnSseHeaderWithNothingBehindItGoesOutAlone) {
  server_process srv({"--demo-ttft-ms", "30000"});
  auto started = http_request(srv.port(), http::verb::post, "/v1/streams",
                              R"({"projectId":"test","userInput":"far away"})", {{"Accept", "application/json"}});
  ASSERT_EQ(started.status, 202u);
  auto id = std::string(started.json().at("streamId").as_string());
  boost::json::object info;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    info = http_request(srv.port(), http::verb::get, "/v1/streams/" + id).json().as_object();
  } while (info.at("lastSeq").to_number<std::uint64_t>() < 4 && std::chrono::steady_clock::now() < deadline);
  auto last = info.at("lastSeq").to_number<std::uint64_t>();
  ASSERT_GE(last, 4u);  // stream_start and three progress events; the first token is 30 s away
  raw_client c(srv.port());
  c.send("GET /v1/streams/" + id + "/events?lastSeq=" + std::to_string(last) + " HTTP/1.1\r\nHost: 127.0.0.1:" +
         std::to_string(srv.port()) + "\r\nAccept: text/event-stream\r\n\r\n");
  std::string got;
  ASSERT_TRUE(c.read_until(got, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; }))
      << "no header within the read's 5 s";
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 ")) << got.substr(0, 40);
  EXPECT_TRUE(got.ends_with("\r\n\r\n")) << "only the header: " << got;
}

// A streamed completion outlives the request's read deadlines: once its response begins, only its
// writes are timed (the read that watches for the client leaving has no deadline).
TEST(Transport, AStreamedCompletionOutlivesTheRequestsReadDeadline) {
  server_process srv({"--header-timeout-ms", "200", "--body-timeout-ms", "200", "--demo-ttft-ms", "300",
                      "--demo-tokens-per-second", "100"});
  raw_client c(srv.port());
  c.send(post_request(srv.port(), "/v1/chat/completions",
                      R"({"model":"demo","stream":true,"messages":[{"role":"user","content":"a long answer"}]})"));
  std::string got;
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.read_until(got, [](const std::string& s) { return s.find("data: [DONE]") != std::string::npos; }))
      << "the response was cut after " << got.size() << " bytes";
  EXPECT_GT(std::chrono::steady_clock::now() - start, 600ms);  // well past both deadlines
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 ")) << got.substr(0, 40);
}

// Beast refuses a handshake it cannot complete (here an unsupported WebSocket version) with an answer
// written while the socket holds its writes for the "connected" frame: the answer still goes out,
// and the connection is closed after it.
TEST(Transport, AHandshakeRefusedByTheWebSocketLayerIsAnsweredThenClosed) {
  server_process srv;
  raw_client c(srv.port());
  auto req = upgrade_request(srv.port());
  req.replace(req.find("Version: 13"), 11, "Version: 12");
  c.send(req);
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(c.fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(n, 0) << "the server closed the connection (not the read's 5 s timeout)";
  EXPECT_TRUE(got.starts_with("HTTP/1.1 426 ")) << got.substr(0, 60);
  EXPECT_NE(got.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("connected"), std::string::npos) << got;
  // The server goes on serving others.
  raw_client next(srv.port());
  next.send(upgrade_request(srv.port()));
  got.clear();
  ASSERT_TRUE(next.read_until(got, [](const std::string& s) { return s.find("\"connected\"") != std::string::npos; }));
  EXPECT_TRUE(got.starts_with("HTTP/1.1 101 ")) << got.substr(0, 40);
}

// TCP_NODELAY and the configured send buffer are set on the listening socket once and inherited by
// every accepted connection, an HTTP one and one upgraded to a WebSocket alike: read here from the
// server's own descriptors.
TEST(Transport, AcceptedConnectionsHaveNagleOffAndTheConfiguredSendBuffer) {
  server_process srv({"--socket-send-buffer", "65536"});
  raw_client http(srv.port()), ws(srv.port());
  http.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) + "\r\n\r\n");
  std::string got;
  ASSERT_TRUE(http.read_until(got, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; }));
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 ")) << got.substr(0, 40);
  ws.send(upgrade_request(srv.port()));
  got.clear();
  ASSERT_TRUE(ws.read_until(got, [](const std::string& s) { return s.find("\"connected\"") != std::string::npos; }));
  for (auto* c : {&http, &ws}) {
    int fd = server_end(srv.pid(), srv.port(), c->local_port());
    if (fd == -2 && (errno == EPERM || errno == ENOSYS))
      GTEST_SKIP() << "this kernel does not let the test read the server's sockets (pidfd_getfd)";
    ASSERT_GE(fd, 0) << "the server's end of the connection from port " << c->local_port();
    EXPECT_EQ(int_option(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    EXPECT_EQ(int_option(fd, SOL_SOCKET, SO_SNDBUF), 2 * 65536);  // the kernel doubles what is asked
    ::close(fd);
  }
}

}  // namespace
}  // namespace sg::test
