#include "redis/resp.hpp"

#include <boost/url/parse.hpp>
#include <hiredis/hiredis.h>

#include <charconv>
#include <stdexcept>

namespace sg::redis {
namespace {

class redis_category : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "redis"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::not_connected: return "not connected to Redis";
      case errc::timeout: return "Redis did not answer in time";
      case errc::protocol: return "Redis sent bytes that are not RESP";
      case errc::closed: return "the connection to Redis was lost";
      case errc::stopped: return "the Redis client was stopped";
      case errc::server: return "Redis refused the connection's set-up";
    }
    return "Redis error";
  }
};

reply convert(const redisReply* r) {
  reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = reply::kind::string; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: out.type = reply::kind::status; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out.type = reply::kind::error; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out.type = reply::kind::integer; out.integer = r->integer; break;
    case REDIS_REPLY_ARRAY:
      out.type = reply::kind::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default: out.type = reply::kind::nil;
  }
  return out;
}

}  // namespace

const boost::system::error_category& category() {
  static const redis_category c;
  return c;
}

reader::reader() : r_(redisReaderCreate()) {
  if (!r_) throw std::bad_alloc();
  r_->maxbuf = 0;  // hiredis frees its buffer when idle past 16 KiB; keep it: connections are long-lived
}

reader::~reader() { redisReaderFree(r_); }

boost::system::error_code reader::feed(const char* p, std::size_t n) {
  if (redisReaderFeed(r_, p, n) != REDIS_OK) return make_error_code(errc::protocol);
  return {};
}

result<std::optional<reply>> reader::next() {
  void* out = nullptr;
  if (redisReaderGetReply(r_, &out) != REDIS_OK) return make_error_code(errc::protocol);
  if (!out) return std::optional<reply>{};
  auto* r = static_cast<redisReply*>(out);
  auto converted = convert(r);
  freeReplyObject(r);
  return converted;
}

std::string format(const command& c) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(c.size());
  lens.reserve(c.size());
  for (auto& a : c) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* target = nullptr;
  int n = redisFormatCommandArgv(&target, static_cast<int>(c.size()), argv.data(), lens.data());
  if (n < 0 || !target) throw std::bad_alloc();
  std::string out(target, static_cast<std::size_t>(n));
  redisFreeCommand(target);
  return out;
}

endpoint parse_url(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "redis")
    throw std::invalid_argument("--cluster: expected redis://[:PASSWORD@]HOST[:PORT][/DB]");
  endpoint ep;
  if (u->host().empty()) throw std::invalid_argument("--cluster: the URL names no host");
  ep.host = u->host_type() == boost::urls::host_type::ipv6 ? std::string(u->encoded_host_address())
                                                           : std::string(u->host_address());
  if (!ep.host.empty() && ep.host.front() == '[') ep.host = ep.host.substr(1, ep.host.size() - 2);
  if (u->has_port()) {
    auto p = u->port();
    unsigned port = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc{} || end != p.data() + p.size() || port == 0 || port > 65535)
      throw std::invalid_argument("--cluster: the port must be 1-65535");
    ep.port = static_cast<std::uint16_t>(port);
  }
  if (u->has_userinfo()) {
    ep.user = u->user();
    ep.password = u->password();
  }
  auto path = std::string(u->path());
  if (!path.empty() && path != "/") {
    auto db = path.substr(1);
    int n = -1;
    auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), n);
    if (ec != std::errc{} || end != db.data() + db.size() || n < 0 || n > 15)
      throw std::invalid_argument("--cluster: the database after / must be 0-15");
    ep.db = n;
  }
  return ep;
}

}  // namespace sg::redis
