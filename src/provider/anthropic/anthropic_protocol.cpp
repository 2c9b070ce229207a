// Messages API: message_start / content_block_delta / message_delta / message_stop, ping and error events.
#include "provider/anthropic/anthropic_protocol.hpp"

#include "provider/json_event_decoder.hpp"

#include <boost/json.hpp>

namespace sg::provider::anthropic {
namespace json = boost::json;

namespace {


class sse_decoder final : public json_event_decoder {
 public:
  explicit sse_decoder(std::string label) : json_event_decoder(label), state_(std::move(label)) {}

  void finish(decoded& out) override {
    if (out.error || state_.done()) return;
    out.error = upstream_failure(proto::error_code::upstream_unavailable,
                                 label_ + " closed the stream before message_stop");
  }

 private:
  void on_data(std::string_view data, decoded& out) override {
    if (state_.done() || data.empty()) return;
    json::value v = parse_object(data, out);
    if (!v.is_object()) return;
    state_.on_event(v.get_object(), out);
  }

  event_state state_;
};

}  // namespace

proto::error_code code_for_error_type(std::string_view type) {
  if (type == "rate_limit_error") return proto::error_code::upstream_rate_limited;
  if (type == "overloaded_error" || type == "api_error") return proto::error_code::upstream_unavailable;
  if (type == "timeout_error") return proto::error_code::upstream_timeout;
  return proto::error_code::upstream_error;
}

void event_state::on_event(const json::object& ev, decoded& out) {
  if (done_ || out.error) return;
  auto* t = ev.if_contains("type");
  if (!t || !t->is_string()) return;
  auto type = t->get_string();
  if (type == "content_block_delta") {
    auto* d = ev.if_contains("delta");
    if (!d || !d->is_object()) return;
    auto& delta = d->get_object();
    if (auto* dt = delta.if_contains("type"); !dt || *dt != "text_delta") return;  // thinking, tool input: not text
    if (auto* text = delta.if_contains("text"); text && text->is_string() && !text->get_string().empty())
      out.deltas.emplace_back(text->get_string());
  } else if (type == "message_start") {
    if (auto* m = ev.if_contains("message"); m && m->is_object())
      if (auto* u = m->get_object().if_contains("usage"); u && u->is_object()) {
        usage_.input_tokens = count_field(u->get_object(), "input_tokens", usage_.input_tokens);
        usage_.output_tokens = count_field(u->get_object(), "output_tokens", usage_.output_tokens);
      }
  } else if (type == "message_delta") {
    // Usage here is cumulative: it replaces, never adds.
    if (auto* u = ev.if_contains("usage"); u && u->is_object()) {
      usage_.input_tokens = count_field(u->get_object(), "input_tokens", usage_.input_tokens);
      usage_.output_tokens = count_field(u->get_object(), "output_tokens", usage_.output_tokens);
    }
  } else if (type == "message_stop") {
    if (auto* m = ev.if_contains("amazon-bedrock-invocationMetrics"); m && m->is_object())
      fallback_usage({count_field(m->get_object(), "inputTokenCount", 0), count_field(m->get_object(), "outputTokenCount", 0)});
    done_ = true;
    out.done = true;
    out.usage = usage_;
  } else if (type == "error") {
    std::string etype, msg;
    if (auto* e = ev.if_contains("error"); e && e->is_object()) {
      auto& eo = e->get_object();
      if (auto* x = eo.if_contains("type"); x && x->is_string()) etype = x->get_string();
      if (auto* x = eo.if_contains("message"); x && x->is_string()) msg = x->get_string();
    }
    out.error = upstream_failure(code_for_error_type(etype),
                                 label_ + " reported " + (etype.empty() ? "an error" : etype) + (msg.empty() ? "" : ": " + msg));
  }
}

void event_state::fallback_usage(const proto::usage& u) {
  if (usage_.input_tokens == 0) usage_.input_tokens = u.input_tokens;
  if (usage_.output_tokens == 0) usage_.output_tokens = u.output_tokens;
}

std::string messages_body(const request& req, const std::string& model, std::uint32_t max_tokens,
                          std::string_view bedrock_version) {
  json::array messages;
  for (auto& t : turns_of(req, true)) messages.push_back(json::object{{"role", t.role}, {"content", t.content}});
  json::object body;
  if (bedrock_version.empty()) body["model"] = model;
  else body["anthropic_version"] = bedrock_version;
  body["max_tokens"] = max_tokens;
  if (auto sys = system_prompt_of(req); !sys.empty()) body["system"] = sys;
  body["messages"] = std::move(messages);
  if (bedrock_version.empty()) body["stream"] = true;
  return json::serialize(body);
}

std::unique_ptr<stream_decoder> make_decoder(std::string label) { return std::make_unique<sse_decoder>(std::move(label)); }

anthropic_protocol::anthropic_protocol(provider_settings s) : base_url_protocol(std::move(s)) {}

httpc::request_spec anthropic_protocol::build(const request& req, const std::string& model) const {
  auto spec = json_post(s_, base_, "/v1/messages", "text/event-stream", "x-api-key", "");
  spec.headers.emplace_back("anthropic-version", "2023-06-01");
  spec.body = messages_body(req, model, s_.max_tokens);
  return spec;
}

std::unique_ptr<stream_decoder> anthropic_protocol::decoder(const std::string&) const { return make_decoder(s_.name); }

proto::error_info anthropic_protocol::http_error(unsigned status, const httpc::response_head& head,
                                                 std::string_view body) const {
  auto e = error_for_status(s_.name, status, head, body);
  if (status == 529) e.code = proto::error_code::upstream_unavailable;  // overloaded
  return e;
}

}  // namespace sg::provider::anthropic
