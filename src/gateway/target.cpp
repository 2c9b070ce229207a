// Target parsing with Boost.URL: percent-decoding and the query grammar are its job, not ours.
#include "gateway/target.hpp"

#include <boost/url/parse.hpp>

namespace sg::gateway {

const std::string* target::param(std::string_view key) const {
  for (auto& [k, v] : query)
    if (k == key) return &v;
  return nullptr;
}

target parse_target(std::string_view t) {
  target out;
  auto r = boost::urls::parse_origin_form(t);
  if (!r) {
    out.valid = false;
    return out;
  }
  auto u = *r;
  out.path = std::string(u.path());
  for (auto seg : u.segments()) out.segments.emplace_back(seg);
  if (!out.segments.empty() && out.segments.back().empty()) out.segments.pop_back();
  for (auto p : u.params()) out.query.emplace_back(p.key, p.has_value ? p.value : std::string());
  return out;
}

}  // namespace sg::gateway
