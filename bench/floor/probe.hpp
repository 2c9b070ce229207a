// What both floor probes need: an error exit, pinning to a core, the descriptor limit raised, and a
// listening socket on an ephemeral loopback port. Header-only, so each probe still builds with one
// `c++` command.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace probe {

[[noreturn]] inline void die(const char* what) {
  std::fprintf(stderr, "floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

inline void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);  // best effort: a one-core machine still runs
}

inline void raise_descriptor_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/// A socket listening on 127.0.0.1 at a port the kernel picks; `addr` receives its address.
/// `type_flags` is or-ed into SOCK_STREAM (SOCK_NONBLOCK for an epoll loop).
inline int listen_loopback(sockaddr_in& addr, int type_flags = 0) {
  int listener = socket(AF_INET, SOCK_STREAM | type_flags, 0);
  if (listener < 0) die("socket");
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (listen(listener, 4096) != 0) die("listen");
  socklen_t alen = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &alen);
  return listener;
}

}  // namespace probe
