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

void projects_collection(app& a, const request& req, const std::string& owner, const responder& respond) {
  if (req.method() == http::verb::get) {
    a.store->run([req, respond, owner](store::database& db) {
      json::array items;
      for (auto& p : db.list_projects(owner)) items.push_back(to_json(p));
      respond(json_response(req, http::status::ok, json::serialize(json::object{{"items", items}})));
    });
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
  a.store->run([req, respond, p](store::database& db) {
    db.put_project(p);
    respond(json_response(req, http::status::created, json::serialize(to_json(p))));
  });
}

void project_item(app& a, const request& req, const std::string& id, const std::string& owner,
                  const responder& respond) {
  switch (req.method()) {
    case http::verb::get:
      a.store->run([req, respond, id, owner](store::database& db) {
        auto p = owned(db, id, owner);
        respond(p ? json_response(req, http::status::ok, json::serialize(to_json(*p))) : not_found(req, "project " + id));
      });
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
      a.store->run([req, respond, id, owner, name, desc](store::database& db) {
        auto p = owned(db, id, owner);
        if (!p) {
          respond(not_found(req, "project " + id));
          return;
        }
        if (name) p->name = *name;
        if (desc) p->description = *desc;
        p->updated_at = core::now_ms();
        db.put_project(*p);
        respond(json_response(req, http::status::ok, json::serialize(to_json(*p))));
      });
      return;
    }
    case http::verb::delete_:
      a.store->run([req, respond, id, owner](store::database& db) {
        respond(owned(db, id, owner) && db.delete_project(id) ? json_response(req, http::status::no_content, "")
                                      : not_found(req, "project " + id));
      });
      return;
    default:
      respond(error_response(req, proto::error_code::bad_request, "use GET, PUT or DELETE on a project"));
  }
}

void cards_collection(app& a, const request& req, const std::string& pid, const std::string& owner,
                      const responder& respond) {
  if (req.method() == http::verb::get) {
    a.store->run([req, respond, pid, owner](store::database& db) {
      if (!owned(db, pid, owner)) {
        respond(not_found(req, "project " + pid));
        return;
      }
      json::array items;
      for (auto& c : db.list_cards(pid)) items.push_back(to_json(c));
      respond(json_response(req, http::status::ok, json::serialize(json::object{{"items", items}})));
    });
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
  auto content = str_field(*body, "content", true, 1, 8000, err);
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
  a.store->run([req, respond, c, order, owner](store::database& db) mutable {
    if (!owned(db, c.project_id, owner)) {
      respond(not_found(req, "project " + c.project_id));
      return;
    }
    c.order = order ? *order : static_cast<std::int64_t>(db.list_cards(c.project_id).size());
    db.put_card(c);
    respond(json_response(req, http::status::created, json::serialize(to_json(c))));
  });
}

void card_item(app& a, const request& req, const std::string& pid, const std::string& cid, const std::string& owner,
               const responder& respond) {
  if (req.method() == http::verb::delete_) {
    a.store->run([req, respond, pid, cid, owner](store::database& db) {
      respond(owned(db, pid, owner) && db.delete_card(pid, cid) ? json_response(req, http::status::no_content, "") : not_found(req, "card " + cid));
    });
    return;
  }
  if (req.method() == http::verb::get) {
    a.store->run([req, respond, pid, cid, owner](store::database& db) {
      auto c = owned(db, pid, owner) ? db.get_card(pid, cid) : std::nullopt;
      respond(c ? json_response(req, http::status::ok, json::serialize(to_json(*c))) : not_found(req, "card " + cid));
    });
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
  auto content = str_field(*body, "content", false, 1, 8000, err);
  auto order = int_field(*body, "order", err);
  if (!err && kind && !valid_kind(*kind)) err = field_error{"kind", "kind must be instruction, example or style"};
  if (err) {
    respond(validation_error(req, *err));
    return;
  }
  a.store->run([req, respond, pid, cid, owner, kind, content, order](store::database& db) {
    auto c = owned(db, pid, owner) ? db.get_card(pid, cid) : std::nullopt;
    if (!c) {
      respond(not_found(req, "card " + cid));
      return;
    }
    if (kind) c->kind = *kind;
    if (content) c->content = *content;
    if (order) c->order = *order;
    db.put_card(*c);
    respond(json_response(req, http::status::ok, json::serialize(to_json(*c))));
  });
}

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

void messages(app& a, const request& req, const target& t, const std::string& pid, const std::string& owner,
              const responder& respond) {
  if (req.method() != http::verb::get) {
    respond(error_response(req, proto::error_code::bad_request, "use GET on messages"));
    return;
  }
  std::int64_t limit = 50, before = 0;
  if (!parse_int_param(t, "limit", 1, 200, limit, req, respond)) return;
  if (!parse_int_param(t, "before", 1, INT64_MAX, before, req, respond)) return;
  a.store->run([req, respond, pid, owner, limit, before](store::database& db) {
    if (auto p = db.get_project(pid); p && p->owner != owner) {
      respond(not_found(req, "project " + pid));
      return;
    }
    // One extra row tells whether an older page exists.
    auto rows = db.list_messages(pid, owner, before, static_cast<int>(limit) + 1);
    bool more = rows.size() > static_cast<std::size_t>(limit);
    if (more) rows.pop_back();
    json::array items;
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) items.push_back(to_json(*it));
    json::object o{{"items", items}, {"nextBefore", more ? json::value(rows.back().id) : json::value(nullptr)}};
    respond(json_response(req, http::status::ok, json::serialize(o)));
  });
}

}  // namespace

bool handle_projects(app& a, const request& req, const target& t, const request_context& ctx, responder& respond) {
  const auto& s = t.segments;  // "v1", "projects", …
  const auto& owner = ctx.who.owner();
  if (s.size() == 2) projects_collection(a, req, owner, respond);
  else if (s.size() == 3) project_item(a, req, s[2], owner, respond);
  else if (s.size() == 4 && s[3] == "cards") cards_collection(a, req, s[2], owner, respond);
  else if (s.size() == 5 && s[3] == "cards") card_item(a, req, s[2], s[4], owner, respond);
  else if (s.size() == 4 && s[3] == "messages") messages(a, req, t, s[2], owner, respond);
  else respond(error_response(req, proto::error_code::not_found, "no such route: " + t.path));
  return true;
}

}  // namespace sg::gateway
