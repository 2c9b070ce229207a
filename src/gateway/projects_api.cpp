// Projects, cards and messages: validated on the I/O thread, read and written on the store thread.
#include "gateway/projects_api.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/store.hpp"

#include <boost/json.hpp>

#include <charconv>

namespace sg::gateway {
namespace {

namespace json = boost::json;

// The largest page a list returns.
constexpr std::int64_t max_page_size = 200;

json::object to_json(const store::project_row& p) {
  return {{"id", p.id}, {"name", p.name}, {"description", p.description}, {"createdAt", p.created_at},
          {"updatedAt", p.updated_at}};
}
json::object to_json(const store::card_row& c) {
  return {{"id", c.id},           {"projectId", c.project_id}, {"kind", c.kind},
          {"content", c.content}, {"order", c.order},          {"createdAt", c.created_at}};
}
json::object to_json(const store::message_row& m) {
  return {{"id", m.id},         {"projectId", m.project_id}, {"role", m.role},          {"content", m.content},
          {"status", m.status}, {"streamId", m.stream_id},   {"createdAt", m.created_at}};
}

struct field_error {
  std::string field, reason;
};

// Reads a string field: absent → nullopt (if optional), wrong type or length → error.
std::optional<std::string> str_field(const json::object& o, const char* key, bool required, std::size_t min_len,
                                     std::size_t max_len, std::optional<field_error>& err) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) {
    if (required) err = field_error{key, std::string(key) + " is required"};
    return std::nullopt;
  }
  if (!it->value().is_string()) {
    err = field_error{key, std::string(key) + " must be a string"};
    return std::nullopt;
  }
  std::string v(it->value().get_string());
  if (v.size() < min_len) err = field_error{key, std::string(key) + " must not be empty"};
  else if (v.size() > max_len) err = field_error{key, std::string(key) + " must be at most " + std::to_string(max_len) + " bytes"};
  return v;
}

std::optional<std::int64_t> int_field(const json::object& o, const char* key, std::optional<field_error>& err) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (it->value().is_int64()) return it->value().get_int64();
  if (it->value().is_uint64() && it->value().get_uint64() < (1ull << 62)) return static_cast<std::int64_t>(it->value().get_uint64());
  err = field_error{key, std::string(key) + " must be an integer"};
  return std::nullopt;
}

bool valid_kind(const std::string& k) { return k == "instruction" || k == "example" || k == "style"; }

response validation_error(const request& req, const field_error& e) {
  return error_response(req, proto::error_code::bad_request, e.reason, e.field);
}

std::optional<json::object> parse_body(const request& req, const responder& respond) {
  json::error_code ec;
  auto v = json::parse(req.body(), ec);
  if (ec || !v.is_object()) {
    respond(error_response(req, proto::error_code::bad_request, "body must be a JSON object", "body"));
    return std::nullopt;
  }
  return std::move(v.get_object());
}

// A project that exists and belongs to `owner`; another user's project does not exist for them.
std::optional<store::project_row> owned(store::database& db, const std::string& id, const std::string& owner) {
  auto p = db.get_project(id);
  if (p && p->owner != owner) return std::nullopt;
  return p;
}

response not_found(const request& req, const std::string& what) {
  return error_response(req, proto::error_code::not_found, what + " not found");
}

// The completion of REST store work: the response it built, or 503 when the store failed, so the
// client always gets an answer.
auto reply(const request& req, const responder& respond) {
  return [req, respond](store::result<response> r) {
    if (r) respond(std::move(*r));
    else
      respond(error_response(req, proto::error_code::unavailable,
                             r.error() == store::errc::full ? "the store is full; try again later"
                                                            : "the store is unavailable; try again later"));
  };
}

// ?limit=&offset= of a list; the page carries nextOffset (null on the last page).
struct page {
  std::int64_t limit = 100, offset = 0;
};

bool parse_int_param(const target& t, const char* key, std::int64_t lo, std::int64_t hi, std::int64_t& out,
                     const request& req, const responder& respond) {
  auto* v = t.param(key);
  if (!v) return true;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc{} || p != v->data() + v->size() || n < lo || n > hi) {
    respond(error_response(req, proto::error_code::bad_request,
                           std::string(key) + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi),
                           key));
    return false;
  }
  out = n;
  return true;
}

std::optional<page> parse_page(const target& t, const request& req, const responder& respond) {
  page pg;
  if (!parse_int_param(t, "limit", 1, max_page_size, pg.limit, req, respond)) return std::nullopt;
  if (!parse_int_param(t, "offset", 0, INT64_MAX / 2, pg.offset, req, respond)) return std::nullopt;
  return pg;
}

template <class Rows>
std::string page_json(const Rows& rows, const page& pg) {
  // One extra row was read: it tells whether another page exists.
  bool more = rows.size() > static_cast<std::size_t>(pg.limit);
  json::array items;
  for (std::size_t i = 0; i < rows.size() && i < static_cast<std::size_t>(pg.limit); ++i) items.push_back(to_json(rows[i]));
  return json::serialize(json::object{
      {"items", items}, {"nextOffset", more ? json::value(pg.offset + pg.limit) : json::value(nullptr)}});
}

response too_many(const request& req, const std::string& what, std::int64_t limit) {
  return error_response(req, proto::error_code::bad_request,
                        "limit reached: at most " + std::to_string(limit) + " " + what, "limit");
}

void projects_collection(app& a, const request& req, const target& t, const std::string& owner,
                         const responder& respond) {
  if (req.method() == http::verb::get) {
    auto pg = parse_page(t, req, respond);
    if (!pg) return;
    a.store->exec(
        [req, owner, pg = *pg](store::database& db) {
          return json_response(req, http::status::ok, page_json(db.list_projects(owner, pg.limit + 1, pg.offset), pg));
        },
        reply(req, respond));
    return;
  }
  if (req.method() != http::verb::post) {
    respond(error_response(req, proto::error_code::bad_request, "use GET or POST on /v1/projects"));
    return;
  }
  auto body = parse_body(req, respond);
  if (!body) return;
  std::optional<field_error> err;
  auto name = str_field(*body, "name", true, 1, 200, err);
  auto desc = str_field(*body, "description", false, 0, 2000, err);
  if (err) {
    respond(validation_error(req, *err));
    return;
  }
  store::project_row p;
  p.id = core::random_id("p_", 9);
  p.name = *name;
  p.description = desc.value_or("");
  p.owner = owner;
  p.created_at = p.updated_at = core::now_ms();
  auto max_projects = static_cast<std::int64_t>(a.cfg.max_projects_per_owner);
  a.store->exec(
      [req, p, max_projects](store::database& db) {
        if (max_projects && db.count_projects(p.owner) >= max_projects) return too_many(req, "projects", max_projects);
        db.put_project(p);
        return json_response(req, http::status::created, json::serialize(to_json(p)));
      },
      reply(req, respond));
}

void project_item(app& a, const request& req, const std::string& id, const std::string& owner,
                  const responder& respond) {
  switch (req.method()) {
    case http::verb::get:
      a.store->exec(
          [req, id, owner](store::database& db) {
            auto p = owned(db, id, owner);
            return p ? json_response(req, http::status::ok, json::serialize(to_json(*p))) : not_found(req, "project " + id);
          },
          reply(req, respond));
      return;
    case http::verb::put: {
      auto body = parse_body(req, respond);
      if (!body) return;
      std::optional<field_error> err;
      auto name = str_field(*body, "name", false, 1, 200, err);
      auto desc = str_field(*body, "description", false, 0, 2000, err);
      if (err) {
        respond(validation_error(req, *err));
        return;
      }
      a.store->exec(
          [req, id, owner, name, desc](store::database& db) {
            auto p = owned(db, id, owner);
            if (!p) return not_found(req, "project " + id);
            if (name) p->name = *name;
            if (desc) p->description = *desc;
            p->updated_at = core::now_ms();
            db.put_project(*p);
            return json_response(req, http::status::ok, json::serialize(to_json(*p)));
          },
          reply(req, respond));
      return;
    }
    case http::verb::delete_:
      a.store->exec(
          [req, id, owner](store::database& db) {
            return owned(db, id, owner) && db.delete_project(id) ? json_response(req, http::status::no_content, "")
                                                                 : not_found(req, "project " + id);
          },
          reply(req, respond));
      return;
    default:
      respond(error_response(req, proto::error_code::bad_request, "use GET, PUT or DELETE on a project"));
  }
}

// The system prompt is built from every card of a project: the cards' total size is bounded so one
// project cannot make every upstream request (and its cost) arbitrarily large.
std::size_t cards_bytes(const std::vector<store::card_row>& cards, const std::string& except_id = {}) {
  std::size_t n = 0;
  for (auto& c : cards)
    if (c.id != except_id) n += c.content.size();
  return n;
}

response prompt_too_large(const request& req, std::size_t limit) {
  return error_response(req, proto::error_code::bad_request,
                        "the project's prompt cards would exceed " + std::to_string(limit) + " bytes", "content");
}

void cards_collection(app& a, const request& req, const target& t, const std::string& pid, const std::string& owner,
                      const responder& respond) {
  if (req.method() == http::verb::get) {
    auto pg = parse_page(t, req, respond);
    if (!pg) return;
    a.store->exec(
        [req, pid, owner, pg = *pg](store::database& db) {
          if (!owned(db, pid, owner)) return not_found(req, "project " + pid);
          return json_response(req, http::status::ok, page_json(db.list_cards(pid, pg.limit + 1, pg.offset), pg));
        },
        reply(req, respond));
    return;
  }
  if (req.method() != http::verb::post) {
    respond(error_response(req, proto::error_code::bad_request, "use GET or POST on cards"));
    return;
  }
  auto body = parse_body(req, respond);
  if (!body) return;
  std::optional<field_error> err;
  auto kind = str_field(*body, "kind", true, 1, 32, err);
  auto content = str_field(*body, "content", true, 1, a.cfg.max_card_bytes, err);
  auto order = int_field(*body, "order", err);
  if (!err && !valid_kind(*kind)) err = field_error{"kind", "kind must be instruction, example or style"};
  if (err) {
    respond(validation_error(req, *err));
    return;
  }
  store::card_row c;
  c.id = core::random_id("c_", 9);
  c.project_id = pid;
  c.kind = *kind;
  c.content = *content;
  c.created_at = core::now_ms();
  auto max_cards = static_cast<std::int64_t>(a.cfg.max_cards_per_project);
  auto max_prompt = a.cfg.max_prompt_bytes;
  a.store->exec(
      [req, c, order, owner, max_cards, max_prompt](store::database& db) mutable {
        if (!owned(db, c.project_id, owner)) return not_found(req, "project " + c.project_id);
        auto cards = db.list_cards(c.project_id);
        if (max_cards && static_cast<std::int64_t>(cards.size()) >= max_cards)
          return too_many(req, "cards per project", max_cards);
        if (max_prompt && cards_bytes(cards) + c.content.size() > max_prompt) return prompt_too_large(req, max_prompt);
        c.order = order ? *order : static_cast<std::int64_t>(cards.size());
        db.put_card(c);
        return json_response(req, http::status::created, json::serialize(to_json(c)));
      },
      reply(req, respond));
}

void card_item(app& a, const request& req, const std::string& pid, const std::string& cid, const std::string& owner,
               const responder& respond) {
  if (req.method() == http::verb::delete_) {
    a.store->exec(
        [req, pid, cid, owner](store::database& db) {
          return owned(db, pid, owner) && db.delete_card(pid, cid) ? json_response(req, http::status::no_content, "")
                                                                   : not_found(req, "card " + cid);
        },
        reply(req, respond));
    return;
  }
  if (req.method() == http::verb::get) {
    a.store->exec(
        [req, pid, cid, owner](store::database& db) {
          auto c = owned(db, pid, owner) ? db.get_card(pid, cid) : std::nullopt;
          return c ? json_response(req, http::status::ok, json::serialize(to_json(*c))) : not_found(req, "card " + cid);
        },
        reply(req, respond));
    return;
  }
  if (req.method() != http::verb::put) {
    respond(error_response(req, proto::error_code::bad_request, "use GET, PUT or DELETE on a card"));
    return;
  }
  auto body = parse_body(req, respond);
  if (!body) return;
  std::optional<field_error> err;
  auto kind = str_field(*body, "kind", false, 1, 32, err);
  auto content = str_field(*body, "content", false, 1, a.cfg.max_card_bytes, err);
  auto order = int_field(*body, "order", err);
  if (!err && kind && !valid_kind(*kind)) err = field_error{"kind", "kind must be instruction, example or style"};
  if (err) {
    respond(validation_error(req, *err));
    return;
  }
  auto max_prompt = a.cfg.max_prompt_bytes;
  a.store->exec(
      [req, pid, cid, owner, kind, content, order, max_prompt](store::database& db) {
        auto c = owned(db, pid, owner) ? db.get_card(pid, cid) : std::nullopt;
        if (!c) return not_found(req, "card " + cid);
        if (content && max_prompt && cards_bytes(db.list_cards(pid), cid) + content->size() > max_prompt)
          return prompt_too_large(req, max_prompt);
        if (kind) c->kind = *kind;
        if (content) c->content = *content;
        if (order) c->order = *order;
        db.put_card(*c);
        return json_response(req, http::status::ok, json::serialize(to_json(*c)));
      },
      reply(req, respond));
}

void messages(app& a, const request& req, const target& t, const std::string& pid, const std::string& owner,
              const responder& respond) {
  if (req.method() != http::verb::get) {
    respond(error_response(req, proto::error_code::bad_request, "use GET on messages"));
    return;
  }
  std::int64_t limit = 50, before = 0;
  if (!parse_int_param(t, "limit", 1, max_page_size, limit, req, respond)) return;
  if (!parse_int_param(t, "before", 1, INT64_MAX, before, req, respond)) return;
  a.store->exec(
      [req, pid, owner, limit, before](store::database& db) {
        if (auto p = db.get_project(pid); p && p->owner != owner) return not_found(req, "project " + pid);
        // One extra row tells whether an older page exists.
        auto rows = db.list_messages(pid, owner, before, static_cast<int>(limit) + 1);
        bool more = rows.size() > static_cast<std::size_t>(limit);
        if (more) rows.pop_back();
        json::array items;
        for (auto it = rows.rbegin(); it != rows.rend(); ++it) items.push_back(to_json(*it));
        json::object o{{"items", items}, {"nextBefore", more ? json::value(rows.back().id) : json::value(nullptr)}};
        return json_response(req, http::status::ok, json::serialize(o));
      },
      reply(req, respond));
}

}  // namespace

bool handle_projects(app& a, const request& req, const target& t, const request_context& ctx, responder& respond) {
  const auto& s = t.segments;  // "v1", "projects", …
  const auto& owner = ctx.who.owner();
  if (s.size() == 2) projects_collection(a, req, t, owner, respond);
  else if (s.size() == 3) project_item(a, req, s[2], owner, respond);
  else if (s.size() == 4 && s[3] == "cards") cards_collection(a, req, t, s[2], owner, respond);
  else if (s.size() == 5 && s[3] == "cards") card_item(a, req, s[2], s[4], owner, respond);
  else if (s.size() == 4 && s[3] == "messages") messages(a, req, t, s[2], owner, respond);
  else respond(error_response(req, proto::error_code::not_found, "no such route: " + t.path));
  return true;
}

}  // namespace sg::gateway
