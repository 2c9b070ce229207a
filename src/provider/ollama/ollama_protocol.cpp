// /api/chat streaming over the NDJSON parser.
#include "provider/ollama/ollama_protocol.hpp"

#include "provider/parse/ndjson_parser.hpp"

#include <boost/json.hpp>

namespace sg::provider::ollama {
namespace json = boost::json;

namespace {


class line_decoder final : public stream_decoder {
 public:
  explicit line_decoder(std::string label) : label_(std::move(label)) {}

  void feed(std::string_view bytes, decoded& out) override {
    items_.clear();
    parser_.feed(bytes, items_);
    handle(out);
  }
  void finish(decoded& out) override {
    items_.clear();
    parser_.finish(items_);
    handle(out);
    if (!out.error && !done_)
      out.error = upstream_failure(proto::error_code::upstream_unavailable,
                                   label_ + " closed the stream before the final line");
  }

 private:
  void handle(decoded& out) {
    for (auto& it : items_) {
      if (done_ || out.error) return;
      if (it.error || !it.value.is_object()) {
        out.error = upstream_failure(proto::error_code::upstream_error,
                                     label_ + " sent a line that is not a JSON object (line " + std::to_string(it.line) + ")");
        return;
      }
      auto& o = it.value.get_object();
      if (auto* e = o.if_contains("error")) {
        std::string msg = e->is_string() ? std::string(e->get_string()) : json::serialize(*e);
        out.error = upstream_failure(proto::error_code::upstream_error, label_ + " reported: " + msg);
        return;
      }
      if (auto* m = o.if_contains("message"); m && m->is_object())
        if (auto* c = m->get_object().if_contains("content"); c && c->is_string() && !c->get_string().empty())
          out.deltas.emplace_back(c->get_string());
      if (auto* d = o.if_contains("done"); d && d->is_bool() && d->get_bool()) {
        done_ = true;
        out.done = true;
        out.usage = {count_field(o, "prompt_eval_count"), count_field(o, "eval_count")};
      }
    }
  }

  std::string label_;
  ndjson_parser parser_;
  std::vector<ndjson_item> items_;
  bool done_ = false;
};

}  // namespace

std::string chat_body(const request& req, const std::string& model) {
  std::string out = "{";
  append_chat_model_and_messages(out, req, model);
  out += ",\"stream\":true}";
  return out;
}

std::string base_url_from_host(std::string host) {
  if (host.empty()) return "http://127.0.0.1:11434";
  std::string scheme = "http://";
  if (auto p = host.find("://"); p != std::string::npos) {
    scheme = host.substr(0, p + 3);
    host = host.substr(p + 3);
  }
  while (!host.empty() && host.back() == '/') host.pop_back();
  auto colon = host.rfind(':');
  bool has_port = colon != std::string::npos && host.find(']', colon) == std::string::npos;
  std::string name = has_port ? host.substr(0, colon) : host;
  std::string port = has_port ? host.substr(colon + 1) : (scheme == "https://" ? "443" : "11434");
  // A listening address is not an address to connect to.
  if (name == "0.0.0.0" || name.empty()) name = "127.0.0.1";
  return scheme + name + ":" + port;
}

std::unique_ptr<stream_decoder> make_decoder(std::string label) { return std::make_unique<line_decoder>(std::move(label)); }

ollama_protocol::ollama_protocol(provider_settings s) : base_url_protocol(std::move(s)) {}

httpc::request_spec ollama_protocol::build(const request& req, const std::string& model) const {
  auto spec = json_post(s_, base_, "/api/chat", "application/x-ndjson", "authorization", "Bearer ");
  spec.body = chat_body(req, model);
  return spec;
}

std::unique_ptr<stream_decoder> ollama_protocol::decoder(const std::string&) const { return make_decoder(s_.name); }

}  // namespace sg::provider::ollama
