// Route integration calls: one POST each, bounded by a whole-call deadline, a concurrency limit and a
// circuit breaker, on the shared upstream HTTP client; nothing here ever blocks an I/O thread.
#include "gateway/integrations.hpp"

#include "core/asio.hpp"
#include "core/histogram.hpp"
#include "core/log.hpp"
#include "provider/backend/backend_protocol.hpp"
#include "provider/http/http_client.hpp"

#include <toml++/toml.h>

#include <array>
#include <atomic>
#include <fstream>

namespace sg::gateway {

namespace httpc = provider::httpc;

// ---- settings ----

namespace {

bool valid_route_name(std::string_view n) {
  if (n == "$connect" || n == "$disconnect" || n == "$default") return true;
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':')) return false;
  return true;
}

route_settings route_from_table(const std::string& name, const toml::table& t,
                                const std::map<std::string, std::string>& env) {
  std::string where = "routes.\"" + name + "\"";
  static const char* const known[] = {"url", "headers", "timeout_ms", "max_concurrency", "breaker_failures",
                                      "breaker_reset_ms", "retries", "max_response_bytes"};
  for (auto& [k, v] : t)
    if (std::find_if(std::begin(known), std::end(known), [&](const char* x) { return k.str() == x; }) == std::end(known))
      throw std::invalid_argument("config: unknown key " + where + "." + std::string(k.str()));
  route_settings r;
  r.name = name;
  auto url = t["url"].value<std::string>();
  if (!url) throw std::invalid_argument("config: " + where + ".url is required (a string)");
  r.url = provider::backend::substitute_env(*url, env, where + ".url");
  if (!httpc::parse_url(r.url)) throw std::invalid_argument("config: " + where + ".url '" + r.url + "' is not an http(s) URL");
  auto number = [&](const char* key, std::int64_t min) -> std::optional<std::int64_t> {
    auto* n = t.get(key);
    if (!n) return std::nullopt;
    auto v = n->value<std::int64_t>();
    if (!v || *v < min)
      throw std::invalid_argument("config: " + where + "." + key + " must be a whole number of at least " +
                                  std::to_string(min));
    return v;
  };
  if (auto v = number("timeout_ms", 1)) r.timeout_ms = *v;
  if (auto v = number("max_concurrency", 1)) r.max_concurrency = static_cast<unsigned>(*v);
  if (auto v = number("breaker_failures", 0)) r.breaker_failures = static_cast<unsigned>(*v);
  if (auto v = number("breaker_reset_ms", 1)) r.breaker_reset_ms = *v;
  if (auto v = number("retries", 0)) r.retries = static_cast<unsigned>(std::min<std::int64_t>(*v, 10));
  if (auto v = number("max_response_bytes", 1)) r.max_response_bytes = static_cast<std::size_t>(*v);
  if (auto* h = t.get("headers")) {
    auto* ht = h->as_table();
    if (!ht) throw std::invalid_argument("config: " + where + ".headers must be a table of strings");
    for (auto& [k, v] : *ht) {
      auto key = std::string(k.str());
      auto value = v.value<std::string>();
      if (!value) throw std::invalid_argument("config: " + where + ".headers." + key + " must be a string");
      auto text = provider::backend::substitute_env(*value, env, where + ".headers." + key);
      if (key.empty() || key.find_first_of(" :\r\n") != std::string::npos || text.find_first_of("\r\n") != std::string::npos)
        throw std::invalid_argument("config: " + where + ".headers." + key + " is not a valid header");
      r.headers.emplace_back(key, std::move(text));
    }
  }
  return r;
}

std::vector<route_settings> routes_of(const toml::table& tbl, const std::map<std::string, std::string>& env) {
  std::vector<route_settings> out;
  auto* rs = tbl.get("routes");
  if (!rs) return out;
  auto* t = rs->as_table();
  if (!t) throw std::invalid_argument("config: [routes] must be a table of tables");
  for (auto& [name, node] : *t) {
    std::string n(name.str());
    if (!valid_route_name(n))
      throw std::invalid_argument("config: routes.\"" + n +
                                  "\": a route is $connect, $disconnect, $default or an action name "
                                  "(letters, digits, _ - . :)");
    auto* rt = node.as_table();
    if (!rt) throw std::invalid_argument("config: routes.\"" + n + "\" must be a table");
    out.push_back(route_from_table(n, *rt, env));
  }
  return out;
}

}  // namespace

std::vector<route_settings> parse_route_settings(std::string_view toml_text, const std::map<std::string, std::string>& env) {
  try {
    return routes_of(toml::parse(toml_text), env);
  } catch (const toml::parse_error& e) {
    throw std::invalid_argument("config: " + std::string(e.description()));
  }
}

std::vector<route_settings> load_route_settings(const std::string& config_file,
                                                const std::map<std::string, std::string>& env) {
  if (config_file.empty()) return {};
  try {
    return routes_of(toml::parse_file(config_file), env);
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << "config " << config_file << ":" << e.source().begin.line << ": " << e.description();
    throw std::invalid_argument(o.str());
  }
}

// ---- circuit breaker ----

bool circuit_breaker::allow(clock::time_point now) {
  std::lock_guard lock(mu_);
  if (!open_) return true;
  if (now - opened_at_ < reset_ || trial_) return false;
  trial_ = true;  // half-open: this call decides
  return true;
}

void circuit_breaker::success() {
  std::lock_guard lock(mu_);
  consecutive_ = 0;
  open_ = false;
  trial_ = false;
}

void circuit_breaker::failure(clock::time_point now) {
  std::lock_guard lock(mu_);
  ++consecutive_;
  if (trial_ || (failures_ && consecutive_ >= failures_)) {
    open_ = true;
    opened_at_ = now;
  }
  trial_ = false;
}

circuit_breaker::state circuit_breaker::current(clock::time_point now) const {
  std::lock_guard lock(mu_);
  if (!open_) return state::closed;
  return now - opened_at_ < reset_ ? state::open : state::half_open;
}

std::string_view to_string(call_outcome o) {
  switch (o) {
    case call_outcome::ok: return "ok";
    case call_outcome::http_4xx: return "http_4xx";
    case call_outcome::http_5xx: return "http_5xx";
    case call_outcome::timeout: return "timeout";
    case call_outcome::unreachable: return "unreachable";
    case call_outcome::too_large: return "too_large";
    case call_outcome::busy: return "busy";
    case call_outcome::circuit_open: return "circuit_open";
  }
  return "unknown";
}

// ---- calls ----

constexpr std::size_t outcome_count = 8;

struct integrations::route {
  explicit route(route_settings rs)
      : s(std::move(rs)), breaker(s.breaker_failures, std::chrono::milliseconds(s.breaker_reset_ms)) {
    auto u = httpc::parse_url(s.url);
    if (!u) throw std::invalid_argument("route " + s.name + ": url '" + s.url + "' is not an http(s) URL");
    url = *u;
    // The path as written (Beast wants at least "/"), and the query if any.
    auto scheme_end = s.url.find("://");
    auto path_start = s.url.find('/', scheme_end + 3);
    target = path_start == std::string::npos ? "/" : s.url.substr(path_start);
    if (auto hash = target.find('#'); hash != std::string::npos) target.erase(hash);
  }
  route_settings s;
  httpc::url url;
  std::string target;
  circuit_breaker breaker;
  std::atomic<unsigned> in_flight{0};
  std::array<std::atomic<std::uint64_t>, outcome_count> outcomes{};
  std::atomic<std::uint64_t> retries{0};
  core::histogram latency;
};

struct integrations::shared {
  std::shared_ptr<httpc::client> client = std::make_shared<httpc::client>();
  std::atomic<std::size_t> pending{0};
};

namespace {

class call_op : public std::enable_shared_from_this<call_op> {
 public:
  using route_ptr = std::shared_ptr<integrations::route>;
  call_op(route_ptr r, std::shared_ptr<httpc::client> client, net::strand<net::io_context::executor_type> ex,
          net::any_io_executor done_ex, std::function<void(call_result)> done)
      : r_(std::move(r)),
        client_(std::move(client)),
        ex_(ex),
        timer_(ex),
        done_ex_(std::move(done_ex)),
        done_(std::move(done)),
        t0_(std::chrono::steady_clock::now()) {}

  void start(std::string body, header_list headers) {
    net::dispatch(ex_, [self = shared_from_this(), body = std::move(body), headers = std::move(headers)]() mutable {
      self->run(std::move(body), std::move(headers));
    });
  }

 private:
  void run(std::string body, header_list headers) {
    auto& s = r_->s;
    httpc::request_spec spec;
    spec.method = http::verb::post;
    spec.origin = r_->url;
    spec.target = r_->target;
    spec.headers = std::move(headers);
    for (auto& h : s.headers) spec.headers.push_back(h);
    spec.body = std::move(body);
    auto limit = std::chrono::milliseconds(s.timeout_ms);
    spec.limits = {limit, limit, limit};
    // One deadline for the whole call, answer included: the client's own timers only bound each phase.
    timer_.expires_after(limit);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->finish(call_outcome::timeout);
    });
    auto self = shared_from_this();
    httpc::handlers h;
    h.on_head = [self](const httpc::response_head& head) { self->status_ = head.result_int(); };
    h.on_body = [self](std::string_view b) {
      if (self->finished_) return;
      if (self->body_.size() + b.size() > self->r_->s.max_response_bytes) return self->finish(call_outcome::too_large);
      self->body_.append(b);
    };
    h.on_end = [self](error_code ec) {
      self->x_.reset();
      if (ec) return self->finish(httpc::is_timeout(ec) ? call_outcome::timeout : call_outcome::unreachable);
      auto st = self->status_;
      self->finish(st / 100 == 2 ? call_outcome::ok : st >= 500 ? call_outcome::http_5xx : call_outcome::http_4xx);
    };
    x_ = client_->start(std::move(spec), std::move(h), ex_);
  }

  void finish(call_outcome o) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    if (auto x = std::move(x_)) x->abort();  // closes the socket: the backend sees the call end now
    auto now = std::chrono::steady_clock::now();
    r_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    // A 4xx is the backend answering (a refused $connect is one): only silence, 5xx and junk count against it.
    if (o == call_outcome::ok || o == call_outcome::http_4xx) r_->breaker.success();
    else r_->breaker.failure(now);
    r_->outcomes[static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed);
    r_->latency.observe_ms(std::chrono::duration<double, std::milli>(now - t0_).count());
    call_result res{o, status_, o == call_outcome::too_large ? std::string() : std::move(body_)};
    net::post(done_ex_, [done = std::move(done_), res = std::move(res)]() mutable { done(std::move(res)); });
  }

  route_ptr r_;
  std::shared_ptr<httpc::client> client_;
  net::strand<net::io_context::executor_type> ex_;
  net::steady_timer timer_;
  net::any_io_executor done_ex_;
  std::function<void(call_result)> done_;
  std::chrono::steady_clock::time_point t0_;
  std::shared_ptr<httpc::exchange> x_;
  std::string body_;
  unsigned status_ = 0;
  bool finished_ = false;
};

}  // namespace

integrations::integrations(net::io_context& ioc, std::vector<route_settings> routes)
    : ioc_(ioc), shared_(std::make_shared<shared>()) {
  for (auto& r : routes) {
    if (r.name != "$connect" && r.name != "$disconnect") message_routes_ = true;
    auto name = r.name;
    routes_[name] = std::make_shared<route>(std::move(r));
  }
}

integrations::~integrations() = default;

bool integrations::has(std::string_view name) const { return routes_.find(name) != routes_.end(); }

void integrations::call(std::string_view name, std::string body, header_list headers, net::any_io_executor ex,
                        std::function<void(call_result)> done) {
  auto it = routes_.find(name);
  if (it == routes_.end()) throw std::logic_error("no route " + std::string(name));
  auto r = it->second;
  auto refuse = [&](call_outcome o) {
    r->outcomes[static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed);
    net::post(ex, [done = std::move(done), o] { done(call_result{o, 0, {}}); });
  };
  if (r->in_flight.fetch_add(1, std::memory_order_relaxed) >= r->s.max_concurrency) {
    r->in_flight.fetch_sub(1, std::memory_order_relaxed);
    return refuse(call_outcome::busy);
  }
  if (!r->breaker.allow(std::chrono::steady_clock::now())) {
    r->in_flight.fetch_sub(1, std::memory_order_relaxed);
    return refuse(call_outcome::circuit_open);
  }
  auto op = std::make_shared<call_op>(r, shared_->client, net::make_strand(ioc_), std::move(ex), std::move(done));
  op->start(std::move(body), std::move(headers));
}

// $disconnect: the answer is ignored, a failure is retried a bounded number of times.
void integrations::notify(std::string_view name, std::string body, header_list headers) {
  auto it = routes_.find(name);
  if (it == routes_.end()) return;
  auto r = it->second;
  auto sh = shared_;
  sh->pending.fetch_add(1);
  struct state : std::enable_shared_from_this<state> {
    integrations* self;
    std::shared_ptr<route> r;
    std::shared_ptr<shared> sh;
    std::string name, body;
    header_list headers;
    net::strand<net::io_context::executor_type> ex;
    net::steady_timer timer;
    unsigned attempts = 0;
    state(net::io_context& ioc) : ex(net::make_strand(ioc)), timer(ex) {}
    void attempt() {
      ++attempts;
      self->call(name, body, headers, ex, [st = shared_from_this()](call_result res) { st->on_result(res); });
    }
    void on_result(const call_result& res) {
      if (res.outcome == call_outcome::ok) return done();
      bool retry = res.outcome != call_outcome::http_4xx && attempts <= r->s.retries;
      core::log_warn("integration call failed", {{"route", name},
                                                 {"result", std::string(to_string(res.outcome))},
                                                 {"status", res.status},
                                                 {"attempt", attempts},
                                                 {"willRetry", retry}});
      if (!retry) return done();
      r->retries.fetch_add(1, std::memory_order_relaxed);
      timer.expires_after(std::chrono::milliseconds(100) * (1 << std::min(attempts - 1, 6u)));
      timer.async_wait([st = shared_from_this()](error_code ec) {
        if (!ec) st->attempt();
        else st->done();
      });
    }
    void done() { sh->pending.fetch_sub(1); }
  };
  auto st = std::make_shared<state>(ioc_);
  st->self = this;
  st->r = r;
  st->sh = sh;
  st->name = std::string(name);
  st->body = std::move(body);
  st->headers = std::move(headers);
  net::dispatch(st->ex, [st] { st->attempt(); });
}

std::size_t integrations::pending_notifications() const { return shared_->pending.load(); }

void integrations::render_metrics(std::ostringstream& o) const {
  if (routes_.empty()) return;
  auto label = [](const std::string& route) { return "route=\"" + route + "\""; };
  o << "# HELP streamgate_integration_calls_total Calls to route integrations by route and result "
       "(busy and circuit_open were refused without a call).\n"
    << "# TYPE streamgate_integration_calls_total counter\n";
  for (auto& [name, r] : routes_)
    for (std::size_t i = 0; i < outcome_count; ++i)
      o << "streamgate_integration_calls_total{" << label(name) << ",result=\""
        << to_string(static_cast<call_outcome>(i)) << "\"} " << r->outcomes[i].load(std::memory_order_relaxed) << '\n';
  o << "# HELP streamgate_integration_in_flight Route integration calls in flight.\n"
    << "# TYPE streamgate_integration_in_flight gauge\n";
  for (auto& [name, r] : routes_) o << "streamgate_integration_in_flight{" << label(name) << "} " << r->in_flight.load() << '\n';
  o << "# HELP streamgate_integration_circuit_open 1 while a route's circuit breaker is open (calls refused, or "
       "waiting for its one trial call), else 0.\n"
    << "# TYPE streamgate_integration_circuit_open gauge\n";
  auto now = std::chrono::steady_clock::now();
  for (auto& [name, r] : routes_) {
    auto st = r->breaker.current(now);
    o << "streamgate_integration_circuit_open{" << label(name) << "} "
      << (st == circuit_breaker::state::closed ? 0 : 1) << '\n';
  }
  o << "# HELP streamgate_integration_retries_total Retries of failed $disconnect calls.\n"
    << "# TYPE streamgate_integration_retries_total counter\n";
  for (auto& [name, r] : routes_) o << "streamgate_integration_retries_total{" << label(name) << "} " << r->retries.load() << '\n';
  bool first = true;
  for (auto& [name, r] : routes_) {
    if (first) r->latency.render(o, "streamgate_integration_call_seconds", "Duration of route integration calls.", label(name));
    else r->latency.render_series(o, "streamgate_integration_call_seconds", label(name));
    first = false;
  }
}

}  // namespace sg::gateway
