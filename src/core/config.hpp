// Server configuration: defaults, then a TOML file, then STREAMGATE_* variables, then flags.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sg::core {

struct config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string data_dir = "./data";
  std::string provider = "demo";
  std::string enable_providers;  // comma list of providers configured only by the environment to offer too
  unsigned threads = 0;  // 0 = one per core
  unsigned io_slice_us = 100;  // the time slice each I/O thread asks of the kernel (0: the kernel's default)
  std::string log_level = "info";
  std::string web_root = "web/dist";

  double demo_ttft_ms = 300;
  double demo_tokens_per_second = 40;

  std::size_t max_message_bytes = 128 * 1024;
  std::int64_t idle_timeout_ms = 10 * 60 * 1000;
  unsigned max_streams_per_connection = 4;
  std::int64_t stream_retention_ms = 10 * 60 * 1000;
  std::size_t retained_max_bytes = 256 * 1024 * 1024;  // all finished streams kept for resume, together
  std::size_t stream_log_max_bytes = 16 * 1024 * 1024;
  std::int64_t sse_heartbeat_ms = 15 * 1000;
  std::int64_t drain_timeout_ms = 30 * 1000;
  std::int64_t connection_ttl_ms = 2 * 60 * 60 * 1000;
  std::size_t outbound_merge_bytes = 0;
  std::size_t outbound_max_bytes = 1024 * 1024;
  int socket_send_buffer = 0;  // 0 = the kernel's default
  unsigned max_connections = 0;               // open sockets of every kind; 0 = the descriptor limit less a reserve
  std::int64_t header_timeout_ms = 10 * 1000;  // a request's header must arrive within this (slowloris)
  std::int64_t body_timeout_ms = 30 * 1000;    // and its body within this after the header

  // What one owner can make the store hold (0 = no limit).
  unsigned max_projects_per_owner = 1000;
  unsigned max_cards_per_project = 100;
  std::size_t max_card_bytes = 8000;
  std::size_t max_prompt_bytes = 32 * 1024;  // all of a project's cards together: the system prompt
  std::string database;                      // sqlite:PATH or postgres://…; empty = sqlite:<data_dir>/streamgate.db
  unsigned database_pool_size = 2;           // PostgreSQL connections (each on a store thread of its own)
  std::int64_t store_max_bytes = 0;          // the SQLite file; 0 = bounded by the disk

  // Authentication: "none" (default) or "jwt".
  std::string auth = "none";
  std::string jwt_algorithm = "HS256";
  std::string jwt_secret;       // HS*; prefer STREAMGATE_JWT_SECRET or jwt_secret_file
  std::string jwt_secret_file;
  std::string jwt_public_key;   // RS*/ES*: PEM file
  std::string jwt_jwks;         // RS*/ES*: JWKS file
  std::string jwt_issuer;
  std::string jwt_audience;
  std::string jwt_admin_claim;  // "NAME=VALUE"; empty: no token is admin
  std::int64_t jwt_leeway_s = 60;
  std::string admin_key;        // protects /@connections and /v1/admin; unset: a random one per start, logged
  std::string allowed_origins;  // comma-separated; empty: same origin only; "*": any
  std::string allowed_hosts;    // Host header values answered; empty: localhost, 127.0.0.1, [::1], the listen address
  std::string trusted_proxies;  // CIDRs whose Forwarded / X-Forwarded-For is believed; empty: none

  // Rate limits and quotas (0 = off).
  double rate_connections_per_second = 0;  // new connections per source IP
  unsigned max_connections_per_ip = 0;
  unsigned max_connections_per_user = 0;
  double rate_streams_per_minute = 0;      // stream starts per user
  unsigned max_streams_per_user = 0;
  double rate_tokens_per_minute = 0;       // upstream tokens per user

  // TLS: both set → the listener speaks HTTPS/WSS (reloaded on SIGHUP).
  std::string tls_cert;
  std::string tls_key;

  // Cluster mode (docs/cluster.md): without `cluster` the node is alone and needs no Redis.
  std::string cluster;           // redis://[:PASSWORD@]HOST:PORT[/DB]
  std::string cluster_password;  // when the URL has none; prefer STREAMGATE_CLUSTER_PASSWORD
  std::string node_id;           // empty: a random one at start
  std::int64_t node_ttl_ms = 5000;  // a node whose heartbeat is this old is dead; it beats every third of it
  bool reuse_port = false;       // SO_REUSEPORT: several processes share the listening port

  std::string config_file;
};

struct option_info {
  std::string flag;      // "demo-ttft-ms"
  std::string toml_key;  // "demo.ttft_ms"
  std::string env;       // "STREAMGATE_DEMO_TTFT_MS"
  std::string help;
  std::string default_value;
  bool is_switch = false;  // takes no value on the command line
};

/// The documented options, in --help order.
std::vector<option_info> describe_options();

/// The text of --help.
std::string help_text();

struct parse_outcome {
  config cfg;
  bool show_help = false;
  bool show_version = false;
};

/// Builds the configuration from argv, the environment and the TOML file it names.
/// Throws std::invalid_argument with a message fit for the user on any bad input.
parse_outcome load_config(int argc, const char* const* argv, char** envp);

}  // namespace sg::core
