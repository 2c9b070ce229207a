// The kernel's floor: CPU per send() of one small message, round-robin over N loopback TCP connections.
//
// A streaming gateway at 20 tokens/s per stream sends each event to a different socket, so
// nothing batches: every event costs at least one send() through the loopback TCP stack.
// This probe does exactly that and nothing else: the sender on one core, a reader process
// draining every connection with epoll on the other. With --uring B the sender hands the kernel B
// sends at a time in one io_uring submission (what streamgate's send batch does with the frames of
// a pacer run). Build: c++ -O2 -std=c++20 floor.cpp -luring.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe.hpp"

#include <liburing.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct options {
  int connections = 2000;
  int bytes = 124;
  double seconds = 3;
  int sender_cpu = 0;
  int reader_cpu = 1;
  bool json = false;
  int uring = 0;  // sends per io_uring submission; 0: send()
};

using probe::die;
using probe::pin;

// The sender process's CPU (an io_uring worker thread, should the kernel use one, counts too).
double sender_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double mono_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double rusage_cpu_s(const rusage& ru) {
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The reader: accepts every connection, then drains them until all are closed.
// It writes its CPU time and byte count to `report_fd` when done.
void run_reader(int listener, const options& o, int report_fd) {
  pin(o.reader_cpu);
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < o.connections; ++i) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
    if (fd < 0) die("accept");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  close(listener);
  std::vector<epoll_event> evs(1024);
  static char buf[1 << 16];
  long long bytes = 0;
  int open = o.connections;
  while (open > 0) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 1000);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
          bytes += r;
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          close(fd);
          --open;
        }
        break;
      }
    }
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  char line[128];
  int len = std::snprintf(line, sizeof line, "%.6f %lld\n", rusage_cpu_s(ru), bytes);
  if (write(report_fd, line, static_cast<size_t>(len)) < 0) _exit(1);
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "floor: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::string(argv[++i]);
    };
    if (a == "--connections") o.connections = std::atoi(next().c_str());
    else if (a == "--bytes") o.bytes = std::atoi(next().c_str());
    else if (a == "--seconds") o.seconds = std::atof(next().c_str());
    else if (a == "--sender-cpu") o.sender_cpu = std::atoi(next().c_str());
    else if (a == "--reader-cpu") o.reader_cpu = std::atoi(next().c_str());
    else if (a == "--json") o.json = true;
    else if (a == "--uring") o.uring = std::atoi(next().c_str());
    else {
      std::printf("usage: floor [--connections N] [--bytes B] [--seconds S] [--sender-cpu C] [--reader-cpu C] [--uring B] [--json]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (o.connections < 1 || o.bytes < 1 || o.seconds <= 0 || o.uring < 0 || o.uring > 256) return 2;
  // Sender and reader are separate processes, so each holds N descriptors, not 2N.
  probe::raise_descriptor_limit();
  signal(SIGPIPE, SIG_IGN);

  sockaddr_in addr{};
  int listener = probe::listen_loopback(addr);

  int report[2];
  if (pipe(report) != 0) die("pipe");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(report[0]);
    run_reader(listener, o, report[1]);
  }
  close(report[1]);
  close(listener);
  pin(o.sender_cpu);

  std::vector<int> fds;
  fds.reserve(static_cast<size_t>(o.connections));
  for (int i = 0; i < o.connections; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket (raise ulimit -n)");
    // Spread source addresses as sgbench does, so many connections never run out of ports.
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | (1u + static_cast<unsigned>(i) % 16u));
    int one = 1;
    setsockopt(fd, IPPROTO_IP, 24 /* IP_BIND_ADDRESS_NO_PORT */, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) die("bind source");
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
    // As a server sends events: no Nagle delay, non-blocking.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    fds.push_back(fd);
  }

  std::string msg(static_cast<size_t>(o.bytes), 'x');
  long long sent = 0, blocked = 0;
  double w0 = mono_s(), c0 = sender_cpu_s();
  double end = w0 + o.seconds;
  size_t i = 0;
  io_uring ring{};
  if (o.uring && io_uring_queue_init(256, &ring, 0) != 0) die("io_uring_queue_init");
  while (o.uring) {
    for (size_t k = 0; k < fds.size();) {
      int queued = 0;
      for (; queued < o.uring && k < fds.size(); ++queued, ++k, ++i) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_send(sqe, fds[i % fds.size()], msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      io_uring_submit_and_wait(&ring, static_cast<unsigned>(queued));
      io_uring_cqe* cqe;
      unsigned head, seen = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        if (cqe->res == static_cast<int>(msg.size())) ++sent;
        else ++blocked;
        ++seen;
      }
      io_uring_cq_advance(&ring, seen);
    }
    if (mono_s() >= end) break;
  }
  while (!o.uring) {
    // Check the clock once per pass over all connections, not per send.
    for (size_t k = 0; k < fds.size(); ++k, ++i) {
      ssize_t r = send(fds[i % fds.size()], msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r == static_cast<ssize_t>(msg.size())) ++sent;
      else ++blocked;
    }
    if (mono_s() >= end) break;
  }
  double c1 = sender_cpu_s(), w1 = mono_s();
  for (int fd : fds) close(fd);
  char line[128] = {};
  ssize_t n = read(report[0], line, sizeof line - 1);
  int status = 0;
  waitpid(child, &status, 0);
  double reader_cpu = 0;
  long long bytes = 0;
  if (n > 0) std::sscanf(line, "%lf %lld", &reader_cpu, &bytes);

  double cpu = c1 - c0, wall = w1 - w0;
  double us_per_msg = sent ? cpu * 1e6 / static_cast<double>(sent) : 0;
  if (o.json) {
    std::printf(
        "{\"connections\":%d,\"uring\":%d,\"bytes\":%d,\"seconds\":%.3f,\"messages\":%lld,\"blocked\":%lld,"
        "\"sender_cpu_s\":%.4f,\"sender_cpu_us_per_msg\":%.3f,\"msgs_per_cpu_s\":%.0f,\"msgs_per_s\":%.0f,"
        "\"reader_cpu_s\":%.4f,\"reader_cpu_us_per_msg\":%.3f,\"bytes_read\":%lld}\n",
        o.connections, o.uring, o.bytes, wall, sent, blocked, cpu, us_per_msg, cpu > 0 ? static_cast<double>(sent) / cpu : 0,
        static_cast<double>(sent) / wall, reader_cpu, sent ? reader_cpu * 1e6 / static_cast<double>(sent) : 0, bytes);
  } else {
    std::printf("floor: %d connections, %d-byte messages, %.2f s\n", o.connections, o.bytes, wall);
    std::printf("  sent %lld (%lld would block), %.0f/s\n", sent, blocked, static_cast<double>(sent) / wall);
    std::printf("  sender CPU %.3f s = %.2f us per message = %.0f messages per CPU-second\n", cpu, us_per_msg,
                cpu > 0 ? static_cast<double>(sent) / cpu : 0);
    std::printf("  reader CPU %.3f s = %.2f us per message\n", reader_cpu,
                sent ? reader_cpu * 1e6 / static_cast<double>(sent) : 0);
  }
  return 0;
}
