// Status mapping and conversation shaping shared by every wire format.
#include "provider/protocol.hpp"

#include "core/json_text.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <stdexcept>

namespace sg::provider {

proto::error_info protocol::http_error(unsigned status, const httpc::response_head& head, std::string_view body) const {
  return error_for_status(label(), status, head, body);
}

std::string system_prompt_of(const request& req) {
  // Any system message in the history, even an empty one, replaces the default instruction.
  bool replaced = false;
  std::string system;
  auto add = [&](const std::string& part) {
    if (part.empty()) return;
    if (!system.empty()) system += "\n";
    system += part;
  };
  for (auto& m : req.history) {
    if (m.role != "system") continue;
    replaced = true;
    add(m.content);
  }
  if (!replaced) return req.system_prompt;
  for (auto& c : req.cards) add("[" + c.kind + "] " + c.content);
  return system;
}

std::vector<turn> turns_of(const request& req, bool merge) {
  std::vector<turn> out;
  auto add = [&](const std::string& role, const std::string& content) {
    if (merge && !out.empty() && out.back().role == role) {
      out.back().content += "\n\n" + content;
      return;
    }
    out.push_back({role, content});
  };
  for (auto& m : req.history)
    if (m.role == "user" || m.role == "assistant") add(m.role, m.content);
  add("user", req.user_input);
  return out;
}

void append_chat_model_and_messages(std::string& out, const request& req, std::string_view model) {
  auto system = system_prompt_of(req);
  auto turns = turns_of(req, false);
  std::size_t bytes = model.size() + system.size() + 64;
  for (auto& t : turns) bytes += t.role.size() + t.content.size() + 32;
  out.reserve(out.size() + bytes);
  out += "\"model\":";
  core::append_json_string(out, model);
  out += ",\"messages\":[";
  bool first = true;
  auto message = [&](std::string_view role, std::string_view content) {
    if (!first) out += ',';
    first = false;
    out += "{\"role\":";
    core::append_json_string(out, role);
    out += ",\"content\":";
    core::append_json_string(out, content);
    out += '}';
  };
  if (!system.empty()) message("system", system);
  for (auto& t : turns) message(t.role, t.content);
  out += ']';
}

std::optional<std::int64_t> retry_after_ms(const httpc::response_head& head) {
  auto parse = [](std::string_view v) -> std::optional<double> {
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    if (v.empty()) return std::nullopt;
    double d = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc{} || p != v.data() + v.size() || d < 0) return std::nullopt;
    return d;
  };
  if (auto it = head.find("retry-after-ms"); it != head.end())
    if (auto d = parse(it->value())) return static_cast<std::int64_t>(*d);
  if (auto it = head.find(http::field::retry_after); it != head.end())
    if (auto d = parse(it->value())) return static_cast<std::int64_t>(*d * 1000);
  return std::nullopt;
}

std::string error_message_in(std::string_view body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) {
    auto& o = v.get_object();
    if (auto* e = o.if_contains("error")) {
      if (e->is_string()) return std::string(e->get_string());
      if (e->is_object())
        if (auto* m = e->get_object().if_contains("message"); m && m->is_string()) return std::string(m->get_string());
    }
    for (auto key : {"message", "Message"})
      if (auto* m = o.if_contains(key); m && m->is_string()) return std::string(m->get_string());
  }
  std::string text(body.substr(0, 300));
  for (auto& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

proto::error_info error_for_status(std::string_view provider, unsigned status, const httpc::response_head& head,
                                   std::string_view body) {
  proto::error_code code;
  if (status == 429) code = proto::error_code::upstream_rate_limited;
  else if (status == 408 || status == 504) code = proto::error_code::upstream_timeout;
  else if (status >= 500) code = proto::error_code::upstream_unavailable;  // 500, 502, 503, 529 (overloaded)
  else code = proto::error_code::upstream_error;
  auto detail = error_message_in(body);
  proto::error_info e;
  e.code = code;
  e.retryable = proto::default_retryable(code);
  e.message = std::string(provider) + " answered HTTP " + std::to_string(status) + (detail.empty() ? "" : ": " + detail);
  if (code == proto::error_code::upstream_rate_limited) e.retry_after_ms = retry_after_ms(head);
  return e;
}

std::string client_message(proto::error_code code) {
  switch (code) {
    case proto::error_code::upstream_rate_limited: return "the model provider is limiting requests; retry later";
    case proto::error_code::upstream_timeout: return "the model provider did not answer in time";
    case proto::error_code::upstream_unavailable: return "the model provider could not be reached or failed mid-answer";
    case proto::error_code::upstream_error: return "the model provider refused or failed the request";
    default: return "the model provider failed";
  }
}

proto::error_info upstream_failure(proto::error_code code, std::string message) {
  return proto::error_info{code, std::move(message), proto::default_retryable(code), {}, {}};
}

std::uint64_t count_field(const boost::json::object& o, std::string_view key, std::uint64_t otherwise) {
  if (auto* v = o.if_contains(key)) {
    if (v->is_uint64()) return v->get_uint64();
    if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  }
  return otherwise;
}

httpc::request_spec json_post(const provider_settings& s, const httpc::url& base, std::string_view path,
                              std::string_view accept, std::string_view auth_header, std::string_view value_prefix) {
  httpc::request_spec spec;
  spec.method = http::verb::post;
  spec.origin = base;
  spec.target = base.path + std::string(path);
  spec.headers = {{"content-type", "application/json"}, {"accept", std::string(accept)}};
  if (!s.api_key.empty()) spec.headers.emplace_back(std::string(auth_header), std::string(value_prefix) + s.api_key);
  spec.limits = s.limits;
  return spec;
}

httpc::url parse_base_url(const provider_settings& s) {
  auto u = httpc::parse_url(s.base_url);
  if (!u) throw std::invalid_argument("provider " + s.name + ": base_url '" + s.base_url + "' is not an http(s) URL");
  return *u;
}

}  // namespace sg::provider
