// The kernel's floor for accepting a WebSocket: the least a server can do per connection.
//
// One thread, one epoll: accept4 (non-blocking), register the socket, read the upgrade request
// when it is readable, answer it with the 101 (its Sec-WebSocket-Accept computed with OpenSSL's
// SHA-1) and a small "connected" text frame in one send, and hold the connection open, reading
// and dropping whatever comes. No routing, no store, no logging, no allocation but the request's
// bytes while they are read. A probe of the system calls' cost, never a server: it answers only
// the request sgbench sends (a key header and an end of header in the first 4 KiB).
// sgbench idle measures its CPU per accepted connection as it does streamgate's and Node's.
// Build: c++ -O2 -std=c++20 accept_floor.cpp -lcrypto. Prints its port, then serves until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

using probe::die;

// The Sec-WebSocket-Accept of a key (RFC 6455 §4.2.2).
std::string accept_of(std::string_view key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string in(key);
  in += guid;
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  unsigned char out[32];
  int n = EVP_EncodeBlock(out, md, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

// The value of a header in a request head, found case-sensitively as sgbench writes it.
std::string_view header(std::string_view head, std::string_view name) {
  auto at = head.find(name);
  if (at == std::string_view::npos) return {};
  auto v = head.substr(at + name.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  return v.substr(0, v.find("\r\n"));
}

}  // namespace

int main(int argc, char** argv) {
  int cpu = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--cpu" && i + 1 < argc) cpu = std::atoi(argv[++i]);
    else {
      std::printf("usage: accept_floor [--cpu C]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  probe::pin(cpu);
  probe::raise_descriptor_limit();
  signal(SIGPIPE, SIG_IGN);

  sockaddr_in addr{};
  int listener = probe::listen_loopback(addr, SOCK_NONBLOCK);
  int one = 1;
  setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by accepted sockets
  std::printf("%d\n", ntohs(addr.sin_port));
  std::fflush(stdout);

  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.fd = listener;
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev);

  // Connections still reading their request: their bytes so far. An upgraded one is not here.
  std::unordered_map<int, std::string> reading;
  static constexpr std::string_view frame_text = R"({"type":"connected","connectionId":"floor"})";
  std::string frame;
  frame += static_cast<char>(0x81);
  frame += static_cast<char>(frame_text.size());
  frame += frame_text;

  epoll_event evs[256];
  char buf[4096];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == listener) {
        for (;;) {
          int c = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
          ev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
          reading.emplace(c, std::string());
        }
        continue;
      }
      bool closed = false;
      for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r > 0) {
          auto it = reading.find(fd);
          if (it == reading.end()) continue;  // upgraded: frames are read and dropped
          it->second.append(buf, static_cast<std::size_t>(r));
          auto& head = it->second;
          if (head.find("\r\n\r\n") == std::string::npos) continue;
          std::string out =
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: " +
              accept_of(header(head, "Sec-WebSocket-Key:")) + "\r\n\r\n";
          out += frame;
          send(fd, out.data(), out.size(), MSG_NOSIGNAL);
          reading.erase(it);
          break;  // nothing more comes before the client's next frame, which a new edge announces
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) closed = true;
        break;
      }
      if (closed) {
        reading.erase(fd);
        close(fd);
      }
    }
  }
}
