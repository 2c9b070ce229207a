// Chat Completions: the request body, and SSE chunks to deltas with usage from the final chunk.
#include "provider/openai/openai_protocol.hpp"

#include "provider/json_event_decoder.hpp"

#include <boost/json.hpp>

namespace sg::provider::openai {
namespace json = boost::json;

namespace {

proto::error_code code_for(std::string_view type, std::string_view code) {
  auto has = [&](std::string_view needle) {
    return type.find(needle) != std::string_view::npos || code.find(needle) != std::string_view::npos;
  };
  if (has("rate_limit") || has("insufficient_quota")) return proto::error_code::upstream_rate_limited;
  if (has("timeout")) return proto::error_code::upstream_timeout;
  if (has("server_error") || has("overloaded") || has("unavailable")) return proto::error_code::upstream_unavailable;
  return proto::error_code::upstream_error;
}

std::string_view str_or(const json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key); v && v->is_string()) return v->get_string();
  return {};
}


class chunk_decoder final : public json_event_decoder {
 public:
  explicit chunk_decoder(std::string label) : json_event_decoder(std::move(label)) {}

  void finish(decoded& out) override {
    if (out.error || done_) return;
    // Some OpenAI-compatible servers end without [DONE]; a finish_reason already told us the answer is whole.
    if (finish_reason_seen_) {
      done_ = true;
      out.done = true;
      out.usage = usage_;
      return;
    }
    out.error = upstream_failure(proto::error_code::upstream_unavailable,
                                 label_ + " closed the stream before the answer was complete");
  }

 private:
  void on_data(std::string_view data, decoded& out) override {
    if (done_) return;
    if (data == "[DONE]") {
      done_ = true;
      out.done = true;
      out.usage = usage_;
      return;
    }
    if (data.empty()) return;
    json::value v = parse_object(data, out);
    if (!v.is_object()) return;
    auto& o = v.get_object();
    if (auto* e = o.if_contains("error"); e && !e->is_null()) {
      std::string msg = label_ + " reported an error";
      proto::error_code code = proto::error_code::upstream_error;
      if (e->is_object()) {
        auto& eo = e->get_object();
        if (auto m = str_or(eo, "message"); !m.empty()) msg += ": " + std::string(m);
        std::string c = eo.contains("code") && eo.at("code").is_string() ? std::string(eo.at("code").get_string()) : "";
        code = code_for(str_or(eo, "type"), c);
      } else if (e->is_string()) {
        msg += ": " + std::string(e->get_string());
      }
      out.error = upstream_failure(code, std::move(msg));
      return;
    }
    if (auto* u = o.if_contains("usage"); u && u->is_object()) {
      usage_.input_tokens = count_field(u->get_object(), "prompt_tokens");
      usage_.output_tokens = count_field(u->get_object(), "completion_tokens");
    }
    auto* choices = o.if_contains("choices");
    if (!choices || !choices->is_array()) return;
    for (auto& ch : choices->get_array()) {
      if (!ch.is_object()) continue;
      auto& co = ch.get_object();
      if (auto* idx = co.if_contains("index"); idx && idx->is_int64() && idx->get_int64() != 0) continue;
      if (auto* fr = co.if_contains("finish_reason"); fr && fr->is_string()) finish_reason_seen_ = true;
      auto* delta = co.if_contains("delta");
      if (!delta || !delta->is_object()) continue;
      // llama.cpp and others send "content": null next to role or tool deltas.
      if (auto* c = delta->get_object().if_contains("content"); c && c->is_string() && !c->get_string().empty())
        out.deltas.emplace_back(c->get_string());
    }
  }

  proto::usage usage_;
  bool done_ = false;
  bool finish_reason_seen_ = false;
};

}  // namespace

std::string chat_body(const request& req, const std::string& model) {
  json::array messages;
  if (auto sys = system_prompt_of(req); !sys.empty()) messages.push_back(json::object{{"role", "system"}, {"content", sys}});
  for (auto& t : turns_of(req, false)) messages.push_back(json::object{{"role", t.role}, {"content", t.content}});
  json::object body{{"model", model},
                    {"messages", std::move(messages)},
                    {"stream", true},
                    {"stream_options", json::object{{"include_usage", true}}}};
  return json::serialize(body);
}

std::unique_ptr<stream_decoder> make_decoder(std::string label) { return std::make_unique<chunk_decoder>(std::move(label)); }

openai_protocol::openai_protocol(provider_settings s) : base_url_protocol(std::move(s)) {}

httpc::request_spec openai_protocol::build(const request& req, const std::string& model) const {
  auto spec = json_post(s_, base_, "/chat/completions", "text/event-stream", "authorization", "Bearer ");
  spec.body = chat_body(req, model);
  return spec;
}

std::unique_ptr<stream_decoder> openai_protocol::decoder(const std::string&) const { return make_decoder(s_.name); }

}  // namespace sg::provider::openai
