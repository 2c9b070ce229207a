// chat.completion.chunk framing of stream events, and the non-streamed answer collected from the same events.
#include "gateway/openai_api.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/json_text.hpp"
#include "provider/provider_config.hpp"
#include "stream/stream_manager.hpp"

#include <boost/json.hpp>

namespace sg::gateway::openai_api {
namespace json = boost::json;

namespace {

const char* type_of(proto::error_code c) {
  switch (c) {
    case proto::error_code::bad_request:
    case proto::error_code::not_found:
    case proto::error_code::payload_too_large: return "invalid_request_error";
    case proto::error_code::unauthorized: return "authentication_error";
    case proto::error_code::forbidden: return "permission_error";
    case proto::error_code::rate_limited:
    case proto::error_code::too_many_streams:
    case proto::error_code::upstream_rate_limited: return "rate_limit_error";
    default: return "server_error";
  }
}

std::string text_of(const json::value& content) {
  if (content.is_string()) return std::string(content.get_string());
  std::string out;
  if (content.is_array())
    for (auto& part : content.get_array())
      if (part.is_object())
        if (auto* t = part.get_object().if_contains("text"); t && t->is_string()) out += t->get_string();
  return out;
}

proto::error_info bad(std::string message, std::string param = {}) {
  return {proto::error_code::bad_request, std::move(message), false, {}, std::move(param)};
}

json::object usage_json(const json::value& usage) {
  std::uint64_t in = 0, out = 0;
  if (usage.is_object()) {
    auto& u = usage.get_object();
    if (auto* v = u.if_contains("inputTokens")) in = v->to_number<std::uint64_t>();
    if (auto* v = u.if_contains("outputTokens")) out = v->to_number<std::uint64_t>();
  }
  return {{"prompt_tokens", in}, {"completion_tokens", out}, {"total_tokens", in + out}};
}

proto::error_info error_of(const json::object& ev) {
  proto::error_info e;
  e.code = proto::error_code::internal;
  auto code = ev.contains("code") ? std::string(ev.at("code").as_string()) : "internal";
  e.code = proto::code_named(code).value_or(proto::error_code::internal);
  if (auto* m = ev.if_contains("message"); m && m->is_string()) e.message = m->get_string();
  if (auto* r = ev.if_contains("retryable"); r && r->is_bool()) e.retryable = r->get_bool();
  return e;
}

response openai_json(const request& req, unsigned status, std::string body) {
  return json_response(req, static_cast<http::status>(status), std::move(body));
}

// Collects a stream's events into one chat.completion answer. Kept alive by itself until the end.
class collector final : public stream::subscriber, public std::enable_shared_from_this<collector> {
 public:
  collector(request req, std::string id, std::string model, std::int64_t created, net::any_io_executor ex,
            responder respond)
      : req_(std::move(req)), id_(std::move(id)), model_(std::move(model)), created_(created), ex_(std::move(ex)),
        respond_(std::move(respond)) {}

  void start(const std::shared_ptr<stream::stream>& s) {
    self_ = shared_from_this();
    s->subscribe(self_, 0);
  }

  // With the stream's lock held: only copy and post.
  void deliver(proto::event_ptr ev) override {
    if (done_) return;
    if (ev->type == proto::event_type::stream_chunk) text_ += ev->content;
    if (!ev->terminal()) return;
    done_ = true;
    // The last reference travels with the answer, so this object dies on the session's strand.
    net::post(ex_, [self = std::move(self_), ev] { self->answer(*ev); });
  }

 private:
  void answer(const proto::event& ev) {
    auto o = json::parse(ev.json()).as_object();
    if (ev.type == proto::event_type::stream_complete) {
      json::object body{
          {"id", id_},
          {"object", "chat.completion"},
          {"created", created_},
          {"model", model_},
          {"choices", json::array{json::object{
                          {"index", 0},
                          {"message", json::object{{"role", "assistant"}, {"content", text_}, {"refusal", nullptr}}},
                          {"logprobs", nullptr},
                          {"finish_reason", "stop"}}}},
          {"usage", usage_json(o.contains("usage") ? o.at("usage") : json::value())},
          {"system_fingerprint", nullptr}};
      respond_(openai_json(req_, 200, json::serialize(body)));
      return;
    }
    proto::error_info e = ev.type == proto::event_type::error
                              ? error_of(o)
                              : proto::error_info{proto::error_code::interrupted, "the completion was cancelled", true, {}, {}};
    respond_(openai_json(req_, proto::http_status(e.code), openai_error_body(e)));
  }

  request req_;
  std::string id_, model_;
  std::int64_t created_;
  net::any_io_executor ex_;
  responder respond_;
  std::shared_ptr<collector> self_;
  std::string text_;
  bool done_ = false;
};

}  // namespace

bool handles(const target& t) {
  return t.path == "/v1/chat/completions" ||
         (t.segments.size() >= 2 && t.segments[0] == "v1" && t.segments[1] == "models");
}

std::string openai_error_body(const proto::error_info& e) {
  json::object err{{"message", e.message},
                   {"type", type_of(e.code)},
                   {"param", e.field.empty() ? json::value(nullptr) : json::value(e.field)},
                   {"code", proto::to_string(e.code)}};
  return json::serialize(json::object{{"error", std::move(err)}});
}

result<chat_request, proto::error_info> parse_chat_request(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return bad("We could not parse the JSON body of your request.");
  auto& o = v.get_object();
  chat_request out;
  auto* model = o.if_contains("model");
  if (!model || !model->is_string()) return bad("you must provide a model parameter", "model");
  out.model = model->get_string();
  if (auto* s = o.if_contains("stream"); s && !s->is_null()) {
    if (!s->is_bool()) return bad("'stream' must be a boolean", "stream");
    out.stream_mode = s->get_bool();
  }
  if (auto* so = o.if_contains("stream_options"); so && so->is_object())
    if (auto* iu = so->get_object().if_contains("include_usage"); iu && iu->is_bool()) out.include_usage = iu->get_bool();
  auto* msgs = o.if_contains("messages");
  if (!msgs || !msgs->is_array() || msgs->get_array().empty())
    return bad("'messages' must be a non-empty array", "messages");
  std::vector<proto::chat_message> all;
  for (auto& m : msgs->get_array()) {
    if (!m.is_object() || !m.get_object().contains("role") || !m.get_object().at("role").is_string())
      return bad("each message needs a role", "messages");
    std::string role(m.get_object().at("role").get_string());
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant") continue;  // tool turns have no text to stream
    all.push_back({role, m.get_object().contains("content") ? text_of(m.get_object().at("content")) : ""});
  }
  auto last_user = std::find_if(all.rbegin(), all.rend(), [](auto& m) { return m.role == "user"; });
  if (last_user == all.rend()) return bad("'messages' must contain a user message", "messages");
  auto idx = static_cast<std::size_t>(std::distance(all.begin(), last_user.base()) - 1);
  out.stream.user_input = all[idx].content;
  out.stream.history.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(idx));
  // A system message (even empty) tells the providers to use the caller's instructions rather than
  // the title-suggesting default that the stream engine writes for its own clients.
  if (std::none_of(out.stream.history.begin(), out.stream.history.end(), [](auto& m) { return m.role == "system"; }))
    out.stream.history.insert(out.stream.history.begin(), proto::chat_message{"system", ""});
  // Not recorded in any project's history unless the caller asks (X-Streamgate-Project): a program
  // using streamgate as its OpenAI base URL does not expect its prompts to become browsable.
  out.stream.project_id = "openai";
  out.stream.record = false;
  out.stream.read_cards = false;
  out.stream.resumable = false;
  out.stream.stages = false;
  return out;
}

event_formatter chunk_formatter(std::string id, std::string model, std::int64_t created, bool include_usage) {
  // The fixed head of every chunk, serialized once.
  auto prefix = std::make_shared<std::string>("data: {\"id\":" + json::serialize(json::value(id)) +
                                              ",\"object\":\"chat.completion.chunk\",\"created\":" +
                                              std::to_string(created) + ",\"model\":" +
                                              json::serialize(json::value(model)) + ",\"system_fingerprint\":null,");
  std::string_view usage_null = include_usage ? ",\"usage\":null" : "";
  static constexpr std::string_view choice_head = "\"choices\":[{\"index\":0,\"delta\":";
  static constexpr std::string_view choice_tail = ",\"logprobs\":null,\"finish_reason\":";
  // A text delta's chunk is the same bytes around its escaped text: made once, appended in two pieces
  // to the session's buffer, the text escaped in place between them (no allocation per chunk).
  auto text_head = std::make_shared<const std::string>(*prefix + std::string(choice_head) + "{\"content\":");
  auto text_tail =
      std::make_shared<const std::string>("}" + std::string(choice_tail) + "null}]" + std::string(usage_null) + "}\n\n");
  // The chunks with a fixed delta: the first (the role) and the last (the finish reason).
  auto chunk = [prefix, usage_null](std::string& out, std::string_view delta, std::string_view finish) {
    out.reserve(out.size() + prefix->size() + choice_head.size() + delta.size() + choice_tail.size() + finish.size() +
                usage_null.size() + 8);
    out += *prefix;
    out += choice_head;
    out += delta;
    out += choice_tail;
    out += finish;
    out += "}]";
    out += usage_null;
    out += "}\n\n";
  };
  return [chunk, prefix, text_head, text_tail, include_usage](const proto::event& ev, std::string& out) {
    switch (ev.type) {
      case proto::event_type::stream_start:
        chunk(out, R"({"role":"assistant","content":""})", "null");
        return;
      case proto::event_type::stream_chunk:
        out.reserve(out.size() + text_head->size() + ev.content.size() + 16 + text_tail->size());
        out += *text_head;
        core::append_json_string(out, ev.content);
        out += *text_tail;
        return;
      case proto::event_type::stream_complete: {
        chunk(out, "{}", "\"stop\"");
        if (include_usage) {
          auto o = json::parse(ev.json()).as_object();
          out += *prefix + "\"choices\":[],\"usage\":" +
                 json::serialize(usage_json(o.contains("usage") ? o.at("usage") : json::value())) + "}\n\n";
        }
        out += "data: [DONE]\n\n";
        return;
      }
      case proto::event_type::error:
        out += "data: " + openai_error_body(error_of(json::parse(ev.json()).as_object())) + "\n\n";
        return;
      case proto::event_type::stream_cancelled:
        out += "data: " +
               openai_error_body({proto::error_code::interrupted, "the completion was cancelled", true, {}, {}}) +
               "\n\n";
        return;
      case proto::event_type::heartbeat:
        out += ev.sse();  // a comment: SDKs skip it, proxies see traffic
        return;
      default:
        return;
    }
  };
}

namespace {

// POST /v1/chat/completions: a stream started for the caller, answered as SSE chunks or as one completion.
void complete(app& a, const request& req, const std::string& owner, const std::string& limit_key,
              net::any_io_executor ex, responder respond, sse_starter start_sse, stream_watcher watch) {
  if (req.method() != http::verb::post) {
    respond(openai_json(req, 405, openai_error_body({proto::error_code::bad_request, "use POST", false, {}, {}})));
    return;
  }
  auto parsed = parse_chat_request(req.body());
  if (!parsed) {
    respond(openai_json(req, proto::http_status(parsed.error().code), openai_error_body(parsed.error())));
    return;
  }
  auto& cr = *parsed;
  std::optional<provider::model_catalog::route> route;
  if (a.models) route = a.models->resolve(cr.model);
  else if (cr.model == "demo") route = provider::model_catalog::route{"demo", {}};
  if (!route) {
    respond(openai_json(req, 404, openai_error_body({proto::error_code::not_found,
                                              "The model '" + cr.model + "' does not exist: see GET /v1/models", false,
                                              {}, "model"})));
    return;
  }
  cr.stream.provider = route->provider;
  cr.stream.model = route->model;
  if (auto rid = req["x-request-id"]; !rid.empty()) cr.stream.request_id = std::string(rid.substr(0, 128));
  if (auto it = req.find(project_header); it != req.end()) {
    auto pid = it->value();
    if (pid.empty() || pid.size() > 256) {
      respond(openai_json(req, 400, openai_error_body({proto::error_code::bad_request,
                                                       std::string(project_header) + " must be 1 to 256 bytes", false,
                                                       {}, std::string(project_header)})));
      return;
    }
    // The caller's own project (or a new ad-hoc history); another user's project does not exist.
    cr.stream.project_id = std::string(pid);
    cr.stream.record = true;
    cr.stream.read_cards = true;
  }
  // At once on a single node; after the cluster's limits answer in cluster mode.
  a.streams->start_anywhere(
      std::move(cr.stream), owner, limit_key, ex,
      [req, model = cr.model, stream_mode = cr.stream_mode, include_usage = cr.include_usage, ex,
       respond = std::move(respond), start_sse = std::move(start_sse),
       watch = std::move(watch)](stream::stream_manager::start_result started) mutable {
        if (started.error) {
          auto res = openai_json(req, proto::http_status(started.error->code), openai_error_body(*started.error));
          if (started.error->retry_after_ms)
            res.set(http::field::retry_after, std::to_string((*started.error->retry_after_ms + 999) / 1000));
          respond(std::move(res));
          return;
        }
        auto id = "chatcmpl-" + started.s->id();
        auto created = core::now_ms() / 1000;
        if (stream_mode) {
          start_sse(started.s, chunk_formatter(id, model, created, include_usage));
          return;
        }
        if (watch) watch(started.s);
        std::make_shared<collector>(std::move(req), id, model, created, std::move(ex), std::move(respond))
            ->start(started.s);
      });
}

// GET /v1/models and /v1/models/{id}.
response models_response(app& a, const request& req, const target& t) {
  if (req.method() != http::verb::get)
    return openai_json(req, 405, openai_error_body({proto::error_code::bad_request, "use GET", false, {}, {}}));
  // Model ids hold '/', so /v1/models/openai/gpt-4o names "openai/gpt-4o".
  std::string wanted;
  for (std::size_t i = 2; i < t.segments.size(); ++i) wanted += (i > 2 ? "/" : "") + t.segments[i];
  auto ids = a.models ? a.models->model_ids() : std::vector<std::string>{"demo"};
  json::array data;
  for (auto& id : ids) {
    if (!wanted.empty() && id != wanted) continue;
    auto owner_name = id.substr(0, id.find('/'));
    json::object m{{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", owner_name}};
    if (!wanted.empty()) return openai_json(req, 200, json::serialize(m));
    data.push_back(std::move(m));
  }
  if (!wanted.empty())
    return openai_json(req, 404, openai_error_body({proto::error_code::not_found,
                                                    "The model '" + wanted + "' does not exist", false, {}, "model"}));
  return openai_json(req, 200, json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}}));
}

}  // namespace

void handle(app& a, const request& req, const target& t, const std::string& owner, const std::string& limit_key,
            net::any_io_executor ex, responder respond, sse_starter start_sse, stream_watcher watch) {
  if (t.segments.size() >= 2 && t.segments[1] == "models") {
    respond(models_response(a, req, t));
    return;
  }
  complete(a, req, owner, limit_key, std::move(ex), std::move(respond), std::move(start_sse), std::move(watch));
}

}  // namespace sg::gateway::openai_api
