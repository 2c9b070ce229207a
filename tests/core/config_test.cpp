// Configuration precedence (flag > env > file > default) and errors fit for the user.
#include "core/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace sg::core {
namespace {

parse_outcome load(std::vector<std::string> args, std::vector<std::string> env = {}) {
  std::vector<const char*> argv{"streamgate"};
  for (auto& a : args) argv.push_back(a.c_str());
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  return load_config(static_cast<int>(argv.size()), argv.data(), envp.data());
}

TEST(Config, Defaults) {
  auto c = load({}).cfg;
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 8080);
  EXPECT_EQ(c.provider, "demo");
  EXPECT_EQ(c.max_message_bytes, 128u * 1024);
  EXPECT_EQ(c.max_streams_per_connection, 4u);
  EXPECT_EQ(c.stream_retention_ms, 600000);
  EXPECT_DOUBLE_EQ(c.demo_ttft_ms, 300);
  EXPECT_DOUBLE_EQ(c.demo_tokens_per_second, 40);
}

// The I/O threads' time slice: 100 µs unless told; 0 keeps the kernel's; the kernel's range or nothing.
TEST(Config, IoSliceIsZeroOrWithinTheKernelsRange) {
  EXPECT_EQ(load({}).cfg.io_slice_us, 100u);
  EXPECT_EQ(load({"--io-slice-us", "0"}).cfg.io_slice_us, 0u);
  EXPECT_EQ(load({}, {"STREAMGATE_IO_SLICE_US=2500"}).cfg.io_slice_us, 2500u);
  EXPECT_EQ(load({"--io-slice-us", "100000"}).cfg.io_slice_us, 100000u);
  for (const char* bad : {"99", "100001", "-1", "fast"}) {
    try {
      load({"--io-slice-us", bad});
      ADD_FAILURE() << bad << " was taken";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("io"), std::string::npos) << e.what();
    }
  }
}

TEST(Config, FlagBeatsEnvBeatsFile) {
  std::string path = ::testing::TempDir() + "sg_config_test.toml";
  {
    std::ofstream f(path);
    f << "listen = \"0.0.0.0:9000\"\nprovider = \"demo\"\n[demo]\nttft_ms = 111\ntokens_per_second = 7\n"
         "[limits]\nmax_streams_per_connection = 9\n";
  }
  auto c = load({"--config", path, "--demo-ttft-ms=333"}, {"STREAMGATE_DEMO_TTFT_MS=222", "STREAMGATE_DEMO_TOKENS_PER_SECOND=8"}).cfg;
  EXPECT_DOUBLE_EQ(c.demo_ttft_ms, 333);
  EXPECT_DOUBLE_EQ(c.demo_tokens_per_second, 8);
  EXPECT_EQ(c.max_streams_per_connection, 9u);
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.listen_port, 9000);
  auto viaenv = load({}, {"STREAMGATE_CONFIG=" + path}).cfg;
  EXPECT_EQ(viaenv.listen_port, 9000);
  std::remove(path.c_str());
}

TEST(Config, ListenForms) {
  EXPECT_EQ(load({"--listen", "[::1]:0"}).cfg.listen_host, "::1");
  EXPECT_EQ(load({"--listen", ":7000"}).cfg.listen_port, 7000);
  EXPECT_THROW(load({"--listen", "nohost"}), std::invalid_argument);
  EXPECT_THROW(load({"--listen", "h:70000"}), std::invalid_argument);
}

TEST(Config, DatabaseFromFlagEnvOrTomlTable) {
  EXPECT_EQ(load({}).cfg.database, "");
  EXPECT_EQ(load({}).cfg.database_pool_size, 2u);
  EXPECT_EQ(load({"--database", "sqlite:/tmp/x.db"}).cfg.database, "sqlite:/tmp/x.db");
  EXPECT_EQ(load({}, {"STREAMGATE_DATABASE=postgres://u@h/db", "STREAMGATE_DATABASE_POOL_SIZE=4"}).cfg.database,
            "postgres://u@h/db");
  EXPECT_EQ(load({}, {"STREAMGATE_DATABASE_POOL_SIZE=4"}).cfg.database_pool_size, 4u);
  std::string path = ::testing::TempDir() + "sg_config_db_test.toml";
  {
    std::ofstream f(path);
    f << "[database]\nurl = \"postgresql://sg@/sg?host=/run/postgresql\"\npool_size = 3\n";
  }
  auto c = load({"--config", path}).cfg;
  EXPECT_EQ(c.database, "postgresql://sg@/sg?host=/run/postgresql");
  EXPECT_EQ(c.database_pool_size, 3u);
  std::remove(path.c_str());
  try {
    load({"--database", "mysql://u:hunter2@h/db"});
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--database"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
  }
}

TEST(Config, BadInputIsRefusedWithAClearMessage) {
  try {
    load({"--threads", "many"});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("threads"), std::string::npos);
  }
  EXPECT_THROW(load({"--no-such-flag", "1"}), std::invalid_argument);
  EXPECT_THROW(load({"--threads"}), std::invalid_argument);
  EXPECT_THROW(load({"stray"}), std::invalid_argument);
  EXPECT_THROW(load({"--demo-ttft-ms", "-5"}), std::invalid_argument);
  EXPECT_THROW(load({"--config", "/nonexistent/streamgate.toml"}), std::invalid_argument);
}

TEST(Config, ClusterOptions) {
  auto c = load({"--cluster", "redis://127.0.0.1:6380/2", "--node-id", "node-a_1", "--reuse-port"}).cfg;
  EXPECT_EQ(c.cluster, "redis://127.0.0.1:6380/2");
  EXPECT_EQ(c.node_id, "node-a_1");
  EXPECT_TRUE(c.reuse_port);
  EXPECT_EQ(c.node_ttl_ms, 5000);
  EXPECT_FALSE(load({}).cfg.reuse_port);
  // A switch takes no value, but an explicit one is honoured; the flag after it is still a flag.
  EXPECT_FALSE(load({"--reuse-port=false"}).cfg.reuse_port);
  auto after = load({"--reuse-port", "--threads", "3"}).cfg;
  EXPECT_TRUE(after.reuse_port);
  EXPECT_EQ(after.threads, 3u);
  EXPECT_THROW(load({"--reuse-port=maybe"}), std::invalid_argument);
  EXPECT_THROW(load({"--cluster", "http://127.0.0.1:6379"}), std::invalid_argument);
  EXPECT_THROW(load({"--node-id", "a b"}), std::invalid_argument);
  EXPECT_THROW(load({"--node-id", std::string(65, 'a')}), std::invalid_argument);
}

TEST(Config, HelpDocumentsEveryOption) {
  auto help = help_text();
  for (auto& o : describe_options()) {
    EXPECT_NE(help.find("--" + o.flag), std::string::npos) << o.flag;
    EXPECT_NE(help.find(o.env), std::string::npos) << o.env;
  }
  EXPECT_TRUE(load({"--help"}).show_help);
}

}  // namespace
}  // namespace sg::core
