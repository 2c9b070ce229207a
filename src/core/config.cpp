// Option table shared by flags, STREAMGATE_* variables and the TOML file, so the three never drift.
#include "core/config.hpp"

#include <toml++/toml.h>

#include <charconv>
#include <cstring>
#include <functional>
#include <sstream>
#include <stdexcept>

namespace sg::core {
namespace {

using setter = std::function<void(config&, const std::string&)>;

struct option {
  const char* flag;
  const char* toml_key;
  const char* help;
  setter set;
  std::function<std::string(const config&)> get;
  bool is_switch = false;  // `--flag` alone means true; `--flag=false` and the env/TOML value are parsed
};

bool parse_switch(const std::string& name, const std::string& v) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  throw std::invalid_argument("--" + name + ": expected true or false, got '" + v + "'");
}

template <class T>
T parse_number(const std::string& name, const std::string& v) {
  T out{};
  if constexpr (std::is_floating_point_v<T>) {
    try {
      std::size_t pos = 0;
      out = static_cast<T>(std::stod(v, &pos));
      if (pos != v.size()) throw std::invalid_argument("");
    } catch (const std::exception&) {
      throw std::invalid_argument("--" + name + ": expected a number, got '" + v + "'");
    }
  } else {
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc{} || p != v.data() + v.size())
      throw std::invalid_argument("--" + name + ": expected a whole number, got '" + v + "'");
  }
  if (out < 0) throw std::invalid_argument("--" + name + ": must not be negative");
  return out;
}

void set_listen(config& c, const std::string& v) {
  // HOST:PORT, [v6]:PORT or :PORT.
  auto colon = v.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--listen: expected HOST:PORT, got '" + v + "'");
  std::string host = v.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = parse_number<unsigned>("listen", v.substr(colon + 1));
  if (port > 65535) throw std::invalid_argument("--listen: port out of range");
  c.listen_host = host.empty() ? "0.0.0.0" : host;
  c.listen_port = static_cast<std::uint16_t>(port);
}

#define SG_NUM(field, type)                                                                     \
  [](config& c, const std::string& v) { c.field = parse_number<type>(#field, v); },             \
      [](const config& c) {                                                                     \
        std::ostringstream o;                                                                   \
        o << c.field;                                                                           \
        return o.str();                                                                         \
      }
#define SG_SWITCH(field)                                                              \
  [](config& c, const std::string& v) { c.field = parse_switch(#field, v); },             \
      [](const config& c) { return std::string(c.field ? "true" : "false"); }, true
#define SG_STR(field) \
  [](config& c, const std::string& v) { c.field = v; }, [](const config& c) { return c.field; }

const std::vector<option>& options() {
  static const std::vector<option> opts = {
      {"listen", "listen", "address to listen on, HOST:PORT (port 0 picks a free port)", set_listen,
       [](const config& c) { return c.listen_host + ":" + std::to_string(c.listen_port); }},
      {"data-dir", "data_dir", "directory for the default SQLite database (data-dir/streamgate.db)", SG_STR(data_dir)},
      {"database", "database.url",
       "the store: sqlite:PATH, or postgres://USER:PASSWORD@HOST:PORT/DB (any libpq URL, e.g. ?host=/run/postgresql "
       "for a socket directory); default sqlite:<data-dir>/streamgate.db. Migrations run at start; a lost PostgreSQL "
       "server is reconnected with backoff (100 ms doubling to 2 s) and /readyz answers 503 meanwhile",
       [](config& c, const std::string& v) {
         // Checked here so a typo stops start-up as a configuration error; the value is not
         // echoed, as it may hold a password.
         if (!v.empty() && v.rfind("sqlite:", 0) != 0 && v.rfind("postgres://", 0) != 0 &&
             v.rfind("postgresql://", 0) != 0)
           throw std::invalid_argument("--database: expected sqlite:PATH, postgres://… or postgresql://…");
         c.database = v;
       },
       [](const config& c) { return c.database; }},
      {"database-pool-size", "database.pool_size",
       "PostgreSQL connections, each on a store thread of its own, never an I/O thread (1-64)",
       SG_NUM(database_pool_size, unsigned)},
      {"cluster", "cluster.redis",
       "cluster mode: redis://[:PASSWORD@]HOST:PORT[/DB] of the Redis 7 server the nodes share (docs/cluster.md); "
       "unset: a single node that needs no Redis",
       [](config& c, const std::string& v) {
         if (!v.empty() && v.rfind("redis://", 0) != 0)
           throw std::invalid_argument("--cluster: expected redis://[:PASSWORD@]HOST:PORT[/DB]");
         c.cluster = v;
       },
       [](const config& c) { return c.cluster; }},
      {"cluster-password", "cluster.password", "the Redis password when --cluster's URL has none", SG_STR(cluster_password)},
      {"node-id", "cluster.node_id", "this node's name in the cluster (letters, digits, - and _); default: random at start",
       [](config& c, const std::string& v) {
         if (v.size() > 64 || v.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
                                  std::string::npos)
           throw std::invalid_argument("--node-id: at most 64 letters, digits, - and _");
         c.node_id = v;
       },
       [](const config& c) { return c.node_id; }},
      {"node-ttl-ms", "cluster.node_ttl_ms",
       "a node whose heartbeat is this old is dead and its running streams end interrupted; it beats every third of it",
       SG_NUM(node_ttl_ms, std::int64_t)},
      {"reuse-port", "reuse_port", "let several processes listen on the same port (SO_REUSEPORT)", SG_SWITCH(reuse_port)},
      {"provider", "provider",
       "default provider: demo, openai, anthropic, bedrock, ollama, or the NAME of a [providers.NAME] table "
       "(such as a type = \"http\" backend)",
       SG_STR(provider)},
      {"enable-providers", "enable_providers",
       "also offer these providers, configured by their SDK environment variables alone (comma list); "
       "otherwise only --provider and [providers.*] tables (http backends included) are callable",
       SG_STR(enable_providers)},
      {"threads", "threads", "I/O threads, each with its own event loop; a connection and the streams it starts stay on one (0 = one per core)", SG_NUM(threads, unsigned)},
      {"io-slice-us", "io_slice_us",
       "the time slice each I/O thread asks of the kernel, in µs (Linux 6.12+; 100-100000): an I/O thread woken on a "
       "core where a store thread runs can take the core without waiting out that thread's slice (the kernel's "
       "default, 0.75-3 ms); its share of the CPU is unchanged. 0: the kernel's default",
       [](config& c, const std::string& v) {
         auto us = parse_number<unsigned>("io_slice_us", v);
         if (us != 0 && (us < 100 || us > 100000))
           throw std::invalid_argument("--io-slice-us: 0, or between 100 and 100000");
         c.io_slice_us = us;
       },
       [](const config& c) { return std::to_string(c.io_slice_us); }},
      {"log-level", "log_level", "debug, info, warn or error", SG_STR(log_level)},
      {"web-root", "web_root", "directory of the built web app served at / (web/dist)", SG_STR(web_root)},
      {"demo-ttft-ms", "demo.ttft_ms", "demo provider: time to first token in ms", SG_NUM(demo_ttft_ms, double)},
      {"demo-tokens-per-second", "demo.tokens_per_second",
       "demo provider: tokens per second after the first (0 = unpaced)", SG_NUM(demo_tokens_per_second, double)},
      {"max-message-bytes", "limits.max_message_bytes", "largest WebSocket message or request body",
       SG_NUM(max_message_bytes, std::size_t)},
      {"idle-timeout-ms", "limits.idle_timeout_ms", "close a silent WebSocket after this long (pings keep it open)",
       SG_NUM(idle_timeout_ms, std::int64_t)},
      {"max-streams-per-connection", "limits.max_streams_per_connection", "concurrent streams one connection may run",
       SG_NUM(max_streams_per_connection, unsigned)},
      {"stream-retention-ms", "limits.stream_retention_ms", "how long a finished stream stays resumable",
       SG_NUM(stream_retention_ms, std::int64_t)},
      {"retained-max-bytes", "limits.retained_max_bytes",
       "memory budget of all finished streams kept for resume; past it the oldest are dropped (0 = no budget)",
       SG_NUM(retained_max_bytes, std::size_t)},
      {"stream-log-max-bytes", "limits.stream_log_max_bytes", "events kept per stream for resume, in bytes",
       SG_NUM(stream_log_max_bytes, std::size_t)},
      {"sse-heartbeat-ms", "limits.sse_heartbeat_ms", "interval of ': ping' comments on SSE responses",
       SG_NUM(sse_heartbeat_ms, std::int64_t)},
      {"drain-timeout-ms", "limits.drain_timeout_ms", "on SIGTERM, how long in-flight streams may finish",
       SG_NUM(drain_timeout_ms, std::int64_t)},
      {"connection-ttl-ms", "limits.connection_ttl_ms", "TTL of a connection-table row after its last refresh",
       SG_NUM(connection_ttl_ms, std::int64_t)},
      {"outbound-merge-bytes", "limits.outbound_merge_bytes",
       "queued bytes above which a lagging client's chunks are merged (0 = whenever one waits)",
       SG_NUM(outbound_merge_bytes, std::size_t)},
      {"outbound-max-bytes", "limits.outbound_max_bytes", "queued bytes past which a slow client is closed (1008)",
       SG_NUM(outbound_max_bytes, std::size_t)},
      {"socket-send-buffer", "limits.socket_send_buffer", "SO_SNDBUF for client sockets (0 = kernel default)",
       SG_NUM(socket_send_buffer, int)},
      {"max-connections", "limits.max_connections",
       "open client sockets of every kind (HTTP, SSE, WebSocket, TLS handshakes); 0 = the descriptor limit less 256",
       SG_NUM(max_connections, unsigned)},
      {"header-timeout-ms", "limits.header_timeout_ms",
       "a request's header (and an idle keep-alive connection's next one) must arrive within this",
       SG_NUM(header_timeout_ms, std::int64_t)},
      {"body-timeout-ms", "limits.body_timeout_ms", "a request's body must arrive within this after its header",
       SG_NUM(body_timeout_ms, std::int64_t)},
      {"max-projects-per-owner", "limits.max_projects_per_owner", "projects one owner may keep (0 = no limit)",
       SG_NUM(max_projects_per_owner, unsigned)},
      {"max-cards-per-project", "limits.max_cards_per_project", "prompt cards per project (0 = no limit)",
       SG_NUM(max_cards_per_project, unsigned)},
      {"max-card-bytes", "limits.max_card_bytes", "largest prompt card", SG_NUM(max_card_bytes, std::size_t)},
      {"max-prompt-bytes", "limits.max_prompt_bytes",
       "all of a project's cards together, i.e. the system prompt built from them (0 = no limit)",
       SG_NUM(max_prompt_bytes, std::size_t)},
      {"store-max-bytes", "store.max_bytes",
       "cap on the SQLite file; writes past it answer 503 unavailable (0 = bounded by the disk; SQLite only)",
       SG_NUM(store_max_bytes, std::int64_t)},
      {"auth", "auth.mode", "none, or jwt (every API call and WebSocket needs a bearer token)", SG_STR(auth)},
      {"jwt-algorithm", "auth.jwt_algorithm", "the only algorithm accepted: HS256/384/512, RS256/384/512, ES256/384",
       SG_STR(jwt_algorithm)},
      {"jwt-secret", "auth.jwt_secret", "HS* shared secret (at least 32 bytes; prefer the env variable)",
       SG_STR(jwt_secret)},
      {"jwt-secret-file", "auth.jwt_secret_file", "file holding the HS* shared secret", SG_STR(jwt_secret_file)},
      {"jwt-public-key", "auth.jwt_public_key", "RS*/ES*: PEM public key file (reloaded on SIGHUP)",
       SG_STR(jwt_public_key)},
      {"jwt-jwks", "auth.jwt_jwks", "RS*/ES*: JWKS file, keys chosen by kid (reloaded on SIGHUP)", SG_STR(jwt_jwks)},
      {"jwt-issuer", "auth.jwt_issuer", "required iss claim (empty: not checked)", SG_STR(jwt_issuer)},
      {"jwt-audience", "auth.jwt_audience", "required aud claim (empty: not checked)", SG_STR(jwt_audience)},
      {"jwt-admin-claim", "auth.jwt_admin_claim",
       "NAME=VALUE (e.g. role=admin): a token is admin when claim NAME is VALUE or an array holding it; "
       "empty: no token is admin",
       SG_STR(jwt_admin_claim)},
      {"jwt-leeway-s", "auth.jwt_leeway_s", "clock leeway for exp and nbf, seconds", SG_NUM(jwt_leeway_s, std::int64_t)},
      {"admin-key", "auth.admin_key",
       "key for the management API (X-Admin-Key header); unset: a random key is generated at start and logged",
       SG_STR(admin_key)},
      {"allowed-origins", "auth.allowed_origins",
       "browser origins allowed for WebSocket and CORS, comma-separated (empty: same origin; *: any)",
       SG_STR(allowed_origins)},
      {"allowed-hosts", "auth.allowed_hosts",
       "Host header values answered, comma-separated host or host:port (empty: localhost, 127.0.0.1, [::1] and the "
       "listen address, with its port; *: any); others get 421",
       SG_STR(allowed_hosts)},
      {"trusted-proxies", "auth.trusted_proxies",
       "proxies (CIDRs, comma-separated) whose Forwarded / X-Forwarded-For name the client address (empty: none)",
       SG_STR(trusted_proxies)},
      {"rate-connections-per-second", "rate.connections_per_second", "new connections per source IP per second",
       SG_NUM(rate_connections_per_second, double)},
      {"max-connections-per-ip", "rate.max_connections_per_ip", "concurrent WebSocket connections per source IP",
       SG_NUM(max_connections_per_ip, unsigned)},
      {"max-connections-per-user", "rate.max_connections_per_user", "concurrent WebSocket connections per user",
       SG_NUM(max_connections_per_user, unsigned)},
      {"rate-streams-per-minute", "rate.streams_per_minute", "stream starts per user per minute",
       SG_NUM(rate_streams_per_minute, double)},
      {"max-streams-per-user", "rate.max_streams_per_user", "concurrent streams per user",
       SG_NUM(max_streams_per_user, unsigned)},
      {"rate-tokens-per-minute", "rate.tokens_per_minute", "upstream tokens (input + output) per user per minute",
       SG_NUM(rate_tokens_per_minute, double)},
      {"tls-cert", "tls.cert", "PEM certificate chain: serve HTTPS/WSS (reloaded on SIGHUP)", SG_STR(tls_cert)},
      {"tls-key", "tls.key", "PEM private key for --tls-cert", SG_STR(tls_key)},
  };
  return opts;
}
#undef SG_NUM
#undef SG_STR

std::string env_name(const char* flag) {
  std::string e = "STREAMGATE_";
  for (const char* p = flag; *p; ++p) e += (*p == '-') ? '_' : static_cast<char>(std::toupper(*p));
  return e;
}

const option* find_flag(std::string_view name) {
  for (auto& o : options())
    if (name == o.flag) return &o;
  return nullptr;
}

std::string toml_to_string(const toml::node& n, const std::string& key) {
  if (auto s = n.as_string()) return s->get();
  if (auto i = n.as_integer()) return std::to_string(i->get());
  if (auto f = n.as_floating_point()) {
    std::ostringstream o;
    o << f->get();
    return o.str();
  }
  if (auto b = n.as_boolean()) return b->get() ? "true" : "false";
  throw std::invalid_argument("config: '" + key + "' must be a string or a number");
}

void apply_file(config& c, const std::string& path) {
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << "config " << path << ":" << e.source().begin.line << ": " << e.description();
    throw std::invalid_argument(o.str());
  }
  for (auto& o : options()) {
    auto node = tbl.at_path(o.toml_key);
    if (!node) continue;
    o.set(c, toml_to_string(*node.node(), o.toml_key));
  }
}

}  // namespace

std::vector<option_info> describe_options() {
  config defaults;
  std::vector<option_info> out;
  for (auto& o : options()) out.push_back({o.flag, o.toml_key, env_name(o.flag), o.help, o.get(defaults), o.is_switch});
  return out;
}

std::string help_text() {
  std::ostringstream o;
  o << "streamgate: streams LLM answers token by token over WebSocket and SSE.\n\n"
    << "usage: streamgate [--config FILE] [--OPTION VALUE]...\n\n"
    << "Every option is also read from the environment (STREAMGATE_<NAME>) and from the TOML\n"
    << "file given by --config or STREAMGATE_CONFIG (key shown). Precedence: flag > env > file > default.\n\n"
    << "  --config FILE  TOML configuration file\n"
    << "  --help         this text\n"
    << "  --version      the version\n";
  for (auto& i : describe_options()) {
    o << "  --" << i.flag << (i.is_switch ? "" : " VALUE") << "\n      " << i.help << "\n      default " << i.default_value << "; env "
      << i.env << "; toml " << i.toml_key << "\n";
  }
  o << "\nA value of 0 turns a rate limit off. Users are the token's sub with --auth jwt, else the client address\n"
    << "(its /64 for IPv6).\n";
  o << "\nSignals: SIGHUP reloads JWT keys and the TLS certificate. SIGTERM/SIGINT stop accepting, let in-flight streams finish (drain-timeout-ms), then close\n"
    << "WebSockets with 1001.\n";
  return o.str();
}

parse_outcome load_config(int argc, const char* const* argv, char** envp) {
  parse_outcome out;
  std::vector<std::pair<const option*, std::string>> flags;
  std::string config_file;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      out.show_help = true;
      continue;
    }
    if (a == "--version") {
      out.show_version = true;
      continue;
    }
    if (a.substr(0, 2) != "--") throw std::invalid_argument("unexpected argument '" + std::string(a) + "'");
    a.remove_prefix(2);
    std::string name, value;
    auto eq = a.find('=');
    if (eq != std::string_view::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else {
      name = a;
      if (const option* sw = find_flag(name); sw && sw->is_switch) {
        value = "true";
      } else {
        if (i + 1 >= argc) throw std::invalid_argument("--" + name + " needs a value");
        value = argv[++i];
      }
    }
    if (name == "config") {
      config_file = value;
      continue;
    }
    const option* o = find_flag(name);
    if (!o) throw std::invalid_argument("unknown option --" + name + " (see --help)");
    flags.emplace_back(o, value);
  }

  std::map<std::string, std::string> env;
  for (char** e = envp; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (!eq) continue;
    std::string k(*e, static_cast<std::size_t>(eq - *e));
    if (k.rfind("STREAMGATE_", 0) == 0) env[k] = eq + 1;
  }
  if (config_file.empty() && env.count("STREAMGATE_CONFIG")) config_file = env["STREAMGATE_CONFIG"];

  config& c = out.cfg;
  if (!config_file.empty()) {
    apply_file(c, config_file);
    c.config_file = config_file;
  }
  for (auto& o : options()) {
    auto it = env.find(env_name(o.flag));
    if (it != env.end()) o.set(c, it->second);
  }
  for (auto& [o, v] : flags) o->set(c, v);
  return out;
}

}  // namespace sg::core
