// Bedrock's event-stream frames into deltas; exceptions into error codes; requests signed per attempt.
#include "provider/bedrock/bedrock_protocol.hpp"
#include "core/base64.hpp"

#include "provider/anthropic/anthropic_protocol.hpp"
#include "provider/aws/event_stream.hpp"

#include <boost/json.hpp>

namespace sg::provider::bedrock {
namespace json = boost::json;

namespace {


// Frame handling common to both APIs: CRC errors, exception and error frames.
class frame_decoder : public stream_decoder {
 public:
  explicit frame_decoder(std::string label) : label_(std::move(label)) {}

  void feed(std::string_view bytes, decoded& out) override {
    if (out.error || finished_) return;
    frames_.clear();
    auto ec = dec_.feed(bytes, frames_);
    for (auto& f : frames_) {
      if (out.error || finished_) return;
      on_frame(f, out);
    }
    if (ec && !out.error && !finished_)
      out.error = upstream_failure(proto::error_code::upstream_error,
                                   label_ + " sent a corrupt event stream: " + ec.message());
  }

  void finish(decoded& out) override {
    if (out.error || finished_) return;
    if (stream_complete()) {
      finished_ = true;
      out.done = true;
      out.usage = final_usage();
      return;
    }
    out.error = upstream_failure(proto::error_code::upstream_unavailable,
                                 label_ + " closed the stream before the answer was complete");
  }

 protected:
  virtual void on_event(std::string_view type, const json::object& payload, decoded& out) = 0;
  virtual bool stream_complete() const = 0;
  virtual proto::usage final_usage() const = 0;
  void complete(decoded& out) {
    finished_ = true;
    out.done = true;
    out.usage = final_usage();
  }
  void fail(decoded& out, proto::error_code code, std::string msg) { out.error = upstream_failure(code, label_ + msg); }

  std::string label_;

 private:
  void on_frame(const aws::event_stream_message& m, decoded& out) {
    switch (aws::message_type_of(m)) {
      case aws::message_type::event: {
        boost::system::error_code ec;
        auto v = json::parse(m.payload, ec);
        if (ec || !v.is_object()) return fail(out, proto::error_code::upstream_error, " sent an event that is not JSON");
        on_event(aws::event_type_of(m).value_or(""), v.get_object(), out);
        return;
      }
      case aws::message_type::exception: {
        auto type = aws::exception_type_of(m).value_or("exception");
        return fail(out, code_for_exception(type), " reported " + std::string(type) + ": " + error_message_in(m.payload));
      }
      case aws::message_type::error: {
        auto code = aws::error_code_of(m).value_or("error");
        auto msg = aws::error_message_of(m).value_or("");
        return fail(out, proto::error_code::upstream_error,
                    " reported " + std::string(code) + (msg.empty() ? "" : ": " + std::string(msg)));
      }
      case aws::message_type::unknown: return;
    }
  }

  aws::event_stream_decoder dec_;
  std::vector<aws::event_stream_message> frames_;
  bool finished_ = false;
};

class invoke_decoder final : public frame_decoder {
 public:
  explicit invoke_decoder(std::string label) : frame_decoder(label), state_(std::move(label)) {}

 private:
  void on_event(std::string_view type, const json::object& payload, decoded& out) override {
    if (type != "chunk") return;
    auto* b = payload.if_contains("bytes");
    if (!b || !b->is_string()) return fail(out, proto::error_code::upstream_error, " sent a chunk without bytes");
    auto raw = core::base64_decode(b->get_string());
    boost::system::error_code ec;
    json::value ev;
    if (raw) ev = json::parse(*raw, ec);
    if (!raw || ec || !ev.is_object())
      return fail(out, proto::error_code::upstream_error, " sent a chunk whose bytes are not an Anthropic event");
    state_.on_event(ev.get_object(), out);
    if (out.done) {
      out.done = false;  // reported once, through complete()
      complete(out);
    }
  }
  bool stream_complete() const override { return state_.done(); }
  proto::usage final_usage() const override { return state_.usage(); }

  anthropic::event_state state_;
};

class converse_decoder final : public frame_decoder {
 public:
  using frame_decoder::frame_decoder;

 private:
  void on_event(std::string_view type, const json::object& payload, decoded& out) override {
    if (type == "contentBlockDelta") {
      auto* d = payload.if_contains("delta");
      if (!d || !d->is_object()) return;
      if (auto* t = d->get_object().if_contains("text"); t && t->is_string() && !t->get_string().empty())
        out.deltas.emplace_back(t->get_string());
    } else if (type == "messageStop") {
      stopped_ = true;
    } else if (type == "metadata") {
      if (auto* u = payload.if_contains("usage"); u && u->is_object()) {
        usage_.input_tokens = count_field(u->get_object(), "inputTokens");
        usage_.output_tokens = count_field(u->get_object(), "outputTokens");
      }
      complete(out);  // metadata is the last event of a ConverseStream
    }
  }
  bool stream_complete() const override { return stopped_; }
  proto::usage final_usage() const override { return usage_; }

  proto::usage usage_;
  bool stopped_ = false;
};

}  // namespace

proto::error_code code_for_exception(std::string_view type) {
  auto colon = type.find(':');
  if (colon != std::string_view::npos) type = type.substr(0, colon);
  std::string t(type);
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "throttlingexception" || t == "toomanyrequestsexception") return proto::error_code::upstream_rate_limited;
  if (t == "modeltimeoutexception") return proto::error_code::upstream_timeout;
  if (t == "serviceunavailableexception" || t == "internalserverexception" || t == "modelnotreadyexception")
    return proto::error_code::upstream_unavailable;
  return proto::error_code::upstream_error;  // validation, access denied, not found, modelStreamError
}

std::string converse_body(const request& req, std::uint32_t max_tokens) {
  json::array messages;
  for (auto& t : turns_of(req, true))
    messages.push_back(json::object{{"role", t.role}, {"content", json::array{json::object{{"text", t.content}}}}});
  json::object body{{"messages", std::move(messages)}};
  if (auto sys = system_prompt_of(req); !sys.empty()) body["system"] = json::array{json::object{{"text", sys}}};
  body["inferenceConfig"] = json::object{{"maxTokens", max_tokens}};
  return json::serialize(body);
}

std::unique_ptr<stream_decoder> make_invoke_decoder(std::string label) {
  return std::make_unique<invoke_decoder>(std::move(label));
}
std::unique_ptr<stream_decoder> make_converse_decoder(std::string label) {
  return std::make_unique<converse_decoder>(std::move(label));
}

bedrock_protocol::bedrock_protocol(provider_settings s, clock_fn now)
    : configured_protocol(std::move(s)), now_(std::move(now)) {
  if (s_.region.empty()) throw std::invalid_argument("provider " + s_.name + ": no region (set region or AWS_REGION)");
  if (s_.base_url.empty()) s_.base_url = "https://bedrock-runtime." + s_.region + ".amazonaws.com";
  auto u = httpc::parse_url(s_.base_url);
  if (!u) throw std::invalid_argument("provider " + s_.name + ": endpoint '" + s_.base_url + "' is not an http(s) URL");
  base_ = *u;
  creds_ = {s_.access_key_id, s_.secret_access_key, s_.session_token};
  if (!now_) now_ = [] { return std::chrono::system_clock::now(); };
  if (s_.bedrock_api != "auto" && s_.bedrock_api != "invoke" && s_.bedrock_api != "converse")
    throw std::invalid_argument("provider " + s_.name + ": api must be auto, invoke or converse");
}

api bedrock_protocol::api_for(std::string_view model) const {
  if (s_.bedrock_api == "invoke") return api::invoke;
  if (s_.bedrock_api == "converse") return api::converse;
  // Anthropic models, also behind a cross-region inference profile ("us.anthropic.claude-…").
  return model.find("anthropic.claude") != std::string_view::npos ? api::invoke : api::converse;
}

httpc::request_spec bedrock_protocol::build(const request& req, const std::string& model) const {
  httpc::request_spec spec;
  spec.method = http::verb::post;
  spec.origin = base_;
  bool invoke = api_for(model) == api::invoke;
  spec.target = base_.path + "/model/" + aws::uri_encode(model) + (invoke ? "/invoke-with-response-stream" : "/converse-stream");
  spec.body = invoke ? anthropic::messages_body(req, model, s_.max_tokens, "bedrock-2023-05-31")
                     : converse_body(req, s_.max_tokens);
  spec.headers = {{"host", base_.authority()}, {"content-type", "application/json"}};
  if (invoke) spec.headers.emplace_back("accept", "application/vnd.amazon.eventstream");
  aws::sigv4_request sr;
  sr.method = "POST";
  sr.path = spec.target;
  sr.headers = spec.headers;
  sr.body = spec.body;
  aws::sigv4_options so;
  so.region = s_.region;
  so.service = "bedrock";
  so.time = now_();
  auto signed_req = aws::sign_request(sr, creds_, so);
  spec.headers.erase(spec.headers.begin());  // the client sets Host itself
  for (auto& h : signed_req.headers_to_add) spec.headers.push_back(h);
  spec.limits = s_.limits;
  return spec;
}

std::unique_ptr<stream_decoder> bedrock_protocol::decoder(const std::string& model) const {
  return api_for(model) == api::invoke ? make_invoke_decoder(s_.name) : make_converse_decoder(s_.name);
}

proto::error_info bedrock_protocol::http_error(unsigned status, const httpc::response_head& head,
                                               std::string_view body) const {
  auto e = error_for_status(s_.name, status, head, body);
  if (auto it = head.find("x-amzn-ErrorType"); it != head.end()) {
    auto type = std::string(it->value());
    auto code = code_for_exception(type);
    if (code != proto::error_code::upstream_error || status < 500) {
      e.code = code;
      e.retryable = proto::default_retryable(code);
    }
    e.message = s_.name + " answered HTTP " + std::to_string(status) + " " + type.substr(0, type.find(':')) + ": " +
                error_message_in(body);
  }
  return e;
}

}  // namespace sg::provider::bedrock
