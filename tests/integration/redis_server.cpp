// fork and exec of redis-server; PING over a plain socket until it answers.
#include "integration/redis_server.hpp"

#include "integration/free_port.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sg::test {
redis_server::redis_server(std::string password) : password_(std::move(password)) {
  if (!std::filesystem::exists("/usr/bin/redis-server"))
    throw std::runtime_error("redis-server is not installed: run scripts/install-deps.sh");
  char tmpl[] = "/tmp/sg-redis-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  // A port found free may be taken before the server binds it: try a few.
  for (int attempt = 0;; ++attempt) {
    port_ = free_port();
    try {
      start();
      return;
    } catch (const std::exception&) {
      if (attempt == 4) throw;
    }
  }
}

redis_server::~redis_server() {
  if (pid_ > 0) stop(true);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string redis_server::url() const {
  return "redis://" + (password_.empty() ? std::string() : ":" + password_ + "@") + "127.0.0.1:" +
         std::to_string(port_);
}

void redis_server::start() {
  std::vector<std::string> args = {"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", dir_, "--logfile",
                                   dir_ + "/redis.log", "--daemonize", "no"};
  if (!password_.empty()) {
    args.push_back("--requirepass");
    args.push_back(password_);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(devnull, STDOUT_FILENO);
    }
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start: " + log());
    }
    auto answer = command("PING");
    if (answer == "+PONG" || answer.rfind("-NOAUTH", 0) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a process that starts
  }
  stop(true);
  throw std::runtime_error("redis-server did not answer: " + log());
}

void redis_server::stop(bool hard) {
  if (pid_ <= 0) return;
  ::kill(pid_, hard ? SIGKILL : SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void redis_server::restart() {
  if (pid_ > 0) stop();
  start();
}

std::string redis_server::command(const std::string& inline_command) const {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port_);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string line = (password_.empty() ? std::string() : "AUTH " + password_ + "\r\n") + inline_command + "\r\n";
    if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size())) {
      int wanted = password_.empty() ? 1 : 2;
      std::string got;
      pollfd p{fd, POLLIN, 0};
      while (std::count(got.begin(), got.end(), '\n') < wanted && ::poll(&p, 1, 2000) > 0) {
        char buf[512];
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
      std::istringstream in(got);
      for (int i = 0; i < wanted && std::getline(in, out); ++i) {
      }
      if (!out.empty() && out.back() == '\r') out.pop_back();
    }
  }
  ::close(fd);
  return out;
}

std::string redis_server::log() const {
  std::ifstream in(dir_ + "/redis.log");
  std::ostringstream o;
  o << in.rdbuf();
  return o.str();
}

}  // namespace sg::test
