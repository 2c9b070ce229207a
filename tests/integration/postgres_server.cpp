// initdb, pg_ctl start and stop, as an unprivileged user when the tests run as root.
#include "integration/postgres_server.hpp"

#include "integration/free_port.hpp"

#include <libpq-fe.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace sg::test {
namespace {

const passwd* server_user() { return ::geteuid() == 0 ? ::getpwnam("nobody") : nullptr; }

}  // namespace

postgres_server::postgres_server() {
  const char* env_bin = std::getenv("SG_POSTGRES_BIN");
  bin_ = env_bin && *env_bin ? env_bin : "/usr/lib/postgresql/15/bin";
  if (!std::filesystem::exists(bin_ + "/initdb"))
    throw std::runtime_error("PostgreSQL is not installed (no " + bin_ + "/initdb): run scripts/install-deps.sh");
  char tmpl[] = "/tmp/sg-postgres-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  if (auto* pw = server_user(); pw && ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    throw std::runtime_error("cannot give " + dir_ + " to nobody");
  if (run({bin_ + "/initdb", "-D", dir_ + "/data", "-U", "streamgate", "--auth=trust", "-E", "UTF8", "--locale=C",
           "--no-sync"}) != 0)
    throw std::runtime_error("initdb failed: " + log());
  // A port found free may be taken before the server binds it: try a few.
  for (int attempt = 0; attempt < 5 && !running_; ++attempt) {
    port_ = free_port();
    try {
      start();
    } catch (const std::exception&) {
      if (attempt == 4) throw;
    }
  }
}

postgres_server::~postgres_server() {
  try {
    if (running_) stop();
  } catch (const std::exception&) {
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string postgres_server::url(const std::string& db) const {
  return "postgres://streamgate@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

std::string postgres_server::socket_url(const std::string& db) const {
  return "postgresql://streamgate@/" + db + "?host=" + dir_ + "&port=" + std::to_string(port_);
}

std::string postgres_server::create_database(const std::string& name) {
  std::unique_ptr<PGconn, void (*)(PGconn*)> c(PQconnectdb(url().c_str()), PQfinish);
  if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error(std::string("connect: ") + PQerrorMessage(c.get()));
  std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(c.get(), ("CREATE DATABASE " + name).c_str()), PQclear);
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
    throw std::runtime_error(std::string("CREATE DATABASE: ") + PQerrorMessage(c.get()));
  return url(name);
}

void postgres_server::start() {
  std::string opts = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_ +
                     " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50";
  if (run({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-o", opts, "-w", "-t", "30", "start"}) != 0)
    throw std::runtime_error("PostgreSQL did not start: " + log());
  running_ = true;
}

void postgres_server::stop() {
  if (run({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "fast", "-w", "-t", "30", "stop"}) != 0)
    throw std::runtime_error("PostgreSQL did not stop: " + log());
  running_ = false;
}

std::string postgres_server::log() const {
  std::ostringstream o;
  for (auto* f : {"/commands.log", "/server.log"}) {
    std::ifstream in(dir_ + f);
    o << in.rdbuf();
  }
  return o.str();
}

int postgres_server::run(const std::vector<std::string>& argv) const {
  const passwd* pw = server_user();
  uid_t uid = pw ? pw->pw_uid : 0;
  gid_t gid = pw ? pw->pw_gid : 0;
  std::string out = dir_ + "/commands.log";
  // Everything the child needs is built here: between fork and exec in a threaded process only
  // async-signal-safe calls are allowed (no allocation).
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<std::string> env_strings = {"LC_ALL=C", "HOME=" + dir_};
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "LC_ALL=", 7) != 0 && std::strncmp(*e, "HOME=", 5) != 0) env_strings.emplace_back(*e);
  std::vector<char*> cenv;
  for (auto& e : env_strings) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (pw && (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) _exit(126);
    if (::chdir(dir_.c_str()) != 0) _exit(126);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace sg::test
