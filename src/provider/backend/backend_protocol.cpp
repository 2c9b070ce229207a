// The streaming backend's contract: the request body out, SSE or NDJSON events in, mapped to deltas.
#include "provider/backend/backend_protocol.hpp"

#include "core/text.hpp"
#include "provider/parse/ndjson_parser.hpp"
#include "provider/parse/sse_parser.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cmath>

namespace sg::provider::backend {
namespace json = boost::json;

namespace {

constexpr std::size_t max_step_bytes = 512;
constexpr std::size_t max_message_bytes = 1024;

bool is_ndjson_content_type(std::string_view ct) {
  auto media = core::ascii_lower(ct.substr(0, ct.find(';')));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  return media == "application/x-ndjson" || media == "application/ndjson" || media == "application/jsonl" ||
         media == "application/x-jsonlines" || media == "application/jsonlines";
}

std::string cut(std::string_view s, std::size_t n) {
  if (s.size() <= n) return std::string(s);
  // Never split a UTF-8 sequence: back up to the start of the character at the cut.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

class event_decoder final : public stream_decoder {
 public:
  explicit event_decoder(std::string label)
      : label_(std::move(label)), sse_([this](const sse_event& ev) { on_sse(ev); }) {}

  std::optional<proto::error_info> on_head(const httpc::response_head& head) override {
    auto ct = head[http::field::content_type];
    if (is_event_stream_content_type(ct)) format_ = format::sse;
    else if (is_ndjson_content_type(ct)) format_ = format::ndjson;
    else
      return upstream_failure(proto::error_code::upstream_error,
                              label_ + " answered with Content-Type '" + std::string(ct.substr(0, 100)) +
                                  "'; expected text/event-stream or application/x-ndjson");
    return std::nullopt;
  }

  void feed(std::string_view bytes, decoded& out) override {
    if (out.error || failed_) return;
    out_ = &out;
    if (format_ == format::sse) {
      if (auto ec = sse_.feed(bytes); ec) garbage(label_ + " sent a malformed event stream: " + ec.message());
    } else if (format_ == format::ndjson) {
      items_.clear();
      lines_.feed(bytes, items_);
      lines();
    } else {
      garbage(label_ + "'s response has no content type to read it by");
    }
    out_ = nullptr;
  }

  void finish(decoded& out) override {
    if (out.error || failed_) return;
    out_ = &out;
    if (format_ == format::ndjson) {
      items_.clear();
      lines_.finish(items_);
      lines();
    }
    // An SSE event without its final blank line is dropped, as EventSource does.
    out_ = nullptr;
    if (out.error || failed_) return;
    out.done = true;  // the end of the body ends the stream
    out.usage = usage_;
  }

 private:
  enum class format { unknown, sse, ndjson };

  void on_sse(const sse_event& ev) {
    if (ev.data.empty()) return;  // a keep-alive event with no data
    event(ev.data);
  }

  void lines() {
    for (auto& it : items_) {
      if (out_->error || failed_) return;
      if (it.error || !it.value.is_object()) {
        garbage(label_ + " sent a line that is not a JSON object (line " + std::to_string(it.line) + ")");
        return;
      }
      handle(it.value.get_object());
    }
  }

  void event(std::string_view text) {
    if (out_->error || failed_) return;
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) {
      garbage(label_ + " sent an event that is not a JSON object");
      return;
    }
    handle(v.get_object());
  }

  void handle(const json::object& o) {
    auto& out = *out_;
    auto* t = o.if_contains("type");
    if (!t || !t->is_string()) {
      garbage(label_ + " sent an event without a string \"type\"");
      return;
    }
    auto str = [&](std::string_view key) -> std::string_view {
      if (auto* v = o.if_contains(key); v && v->is_string()) return v->get_string();
      return {};
    };
    std::string_view type = t->get_string();
    if (type == "delta") {
      auto* c = o.if_contains("content");
      if (!c || !c->is_string()) {
        garbage(label_ + " sent a delta without a string \"content\"");
        return;
      }
      if (!c->get_string().empty()) out.deltas.emplace_back(c->get_string());
    } else if (type == "progress") {
      auto stage = str("stage");
      static constexpr std::string_view stages[] = {"initializing", "analyzing", "generating", "finalizing"};
      if (std::find(std::begin(stages), std::end(stages), stage) == std::end(stages)) return;  // not a stage clients know
      double pct = 0;
      if (auto* p = o.if_contains("progress"); p && p->is_number()) {
        boost::system::error_code nec;
        pct = p->to_number<double>(nec);
        if (nec || !std::isfinite(pct)) pct = 0;
      }
      out.progress.push_back({std::string(stage), cut(str("step"), max_step_bytes),
                              static_cast<int>(std::clamp(pct, 0.0, 100.0)), out.deltas.size()});
    } else if (type == "usage") {
      usage_.input_tokens = count_field(o, "inputTokens", usage_.input_tokens);
      usage_.output_tokens = count_field(o, "outputTokens", usage_.output_tokens);
    } else if (type == "error") {
      auto code = proto::code_named(str("code")).value_or(proto::error_code::upstream_error);
      proto::error_info e;
      e.code = code;
      e.message = cut(str("message"), max_message_bytes);
      if (e.message.empty()) e.message = client_message(code);
      e.retryable = proto::default_retryable(code);
      if (auto* r = o.if_contains("retryable"); r && r->is_bool()) e.retryable = r->get_bool();
      out.error = std::move(e);
      out.client_message = true;
      failed_ = true;  // terminal: nothing after it counts, and the end of the body completes nothing
    }
    // Any other type is ignored, so a backend may send more than this version reads.
  }

  void garbage(std::string message) {
    failed_ = true;
    if (out_ && !out_->error) out_->error = upstream_failure(proto::error_code::upstream_error, std::move(message));
  }

  std::string label_;
  format format_ = format::unknown;
  sse_parser sse_;
  ndjson_parser lines_;
  std::vector<ndjson_item> items_;
  proto::usage usage_;
  decoded* out_ = nullptr;
  bool failed_ = false;  // an error ended the stream (garbage or an error event)
};

}  // namespace

std::string substitute_env(std::string_view text, const std::map<std::string, std::string>& env,
                           const std::string& where) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    auto end = text.find('}', i + 2);
    if (end == std::string_view::npos) throw std::invalid_argument("config: " + where + ": '${' without a closing '}'");
    std::string name(text.substr(i + 2, end - i - 2));
    auto it = env.find(name);
    if (name.empty() || it == env.end())
      throw std::invalid_argument("config: " + where + " uses ${" + name + "}, which is not set in the environment");
    out += it->second;
    i = end + 1;
  }
  return out;
}

std::string request_body(const request& req, const std::string& model) {
  json::array history;
  for (auto& m : req.history) history.push_back(json::object{{"role", m.role}, {"content", m.content}});
  json::array cards;
  for (auto& c : req.cards) cards.push_back(json::object{{"kind", c.kind}, {"content", c.content}});
  json::object o{{"streamId", req.stream_id},
                 {"requestId", req.request_id},
                 {"projectId", req.project_id},
                 {"userInput", req.user_input},
                 {"chatHistory", std::move(history)},
                 {"cards", std::move(cards)},
                 {"sub", req.sub},
                 {"connectionId", req.connection_id}};
  if (!model.empty()) o["model"] = model;
  if (!req.context_json.empty()) {
    boost::system::error_code ec;
    auto ctx = json::parse(req.context_json, ec);
    if (!ec) o["context"] = std::move(ctx);
  }
  return json::serialize(o);
}

std::unique_ptr<stream_decoder> make_decoder(std::string label) { return std::make_unique<event_decoder>(std::move(label)); }

backend_protocol::backend_protocol(provider_settings s) : configured_protocol(std::move(s)) {
  auto u = httpc::parse_url(s_.base_url);
  if (!u) throw std::invalid_argument("provider " + s_.name + ": url '" + s_.base_url + "' is not an http(s) URL");
  url_ = *u;
  // The URL is called as written: its exact path (a trailing slash kept) and its query.
  auto full = boost::urls::parse_absolute_uri(s_.base_url);
  target_ = full->encoded_path().empty() ? "/" : std::string(full->encoded_path());
  if (full->has_query()) target_ += "?" + std::string(full->encoded_query());
}

httpc::request_spec backend_protocol::build(const request& req, const std::string& model) const {
  httpc::request_spec spec;
  spec.method = http::verb::post;
  spec.origin = url_;
  spec.target = target_;
  spec.headers = {{"content-type", "application/json"}, {"accept", "text/event-stream, application/x-ndjson"}};
  for (auto& h : s_.headers) spec.headers.push_back(h);
  spec.body = request_body(req, model);
  spec.limits = s_.limits;
  return spec;
}

std::unique_ptr<stream_decoder> backend_protocol::decoder(const std::string&) const { return make_decoder(s_.name); }

}  // namespace sg::provider::backend
