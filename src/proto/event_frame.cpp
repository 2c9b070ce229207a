#include "proto/event_frame.hpp"

#include <boost/json.hpp>

namespace sg::proto {
namespace {

bool type_of(std::string_view name, event_type& out) {
  static constexpr std::pair<std::string_view, event_type> types[] = {
      {"stream_start", event_type::stream_start},       {"progress", event_type::progress},
      {"stream_chunk", event_type::stream_chunk},       {"stream_complete", event_type::stream_complete},
      {"stream_cancelled", event_type::stream_cancelled}, {"error", event_type::error},
  };
  for (auto& [n, t] : types)
    if (n == name) {
      out = t;
      return true;
    }
  return false;
}

}  // namespace

event_ptr parse_event_frame(std::string frame) {
  boost::system::error_code ec;
  auto v = boost::json::parse(frame, ec);
  if (ec || !v.is_object()) return nullptr;
  auto& o = v.get_object();
  auto e = std::make_shared<event>();
  auto* type = o.if_contains("type");
  auto* id = o.if_contains("streamId");
  auto* seq = o.if_contains("seq");
  if (!type || !type->is_string() || !type_of(type->get_string(), e->type)) return nullptr;
  if (!id || !id->is_string() || !seq) return nullptr;
  auto n = seq->if_uint64();
  auto i = seq->if_int64();
  if (!n && !(i && *i > 0)) return nullptr;
  e->seq = n ? *n : static_cast<std::uint64_t>(*i);
  if (e->seq == 0) return nullptr;
  e->stream_id = std::string_view(id->get_string());
  if (e->type == event_type::stream_chunk) {
    auto* content = o.if_contains("content");
    if (!content || !content->is_string()) return nullptr;
    e->content = content->get_string();
    if (auto* sid = o.if_contains("sessionId"); sid && sid->is_string()) e->session_id = std::string_view(sid->get_string());
    if (auto* due = o.if_contains("dueUs"); due && due->is_int64()) e->due_us = due->get_int64();
    e->first_seq = e->seq;
    if (auto* first = o.if_contains("firstSeq"); first && first->is_int64()) e->first_seq = first->get_int64();
  }
  e->frame() = std::move(frame);
  return e;
}

}  // namespace sg::proto
