// sgcat's command line and URL parsing, kept free of I/O so it is unit-tested.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sg::tools {

struct cat_url {
  bool sse = false;  // http:// talks SSE (POST /v1/streams), ws:// talks WebSocket
  std::string host;
  std::string port;
  std::string path;  // WebSocket: the target (default /ws); SSE: a prefix before /v1 (default empty)
};

/// Parses ws://host:port/path or http://host:port[/prefix]; throws std::invalid_argument.
inline cat_url parse_cat_url(std::string_view u) {
  cat_url out;
  if (u.rfind("ws://", 0) == 0) {
    u.remove_prefix(5);
  } else if (u.rfind("http://", 0) == 0) {
    out.sse = true;
    u.remove_prefix(7);
  } else if (u.rfind("wss://", 0) == 0 || u.rfind("https://", 0) == 0) {
    throw std::invalid_argument("TLS URLs are not supported yet: put a TLS proxy in front, or use ws:// / http://");
  } else {
    throw std::invalid_argument("URL must start with ws:// or http://");
  }
  auto slash = u.find('/');
  std::string_view hostport = u.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : u.substr(slash);
  if (hostport.empty()) throw std::invalid_argument("URL has no host");
  std::size_t colon;
  if (hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("bad IPv6 host in URL");
    out.host = std::string(hostport.substr(1, close - 1));
    colon = close + 1 < hostport.size() && hostport[close + 1] == ':' ? close + 1 : std::string_view::npos;
  } else {
    colon = hostport.rfind(':');
    out.host = std::string(hostport.substr(0, colon));
  }
  out.port = colon == std::string_view::npos ? "80" : std::string(hostport.substr(colon + 1));
  unsigned p = 0;
  auto r = std::from_chars(out.port.data(), out.port.data() + out.port.size(), p);
  if (r.ec != std::errc{} || r.ptr != out.port.data() + out.port.size() || p == 0 || p > 65535)
    throw std::invalid_argument("bad port in URL: " + out.port);
  if (out.sse) {
    out.path = std::string(path);
    while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  } else {
    out.path = path.empty() ? "/ws" : std::string(path);
  }
  return out;
}

/// "STREAM:SEQ" (SEQ optional, default 0) → stream id and last seen seq.
inline std::pair<std::string, std::uint64_t> parse_resume(std::string_view v) {
  auto colon = v.rfind(':');
  std::string id(v.substr(0, colon));
  std::uint64_t seq = 0;
  if (colon != std::string_view::npos) {
    auto s = v.substr(colon + 1);
    auto r = std::from_chars(s.data(), s.data() + s.size(), seq);
    if (r.ec != std::errc{} || r.ptr != s.data() + s.size())
      throw std::invalid_argument("--resume: expected STREAM:SEQ, got '" + std::string(v) + "'");
  }
  if (id.empty()) throw std::invalid_argument("--resume: the stream id is empty");
  return {id, seq};
}

/// A text progress bar: "[########------------]  40% Generating with demo...".
inline std::string progress_bar(int percent, std::string_view step, std::size_t width = 24) {
  if (percent < 0) percent = 0;
  if (percent > 100) percent = 100;
  auto filled = static_cast<std::size_t>(percent) * width / 100;
  std::string s = "[";
  s.append(filled, '#');
  s.append(width - filled, '-');
  s += "] ";
  auto pct = std::to_string(percent);
  s.append(3 - std::min<std::size_t>(3, pct.size()), ' ');
  s += pct;
  s += "% ";
  s += step;
  return s;
}

}  // namespace sg::tools
